"""Where the study's data comes from, checked before use.

The classification data set is whatever conf/data/<name>.yaml defines (``IdxDataset``): any
data set in MNIST's IDX format plugs in with one new file there. Each data set is looked for in
order: the project's data root (already fetched), the official download through torchvision,
and a local mirror folder (``data.mirror`` in the config, else the BARENET_DATA_MIRROR
environment variable). Every source that fails is listed in the error, with what to do about
it. Raw files are checked before anything is copied: IDX structure (magic number, shape, size),
labels within the named classes, and SHA-256 wherever the config pins one.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.io import atomic_path, read_json, write_json

MIRROR_ENV = "BARENET_DATA_MIRROR"

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
PROVENANCE = "SOURCE.json"  # beside fetched raw files: where they came from, for the reports

# The four raw files of an MNIST-format data set, by role, as conf/data/<name>.yaml names them.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
IMAGE_SHAPE = (28, 28)  # the study's models take 784 inputs
IDX_UBYTE = 0x08        # IDX type code of unsigned bytes, the only one MNIST's files use
GZIP_MAGIC = b"\x1f\x8b"


class DataSourceError(RuntimeError):
    """No source could supply valid data; the message lists each attempt and the fix."""


class BadInput(ValueError):
    """A data set definition or an input file that cannot be used; the message names it, says
    what was expected and how to fix it (stage_main prints it alone, without a traceback)."""


@dataclass(frozen=True)
class IdxDataset:
    """An image classification data set in MNIST's IDX format, as conf/data/<name>.yaml defines
    it: uint8 images (N, 28, 28) and labels (N,) in 0..len(class_names) - 1, in an official
    train and an official test pair of files."""
    name: str
    folder: str                     # raw files live in <root>/<folder>/raw, <mirror>/<folder>/raw
    torchvision: str | None         # the torchvision.datasets class that downloads them, if any
    files: dict[str, str]           # role (one of ROLES) -> file name
    sha256: dict[str, str | None]   # file name -> pinned SHA-256; None: not pinned
    class_names: tuple[str, ...]    # label i is class_names[i]

    @classmethod
    def from_config(cls, data: Mapping) -> IdxDataset:
        """The data set the ``data`` config section defines (study.validate has checked it)."""
        files = data["files"]
        names = {role: files[role]["name"] for role in ROLES}
        digests = {files[role]["name"]: files[role]["sha256"] for role in ROLES}
        return cls(str(data["name"]), data["folder"], data["torchvision"], names, digests,
                   tuple(str(c) for c in data["class_names"]))

    def raw(self, root: Path) -> Path:
        """Where the raw files live under a data root or a mirror."""
        return Path(root) / self.folder / "raw"

    @property
    def unpinned(self) -> list[str]:
        """Names of the files whose SHA-256 the config leaves null."""
        return [name for name, digest in self.sha256.items() if digest is None]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mirror_root(configured: str | None) -> Path | None:
    value = configured or os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


def read_idx_header(path: Path) -> tuple[int, ...]:
    """The shape an IDX file of unsigned bytes declares, once its size is checked to match.
    Anything else (empty, compressed, another format or type, truncated) is a DataSourceError
    naming the file, what it holds, what was expected and the fix."""
    path = Path(path)
    fix = ("Fix: delete it and fetch it again, or replace it with the uncompressed IDX file "
           "from its source.")
    size = path.stat().st_size
    if size == 0:
        raise DataSourceError(f"{path} is empty (0 bytes); expected an IDX file. {fix}")
    with open(path, "rb") as f:
        magic = f.read(4)
        n_dims = magic[3] if len(magic) == 4 else 0
        dims = np.frombuffer(f.read(4 * n_dims), dtype=">u4")
    if magic[:2] == GZIP_MAGIC:
        raise DataSourceError(f"{path} is gzip-compressed; expected the uncompressed IDX file. "
                              f"Fix: decompress it (gunzip -c FILE.gz > {path.name})")
    if magic[:2] != b"\0\0" or n_dims == 0:
        raise DataSourceError(f"{path} is not an IDX file: it starts with bytes "
                              f"{magic.hex(' ') or '(none)'}, expected 00 00 08 <number of "
                              f"dimensions>. {fix}")
    if magic[2] != IDX_UBYTE:
        raise DataSourceError(f"{path} holds IDX data of type 0x{magic[2]:02x}; expected 0x08 "
                              "(unsigned bytes), as in MNIST's files. Fix: write the images and "
                              "labels as uint8")
    if len(dims) < n_dims:
        raise DataSourceError(f"{path} ends inside its IDX header ({size} bytes): the file is "
                              f"truncated. {fix}")
    shape = tuple(int(d) for d in dims)
    expected = 4 + 4 * n_dims + math.prod(shape)
    if size != expected:
        what = "truncated" if size < expected else "longer than its header says: altered"
        raise DataSourceError(f"{path} has {size} bytes, but its IDX header (shape {shape}) "
                              f"promises {expected}: the file is {what}. {fix}")
    return shape


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array an IDX file holds, of the shape its header declares (checked)."""
    shape = read_idx_header(path)
    return np.fromfile(path, dtype=np.uint8, offset=4 + 4 * len(shape)).reshape(shape)


