"""prepare_mnist: fetch MNIST (data root, official download, or local mirror), verify every raw
file's SHA-256, and split the official training set into train/validation with a seeded
permutation. The test set is kept whole and untouched.

Outputs: data/mnist/{x,y}_{train,val,test}.npy + meta.json; reports/data/mnist.json.
"""

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from study.data import MNIST_SHA256, fetch_mnist, load_mnist, mirror_root, split_train_val
from study.hydra_app import stage_main
from study.io import save_npy, write_json

OUT = Path("data/mnist")
REPORT = Path("reports/data/mnist.json")


@stage_main
def main(cfg: DictConfig) -> None:
    data = cfg.data
    fetched = fetch_mnist(Path(data.root), mirror_root(data.mirror))
    print(f"prepare_mnist: raw files verified ({fetched.source})", flush=True)
    full = load_mnist(Path(data.root))
    train_idx, val_idx = split_train_val(len(full["y_train"]), data.val_fraction, data.split_seed)
    splits = {
        "train": (full["x_train"][train_idx], full["y_train"][train_idx]),
        "val": (full["x_train"][val_idx], full["y_train"][val_idx]),
        "test": (full["x_test"], full["y_test"]),
    }
    class_names = [str(c) for c in range(10)]
    for split, (x, y) in splits.items():
        save_npy(OUT / f"x_{split}.npy", x)
        save_npy(OUT / f"y_{split}.npy", y.astype(np.uint8))
    write_json(OUT / "meta.json", {"class_names": class_names})
    write_json(REPORT, {
        "dataset": data.name,
        "source": fetched.source,
        "raw_sha256": MNIST_SHA256,
        "split": {"val_fraction": data.val_fraction, "seed": data.split_seed,
                  "from": "official training set; the official test set is kept whole"},
        "counts": {s: int(len(y)) for s, (_, y) in splits.items()},
        "class_counts": {s: np.bincount(y, minlength=10).tolist() for s, (_, y) in splits.items()},
    })
    print("prepare_mnist: " + ", ".join(f"{s} {len(y)}" for s, (_, y) in splits.items()),
          flush=True)


if __name__ == "__main__":
    main()
