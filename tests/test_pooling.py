"""MaxPool2d and AvgPool2d: fast vs naive loops (bit for bit), PyTorch parity including how
ties and NaN are routed, finite differences, dtypes, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import seeds

from barenet import AvgPool2d, MaxPool2d
from barenet.gradcheck import check_module
from barenet.pooling import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    avg_pool2d_naive_backward,
    avg_pool2d_naive_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    max_pool2d_naive_backward,
    max_pool2d_naive_forward,
    pool2d_output_size,
)

FAST = {"max": (max_pool2d_forward, max_pool2d_backward),
        "avg": (avg_pool2d_forward, avg_pool2d_backward)}
NAIVE = {"max": (max_pool2d_naive_forward, max_pool2d_naive_backward),
         "avg": (avg_pool2d_naive_forward, avg_pool2d_naive_backward)}
TORCH = {"max": F.max_pool2d, "avg": F.avg_pool2d}

# ----------------------------------------------------------------------------- strategies


@st.composite
def pool_configs(draw, max_batch=3, max_channels=3, max_kernel=4, max_stride=4, max_extra=5):
    """A pooling whose window fits the input: each side is the kernel plus a drawn extra.
    stride None (the kernel, windows tiling the input) a third of the time, else drawn, so
    windows overlap (stride < kernel), tile, or leave gaps (stride > kernel)."""
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, max_stride),
                                                 st.integers(1, max_stride))))
    size = tuple(k + draw(st.integers(0, max_extra)) for k in kernel)
    return dict(batch=draw(st.integers(1, max_batch)), channels=draw(st.integers(1, max_channels)),
                size=size, kernel=kernel, stride=stride, seed=draw(seeds),
                values=draw(st.sampled_from(["normal", "integers", "constant"])))


def make_arrays(cfg, dtype=np.float64):
    """x and a random upstream gradient for ``cfg``. "integers" (0..3) and "constant" inputs
    put ties in most windows: the gradient must go where PyTorch sends it."""
    rng = np.random.default_rng(cfg["seed"])
    shape = (cfg["batch"], cfg["channels"], *cfg["size"])
    if cfg["values"] == "normal":
        x = rng.standard_normal(shape)
    elif cfg["values"] == "integers":
        x = rng.integers(0, 4, shape).astype(float)
    else:
        x = np.full(shape, 1.5)
    out_hw = pool2d_output_size(cfg["size"], cfg["kernel"], cfg["stride"])
    grad_out = rng.standard_normal((cfg["batch"], cfg["channels"], *out_hw))
    return x.astype(dtype), grad_out.astype(dtype)


def torch_pool(kind, x, grad_out, kernel, stride):
    """PyTorch's output and input gradient, as NumPy arrays."""
    tx = torch.tensor(x, requires_grad=True)
    ty = TORCH[kind](tx, kernel, stride)
    ty.backward(torch.tensor(grad_out))
    return ty.detach().numpy(), tx.grad.numpy()


# ----------------------------------------------------------------------------- fast vs naive


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=60, deadline=None)
@given(cfg=pool_configs())
def test_fast_is_the_naive_loops_bit_for_bit(kind, dtype, cfg):
    x, grad_out = make_arrays(cfg, dtype)
    (forward, backward), (naive_forward, naive_backward) = FAST[kind], NAIVE[kind]
    y, cache = forward(x, cfg["kernel"], cfg["stride"])
    y_naive = naive_forward(x, cfg["kernel"], cfg["stride"])
    assert y.shape == y_naive.shape == grad_out.shape and y.dtype == y_naive.dtype == dtype
    assert y.tobytes() == y_naive.tobytes()
    dx = backward(grad_out, cache)
    dx_naive = naive_backward(grad_out, x, cfg["kernel"], cfg["stride"])
    assert dx.shape == x.shape and dx.dtype == dx_naive.dtype == dtype
    assert dx.tobytes() == dx_naive.tobytes()  # same choices, same sums in the same order


def test_naive_max_on_a_hand_computed_example():
    x = np.array([[[[1., 5., 2., 0.],
                    [3., 5., 7., 7.],
                    [0., 0., 1., 2.]]]])
    np.testing.assert_array_equal(max_pool2d_naive_forward(x, 2), [[[[5., 7.]]]])
    # ties go to the first maximum in row-major order: the 5 at (0, 1), the 7 at (1, 2)
    dx = max_pool2d_naive_backward(np.array([[[[10., 20.]]]]), x, 2)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1], expected[0, 0, 1, 2] = 10, 20
    np.testing.assert_array_equal(dx, expected)
    np.testing.assert_array_equal(max_pool2d_backward([[[[10., 20.]]]],
                                                      max_pool2d_forward(x, 2)[1]), expected)
    np.testing.assert_array_equal(avg_pool2d_naive_forward(x, 2), [[[[3.5, 4.]]]])


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [
    ((28, 28), 2, None, (14, 14)),
    ((7, 7), 2, None, (3, 3)),          # the last row and column are dropped
    ((7, 9), (3, 2), (2, 3), (3, 3)),   # floor((7 - 3) / 2) + 1, floor((9 - 2) / 3) + 1
    ((5, 5), 5, 1, (1, 1)),
])
def test_output_size_formula(size, kernel, stride, expected):
    assert pool2d_output_size(size, kernel, stride) == expected


