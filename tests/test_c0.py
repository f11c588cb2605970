"""The C0 experiment (study.c0): loading and checking the given weights, the targets, the
optimisers and the original recipe on tiny data, recovery of a second, differently drawn
weights file on CIFAR-10 images, and the two stage scripts end to end in a scratch project."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import PATHS, project_env, stage_project
from omegaconf import OmegaConf

from barenet.conv import conv2d_naive_forward
from study import c0
from study.data import MIRROR_ENV, sha256
from study.threads import one_thread

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = OmegaConf.load(ROOT / "conf" / "c0" / "default.yaml")
CIFAR = ROOT / PATHS["cifar10"] / "images.npy"
SHAPE = (20, 3, 5, 5)
QUIET = io.StringIO()  # where the optimisers' progress lines go when a test does not read them


def natural_like_images(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (n, 3, size, size) images whose spectrum falls like 1/f, as natural images' does
    (most energy at low frequencies, so image patches are ill-conditioned as in CIFAR-10)."""
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
    amplitude = 1.0 / np.maximum(f, 1.0 / size)

    def field(shape):
        noise = np.fft.fft2(rng.standard_normal(shape))
        return np.fft.ifft2(noise * amplitude).real

    luminance = field((n, 1, size, size))
    colour = luminance + 0.3 * field((n, 3, size, size))  # correlated channels
    lo = colour.min(axis=(1, 2, 3), keepdims=True)
    hi = colour.max(axis=(1, 2, 3), keepdims=True)
    return np.round(255 * (colour - lo) / (hi - lo)).astype(np.uint8)


def cifar_or_natural_like(n: int) -> np.ndarray:
    """The first n prepared CIFAR-10 images if the prepare stage has run, else look-alikes."""
    if CIFAR.is_file():
        return np.load(CIFAR)[:n]
    return natural_like_images(n, 32, np.random.default_rng(0))


# --- c0_targets: where the weights come from and what is accepted ----------------------------

def test_weights_path_prefers_the_configured_file_then_the_mirror(tmp_path):
    path, kind = c0.weights_path("some/w.npy", tmp_path)
    assert path == Path("some/w.npy") and "configured" in kind
    path, kind = c0.weights_path(None, tmp_path)
    assert path == tmp_path / "C0_weights.npy" and "mirror" in kind
    assert str(tmp_path) not in kind  # reports name the kind of source, never a host path
    with pytest.raises(ValueError, match=f"c0.weights.*{MIRROR_ENV}"):
        c0.weights_path(None, None)


def test_load_weights_accepts_any_float_file_of_the_right_shape(tmp_path):
    weights = np.random.default_rng(0).normal(0, 0.5, SHAPE).astype(np.float32)
    np.save(tmp_path / "w.npy", weights)
    loaded = c0.load_weights(tmp_path / "w.npy", SHAPE)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, weights)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@pytest.mark.parametrize("content, match", [
    (b"this is not an array\n", "not a readable .npy array"),
    (npy_bytes(np.zeros(SHAPE))[:200], "not a readable .npy array"),  # truncated
    (npy_bytes(np.array([{"w": 1}], dtype=object), allow_pickle=True), "not a readable .npy"),
    (npy_bytes(np.zeros((20, 3, 3, 3))), r"shape \(20, 3, 3, 3\); expected \(20, 3, 5, 5\)"),
    (npy_bytes(np.zeros((3, 20, 5, 5))), r"shape \(3, 20, 5, 5\)"),
    (npy_bytes(np.zeros(SHAPE, dtype=np.int64)), "dtype int64; expected a float array"),
    (npy_bytes(np.zeros(SHAPE, dtype=np.complex128)), "dtype complex128"),
    (npy_bytes(np.full(SHAPE, np.nan)), "1500 NaN or inf"),
])
def test_load_weights_names_the_file_and_the_problem(tmp_path, content, match):
    path = write_bytes(tmp_path / "C0_bad.npy", content)
    with pytest.raises(ValueError, match=match) as error:
        c0.load_weights(path, SHAPE)
    assert str(path) in str(error.value)


