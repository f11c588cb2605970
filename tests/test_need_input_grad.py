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
