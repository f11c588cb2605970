"""The scalar autograd graph: the assignment's f(x, y, z) against PyTorch, every op against
finite differences, gradient accumulation, deep graphs, and the readable formula."""

import math
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given
from strategies import LOG_MARGIN, floats

from barenet.gradcheck import relative_error
from barenet.scalar import Scalar, cos, log, sigmoid, sin, tanh

POINTS = [(2, 4, 1), (9, 14, 3), (128, 42, 666), (52, 14, 28)]


def f_barenet(x, y, z):
    pi = Scalar(math.pi, "pi")
    return log(sigmoid((cos(pi * x) + sin((pi * y) / 2)) / tanh(z**2)))


def f_torch(x, y, z):
    return torch.log(torch.sigmoid((torch.cos(math.pi * x) + torch.sin(math.pi * y / 2))
                                   / torch.tanh(z**2)))


def assert_matches(ours: float, theirs: float) -> None:
    """Relative 1e-12, or absolute 1e-15 for values that are numerically zero."""
    assert abs(ours - theirs) <= max(1e-12 * abs(theirs), 1e-15), (ours, theirs)


@pytest.mark.parametrize("point", POINTS, ids=[str(p) for p in POINTS])
def test_assignment_function_matches_torch_autograd(point):
    x, y, z = (Scalar(v, name) for v, name in zip(point, "xyz", strict=True))
    out = f_barenet(x, y, z)
    out.backward()

    tx, ty, tz = (torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
                  for v in point)
    tout = f_torch(tx, ty, tz)
    tout.backward()

    assert math.isfinite(out.value)
    assert_matches(out.value, tout.item())
    for ours, theirs in ((x, tx), (y, ty), (z, tz)):
        assert_matches(ours.grad, theirs.grad.item())


def test_assignment_function_reads_as_written():
    out = f_barenet(Scalar(2, "x"), Scalar(4, "y"), Scalar(1, "z"))
    assert out.expr == "log(sigmoid((cos(pi * x) + sin((pi * y) / 2)) / tanh(z^2)))"
    assert str(out) == out.expr
    assert "log(sigmoid(" in repr(out)


def test_z_zero_is_a_clear_zero_division_not_nan():
    with pytest.raises(ZeroDivisionError, match=r"tanh\(z\^2\).*0"):
        f_barenet(Scalar(2, "x"), Scalar(4, "y"), Scalar(0, "z"))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_nan_or_inf_input_is_an_error_not_a_silent_nan(bad):
    with pytest.raises(ValueError, match=r"finite number, got (nan|inf|-inf) for x"):
        Scalar(bad, "x")
    with pytest.raises(ValueError, match="finite number"):
        Scalar(2.0, "x") * bad  # a constant is an input too


def test_a_huge_z_saturates_tanh_instead_of_raising_overflow():
    # z^2 = inf in float64, tanh(inf) = 1: f is finite, its z-gradient exactly 0
    x, y, z = Scalar(2.0, "x"), Scalar(4.0, "y"), Scalar(1e200, "z")
    out = f_barenet(x, y, z)
    out.backward()
    assert out.value == f_barenet(Scalar(2.0), Scalar(4.0), Scalar(30.0)).value
    assert z.grad == 0.0 and math.isfinite(x.grad) and math.isfinite(y.grad)


def test_a_float32_input_is_computed_on_in_float64():
    # a float32 value (e.g. read from a float32 array) is exact in float64; the graph must not
    # drop to float32 arithmetic because of it
    point = [np.float32(v) for v in (0.3, 1.7, 0.9)]
    from_float32 = f_barenet(*(Scalar(v, n) for v, n in zip(point, "xyz", strict=True)))
    from_float64 = f_barenet(*(Scalar(float(v), n) for v, n in zip(point, "xyz", strict=True)))
    assert type(from_float32.value) is float and from_float32.value == from_float64.value