def test_load_weights_says_when_the_file_is_missing_or_an_archive(tmp_path):
    with pytest.raises(ValueError, match="does not exist.*c0.weights"):
        c0.load_weights(tmp_path / "nowhere.npy", SHAPE)
    np.savez(tmp_path / "w.npz", w=np.zeros(SHAPE))
    with pytest.raises(ValueError, match=r"\.npz archive \(arrays \['w'\]\)"):
        c0.load_weights(tmp_path / "w.npz", SHAPE)


def test_a_single_inf_is_counted(tmp_path):
    weights = np.zeros(SHAPE)
    weights[3, 1, 2, 2] = np.inf
    np.save(tmp_path / "w.npy", weights)
    with pytest.raises(ValueError, match="contains 1 NaN or inf"):
        c0.load_weights(tmp_path / "w.npy", SHAPE)


def test_images_are_scaled_to_the_unit_interval_in_float64():
    images = np.array([0, 51, 255], dtype=np.uint8).reshape(1, 3, 1, 1)
    x = c0.scale_images(images)
    assert x.dtype == np.float64 and np.allclose(x.ravel(), [0.0, 0.2, 1.0])


def test_targets_are_the_zero_bias_convolution():
    rng = np.random.default_rng(1)
    weights, x = rng.normal(0, 0.2, (4, 3, 5, 5)), rng.uniform(0, 1, (2, 3, 8, 8))
    expected = conv2d_naive_forward(x, weights, np.zeros(4), padding=2)
    assert np.allclose(c0.c0_outputs(weights, x, padding=2), expected, atol=1e-13)


# --- c0_recover: the two runs on tiny data -----------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    """6 natural-like 12x12 images, a 4-filter C0 and its targets."""
    rng = np.random.default_rng(2)
    x = c0.scale_images(natural_like_images(6, 12, rng))
    weights = rng.normal(0, 0.2, (4, 3, 5, 5))
    return x, c0.c0_outputs(weights, x, padding=2), weights


@pytest.fixture(autouse=True)
def blas_on_one_thread():
    """As in study.c0.recover: OpenBLAS threads crawl when other processes share the cores."""
    with one_thread():
        yield


def test_cg_recovers_the_weights_and_records_its_curve(tiny):
    x, targets, weights = tiny
    init = c0.initial_weights(weights.shape, seed=0)
    assert np.abs(init).max() <= 1 and init.std() > 0.5  # U(-1, 1)
    run = c0.run_cg(x, targets, init, padding=2, tol=1e-13, max_iter=300,
                               memory=None, separable=True, true_weights=weights, stream=QUIET)
    assert run.converged and run.iterations <= 100
    assert run.gradient_passes == 2 * run.iterations
    errors = c0.errors(run.weights, run.curve[-1]["loss"], weights,
                                  np.linalg.norm(targets))
    assert errors["relative_weight_error"] < 1e-6 and errors["relative_output_error"] < 1e-6
    assert [r["step"] for r in run.curve] == list(range(run.iterations + 1))
    assert run.curve[0]["relative_weight_error"] > 1


def test_cg_reports_hitting_its_cap_as_not_converged(tiny):
    x, targets, weights = tiny
    init = c0.initial_weights(weights.shape, seed=0)
    run = c0.run_cg(x, targets, init, padding=2, tol=1e-13, max_iter=3,
                               memory=None, separable=True, true_weights=weights, stream=QUIET)
    assert not run.converged and run.iterations == 3 and len(run.curve) == 4