def check_raw_files(folder: Path, dataset: IdxDataset) -> dict[str, str]:
    """Check the data set's four raw files in ``folder`` and return each one's SHA-256 (by file
    name, in ROLES order): every file present and a well-formed IDX file; its SHA-256 the
    pinned one, if pinned; images (N, 28, 28) with one label per image, and no label beyond
    data.class_names. The first problem is a DataSourceError naming the file and the fix."""
    paths = {role: Path(folder) / name for role, name in dataset.files.items()}
    for path in paths.values():
        if not path.is_file():
            raise DataSourceError(f"{path} is missing: {dataset.name} needs {folder} to hold "
                                  f"{list(dataset.files.values())}. Fix: fetch the data again, "
                                  f"or copy the file there")
    shapes = {role: read_idx_header(path) for role, path in paths.items()}
    digests = {}
    for role, path in paths.items():
        actual, pinned = sha256(path), dataset.sha256[path.name]
        if pinned is not None and actual != pinned:
            raise DataSourceError(
                f"{path} is corrupt or not the official file: sha256 {actual} "
                f"({path.stat().st_size} bytes), expected {pinned} (data.files.{role}.sha256). "
                "Delete it and fetch it again, or fix the mirror it came from.")
        digests[path.name] = actual
    for split in ("train", "test"):
        images, labels = paths[f"{split}_images"], paths[f"{split}_labels"]
        image_shape, label_shape = shapes[f"{split}_images"], shapes[f"{split}_labels"]
        if len(image_shape) != 3 or image_shape[1:] != IMAGE_SHAPE or image_shape[0] == 0:
            raise DataSourceError(
                f"{images} holds IDX shape {image_shape}; expected images (N, 28, 28), N >= 1: "
                f"the study's models take 28x28 images. Fix: data.files.{split}_images must "
                "name an image file of that shape")
        if len(label_shape) != 1:
            raise DataSourceError(
                f"{labels} holds IDX shape {label_shape}; expected labels (N,). Fix: "
                f"data.files.{split}_labels must name the labels file")
        if label_shape[0] != image_shape[0]:
            raise DataSourceError(
                f"{images} holds {image_shape[0]} images but {labels} holds {label_shape[0]} "
                f"labels; expected one label per image. Fix: data.files.{split}_images and "
                f"{split}_labels must name the two files of one split")
        top, n_classes = int(read_idx(labels).max()), len(dataset.class_names)
        if top >= n_classes:
            raise DataSourceError(
                f"{labels} holds label {top}, but data.class_names names {n_classes} classes "
                f"(labels 0..{n_classes - 1}). Fix: name every class in data.class_names, in "
                "label order")
    return digests


@dataclass
class Fetched:
    folder: Path                # where the checked raw files now are
    source: str                 # "official download" or "local mirror" (provenance of the bytes)
    sha256: dict[str, str]      # file name -> SHA-256 of the file used


