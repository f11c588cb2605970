"""fraction_summary: collect the data-fraction points the current params name into one table:
test accuracy against the share of the train split used.

Outputs under reports/<model>/: fraction.json ({fraction: test accuracy}), fraction.csv.
"""

from pathlib import Path

from omegaconf import DictConfig

from study.hydra_app import stage_main
from study.io import read_json, write_csv, write_json


@stage_main
def main(cfg: DictConfig) -> None:
    out = Path(f"reports/{cfg.model}")
    points = [read_json(out / "fraction" / f"{f}.json") for f in cfg.fraction["values"]]
    write_json(out / "fraction.json", {str(p["fraction"]): p["test_accuracy"] for p in points})
    write_csv(out / "fraction.csv", ["fraction", "n_train", "test_accuracy"],
              ((p["fraction"], p["n_train"], p["test_accuracy"]) for p in points))
    print(f"{cfg.model}_fraction_summary: " + ", ".join(
        f"{p['fraction']}: {p['test_accuracy']}" for p in points), flush=True)


if __name__ == "__main__":
    main()
