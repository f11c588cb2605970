"""The report's statistics on test images: a binomial interval for an accuracy and McNemar's
test for two classifiers scored on the same images; and Student's t quantile, for intervals
over seeds. Plain formulas, checked against scipy in tests/test_stats.py."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
UPPER_95 = 0.975  # the quantile a two-sided 95% interval reaches up to (t_quantile's p)


def t_quantile(df: int, p: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom: scipy.stats.t.ppf's
    value, without importing scipy.stats (about a second per stage run)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of an accuracy of ``correct`` out of ``n``:
    unlike the normal approximation it stays inside [0, 1] and holds near 0% and 100%."""
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(f"an accuracy needs 0 <= correct <= n and n > 0, got {correct} of {n}")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at 0% and 100% the interval ends exactly at its value: rounding can leave it a hair inside
    return (0.0 if correct == 0 else max(0.0, centre - half),
            1.0 if correct == n else min(1.0, centre + half))


def mcnemar(a_right: np.ndarray, b_right: np.ndarray) -> dict:
    """McNemar's exact test of whether classifiers A and B differ in accuracy on the same
    images: ``a_right``/``b_right`` say per image whether each got it right. Only the images
    one gets right and the other wrong count; under "no difference" each such image is a fair
    coin, so the two-sided p-value is a binomial tail. Returns the two counts and p."""
    a_right, b_right = np.asarray(a_right, bool), np.asarray(b_right, bool)
    if a_right.shape != b_right.shape or a_right.ndim != 1:
        raise ValueError(f"McNemar needs two per-image vectors of one length, got "
                         f"{a_right.shape} and {b_right.shape}")
    only_a, only_b = int(np.sum(a_right & ~b_right)), int(np.sum(~a_right & b_right))
    n, k = only_a + only_b, min(only_a, only_b)
    # P(X <= k) for X ~ Binomial(n, 1/2), doubled: exact, in log space for large n
    tail = sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                        - n * math.log(2)) for i in range(k + 1)) if n else 1.0
    return {"only_a_right": only_a, "only_b_right": only_b, "p_value": min(1.0, 2 * tail)}
