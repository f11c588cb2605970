"""c0_recover: fit a fresh layer C = Conv2d(3, out_channels, kernel_size, padding, bias=False) to
C0's outputs (from c0_targets) by two optimisers started from the same U(-1, 1) weights (seed
c0.init_seed), both driven only by the gradients of barenet's own Conv2d backward, and measure
how close C's weights get to C0's.

The loss L(W) = sum((C(x) - C0(x))^2) (barenet's L2Loss) is quadratic in C's weights W. Its
Hessian is 2 * kron(I_out, P^T P), P the (N*H*W, 3*k*k) matrix of image patches, whose
condition number (reported; about 4e6 on these images, since natural images, JPEG ones even
more, carry little high-frequency energy) means an error along a high-frequency filter pattern
barely changes the outputs: a small output error does not imply a small weight error.

* sgd (c0.sgd): mini-batch SGD with momentum, the assignment's way: batches of batch_size images
  in a seeded order, on the L2 loss divided by the batch's number of output positions
  (images * H_out * W_out: the squared error per position, summed over channels), so that the
  curvature each filter sees, hence a stable lr, depends on neither the batch size, the image
  size nor the number of filters; stops when the relative output error on all images is <= tol
  (checked after every epoch), or after max_epochs (then "converged": false).
* cg (c0.cg): barenet.ConjugateGradient on the L2 loss over all images, exact line search (the
  loss is quadratic), one CG per output channel (the loss separates over C's filters) with full
  re-conjugation against rounding; stops when ||grad|| <= tol * ||grad at the start||, or after
  max_iter (then "converged": false).

C has no bias: C0's bias is zero and known, and a trained bias would be almost collinear with the
flat (all-equal) filter direction, making the problem worse conditioned still. C0's weights are
read only to measure errors, never by an optimiser. A closed-form least-squares solve of the
same problem is reported as a reference only; it is not a recovered C.

Outputs under reports/c0/: metrics.json (per optimiser: max_abs_weight_error,
relative_weight_error (Frobenius), relative_output_error, iterations (parameter updates),
gradient_passes (gradients over all images), converged; no timings, which differ from run to run
and machine to machine: the wall time is printed, and benchmarks/ measures speed), loss_sgd.csv
and loss_cg.csv (per epoch / iteration: the L2 loss on
all images and the relative output and weight errors, also as log10, against gradient_passes),
filters.png (C0's filters beside C's after each optimiser, one colour scale for all).
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
from omegaconf import DictConfig

import barenet as bn
from barenet._checks import check_non_negative, check_positive_int
from barenet.conv import conv2d_forward
from study.hydra_app import stage_main
from study.io import save_figure, write_csv, write_json
from study.plots import close, filter_bank_rows, filters_rgb
from study.progress import Progress
from study.threads import one_thread

DATA = Path("data/c0")
OUT = Path("reports/c0")
CURVE_HEADER = ["step", "gradient_passes", "loss", "relative_output_error",
                "relative_weight_error", "log10_relative_output_error",
                "log10_relative_weight_error"]
LOG_LINES = 8  # per optimiser when not on a terminal: two runs, about 20 lines in all


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
    outputs (``target_norm`` = ||C0(x)||, Frobenius)."""
    diff = weights - true_weights
    return {"max_abs_weight_error": float(np.abs(diff).max()),
            "relative_weight_error": float(np.linalg.norm(diff) / np.linalg.norm(true_weights)),
            "relative_output_error": float(np.sqrt(loss) / target_norm)}


def curve_row(step: int, passes: int, loss: float, weights: np.ndarray,
              true_weights: np.ndarray, target_norm: float) -> dict:
    e = errors(weights, loss, true_weights, target_norm)
    return {"step": step, "gradient_passes": passes, "loss": loss,
            "relative_output_error": e["relative_output_error"],
            "relative_weight_error": e["relative_weight_error"]}


