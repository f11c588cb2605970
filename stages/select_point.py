"""select_point: read exactly the sweep points the current params name (never a glob, so
results of points removed from the grid are ignored), tabulate them and choose the best on
VALIDATION accuracy (ties go to the lower validation loss; diverged points never win).

Outputs under reports/<model>/: sweep.csv, sweep.md, heatmap.json, best.json (the chosen
hyperparameters).
"""

from omegaconf import DictConfig, OmegaConf

from study.classify import grid_points, point_name, selection_outputs
from study.hydra_app import stage_main
from study.io import read_json, write_outputs


@stage_main
def main(cfg: DictConfig) -> None:
    grid = OmegaConf.to_container(cfg[cfg.model].grid)
    out = f"{cfg.paths.reports}/{cfg.model}"
    results = [read_json(f"{out}/sweep/{point_name(p)}.json") for p in grid_points(grid)]
    outputs, summary = selection_outputs(grid, results)
    write_outputs(out, outputs)
    print(f"select@{cfg.model}: {summary}", flush=True)


if __name__ == "__main__":
    main()
