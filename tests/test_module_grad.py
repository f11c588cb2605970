"""study.module_grad: the report's finite-difference numbers for the modules."""

import numpy as np

import barenet as bn
from study.module_grad import conv_case, module_gradient_outputs


def test_every_random_conv_setting_fits_its_input():
    rng = np.random.default_rng(1)
    for _ in range(200):
        case = conv_case(rng)
        conv = bn.Conv2d(case["in_channels"], case["out_channels"], case["kernel_size"],
                         case["stride"], case["padding"], case["dilation"])
        x = np.zeros((1, case["in_channels"], case["height"], case["width"]))
        assert min(conv.forward(x).shape[2:]) >= 1


def test_every_module_gradient_agrees_with_finite_differences():
    outputs, summary = module_gradient_outputs(seed=3, conv_cases=4, fd_step=1e-6)
    result = outputs["gradients.json"]
    assert set(result["modules"]) == {"linear", "relu", "mlp", "max_pool"}
    assert set(result["modules"]["linear"]["errors"]) == {"input", "weight", "bias"}
    assert len(result["conv2d"]) == result["conv_cases"] == 4
    assert all(set(c["errors"]) == {"input", "weight", "bias"} for c in result["conv2d"])
    assert result["conv2d_max"] == max(c["max"] for c in result["conv2d"])
    assert 0 < result["max_relative_error"] < 1e-6, result["max_relative_error"]
    assert "4 Conv2d settings" in summary
