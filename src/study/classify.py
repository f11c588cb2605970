"""What the linear and MLP studies share: the prepared MNIST arrays, building and training a
classifier from a config section, sweep-point naming and the metrics written about a model."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

import barenet as bn
from study.data import IMAGE_SHAPE
from study.io import read_json
from study.progress import Progress
from study.threads import one_thread

SPLITS = ("train", "val", "test")


@dataclass
class Prepared:
    """Flattened, standardised inputs (N, 784) and int64 labels (N,) for each split."""
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    class_names: list[str]
    preprocessing: dict


def train_pixel_statistics(x_train: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation of the train split's pixels scaled to [0, 1], the
    standardisation statistics. prepare_mnist computes them once into meta.json, so that each of
    the many training stages need not redo a reduction over 300 MB of float64."""
    train = x_train.reshape(len(x_train), -1).astype(np.float64) / 255.0
    return {"mean": float(train.mean()), "std": float(train.std())}


def load_prepared(data_dir: str | Path, dtype: str) -> Prepared:
    """Read the prepare_mnist outputs; scale pixels to [0, 1], then standardise with the mean
    and standard deviation of the TRAIN split only (validation and test never leak in)."""
    data_dir = Path(data_dir)
    meta = read_json(data_dir / "meta.json")
    if "train_pixels" not in meta:
        raise ValueError(f"{data_dir / 'meta.json'} has no train_pixels statistics: it was "
                         "written by an older prepare_mnist; run `dvc repro prepare_mnist`")
    mean, std = meta["train_pixels"]["mean"], meta["train_pixels"]["std"]
    x = {s: _standardised(np.load(data_dir / f"x_{s}.npy"), mean, std, dtype) for s in SPLITS}
    labels = {s: np.load(data_dir / f"y_{s}.npy").astype(np.int64) for s in SPLITS}
    preprocessing = {"flatten": "28x28 -> 784", "scale": "x / 255",
                     "standardise": "(x - mean) / std, statistics of the train split",
                     "mean": mean, "std": std, "background": -mean / std, "dtype": dtype}
    return Prepared(x, labels, meta["class_names"], preprocessing)


def _standardised(images: np.ndarray, mean: float, std: float, dtype: str,
                  rows: int = 4096) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 784) ``dtype``, (x / 255 - mean) / std computed in float64 a few
    thousand rows at a time: the same bits as on the whole array, without its temporaries."""
    flat = images.reshape(len(images), -1)
    out = np.empty(flat.shape, dtype)
    for start in range(0, len(flat), rows):
        out[start:start + rows] = (flat[start:start + rows] / 255.0 - mean) / std
    return out


def build_model(kind: str, section: Mapping, n_features: int, n_classes: int,
                rng: np.random.Generator) -> bn.Module:
    dtype = np.dtype(section["dtype"])
    if kind == "linear":
        return bn.SoftmaxClassifier(n_features, n_classes, rng=rng, dtype=dtype)
    if kind == "mlp":
        return bn.MLP(n_features, int(section["hidden"]), n_classes, rng=rng, dtype=dtype)
    raise ValueError(f"model must be 'linear' or 'mlp', got {kind!r}")


def train(kind: str, section: Mapping, data: Prepared, subset: np.ndarray | None = None,
          progress: Progress | None = None, train_curves: bool = True
          ) -> tuple[bn.Module, bn.History]:
    """Fit a fresh model with the hyperparameters in ``section`` on the train split (or the
    rows ``subset`` of it), validating after every epoch; the train split is measured after
    every epoch too, or with ``train_curves=False`` after the last one only (sweep and
    fraction points, which need no train curves). Each epoch's scores go to ``progress`` (a bar
    on a terminal, a few lines in a log). Seeded: same section, same bytes."""
    rng = np.random.default_rng(int(section["seed"]))
    x, y = data.x["train"], data.y["train"]
    if subset is not None:
        x, y = x[subset], y[subset]
    model = build_model(kind, section, x.shape[1], len(data.class_names), rng)
    optimizer = bn.SGD(model.parameters(), lr=float(section["lr"]),
                       momentum=float(section["momentum"]))
    scheduler = bn.ExponentialLR(optimizer, float(section["lr_decay"]))

    epochs = int(section["epochs"])

    def end_of_epoch(epoch: int, history: bn.History) -> None:
        scheduler.step()
        if progress is not None:
            progress.update(epoch, epoch_status(history, epoch, epochs))

    shift = int(section["shift"])
    background = data.preprocessing["background"]

    def augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return bn.random_shift(batch, shift, rng, IMAGE_SHAPE, fill=background)

    with one_thread():
        history = bn.fit(model, optimizer, x, y, epochs=epochs,
                         batch_size=int(section["batch_size"]), rng=rng,
                         l2_lambda=float(section["lambda"]),
                         validation=(data.x["val"], data.y["val"]), on_epoch=end_of_epoch,
                         augment=augment if shift else None, train_every_epoch=train_curves)
    return model, history


def grid_points(grid: Mapping[str, list]) -> list[dict]:
    """Every combination of the grid's values, in dvc.yaml matrix order."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(grid[k] for k in keys))]


def point_name(point: Mapping) -> str:
    """File stem of a sweep point, keys in alphabetical order, e.g. ``lambda_0.005-lr_0.1``.
    Values print as DVC's templating prints them (Python str), so the out paths in dvc.yaml
    and this agree, whatever the order of the keys in conf/."""
    return "-".join(f"{key}_{point[key]}" for key in sorted(point))


def select_best(results: list[dict]) -> dict:
    """The point with the best final validation accuracy; ties go to the lower validation
    loss. Diverged points never win. Raises if every point diverged."""
    finished = [r for r in results if not r["diverged"]]
    if not finished:
        raise ValueError("every sweep point diverged: lower the learning rates in the grid")
    return max(finished, key=lambda r: (r["val_accuracy"], -r["val_loss"]))


def with_chosen_point(cfg) -> tuple[dict, dict]:
    """The config section of ``cfg.model`` with the grid values its select stage chose
    (reports/<model>/best.json) put in place; and those chosen values alone."""
    section = OmegaConf.to_container(cfg[cfg.model])
    best = read_json(Path(f"reports/{cfg.model}/best.json"))
    chosen = {key: best[key] for key in section["grid"]}
    section.update(chosen)
    return section, chosen


def history_record(history: bn.History) -> dict:
    def last(values: list[float]) -> float | None:
        return values[-1] if values and not history.diverged else None

    return {
        "diverged": history.diverged,
        "diverged_at_epoch": history.diverged_at_epoch,
        "train_accuracy": last(history.train_accuracy),
        "train_loss": last(history.train_loss),
        "val_accuracy": last(history.val_accuracy),
        "val_loss": last(history.val_loss),
        "history": {"train_loss": history.train_loss, "train_accuracy": history.train_accuracy,
                    "val_loss": history.val_loss, "val_accuracy": history.val_accuracy},
    }


def epoch_status(history: bn.History, epoch: int, epochs: int) -> str:
    """One epoch's scores for a progress line; the train split's only when it was measured
    (every epoch, or the last only: ``train(..., train_curves=False)``)."""
    val = f"val acc {history.val_accuracy[-1]:.4f} loss {history.val_loss[-1]:.4g}"
    if len(history.train_loss) != epoch and epoch != epochs:
        return val
    return (f"train acc {history.train_accuracy[-1]:.4f} loss {history.train_loss[-1]:.4g} | "
            f"{val}")
