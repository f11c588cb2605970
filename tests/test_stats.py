"""study.stats against scipy: the Wilson interval, McNemar's exact test and the t quantile."""

import numpy as np
import pytest
from scipy import stats

from study.stats import mcnemar, t_quantile, wilson_interval


@pytest.mark.parametrize("correct, n", [(9251, 10000), (0, 10), (10, 10), (1, 3), (980, 1000)])
def test_wilson_matches_scipy(correct, n):
    expected = stats.binomtest(correct, n).proportion_ci(method="wilson")
    assert wilson_interval(correct, n) == pytest.approx((expected.low, expected.high), abs=1e-12)


@pytest.mark.parametrize("correct, n", [(-1, 10), (11, 10), (0, 0)])
def test_wilson_refuses_impossible_counts(correct, n):
    with pytest.raises(ValueError, match="correct <= n"):
        wilson_interval(correct, n)


def test_mcnemar_matches_a_binomial_test_on_the_discordant_images():
    rng = np.random.default_rng(0)
    a = rng.random(5000) < 0.92
    b = np.where(rng.random(5000) < 0.1, ~a, a)  # B disagrees with A on about a tenth
    result = mcnemar(a, b)
    assert result["only_a_right"] == np.sum(a & ~b) and result["only_b_right"] == np.sum(~a & b)
    n = result["only_a_right"] + result["only_b_right"]
    assert result["p_value"] == pytest.approx(stats.binomtest(result["only_a_right"], n).pvalue,
                                              rel=1e-9)


def test_mcnemar_of_identical_classifiers_is_one_and_shapes_must_agree():
    right = np.array([True, False, True])
    assert mcnemar(right, right) == {"only_a_right": 0, "only_b_right": 0, "p_value": 1.0}
    with pytest.raises(ValueError, match="one length"):
        mcnemar(right, right[:2])


@pytest.mark.parametrize("n", [1, 3, 7, 1135, 1032, 10000])
def test_wilson_holds_its_value_at_0_and_100_percent(n):
    """An interval at 0% or 100% ends exactly there (rounding in the formula lands a hair
    inside, which a plotted error bar would then not reach)."""
    assert wilson_interval(0, n)[0] == 0.0
    assert wilson_interval(n, n)[1] == 1.0


@pytest.mark.parametrize("p", [0.975, 0.9, 0.5, 0.025])
def test_t_quantile_is_scipy_stats_t_ppf_to_the_bit(p):
    # the intervals over seeds (ablation.paired, report.prediction_interval) use it with 1 to a
    # few dozen degrees of freedom
    assert [t_quantile(df, p) for df in range(1, 40)] == [
        float(stats.t.ppf(p, df)) for df in range(1, 40)]
