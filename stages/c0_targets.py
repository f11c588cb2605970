"""c0_targets: the given filter bank C0 = Conv2d(3, c0.out_channels, c0.kernel_size,
padding=c0.padding) with zero bias, and its outputs on the prepared CIFAR-10 images (scaled to
[0, 1]): the targets that c0_recover fits a fresh layer to.

C0's weights come from c0.weights, a .npy file of shape (out_channels, 3, kernel_size,
kernel_size) and any float dtype; when c0.weights is null, from <mirror>/C0_weights.npy, the
mirror being data.mirror, else the BARENET_DATA_MIRROR environment variable. Its SHA-256 must
equal c0.weights_sha256 (unless null). A missing, empty or truncated file, a file that is not a
.npy array, a wrong shape, a non-float dtype, NaN/inf or another checksum is an error that names
the file, and nothing is written.

Outputs: data/c0/{C0_weights,inputs,targets}.npy (float64: C0's weights, the images / 255,
C0's outputs (N, out_channels, H, W)); reports/c0/targets.json (the weights' SHA-256 and the
kind of source they came from, never a host path, so the report is the same on every machine).
"""

import math
import zipfile
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

import barenet as bn
from study.data import MIRROR_ENV, BadInput, mirror_root, sha256
from study.hydra_app import stage_main
from study.io import atomic_dir, save_npy, write_json

IMAGES = Path("data/cifar10/images.npy")
OUT = Path("data/c0")
REPORT = Path("reports/c0/targets.json")
MIRROR_FILE = "C0_weights.npy"


def expected_shape(out_channels: int, kernel_size: int) -> tuple[int, int, int, int]:
    return (int(out_channels), 3, int(kernel_size), int(kernel_size))


def weights_path(configured: str | None, mirror: Path | None) -> tuple[Path, str]:
    """The weights file to read and the kind of source it is ("configured path" or "mirror")."""
    if configured:
        return Path(configured).expanduser(), "configured path (c0.weights)"
    if mirror is None:
        raise BadInput(f"no C0 weights file: set c0.weights to a .npy file, or point "
                       f"data.mirror or {MIRROR_ENV} at a mirror holding {MIRROR_FILE}")
    return mirror / MIRROR_FILE, f"mirror ({MIRROR_FILE} in data.mirror or {MIRROR_ENV})"


def load_weights(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The array in the .npy file ``path`` (its own float dtype), which must be a finite float
    array of ``shape``; anything else (no file, an empty, truncated, non-.npy or .npz file, an
    object, integer or complex array, another shape, NaN or inf) is an error naming the file,
    what it holds and what is expected. The header is checked before any data is read."""
    path = Path(path)
    fix = f"write a float array of shape {shape} with numpy.save(path, weights)"
    if not path.is_file():
        raise BadInput(
            f"C0 weights file {path} does not exist: set c0.weights to a .npy file of shape "
            f"{shape} (null reads {MIRROR_FILE} from the data mirror)")
    size = path.stat().st_size
    if size == 0:
        raise BadInput(f"C0 weights file {path} is empty (0 bytes); expected a .npy file: {fix}")
    if zipfile.is_zipfile(path):
        with np.load(path) as archive:
            names = list(archive.files)
        raise BadInput(f"C0 weights file {path} is an .npz archive (arrays {names}); expected "
                       f"a .npy file holding one array of shape {shape}")
    try:
        stored_shape, dtype, data_offset = npy_header(path)
    except ValueError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(f"C0 weights file {path} is not a readable .npy array ({reason}); "
                       f"{fix}") from None
    if dtype.hasobject:
        raise BadInput(f"C0 weights file {path} is not a readable .npy array: it holds Python "
                       f"objects (dtype {dtype}), which are never unpickled; {fix}")
    if not np.issubdtype(dtype, np.floating):
        raise BadInput(f"C0 weights file {path} holds dtype {dtype}; expected a float "
                       f"array (float32 or float64) of shape {shape}")
    if stored_shape != shape:
        raise BadInput(
            f"C0 weights file {path} holds shape {stored_shape}; expected {shape} = "
            "(c0.out_channels, 3 colour channels, c0.kernel_size, c0.kernel_size): fix the file "
            "or those settings")
    expected_size = data_offset + dtype.itemsize * math.prod(shape)
    if size != expected_size:
        raise BadInput(f"C0 weights file {path} is not a readable .npy array: it has {size} "
                       f"bytes, but its header promises {expected_size} (truncated or "
                       f"altered); {fix}")
    array = np.load(path, allow_pickle=False)
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise BadInput(f"C0 weights file {path} contains {bad} NaN or inf values; every "
                       "weight must be a finite number")
    return array


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape and dtype a .npy file declares and where its data starts, read from the header
    alone; ValueError if the file does not start as a .npy file does."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(f)
        return shape, dtype, f.tell()


def check_digest(path: Path, expected: str | None) -> str:
    """The file's SHA-256, which must equal ``expected`` (c0.weights_sha256) unless that is
    null. Pinning it makes the weights' content a DVC param: a different file cannot slip in
    unnoticed by `dvc repro`, since the file itself may live outside the repository."""
    digest = sha256(path)
    if expected and digest != expected:
        raise BadInput(
            f"C0 weights file {path} has sha256 {digest}, but c0.weights_sha256 expects "
            f"{expected}. To use this file, set c0.weights_sha256 to {digest} (or null, which "
            "accepts any file but lets DVC miss a change of its content)")
    return digest


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, H, W) images -> float64 in [0, 1]."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images (N, 3, H, W) from prepare_cifar10, got dtype "
                         f"{images.dtype} and shape {images.shape}")
    return images.astype(np.float64) / 255.0


def c0_outputs(weights: np.ndarray, x: np.ndarray, padding: int) -> np.ndarray:
    """C0(x) for barenet's Conv2d with ``weights`` and a zero bias: (N, out, H_out, W_out)."""
    out_channels, in_channels, kh, kw = weights.shape
    c0 = bn.Conv2d(in_channels, out_channels, (kh, kw), padding=padding, bias=True)
    c0.weight.data = weights.copy()
    c0.bias.data = np.zeros(out_channels)
    return c0(x)


@stage_main
def main(cfg: DictConfig) -> None:
    c = cfg.c0
    shape = expected_shape(c.out_channels, c.kernel_size)
    path, source = weights_path(c.weights, mirror_root(cfg.data.mirror))
    in_file = load_weights(path, shape)
    weights, digest = in_file.astype(np.float64), check_digest(path, c.weights_sha256)
    x = scale_images(np.load(IMAGES))
    targets = c0_outputs(weights, x, c.padding)
    with atomic_dir(OUT) as out:  # the three arrays together or not at all
        save_npy(out / "C0_weights.npy", weights)
        save_npy(out / "inputs.npy", x)
        save_npy(out / "targets.npy", targets)
    write_json(REPORT, {
        "weights": {"source": source, "file_name": path.name, "sha256": digest,
                    "shape": list(weights.shape), "dtype_in_file": str(in_file.dtype),
                    "min": float(weights.min()), "max": float(weights.max()),
                    "std": float(weights.std())},
        "layer": f"Conv2d({shape[1]}, {shape[0]}, {c.kernel_size}, padding={c.padding}), bias 0",
        "inputs": {"from": str(IMAGES), "scaling": "x / 255", "shape": list(x.shape)},
        "targets": {"shape": list(targets.shape), "dtype": str(targets.dtype)},
    })
    print(f"c0_targets: C0 {shape} from {source}, sha256 {digest[:12]}...; targets "
          f"{targets.shape} on {len(x)} images", flush=True)


if __name__ == "__main__":
    main()
