"""Losses and regularisation penalties, each with its gradient."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_array, check_labels, check_non_negative
from .nn import Module, Parameter


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (N, C) scores, stable for any magnitude (log-sum-exp trick)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy_grad(logp: np.ndarray, labels: np.ndarray, mean: bool = True) -> np.ndarray:
    """Gradient of the mean cross-entropy with respect to the scores, (softmax - onehot) / N
    (of the summed one, without ``mean``: softmax - onehot), from their (N, C) ``log_softmax``
    and (N,) int labels, unchecked: for a training loop that validated its labels once instead
    of every step."""
    n = len(labels)
    grad = np.exp(logp)
    grad[np.arange(n), labels] -= 1
    if mean:
        grad /= np.asarray(n, dtype=grad.dtype)
    return grad


class Loss:
    """Contract of a loss, which the training loop relies on: ``loss(pred, target)`` returns
    the loss of a batch as a Python float and keeps what ``backward()`` needs;
    ``loss.backward()`` returns the gradient of that float with respect to pred (pred's
    shape). ``forward`` checks its arguments, then ``compute``s; a training loop checks the
    whole of its targets once with ``check_targets`` and then calls ``compute`` per batch."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def compute(self, pred: np.ndarray, target: np.ndarray) -> float:
        """``forward`` without its checks, for arguments already checked."""
        raise NotImplementedError

    def check_targets(self, pred: np.ndarray, targets: np.ndarray) -> None:
        """Raise a ValueError if ``targets`` (N, ...), all the targets a loop will batch, cannot
        go with predictions shaped like ``pred`` (one batch's)."""

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return self.forward(pred, target)


class SoftmaxCrossEntropy(Loss):
    """Mean (or, with ``reduction="sum"``, sum) over the batch of -log softmax(scores)[label].

    scores: (N, C) raw, unnormalised class scores; labels: (N,) ints in [0, C).
    Same value and gradient as ``torch.nn.functional.cross_entropy(scores, labels,
    reduction=reduction)``. A sum makes every gradient a batch sum, so a step grows with the
    batch: the original attempt's way.
    """

    def __init__(self, reduction: str = "mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def forward(self, scores: np.ndarray, labels: np.ndarray) -> float:
        scores = check_array(scores, "scores", ndim=2)
        return self.compute(scores, check_labels(labels, *scores.shape))

    def compute(self, scores: np.ndarray, labels: np.ndarray) -> float:
        logp = log_softmax(scores)
        self._logp, self._labels = logp, labels
        picked = logp[np.arange(len(scores)), labels]
        return float(-(picked.sum() if self.reduction == "sum" else picked.mean()))

    def check_targets(self, scores: np.ndarray, labels: np.ndarray) -> None:
        check_labels(labels, len(labels), check_array(scores, "scores", ndim=2).shape[1])

    def per_sample(self, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(N,) cross-entropy of each sample, for per-class losses."""
        self.forward(scores, labels)
        return -self._logp[np.arange(len(labels)), self._labels]

    def backward(self) -> np.ndarray:
        return cross_entropy_grad(self._logp, self._labels, mean=self.reduction == "mean")


class L2Loss(Loss):
    """sum((pred - target)^2) over every element (no mean). pred and target: any equal
    shapes."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred = check_array(pred, "pred", finite=False)
        target = check_array(target, "target", finite=False)
        if pred.shape != target.shape:
            raise ValueError(f"pred has shape {pred.shape} but target has shape {target.shape}")
        return self.compute(pred, target)

    def compute(self, pred: np.ndarray, target: np.ndarray) -> float:
        with np.errstate(invalid="ignore"):  # only inf - inf sets it: reported just below
            self._diff = pred - target
        loss = float(np.vdot(self._diff, self._diff))
        if not np.isfinite(loss):
            # NaN or inf in either input always makes the loss NaN or inf, so the two scans
            # for them run only here (a finite loss is the common case, and they cost as much
            # as the subtraction); finite inputs whose squares overflow still return inf
            check_array(pred, "pred")
            check_array(target, "target")
        return loss

    def backward(self) -> np.ndarray:
        return 2 * self._diff

    def check_targets(self, pred: np.ndarray, targets: np.ndarray) -> None:
        targets = check_array(targets, "targets", finite=False)
        if np.shape(pred)[1:] != targets.shape[1:]:
            raise ValueError(f"pred rows have shape {np.shape(pred)[1:]} but target rows have "
                             f"shape {targets.shape[1:]}")


def _penalty(params: list[Parameter], lam: float, name: str, value, add_grad) -> float:
    lam = check_non_negative(lam, f"lambda ({name} strength)")
    add_grad(params, lam)
    return lam * sum(float(value(p.data)) for p in params)


def add_l2_grad(params: list[Parameter], lam: float) -> None:
    """Add the gradient of lam * sum(W^2), 2 * lam * W, into each ``.grad`` without computing
    the penalty itself (a training step needs only the gradient). lam is not checked."""
    for p in params:
        p.grad += (2 * lam) * p.data  # bit for bit lam * (2 * W): doubling is exact


@dataclass
class L2Penalty:
    """lam * sum(W^2) over ``params``, the regularisation a training loop adds to its loss
    through ``add_grad(n)`` for a batch of n samples: once per batch, or with ``per_sample``
    once per sample (n times: the original attempt added it to every image's gradient)."""
    params: list[Parameter]
    lam: float
    per_sample: bool = False

    def __post_init__(self):
        self.lam = check_non_negative(self.lam, "lambda (L2 strength)")

    @classmethod
    def on_weights(cls, model: Module, lam: float, per_sample: bool = False) -> L2Penalty:
        """The penalty on ``model``'s weights (every parameter with more than one axis: weight
        matrices and kernels), not on its biases."""
        return cls([p for p in model.parameters() if p.data.ndim > 1], lam, per_sample)

    def add_grad(self, n_samples: int = 1) -> None:
        """Add the penalty's gradient 2 * lam * W into each ``.grad``, times ``n_samples``
        with ``per_sample`` (nothing when lam is 0)."""
        if self.lam:
            add_l2_grad(self.params, self.lam * n_samples if self.per_sample else self.lam)


def _add_l1_grad(params: list[Parameter], lam: float) -> None:
    for p in params:
        p.grad += lam * np.sign(p.data)


def l2_penalty(params: list[Parameter], lam: float) -> float:
    """lam * sum(W^2) over ``params``; adds its gradient 2 * lam * W into each ``.grad``."""
    return _penalty(params, lam, "L2", lambda w: np.vdot(w, w), add_l2_grad)


def l1_penalty(params: list[Parameter], lam: float) -> float:
    """lam * sum(|W|) over ``params``; adds its subgradient lam * sign(W) into each ``.grad``."""
    return _penalty(params, lam, "L1", lambda w: np.abs(w).sum(), _add_l1_grad)
