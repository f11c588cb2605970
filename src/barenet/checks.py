"""Argument checks of the library's public API, public so that code building on barenet checks
its settings the same way: every message names the value, what was expected and how to fix it,
so a user never has to decode a deep NumPy traceback."""

from __future__ import annotations

import math
import numbers

import numpy as np


def as_pair(value, name: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum``, as PyTorch accepts for kernel_size,
    stride, padding and dilation. Anything else (None, a bool, a float) is a ValueError."""
    pair = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                                 for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum} in both directions, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer (not a bool) >= ``minimum``, else a ValueError."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def is_number(value) -> bool:
    """A real number, not a bool, finite as a float (an int too large for a float is not)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_positive(value, name: str) -> float:
    """``value`` as a float if it is a finite number > 0, else a ValueError."""
    if not is_number(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_non_negative(value, name: str) -> float:
    """``value`` as a float if it is a finite number >= 0, else a ValueError."""
    if not is_number(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_array(x, name: str, ndim: int | None = None, last_dim: int | None = None,
                finite: bool = True) -> np.ndarray:
    """A floating array of the expected rank (and trailing size), free of NaN and inf unless
    ``finite`` is False (layers inside a model leave that check to the training loop, which
    reports a diverging run instead of crashing on it)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be a float32 or float64 array, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if last_dim is not None and x.shape[-1] != last_dim:
        raise ValueError(
            f"{name} must have {last_dim} features in its last axis, got shape {x.shape}")
    if finite and not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; clean the input before passing it")
    return x


def check_labels(labels, n_samples: int, n_classes: int) -> np.ndarray:
    """``labels`` as an array if it is an (n_samples,) integer array with values in
    [0, n_classes), else a ValueError."""
    labels = np.asarray(labels)
    if labels.shape != (n_samples,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be an integer array of shape ({n_samples},), "
            f"got dtype {labels.dtype} and shape {labels.shape}"
        )
    if n_samples and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes - 1}], "
            f"got values from {labels.min()} to {labels.max()}"
        )
    return labels
