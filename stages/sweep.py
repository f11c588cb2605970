"""sweep: train every point of a classifier's hyperparameter grid (conf/<model>/grid), the
points side by side over `workers` processes, and choose the best on VALIDATION accuracy (ties
go to the lower validation loss; diverged points never win).

dvc.yaml runs it once per model (linear_sweep, mlp_sweep), passing `model=linear` or
`model=mlp`.

Outputs under reports/<model>/: sweep/<point>.json (each point's validation scores per epoch,
as stages/sweep_point.py writes them), sweep.csv, sweep.md, heatmap.json, best.json (the
chosen hyperparameters).
"""


from study.classify import load_prepared, sweep_outputs
from study.hydra_app import stage_main
from study.io import write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    section = cfg[cfg.model]
    data = load_prepared(cfg.paths.idx, section.dtype, section.standardise,
                         section.scale_pixels)
    outputs, summary = sweep_outputs(cfg.model, section, data, cfg.workers)
    write_outputs(f"{cfg.paths.reports}/{cfg.model}", outputs)
    print(f"{cfg.model}_sweep: {summary}", flush=True)


if __name__ == "__main__":
    main()