# ----------------------------------------------------------------------------- PyTorch parity


@pytest.mark.parametrize("kind", ["max", "avg"])
@settings(max_examples=60, deadline=None)
@given(cfg=pool_configs())
def test_matches_pytorch(kind, cfg):
    x, grad_out = make_arrays(cfg)
    module = (MaxPool2d if kind == "max" else AvgPool2d)(cfg["kernel"], cfg["stride"])
    y = module.forward(x)
    dx = module.backward(grad_out)
    ty, tdx = torch_pool(kind, x, grad_out, cfg["kernel"], cfg["stride"])
    assert y.shape == ty.shape and dx.shape == tdx.shape
    assert np.max(np.abs(y - ty), initial=0.0) <= 1e-10
    assert np.max(np.abs(dx - tdx), initial=0.0) <= 1e-10
    if kind == "max":  # no arithmetic at all: the same elements chosen, the same gradients
        np.testing.assert_array_equal(y, ty)
        np.testing.assert_array_equal(dx, tdx)


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 1), ((2, 3), (1, 2)), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ties_are_routed_like_pytorch(kernel, stride, dtype):
    rng = np.random.default_rng(0)
    for x in (np.zeros((2, 3, 9, 8)),                     # every window a tie
              rng.integers(0, 2, (2, 3, 9, 8)),            # ties in most windows
              np.maximum(rng.integers(-2, 3, (2, 3, 9, 8)), 0)):  # ReLU-like zeros
        x = x.astype(dtype)
        y, cache = max_pool2d_forward(x, kernel, stride)
        grad_out = rng.standard_normal(y.shape).astype(dtype)
        ty, tdx = torch_pool("max", x, grad_out, kernel, stride)
        np.testing.assert_array_equal(y, ty)
        np.testing.assert_array_equal(max_pool2d_backward(grad_out, cache), tdx)


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 1), ((1, 4), None)])
def test_nan_propagates_and_routes_like_pytorch(kernel, stride):
    # PyTorch's y is NaN for any window holding one, and its gradient goes to the LAST NaN
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 8, 8))
    x[rng.random(x.shape) < 0.15] = np.nan
    y, cache = max_pool2d_forward(x, kernel, stride)
    grad_out = rng.standard_normal(y.shape)
    ty, tdx = torch_pool("max", x, grad_out, kernel, stride)
    assert np.isnan(y).any()
    np.testing.assert_array_equal(y, ty)  # NaN where NaN
    np.testing.assert_array_equal(max_pool2d_backward(grad_out, cache), tdx)
    np.testing.assert_array_equal(max_pool2d_naive_forward(x, kernel, stride), ty)
    np.testing.assert_array_equal(max_pool2d_naive_backward(grad_out, x, kernel, stride), tdx)


def test_signed_zero_ties_go_to_the_first_like_pytorch():
    # -0.0 == +0.0: a tie like any other; y may carry either sign (module docstring)
    x = np.array([[[[-0.0, 0.0, 0.0, -0.0], [0.0, -0.0, -0.0, 0.0]]]])
    y, cache = max_pool2d_forward(x, 2)
    grad_out = np.array([[[[1.0, 2.0]]]])
    ty, tdx = torch_pool("max", x, grad_out, 2, None)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(max_pool2d_backward(grad_out, cache), tdx)
    assert tdx[0, 0, 0, 0] == 1.0 and tdx[0, 0, 0, 2] == 2.0


def test_infinities_like_pytorch():
    x = np.array([[[[-np.inf, -np.inf, np.inf, 1.0], [-np.inf, -np.inf, np.inf, np.inf]]]])
    y, cache = max_pool2d_forward(x, 2)
    ty, tdx = torch_pool("max", x, np.array([[[[1.0, 2.0]]]]), 2, None)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(max_pool2d_backward([[[[1.0, 2.0]]]], cache), tdx)


# ----------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("module", [MaxPool2d(2), MaxPool2d(3, 1), MaxPool2d((2, 3), (1, 2)),
                                    AvgPool2d(2), AvgPool2d((3, 2), 1), AvgPool2d(2, 3)])
@given(seed=seeds)
def test_gradcheck(module, seed):
    rng = np.random.default_rng(seed)
    # distinct values 0.01 apart: no window has a maximum within h = 1e-5 of another element,
    # where finite differences of a max would be wrong
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) * 0.01
    errors = check_module(module, x, rng)
    assert set(errors) == {"input"}
    assert errors["input"] < 1e-7, errors


