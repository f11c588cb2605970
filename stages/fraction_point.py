"""fraction_point: the data-fraction bonus. Retrain a classifier with its chosen
hyperparameters on a seeded random subset (a fraction) of the train split and report its test
accuracy. dvc.yaml runs one point per fraction (linear_fraction@0.1, ...), passing
`model=... +fraction.fraction=...`.

Output: reports/<model>/fraction/<fraction>.json.
"""

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

import barenet as bn
from study.classify import load_prepared, train, with_chosen_point
from study.data import seeded_subset
from study.hydra_app import stage_main
from study.io import write_json
from study.progress import Progress

LOG_LINES = 5  # per point when not on a terminal: one of several fractions


def subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of round(n * fraction) rows drawn without replacement."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction.fraction must be in (0, 1], got {fraction!r}")
    return seeded_subset(n, max(1, round(n * fraction)), seed)


@stage_main
def main(cfg: DictConfig) -> None:
    out = Path(f"reports/{cfg.model}")
    section, _ = with_chosen_point(cfg)
    fraction = float(cfg.fraction.fraction)
    data = load_prepared("data/mnist", section["dtype"])
    rows = subset(len(data.y["train"]), fraction, cfg.fraction.seed)
    with Progress(f"{cfg.model}_fraction {fraction}", section["epochs"],
                  max_lines=LOG_LINES) as progress:
        model, history = train(cfg.model, section, data, subset=rows, progress=progress,
                               train_curves=False)
    test = None if history.diverged else bn.evaluate(model, data.x["test"], data.y["test"])
    write_json(out / "fraction" / f"{cfg.fraction.fraction}.json", {
        "fraction": fraction, "n_train": int(len(rows)),
        "test_accuracy": test.accuracy if test else None,
        "val_accuracy": history.val_accuracy[-1] if test else None,
        "diverged_at_epoch": history.diverged_at_epoch,
    })
    print(f"{cfg.model}_fraction {fraction}: {len(rows)} training images, test accuracy "
          f"{test.accuracy if test else float('nan'):.4f}", flush=True)


if __name__ == "__main__":
    main()
