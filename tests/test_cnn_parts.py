"""A small CNN on flattened (N, 784) MNIST-shaped rows, built from barenet's parts (Reshape,
Conv2d, ReLU, MaxPool2d, Flatten, Linear): shapes, dtypes, and float64 parity of the loss, of
its gradient with respect to every parameter and of SGD steps with PyTorch's twin network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from barenet import (
    SGD,
    Batches,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Reshape,
    Sequential,
    SoftmaxCrossEntropy,
    train_epoch,
)
from barenet.gradcheck import check_module

ATOL = 1e-10


def cnn(rng: np.random.Generator, dtype=np.float64) -> Sequential:
    return Sequential(
        Reshape((1, 28, 28)),
        Conv2d(1, 8, 5, padding=2, rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),
        Conv2d(8, 16, 5, padding=2, rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),
        Flatten(), Linear(784, 10, rng=rng, dtype=dtype))


def torch_twin(model: Sequential) -> torch.nn.Sequential:
    """The same network in PyTorch, float64, holding copies of ``model``'s parameters."""
    nn = torch.nn
    twin = nn.Sequential(nn.Unflatten(1, (1, 28, 28)),
                         nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(784, 10)).double()
    with torch.no_grad():
        for ours, theirs in zip(model.parameters(), twin.parameters(), strict=True):
            assert ours.shape == tuple(theirs.shape)
            theirs.copy_(torch.tensor(ours.data))
    return twin