@pytest.mark.parametrize("v", [-1000.0, -40.0, 0.0, 40.0, 1000.0])
def test_log_sigmoid_is_finite_and_exact_at_extremes(v):
    x = Scalar(v, "v")
    out = log(sigmoid(x))
    out.backward()
    tx = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    tout = torch.nn.functional.logsigmoid(tx)
    tout.backward()
    assert math.isfinite(out.value) and math.isfinite(x.grad)
    assert_matches(out.value, tout.item())
    assert_matches(x.grad, tx.grad.item())
    if v == -1000.0:
        assert out.value == -1000.0 and x.grad == 1.0


def test_log_sigmoid_shortcut_keeps_the_sigmoid_node_usable():
    v = Scalar(0.3, "v")
    s = sigmoid(v)
    out = log(s) + s  # s feeds the log shortcut and the sum
    out.backward()
    sv = 1 / (1 + math.exp(-0.3))
    assert out.value == pytest.approx(math.log(sv) + sv, rel=1e-15)
    assert v.grad == pytest.approx((1 - sv) + sv * (1 - sv), rel=1e-14)


# --- every basic op against finite differences ------------------------------------------------

H = 1e-5


def numeric(fn, *args):
    """Centred differences of fn (on plain Scalars) with respect to each argument."""
    grads = []
    for i in range(len(args)):
        plus = [a + (H if j == i else 0.0) for j, a in enumerate(args)]
        minus = [a - (H if j == i else 0.0) for j, a in enumerate(args)]
        grads.append((fn(*map(Scalar, plus)).value - fn(*map(Scalar, minus)).value) / (2 * H))
    return grads


def check_op(fn, *args):
    inputs = [Scalar(a) for a in args]
    out = fn(*inputs)
    out.backward()
    analytic, fd = np.array([node.grad for node in inputs]), np.array(numeric(fn, *args))
    # where the gradient itself is ~0 (cos at 0) the ratio measures only the finite
    # differences' absolute noise, about 1e-16 / H: there the absolute difference is checked
    assert relative_error(analytic, fd) < 1e-7 or np.max(np.abs(analytic - fd)) < 1e-9, fn


ANY = floats(-3.0, 3.0)
NONZERO = floats(0.5, 3.0) | floats(-3.0, -0.5)
POSITIVE = floats(LOG_MARGIN, 3.0)

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
}
UNARY = {
    "square": lambda a: a**2,
    "neg": lambda a: -a,
    "sin": sin,
    "cos": cos,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "radd": lambda a: 2.5 + a,
    "rsub": lambda a: 2.5 - a,
    "rmul": lambda a: 2.5 * a,
    "add_const": lambda a: a + 2.5,
    "sub_const": lambda a: a - 2.5,
    "mul_const": lambda a: a * 2.5,
    "div_const": lambda a: a / 2.5,
}


@pytest.mark.parametrize("name", list(BINARY))
@given(a=ANY, b=ANY)
def test_binary_op_gradients(name, a, b):
    check_op(BINARY[name], a, b)


@given(a=ANY, b=NONZERO)
def test_division_gradients(a, b):
    check_op(lambda p, q: p / q, a, b)


@given(a=NONZERO)
def test_reversed_division_gradient(a):
    check_op(lambda p: 2.5 / p, a)


@pytest.mark.parametrize("name", list(UNARY))
@given(a=ANY)
def test_unary_op_gradients(name, a):
    check_op(UNARY[name], a)


@given(a=POSITIVE)
def test_log_gradient(a):
    check_op(log, a)


@given(a=ANY, b=ANY)
def test_op_values(a, b):
    x, y = Scalar(a), Scalar(b)
    assert (x + y).value == a + b and (x - y).value == a - b and (x * y).value == a * b
    # a * a, the correctly rounded square: libm's pow can be an ulp off (a**2 for
    # a = 0.9002979316805186 is)
    assert (x**2).value == a * a and (-x).value == -a and (3 - x).value == 3 - a
    assert sin(x).value == math.sin(a) and cos(x).value == math.cos(a)
    assert tanh(x).value == math.tanh(a)
    assert sigmoid(x).value == pytest.approx(1 / (1 + math.exp(-a)), rel=1e-15)


