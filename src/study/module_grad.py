"""The modules' hand-written gradients checked against centred finite differences, in float64,
with a random upstream gradient (barenet.gradcheck.check_module): the numbers behind "forward
and backward for any size" in the report. Conv2d is checked over random combinations of kernel
size, padding, stride and dilation, each on a small random input whose size fits them."""

from __future__ import annotations

import numpy as np

import barenet as bn
from barenet.gradcheck import check_module


def conv_case(rng: np.random.Generator) -> dict:
    """A random Conv2d setting and an input size it fits (at least one output pixel)."""
    kernel = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dilation = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    stride = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    padding = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    size = [max(d * (k - 1) + 1 - 2 * p, 1) + int(rng.integers(0, 4))
            for k, d, p in zip(kernel, dilation, padding, strict=True)]
    return {"in_channels": int(rng.integers(1, 4)), "out_channels": int(rng.integers(1, 4)),
            "kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation,
            "height": size[0], "width": size[1]}


def module_gradient_outputs(seed: int, conv_cases: int, fd_step: float) -> tuple[dict, str]:
    """Per module (and per Conv2d setting), the largest relative error of its input and
    parameter gradients; returns gradients.json's content and a summary."""
    rng = np.random.default_rng(seed)
    checks = {
        "linear": (bn.Linear(7, 5, rng=rng), rng.standard_normal((4, 7))),
        "relu": (bn.ReLU(), rng.standard_normal((4, 9))),
        "mlp": (bn.MLP(12, 8, 5, rng=rng), rng.standard_normal((3, 12))),
        "max_pool": (bn.MaxPool2d(2), rng.standard_normal((2, 3, 6, 6))),
    }
    def checked(module, x) -> dict:
        errors = check_module(module, x, rng, fd_step)
        return {"errors": errors, "max": max(errors.values())}

    records = {name: checked(module, x) for name, (module, x) in checks.items()}
    cases = []
    for _ in range(conv_cases):
        case = conv_case(rng)
        geometry = {k: case[k] for k in ("kernel_size", "stride", "padding", "dilation")}
        conv = bn.Conv2d(case["in_channels"], case["out_channels"], rng=rng, **geometry)
        x = rng.standard_normal((2, case["in_channels"], case["height"], case["width"]))
        cases.append({**case, **checked(conv, x)})
    conv_worst = max(c["max"] for c in cases)
    worst = max(conv_worst, *(r["max"] for r in records.values()))
    result = {"modules": records, "conv2d": cases, "conv2d_max": conv_worst,
              "max_relative_error": worst, "conv_cases": len(cases), "fd_step": fd_step}
    return {"gradients.json": result}, (f"{len(records)} modules and {len(cases)} Conv2d "
                                        f"settings, largest relative error {worst:.1e}")
