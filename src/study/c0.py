"""The C0 experiment: a filter bank C0 = Conv2d(3, out_channels, kernel_size, padding) with
zero bias (its weights from a .npy file: the assignment's C0_weights.npy is not available, so
the default is a stand-in drawn from N(0, 0.2^2), see conf/c0) makes targets C0(x) on the
prepared CIFAR-10 images (scaled to [0, 1]); a fresh layer C (bias-free: C0's bias is zero and
known) is fitted to them from U(-1, 1) weights by two optimisers driven only by barenet's
Conv2d gradients of the L2 loss L(W) = sum((C(x) - C0(x))^2), and we measure how close C's
weights get to C0's.

Why recovery is hard: L is quadratic in W with Hessian 2 kron(I_out, P^T P), P the
(N*H*W, 3*k*k) matrix of image patches. Natural images carry little high-frequency energy, so
P^T P is ill-conditioned (its condition number is reported): an error along a high-frequency
filter pattern barely changes the outputs, and a small output error need not mean a small
weight error.

* sgd (c0.sgd): mini-batch SGD with momentum, the assignment's way, on the L2 loss divided by
  the batch's number of output positions (images * H_out * W_out), so a stable lr depends on
  neither the batch size, the image size nor the number of filters; stops when the relative
  output error on all images is <= tol (checked after every epoch), or after max_epochs.
* gd (c0.gd): full-batch gradient descent at the best fixed step 2 / (L + mu), beside what
  the curvature predicts for it exactly: how far plain gradient descent gets at any fixed
  step.
* original (c0.original): the original attempt's recipe, its normalised steps
  (original_step) over its unshuffled batches, from each of its seeds' starts for its
  epochs, and from the common start for longer: what its maths does on these targets.
* cg (c0.cg): barenet.ConjugateGradient on the L2 loss over all images, exact line search (the
  loss is quadratic), one CG per output channel (the loss separates over C's filters); stops
  when ||grad|| <= tol * ||grad at the start||, or after max_iter. A filter has 3*k*k
  weights, so in exact arithmetic CG ends within that many iterations: a direct solver, in
  effect, built from the layer's gradients.

C0's weights are read only to measure errors, never by an optimiser. A closed-form
least-squares solve of the same problem is reported as a reference, not as a recovered C.
C0's weights come from a .npy file (c0.weights, else C0_weights.npy in the data mirror) whose
SHA-256 must equal c0.weights_sha256 (unless null).
"""

from __future__ import annotations

import math
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

import barenet as bn
from barenet.conv import conv2d_forward
from study.data import MIRROR_ENV, BadInput, sha256
from study.io import Table
from study.plots import filter_bank_rows, filters_rgb
from study.pool import fork_map
from study.progress import Progress
from study.threads import one_thread

MIRROR_FILE = "C0_weights.npy"
CURVE_HEADER = ["step", "gradient_passes", "loss", "relative_output_error",
                "relative_weight_error", "log10_relative_output_error",
                "log10_relative_weight_error"]
LOG_LINES = 8  # per optimiser when not on a terminal: two runs, about 20 lines in all


# --- the targets: C0's weights file and its outputs -----------------------------------------

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
    return images.astype(np.float64) / 255.0


def c0_outputs(weights: np.ndarray, x: np.ndarray, padding: int) -> np.ndarray:
    """C0(x) for barenet's Conv2d with ``weights`` and a zero bias: (N, out, H_out, W_out)."""
    out_channels, in_channels, kh, kw = weights.shape
    c0 = bn.Conv2d(in_channels, out_channels, (kh, kw), padding=padding, bias=True)
    c0.weight.data = weights.copy()
    c0.bias.data = np.zeros(out_channels)
    return c0(x)



# --- the recovery: two optimisers from one start --------------------------------------------

@dataclass
class Run:
    """One optimiser's result. curve: one row per epoch (sgd) or iteration (cg), from the start;
    iterations: parameter updates; gradient_passes: gradients over all images (an SGD epoch is
    one, a CG iteration two)."""
    weights: np.ndarray
    curve: list[dict]
    iterations: int
    gradient_passes: int
    converged: bool
    seconds: float


