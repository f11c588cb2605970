"""Forward values and every gradient against PyTorch autograd in float64 (max abs diff
<= 1e-10), and SGD against torch.optim.SGD step by step. torch is imported only by tests."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, linear_sizes, logits_and_labels, seeds, shapes

from barenet import (
    MLP,
    SGD,
    ExponentialLR,
    L2Loss,
    L2Penalty,
    Linear,
    Parameter,
    ReLU,
    SoftmaxCrossEntropy,
    l2_penalty,
)

ATOL = 1e-10


def t(a: np.ndarray, grad: bool = True) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def assert_close(ours, theirs, atol=ATOL):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs), initial=0.0) <= atol


@given(sizes=linear_sizes(max_features=6), bias=st.booleans(), seed=seeds, data=st.data())
def test_linear(sizes, bias, seed, data):
    n, fin, fout = sizes
    x = data.draw(arrays((n, fin)))
    rng = np.random.default_rng(seed)
    layer = Linear(fin, fout, bias=bias, rng=rng)
    upstream = rng.standard_normal((n, fout))
    y = layer.forward(x)
    dx = layer.backward(upstream)

    tx, tw = t(x), t(layer.weight.data)
    tb = t(layer.bias.data) if bias else None
    ty = F.linear(tx, tw, tb)
    ty.backward(torch.tensor(upstream))
    assert_close(y, ty)
    assert_close(dx, tx.grad)
    assert_close(layer.weight.grad, tw.grad)
    if bias:
        assert_close(layer.bias.grad, tb.grad)


@given(x=arrays(shapes()), seed=seeds)
def test_relu(x, seed):
    # zeros included on purpose: both libraries give gradient 0 at exactly 0
    upstream = np.random.default_rng(seed).standard_normal(x.shape)
    relu = ReLU()
    y = relu.forward(x)
    dx = relu.backward(upstream)
    tx = t(x)
    ty = torch.relu(tx)
    ty.backward(torch.tensor(upstream))
    assert_close(y, ty)
    assert_close(dx, tx.grad)


def test_relu_nan_passes_through_like_torch():
    x = np.array([np.nan, -1.0, 0.0, 2.0, np.inf, -np.inf])
    np.testing.assert_array_equal(ReLU().forward(x), torch.relu(torch.tensor(x)).numpy())


def _cross_entropy_pair(scores, labels, reduction="mean"):
    loss = SoftmaxCrossEntropy(reduction)
    value = loss.forward(scores, labels)
    grad = loss.backward()
    ts = t(scores)
    tloss = F.cross_entropy(ts, torch.tensor(labels), reduction=reduction)
    tloss.backward()
    return value, grad, tloss, ts.grad


@given(case=logits_and_labels(max_n=8, max_classes=7, scale=30.0),
       reduction=st.sampled_from(["mean", "sum"]))
def test_softmax_cross_entropy(case, reduction):
    value, grad, tvalue, tgrad = _cross_entropy_pair(*case, reduction)
    assert_close(value, tvalue)
    assert_close(grad, tgrad)


@given(pred=arrays(shapes()), seed=seeds)
def test_l2_loss(pred, seed):
    target = np.random.default_rng(seed).standard_normal(pred.shape)
    loss = L2Loss()
    value = loss.forward(pred, target)
    grad = loss.backward()
    tp, tt = t(pred), t(target)
    tvalue = ((tp - tt) ** 2).sum()
    tvalue.backward()
    assert_close(value, tvalue)
    assert_close(grad, tp.grad)
    assert_close(-grad, tt.grad)  # the target gradient is the negative of pred's


@given(w1=arrays(shapes(1, 2)), w2=arrays(shapes(1, 2)), lam=st.floats(0.0, 10.0),
       seed=seeds)
def test_l2_penalty(w1, w2, lam, seed):
    params = [Parameter(w1.copy()), Parameter(w2.copy())]
    existing = [np.random.default_rng(seed).standard_normal(p.shape) for p in params]
    for p, g in zip(params, existing, strict=True):
        p.grad[...] = g
    value = l2_penalty(params, lam)

    tws = [t(w1), t(w2)]
    tvalue = lam * sum((w**2).sum() for w in tws)
    tvalue.backward()
    assert_close(value, tvalue)
    for p, g, tw in zip(params, existing, tws, strict=True):
        assert_close(p.grad - g, tw.grad)  # the penalty ADDS its gradient to what was there


@given(w=arrays(shapes(2, 2)), lam=st.floats(0.0, 10.0), n=st.integers(1, 70))
def test_an_l2_penalty_per_sample_adds_its_gradient_once_per_sample(w, lam, n):
    """The original attempt's per-image L2: n images' gradients of lam * sum(W^2), summed."""
    once, per_sample = Parameter(w.copy()), Parameter(w.copy())
    L2Penalty([once], lam).add_grad(n)
    L2Penalty([per_sample], lam, per_sample=True).add_grad(n)
    tw = t(w)
    (n * lam * (tw**2).sum()).backward()
    assert_close(per_sample.grad, tw.grad)
    assert_close(once.grad * n, tw.grad)


@given(momentum=st.sampled_from([0.0, 0.5, 0.9]), weight_decay=st.sampled_from([0.0, 1e-3, 0.1]),
       lr=st.floats(1e-3, 1.0), seed=seeds)
def test_sgd_matches_torch_step_by_step(momentum, weight_decay, lr, seed):
    rng = np.random.default_rng(seed)
    shapes_ = [(3, 4), (4,), (2, 2, 3)]
    ours = [Parameter(rng.standard_normal(s)) for s in shapes_]
    theirs = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in ours]
    opt = SGD(ours, lr=lr, momentum=momentum, weight_decay=weight_decay)
    topt = torch.optim.SGD(theirs, lr=lr, momentum=momentum, weight_decay=weight_decay)
    for _ in range(6):
        for p, tp in zip(ours, theirs, strict=True):
            g = rng.standard_normal(p.shape)
            p.grad[...] = g
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for p, tp in zip(ours, theirs, strict=True):
            assert_close(p.data, tp)


def test_mlp_training_steps_match_torch():
    """Forward, backward, L2 penalty and SGD with momentum and weight decay together."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 5))
    labels = rng.integers(0, 3, 16)
    model = MLP(5, 7, 3, rng=rng)
    tmodel = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    tmodel = tmodel.double()
    with torch.no_grad():
        for ours, theirs in zip(model.parameters(), tmodel.parameters(), strict=True):
            theirs.copy_(torch.tensor(ours.data))
    lam, settings = 1e-2, {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
    opt = SGD(model.parameters(), **settings)
    topt = torch.optim.SGD(tmodel.parameters(), **settings)
    loss_fn = SoftmaxCrossEntropy()
    weights = [p for p in model.parameters() if p.data.ndim > 1]
    for step in range(5):
        batch = slice(4 * (step % 4), 4 * (step % 4) + 4)
        opt.zero_grad()
        loss = loss_fn.forward(model.forward(x[batch]), labels[batch])
        model.backward(loss_fn.backward())
        loss += l2_penalty(weights, lam)
        opt.step()

        topt.zero_grad()
        tloss = F.cross_entropy(tmodel(torch.tensor(x[batch])), torch.tensor(labels[batch]))
        tloss = tloss + lam * sum((w**2).sum() for w in (tmodel[0].weight, tmodel[2].weight))
        tloss.backward()
        topt.step()

        assert loss == pytest.approx(tloss.item(), abs=ATOL)
        for ours, theirs in zip(model.parameters(), tmodel.parameters(), strict=True):
            assert_close(ours.data, theirs)


def test_exponential_lr_matches_torch():
    ours = [Parameter(np.ones(3))]
    theirs = [torch.nn.Parameter(torch.ones(3, dtype=torch.float64))]
    opt, topt = SGD(ours, lr=0.5, momentum=0.9), torch.optim.SGD(theirs, lr=0.5, momentum=0.9)
    sched = ExponentialLR(opt, gamma=0.8)
    tsched = torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.8)
    for _ in range(5):
        ours[0].grad[...] = 1.0
        theirs[0].grad = torch.ones(3, dtype=torch.float64)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-15)
        assert_close(ours[0].data, theirs[0])


@pytest.mark.parametrize("gamma", [0.0, -0.5, 1.5, float("nan")])
def test_exponential_lr_rejects_bad_gamma(gamma):
    with pytest.raises(ValueError, match="gamma"):
        ExponentialLR(SGD([Parameter(np.ones(1))], lr=0.1), gamma=gamma)
