"""Bad data, as a user meets it: each data stage script, run in a scratch project of its own on
a spoiled input, stops with ONE error that names the file, what was expected and the fix, and
writes nothing under data/ or reports/. Cases: a truncated, an altered and an empty raw MNIST
file and mirrors laid out wrongly (prepare_idx), a CIFAR-10 image folder missing a class, and C0
weights files of the wrong shape or dtype, not .npy, or empty. (The official download is
switched off here, data.torchvision: null, to keep the runs short; test_data.py covers the
download fallback.)"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import MIRROR, PARAMS, project_env, stage_project, write_image_folder
from test_c0 import npy_bytes

from study.data import CIFAR10_CLASSES

MNIST_MIRROR = MIRROR / "MNIST"
MNIST_DATA = {"torchvision": None}  # the project's MNIST, without the official download
LABELS = "t10k-labels-idx1-ubyte"  # the smallest raw file (10,008 bytes) to spoil

pytestmark = pytest.mark.slow


def outputs(project: Path) -> dict[str, bytes]:
    return {str(p.relative_to(project)): p.read_bytes() for folder in ("data", "reports")
            for p in sorted((project / folder).rglob("*")) if p.is_file()}


def fails_once_writing_nothing(project: Path, stage: str, mirror: Path, *expected: str) -> str:
    """Run the stage; assert it fails with one error holding every ``expected`` text and leaves
    data/ and reports/ as they were. Returns that error's message."""
    before = outputs(project)
    result = subprocess.run([sys.executable, f"stages/{stage}.py"], cwd=project,
                            env=project_env(mirror), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr  # the message alone, nothing of the code's insides
    errors = [line for line in result.stderr.splitlines()
              if line.startswith(f"{stage}: error: ")]
    assert len(errors) == 1, result.stderr
    message = result.stderr[result.stderr.index(errors[0]):]
    for text in expected:
        assert text in message, f"{text!r} not in:\n{message}"
    assert outputs(project) == before
    return message


# --- prepare_idx: raw MNIST files and the mirror's layout -----------------------------------

def mnist_mirror(tmp_path: Path) -> Path:
    """A mirror of the real MNIST files (links), with a copy of LABELS to spoil."""
    raw = tmp_path / "mirror" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for path in (MNIST_MIRROR / "raw").iterdir():
        (raw / path.name).symlink_to(path)
    (raw / LABELS).unlink()
    shutil.copy(MNIST_MIRROR / "raw" / LABELS, raw / LABELS)
    return tmp_path / "mirror"


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5000])


def altered(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # the last test label, 6, becomes 7: a valid file, but not MNIST's
    path.write_bytes(bytes(data))


def emptied(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.skipif(not (MNIST_MIRROR / "raw").is_dir(), reason="needs the MNIST mirror")
@pytest.mark.parametrize("spoil, expected", [
    (truncated, ["has 5000 bytes, but its IDX header (shape (10000,)) promises 10008: the file "
                 "is truncated", "Fix: delete it and fetch it again"]),
    (altered, ["is corrupt or not the official file", "expected ff7bcfd416de33731a308c3f266cc35"
               "1222c34898ecbeaf847f06e48f7ec33f2 (data.files.test_labels.sha256)",
               "Delete it and fetch it again, or fix the mirror"]),
    (emptied, ["is empty (0 bytes); expected an IDX file", "Fix: delete it"]),
])
def test_a_spoiled_raw_mnist_file(tmp_path, spoil, expected):
    mirror = mnist_mirror(tmp_path)
    spoil(mirror / "MNIST" / "raw" / LABELS)
    project = stage_project(tmp_path / "project", ["prepare_idx"], {"data": MNIST_DATA})
    fails_once_writing_nothing(project, "prepare_idx", mirror,
                               str(mirror / "MNIST" / "raw" / LABELS), *expected)


def files_one_level_up(mirror: Path) -> None:
    for path in (mirror / "MNIST" / "raw").iterdir():
        path.rename(mirror / "MNIST" / path.name)


def no_mirror_folder(mirror: Path) -> None:
    shutil.rmtree(mirror)


@pytest.mark.skipif(not (MNIST_MIRROR / "raw").is_dir(), reason="needs the MNIST mirror")
@pytest.mark.parametrize("rearrange, expected", [
    (files_one_level_up, ["{mirror}/MNIST/raw lacks ['train-images-idx3-ubyte'",
                          "found ['{mirror}/MNIST/train-images-idx3-ubyte'",
                          "move them into {mirror}/MNIST/raw"]),
    (no_mirror_folder, ["local mirror {mirror}: {mirror} is not a folder"]),
])
def test_a_mirror_with_the_wrong_layout(tmp_path, rearrange, expected):
    mirror = mnist_mirror(tmp_path)
    rearrange(mirror)
    project = stage_project(tmp_path / "project", ["prepare_idx"], {"data": MNIST_DATA})
    fails_once_writing_nothing(
        project, "prepare_idx", mirror, "could not obtain mnist",
        "laid out as <mirror>/MNIST/raw/ holding train-images-idx3-ubyte",
        *(text.format(mirror=mirror) for text in expected))


# --- prepare_cifar10: an image folder missing a class -----------------------------------------

def test_a_cifar10_image_folder_missing_a_class(tmp_path):
    mirror = tmp_path / "mirror"
    write_image_folder(mirror, CIFAR10_CLASSES[:-1])
    params = {"data": {"mirror": None}, "cifar10": {"source": "mirror"}}
    project = stage_project(tmp_path / "project", ["prepare_cifar10"], params)
    fails_once_writing_nothing(
        project, "prepare_cifar10", mirror, str(mirror / "cifar10-jpg" / "train"),
        "must hold exactly the 10 CIFAR-10 class folders", "missing ['truck']",
        "Fix: add the missing class folders")


# --- c0_targets: the weights file -------------------------------------------------------------

@pytest.mark.parametrize("content, expected", [
    (npy_bytes(np.zeros((20, 3, 3, 3))), "holds shape (20, 3, 3, 3); expected (20, 3, 5, 5)"),
    (npy_bytes(np.zeros((20, 3, 5, 5), dtype=np.int64)), "holds dtype int64; expected a float"),
    (npy_bytes(np.zeros((20, 3, 5, 5), dtype=np.complex64)), "holds dtype complex64; expected"),
    (npy_bytes(np.empty((20, 3, 5, 5), dtype=object), allow_pickle=True),
     "holds Python objects (dtype object), which are never unpickled; write a float array of "
     "shape (20, 3, 5, 5) with numpy.save"),
    (b"0.1 0.2 0.3\n", "is not a readable .npy array (the magic string is not correct"),
    (b"", "is empty (0 bytes); expected a .npy file: write a float array of shape (20, 3, 5, 5)"),
])
def test_a_bad_c0_weights_file(tmp_path, content, expected):
    weights = tmp_path / "weights.npy"
    weights.write_bytes(content)
    params = {"data": {"mirror": None}, "c0": {"weights": str(weights), "weights_sha256": None}}
    project = stage_project(tmp_path / "project", ["c0_targets"], params)
    images = project / PARAMS["paths"]["cifar10"] / "images.npy"  # its input, left as it is
    images.parent.mkdir(parents=True)
    np.save(images, np.zeros((2, 3, 8, 8), dtype=np.uint8))
    fails_once_writing_nothing(project, "c0_targets", tmp_path, f"C0 weights file {weights}",
                               expected)
