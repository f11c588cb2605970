"""Where the study's data comes from, checked before use.

Each data set is looked for in order: the project's data root (already fetched), the official
download through torchvision, and a local mirror folder (``data.mirror`` in the config, else the
BARENET_DATA_MIRROR environment variable). Every source that fails is listed in the error, with
what to do about it. Raw MNIST files are verified against SHA-256 constants before use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.io import atomic_path, read_json, write_json

MIRROR_ENV = "BARENET_DATA_MIRROR"

# SHA-256 of the uncompressed official MNIST IDX files (torchvision checks only the .gz MD5s).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
PROVENANCE = "SOURCE.json"  # beside fetched raw files: where they came from, for the reports


class DataSourceError(RuntimeError):
    """No source could supply valid data; the message lists each attempt and the fix."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mirror_root(configured: str | None) -> Path | None:
    value = configured or os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


def verify_files(folder: Path, expected: dict[str, str]) -> None:
    """Raise DataSourceError naming the first missing, empty or altered file in ``folder``."""
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise DataSourceError(f"{path} is missing (expected one of {sorted(expected)})")
        actual = sha256(path)
        if actual != digest:
            size = path.stat().st_size
            raise DataSourceError(
                f"{path} is corrupt or not the official file: sha256 {actual} ({size} bytes), "
                f"expected {digest}. Delete it and fetch it again, or fix the mirror it came from."
            )


@dataclass
class Fetched:
    folder: Path   # where the verified raw files now are
    source: str    # "official download" or "local mirror" (provenance of the bytes)


def fetch_mnist(root: Path, mirror: Path | None) -> Fetched:
    """Make ``root/MNIST/raw`` hold the four verified IDX files; say where they came from."""
    raw = root / "MNIST" / "raw"
    attempts = []
    if all((raw / name).is_file() for name in MNIST_SHA256):
        verify_files(raw, MNIST_SHA256)  # a corrupt cached file is an error, not a fallback
        return Fetched(raw, _read_provenance(raw))
    try:
        from torchvision.datasets import MNIST

        MNIST(str(root), train=True, download=True)
        verify_files(raw, MNIST_SHA256)
        return _record(raw, "official download")
    except Exception as exc:  # any network or archive failure: fall back to the mirror
        attempts.append(f"official download via torchvision: {_first_line(exc)}")
    if mirror is None:
        attempts.append(f"local mirror: none given (set data.mirror or {MIRROR_ENV})")
    else:
        source = mirror / "MNIST" / "raw"
        verify_files(source, MNIST_SHA256)
        raw.mkdir(parents=True, exist_ok=True)
        for name in MNIST_SHA256:
            with atomic_path(raw / name) as tmp:
                shutil.copyfile(source / name, tmp)
        return _record(raw, "local mirror")
    raise DataSourceError(_no_source_message("MNIST", attempts, "MNIST/raw/<the four IDX files>"))


def load_mnist(raw_root: Path) -> dict[str, np.ndarray]:
    """The official train and test sets as uint8 (N, 28, 28) images and int64 (N,) labels."""
    from torchvision.datasets import MNIST

    out = {}
    for split, train in (("train", True), ("test", False)):
        ds = MNIST(str(raw_root), train=train, download=False)
        out[f"x_{split}"] = ds.data.numpy().astype(np.uint8)
        out[f"y_{split}"] = ds.targets.numpy().astype(np.int64)
    return out


def seeded_subset(n: int, k: int, seed: int) -> np.ndarray:
    """Sorted indices of k of range(n), drawn without replacement: the first k of a seeded
    permutation (every subset the study takes: validation rows, training fractions, images)."""
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted index arrays (train, validation) of a seeded random split of range(n)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"data.val_fraction must be in (0, 1), got {val_fraction!r}")
    val = seeded_subset(n, round(n * val_fraction), seed)
    return np.setdiff1d(np.arange(n), val), val


CIFAR10_SOURCES = ("auto", "official", "mirror")


