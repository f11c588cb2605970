"""The scikit-learn baseline: LogisticRegression (multinomial, L2, lbfgs) on the same split, the
same preprocessing and the same model (with a bias exactly when ours has one) as our softmax
classifier, its C chosen on VALIDATION from a grid as our lambda is. Each fit runs on one
thread: the iterations lbfgs takes, and so the result, depend on the thread count.

C and lambda: scikit-learn minimises 0.5 ||W||^2 + C * sum_i CE_i; divided by C N that is
mean_i CE_i + ||W||^2 / (2 C N), our loss with lambda = 1 / (2 C N), N the training images.
So the fit at our lambda and our own model can be scored on one objective (``objective``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

import barenet as bn
from study.classify import SPLITS, Prepared
from study.io import Table
from study.pool import fork_map
from study.threads import one_thread


def fit(C: float, sklearn: Mapping, data: Prepared, fit_intercept: bool
        ) -> tuple[LogisticRegression, bool]:
    """The model fitted on the train split at ``C`` (inf: no penalty), and whether lbfgs
    converged."""
    penalty = {"penalty": None} if math.isinf(C) else {"C": C}
    clf = LogisticRegression(**penalty, max_iter=sklearn["max_iter"], tol=sklearn["tol"],
                             fit_intercept=fit_intercept)
    with warnings.catch_warnings(record=True) as caught, one_thread():
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(data.x["train"], data.y["train"])
    return clf, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def objective(scores: np.ndarray, labels: np.ndarray, weights: list[np.ndarray], lam: float
              ) -> float:
    """Our linear classifier's training objective: the mean softmax cross-entropy of (N, C)
    ``scores`` plus lam * sum(W^2) over ``weights`` (biases are not penalised, here or in
    scikit-learn), which lbfgs minimises at C = C_of(lam)."""
    return (bn.SoftmaxCrossEntropy()(scores, labels)
            + lam * sum(float(np.vdot(w, w)) for w in weights))


def C_of(lam: float, n_train: int) -> float:
    """scikit-learn's C for our lambda (inf for lambda 0: no penalty)."""
    return math.inf if lam == 0 else 1.0 / (2.0 * lam * n_train)


def sklearn_baseline_outputs(sklearn: Mapping, data: Prepared, fit_intercept: bool,
                             our_lambda: float, our_model: bn.Module, workers: int = 1
                             ) -> tuple[dict, str]:
    """Fit at every C of ``sklearn.C`` and at the C of ``our_lambda`` (the linear sweep's
    choice), over ``workers`` processes; choose the best validation accuracy of the grid, and
    score the chosen fit and the one at our lambda on every split: {"metrics.json": train/val/
    test accuracy, the chosen C and its lambda, every C's validation accuracy, convergence (1 or
    0) and iterations, and the same for the fit at our lambda under "at_our_lambda", with the
    training objective of that fit and of ``our_model`` (our final linear classifier, trained
    at our lambda);
    "info.json": the model, dtype, fit_intercept and preprocessing; "predictions.csv": each test
    image's class and both fits' predictions, for a paired test against ours}; and a summary
    line."""
    n_train = len(data.y["train"])
    grid = [*sklearn["C"], C_of(our_lambda, n_train)]
    # the largest C (the weakest penalty) takes lbfgs the most iterations: start it first, so
    # the others share the second core meanwhile
    order = sorted(range(len(grid)), key=lambda i: -grid[i])
    fitted = fork_map(lambda i: fit(grid[i], sklearn, data, fit_intercept), order, workers)
    fits = [fitted[order.index(i)] for i in range(len(grid))]
    fits, (ours_clf, ours_converged) = fits[:-1], fits[-1]
    grid = grid[:-1]
    val = [float(clf.score(data.x["val"], data.y["val"])) for clf, _ in fits]
    best = max(range(len(grid)), key=lambda i: (val[i], -i))  # ties: the smaller C
    clf, converged = fits[best]
    scores = {s: {"accuracy": float(clf.score(data.x[s], data.y[s]))} for s in SPLITS}
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
        "at_our_lambda": {
            "lambda": our_lambda, "C": C_of(our_lambda, n_train),
            **{s: {"accuracy": float(ours_clf.score(data.x[s], data.y[s]))} for s in SPLITS},
            "converged": int(ours_converged), "iterations": int(ours_clf.n_iter_.max())},
    }
    x, y = data.x["train"], data.y["train"]
    metrics["at_our_lambda"]["train"].update(
        objective=objective(ours_clf.decision_function(x), y, [ours_clf.coef_], our_lambda),
        objective_of_ours=objective(bn.train.predict_scores(our_model, x), y, [
            p.data for p in bn.L2Penalty.on_weights(our_model, our_lambda).params], our_lambda))
    if math.isinf(metrics["at_our_lambda"]["C"]):
        del metrics["at_our_lambda"]["C"]  # a metric is a finite number (study.bars)
    info = {"model": "sklearn.linear_model.LogisticRegression", "dtype": sklearn["dtype"],
            "fit_intercept": fit_intercept, "preprocessing": data.preprocessing}
    names = data.class_names
    predictions = Table(["actual", "predicted", "predicted_at_our_lambda"], [
        (names[a], names[p], names[q]) for a, p, q in zip(
            data.y["test"], clf.predict(data.x["test"]), ours_clf.predict(data.x["test"]),
            strict=True)])
    summary = (f"C {grid[best]} chosen on validation; " + ", ".join(
        f"{s} {m['accuracy']:.4f}" for s, m in scores.items())
        + ("" if converged else f" (stopped at max_iter={sklearn['max_iter']})")
        + f"; at our lambda {our_lambda:g}: test "
        f"{metrics['at_our_lambda']['test']['accuracy']:.4f}")
    return {"metrics.json": metrics, "info.json": info, "predictions.csv": predictions}, summary
