"""fraction_summary: collect the data-fraction points the current params name into one table:
test accuracy against the share of the train split used.

Outputs under reports/<model>/: fraction.json ({fraction: test accuracy}), fraction.csv.
"""

from omegaconf import DictConfig

from study.classify import fraction_summary_outputs
from study.hydra_app import stage_main
from study.io import read_json, write_outputs


@stage_main
def main(cfg: DictConfig) -> None:
    out = f"{cfg.paths.reports}/{cfg.model}"
    points = [read_json(f"{out}/fraction/{f}.json") for f in cfg.fraction["values"]]
    outputs, summary = fraction_summary_outputs(points)
    write_outputs(out, outputs)
    print(f"fraction_summary@{cfg.model}: {summary}", flush=True)


if __name__ == "__main__":
    main()