def initial_weights(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """C's starting weights: U(-1, 1), float64, from ``seed``."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape)


def new_layer(weights: np.ndarray, padding: int) -> bn.Conv2d:
    """A bias-free barenet Conv2d holding a copy of ``weights`` (out, in, kH, kW)."""
    out_channels, in_channels, kh, kw = weights.shape
    layer = bn.Conv2d(in_channels, out_channels, (kh, kw), padding=padding, bias=False)
    layer.weight.data[...] = weights
    return layer


def full_loss(layer: bn.Conv2d, x: np.ndarray, targets: np.ndarray) -> float:
    """sum((layer(x) - targets)^2) over all images (forward only)."""
    diff = layer(x) - targets
    return float(np.vdot(diff, diff))


def errors(weights: np.ndarray, loss: float, true_weights: np.ndarray,
           target_norm: float) -> dict:
    """How far ``weights``, whose L2 loss on all images is ``loss``, are from C0's weights and
    outputs (``target_norm`` = ||C0(x)||, Frobenius). output_l2_distance is that loss, the
    summed squared output difference over all images, as the assignment's L2 loss defines it."""
    diff = weights - true_weights
    return {"max_abs_weight_error": float(np.abs(diff).max()),
            "relative_weight_error": float(np.linalg.norm(diff) / np.linalg.norm(true_weights)),
            "relative_output_error": float(np.sqrt(loss) / target_norm),
            "output_l2_distance": float(loss)}


def curve_row(step: int, passes: int, loss: float, weights: np.ndarray,
              true_weights: np.ndarray, target_norm: float) -> dict:
    e = errors(weights, loss, true_weights, target_norm)
    return {"step": step, "gradient_passes": passes, "loss": loss,
            "relative_output_error": e["relative_output_error"],
            "relative_weight_error": e["relative_weight_error"]}


def row_status(row: dict) -> str:
    """A curve row's errors as a progress line says them."""
    return (f"relative output error {row['relative_output_error']:.3e}, "
            f"weight error {row['relative_weight_error']:.3e}")


class SquaredErrorPerPosition(bn.L2Loss):
    """The L2 loss of (N, C, H_out, W_out) predictions divided by their N * H_out * W_out
    output positions (the squared error per position, summed over channels), so that the
    curvature each filter sees, hence a stable lr, depends on neither the batch size, the image
    size nor the number of filters."""

    def compute(self, pred: np.ndarray, target: np.ndarray) -> float:
        self._positions = pred.shape[0] * pred.shape[2] * pred.shape[3]
        return super().compute(pred, target) / self._positions

    def backward(self) -> np.ndarray:
        return super().backward() / self._positions


def run_sgd(x: np.ndarray, targets: np.ndarray, init: np.ndarray, *, padding: int, lr: float,
            momentum: float, batch_size: int, max_epochs: int, tol: float, seed: int,
            true_weights: np.ndarray, check_every: int = 1, stream: TextIO | None = None) -> Run:
    """Mini-batch SGD with momentum (barenet's training loop) on the squared error per output
    position. Stops when the relative output error on all images is <= tol (measured, for the
    curve too, every ``check_every`` epochs and after the last) or after ``max_epochs``.
    ``true_weights`` (C0's) only measure the curve's weight error. Progress goes to ``stream``
    (default stdout)."""
    layer = new_layer(init, padding)
    optimizer = bn.SGD(layer.parameters(), lr=lr, momentum=momentum)
    start = time.perf_counter()
    target_norm = float(np.linalg.norm(targets))
    curve = [curve_row(0, 0, full_loss(layer, x, targets), layer.weight.data, true_weights,
                       target_norm)]
    last_epoch = [0]
    with Progress("c0_recover sgd", max_epochs, max_lines=LOG_LINES, stream=stream) as progress:

        def converged(epoch: int) -> bool:
            """Every check_every epochs: record the curve row and progress; True (stop) once
            within tol."""
            last_epoch[0] = epoch
            if epoch % check_every and epoch != max_epochs:
                return False
            row = curve_row(epoch, epoch, full_loss(layer, x, targets), layer.weight.data,
                            true_weights, target_norm)
            curve.append(row)
            progress.update(epoch, row_status(row))
            return row["relative_output_error"] <= tol

        diverged_at = bn.fit(layer, optimizer, SquaredErrorPerPosition(), x, targets,
                             epochs=max_epochs,
                             batches=bn.Batches(batch_size, np.random.default_rng(seed)),
                             on_epoch=converged)
        if diverged_at is not None:
            raise RuntimeError(f"SGD diverged in epoch {diverged_at} (the outputs overflowed): "
                               f"lower c0.sgd.lr (now {lr}) or c0.sgd.momentum")
    epochs = last_epoch[0]
    return Run(layer.weight.data.copy(), curve, epochs * math.ceil(len(x) / batch_size), epochs,
               curve[-1]["relative_output_error"] <= tol, time.perf_counter() - start)


def run_cg(x: np.ndarray, targets: np.ndarray, init: np.ndarray, *, padding: int, tol: float,
           max_iter: int, memory: int | None, separable: bool, true_weights: np.ndarray,
           stream: TextIO | None = None) -> Run:
    """barenet.ConjugateGradient on the L2 loss over all images. Stops when the gradient norm
    is <= tol times its first value, or after ``max_iter`` iterations. ``true_weights`` (C0's)
    only measure the curve's weight error. Progress goes to ``stream`` (default stdout)."""
    layer = new_layer(init, padding)
    optimizer = bn.ConjugateGradient(layer.parameters(), memory=memory, separable=separable)
    loss_fn = bn.L2Loss()

    def closure() -> float:
        layer.zero_grad()
        loss = loss_fn(layer(x), targets)
        layer.backward(loss_fn.backward(), need_input_grad=False)
        return loss

    start = time.perf_counter()
    target_norm = float(np.linalg.norm(targets))
    curve, first_grad_norm, converged, iteration = [], None, False, 0
    with Progress("c0_recover cg", max_iter, unit="iteration", max_lines=LOG_LINES,
                  stream=stream) as progress:
        while iteration < max_iter and not converged:
            before = layer.weight.data.copy()
            loss = optimizer.step(closure)  # the loss and gradient norm at ``before``
            first_grad_norm = optimizer.grad_norm if first_grad_norm is None else first_grad_norm
            curve.append(curve_row(iteration, 2 * iteration, loss, before, true_weights,
                                   target_norm))
            iteration += 1
            relative_grad = optimizer.grad_norm / first_grad_norm if first_grad_norm else 0.0
            converged = relative_grad <= tol
            row = curve[-1]
            progress.update(iteration, f"relative gradient {relative_grad:.3e}, output error "
                                       f"{row['relative_output_error']:.3e}, weight error "
                                       f"{row['relative_weight_error']:.3e}")
    curve.append(curve_row(iteration, optimizer.evaluations, full_loss(layer, x, targets),
                           layer.weight.data, true_weights, target_norm))
    return Run(layer.weight.data.copy(), curve, iteration, optimizer.evaluations, converged,
               time.perf_counter() - start)


def original_step(layer: bn.Conv2d, x: np.ndarray, targets: np.ndarray, lr: float) -> None:
    """One step of the original attempt's training loop on one batch, with its maths (the
    assignment export's Q5 cells): the gradient of its L2 loss sum((C(x) - C0(x))^2), divided
    as its code divided it, by the largest entry of the output gradient and then of the kernel
    gradient (its backward), then by that largest entry times C's largest weight (its step()),
    and W -= lr * that. Its divisors are signed maxima: a negative one turns the step uphill."""
    grad_out = 2.0 * (layer(x) - targets)
    layer.zero_grad()
    layer.backward(grad_out / grad_out.max(), need_input_grad=False)
    grad = layer.weight.grad / layer.weight.grad.max()
    grad = grad / (grad.max() * layer.weight.data.max())
    layer.weight.data -= lr * grad


def run_original(x: np.ndarray, targets: np.ndarray, init: np.ndarray, *, padding: int,
                 lr: float, batch_size: int, epochs: int, check_every: int,
                 true_weights: np.ndarray, label: str = "c0_recover original",
                 stream: TextIO | None = None) -> Run:
    """The original's recipe from ``init``: its batches in file order, never shuffled, one
    original_step each, for ``epochs`` epochs; the curve measured every ``check_every`` epochs
    and after the last. A step that leaves a weight non-finite ends the run (converged is
    False either way: the recipe has no stopping rule)."""
    layer = new_layer(init, padding)
    start = time.perf_counter()
    target_norm = float(np.linalg.norm(targets))
    curve = [curve_row(0, 0, full_loss(layer, x, targets), layer.weight.data, true_weights,
                       target_norm)]
    epoch = 0
    with Progress(label, epochs, max_lines=LOG_LINES, stream=stream) as progress, \
            np.errstate(all="ignore"):
        while epoch < epochs and np.isfinite(layer.weight.data).all():
            for first in range(0, len(x), batch_size):
                original_step(layer, x[first:first + batch_size],
                              targets[first:first + batch_size], lr)
            epoch += 1
            if epoch % check_every == 0 or epoch == epochs:
                curve.append(curve_row(epoch, epoch, full_loss(layer, x, targets),
                                       layer.weight.data, true_weights, target_norm))
                progress.update(epoch, row_status(curve[-1]))
    return Run(layer.weight.data.copy(), curve, epoch * math.ceil(len(x) / batch_size), epoch,
               False, time.perf_counter() - start)


def patch_matrix(x: np.ndarray, kernel_size: int, padding: int) -> np.ndarray:
    """P, the (N*H*W, 3*k*k) matrix of image patches: C(x) = P @ w for each filter w."""
    _, cache = conv2d_forward(x, np.zeros((1, x.shape[1], kernel_size, kernel_size)),
                              padding=padding)
    return cache.cols.reshape(cache.cols.shape[0], -1).T


def least_squares_reference(x: np.ndarray, targets: np.ndarray, kernel_size: int,
                            padding: int) -> tuple[np.ndarray, float]:
    """The closed-form least-squares weights (out, 3, k, k) of the same fit, and the condition
    number of the patch Gram matrix P^T P (the loss's curvature). A reference, not a result."""
    patches = patch_matrix(x, kernel_size, padding)
    out_channels = targets.shape[1]
    rhs = targets.transpose(1, 0, 2, 3).reshape(out_channels, -1).T  # (N*H*W, out)
    solution, _, _, singular = np.linalg.lstsq(patches, rhs, rcond=None)
    weights = solution.T.reshape(out_channels, x.shape[1], kernel_size, kernel_size)
    return weights, float((singular[0] / singular[-1]) ** 2)


def run_gd(x: np.ndarray, targets: np.ndarray, init: np.ndarray, *, padding: int, passes: int,
           true_weights: np.ndarray, check_every: int = 1,
           stream: TextIO | None = None) -> tuple[Run, dict]:
    """Full-batch gradient descent on the L2 loss at the best fixed step, 2 / (L + mu) (L, mu:
    the largest and smallest eigenvalues of the Hessian 2 P^T P), for ``passes`` gradient
    passes; and what the curvature predicts for it. On a quadratic a step multiplies the weight
    error's part along the Hessian's i-th eigenvector by exactly (1 - step * lambda_i), so the
    error after k steps follows from the spectrum alone, and each pass removes 2 / (kappa + 1)
    of the slowest part, kappa = L / mu: what any fixed step can do at best."""
    _, singular, vt = np.linalg.svd(patch_matrix(x, init.shape[-1], padding),
                                    full_matrices=False)
    hessian = 2 * singular**2  # descending
    step = 2.0 / (hessian[0] + hessian[-1])
    layer = new_layer(init, padding)
    loss_fn = bn.L2Loss()
    start = time.perf_counter()
    target_norm = float(np.linalg.norm(targets))
    curve = []
    with Progress("c0_recover gradient descent", passes, unit="pass", max_lines=LOG_LINES,
                  stream=stream) as progress:
        for done in range(passes + 1):
            layer.zero_grad()
            loss = loss_fn(layer(x), targets)
            if done % check_every == 0 or done == passes:
                curve.append(curve_row(done, done, loss, layer.weight.data, true_weights,
                                       target_norm))
                progress.update(done, row_status(curve[-1]))
            if done < passes:
                layer.backward(loss_fn.backward(), need_input_grad=False)
                layer.weight.data -= step * layer.weight.grad
    # each filter's initial error in the Hessian's eigenbasis, every part shrunk by its factor
    parts = (init - true_weights).reshape(len(init), -1) @ vt.T
    predicted = parts * (1 - step * hessian) ** passes
    prediction = {
        "step": float(step),
        "slowest_part_shrink_per_pass": float(step * hessian[-1]),  # the share removed
        "predicted_relative_weight_error": float(np.linalg.norm(predicted)
                                                 / np.linalg.norm(true_weights)),
    }
    return Run(layer.weight.data.copy(), curve, passes, passes, False,
               time.perf_counter() - start), prediction


def summary(run: Run, true_weights: np.ndarray, target_norm: float, **extra) -> dict:
    return {**errors(run.weights, run.curve[-1]["loss"], true_weights, target_norm),
            "iterations": run.iterations, "gradient_passes": run.gradient_passes, **extra,
            "converged": int(run.converged)}  # 1 or 0: a metric is a number (study.bars)


def curve_rows(run: Run) -> list[list]:
    def log10(v: float) -> float:
        return float(np.log10(max(v, 1e-300)))  # an exact 0 plots as -300, not -inf

    return [[r["step"], r["gradient_passes"], r["loss"], r["relative_output_error"],
             r["relative_weight_error"], log10(r["relative_output_error"]),
             log10(r["relative_weight_error"])] for r in run.curve]


def filters_figure(true_weights: np.ndarray, sgd: Run, cg: Run):
    bound = float(np.abs(true_weights).max())
    banks = {"C0 (stand-in weights)": true_weights, "C, SGD + momentum": sgd.weights,
             "C, conjugate gradient": cg.weights}
    return filter_bank_rows(
        {label: filters_rgb(w, bound) for label, w in banks.items()},
        suptitle=f"C0's filters and C's after each optimiser (RGB = 0.5 + w / {2 * bound:.3g}, "
                 "clipped; the same scale in every row)")


def spread(values: list[float]) -> dict:
    """mean, sd (n - 1; 0 for one value), min and max of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def original_summary(runs: list[Run], extended: Run, true_weights: np.ndarray,
                     target_norm: float, epochs: int) -> dict:
    """The original recipe's errors after its ``epochs``, their spread over its starts, and
    the extended run's (from init_seed's start) after its longer schedule."""
    per_start = [errors(run.weights, run.curve[-1]["loss"], true_weights, target_norm)
                 for run in runs]
    return {"epochs": epochs, "iterations": max(run.iterations for run in runs),
            "starts": len(runs),
            **{key: spread([e[key] for e in per_start]) for key in per_start[0]},
            "finished": sum(run.gradient_passes == epochs for run in runs),
            "extended": summary(extended, true_weights, target_norm,
                                epochs=extended.gradient_passes)}


def recover(c0: Mapping, x: np.ndarray, targets: np.ndarray, true_weights: np.ndarray,
            stream: TextIO | None = None, workers: int = 1) -> tuple[dict, dict[str, Run]]:
    """The runs from the same start (SGD, gradient descent, CG, the original's recipe run on
    for original.extended_epochs) and the original's recipe from each of its seeds' starts,
    side by side over ``workers`` processes with the least-squares reference (study.pool: the
    same bytes as one after another); the metrics about them, and the runs from the common
    start by name."""
    c = c0
    init = initial_weights(true_weights.shape, c.init_seed)
    original = c.original

    def run_original_from(start: np.ndarray, epochs: int, label: str) -> Run:
        return run_original(x, targets, start, padding=c.padding, lr=original.lr,
                            batch_size=original.batch_size, epochs=epochs,
                            check_every=original.check_every, true_weights=true_weights,
                            label=label, stream=stream)

    def run(task):
        with one_thread():
            if task == "sgd":
                return run_sgd(x, targets, init, padding=c.padding, lr=c.sgd.lr,
                               momentum=c.sgd.momentum, batch_size=c.sgd.batch_size,
                               max_epochs=c.sgd.max_epochs, tol=c.sgd.tol, seed=c.sgd.seed,
                               true_weights=true_weights, check_every=c.sgd.check_every,
                               stream=stream)
            if task == "gd":
                return run_gd(x, targets, init, padding=c.padding, passes=c.gd.passes,
                              check_every=c.gd.check_every, true_weights=true_weights,
                              stream=stream)
            if task == "original":
                return run_original_from(init, original.extended_epochs,
                                         "c0_recover original recipe")
            if isinstance(task, int):
                return run_original_from(initial_weights(true_weights.shape, task),
                                         original.epochs,
                                         f"c0_recover original recipe, seed {task}")
            if task == "cg":
                return run_cg(x, targets, init, padding=c.padding, tol=c.cg.tol,
                              max_iter=c.cg.max_iter, memory=c.cg.memory,
                              separable=c.cg.separable, true_weights=true_weights, stream=stream)
            reference, condition = least_squares_reference(x, targets, true_weights.shape[-1],
                                                           c.padding)
            return reference, condition, full_loss(new_layer(reference, c.padding), x, targets)

    # the longest first, so the shorter ones share the other core
    sgd, (gd, prediction), extended, cg, (reference, condition, reference_loss), *seeded = \
        fork_map(run, ["sgd", "gd", "original", "cg", "reference", *original.seeds], workers)
    target_norm = float(np.linalg.norm(targets))
    metrics = {
        "sgd": summary(sgd, true_weights, target_norm, epochs=sgd.gradient_passes),
        "gd": summary(gd, true_weights, target_norm, **prediction),
        "cg": summary(cg, true_weights, target_norm),
        "original_recipe": original_summary(seeded, extended, true_weights, target_norm,
                                            original.epochs),
        "initial": errors(init, sgd.curve[0]["loss"], true_weights, target_norm),
        "least_squares_reference": errors(reference, reference_loss, true_weights, target_norm),
        "patch_gram_condition_number": condition,
    }
    return metrics, {"sgd": sgd, "gd": gd, "cg": cg, "original": extended}


def make_targets(c0: Mapping, mirror: Path | None, images: np.ndarray,
                 images_from: str) -> tuple[dict, dict, str]:
    """C0's weights from its file (checked), the images / 255 and C0's outputs on them.
    Returns (data: C0_weights, inputs, targets as float64 arrays; report: targets.json's
    content, naming the kind of source and never a host path; a one-line summary)."""
    shape = expected_shape(c0["out_channels"], c0["kernel_size"])
    path, source = weights_path(c0["weights"], mirror)
    in_file = load_weights(path, shape)
    weights, digest = in_file.astype(np.float64), check_digest(path, c0["weights_sha256"])
    x = scale_images(images)
    targets = c0_outputs(weights, x, c0["padding"])
    report = {
        "weights": {"description": c0["weights_description"], "source": source,
                    "file_name": path.name, "sha256": digest,
                    "shape": list(weights.shape), "dtype_in_file": str(in_file.dtype),
                    "min": float(weights.min()), "max": float(weights.max()),
                    "std": float(weights.std())},
        "layer": f"Conv2d({shape[1]}, {shape[0]}, {c0['kernel_size']}, "
                 f"padding={c0['padding']}), bias 0",
        "inputs": {"from": images_from, "scaling": "x / 255", "shape": list(x.shape)},
        "targets": {"shape": list(targets.shape), "dtype": str(targets.dtype)},
    }
    summary_line = (f"C0 {shape} from {source}, sha256 {digest[:12]}...; targets "
                    f"{targets.shape} on {len(x)} images")
    return {"C0_weights.npy": weights, "inputs.npy": x, "targets.npy": targets}, report, \
        summary_line


def recovery_outputs(c0: Mapping, x: np.ndarray, targets: np.ndarray, true_weights: np.ndarray,
                     stream: TextIO | None = None, workers: int = 1) -> tuple[dict, list[str]]:
    """The runs as the files of reports/c0/ (metrics.json: per run max_abs_weight_error,
    relative_weight_error (Frobenius), relative_output_error, iterations (parameter updates),
    gradient_passes (gradients over all images), converged (1 or 0), gradient descent's step
    and predicted error (run_gd), and the original recipe's spread over its starts
    (original_summary); no timings, which differ from run to run; loss_<run>.csv: the curves
    from the common start; filters.png) and one summary line per run from that start."""
    metrics, runs = recover(c0, x, targets, true_weights, stream, workers)
    lines = []
    for name, run in runs.items():
        m = metrics["original_recipe"]["extended"] if name == "original" else metrics[name]
        lines.append(f"{name}: relative weight error {m['relative_weight_error']:.3e} (max abs "
                     f"{m['max_abs_weight_error']:.3e}), relative output error "
                     f"{m['relative_output_error']:.3e}, {m['iterations']} iterations, "
                     f"{run.seconds:.1f} s, converged {run.converged}")
    return {"metrics.json": metrics,
            **{f"loss_{name}.csv": Table(CURVE_HEADER, curve_rows(run))
               for name, run in runs.items()},
            "filters.png": filters_figure(true_weights, runs["sgd"], runs["cg"])}, lines
