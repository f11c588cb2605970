"""The blur experiment (study.blur) on tiny data: the kernel from config, barenet's Conv2d
against scipy's correlation, channel independence, image picking, and one run of the stage
script on a params.yaml and data of its own. (study.validate checks blur's settings:
test_validate.py.)"""

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import PATHS, stage_project

from study.bars import not_numbers
from study.blur import blur, blur_conv, kernel_2d, pick_images, reference_blur


def test_default_kernel_is_the_assignments_binomial():
    expected = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    assert np.array_equal(kernel_2d([1, 2, 1]), expected)
    assert kernel_2d([1, 4, 6, 4, 1]).sum() == pytest.approx(1.0, abs=1e-15)
    assert np.array_equal(kernel_2d([5]), [[1.0]])


@pytest.mark.parametrize("weights", [[1, 2, 1], [1, 3, 5, 3, 1], [0.2, 0.7, 0.1]])
def test_conv_equals_scipy_reference_per_channel(weights):
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 7, 9))
    kernel = kernel_2d(weights)
    blurred, conv = blur(images, kernel)
    assert blurred.shape == images.shape and blurred.dtype == np.float64
    assert np.max(np.abs(blurred - reference_blur(images, kernel))) <= 1e-12
    # a second, different reference: scipy.signal with zero fill, 'same' size (imported here:
    # about a second, which every worker would otherwise pay while collecting)
    from scipy import signal

    other = np.stack([[signal.correlate2d(ch, kernel, mode="same", boundary="fill")
                       for ch in img] for img in images])
    assert np.max(np.abs(blurred - other)) <= 1e-12
    assert conv.bias is None and conv.padding == (kernel.shape[0] // 2,) * 2


def test_asymmetric_kernel_is_a_correlation_not_a_flipped_convolution():
    # blur_conv accepts any square 2-D kernel; an asymmetric one catches an orientation slip
    kernel = np.arange(9.0).reshape(3, 3)
    images = np.random.default_rng(1).random((1, 3, 5, 5))
    ours = blur(images, kernel)[0]
    assert np.max(np.abs(ours - reference_blur(images, kernel))) <= 1e-12
    assert np.max(np.abs(ours - reference_blur(images, kernel[::-1, ::-1]))) > 1e-3


def test_channels_stay_independent_and_flat_regions_keep_their_value():
    kernel = kernel_2d([1, 2, 1])
    conv = blur_conv(kernel)
    w = conv.weight.data
    assert w.shape == (3, 3, 3, 3)
    for o in range(3):
        for i in range(3):
            assert np.array_equal(w[o, i], kernel if o == i else np.zeros((3, 3)))
    images = np.zeros((1, 3, 6, 6))
    images[0, 1] = 0.5  # only green, constant
    blurred = blur(images, kernel)[0]
    assert np.all(blurred[0, [0, 2]] == 0)
    assert np.allclose(blurred[0, 1, 1:-1, 1:-1], 0.5, rtol=0, atol=1e-15)
    assert blurred[0, 1, 0, 0] == pytest.approx(0.5 * 9 / 16)  # zero padding darkens corners


def test_pick_images_round_robin_over_classes_or_first():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    assert pick_images(labels, 8, "per_class").tolist() == [0, 3, 5, 1, 4, 6, 2, 7]
    assert pick_images(labels, 3, "per_class").tolist() == [0, 3, 5]
    assert pick_images(labels, 2, "first").tolist() == [0, 1]


@pytest.mark.slow
def test_stage_script_writes_metrics_info_and_pngs(tmp_path):
    stage_project(tmp_path, ["blur"], {"blur": {"kernel": [1, 2, 1], "n_images": 3,
                                                "pick": "per_class"}})
    data = tmp_path / PATHS["cifar10"]
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
    out = tmp_path / PATHS["reports"] / "blur"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["max_abs_diff_vs_reference"] <= 1e-12 and metrics["n_images"] == 3
    assert not_numbers(metrics) == []  # DVC tracks it as metrics
    info = json.loads((out / "info.json").read_text())
    assert info["images"] == [0, 2, 3] and info["kernel"] == kernel_2d([1, 2, 1]).tolist()
    written = {name: (out / name).read_bytes() for name in ("metrics.json", "info.json",
                                                            "blurred.png", "filters.png")}
    assert all(written[name].startswith(b"\x89PNG") for name in ("blurred.png", "filters.png"))
    run()  # same inputs, same bytes: DVC sees no change
    assert {name: (out / name).read_bytes() for name in written} == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "params.yaml", "reports",
                                                          "stages"]
