"""sklearn_baseline: scikit-learn's LogisticRegression on the same split and preprocessing as our
softmax classifier (study.sklearn_baseline).

It fits at our chosen lambda too (reports/linear/best.json), for a like-for-like comparison, and
scores that fit and our final linear model (<paths.models>/linear.npz) on one training objective.

Outputs: reports/sklearn/metrics.json (train/val/test accuracy; ours beside them is in
reports/linear/metrics.json), reports/sklearn/info.json (the model, dtype, preprocessing) and
reports/sklearn/predictions.csv (per test image, for a paired test against ours).
"""


from study.classify import load_classifier, load_prepared
from study.hydra_app import stage_main
from study.io import read_json, write_outputs
from study.layout import model_file
from study.settings import Settings
from study.sklearn_baseline import sklearn_baseline_outputs


@stage_main
def main(cfg: Settings) -> None:
    # the same model and inputs as our linear classifier's
    data = load_prepared(cfg.paths.idx, cfg.sklearn.dtype, cfg.linear.standardise,
                         cfg.linear.scale_pixels)
    our_lambda = read_json(f"{cfg.paths.reports}/linear/best.json")["lambda"]
    ours, _ = load_classifier(model_file(cfg.paths.models, "linear"), "linear")
    outputs, summary = sklearn_baseline_outputs(cfg.sklearn, data, cfg.linear.bias, our_lambda,
                                                ours, cfg.workers)
    write_outputs(f"{cfg.paths.reports}/sklearn", outputs)
    print(f"sklearn_baseline: {summary}", flush=True)


if __name__ == "__main__":
    main()
