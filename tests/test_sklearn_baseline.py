"""The scikit-learn baseline's like-for-like objective (study.sklearn_baseline): the fit at
C_of(lambda) minimises our training objective, so the report may set our model's objective
beside it and say which one stopped short."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from study.sklearn_baseline import C_of, objective


@pytest.mark.parametrize("lam", [1e-3, 1e-1])
def test_the_fit_at_our_lambda_is_the_minimum_of_our_objective(lam):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    y = (x @ rng.normal(size=(6, 4))).argmax(axis=1)
    fit = LogisticRegression(C=C_of(lam, len(y)), fit_intercept=False, tol=1e-12,
                             max_iter=10_000).fit(x, y)

    def at(W):
        return objective(x @ W.T, y, [W], lam)

    best = at(fit.coef_)
    assert best == pytest.approx(objective(fit.decision_function(x), y, [fit.coef_], lam))
    # any step away raises it: a lambda off by a factor (the penalty doubled or halved) would
    # move the minimum along the weights themselves, and a scaled W would score lower
    for step in [fit.coef_ * 1e-2, *rng.normal(size=(4, *fit.coef_.shape)) * 1e-2]:
        assert at(fit.coef_ + step) > best and at(fit.coef_ - step) > best
