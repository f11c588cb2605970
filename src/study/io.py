"""Atomic writers: each output is written to a temporary file in its own directory and then
renamed over the target, so an interrupted stage never leaves a half-written file for DVC.
A directory output (data/mnist) is written whole in a temporary directory and renamed into
place, so it is never a mix of old and new files or a partial set.

Temporary names are ``.<target name>.<random>.tmp``. A stage killed outright (SIGKILL) cannot
remove its own; the next write of the same target does, and .dvcignore and .gitignore hide
them meanwhile, so DVC never hashes them into a directory output or dependency."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


def _remove_leftovers(path: Path) -> None:
    """Delete temporaries that an earlier, killed write of ``path`` left beside it. The random
    part has no dot, so the temporaries of a target ``x.json`` never match those of ``x``."""
    leftover = re.compile(rf"\.{re.escape(path.name)}\.[^.]+\.tmp")
    for entry in path.parent.iterdir():
        if leftover.fullmatch(entry.name):
            _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_dir(path: str | Path):
    """Yield a new, empty temporary directory beside ``path``; on success it takes the place
    of ``path`` (an old directory there is moved aside first, then deleted). Killed at any
    moment, ``path`` is the old directory, absent, or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700
    try:
        yield tmp
        if path.exists():
            # rename(2) cannot replace a non-empty directory: move the old one aside first
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.",
                                        suffix=".tmp"))
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            _remove(tmp)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _plain(value):
    """NumPy scalars and arrays to the JSON types they stand for."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_plain) + "\n")


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """.npy rather than .npz: its bytes depend only on the array (zip entries carry a time)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def save_figure(path: str | Path, fig) -> None:
    """A matplotlib figure as PNG with no version or time metadata (same bytes every run)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    write_bytes(path, buffer.getvalue())


@dataclass(frozen=True)
class Table:
    """Rows of a CSV output under a header."""
    header: Sequence[str]
    rows: Iterable[Sequence]


def write_outputs(folder: str | Path, outputs: Mapping[str, object]) -> None:
    """Write each ``name -> value`` of a study function's outputs to ``folder/name``, by the
    value's kind: a Table as CSV, a str as text, an ndarray as .npy, a matplotlib figure as PNG
    (closed once written), anything else as JSON. Each file is written atomically."""
    folder = Path(folder)
    for name, value in outputs.items():
        path = folder / name
        if isinstance(value, Table):
            write_csv(path, value.header, value.rows)
        elif isinstance(value, str):
            write_text(path, value)
        elif isinstance(value, np.ndarray):
            save_npy(path, value)
        elif hasattr(value, "savefig"):
            save_figure(path, value)
            import matplotlib.pyplot as plt  # only stages that draw pay for matplotlib

            plt.close(value)
        else:
            write_json(path, value)


def read_json(path: str | Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))
