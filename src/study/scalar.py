"""The scalar-gradient experiment: the scalar autograd graph on the assignment's function

    f(x, y, z) = log(sigmoid((cos(pi x) + sin(pi y / 2)) / tanh(z^2)))

at each configured point (scalar.points): its value and its gradient by reverse mode,
cross-checked against centred finite differences of an independent plain-math float64 version
of f with step scalar.fd_step. The relative error is barenet.gradcheck.relative_error over the
gradient vector, max|a - n| / max(1e-8, max(|a| + |n|)).

Where z^2 > ~19 (e.g. (128, 42, 666)), tanh(z^2) is exactly 1.0 in float64, so df/dz, whose
true size there is below 1e-300 (it carries a factor sech^2(z^2)), is exactly 0 both ways. The
check stays meaningful at such points because df/dy is not 0 there (sin(pi y / 2) has slope
+-pi/2 at integer y), and the relative error is taken over the whole gradient vector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from barenet.gradcheck import relative_error
from barenet.scalar import Scalar, cos, log, sigmoid, sin, tanh

NAMES = ("x", "y", "z")


def graph(point: tuple[float, float, float]) -> tuple[Scalar, tuple[Scalar, Scalar, Scalar]]:
    """f at ``point`` as a barenet.scalar graph with named inputs x, y, z and constant pi;
    returns (output node, (x, y, z) nodes)."""
    x, y, z = (Scalar(v, name) for v, name in zip(point, NAMES, strict=True))
    pi = Scalar(math.pi, "pi")
    return log(sigmoid((cos(pi * x) + sin((pi * y) / 2)) / tanh(z**2))), (x, y, z)


def f_reference(x: float, y: float, z: float) -> float:
    """The same f in plain float64 math, sharing no code with the graph."""
    v = (math.cos(math.pi * x) + math.sin(math.pi * y / 2)) / math.tanh(z * z)
    # log(sigmoid(v)) without overflow or log(0): -log(1 + e^-v) written for either sign of v
    return -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v))


def finite_differences(f, point: Sequence[float], h: float) -> list[float]:
    """Centred differences (f(p + h e_i) - f(p - h e_i)) / (2h) per coordinate. The divisor is
    the step actually taken, (p_i + h) - (p_i - h), which is exact in float64 (Sterbenz), so
    rounding p_i +- h to representable numbers at large |p_i| does not bias the estimate."""
    grad = []
    for i in range(len(point)):
        plus, minus = list(point), list(point)
        plus[i] += h
        minus[i] -= h
        grad.append((f(*plus) - f(*minus)) / (plus[i] - minus[i]))
    return grad


def check_point(point: tuple[float, float, float], fd_step: float) -> dict:
    """Value, reverse-mode gradient and finite-difference cross-check of f at ``point``."""
    out, inputs = graph(point)
    out.backward()
    grad = [node.grad for node in inputs]
    fd_grad = finite_differences(f_reference, point, fd_step)
    values = [out.value, *grad]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"f or its gradient is not finite at {list(point)}: f = {out.value}, "
                         f"grad = {grad}")
    return {"point": list(point), "expression": out.expr, "f": out.value, "grad": grad,
            "fd_grad": fd_grad, "fd_rel_error": relative_error(grad, fd_grad)}


def markdown(records: list[dict], fd_step: float) -> str:
    """A Markdown table of the records: point, f, gradient and the finite-difference check."""
    lines = [
        "# Scalar graph: value and gradient of f",
        "",
        f"`f = {records[0]['expression']}`" if records else "",
        "",
        f"Gradient by reverse mode through barenet.scalar; check by centred finite differences "
        f"(step {fd_step:g}, float64) of an independent implementation of f. Relative error "
        "= max|a - n| / max(1e-8, max(|a| + |n|)) over the gradient vector.",
        "",
        "| x | y | z | f | df/dx | df/dy | df/dz | max abs diff to FD | FD relative error |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        cells = [f"{v:g}" for v in r["point"]] + [f"{r['f']:.12g}"]
        cells += [f"{g:.10g}" for g in r["grad"]]
        diff = max(abs(a - n) for a, n in zip(r["grad"], r["fd_grad"], strict=True))
        cells += [f"{diff:.2e}", f"{r['fd_rel_error']:.2e}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def gradient_outputs(points: Sequence[Sequence[float]], fd_step: float) -> tuple[dict, str]:
    """Every point's record as the files of reports/scalar/ (gradients.json: a list of {point,
    expression, f, grad, fd_grad, fd_rel_error}, grad and fd_grad ordered [df/dx, df/dy,
    df/dz]; gradients.md: the same as a table) and a one-line summary."""
    fd_step = float(fd_step)
    records = [check_point(tuple(float(v) for v in p), fd_step) for p in points]
    worst = max(r["fd_rel_error"] for r in records)
    summary = (f"{len(records)} points, f finite at all, max finite-difference relative error "
               f"{worst:.1e}")
    return {"gradients.json": records, "gradients.md": markdown(records, fd_step)}, summary
