"""The blur stage's core on tiny data: the kernel from config, barenet's Conv2d against scipy's
correlation, channel independence, image picking, config validation, the figures, and one run
of the script itself on a params.yaml and data of its own."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import load_stage
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]




stage = load_stage("blur")


def test_default_kernel_is_the_assignments_binomial():
    expected = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    assert np.array_equal(stage.kernel_2d([1, 2, 1]), expected)
    assert stage.kernel_2d([1, 4, 6, 4, 1]).sum() == pytest.approx(1.0, abs=1e-15)
    assert np.array_equal(stage.kernel_2d([5]), [[1.0]])


@pytest.mark.parametrize("weights", [[1, 2, 1], [1, 3, 5, 3, 1], [0.2, 0.7, 0.1]])
def test_conv_equals_scipy_reference_per_channel(weights):
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 7, 9))
    kernel = stage.kernel_2d(weights)
    blurred, conv = stage.blur(images, kernel)
    assert blurred.shape == images.shape and blurred.dtype == np.float64
    assert np.max(np.abs(blurred - stage.reference_blur(images, kernel))) <= 1e-12
    # a second, different reference: scipy.signal with zero fill, 'same' size
    other = np.stack([[signal.correlate2d(ch, kernel, mode="same", boundary="fill")
                       for ch in img] for img in images])
    assert np.max(np.abs(blurred - other)) <= 1e-12
    assert conv.bias is None and conv.padding == (kernel.shape[0] // 2,) * 2


def test_asymmetric_kernel_is_a_correlation_not_a_flipped_convolution():
    # blur_conv accepts any square 2-D kernel; an asymmetric one catches an orientation slip
    kernel = np.arange(9.0).reshape(3, 3)
    images = np.random.default_rng(1).random((1, 3, 5, 5))
    ours = stage.blur(images, kernel)[0]
    assert np.max(np.abs(ours - stage.reference_blur(images, kernel))) <= 1e-12
    assert np.max(np.abs(ours - stage.reference_blur(images, kernel[::-1, ::-1]))) > 1e-3


def test_channels_stay_independent_and_flat_regions_keep_their_value():
    kernel = stage.kernel_2d([1, 2, 1])
    conv = stage.blur_conv(kernel)
    w = conv.weight.data
    assert w.shape == (3, 3, 3, 3)
    for o in range(3):
        for i in range(3):
            assert np.array_equal(w[o, i], kernel if o == i else np.zeros((3, 3)))
    images = np.zeros((1, 3, 6, 6))
    images[0, 1] = 0.5  # only green, constant
    blurred = stage.blur(images, kernel)[0]
    assert np.all(blurred[0, [0, 2]] == 0)
    assert np.allclose(blurred[0, 1, 1:-1, 1:-1], 0.5, rtol=0, atol=1e-15)
    assert blurred[0, 1, 0, 0] == pytest.approx(0.5 * 9 / 16)  # zero padding darkens corners


def test_pick_images_round_robin_over_classes_or_first():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    assert stage.pick_images(labels, 8, "per_class").tolist() == [0, 3, 5, 1, 4, 6, 2, 7]
    assert stage.pick_images(labels, 3, "per_class").tolist() == [0, 3, 5]
    assert stage.pick_images(labels, 2, "first").tolist() == [0, 1]


@pytest.mark.parametrize(("weights", "message"), [
    ([1, 2], r"blur\.kernel must have an odd number"),
    ([], r"blur\.kernel must have an odd number"),
    ([1, -2, 1], r"blur\.kernel weights must be finite and >= 0"),
    ([1, float("inf"), 1], r"blur\.kernel weights must be finite"),
    ([0, 0, 0], r"blur\.kernel weights must have a positive sum"),
    (3, r"blur\.kernel must be a list of numbers"),
    ([1, "2", 1], r"blur\.kernel must be a list of numbers"),
])
def test_bad_kernel_names_the_key(weights, message):
    with pytest.raises(ValueError, match=message):
        stage.kernel_2d(weights)


@pytest.mark.parametrize(("n", "pick", "message"), [
    (0, "first", r"blur\.n_images must be an integer in 1\.\.4"),
    (5, "per_class", r"blur\.n_images .* got 5"),
    (2.5, "first", r"blur\.n_images"),
    (2, "random", r"blur\.pick must be one of"),
])
def test_bad_selection_names_the_key(n, pick, message):
    with pytest.raises(ValueError, match=message):
        stage.pick_images(np.arange(4), n, pick)


def test_stage_script_writes_metrics_and_pngs(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "blur.py").write_text((ROOT / "stages" / "blur.py").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"blur": {"kernel": [1, 2, 1], "n_images": 3, "pick": "per_class"}}))
    data = tmp_path / "data" / "cifar10"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(data / "images.npy", rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8))
    np.save(data / "labels.npy", np.array([0, 0, 3, 9], dtype=np.int64))

    def run():
        result = subprocess.run([sys.executable, "stages/blur.py"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result

    assert run().stdout.startswith("blur: 3 images, 3x3 kernel")
    out = tmp_path / "reports" / "blur"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["max_abs_diff_vs_reference"] <= 1e-12
    assert metrics["images"] == [0, 2, 3] and metrics["n_images"] == 3
    pngs = {name: (out / name).read_bytes() for name in ("blurred.png", "filters.png")}
    assert all(data.startswith(b"\x89PNG") for data in pngs.values())
    run()  # same inputs, same bytes: DVC sees no change
    assert {name: (out / name).read_bytes() for name in pngs} == pngs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "params.yaml", "reports",
                                                          "stages"]
