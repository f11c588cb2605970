"""prepare_cifar10: a reproducible sample of CIFAR-10 training images for the convolution
experiments, from the official archive where it can be downloaded, else from a local JPEG
image-folder mirror (recorded, since its pixels are not identical to the official ones).

Outputs: data/cifar10/{images,labels}.npy (uint8 NCHW, int64); reports/data/cifar10.json.
"""

from pathlib import Path

from study.data import mirror_root, prepare_cifar10
from study.hydra_app import stage_main
from study.io import atomic_dir, write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    arrays, report = prepare_cifar10(cfg.cifar10, Path(cfg.data.root), mirror_root(cfg.data.mirror))
    with atomic_dir(cfg.paths.cifar10) as out:  # both arrays or neither
        write_outputs(out, arrays)
    write_outputs(f"{cfg.paths.reports}/data", {"cifar10.json": report})
    print(f"prepare_cifar10: {report['n_images']} images {tuple(report['shape'])} from "
          f"{report['source']}", flush=True)


if __name__ == "__main__":
    main()