def test_unsupported_inputs_raise():
    with pytest.raises(ValueError, match="non-positive"):
        log(Scalar(0.0, "w"))
    with pytest.raises(ValueError, match=r"\*\* 2"):
        Scalar(2.0) ** 3
    with pytest.raises(ZeroDivisionError, match="denominator"):
        Scalar(1.0) / Scalar(0.0, "d")


# --- graph structure ----------------------------------------------------------------------------

def test_node_used_twice_accumulates_both_contributions():
    x = Scalar(3.0, "x")
    (x * x).backward()
    assert x.grad == 6.0
    (x + x).backward()
    assert x.grad == 2.0


def test_shared_subexpression():
    x, y = Scalar(1.5, "x"), Scalar(-0.5, "y")
    s = x * y
    out = s * s + s  # d/dx = (2s + 1) y, d/dy = (2s + 1) x
    out.backward()
    assert out.value == pytest.approx(0.5625 - 0.75)
    assert x.grad == pytest.approx((2 * -0.75 + 1) * -0.5, rel=1e-15)
    assert y.grad == pytest.approx((2 * -0.75 + 1) * 1.5, rel=1e-15)
    assert s.grad == pytest.approx(2 * -0.75 + 1, rel=1e-15)


def test_diamond():
    x = Scalar(0.7, "x")
    a = x * 2
    out = sin(a) * cos(a)  # = sin(4x) / 2, so d/dx = 2 cos(4x)
    out.backward()
    assert x.grad == pytest.approx(2 * math.cos(2.8), rel=1e-13)


def test_backward_twice_gives_the_same_grads():
    x, y, z = Scalar(2, "x"), Scalar(4, "y"), Scalar(1, "z")
    out = f_barenet(x, y, z)
    out.backward()
    first = (x.grad, y.grad, z.grad)
    out.backward()
    assert (x.grad, y.grad, z.grad) == first


def test_backward_of_a_second_output_resets_shared_inputs():
    x = Scalar(1.25, "x")
    (x * x).backward()
    (sin(x)).backward()
    assert x.grad == math.cos(1.25)


def test_very_deep_chain_has_no_recursion_error():
    n = 20_000
    x = Scalar(0.5, "x")
    y = x
    for _ in range(n):
        y = y * 1.0001 + 0.0  # two nodes per step: 40,000 deep
    y.backward()
    assert x.grad == pytest.approx(1.0001**n, rel=1e-9)
    total = x
    for _ in range(n):
        total = total + x  # x feeds 20,000 nodes
    total.backward()
    assert x.grad == n + 1


def test_deep_graph_memory_is_linear_and_its_formula_renders():
    # Each node used to store its whole formula: a 20,000-node chain held ~1.6 GB of text.
    n = 20_000
    tracemalloc.start()
    try:
        x = Scalar(0.5, "x")
        y = x
        for _ in range(n):
            y = tanh(y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, f"building a {n}-node chain peaked at {peak / 1e6:.0f} MB"
    # the formula is rendered on demand, without recursion
    short = x
    for _ in range(3000):
        short = tanh(short)
    assert short.expr == "tanh(" * 3000 + "x" + ")" * 3000


def test_a_sigmoid_node_under_log_gets_its_own_gradient():
    v = Scalar(0.3, "v")
    s = sigmoid(v)
    f = log(s) + s  # df/ds = 1/s + 1
    f.backward()
    assert s.grad == pytest.approx(1 / s.value + 1, rel=1e-15)
    assert v.grad == pytest.approx((1 / s.value + 1) * s.value * (1 - s.value), rel=1e-15)
