"""Loss edge cases: extreme logits, float32 end to end, NaN and bad labels rejected clearly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from strategies import logits_and_labels

from barenet import (
    SGD,
    L2Loss,
    Linear,
    Parameter,
    ReLU,
    SoftmaxClassifier,
    SoftmaxCrossEntropy,
    evaluate,
    l1_penalty,
    l2_penalty,
    log_softmax,
)


@given(case=logits_and_labels(max_n=6, max_classes=5, scale=1e4))
def test_cross_entropy_with_huge_logits_is_finite_and_matches_torch(case):
    scores, labels = case
    scores = np.where(np.abs(scores) > 1.0, np.sign(scores) * 1e4, scores)  # mostly +-1e4
    loss = SoftmaxCrossEntropy()
    value = loss.forward(scores, labels)
    grad = loss.backward()
    ts = torch.tensor(scores, requires_grad=True)
    tvalue = F.cross_entropy(ts, torch.tensor(labels))
    tvalue.backward()
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert abs(value - tvalue.item()) <= 1e-10 * max(1.0, abs(tvalue.item()))
    assert np.max(np.abs(grad - ts.grad.numpy())) <= 1e-10


def test_cross_entropy_extreme_example_by_hand():
    scores = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    loss = SoftmaxCrossEntropy()
    assert loss.forward(scores, np.array([0, 0])) == 1e4  # (0 + 2e4) / 2
    np.testing.assert_array_equal(loss.backward(), [[0.0, 0.0, 0.0], [-0.5, 0.5, 0.0]])


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_cross_entropy_at_plus_minus_1e4_in_either_precision(dtype, tolerance):
    rng = np.random.default_rng(0)
    scores = (rng.choice([-1e4, 0.0, 1e4], size=(8, 5)) + rng.standard_normal((8, 5))
              ).astype(dtype)
    labels = rng.integers(0, 5, 8)
    loss = SoftmaxCrossEntropy()
    value, grad = loss.forward(scores, labels), loss.backward()
    ts = torch.tensor(scores, requires_grad=True)
    expected = F.cross_entropy(ts, torch.tensor(labels))
    expected.backward()
    assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == dtype
    assert abs(value - expected.item()) <= tolerance * abs(expected.item())
    assert np.max(np.abs(grad - ts.grad.numpy())) <= tolerance


def test_log_softmax_rows_normalise():
    scores = np.array([[1000.0, 1000.0], [-1000.0, 0.0]])
    np.testing.assert_allclose(np.exp(log_softmax(scores)).sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(log_softmax(scores)[0], np.log(0.5), rtol=1e-15)


def test_cross_entropy_per_sample_means_to_the_loss():
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal((7, 4)), rng.integers(0, 4, 7)
    loss = SoftmaxCrossEntropy()
    per_sample = loss.per_sample(scores, labels)
    assert per_sample.shape == (7,)
    assert per_sample.mean() == pytest.approx(loss.forward(scores, labels), rel=1e-15)
    np.testing.assert_allclose(per_sample, -log_softmax(scores)[np.arange(7), labels])


# --- float32 stays float32 ----------------------------------------------------------------------

def test_float32_flows_through_linear_relu_and_losses():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 5)
    first, relu, second = Linear(4, 6, rng=rng, dtype=np.float32), ReLU(), Linear(6, 3, rng=rng)
    second.to(np.float32)
    h = relu.forward(first.forward(x))
    scores = second.forward(h)
    assert h.dtype == np.float32 and scores.dtype == np.float32

    ce = SoftmaxCrossEntropy()
    ce.forward(scores, labels)
    dscores = ce.backward()
    assert dscores.dtype == np.float32
    dx = first.backward(relu.backward(second.backward(dscores)))
    assert dx.dtype == np.float32
    params = first.parameters() + second.parameters()
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in params)

    l2 = L2Loss()
    l2.forward(scores, np.zeros_like(scores))
    assert l2.backward().dtype == np.float32
    l2_penalty(params, 0.1)
    l1_penalty(params, 0.1)
    SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3).step()
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in params)


def test_float32_input_to_a_float64_layer_keeps_float32_activations():
    layer = Linear(3, 2)
    x = np.ones((2, 3), dtype=np.float32)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones((2, 2), dtype=np.float32)).dtype == np.float32
    assert layer.weight.grad.dtype == np.float64  # the parameter keeps its own dtype


# --- bad input is rejected clearly -----------------------------------------------------------

BAD = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("bad", BAD)
def test_cross_entropy_rejects_non_finite_scores(bad):
    scores = np.zeros((2, 3))
    scores[1, 2] = bad
    with pytest.raises(ValueError, match="scores contains NaN or inf"):
        SoftmaxCrossEntropy().forward(scores, np.array([0, 1]))


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("which", ["pred", "target"])
def test_l2_loss_rejects_non_finite_input(which, bad):
    arrays = {"pred": np.zeros((2, 2)), "target": np.zeros((2, 2))}
    arrays[which][0, 1] = bad
    with pytest.raises(ValueError, match=f"{which} contains NaN or inf"):
        L2Loss().forward(arrays["pred"], arrays["target"])


def test_evaluating_nan_inputs_is_an_error_not_a_nan_accuracy():
    model = SoftmaxClassifier(4, 3, rng=np.random.default_rng(0))
    x = np.ones((5, 4))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        evaluate(model, x, np.zeros(5, dtype=np.int64))


def test_l2_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        L2Loss().forward(np.zeros((2, 3)), np.zeros((3, 2)))


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0], [5, 5]])
def test_labels_out_of_range_name_the_range(labels):
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array(labels))


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0]), np.array([0, 1, 2]), np.array([[0, 1]])])
def test_labels_of_wrong_dtype_or_shape(labels):
    with pytest.raises(ValueError, match=r"integer array of shape \(2,\)"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), labels)


def test_scores_must_be_a_float_matrix():
    with pytest.raises(ValueError, match="2 dimensions"):
        SoftmaxCrossEntropy().forward(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError, match="float32 or float64"):
        SoftmaxCrossEntropy().forward(np.zeros((1, 3), dtype=np.int64), np.array([0]))


@pytest.mark.parametrize("penalty", [l2_penalty, l1_penalty])
@pytest.mark.parametrize("lam", [-0.1, np.nan, np.inf])
def test_penalties_reject_bad_strength(penalty, lam):
    with pytest.raises(ValueError, match="lambda"):
        penalty([Parameter(np.ones(2))], lam)