def run_sgd(x: np.ndarray, targets: np.ndarray, init: np.ndarray, *, padding: int, lr: float,
            momentum: float, batch_size: int, max_epochs: int, tol: float, seed: int,
            true_weights: np.ndarray, stream: TextIO | None = None) -> Run:
    """Mini-batch SGD with momentum on the L2 loss per output position (divided by batch size
    * H_out * W_out). Stops when the relative output error on all images is <= tol (checked
    after each epoch) or after ``max_epochs``. ``true_weights`` (C0's) only measure the
    curve's weight error. Progress goes to ``stream`` (default stdout)."""
    max_epochs = check_positive_int(max_epochs, "c0.sgd.max_epochs")
    batch_size = check_positive_int(batch_size, "c0.sgd.batch_size")
    tol = check_non_negative(tol, "c0.sgd.tol")
    layer = new_layer(init, padding)
    optimizer = bn.SGD(layer.parameters(), lr=lr, momentum=momentum)
    loss_fn, rng = bn.L2Loss(), np.random.default_rng(seed)
    start = time.perf_counter()
    target_norm = float(np.linalg.norm(targets))
    curve = [curve_row(0, 0, full_loss(layer, x, targets), layer.weight.data, true_weights,
                       target_norm)]
    steps, epoch, converged = 0, 0, False
    with Progress("c0_recover sgd", max_epochs, max_lines=LOG_LINES, stream=stream) as progress:
        while epoch < max_epochs and not converged:
            epoch += 1
            for rows in bn.minibatches(len(x), batch_size, rng):
                layer.zero_grad()
                pred = layer(x[rows])
                if not np.isfinite(pred).all():
                    raise RuntimeError(f"SGD diverged in epoch {epoch} (the outputs overflowed): "
                                       f"lower c0.sgd.lr (now {lr}) or c0.sgd.momentum")
                loss_fn(pred, targets[rows])
                positions = pred.shape[0] * pred.shape[2] * pred.shape[3]
                layer.backward(loss_fn.backward() / positions, need_input_grad=False)
                optimizer.step()
                steps += 1
            row = curve_row(epoch, epoch, full_loss(layer, x, targets), layer.weight.data,
                            true_weights, target_norm)
            curve.append(row)
            converged = row["relative_output_error"] <= tol
            progress.update(epoch, f"relative output error {row['relative_output_error']:.3e}, "
                                   f"weight error {row['relative_weight_error']:.3e}")
    return Run(layer.weight.data.copy(), curve, steps, epoch, converged,
               time.perf_counter() - start)


def run_cg(x: np.ndarray, targets: np.ndarray, init: np.ndarray, *, padding: int, tol: float,
           max_iter: int, memory: int | None, separable: bool, true_weights: np.ndarray,
           stream: TextIO | None = None) -> Run:
    """barenet.ConjugateGradient on the L2 loss over all images. Stops when the gradient norm
    is <= tol times its first value, or after ``max_iter`` iterations. ``true_weights`` (C0's)
    only measure the curve's weight error. Progress goes to ``stream`` (default stdout)."""
    max_iter = check_positive_int(max_iter, "c0.cg.max_iter")
    tol = check_non_negative(tol, "c0.cg.tol")
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


def least_squares_reference(x: np.ndarray, targets: np.ndarray, kernel_size: int,
                            padding: int) -> tuple[np.ndarray, float]:
    """The closed-form least-squares weights (out, 3, k, k) of the same fit, and the condition
    number of the patch Gram matrix P^T P (the loss's curvature). A reference, not a result."""
    _, cache = conv2d_forward(x, np.zeros((1, x.shape[1], kernel_size, kernel_size)),
                              padding=padding)
    patches = cache.cols.reshape(cache.cols.shape[0], -1).T        # (N*H*W, 3*k*k)
    out_channels = targets.shape[1]
    rhs = targets.transpose(1, 0, 2, 3).reshape(out_channels, -1).T  # (N*H*W, out)
    solution, _, _, singular = np.linalg.lstsq(patches, rhs, rcond=None)
    weights = solution.T.reshape(out_channels, x.shape[1], kernel_size, kernel_size)
    return weights, float((singular[0] / singular[-1]) ** 2)


