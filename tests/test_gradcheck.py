"""Hand-written gradients against centred finite differences (float64, relative error < 1e-7),
and the checker itself shown to catch wrong gradients."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import (
    KINK_MARGIN,
    away_from_zero,
    dims,
    linear_sizes,
    logits_and_labels,
    seeds,
    shapes,
)

from barenet import (
    MLP,
    Flatten,
    L2Loss,
    Linear,
    Parameter,
    ReLU,
    Sequential,
    SoftmaxClassifier,
    SoftmaxCrossEntropy,
    l1_penalty,
    l2_penalty,
)
from barenet.gradcheck import check_module, numerical_gradient, relative_error

TOL = 1e-7


def assert_all_below(errors: dict[str, float], expected_keys: set[str]) -> None:
    assert set(errors) == expected_keys
    assert max(errors.values()) < TOL, errors


# --- modules -------------------------------------------------------------------------------

@given(sizes=linear_sizes(), bias=st.booleans(), seed=seeds, data=st.data())
def test_linear(sizes, bias, seed, data):
    n, fin, fout = sizes
    x = data.draw(away_from_zero((n, fin)))
    rng = np.random.default_rng(seed)
    # Linear is affine in its input, weight and bias, so centred differences are exact at any
    # step: a unit step leaves only rounding. At the default 1e-5 that rounding (about 3e-12)
    # exceeds 1e-7 of a gradient that cancels to ~1e-5 (x = [[0.25], [-0.25]] with two nearly
    # equal upstream entries, which Hypothesis found)
    errors = check_module(Linear(fin, fout, bias=bias, rng=rng), x, rng, h=1.0)
    assert_all_below(errors, {"input", "weight"} | ({"bias"} if bias else set()))


@given(x=away_from_zero(shapes()), seed=seeds)
def test_relu_away_from_kink(x, seed):
    assert_all_below(check_module(ReLU(), x, np.random.default_rng(seed)), {"input"})


@given(x=away_from_zero(shapes(min_dims=2, max_dims=4)), seed=seeds)
def test_flatten(x, seed):
    assert_all_below(check_module(Flatten(), x, np.random.default_rng(seed)), {"input"})


def one_region_step(first: Linear, x) -> float:
    """A finite-difference step that keeps every perturbed network of ``first``, a ReLU and
    more Linears in the linear region of ``x``: moving one entry of x, of first's weight or of
    its bias by h moves a hidden preactivation by at most h * max(|x|, |weight|, 1). The
    network is affine in each entry there, so centred differences are exact but for rounding,
    which a larger step shrinks: at 1e-5, rounding was 2.7e-7 of an input gradient of ~5e-6
    (sizes (2, 5, 1), hidden 2, which Hypothesis found). Draws with a preactivation within
    KINK_MARGIN of the kink are skipped: their step would be too small to say anything."""
    margin = np.abs(first.forward(x)).min()
    assume(margin > KINK_MARGIN)
    return 0.5 * margin / max(1.0, np.abs(x).max(), np.abs(first.weight.data).max())


@given(sizes=linear_sizes(), hidden=dims(1, 6), seed=seeds, data=st.data())
def test_mlp(sizes, hidden, seed, data):
    n, fin, fout = sizes
    x = data.draw(away_from_zero((n, fin)))
    rng = np.random.default_rng(seed)
    model = MLP(fin, hidden, fout, rng=rng)
    errors = check_module(model, x, rng, h=one_region_step(model[0], x))
    assert_all_below(errors, {"input", "layers.0.weight", "layers.0.bias",
                              "layers.2.weight", "layers.2.bias"})


@given(n=dims(1, 3), image=shapes(min_dims=2, max_dims=3, max_side=3), hidden=dims(1, 5),
       seed=seeds, data=st.data())
def test_sequential_flatten_linear_relu_linear(n, image, hidden, seed, data):
    x = data.draw(away_from_zero((n, *image)))
    rng = np.random.default_rng(seed)
    features = int(np.prod(image))
    model = Sequential(Flatten(), Linear(features, hidden, rng=rng), ReLU(),
                       Linear(hidden, 3, bias=False, rng=rng))
    errors = check_module(model, x, rng, h=one_region_step(model[1], x.reshape(n, -1)))
    assert_all_below(errors, {"input", "layers.1.weight", "layers.1.bias", "layers.3.weight"})


@given(sizes=linear_sizes(), bias=st.booleans(), seed=seeds, data=st.data())
def test_softmax_classifier(sizes, bias, seed, data):
    n, features, classes = sizes
    x = data.draw(away_from_zero((n, features)))
    rng = np.random.default_rng(seed)
    model = SoftmaxClassifier(features, classes, bias=bias, rng=rng)
    expected = x @ model.W + (model.bias.data if bias else 0)
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-13, atol=1e-13)
    # affine like Linear: a unit step, for the reason given in test_linear
    assert_all_below(check_module(model, x, rng, h=1.0),
                     {"input", "weight"} | ({"bias"} if bias else set()))


# --- losses and penalties --------------------------------------------------------------------

@given(case=logits_and_labels())
def test_softmax_cross_entropy_gradient(case):
    scores, labels = case
    loss = SoftmaxCrossEntropy()
    loss.forward(scores, labels)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(scores, labels), scores)
    assert relative_error(analytic, numeric) < TOL


@given(pred=away_from_zero(shapes()), seed=seeds)
def test_l2_loss_gradient(pred, seed):
    target = np.random.default_rng(seed).standard_normal(pred.shape)
    loss = L2Loss()
    loss.forward(pred, target)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(pred, target), pred)
    assert relative_error(analytic, numeric) < TOL


def _penalty_errors(penalty, params, lam):
    for p in params:
        p.grad[...] = 0
    penalty(params, lam)
    analytic = [p.grad.copy() for p in params]  # the penalty ADDS into .grad: copy first
    return [relative_error(a, numerical_gradient(lambda: penalty(params, lam), p.data))
            for a, p in zip(analytic, params, strict=True)]


@given(w1=away_from_zero(shapes(1, 2)), w2=away_from_zero(shapes(1, 2)),
       lam=st.floats(1e-3, 10.0))
@pytest.mark.parametrize("penalty", [l2_penalty, l1_penalty], ids=["l2", "l1"])
def test_penalty_gradients(penalty, w1, w2, lam):
    # away_from_zero keeps every weight off |w|'s kink, where l1's subgradient is a choice
    errors = _penalty_errors(penalty, [Parameter(w1), Parameter(w2)], lam)
    assert max(errors) < TOL, errors


def test_penalty_values():
    w = Parameter(np.array([[1.0, -2.0], [3.0, -4.0]]))
    b = Parameter(np.array([0.5]))
    assert l2_penalty([w, b], 0.1) == pytest.approx(0.1 * (1 + 4 + 9 + 16 + 0.25), rel=1e-15)
    assert l1_penalty([w, b], 0.1) == pytest.approx(0.1 * (1 + 2 + 3 + 4 + 0.5), rel=1e-15)


# --- the checker can fail ----------------------------------------------------------------------

class ScaledInputGradLinear(Linear):
    """Input gradient off by 1%."""

    def backward(self, grad_out):
        return 1.01 * super().backward(grad_out)


class TransposedWeightGradLinear(Linear):
    """Weight gradient with its columns reversed (a plausible indexing slip)."""

    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.weight.grad[...] = self.weight.grad[:, ::-1].copy()
        return dx


class ReversedRowsLinear(Linear):
    """Pairs the upstream gradient of sample i with sample N-1-i. Invisible with an all-ones
    upstream gradient, which is why check_module draws a random one."""

    def backward(self, grad_out):
        return super().backward(grad_out[::-1])


X = np.random.default_rng(1).standard_normal((4, 3))


def test_checker_catches_scaled_input_gradient():
    rng = np.random.default_rng(0)
    errors = check_module(ScaledInputGradLinear(3, 2, rng=rng), X, rng)
    assert errors["input"] > 1e-3
    assert errors["weight"] < TOL and errors["bias"] < TOL  # the parameters are right


def test_checker_catches_permuted_weight_gradient():
    rng = np.random.default_rng(0)
    errors = check_module(TransposedWeightGradLinear(3, 2, rng=rng), X, rng)
    assert errors["weight"] > 1e-2
    assert errors["input"] < TOL


class _OnesRng:
    """Stands in for a Generator whose 'random' upstream gradient is all ones."""

    def standard_normal(self, shape):
        return np.ones(shape)


def test_random_upstream_gradient_is_what_exposes_a_row_permutation():
    with_ones = check_module(ReversedRowsLinear(3, 2, rng=np.random.default_rng(0)), X,
                             _OnesRng())
    assert max(with_ones.values()) < TOL  # the bug hides behind a uniform upstream gradient
    with_random = check_module(ReversedRowsLinear(3, 2, rng=np.random.default_rng(0)), X,
                               np.random.default_rng(0))
    assert with_random["input"] > 1e-2 and with_random["weight"] > 1e-2


def test_relative_error_definition():
    a, n = np.array([1.0, -2.0]), np.array([1.0, -1.0])
    assert relative_error(a, n) == pytest.approx(1.0 / 3.0, rel=1e-15)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1e-12]), np.array([0.0])) == pytest.approx(1e-4)  # floor


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    numeric = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(numeric, 3 * x**2, rtol=1e-9)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # x is restored
