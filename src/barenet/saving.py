"""A model as a file: a plain .npz (``numpy.load(..., allow_pickle=False)`` reads it) holding
each parameter under its ``named_parameters`` name (``layers.1.weight``) and one more entry,
``__model__``, a JSON string: the format and version, the module tree (each module's type and
``config()``, the constructor arguments that rebuild it) and the caller's ``settings``.

The library still touches no file: ``model_bytes`` returns the file's bytes and ``load_model``
takes them; the caller reads and writes (the study atomically). The bytes depend only on the
model and the settings (each zip entry carries a fixed date), so a retrained model that is the
same is the same file.

Loading rebuilds the module tree, then checks every array against it: name, shape, dtype,
finite values, nothing missing or extra. The zip's CRC-32 covers every entry, so a flipped byte
is caught too. Anything else is one ``ModelFileError`` naming the file and what was expected,
never a silently different model."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from io import BytesIO  # an in-memory buffer for the zip: no file is touched here

import numpy as np

from .conv import Conv2d
from .nn import Flatten, Linear, Module, ReLU, Reshape, Sequential, SoftmaxClassifier
from .pooling import AvgPool2d, MaxPool2d

FORMAT = "barenet-model"
VERSION = 1
HEADER = "__model__"  # the JSON entry; parameter names contain no underscores at the ends
MODULES = {cls.__name__: cls for cls in (Linear, SoftmaxClassifier, ReLU, Flatten, Reshape,
                                         Sequential, Conv2d, MaxPool2d, AvgPool2d)}
_EXPECTED = "expected a barenet model file (barenet.model_bytes: an .npz of named arrays)"
_DATE = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest: no build time in the bytes


class ModelFileError(ValueError):
    """A file that is not the barenet model it should be: corrupt, truncated, foreign, or of
    another shape. The message is one line that names the file and what was expected."""


def describe(model: Module) -> dict:
    """The module tree of ``model``: {"type": class name, **config()}, Sequential's children
    under "modules"."""
    return {"type": type(model).__name__, **model.config()}


def build(description: Mapping) -> Module:
    """A fresh module (initial weights) of the tree ``describe`` gave."""
    kind = description["type"]
    args = {key: value for key, value in description.items() if key != "type"}
    if kind not in MODULES:
        raise ValueError(f"unknown module type {kind!r} (known: {', '.join(sorted(MODULES))})")
    if kind == "Sequential":
        return Sequential(*(build(child) for child in args["modules"]))
    return MODULES[kind](**args)


def model_bytes(model: Module, settings: Mapping | None = None) -> bytes:
    """The model file of ``model`` with ``settings`` (JSON-able: what the caller needs to
    rebuild or use it) as bytes."""
    arrays = {name: np.ascontiguousarray(p.data) for name, p in model.named_parameters()}
    header = json.dumps({"format": FORMAT, "version": VERSION, "model": describe(model),
                         "settings": dict(settings or {})}, sort_keys=True)
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in {HEADER: np.array(header), **arrays}.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_DATE)
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, array, allow_pickle=False)
    return buffer.getvalue()


def load_model(data: bytes, source: str = "<bytes>") -> tuple[Module, dict]:
    """The model and the settings of a model file's bytes ``data`` (``source`` names the file
    in errors). Raises ModelFileError for anything but an intact barenet model file."""
    def fail(problem: str) -> ModelFileError:
        return ModelFileError(f"{source}: {' '.join(problem.split())}; {_EXPECTED}")

    arrays = _arrays(data, fail)
    if HEADER not in arrays:
        raise fail(f"an archive of arrays {sorted(arrays)[:6]} without barenet's {HEADER!r} "
                   "entry")
    header = arrays.pop(HEADER)
    try:
        if header.ndim != 0 or header.dtype.kind != "U":
            raise ValueError(f"its {HEADER!r} entry is a {header.dtype} array, not a string")
        meta = json.loads(str(header[()]))
        if not isinstance(meta, dict) or (meta.get("format"), meta.get("version")) != (
                FORMAT, VERSION):
            raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}, "
                             f"not {FORMAT!r} version {VERSION}")
        model = build(meta["model"])
        settings = meta["settings"]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
        raise fail(f"its {HEADER!r} entry does not describe a model ({error})") from None
    _fill(model, arrays, fail)
    return model, settings


def _arrays(data: bytes, fail) -> dict[str, np.ndarray]:
    """Every entry of the .npz ``data`` by name (".npy" dropped), CRC-checked."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            names = archive.namelist()
            if not names or not all(n.endswith(".npy") for n in names):
                raise ValueError(f"entries {names[:6]} are not .npy arrays")
            return {name.removesuffix(".npy"): np.lib.format.read_array(
                BytesIO(archive.read(name)), allow_pickle=False) for name in names}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError) as error:
        raise fail(f"not an intact .npz archive ({type(error).__name__}: {error})") from None


def _fill(model: Module, arrays: dict[str, np.ndarray], fail) -> None:
    """Copy ``arrays`` into ``model``'s parameters after checking they are exactly what its
    tree holds."""
    parameters = dict(model.named_parameters())
    missing, extra = sorted(parameters.keys() - arrays), sorted(arrays.keys() - parameters)
    if missing or extra:
        raise fail(f"its arrays do not match its {describe(model)['type']}: missing {missing}, "
                   f"unexpected {extra}")
    for name, parameter in parameters.items():
        array = arrays[name]
        if array.shape != parameter.shape or array.dtype != parameter.data.dtype:
            raise fail(f"array {name!r} is {array.dtype}{list(array.shape)}, its model needs "
                       f"{parameter.data.dtype}{list(parameter.shape)}")
        if not np.isfinite(array).all():
            raise fail(f"array {name!r} holds NaN or inf")
    for name, parameter in parameters.items():
        parameter.data = arrays[name].copy()
        parameter.grad = np.zeros_like(parameter.data)
