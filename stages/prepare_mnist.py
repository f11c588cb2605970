"""prepare_mnist: fetch the classification data set that `data` selects (MNIST by default, or
any data set in MNIST's IDX format defined by one file in conf/data/) from the data root, the
official download or a local mirror; check every raw file (IDX structure, labels, SHA-256 where
pinned) before anything is written; and split the official training set into train/validation
with a seeded permutation. The test set is kept whole and untouched.

Outputs: data/mnist/{x,y}_{train,val,test}.npy + meta.json (the class names, from the config,
and the train split's pixel mean and standard deviation, for standardisation);
reports/data/mnist.json. Every classification stage reads data/mnist/, whatever the data set.
"""

import sys
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from study.classify import train_pixel_statistics
from study.data import IdxDataset, fetch_dataset, load_dataset, mirror_root, split_train_val
from study.hydra_app import stage_main
from study.io import atomic_dir, save_npy, write_json

OUT = Path("data/mnist")
REPORT = Path("reports/data/mnist.json")


@stage_main
def main(cfg: DictConfig) -> None:
    data = cfg.data
    dataset = IdxDataset.from_config(OmegaConf.to_container(data))
    fetched = fetch_dataset(dataset, Path(data.root), mirror_root(data.mirror))
    print(f"prepare_mnist: {dataset.name} raw files checked ({fetched.source})", flush=True)
    for name in dataset.unpinned:
        print(f"prepare_mnist: warning: {name} is not pinned (its sha256 is null in conf/data/), "
              f"so DVC cannot see its content change; to pin it, set it to {fetched.sha256[name]}",
              file=sys.stderr, flush=True)
    full = load_dataset(dataset, fetched.folder)
    train_idx, val_idx = split_train_val(len(full["y_train"]), data.val_fraction, data.split_seed)
    splits = {
        "train": (full["x_train"][train_idx], full["y_train"][train_idx]),
        "val": (full["x_train"][val_idx], full["y_train"][val_idx]),
        "test": (full["x_test"], full["y_test"]),
    }
    n_classes = len(dataset.class_names)
    with atomic_dir(OUT) as out:  # the whole folder or nothing, never a partial set of splits
        for split, (x, y) in splits.items():
            save_npy(out / f"x_{split}.npy", x)
            save_npy(out / f"y_{split}.npy", y.astype(np.uint8))
        write_json(out / "meta.json", {"class_names": list(dataset.class_names),
                                       "train_pixels": train_pixel_statistics(splits["train"][0])})
    write_json(REPORT, {
        "dataset": dataset.name,
        "raw_sha256": fetched.sha256,
        "split": {"val_fraction": data.val_fraction, "seed": data.split_seed,
                  "from": "official training set; the official test set is kept whole"},
        "counts": {s: int(len(y)) for s, (_, y) in splits.items()},
        "class_counts": {s: np.bincount(y, minlength=n_classes).tolist()
                         for s, (_, y) in splits.items()},
    })
    print("prepare_mnist: " + ", ".join(f"{s} {len(y)}" for s, (_, y) in splits.items()),
          flush=True)


if __name__ == "__main__":
    main()
