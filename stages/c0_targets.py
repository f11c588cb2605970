"""c0_targets: C0's weights and its outputs on the prepared CIFAR-10 images, the targets that
c0_recover fits a fresh layer to (study.c0 explains the experiment).

Outputs: data/c0/{C0_weights,inputs,targets}.npy (float64); reports/c0/targets.json (the
weights' SHA-256 and the kind of source they came from, never a host path).
"""

import numpy as np

from study.c0 import make_targets
from study.data import mirror_root
from study.hydra_app import stage_main
from study.io import atomic_dir, write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    images = f"{cfg.paths.cifar10}/images.npy"
    arrays, report, summary = make_targets(cfg.c0, mirror_root(cfg.data.mirror), np.load(images),
                                           images_from=images)
    with atomic_dir(cfg.paths.c0) as out:  # the three arrays together or not at all
        write_outputs(out, arrays)
    write_outputs(f"{cfg.paths.reports}/c0", {"targets.json": report})
    print(f"c0_targets: {summary}", flush=True)


if __name__ == "__main__":
    main()
