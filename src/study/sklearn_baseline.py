"""The scikit-learn baseline: LogisticRegression (multinomial, L2, lbfgs) on the same split, the
same preprocessing and the same model (with a bias exactly when ours has one) as our softmax
classifier, its C chosen on VALIDATION from a grid as our lambda is. Each fit runs on one
thread: the iterations lbfgs takes, and so the result, depend on the thread count.

C and lambda: scikit-learn minimises 0.5 ||W||^2 + C * sum_i CE_i; divided by C N that is
mean_i CE_i + ||W||^2 / (2 C N), our loss with lambda = 1 / (2 C N), N the training images.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from study.classify import SPLITS, Prepared
from study.pool import fork_map
from study.threads import one_thread


def fit(C: float, sklearn: Mapping, data: Prepared, fit_intercept: bool
        ) -> tuple[LogisticRegression, bool]:
    """The model fitted on the train split at ``C``, and whether lbfgs converged."""
    clf = LogisticRegression(C=C, max_iter=sklearn["max_iter"], tol=sklearn["tol"],
                             fit_intercept=fit_intercept)
    with warnings.catch_warnings(record=True) as caught, one_thread():
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(data.x["train"], data.y["train"])
    return clf, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def sklearn_baseline_outputs(sklearn: Mapping, data: Prepared, fit_intercept: bool,
                             workers: int = 1) -> tuple[dict, str]:
    """Fit at every C of ``sklearn.C`` (over ``workers`` processes), choose the best validation
    accuracy, and score the chosen fit on every split: {"metrics.json": train/val/test
    accuracy, the chosen C and its lambda, every C's validation accuracy, convergence (1 or 0)
    and iterations; "info.json": the model, dtype, fit_intercept and preprocessing}; and a
    summary line."""
    grid = list(sklearn["C"])
    # the largest C (the weakest penalty) takes lbfgs the most iterations: start it first, so
    # the others share the second core meanwhile
    order = sorted(range(len(grid)), key=lambda i: -grid[i])
    fitted = fork_map(lambda i: fit(grid[i], sklearn, data, fit_intercept), order, workers)
    fits = [fitted[order.index(i)] for i in range(len(grid))]
    val = [float(clf.score(data.x["val"], data.y["val"])) for clf, _ in fits]
    best = max(range(len(grid)), key=lambda i: (val[i], -i))  # ties: the smaller C
    clf, converged = fits[best]
    scores = {s: {"accuracy": float(clf.score(data.x[s], data.y[s]))} for s in SPLITS}
    n_train = len(data.y["train"])
    # numbers only, as every metric (study.bars): convergence as 1 or 0, the words in info.json
    metrics = {
        **scores,
        "C": grid[best], "lambda_equivalent": 1.0 / (2.0 * grid[best] * n_train),
        "max_iter": sklearn["max_iter"],
        "converged": int(converged),
        "iterations": int(clf.n_iter_.max()),
        "grid": {str(C): {"val_accuracy": v, "lambda_equivalent": 1.0 / (2.0 * C * n_train),
                          "converged": int(ok), "iterations": int(model.n_iter_.max())}
                 for C, v, (model, ok) in zip(grid, val, fits, strict=True)},
    }
    info = {"model": "sklearn.linear_model.LogisticRegression", "dtype": sklearn["dtype"],
            "fit_intercept": fit_intercept, "preprocessing": data.preprocessing}
    summary = (f"C {grid[best]} chosen on validation; " + ", ".join(
        f"{s} {m['accuracy']:.4f}" for s, m in scores.items())
        + ("" if converged else f" (stopped at max_iter={sklearn['max_iter']})"))
    return {"metrics.json": metrics, "info.json": info}, summary