def fetch_dataset(dataset: IdxDataset, root: Path, mirror: Path | None) -> Fetched:
    """Make ``<root>/<folder>/raw`` hold the data set's four checked IDX files; say where they
    came from. Nothing is copied into ``root`` from a mirror that fails a check."""
    raw = dataset.raw(root)
    if all((raw / name).is_file() for name in dataset.sha256):
        digests = check_raw_files(raw, dataset)  # a corrupt cached file is an error, not a fallback
        return Fetched(raw, _read_provenance(raw), digests)
    attempts = []
    if dataset.torchvision is None:
        attempts.append("official download: none (data.torchvision is null)")
    else:
        download = _torchvision_class(dataset.torchvision)
        try:
            download(str(root), train=True, download=True)
            return _record(raw, "official download", check_raw_files(raw, dataset))
        except Exception as exc:  # any network or archive failure: fall back to the mirror
            attempts.append(f"official download via torchvision: {_first_line(exc)}")
    layout = (f"{dataset.folder}/raw/ holding {', '.join(dataset.files.values())} "
              "(uncompressed)")
    mirror_problem = (f"none given (set data.mirror or {MIRROR_ENV})" if mirror is None
                      else _mirror_layout_problem(mirror, dataset))
    if mirror_problem:
        attempts.append(f"local mirror{'' if mirror is None else f' {mirror}'}: {mirror_problem}")
        raise DataSourceError(_no_source_message(dataset.name, attempts, layout,
                                                 downloadable=dataset.torchvision is not None))
    source = dataset.raw(mirror)
    digests = check_raw_files(source, dataset)
    raw.mkdir(parents=True, exist_ok=True)
    for name in dataset.sha256:
        with atomic_path(raw / name) as tmp:
            shutil.copyfile(source / name, tmp)
    return _record(raw, "local mirror", digests)


def load_dataset(dataset: IdxDataset, folder: Path) -> dict[str, np.ndarray]:
    """The official train and test sets in ``folder`` (checked by ``check_raw_files``): uint8
    (N, 28, 28) images ``x_train``, ``x_test`` and int64 (N,) labels ``y_train``, ``y_test``."""
    arrays = {}
    for split in ("train", "test"):
        arrays[f"x_{split}"] = read_idx(Path(folder) / dataset.files[f"{split}_images"])
        labels = read_idx(Path(folder) / dataset.files[f"{split}_labels"])
        arrays[f"y_{split}"] = labels.astype(np.int64)
    return arrays