def summary(run: Run, true_weights: np.ndarray, target_norm: float, **extra) -> dict:
    return {**errors(run.weights, run.curve[-1]["loss"], true_weights, target_norm),
            "iterations": run.iterations, "gradient_passes": run.gradient_passes, **extra,
            "converged": run.converged}


def curve_rows(run: Run) -> list[list]:
    def log10(v: float) -> float:
        return float(np.log10(max(v, 1e-300)))  # an exact 0 plots as -300, not -inf

    return [[r["step"], r["gradient_passes"], r["loss"], r["relative_output_error"],
             r["relative_weight_error"], log10(r["relative_output_error"]),
             log10(r["relative_weight_error"])] for r in run.curve]


def filters_figure(true_weights: np.ndarray, sgd: Run, cg: Run):
    bound = float(np.abs(true_weights).max())
    banks = {"C0 (given)": true_weights, "C, SGD + momentum": sgd.weights,
             "C, conjugate gradient": cg.weights}
    return filter_bank_rows(
        {label: filters_rgb(w, bound) for label, w in banks.items()},
        suptitle=f"C0's filters and C's after each optimiser (RGB = 0.5 + w / {2 * bound:.3g}, "
                 "clipped; the same scale in every row)")


def recover(cfg: DictConfig, x: np.ndarray, targets: np.ndarray, true_weights: np.ndarray,
            stream: TextIO | None = None) -> tuple[dict, Run, Run]:
    """Both runs from the same start, and the metrics about them."""
    c = cfg.c0
    init = initial_weights(true_weights.shape, c.init_seed)
    with one_thread():
        sgd = run_sgd(x, targets, init, padding=c.padding, lr=c.sgd.lr, momentum=c.sgd.momentum,
                      batch_size=c.sgd.batch_size, max_epochs=c.sgd.max_epochs, tol=c.sgd.tol,
                      seed=c.sgd.seed, true_weights=true_weights, stream=stream)
        cg = run_cg(x, targets, init, padding=c.padding, tol=c.cg.tol, max_iter=c.cg.max_iter,
                    memory=c.cg.memory, separable=c.cg.separable, true_weights=true_weights,
                    stream=stream)
        reference, condition = least_squares_reference(x, targets, true_weights.shape[-1],
                                                       c.padding)
        reference_loss = full_loss(new_layer(reference, c.padding), x, targets)
    target_norm = float(np.linalg.norm(targets))
    metrics = {
        "sgd": summary(sgd, true_weights, target_norm, epochs=sgd.gradient_passes),
        "cg": summary(cg, true_weights, target_norm),
        "initial": errors(init, sgd.curve[0]["loss"], true_weights, target_norm),
        "least_squares_reference": errors(reference, reference_loss, true_weights, target_norm),
        "patch_gram_condition_number": condition,
    }
    return metrics, sgd, cg


@stage_main
def main(cfg: DictConfig) -> None:
    x, targets, true_weights = (np.load(DATA / f"{name}.npy")
                                for name in ("inputs", "targets", "C0_weights"))
    metrics, sgd, cg = recover(cfg, x, targets, true_weights)
    write_json(OUT / "metrics.json", metrics)
    write_csv(OUT / "loss_sgd.csv", CURVE_HEADER, curve_rows(sgd))
    write_csv(OUT / "loss_cg.csv", CURVE_HEADER, curve_rows(cg))
    fig = filters_figure(true_weights, sgd, cg)
    save_figure(OUT / "filters.png", fig)
    close(fig)
    for name, run in (("sgd", sgd), ("cg", cg)):
        m = metrics[name]
        print(f"c0_recover {name}: relative weight error {m['relative_weight_error']:.3e} "
              f"(max abs {m['max_abs_weight_error']:.3e}), relative output error "
              f"{m['relative_output_error']:.3e}, {m['iterations']} iterations, "
              f"{run.seconds:.1f} s, converged {m['converged']}", flush=True)


if __name__ == "__main__":
    main()
