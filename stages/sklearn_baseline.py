"""sklearn_baseline: scikit-learn's LogisticRegression (multinomial, L2, lbfgs) on the same
split and the same preprocessing as our softmax classifier, for a side-by-side comparison.
Fitted on one thread: the iterations lbfgs takes, and so the result, depend on the thread count.

Output: reports/sklearn/metrics.json (train/val/test accuracy, ours beside them is in
reports/linear/metrics.json).
"""

import warnings
from pathlib import Path

from omegaconf import DictConfig
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from study.classify import SPLITS, load_prepared
from study.hydra_app import stage_main
from study.io import write_json
from study.threads import one_thread


@stage_main
def main(cfg: DictConfig) -> None:
    data = load_prepared("data/mnist", cfg.sklearn.dtype)
    clf = LogisticRegression(C=cfg.sklearn.C, max_iter=cfg.sklearn.max_iter, tol=cfg.sklearn.tol)
    with warnings.catch_warnings(record=True) as caught, one_thread():
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(data.x["train"], data.y["train"])
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    metrics = {s: {"accuracy": float(clf.score(data.x[s], data.y[s]))} for s in SPLITS}
    write_json(Path("reports/sklearn/metrics.json"), {
        **metrics,
        "model": "sklearn.linear_model.LogisticRegression",
        "C": cfg.sklearn.C, "max_iter": cfg.sklearn.max_iter, "dtype": cfg.sklearn.dtype,
        "converged": converged,
        "iterations": int(clf.n_iter_.max()),
        "preprocessing": data.preprocessing,
    })
    print("sklearn_baseline: " + ", ".join(f"{s} {m['accuracy']:.4f}" for s, m in metrics.items())
          + ("" if converged else f" (stopped at max_iter={cfg.sklearn.max_iter})"), flush=True)


if __name__ == "__main__":
    main()
