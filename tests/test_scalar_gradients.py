"""The scalar-gradient experiment (study.scalar): value, gradient and finite-difference check of
the assignment's f at its four points, the readable expression, the Markdown table, and one run
of the scalar_grad stage script on a params.yaml of its own. (study.validate checks the
points and the step: test_validate.py.)"""

import json
import math
import subprocess
import sys

import pytest
from helpers import PATHS, stage_project

from barenet.gradcheck import relative_error
from study.scalar import f_reference, finite_differences, gradient_outputs

POINTS = [[2, 4, 1], [9, 14, 3], [128, 42, 666], [52, 14, 28]]
FD_STEP = 1e-5


@pytest.fixture(scope="module")
def outputs():
    files, _ = gradient_outputs(POINTS, FD_STEP)
    return files


@pytest.fixture(scope="module")
def records(outputs):
    return outputs["gradients.json"]


def test_gradients_agree_with_finite_differences_at_every_point(records):
    for r in records:
        assert set(r) >= {"point", "expression", "f", "grad", "fd_rel_error"}
        assert len(r["grad"]) == 3 and all(math.isfinite(g) for g in r["grad"])
        assert r["fd_rel_error"] < 1e-6, r


def test_values_are_finite_and_the_check_is_not_vacuous_at_the_large_point(records):
    big = records[POINTS.index([128, 42, 666])]
    assert math.isfinite(big["f"])
    assert big["grad"][2] == 0.0 and big["fd_grad"][2] == 0.0  # tanh(666^2) == 1.0 exactly
    # df/dy = (1 - sigmoid(1)) * (pi / 2) * cos(21 pi) carries the check there
    expected = (1 - 1 / (1 + math.exp(-1))) * math.pi / 2 * -1
    assert big["grad"][1] == pytest.approx(expected, rel=1e-12)


def test_graph_value_matches_the_independent_plain_math_f(records):
    for r in records:
        assert r["f"] == pytest.approx(f_reference(*r["point"]), rel=1e-14, abs=1e-15)


def test_expression_reads_like_the_formula(records):
    assert {r["expression"] for r in records} == {
        "log(sigmoid((cos(pi * x) + sin((pi * y) / 2)) / tanh(z^2)))"}


def test_finite_differences_of_a_known_function():
    grad = finite_differences(lambda x, y, z: x * x + 3 * y - z**3, [2.0, 5.0, 1.0], 1e-5)
    assert grad == pytest.approx([4.0, 3.0, -3.0], rel=1e-8)


def test_a_wrong_gradient_is_caught():
    wrong = [0.0, 0.5, -0.3]
    fd = finite_differences(f_reference, [2.0, 4.0, 1.0], 1e-5)
    assert relative_error(wrong, fd) > 1e-3


def test_markdown_table_has_one_row_per_point(outputs):
    text = outputs["gradients.md"]
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(POINTS)
    assert rows[2].startswith("| 128 | 42 | 666 | -0.31326168")
    assert "log(sigmoid(" in text


def test_stage_script_writes_the_contract(tmp_path):
    stage_project(tmp_path, ["scalar_grad"],
                  {"scalar": {"points": [[2, 4, 1], [128, 42, 666]], "fd_step": FD_STEP}})
    result = subprocess.run([sys.executable, "stages/scalar_grad.py"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("scalar_grad: 2 points")
    reports = tmp_path / PATHS["reports"] / "scalar"
    written = json.loads((reports / "gradients.json").read_text())
    assert [r["point"] for r in written] == [[2.0, 4.0, 1.0], [128.0, 42.0, 666.0]]
    assert all(r["fd_rel_error"] < 1e-6 for r in written)
    assert (reports / "gradients.md").read_text().count("\n| ") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml", "reports", "stages"]
