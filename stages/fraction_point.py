"""fraction_point: the data-fraction bonus. Retrain a classifier with its chosen
hyperparameters on a seeded random subset (a fraction) of the train split and report its test
accuracy. dvc.yaml runs one point per model and fraction (fraction@linear-0.1, ...), passing
`model=... +fraction.fraction=...`.

Output: reports/<model>/fraction/<fraction>.json.
"""

from omegaconf import DictConfig

from study.classify import fraction_point_outputs, load_prepared
from study.hydra_app import stage_main
from study.io import read_json, write_outputs


@stage_main
def main(cfg: DictConfig) -> None:
    out = f"{cfg.paths.reports}/{cfg.model}"
    section = cfg[cfg.model]
    data = load_prepared(cfg.paths.idx, section.dtype, section.standardise)
    outputs, summary = fraction_point_outputs(cfg.model, section, read_json(f"{out}/best.json"),
                                              data, cfg.fraction.fraction, cfg.fraction.seed)
    write_outputs(f"{out}/fraction", outputs)
    print(f"fraction@{cfg.model}-{summary}", flush=True)


if __name__ == "__main__":
    main()
