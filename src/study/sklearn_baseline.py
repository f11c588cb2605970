"""The scikit-learn baseline: LogisticRegression (multinomial, L2, lbfgs) on the same split and
the same preprocessing as our softmax classifier, for a side-by-side comparison. Fitted on one
thread: the iterations lbfgs takes, and so the result, depend on the thread count."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from study.classify import SPLITS, Prepared
from study.threads import one_thread


def sklearn_baseline_outputs(sklearn: Mapping, data: Prepared, fit_intercept: bool
                             ) -> tuple[dict, str]:
    """Fit on the train split and score every split: {"metrics.json": train/val/test accuracy,
    the settings, whether lbfgs converged and its iterations}; and a summary line.
    ``fit_intercept`` follows our classifier's bias, so the two models are the same."""
    clf = LogisticRegression(C=sklearn["C"], max_iter=sklearn["max_iter"], tol=sklearn["tol"],
                             fit_intercept=fit_intercept)
    with warnings.catch_warnings(record=True) as caught, one_thread():
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(data.x["train"], data.y["train"])
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    scores = {s: {"accuracy": float(clf.score(data.x[s], data.y[s]))} for s in SPLITS}
    metrics = {
        **scores,
        "model": "sklearn.linear_model.LogisticRegression",
        "C": sklearn["C"], "max_iter": sklearn["max_iter"], "dtype": sklearn["dtype"],
        "fit_intercept": fit_intercept,
        "converged": converged,
        "iterations": int(clf.n_iter_.max()),
        "preprocessing": data.preprocessing,
    }
    summary = (", ".join(f"{s} {m['accuracy']:.4f}" for s, m in scores.items())
               + ("" if converged else f" (stopped at max_iter={sklearn['max_iter']})"))
    return {"metrics.json": metrics}, summary
