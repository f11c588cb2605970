"""c0_recover: fit a fresh layer C to C0's outputs (from c0_targets) by mini-batch SGD with
momentum, by gradient descent at the best fixed step, by conjugate gradient and by the original
attempt's recipe, from the same U(-1, 1) start (the original's also from each of its seeds'
starts), and measure how close C's weights get to C0's (study.c0 explains the experiment and
why recovery is hard).

Outputs under reports/c0/: metrics.json, loss_sgd.csv, loss_gd.csv, loss_cg.csv and
loss_original.csv (the L2 loss and the relative output and weight errors per epoch, pass or
iteration), filters.png (C0's filters beside C's).
"""

import numpy as np

from study.c0 import recovery_outputs
from study.hydra_app import stage_main
from study.io import write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    x, targets, true_weights = (np.load(f"{cfg.paths.c0}/{name}.npy")
                                for name in ("inputs", "targets", "C0_weights"))
    outputs, summary = recovery_outputs(cfg.c0, x, targets, true_weights, workers=cfg.workers)
    write_outputs(f"{cfg.paths.reports}/c0", outputs)
    for line in summary:
        print(f"c0_recover {line}", flush=True)


if __name__ == "__main__":
    main()
