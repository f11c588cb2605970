"""sklearn_baseline: scikit-learn's LogisticRegression on the same split and preprocessing as our
softmax classifier (study.sklearn_baseline).

Outputs: reports/sklearn/metrics.json (train/val/test accuracy; ours beside them is in
reports/linear/metrics.json) and reports/sklearn/info.json (the model, dtype, preprocessing).
"""


from study.classify import load_prepared
from study.hydra_app import stage_main
from study.io import write_outputs
from study.settings import Settings
from study.sklearn_baseline import sklearn_baseline_outputs


@stage_main
def main(cfg: Settings) -> None:
    # the same model and inputs as our linear classifier's
    data = load_prepared(cfg.paths.idx, cfg.sklearn.dtype, cfg.linear.standardise,
                         cfg.linear.scale_pixels)
    outputs, summary = sklearn_baseline_outputs(cfg.sklearn, data, cfg.linear.bias, cfg.workers)
    write_outputs(f"{cfg.paths.reports}/sklearn", outputs)
    print(f"sklearn_baseline: {summary}", flush=True)


if __name__ == "__main__":
    main()
