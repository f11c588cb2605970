"""backward(..., need_input_grad=False): same parameter gradients, no input gradient (the
training loop's shortcut must not change what it learns)."""

import numpy as np
import pytest

import barenet as bn


def grads(model, x, upstream, need_input_grad):
    model.zero_grad()
    model.forward(x)
    dx = model.backward(upstream, need_input_grad=need_input_grad)
    return dx, [p.grad.copy() for p in model.parameters()]


@pytest.mark.parametrize("make, shape", [
    (lambda: bn.MLP(6, 5, 3, rng=np.random.default_rng(0)), (4, 6)),
    (lambda: bn.Linear(6, 3, rng=np.random.default_rng(0)), (4, 6)),
    (lambda: bn.Sequential(bn.Conv2d(2, 3, 3, padding=1, rng=np.random.default_rng(0)),
                           bn.ReLU(), bn.Flatten()), (2, 2, 5, 5)),
    # the backward pass stops at the first layer with parameters, the Conv2d after a Reshape
    (lambda: bn.Sequential(bn.Reshape((1, 6, 6)), bn.ReLU(),
                           bn.Conv2d(1, 2, 3, padding=1, rng=np.random.default_rng(0)),
                           bn.MaxPool2d(2), bn.Flatten(),
                           bn.Linear(18, 3, rng=np.random.default_rng(1))), (4, 36)),
])
def test_skipping_the_input_gradient_keeps_parameter_gradients(make, shape):
    rng = np.random.default_rng(1)
    model, x = make(), rng.standard_normal(shape)
    upstream = rng.standard_normal(model.forward(x).shape)
    dx_full, full = grads(model, x, upstream, True)
    dx_none, skipped = grads(model, x, upstream, False)
    assert dx_full.shape == x.shape and dx_none is None
    for a, b in zip(full, skipped, strict=True):
        assert np.array_equal(a, b)


def test_layers_before_the_first_with_parameters_run_no_backward():
    calls = []

    class Recorder(bn.ReLU):
        def backward(self, grad_out, need_input_grad=True):
            calls.append(need_input_grad)
            return super().backward(grad_out, need_input_grad)

    model = bn.Sequential(Recorder(), bn.Linear(4, 3, rng=np.random.default_rng(0)), Recorder())
    x = np.random.default_rng(1).standard_normal((2, 4))
    model.backward(np.ones_like(model.forward(x)), need_input_grad=False)
    assert calls == [True]  # the last layer's, passing the gradient on to the Linear
    model.backward(np.ones_like(model.forward(x)), need_input_grad=True)
    assert calls == [True, True, True]
