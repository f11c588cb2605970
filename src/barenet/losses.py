"""Losses and regularisation penalties, each with its gradient.

A loss object's ``forward(...)`` returns a Python float and keeps what ``backward()`` needs;
``backward()`` returns the gradient of that float with respect to the predictions.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_array, check_labels, check_non_negative
from .nn import Parameter


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (N, C) scores, stable for any magnitude (log-sum-exp trick)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropy:
    """Mean over the batch of -log softmax(scores)[label].

    scores: (N, C) raw, unnormalised class scores; labels: (N,) ints in [0, C).
    Same value and gradient as ``torch.nn.functional.cross_entropy(scores, labels)``.
    """

    def forward(self, scores: np.ndarray, labels: np.ndarray) -> float:
        scores = check_array(scores, "scores", ndim=2)
        n, c = scores.shape
        labels = check_labels(labels, n, c)
        logp = log_softmax(scores)
        self._logp, self._labels = logp, labels
        return float(-logp[np.arange(n), labels].mean())

    def per_sample(self, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(N,) cross-entropy of each sample, for per-class losses."""
        self.forward(scores, labels)
        return -self._logp[np.arange(len(labels)), self._labels]

    def backward(self) -> np.ndarray:
        n = len(self._labels)
        grad = np.exp(self._logp)
        grad[np.arange(n), self._labels] -= 1
        return grad / np.asarray(n, dtype=grad.dtype)

    __call__ = forward


class L2Loss:
    """sum((pred - target)^2) over every element (no mean), the C0-recovery loss.
    pred and target: any equal shapes."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred, target = check_array(pred, "pred"), check_array(target, "target")
        if pred.shape != target.shape:
            raise ValueError(f"pred has shape {pred.shape} but target has shape {target.shape}")
        self._diff = pred - target
        return float(np.vdot(self._diff, self._diff))

    def backward(self) -> np.ndarray:
        return 2 * self._diff

    __call__ = forward


def _penalty(params: list[Parameter], lam: float, name: str, value, grad) -> float:
    lam = check_non_negative(lam, f"lambda ({name} strength)")
    total = 0.0
    for p in params:
        total += float(value(p.data))
        p.grad += lam * grad(p.data)
    return lam * total


def l2_penalty(params: list[Parameter], lam: float) -> float:
    """lam * sum(W^2) over ``params``; adds its gradient 2 * lam * W into each ``.grad``."""
    return _penalty(params, lam, "L2", lambda w: np.vdot(w, w), lambda w: 2 * w)


def l1_penalty(params: list[Parameter], lam: float) -> float:
    """lam * sum(|W|) over ``params``; adds its subgradient lam * sign(W) into each ``.grad``."""
    return _penalty(params, lam, "L1", lambda w: np.abs(w).sum(), np.sign)
