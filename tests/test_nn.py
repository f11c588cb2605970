"""Module plumbing: parameter discovery, zero_grad, accumulation, shapes and input errors."""

import numpy as np
import pytest

from barenet import MLP, Flatten, Linear, Parameter, ReLU, Sequential, SoftmaxClassifier


def test_linear_rejects_wrong_input_width():
    with pytest.raises(ValueError, match=r"3 features .*got shape \(2, 4\)"):
        Linear(3, 2).forward(np.zeros((2, 4)))


def test_linear_rejects_wrong_rank_and_dtype():
    with pytest.raises(ValueError, match=r"2 dimensions, got shape \(3,\)"):
        Linear(3, 2).forward(np.zeros(3))
    with pytest.raises(ValueError, match="float32 or float64"):
        Linear(3, 2).forward(np.zeros((1, 3), dtype=np.int64))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_linear_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="in_features must be an integer >= 1"):
        Linear(bad, 2)


def test_linear_initialisation_is_pytorch_like_and_seeded():
    a = Linear(16, 8, rng=np.random.default_rng(3))
    b = Linear(16, 8, rng=np.random.default_rng(3))
    assert a.weight.shape == (8, 16) and a.bias.shape == (8,)
    assert np.abs(a.weight.data).max() <= 0.25 and np.abs(a.bias.data).max() <= 0.25
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    c = Linear(16, 8, rng=np.random.default_rng(4))
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_parameter_discovery_order_and_names():
    model = Sequential(Flatten(), Linear(4, 3, bias=False), ReLU(), Linear(3, 2))
    assert [name for name, _ in model.named_parameters()] == [
        "layers.1.weight", "layers.3.weight", "layers.3.bias"]
    assert [p.shape for p in model.parameters()] == [(3, 4), (2, 3), (2,)]
    assert [name for name, _ in MLP(4, 5, 2).named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]


def test_backward_accumulates_until_zero_grad():
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    x, g = np.ones((4, 3)), np.ones((4, 2))
    layer.forward(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_array_equal(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_flatten_and_sequential_shapes():
    model = Sequential(Flatten(), Linear(12, 5), ReLU(), Linear(5, 2))
    x = np.random.default_rng(0).standard_normal((7, 3, 2, 2))
    assert model(x).shape == (7, 2)
    assert model.backward(np.ones((7, 2))).shape == x.shape
    assert len(model) == 4 and isinstance(model[2], ReLU)


def test_relu_gradient_is_zero_at_and_below_zero():
    relu = ReLU()
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(relu.forward(x), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(relu.backward(np.array([5.0, 5.0, 5.0])), [0.0, 0.0, 5.0])


def test_softmax_classifier_w_is_a_view_of_the_weight():
    model = SoftmaxClassifier(4, 3)
    assert model.W.shape == (4, 3)
    model.weight.data[0, 1] = 7.0
    assert model.W[1, 0] == 7.0


def test_module_to_casts_parameters_and_grads():
    model = MLP(3, 4, 2).to(np.float32)
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32
               for p in model.parameters())


def test_parameter_grad_matches_data():
    p = Parameter(np.ones((2, 3), dtype=np.float32))
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and not p.grad.any()