def digits(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 784) rows like MNIST's: mostly 0 background, some strokes in (0, 1]. The blank
    patches make constant windows after the first convolution: max-pooling ties."""
    x = np.zeros((n, 784))
    strokes = rng.random((n, 784)) < 0.2
    x[strokes] = rng.uniform(0.05, 1.0, strokes.sum())
    return x


def assert_close(ours, theirs, atol=ATOL):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs), initial=0.0) <= atol


def test_shapes_and_dtypes_through_the_network():
    model = cnn(np.random.default_rng(0), dtype=np.float32)
    x = digits(np.random.default_rng(1), 3).astype(np.float32)
    shapes = []
    out = x
    for layer in model.layers:
        out = layer.forward(out)
        shapes.append(out.shape)
        assert out.dtype == np.float32
    assert shapes == [(3, 1, 28, 28), (3, 8, 28, 28), (3, 8, 28, 28), (3, 8, 14, 14),
                      (3, 16, 14, 14), (3, 16, 14, 14), (3, 16, 7, 7), (3, 784), (3, 10)]
    np.testing.assert_array_equal(model.forward(x), out)
    dx = model.backward(np.ones((3, 10), dtype=np.float32))
    assert dx.shape == (3, 784) and dx.dtype == np.float32
    model.forward(x)  # each forward supports one backward, as in PyTorch
    assert model.backward(np.ones((3, 10), dtype=np.float32), need_input_grad=False) is None
    assert [name for name, _ in model.named_parameters()] == [
        "layers.1.weight", "layers.1.bias", "layers.4.weight", "layers.4.bias",
        "layers.8.weight", "layers.8.bias"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_gradients_match_torch(seed):
    rng = np.random.default_rng(seed)
    model = cnn(rng)
    twin = torch_twin(model)
    x, labels = digits(rng, 6), rng.integers(0, 10, 6)

    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(x), labels)
    dx = model.backward(loss_fn.backward())
    tx = torch.tensor(x, requires_grad=True)
    tloss = F.cross_entropy(twin(tx), torch.tensor(labels))
    tloss.backward()

    assert loss == pytest.approx(tloss.item(), abs=ATOL)
    assert_close(dx, tx.grad)
    for (name, ours), theirs in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert np.abs(ours.grad).max() > 0, name  # every layer really receives a gradient
        assert_close(ours.grad, theirs.grad)
    # the blank background really made ties for the first max-pooling to route
    pooled_input = model[2].forward(model[1].forward(model[0].forward(x)))
    windows = pooled_input.reshape(6, 8, 14, 2, 14, 2).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(-1, 4)
    assert ((windows == windows.max(axis=1, keepdims=True)).sum(axis=1) > 1).any()


def test_sgd_momentum_steps_match_torch():
    rng = np.random.default_rng(3)
    model = cnn(rng)
    twin = torch_twin(model)
    x, labels = digits(rng, 12), rng.integers(0, 10, 12)
    settings = {"lr": 0.05, "momentum": 0.9}
    opt, topt = SGD(model.parameters(), **settings), torch.optim.SGD(twin.parameters(), **settings)
    loss_fn = SoftmaxCrossEntropy()
    for step in range(3):
        batch = slice(4 * step, 4 * step + 4)
        opt.zero_grad()
        loss = loss_fn.forward(model.forward(x[batch]), labels[batch])
        model.backward(loss_fn.backward(), need_input_grad=False)
        opt.step()
        topt.zero_grad()
        tloss = F.cross_entropy(twin(torch.tensor(x[batch])), torch.tensor(labels[batch]))
        tloss.backward()
        topt.step()
        assert loss == pytest.approx(tloss.item(), abs=ATOL)
        for ours, theirs in zip(model.parameters(), twin.parameters(), strict=True):
            assert_close(ours.data, theirs)


def test_float32_training_epoch():
    rng = np.random.default_rng(4)
    model = cnn(rng, dtype=np.float32)
    x, labels = digits(rng, 96).astype(np.float32), rng.integers(0, 10, 96)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    assert train_epoch(model, opt, SoftmaxCrossEntropy(), x, labels, Batches(32, rng))
    for p in model.parameters():
        assert p.data.dtype == p.grad.dtype == np.float32 and np.isfinite(p.data).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_gradcheck_of_a_tiny_cnn(seed):
    # the same kinds of layer, small enough for finite differences of every parameter
    rng = np.random.default_rng(seed)
    model = Sequential(Reshape((1, 6, 6)), Conv2d(1, 2, 3, padding=1, rng=rng), ReLU(),
                       MaxPool2d(2), Flatten(), Linear(18, 3, rng=rng))
    errors = check_module(model, rng.standard_normal((2, 36)), rng)
    assert set(errors) == {"input", "layers.1.weight", "layers.1.bias", "layers.5.weight",
                           "layers.5.bias"}
    assert max(errors.values()) < 1e-7, errors


# ----------------------------------------------------------------------------- Reshape


def test_reshape_is_the_inverse_of_flatten():
    x = np.arange(24.0).reshape(2, 12)
    reshape = Reshape((3, 2, 2))
    y = reshape.forward(x)
    assert y.shape == (2, 3, 2, 2) and repr(reshape) == "Reshape((3, 2, 2))"
    np.testing.assert_array_equal(Flatten().forward(y), x)
    np.testing.assert_array_equal(reshape.backward(np.ones_like(y)), np.ones_like(x))
    assert reshape.backward(y, need_input_grad=False) is None
    assert Reshape(12).forward(np.zeros((5, 3, 4))).shape == (5, 12)
    assert Reshape([3, 4]).forward(np.zeros((0, 12))).shape == (0, 3, 4)
    errors = check_module(Reshape((3, 4)), np.random.default_rng(0).standard_normal((2, 12)),
                          np.random.default_rng(1))
    assert errors == {"input": pytest.approx(0, abs=1e-9)}


@pytest.mark.parametrize(("shape", "x_shape", "match"), [
    ((1, 28, 28), (2, 783), r"Reshape\(1, 28, 28\) needs 784 values per sample, got shape"),
    ((2, 2), (3,), r"needs 4 values per sample, got shape \(3,\)"),
])
def test_reshape_rejects_the_wrong_size(shape, x_shape, match):
    with pytest.raises(ValueError, match=match):
        Reshape(shape).forward(np.zeros(x_shape))


@pytest.mark.parametrize("shape", [(0, 2), (-1, 4), (2.0,), "3"])
def test_reshape_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="Reshape shape entries must be an integer >= 1"):
        Reshape(shape)