def seeded_subset(n: int, k: int, seed: int) -> np.ndarray:
    """Sorted indices of k of range(n), drawn without replacement: the first k of a seeded
    permutation (every subset the study takes: validation rows, training fractions, images)."""
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted index arrays (train, validation) of a seeded random split of range(n)."""
    val = seeded_subset(n, round(n * val_fraction), seed)
    return np.setdiff1d(np.arange(n), val), val


def fetch_cifar10_sample(root: Path, mirror: Path | None, n_images: int, seed: int,
                         source: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """``n_images`` training images chosen reproducibly: uint8 (n, 3, 32, 32) NCHW, int64 labels,
    and the source used. ``source`` "official" takes the official archive (data root or
    download), "mirror" a JPEG image-folder mirror (``<mirror>/cifar10-jpg/train/<class>/*.jpg``,
    whose pixels differ slightly: lossy JPEG), "auto" the first of the two that works. Pinning
    it makes the choice a DVC param, so the images cannot change with the network."""
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
    folder = mirror / "cifar10-jpg" / "train"
    _check_class_folders(folder)
    from torchvision.datasets import ImageFolder  # after the cheap layout check

    ds = ImageFolder(str(folder))
    pick = _choose(len(ds.samples), n_images, seed)
    images = np.stack([_read_cifar_image(ds.loader, Path(ds.samples[i][0])) for i in pick])
    labels = np.array([ds.samples[i][1] for i in pick], dtype=np.int64)
    return (np.ascontiguousarray(images.transpose(0, 3, 1, 2)), labels,
            "local JPEG mirror (lossy re-encoding of the official images; not pixel-identical)")


def _choose(n: int, k: int, seed: int) -> np.ndarray:
    if k > n:  # the source holds fewer images than cifar10.n_images asks for
        raise BadInput(f"cannot choose {k} images from a split of {n}: lower cifar10.n_images "
                       f"to at most {n}")
    return seeded_subset(n, k, seed)


def _check_class_folders(folder: Path) -> None:
    fix = (f"point data.mirror or {MIRROR_ENV} at a complete mirror, or set cifar10.source to "
           "official")
    if not folder.is_dir():
        raise DataSourceError(f"{folder} does not exist: the CIFAR-10 mirror must hold "
                              f"cifar10-jpg/train/<class>/*.jpg. Fix: {fix}")
    present = sorted(p.name for p in folder.iterdir() if p.is_dir())
    missing = [c for c in CIFAR10_CLASSES if c not in present]
    extra = [c for c in present if c not in CIFAR10_CLASSES]
    if missing or extra:
        raise DataSourceError(
            f"{folder} must hold exactly the 10 CIFAR-10 class folders {list(CIFAR10_CLASSES)}; "
            f"missing {missing}, unexpected {extra}. Fix: add the missing class folders with "
            f"their images and remove any other, or {fix}")
    empty = [c for c in CIFAR10_CLASSES if not any((folder / c).iterdir())]
    if empty:
        raise DataSourceError(f"{folder}: class folders {empty} are empty; expected each class's "
                              f"images as <class>/*.jpg. Fix: fill them, or {fix}")


def _read_cifar_image(loader, path: Path) -> np.ndarray:
    """One mirror image as uint8 (32, 32, 3); an unreadable or wrongly sized file is named."""
    try:
        pixels = np.asarray(loader(str(path)).convert("RGB"))
    except OSError as exc:
        raise DataSourceError(f"{path} is not a readable image ({_first_line(exc)}); expected a "
                              "32x32 RGB JPEG. Fix: replace it from the source, or remove it"
                              ) from None
    if pixels.shape != (32, 32, 3):
        raise DataSourceError(f"{path} is {pixels.shape[1]}x{pixels.shape[0]} pixels; expected "
                              "32x32 RGB, as CIFAR-10's images. Fix: replace it from the source, "
                              "or remove it")
    return pixels


def _record(folder: Path, source: str, digests: dict[str, str]) -> Fetched:
    write_json(folder / PROVENANCE, {"source": source})
    return Fetched(folder, source, digests)


def _read_provenance(folder: Path) -> str:
    path = folder / PROVENANCE
    return read_json(path)["source"] if path.is_file() else "data root (origin unrecorded)"


def _torchvision_class(name: str) -> type:
    import torchvision.datasets

    found = getattr(torchvision.datasets, name, None)
    if not isinstance(found, type):
        raise BadInput(f"data.torchvision: torchvision.datasets has no data set {name!r}; name "
                       "one that downloads MNIST-format IDX files (MNIST, FashionMNIST, KMNIST), "
                       "or null to read the files from the data root or the mirror only")
    return found


def _mirror_layout_problem(mirror: Path, dataset: IdxDataset) -> str | None:
    """What keeps ``<mirror>/<folder>/raw`` from holding the data set's files (None: nothing),
    naming any of them found at a wrong depth or still compressed."""
    if not mirror.is_dir():
        return f"{mirror} is not a folder"
    source = dataset.raw(mirror)
    missing = [name for name in dataset.files.values() if not (source / name).is_file()]
    if not missing:
        return None
    problem = f"{source} {'lacks' if source.is_dir() else 'does not exist, so lacks'} {missing}"
    places = (mirror, mirror / dataset.folder, source, mirror / "raw")
    misplaced = [str(place / (name + suffix)) for name in missing for place in places
                 for suffix in ("", ".gz") if (place / (name + suffix)).is_file()]
    if misplaced:
        problem += (f"; found {misplaced} instead: move them into {source}, uncompressed "
                    "(gunzip any .gz)")
    return problem


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _no_source_message(name: str, attempts: list[str], layout: str,
                       downloadable: bool = True) -> str:
    tried = "\n".join(f"  - {a}" for a in attempts)
    online = "connect to the internet, or " if downloadable else ""
    return (f"could not obtain {name}. Tried:\n{tried}\n"
            f"Fix: {online}point {MIRROR_ENV} (or data.mirror) at a folder laid out as "
            f"<mirror>/{layout}.")


def train_pixel_statistics(x_train: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation of the train split's pixels scaled to [0, 1], the
    standardisation statistics, computed once here so each training stage need not redo the
    reduction."""
    train = x_train.reshape(len(x_train), -1).astype(np.float64) / 255.0
    return {"mean": float(train.mean()), "std": float(train.std())}


def prepare_idx(data: Mapping, mirror: Path | None, log) -> tuple[dict, dict]:
    """Fetch the classification data set that ``data`` (the config section) defines, check
    every raw file before anything is written, and split the official training set into
    train/validation with a seeded permutation; the test set is kept whole and untouched.
    Returns (arrays: {x,y}_{train,val,test}.npy and meta.json (the class names and the train
    split's pixel statistics, for standardisation); report: reports/data/idx.json's content).
    Progress and warnings go to ``log(message, warning=False)``."""
    dataset = IdxDataset.from_config(data)
    fetched = fetch_dataset(dataset, Path(data["root"]), mirror)
    log(f"{dataset.name} raw files checked ({fetched.source})")
    for name in dataset.unpinned:
        log(f"warning: {name} is not pinned (its sha256 is null in conf/data/), so DVC cannot "
            f"see its content change; to pin it, set it to {fetched.sha256[name]}", warning=True)
    full = load_dataset(dataset, fetched.folder)
    train_idx, val_idx = split_train_val(len(full["y_train"]), data["val_fraction"],
                                         data["split_seed"])
    splits = {
        "train": (full["x_train"][train_idx], full["y_train"][train_idx]),
        "val": (full["x_train"][val_idx], full["y_train"][val_idx]),
        "test": (full["x_test"], full["y_test"]),
    }
    arrays = {}
    for split, (x, y) in splits.items():
        arrays[f"x_{split}.npy"] = x
        arrays[f"y_{split}.npy"] = y.astype(np.uint8)
    arrays["meta.json"] = {"class_names": list(dataset.class_names),
                           "train_pixels": train_pixel_statistics(splits["train"][0])}
    n_classes = len(dataset.class_names)
    report = {
        "dataset": dataset.name,
        "raw_sha256": fetched.sha256,
        "split": {"val_fraction": data["val_fraction"], "seed": data["split_seed"],
                  "from": "official training set; the official test set is kept whole"},
        "counts": {s: int(len(y)) for s, (_, y) in splits.items()},
        "class_counts": {s: np.bincount(y, minlength=n_classes).tolist()
                         for s, (_, y) in splits.items()},
    }
    log(", ".join(f"{s} {len(y)}" for s, (_, y) in splits.items()))
    return arrays, report


def prepare_cifar10(cifar10: Mapping, root: Path, mirror: Path | None) -> tuple[dict, dict]:
    """A reproducible sample of CIFAR-10 training images for the convolution experiments:
    (arrays: images.npy uint8 (N, 3, 32, 32), labels.npy int64 (N,); report:
    reports/data/cifar10.json's content, naming the source)."""
    images, labels, source = fetch_cifar10_sample(root, mirror, cifar10["n_images"],
                                                  cifar10["seed"], cifar10["source"])
    report = {
        "source": source,
        "split": "train",
        "n_images": int(len(labels)),
        "seed": cifar10["seed"],
        "shape": list(images.shape),
        "dtype": str(images.dtype),
        "class_counts": dict(zip(CIFAR10_CLASSES,
                                 np.bincount(labels, minlength=10).tolist(), strict=True)),
    }
    return {"images.npy": images, "labels.npy": labels}, report
