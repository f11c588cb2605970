"""Bounded hypothesis strategies shared by the test suite.

Everything is small (tests stay fast) and bounded (no overflow, no subnormals), and the
gradient-check inputs are shifted away from the places where finite differences lie:

* ReLU's kink at 0 and |x|'s kink at 0: ``away_from_zero`` keeps every entry at least
  ``margin`` from 0, far more than the finite-difference step h = 1e-5.
* log near 0: ``positive`` keeps entries at least ``LOG_MARGIN`` above 0.
* tiny magnitudes: with every input near 0 a weight gradient is near 0 too, and a centred
  difference of an O(1) objective cannot resolve it; ``away_from_zero`` avoids that as well.

Import as ``from strategies import ...`` (tests/ has no __init__.py, so pytest puts it on
sys.path).
"""

from __future__ import annotations

import operator

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_ABS = 4.0       # bound on generated values: keeps exp() and products tame
KINK_MARGIN = 0.05  # |x| >= this, far from ReLU's and |x|'s kink at 0 (h = 1e-5)
LOG_MARGIN = 0.1    # x >= this wherever a log is taken

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def dims(min_value: int = 1, max_value: int = 5) -> st.SearchStrategy[int]:
    """One array side length."""
    return st.integers(min_value, max_value)


def shapes(min_dims: int = 1, max_dims: int = 4, min_side: int = 1, max_side: int = 4
           ) -> st.SearchStrategy[tuple[int, ...]]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def floats(min_value: float = -MAX_ABS, max_value: float = MAX_ABS, width: int = 64
           ) -> st.SearchStrategy[float]:
    """Finite, non-subnormal floats in [min_value, max_value]."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False, width=width)


def arrays(shape, min_value: float = -MAX_ABS, max_value: float = MAX_ABS,
           dtype=np.float64) -> st.SearchStrategy[np.ndarray]:
    """Bounded float arrays of ``shape`` (a tuple or a strategy of tuples); zeros allowed."""
    dtype = np.dtype(dtype)
    return hnp.arrays(dtype, shape, elements=floats(min_value, max_value, 8 * dtype.itemsize))


def away_from_zero(shape, margin: float = KINK_MARGIN, max_abs: float = MAX_ABS,
                   dtype=np.float64) -> st.SearchStrategy[np.ndarray]:
    """Arrays whose every entry satisfies margin <= |x| <= max_abs, either sign."""
    dtype = np.dtype(dtype)
    magnitude = floats(margin, max_abs, 8 * dtype.itemsize)
    return hnp.arrays(dtype, shape, elements=st.one_of(magnitude, magnitude.map(operator.neg)))


def positive(shape, low: float = LOG_MARGIN, high: float = MAX_ABS
             ) -> st.SearchStrategy[np.ndarray]:
    """Arrays in [low, high], safe to take the log of."""
    return arrays(shape, low, high)


@st.composite
def logits_and_labels(draw, max_n: int = 6, max_classes: int = 5, scale: float = MAX_ABS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) float64 scores in [-scale, scale] and (N,) int64 labels in [0, C)."""
    n, c = draw(dims(1, max_n)), draw(dims(2, max_classes))
    scores = draw(arrays((n, c), -scale, scale))
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    return scores, labels


@st.composite
def linear_sizes(draw, max_n: int = 5, max_features: int = 5) -> tuple[int, int, int]:
    """(batch, in_features, out_features)."""
    return draw(dims(1, max_n)), draw(dims(1, max_features)), draw(dims(1, max_features))