def fetch_cifar10_sample(root: Path, mirror: Path | None, n_images: int, seed: int,
                         source: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """``n_images`` training images chosen reproducibly: uint8 (n, 3, 32, 32) NCHW, int64 labels,
    and the source used. ``source`` "official" takes the official archive (data root or
    download), "mirror" a JPEG image-folder mirror (``<mirror>/cifar10-jpg/train/<class>/*.jpg``,
    whose pixels differ slightly: lossy JPEG), "auto" the first of the two that works. Pinning
    it makes the choice a DVC param, so the images cannot change with the network."""
    if source not in CIFAR10_SOURCES:
        raise ValueError(f"cifar10.source must be one of {CIFAR10_SOURCES}, got {source!r}")
    attempts = []
    if source != "mirror":
        try:
            from torchvision.datasets import CIFAR10

            ds = CIFAR10(str(root), train=True, download=True)
            images, labels = ds.data, np.asarray(ds.targets)  # (N, 32, 32, 3) HWC
            pick = _choose(len(labels), n_images, seed)
            return (np.ascontiguousarray(images[pick].transpose(0, 3, 1, 2)),
                    labels[pick].astype(np.int64), "official archive (cifar-10-python.tar.gz)")
        except Exception as exc:
            attempts.append(f"official download via torchvision: {_first_line(exc)}")
    if source == "official":
        raise DataSourceError(_no_source_message("CIFAR-10", attempts, "(cifar10.source is "
                                                 "'official': set it to 'mirror' or 'auto')"))
    if mirror is None:
        attempts.append(f"local mirror: none given (set data.mirror or {MIRROR_ENV})")
        raise DataSourceError(_no_source_message("CIFAR-10", attempts,
                                                 "cifar10-jpg/train/<class>/*.jpg"))
    from torchvision.datasets import ImageFolder

    folder = mirror / "cifar10-jpg" / "train"
    _check_class_folders(folder)
    ds = ImageFolder(str(folder))
    pick = _choose(len(ds.samples), n_images, seed)
    images = np.stack([np.asarray(ds.loader(ds.samples[i][0]).convert("RGB")) for i in pick])
    if images.shape[1:] != (32, 32, 3):
        raise DataSourceError(f"{folder}: images must be 32x32 RGB, got {images.shape[1:]}")
    labels = np.array([ds.samples[i][1] for i in pick], dtype=np.int64)
    return (np.ascontiguousarray(images.transpose(0, 3, 1, 2)), labels,
            "local JPEG mirror (lossy re-encoding of the official images; not pixel-identical)")


def _choose(n: int, k: int, seed: int) -> np.ndarray:
    if not 1 <= k <= n:
        raise ValueError(f"cannot choose {k} images from a split of {n}: use 1 <= n_images <= {n}")
    return seeded_subset(n, k, seed)


def _check_class_folders(folder: Path) -> None:
    if not folder.is_dir():
        raise DataSourceError(f"{folder} does not exist: the CIFAR-10 mirror must hold "
                              "cifar10-jpg/train/<class>/*.jpg")
    present = sorted(p.name for p in folder.iterdir() if p.is_dir())
    missing = [c for c in CIFAR10_CLASSES if c not in present]
    extra = [c for c in present if c not in CIFAR10_CLASSES]
    if missing or extra:
        raise DataSourceError(
            f"{folder} must hold exactly the 10 CIFAR-10 class folders {list(CIFAR10_CLASSES)}; "
            f"missing {missing}, unexpected {extra}")
    empty = [c for c in CIFAR10_CLASSES if not any((folder / c).iterdir())]
    if empty:
        raise DataSourceError(f"{folder}: class folders {empty} are empty")


def _record(folder: Path, source: str) -> Fetched:
    write_json(folder / PROVENANCE, {"source": source})
    return Fetched(folder, source)


def _read_provenance(folder: Path) -> str:
    path = folder / PROVENANCE
    return read_json(path)["source"] if path.is_file() else "data root (origin unrecorded)"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _no_source_message(name: str, attempts: list[str], layout: str) -> str:
    tried = "\n".join(f"  - {a}" for a in attempts)
    return (f"could not obtain {name}. Tried:\n{tried}\n"
            f"Fix: connect to the internet, or point {MIRROR_ENV} (or data.mirror) at a folder "
            f"laid out as <mirror>/{layout}.")
