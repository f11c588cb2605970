"""sweep_point: train one point of a classifier's hyperparameter sweep and record its
validation scores, the same bytes as stages/sweep.py writes for that point.

Not a DVC stage: it is the unit a Hydra launcher fans out (joblib, submitit, Ray; see the
README), given the model and the point's values as new keys, e.g. `model=linear
+linear.lr=0.1 +linear.lambda=0.001`.

Output: reports/<model>/sweep/<point>.json (validation loss and accuracy per epoch).
"""


from study.classify import load_prepared, sweep_point_outputs
from study.hydra_app import stage_main
from study.io import write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    section = cfg[cfg.model]
    data = load_prepared(cfg.paths.idx, section.dtype, section.standardise,
                         section.scale_pixels)
    outputs, summary = sweep_point_outputs(cfg.model, section, data)
    write_outputs(f"{cfg.paths.reports}/{cfg.model}", outputs)
    print(f"{cfg.model}_sweep {summary}", flush=True)


if __name__ == "__main__":
    main()
