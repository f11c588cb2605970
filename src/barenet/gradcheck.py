"""Centred finite-difference checks of hand-written gradients (float64).

A RANDOM upstream gradient is used: with an all-ones upstream, an indexing bug that permutes
gradient entries can still sum to the right answer and go unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .nn import Module


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max|a - n| / max(1e-8, max(|a| + |n|))."""
    analytic, numeric = np.asarray(analytic, float), np.asarray(numeric, float)
    return float(np.max(np.abs(analytic - numeric))
                 / max(1e-8, float(np.max(np.abs(analytic) + np.abs(numeric)))))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f() / d x by centred differences, perturbing ``x`` IN PLACE one entry at a time
    (f must read x afresh on every call)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + h
        plus = f()
        flat_x[i] = original - h
        minus = f()
        flat_x[i] = original
        flat_g[i] = (plus - minus) / (2 * h)
    return grad


def check_module(module: Module, x: np.ndarray, rng: np.random.Generator, h: float = 1e-5
                 ) -> dict[str, float]:
    """Relative error of ``module``'s input gradient and of every parameter gradient.

    The scalar checked is sum(forward(x) * g) for a random upstream gradient g.
    Returns {"input": err, "<param name>": err, ...}. x must be float64.
    """
    x = np.array(x, dtype=np.float64)
    upstream = rng.standard_normal(module.forward(x).shape)

    def objective() -> float:
        return float(np.sum(module.forward(x) * upstream))

    module.zero_grad()
    module.forward(x)
    analytic_input = module.backward(upstream)
    analytic = {name: p.grad.copy() for name, p in module.named_parameters()}
    errors = {"input": relative_error(analytic_input, numerical_gradient(objective, x, h))}
    for name, p in module.named_parameters():
        errors[name] = relative_error(analytic[name], numerical_gradient(objective, p.data, h))
    return errors
