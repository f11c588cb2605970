"""The report stage: reports/report.md and README's headline block say what the committed
reports say. Checked three ways: (1) both are exactly what the code renders from the current
reports/ and params.yaml (so neither is stale); (2) the headline numbers, formatted here
independently of study.report, stand in the right rows; (3) every number in either text is one
of the numbers in the reports or settings, to the precision shown (so none is typed by hand)."""

import csv
import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import ROOT, load_stage

from study.report import (
    FIGURE_NAMES,
    HEADLINE_END,
    HEADLINE_START,
    REPORT,
    links,
    load_results,
    missing_links,
    readme_block,
    replace_block,
    report_markdown,
    source_files,
)

stage = load_stage("report")
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
# the per-epoch curves, the per-point sweep and fraction files and the C0 loss curves are plotted,
# never quoted: leaving them out keeps the pool small, so a stray number is unlikely to match
NOT_QUOTED = {"curves.csv", "confusion.csv", "loss_sgd.csv", "loss_cg.csv"}
# a number not glued to a word (float64, C0, SHA-256, CIFAR-10) or a path; "1,234" is 1234
NUMBER = re.compile(r"(?<![\w./])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(e[-+]?\d+)?(%?)"
                    r"(?![\w/])")


def headline(text: str) -> str:
    """README's block between the markers (markers excluded)."""
    start, end = text.index(HEADLINE_START), text.index(HEADLINE_END)
    return text[start + len(HEADLINE_START):end]


@pytest.fixture(scope="module")
def committed():
    """(report.md, README block, loaded results) as committed in the project."""
    return ((ROOT / REPORT).read_text(), headline((ROOT / "README.md").read_text()),
            load_results(ROOT, PARAMS))


