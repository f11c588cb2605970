"""The scalar_grad stage's core: value, gradient and finite-difference check of the assignment's
f at its four points, the readable expression, config validation, the Markdown table, and one
run of the script itself on a params.yaml of its own."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import load_stage

ROOT = Path(__file__).resolve().parents[1]
POINTS = [[2, 4, 1], [9, 14, 3], [128, 42, 666], [52, 14, 28]]




stage = load_stage("scalar_grad")


@pytest.fixture(scope="module")
def records():
    points, step = stage.check_config(POINTS, 1e-5)
    return [stage.check_point(p, step) for p in points]


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
        assert r["f"] == pytest.approx(stage.f_reference(*r["point"]), rel=1e-14, abs=1e-15)


def test_expression_reads_like_the_formula(records):
    assert {r["expression"] for r in records} == {
        "log(sigmoid((cos(pi * x) + sin((pi * y) / 2)) / tanh(z^2)))"}


def test_finite_differences_of_a_known_function():
    grad = stage.finite_differences(lambda x, y, z: x * x + 3 * y - z**3, [2.0, 5.0, 1.0], 1e-5)
    assert grad == pytest.approx([4.0, 3.0, -3.0], rel=1e-8)


def test_a_wrong_gradient_is_caught():
    wrong = [0.0, 0.5, -0.3]
    fd = stage.finite_differences(stage.f_reference, [2.0, 4.0, 1.0], 1e-5)
    assert stage.relative_error(wrong, fd) > 1e-3


@pytest.mark.parametrize(("points", "step", "message"), [
    ([], 1e-5, r"scalar\.points must be a non-empty list"),
    ([[1, 2]], 1e-5, r"scalar\.points\[0\] must be three numbers"),
    ([[1, 2, 3], [1, "a", 3]], 1e-5, r"scalar\.points\[1\]"),
    ([[1, 2, 0]], 1e-5, r"scalar\.points\[0\].*non-zero z"),
    ([[1, 2, float("nan")]], 1e-5, r"scalar\.points\[0\] must be finite"),
    ([[1, 2, 3]], 0, r"scalar\.fd_step"),
    ([[1, 2, 3]], "1e-5", r"scalar\.fd_step"),
])
def test_bad_config_names_the_key(points, step, message):
    with pytest.raises(ValueError, match=message):
        stage.check_config(points, step)


def test_markdown_table_has_one_row_per_point(records):
    text = stage.markdown(records, 1e-5)
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(POINTS)
    assert rows[2].startswith("| 128 | 42 | 666 | -0.31326168")
    assert "log(sigmoid(" in text


def test_stage_script_writes_the_contract(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "scalar_grad.py").write_text(
        (ROOT / "stages" / "scalar_grad.py").read_text())
    params = {"scalar": {"points": [[2, 4, 1], [128, 42, 666]], "fd_step": 1e-5}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run([sys.executable, "stages/scalar_grad.py"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("scalar_grad: 2 points")
    written = json.loads((tmp_path / "reports/scalar/gradients.json").read_text())
    assert [r["point"] for r in written] == [[2.0, 4.0, 1.0], [128.0, 42.0, 666.0]]
    assert all(r["fd_rel_error"] < 1e-6 for r in written)
    assert (tmp_path / "reports/scalar/gradients.md").read_text().count("\n| ") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml", "reports", "stages"]
