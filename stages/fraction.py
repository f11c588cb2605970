"""fraction: the data-fraction bonus. Retrain a classifier with its sweep's chosen
hyperparameters on a seeded random subset of the train split at each share of conf/fraction's
values, with each of its seeds and the whole set's number of steps (side by side over
`workers` processes), and report the test accuracy against the share used.

Outputs under reports/<model>/: fraction.json (per share, the test and validation accuracies'
mean and standard deviation over the seeds), fraction.csv (one row per run).
"""


from study.classify import fraction_outputs, load_prepared
from study.hydra_app import stage_main
from study.io import read_json, write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    out = f"{cfg.paths.reports}/{cfg.model}"
    section = cfg[cfg.model]
    data = load_prepared(cfg.paths.idx, section.dtype, section.standardise,
                         section.scale_pixels)
    outputs, summary = fraction_outputs(cfg.model, section, read_json(f"{out}/best.json"), data,
                                        list(cfg.fraction["values"]),
                                        list(cfg.fraction.seeds),
                                        cfg.workers)
    write_outputs(out, outputs)
    print(f"fraction@{cfg.model}: {summary}", flush=True)


if __name__ == "__main__":
    main()