def test_sgd_stops_at_its_tolerance_or_its_cap(tiny):
    x, targets, weights = tiny
    init = c0.initial_weights(weights.shape, seed=0)
    settings = dict(padding=2, lr=0.05, momentum=0.9, batch_size=2, seed=0,
                    true_weights=weights, stream=QUIET)
    capped = c0.run_sgd(x, targets, init, max_epochs=4, tol=1e-6, **settings)
    assert not capped.converged and capped.gradient_passes == 4 and capped.iterations == 12
    assert len(capped.curve) == 5
    assert capped.curve[-1]["loss"] < capped.curve[0]["loss"]
    loose = c0.run_sgd(x, targets, init, max_epochs=50, tol=0.5, **settings)
    assert loose.converged and loose.curve[-1]["relative_output_error"] <= 0.5
    assert loose.gradient_passes < 50


def test_sgd_measured_every_few_epochs_trains_the_same_weights(tiny):
    x, targets, weights = tiny
    init = c0.initial_weights(weights.shape, seed=0)
    settings = dict(padding=2, lr=0.05, momentum=0.9, batch_size=2, seed=0, max_epochs=7,
                    tol=1e-6, true_weights=weights, stream=QUIET)
    every = c0.run_sgd(x, targets, init, **settings)
    sparse = c0.run_sgd(x, targets, init, check_every=3, **settings)
    assert np.array_equal(every.weights, sparse.weights)
    assert [r["step"] for r in sparse.curve] == [0, 3, 6, 7]  # and always the last epoch
    assert sparse.curve == [every.curve[i] for i in (0, 3, 6, 7)]
    assert (sparse.gradient_passes, sparse.iterations) == (every.gradient_passes,
                                                           every.iterations)


def test_sgd_divergence_says_to_lower_the_learning_rate(tiny):
    x, targets, weights = tiny
    init = c0.initial_weights(weights.shape, seed=0)
    with pytest.raises(RuntimeError, match="lower c0.sgd.lr"), np.errstate(all="ignore"):
        c0.run_sgd(x, targets, init, padding=2, lr=1e3, momentum=0.9, batch_size=2,
                              max_epochs=50, tol=1e-6, seed=0, true_weights=weights, stream=QUIET)