# ----------------------------------------------------------------------------- module contract


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_module_contract(cls):
    module = cls(2)
    assert module.stride == module.kernel_size == (2, 2) and module.parameters() == []
    assert repr(module) == f"{cls.__name__}(kernel_size=(2, 2), stride=(2, 2))"
    assert cls((3, 2), 1).stride == (1, 1)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4))
    before = x.copy()
    y = module.forward(x)
    assert y.shape == (2, 3, 2, 2)
    assert module.backward(np.ones_like(y), need_input_grad=False) is None
    dx = module.backward(np.ones_like(y))
    np.testing.assert_array_equal(x, before)  # the input is never modified
    assert dx.shape == x.shape and not dx[:, :, 4].any()  # the dropped row gets no gradient
    with pytest.raises(RuntimeError, match=f"{cls.__name__}.backward called before forward"):
        cls(2).backward(np.ones_like(y))


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_float32_stays_float32(cls):
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(np.float32)
    module = cls(2)
    y = module.forward(x)
    assert y.dtype == np.float32
    assert module.backward(np.ones(y.shape)).dtype == np.float32  # grad cast to the input's


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_empty_batch(cls):
    module = cls(2)
    y = module.forward(np.zeros((0, 3, 6, 6)))
    assert y.shape == (0, 3, 3, 3)
    assert module.backward(y).shape == (0, 3, 6, 6)


def test_large_windows_use_wider_indices():
    # more than 256 elements per window: the argmax no longer fits a uint8
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 20, 20))
    y, cache = max_pool2d_forward(x, 20)
    grad_out = rng.standard_normal(y.shape)
    ty, tdx = torch_pool("max", x, grad_out, 20, None)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(max_pool2d_backward(grad_out, cache), tdx)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(kernel_size=0), r"kernel_size must be >= 1 in both directions, got 0"),
    (dict(kernel_size=(2, -1)), r"kernel_size must be >= 1 .*got \(2, -1\)"),
    (dict(kernel_size=2.0), r"kernel_size must be an int or a pair of ints, got 2.0"),
    (dict(kernel_size=None), r"kernel_size must be an int or a pair of ints, got None"),
    (dict(kernel_size=2, stride=0), r"stride must be >= 1 .*got 0"),
    (dict(kernel_size=2, stride=-2), r"stride must be >= 1 .*got -2"),
    (dict(kernel_size=2, stride=(1, 2, 3)), r"stride must be an int or a pair of ints"),
    (dict(kernel_size=2, padding=1), r"supports no padding \(padding=0\), got padding=1"),
    (dict(kernel_size=2, padding=-1), r"padding must be >= 0"),
])
@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_bad_constructor_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_trivial_padding_is_accepted():
    assert MaxPool2d(2, padding=0).padding == AvgPool2d(2, padding=(0, 0)).padding == (0, 0)


@pytest.mark.parametrize("function", [max_pool2d_forward, max_pool2d_naive_forward,
                                      avg_pool2d_forward, avg_pool2d_naive_forward])
@pytest.mark.parametrize(("shape", "kwargs", "match"), [
    ((3, 8, 8), dict(kernel_size=2),
     r"must have 4 dimensions \(N, C, H, W\), got shape \(3, 8, 8\).*x\[None\]"),
    ((1, 1, 1, 8, 8), dict(kernel_size=2), r"must have 4 dimensions"),
    ((1, 1, 3, 8), dict(kernel_size=4), r"window 4x4 is larger than the input 3x8"),
    ((1, 1, 8, 3), dict(kernel_size=(2, 4), stride=1), r"window 2x4 is larger than the input 8x3"),
    ((1, 1, 4, 4), dict(kernel_size=0), r"kernel_size must be >= 1"),
    ((1, 1, 4, 4), dict(kernel_size=2, stride=0), r"stride must be >= 1"),
    ((1, 1, 4, 4), dict(kernel_size=2, padding=1), r"supports no padding"),
])
def test_bad_input_in_functions(function, shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        function(np.zeros(shape), **kwargs)


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_bad_input_to_modules(cls):
    with pytest.raises(ValueError, match=r"float32 or float64.*int64"):
        cls(2).forward(np.zeros((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"window 5x5 is larger than the input 4x4"):
        cls(5).forward(np.zeros((1, 1, 4, 4)))
    module = cls(2)
    module.forward(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"grad_out must have the output's shape \(1, 2, 2, 2\)"):
        module.backward(np.zeros((1, 2, 4, 4)))


def test_max_backward_needs_a_max_cache():
    _, cache = avg_pool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="average pooling, not max pooling"):
        max_pool2d_backward(np.zeros((1, 1, 2, 2)), cache)