def numbers_in(value) -> list[float]:
    """Every number in a loaded JSON/YAML value: numeric leaves, and numbers written inside
    strings (an expression, a layer's description)."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, str):
        try:
            return [float(value)]
        except ValueError:
            return [float(m[0].replace(",", "") + m[1] + m[2]) for m in NUMBER.findall(value)]
    items = value.values() if isinstance(value, dict) else value
    return [n for item in items for n in numbers_in(item)]


def confusion_counts(path: Path) -> list[float]:
    """Every cell of the confusion matrix in ``path`` (one row per test image), the number of
    mistakes and the number of images."""
    with open(path, newline="") as f:
        pairs = [(row["actual"], row["predicted"]) for row in csv.DictReader(f)]
    names = sorted({a for a, _ in pairs} | {p for _, p in pairs})
    counts = np.zeros((len(names), len(names)))
    for actual, predicted in pairs:
        counts[names.index(actual), names.index(predicted)] += 1
    return [*counts.ravel(), counts.sum() - np.trace(counts), counts.sum()]


def number_pool(root: Path, params: dict) -> np.ndarray:
    """Every number the report may quote: those in the reports it reads and in the settings."""
    pool = numbers_in(params)
    for path in source_files():
        if path.suffix == ".json":
            pool += numbers_in(json.loads((root / path).read_text()))
        elif path.suffix == ".csv" and path.name not in NOT_QUOTED:
            with open(root / path, newline="") as f:
                pool += numbers_in([row for row in csv.DictReader(f)])
        elif path.name == "confusion.csv":
            pool += confusion_counts(root / path)
    return np.unique(np.abs(np.array(pool)))


def foreign_numbers(text: str, pool: np.ndarray) -> list[str]:
    """Numbers in ``text`` that no value of ``pool`` rounds to at the precision shown (a
    percentage may also be a fraction x 100); link targets are skipped."""
    text = re.sub(r"\]\([^)]*\)", "]", text)
    foreign = []
    for whole, fraction, exponent, percent in NUMBER.findall(text):
        shown = float(whole.replace(",", "") + fraction + exponent)
        scale = 10.0 ** int(exponent[1:]) if exponent else 1.0
        half_step = 0.5 * 10.0 ** -max(len(fraction) - 1, 0) * scale * (1 + 1e-9)
        candidates = [pool, 100 * pool] if percent else [pool]
        if not any(np.any(np.abs(c - shown) <= half_step) for c in candidates):
            foreign.append(whole + fraction + exponent + percent)
    return foreign


# ------------------------------------------------------------------- the committed report/README

def test_report_is_what_the_stage_renders_from_the_committed_reports(committed):
    report, _, results = committed
    assert report == report_markdown(results), (
        "reports/report.md is stale: run `python stages/report.py` (or dvc repro)")


def test_readme_block_is_what_the_stage_renders_from_the_committed_reports(committed):
    _, block, results = committed
    assert HEADLINE_START + block + HEADLINE_END == readme_block(results), (
        "README.md's headline block disagrees with reports/: run `python stages/report.py`")


def test_every_link_and_figure_of_the_report_exists(committed):
    report = committed[0]
    targets = links(report)
    assert len(targets) == report.count("](") and targets
    assert missing_links(report, ROOT / REPORT.parent) == []
    assert all((ROOT / REPORT.parent / t).is_file() for t in targets)
    assert {f"figures/{name}" for name in FIGURE_NAMES} <= set(targets)
    block = committed[1]
    assert all((ROOT / t).is_file() for t in links(block))


def test_headline_rows_hold_the_original_and_our_numbers(committed):
    report, block, results = committed
    original = PARAMS["report"]["original"]
    c0 = results.c0
    rows = {  # a word of the row's label -> the strings its cells must hold
        "Linear softmax": [f"{original['linear_test_accuracy']:g}%",
                           f"{100 * results.linear.metrics['test']['accuracy']:.2f}%"],
        "scikit-learn": [f"{original['sklearn_test_accuracy']:g}%",
                         f"{100 * results.sklearn['test']['accuracy']:.2f}%"],
        "MLP": [f"{original['mlp_test_accuracy']:g}%",
                f"{100 * results.mlp.metrics['test']['accuracy']:.2f}%"],
        "C0": [f"{original['c0_max_weight_difference']:g}",
               f"{c0['cg']['max_abs_weight_error']:.3g}",
               f"{c0['sgd']['max_abs_weight_error']:.3g}"],
    }
    for text in (report, block):
        table_rows = [line for line in text.splitlines() if line.startswith("| ")]
        for label, cells in rows.items():
            row = next(line for line in table_rows if label in line)
            assert all(f" {cell} " in row for cell in cells), (row, cells)


def test_quoted_numbers_are_formatted_from_the_metrics(committed):
    report, _, results = committed
    for clf in (results.linear, results.mlp):
        m = clf.metrics
        accuracy = {row["class"]: row["accuracy"] for row in clf.per_class}
        assert f"Best class {m['best_class']} ({100 * accuracy[m['best_class']]:.2f}%" in report
        assert f"worst class {m['worst_class']} ({100 * accuracy[m['worst_class']]:.2f}%)" in report
        for split in ("train", "val", "test"):
            assert f"| {100 * m[split]['accuracy']:.2f}% | {m[split]['loss']:.4f} |" in report
        for point in clf.fraction:
            assert f"| {point['n_train']:,} | {100 * point['test_accuracy']:.2f}% |" in report
    assert f"condition number {results.c0['patch_gram_condition_number']:.3g}" in report
    for record in results.scalar:
        assert f"| {record['f']:.6g} |" in report


def test_every_number_comes_from_the_reports_or_settings(committed):
    report, block, _ = committed
    pool = number_pool(ROOT, PARAMS)
    assert len(NUMBER.findall(report)) > 100  # the check is not vacuous
    assert foreign_numbers(report, pool) == []
    assert foreign_numbers(block, pool) == []


def test_the_number_check_catches_a_hand_typed_number(committed):
    report = committed[0]
    pool = number_pool(ROOT, PARAMS)
    assert foreign_numbers(report + "\nOur best: 99.97% and 12,345 images, 3.14159.", pool) == [
        "99.97%", "12,345", "3.14159"]
    # glued digits are names, not numbers; a rounded value matches only at its own precision
    assert NUMBER.findall("float64 C0 SHA-256 CIFAR-10 Conv2d reports/c0/x.png") == []
    assert foreign_numbers("0.1306", np.array([0.1306257])) == []
    assert foreign_numbers("0.1307", np.array([0.1306257])) == ["0.1307"]


def test_every_file_the_report_reads_is_a_dependency_and_every_figure_an_output():
    stage_spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]
    deps = set(stage_spec["deps"])
    assert {str(p) for p in source_files()} <= deps
    assert {"stages/report.py", "src/study/report.py", "src/study/plots.py"} <= deps
    outs = {next(iter(o)) for o in stage_spec["outs"]}
    assert outs == {str(REPORT), *(f"reports/figures/{name}" for name in FIGURE_NAMES)}
    assert all(next(iter(o.values())) == {"cache": False} for o in stage_spec["outs"])
    assert set(stage_spec["params"]) == {"report", "linear", "mlp", "c0"}  # what report.py reads


# ----------------------------------------------------------------------------- pure functions

def test_a_changed_metric_changes_the_report_and_the_readme_block(committed):
    _, _, results = committed
    metrics = {**results.linear.metrics, "test": {"accuracy": 0.987654, "loss": 0.1}}
    changed = dataclasses.replace(results, linear=dataclasses.replace(results.linear,
                                                                      metrics=metrics))
    assert "98.77%" in readme_block(changed) and "98.77%" not in readme_block(results)
    assert "| test | 98.77% | 0.1000 |" in report_markdown(changed)


def test_replace_block_rewrites_only_the_block():
    text = f"intro\n{HEADLINE_START}\nold\n{HEADLINE_END}\nrest\n"
    new = f"{HEADLINE_START}\nnew\n{HEADLINE_END}"
    assert replace_block(text, new) == f"intro\n{new}\nrest\n"
    assert replace_block(replace_block(text, new), new) == f"intro\n{new}\nrest\n"
    for broken in ("no markers", f"{HEADLINE_END}\n{HEADLINE_START}",
                   f"{HEADLINE_START}{HEADLINE_START}{HEADLINE_END}"):
        with pytest.raises(ValueError, match="headline:start"):
            replace_block(broken, new)


# -------------------------------------------------------------------------------------- stage

@pytest.fixture
def project(tmp_path):
    """A copy of the committed reports/ with a README of its own, for the stage to write in."""
    root = tmp_path
    shutil.copytree(ROOT / "reports", root / "reports",
                    ignore=shutil.ignore_patterns("report.md", "figures"))
    (root / "README.md").write_text(f"# Title\n\n{HEADLINE_START}\nstale\n{HEADLINE_END}\n\nEnd.\n")
    return root


def test_stage_writes_the_report_its_figures_and_only_the_readme_block(project):
    markdown = stage.write_report(project, PARAMS)
    assert (project / REPORT).read_text() == markdown
    figures = {name: (project / "reports" / "figures" / name).read_bytes()
               for name in FIGURE_NAMES}
    assert all(data.startswith(b"\x89PNG") for data in figures.values())
    readme = (project / "README.md").read_text()
    assert readme.startswith("# Title\n\n" + HEADLINE_START) and readme.endswith(
        HEADLINE_END + "\n\nEnd.\n")
    assert "stale" not in readme and "| result | original attempt | this study |" in readme
    stage.write_report(project, PARAMS)  # same inputs, same bytes: DVC sees no change
    assert {name: (project / "reports" / "figures" / name).read_bytes()
            for name in FIGURE_NAMES} == figures
    assert (project / "README.md").read_text() == readme


def test_stage_refuses_to_link_a_missing_file(project):
    (project / "reports" / "blur" / "filters.png").unlink()
    before = (project / "README.md").read_text()
    with pytest.raises(FileNotFoundError, match=r"blur/filters\.png"):
        stage.write_report(project, PARAMS)
    assert (project / "README.md").read_text() == before
    assert not (project / REPORT).exists()


def test_a_diverged_fraction_point_reads_as_diverged(committed):
    _, _, results = committed
    fraction = [{**p, "test_accuracy": None} if i == 0 else p
                for i, p in enumerate(results.mlp.fraction)]
    changed = dataclasses.replace(results, mlp=dataclasses.replace(results.mlp,
                                                                   fraction=fraction))
    first = results.mlp.fraction[0]
    assert f"| {first['n_train']:,} | diverged |" in report_markdown(changed)