def original_step_as_written(weights, x, targets, lr, padding):
    """The original attempt's forward, backward and step() for one batch, transcribed loop for
    loop from the assignment export (its pixels already divided by 255): the new weights."""
    k = weights.shape[-1]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out, w_out = xp.shape[2] - k + 1, xp.shape[3] - k + 1
    output = np.zeros((len(x), len(weights), h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            output[:, :, i, j] = np.sum(xp[:, None, :, i:i + k, j:j + k] * weights,
                                        axis=(2, 3, 4))
    grad = 2 * (output - targets)
    grad = grad / np.max(grad)
    grad_kernel = np.zeros(weights.shape)
    for i in range(h_out):
        for j in range(w_out):
            grad_kernel += np.sum(xp[:, None, :, i:i + k, j:j + k]
                                  * grad[:, :, i, j][:, :, None, None, None], axis=0)
    grad_kernel = grad_kernel / np.max(grad_kernel)
    grad_kernel /= np.max(grad_kernel) * np.max(weights)
    return weights - lr * grad_kernel


def test_the_original_step_is_the_originals_maths(tiny):
    x, targets, weights = tiny
    start = c0.initial_weights(weights.shape, seed=3)
    layer = c0.new_layer(start, padding=2)
    c0.original_step(layer, x[:2], targets[:2], lr=0.01)
    expected = original_step_as_written(start, x[:2], targets[:2], lr=0.01, padding=2)
    assert np.allclose(layer.weight.data, expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(layer.weight.data, start)


def test_the_original_recipe_runs_its_unshuffled_batches_and_records_its_curve(tiny):
    x, targets, weights = tiny
    init = c0.initial_weights(weights.shape, seed=0)
    settings = dict(padding=2, lr=0.01, batch_size=2, true_weights=weights, stream=QUIET)
    run = c0.run_original(x, targets, init, epochs=7, check_every=3, **settings)
    assert [r["step"] for r in run.curve] == [0, 3, 6, 7]  # and always the last epoch
    assert (run.gradient_passes, run.iterations, run.converged) == (7, 21, False)
    assert run.curve[-1]["loss"] < run.curve[0]["loss"]
    layer = c0.new_layer(init, padding=2)  # the same steps by hand: batches in file order
    for _ in range(7):
        for first in range(0, len(x), 2):
            c0.original_step(layer, x[first:first + 2], targets[first:first + 2], lr=0.01)
    assert np.array_equal(run.weights, layer.weight.data)
    again = c0.run_original(x, targets, init, epochs=7, check_every=3, **settings)
    assert np.array_equal(again.weights, run.weights)


def test_the_original_recipe_stops_at_its_first_non_finite_weight(tiny):
    """Its divisors are largest entries: at a start that already fits, the output gradient is
    all zeros and 0 / 0 leaves every weight NaN, as the original's code would."""
    x, _, weights = tiny
    init = c0.initial_weights(weights.shape, seed=0)
    fitted = c0.new_layer(init, padding=2)(x)
    run = c0.run_original(x, fitted, init, padding=2, lr=0.01, batch_size=2, epochs=50,
                          check_every=1, true_weights=weights, stream=QUIET)
    assert run.gradient_passes == 1 and np.isnan(run.weights).all()


def test_gradient_descent_follows_the_curvatures_prediction(tiny):
    """On a quadratic, gradient descent's error is a known function of the Hessian's spectrum:
    the run must land on it, step by step, and shrink the error at the best fixed step."""
    x, targets, weights = tiny
    init = c0.initial_weights(weights.shape, seed=0)
    run, prediction = c0.run_gd(x, targets, init, padding=2, passes=40, check_every=10,
                                true_weights=weights, stream=QUIET)
    assert [r["step"] for r in run.curve] == [0, 10, 20, 30, 40]
    assert (run.gradient_passes, run.iterations, run.converged) == (40, 40, False)
    assert np.isclose(run.curve[-1]["relative_weight_error"],
                      prediction["predicted_relative_weight_error"], rtol=1e-9)
    assert run.curve[-1]["relative_weight_error"] < run.curve[0]["relative_weight_error"]
    # the best fixed step 2 / (L + mu) removes 2 / (kappa + 1) of the slowest part per pass
    _, condition = c0.least_squares_reference(x, targets, 5, padding=2)
    assert np.isclose(prediction["slowest_part_shrink_per_pass"], 2 / (condition + 1),
                      rtol=1e-6)


def test_least_squares_reference_and_condition_number(tiny):
    x, targets, weights = tiny
    reference, condition = c0.least_squares_reference(x, targets, 5, padding=2)
    assert np.allclose(reference, weights, atol=1e-9)
    assert condition > 1e3  # natural-like images make ill-conditioned patches


# --- acceptance: a second, differently drawn weights file --------------------------------------

@pytest.mark.parametrize("draw", ["normal_0.5", "uniform_float32"])
def test_a_differently_drawn_weights_file_is_recovered_with_the_default_settings(tmp_path, draw):
    """The default c0.cg settings recover another (20, 3, 5, 5) file, read through the stage's
    own loader, on 30 CIFAR-10 images (or look-alikes when the data is not prepared)."""
    rng = np.random.default_rng(11)
    drawn = (rng.normal(0, 0.5, SHAPE) if draw == "normal_0.5"
             else rng.uniform(-1, 1, SHAPE).astype(np.float32))
    np.save(tmp_path / "other.npy", drawn)
    weights = c0.load_weights(tmp_path / "other.npy", SHAPE).astype(np.float64)
    x = c0.scale_images(cifar_or_natural_like(30))
    targets = c0.c0_outputs(weights, x, DEFAULTS.padding)
    init = c0.initial_weights(SHAPE, DEFAULTS.init_seed)
    cg = DEFAULTS.cg
    run = c0.run_cg(x, targets, init, padding=DEFAULTS.padding, tol=cg.tol,
                               max_iter=cg.max_iter, memory=cg.memory, separable=cg.separable,
                               true_weights=weights, stream=QUIET)
    errors = c0.errors(run.weights, run.curve[-1]["loss"], weights,
                                  np.linalg.norm(targets))
    assert run.converged
    assert errors["relative_weight_error"] <= 1e-6
    assert errors["relative_output_error"] <= 1e-6


# --- both stage scripts, end to end, in a scratch project ---------------------------------------

@pytest.mark.slow
def test_both_stages_run_end_to_end_and_repeat_byte_for_byte(tmp_path):
    rng = np.random.default_rng(3)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    np.save(mirror / "C0_weights.npy", rng.normal(0, 0.2, (3, 3, 5, 5)))
    settings = OmegaConf.to_container(DEFAULTS)
    settings.update(out_channels=3, weights_sha256=sha256(mirror / "C0_weights.npy"))
    settings["sgd"].update(max_epochs=3, batch_size=2)
    settings["gd"].update(passes=4)
    settings["original"].update(epochs=2, seeds=[0, 1], extended_epochs=3, batch_size=2)
    project = stage_project(tmp_path / "project", ["c0_targets", "c0_recover"],
                            {"data": {"mirror": None}, "c0": settings})
    (project / PATHS["cifar10"]).mkdir(parents=True)
    np.save(project / PATHS["cifar10"] / "images.npy", natural_like_images(5, 10, rng))
    env = project_env(mirror)

    def run(script: str) -> str:
        result = subprocess.run([sys.executable, f"stages/{script}.py"], cwd=project, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert run("c0_targets").startswith("c0_targets: C0 (3, 3, 5, 5) from mirror")
    out = run("c0_recover")
    assert out.count("\n") < 20  # compact progress
    assert {p.name for p in (project / PATHS["c0"]).iterdir()} == {
        "C0_weights.npy", "inputs.npy", "targets.npy"}
    reports = project / PATHS["reports"] / "c0"
    targets = json.loads((reports / "targets.json").read_text())
    assert targets["weights"]["source"].startswith("mirror") and str(mirror) not in str(targets)
    metrics = json.loads((reports / "metrics.json").read_text())
    keys = {"max_abs_weight_error", "relative_weight_error", "relative_output_error",
            "iterations", "converged"}
    assert keys <= set(metrics["sgd"]) and keys <= set(metrics["cg"])
    assert metrics["cg"]["converged"] and metrics["cg"]["relative_weight_error"] < 1e-6
    assert not metrics["sgd"]["converged"] and metrics["sgd"]["iterations"] == 9
    assert metrics["gd"]["gradient_passes"] == settings["gd"]["passes"]
    assert np.isclose(metrics["gd"]["relative_weight_error"],
                      metrics["gd"]["predicted_relative_weight_error"], rtol=1e-9)
    original = metrics["original_recipe"]
    assert (original["starts"], original["epochs"], original["finished"]) == (2, 2, 2)
    assert original["iterations"] == 6 and original["extended"]["iterations"] == 9
    assert original["relative_weight_error"]["min"] <= original["relative_weight_error"]["max"]
    # header, the start and the last epoch (its check_every, 10, is longer than the run)
    assert len((reports / "loss_original.csv").read_text().splitlines()) == 3
    header = (reports / "loss_cg.csv").read_text().splitlines()[0]
    assert header.startswith("step,gradient_passes,loss,relative_output_error")
    assert (reports / "filters.png").read_bytes()[:4] == b"\x89PNG"

    first = {p.name: p.read_bytes() for p in reports.iterdir()}
    run("c0_recover")
    second = {p.name: p.read_bytes() for p in reports.iterdir()}
    assert first == second, "a report differs between two runs"  # no timings in any of them


def test_a_weights_file_other_than_the_pinned_one_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "C0_weights.npy"
    np.save(path, np.zeros((2, 3, 5, 5)))
    assert c0.check_digest(path, None) == sha256(path)
    with pytest.raises(ValueError, match=f"set c0.weights_sha256 to {sha256(path)}"):
        c0.check_digest(path, "0" * 64)
