"""prepare_cifar10: a reproducible sample of CIFAR-10 training images for the convolution
experiments, from the official archive where it can be downloaded, else from a local JPEG
image-folder mirror (recorded, since its pixels are not identical to the official ones).

Outputs: data/cifar10/{images,labels}.npy (uint8 NCHW, int64); reports/data/cifar10.json.
"""

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from study.data import CIFAR10_CLASSES, fetch_cifar10_sample, mirror_root
from study.hydra_app import stage_main
from study.io import atomic_dir, save_npy, write_json

OUT = Path("data/cifar10")
REPORT = Path("reports/data/cifar10.json")


@stage_main
def main(cfg: DictConfig) -> None:
    images, labels, source = fetch_cifar10_sample(
        Path(cfg.data.root), mirror_root(cfg.data.mirror), cfg.cifar10.n_images, cfg.cifar10.seed,
        cfg.cifar10.source)
    with atomic_dir(OUT) as out:  # both arrays or neither, never images without their labels
        save_npy(out / "images.npy", images)
        save_npy(out / "labels.npy", labels)
    write_json(REPORT, {
        "source": source,
        "split": "train",
        "n_images": int(len(labels)),
        "seed": cfg.cifar10.seed,
        "shape": list(images.shape),
        "dtype": str(images.dtype),
        "class_counts": dict(zip(CIFAR10_CLASSES,
                                 np.bincount(labels, minlength=10).tolist(), strict=True)),
    })
    print(f"prepare_cifar10: {len(labels)} images {images.shape} from {source}", flush=True)


if __name__ == "__main__":
    main()
