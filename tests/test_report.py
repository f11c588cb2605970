"""The report: reports/report.md and README's headline block say what the committed reports
say. Checked three ways: (1) both are exactly what the templates render from the current
reports/ and params.yaml (so neither is stale); (2) the headline numbers, formatted here
independently of study.report, stand in the right rows; (3) every number in either text is one
of the numbers in the reports or settings, to the precision shown (so none is typed by hand).
Also: the report stage's deps in dvc.yaml are exactly the files the report reads and links,
and its figures are the plots dvc.yaml declares."""

import csv
import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPORTS, ROOT
from scipy import stats

from study import layout
from study.figures import TEMPLATES, interpolate
from study.report import (
    HEADLINE_END,
    HEADLINE_START,
    README,
    appendix_markdown,
    links,
    missing_links,
    prediction_interval,
    readme_block,
    replace_block,
    report_markdown,
    sci,
    with_interval,
    write_report,
)
from study.results import ReportInputs, load_results
from study.stats import wilson_interval

REPORT = layout.report(REPORTS)
APPENDIX = layout.appendix(REPORTS)
MAIN_TEXT_WORDS = 2500  # the main text's prose (issue 20); the appendix has no budget
MAIN_TEXT_FIGURES = 12

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
# a number not glued to a word (float64, C0, SHA-256, CIFAR-10) or a path; "1,234" is 1234
NUMBER = re.compile(r"(?<![\w./])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(e[-+]?\d+)?(%?)"
                    r"(?![\w/])")


def headline(text: str) -> str:
    """README's block between the markers (markers excluded)."""
    start, end = text.index(HEADLINE_START), text.index(HEADLINE_END)
    return text[start + len(HEADLINE_START):end]


@pytest.fixture(scope="module")
def committed():
    """(report.md, README block, loaded results, the files the results were loaded from) as
    committed in the project."""
    inputs = ReportInputs(ROOT)
    results = load_results(inputs, PARAMS)
    return ((ROOT / REPORT).read_text() + (ROOT / APPENDIX).read_text(),
            headline((ROOT / README).read_text()), results, inputs.read)


@pytest.fixture(scope="module")
def main_text():
    return (ROOT / REPORT).read_text()


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
    """Every cell of the confusion matrix in ``path`` (one row per cell), the number of
    mistakes and the number of images."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    counts = np.array([float(row["count"]) for row in rows])
    mistakes = sum(float(row["count"]) for row in rows if row["actual"] != row["predicted"])
    return [*counts, mistakes, counts.sum()]


def number_pool(root: Path, files: set[str], params: dict) -> np.ndarray:
    """Every number the report may quote: those in the settings and in ``files``, the reports
    its text is made from (the plotted-only curves are not among them, which keeps the pool
    small, so a stray number is unlikely to match)."""
    pool = numbers_in(params)
    for path in map(Path, files):
        if path.name == "confusion.csv":
            pool += confusion_counts(root / path)
        elif path.suffix == ".json":
            pool += numbers_in(json.loads((root / path).read_text()))
        elif path.suffix == ".csv":
            with open(root / path, newline="") as f:
                pool += numbers_in([row for row in csv.DictReader(f)])
    return np.unique(np.abs(np.array(pool)))


# "2.03 × 10⁷" as the report writes a quantity spanning many orders of magnitude (study.report.sci)
POWER_OF_TEN = re.compile(r" × 10([⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
FROM_SUPERSCRIPT = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def foreign_numbers(text: str, pool: np.ndarray) -> list[str]:
    """Numbers in ``text`` that no value of ``pool`` rounds to at the precision shown (a
    percentage may also be a fraction x 100); link targets are skipped. A bound ("within X",
    "X at most") must be a value rounded up: it may exceed the value by up to one step shown,
    never fall short of it."""
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = POWER_OF_TEN.sub(lambda m: "e" + m[1].translate(FROM_SUPERSCRIPT), text)
    foreign = []
    for match in NUMBER.finditer(text):
        whole, fraction, exponent, percent = match.groups(default="")
        shown = float(whole.replace(",", "") + fraction + exponent)
        scale = 10.0 ** int(exponent[1:]) if exponent else 1.0
        half_step = 0.5 * 10.0 ** -max(len(fraction) - 1, 0) * scale * (1 + 1e-9)
        bound = (text[:match.start()].endswith("within ")
                 or text[match.end():].startswith(" at most"))
        candidates = [pool, 100 * pool] if percent else [pool]
        if not any(np.any((c <= shown + 1e-9 * abs(shown)) & (c > shown - 2 * half_step)
                          if bound else np.abs(c - shown) <= half_step) for c in candidates):
            foreign.append(whole + fraction + exponent + percent)
    return foreign


# ------------------------------------------------------------------- the committed report/README

def test_report_is_what_the_stage_renders_from_the_committed_reports(committed):
    _, _, results, _ = committed
    assert (ROOT / REPORT).read_text() == report_markdown(results), (
        "reports/report.md is stale: run `python stages/report.py` (or dvc repro)")
    assert (ROOT / APPENDIX).read_text() == appendix_markdown(results), (
        "reports/appendix.md is stale: run `python stages/report.py` (or dvc repro)")


def test_readme_block_is_what_the_stage_renders_from_the_committed_reports(committed):
    _, block, results, _ = committed
    assert HEADLINE_START + block + HEADLINE_END == readme_block(results), (
        "README.md's headline block disagrees with reports/: run `python stages/report.py`")


def test_every_link_of_the_report_exists(committed):
    report = committed[0]
    targets = links(report)
    assert len(targets) == report.count("](") and targets
    assert missing_links(report, (ROOT / REPORT).parent) == []
    block = committed[1]
    assert all((ROOT / t).is_file() for t in links(block))


def test_headline_rows_hold_the_original_and_our_numbers(committed):
    report, block, results, _ = committed
    original = PARAMS["report"]["original"]
    c0 = results.c0
    n = results.linear.n_test
    rows = {  # a word of the row's label -> the strings its cells must hold
        "Linear classifier: original attempt": [f"{original['linear_test_accuracy']:g}%"],
        "Linear classifier: this study": [
            with_interval(results.linear.metrics["test"]["accuracy_mean"], n)],
        "scikit-learn: original attempt": [f"{original['sklearn_test_accuracy']:g}%"],
        "scikit-learn: this study": [with_interval(results.sklearn["test"]["accuracy"], n)],
        "MLP: original attempt": [f"{original['mlp_test_accuracy']:g}%"],
        "MLP: this study": [with_interval(results.mlp.metrics["test"]["accuracy_mean"], n)],
        "CNN: this study": [with_interval(results.cnn.metrics["test"]["accuracy_mean"], n)],
    }
    assert not any("C0" in line for line in block.splitlines() if line.startswith("| "))
    assert sci(c0["cg"]["relative_weight_error"]) in report
    for text in (report, block):
        table_rows = [line for line in text.splitlines() if line.startswith("| ")]
        for label, cells in rows.items():
            row = next(line for line in table_rows if label in line)
            assert all(f" {cell} " in row for cell in cells), (row, cells)


def test_the_c0_stand_in_is_named_and_the_untrained_difference_never_compared(committed):
    """The C0 weights are a stand-in, said wherever they are shown; the original attempt's
    1.93 (an untrained layer's largest signed weight difference) appears only where the report
    says what it measured, never in a table beside a trained error."""
    report, block, *_ = committed
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in (report, readme):
        assert "given filter bank" not in text and "C0 (given)" not in text
    assert "stand-in" in report and "stand-in" in readme
    untrained = f"{PARAMS['report']['original']['c0_untrained_max_signed_difference']:g}"
    for text in (report, block):
        # not 1.93e+05 or 1.93 × 10⁵
        alone = re.compile(rf"(?<![\w.]){re.escape(untrained)}(?![\w.]| ×)")
        lines = [line for line in text.splitlines() if alone.search(line)]
        assert all(not line.startswith("|") and "before any training step" in line
                   for line in lines), lines


def test_quoted_numbers_are_formatted_from_the_metrics(committed):
    report, _, results, _ = committed
    for clf in results.classifiers:
        m = clf.metrics
        accuracy = {row["class"]: row["accuracy"] for row in clf.per_class}
        # metrics.json holds the classes' indices, info.json their names
        best, worst = (clf.info["class_names"][m[key]] for key in ("best_class", "worst_class"))
        assert f"Best class {best} ({100 * accuracy[best]:.2f}%" in report
        assert f"worst class {worst} ({100 * accuracy[worst]:.2f}%)" in report
        for split in ("train", "val", "test"):
            assert f"| {100 * m[split]['accuracy']:.2f}% | {m[split]['loss']:.4f} |" in report
        for point in clf.fraction:
            assert (f"| {point['seed']} | {point['n_train']:,} | {point['epochs']} | "
                    f"{100 * point['val_accuracy']:.2f}% | {100 * point['test_accuracy']:.2f}% |"
                    ) in report
    assert f"condition number {sci(results.c0['patch_gram_condition_number'])}" in report
    for record in results.scalar:
        assert f"| {record['f']:.6g} |" in report


def derived_numbers(results) -> list[float]:
    """The numbers the report derives (margins, spreads, gaps, gains), re-derived here from the
    loaded files by code of the test's own."""
    numbers = []
    n_val = results.data["idx"]["counts"]["val"]
    for clf in results.classifiers:
        m = clf.metrics
        points: dict[tuple, dict] = {}
        for r in clf.sweep:
            key = tuple(sorted((k, v) for k, v in r.items() if k not in ("metric", "value")))
            points.setdefault(key, {})[r["metric"]] = r["value"]
        ranked = sorted((v["val accuracy"], -v["val loss"]) for v in points.values()
                        if v["val accuracy"] is not None)
        numbers += [round((ranked[-1][0] - ranked[-2][0]) * n_val),
                    m["val"]["accuracy_std"] * n_val]
        for lr in {dict(k)["lr"] for k in points}:  # the chosen point's column and the others
            column = [v["val accuracy"] for k, v in sorted(points.items(), key=lambda kv: [
                x for x in kv[0] if x[0] != "lr"]) if dict(k)["lr"] == lr]
            numbers += [round((max(column) - min(column)) * n_val),
                        round((max(column[:-1]) - min(column[:-1])) * n_val),
                        round((max(column[:-1]) - column[-1]) * n_val)]
        curves = clf.curves
        numbers += [curves["train_accuracy"][-1] - curves["val_accuracy"][-1],
                    curves["val_loss"][-1] - min(curves["val_loss"])]
        shares = {}
        for point in clf.fraction:
            shares.setdefault(point["n_train"], []).append(point["test_accuracy"])
        means = {n: np.mean(v) for n, v in shares.items()}
        numbers += [x for v in shares.values() for x in (np.mean(v), np.std(v, ddof=1))]
        numbers += [100 * b for v in means.values() for b in wilson_interval(v * 10_000, 10_000)]
        small, large = min(means), max(means)
        # points (of accuracy) per doubling, as the report shows them
        numbers.append(100 * (means[large] - means[small]) / np.log2(large / small))
        numbers += [x for c in clf.class_intervals() for x in (c["low"], c["high"])]
    for ladder in results.ablation.values():  # paired changes and their intervals, in points
        for record in ladder["ladder"][1:] + ladder["leave_one_out"]:
            for change in (record.get("change") or record["loss"]).values():
                numbers += [100 * change[k] for k in ("mean", "low", "high")
                            if change[k] is not None]
    numbers.append(results.data["idx"]["counts"]["train"] + results.data["idx"]["counts"]["val"])
    seeds = len(PARAMS["replicate"]["seeds"])
    for row in results.replication["replication"]:  # a further seed's interval, for misses
        if row["sd"]:
            numbers += list(prediction_interval(row, seeds))
    for row in results.replication["replication"]:  # classes: how many seeds give it
        numbers.append(round(row["mean"] * seeds))
    zero = [row["train_zero_gradient_share"] for row in results.replication["sweep"]]
    numbers.append(zero.index(1.0) + 1 if 1.0 in zero else 0)  # the point from which it stays 1
    observed = PARAMS["replicate"]["mlp"]
    numbers.append(observed["observations"]["large_batch"]["batch_size"] / observed["batch_size"])
    sigma_val = sorted(r["val_accuracy_mean"] for r in results.sigma)
    numbers += [round((sigma_val[-1] - sigma_val[0]) * n_val),
                round((sigma_val[-1] - sigma_val[1]) * n_val)]
    numbers += derived_for_the_main_text(results)
    bias = 1 if PARAMS["linear"]["bias"] else 0
    numbers.append(len(results.linear.class_names) * (28 * 28 + bias))  # the linear model's
    cnn_params = PARAMS["cnn"]  # the CNN against the MLP: errors per class and their changes
    errors = {clf.name: clf.confusion.sum(axis=1) - np.diag(clf.confusion)
              for clf in (results.cnn, results.mlp)}
    fewer = errors["mlp"] - errors["cnn"]
    numbers += [*errors["cnn"], *errors["mlp"], *fewer, errors["cnn"].sum(),
                errors["mlp"].sum(), (fewer > 0).sum(), fewer.max(),
                cnn_params["channels"][1] * 7 * 7, cnn_params["kernel_size"] // 2]
    ours, sk = results.linear.metrics, results.sklearn
    numbers += [ours["test"]["accuracy"] - sk["test"]["accuracy"],
                ours["train"]["accuracy"] - ours["test"]["accuracy"],
                sk["train"]["accuracy"] - sk["test"]["accuracy"]]
    return numbers


def derived_for_the_main_text(results) -> list[float]:
    """The intervals of every test accuracy shown, the test errors set beside the literature's,
    McNemar's counts and p-values, and the spreads the main text quotes."""
    n_test = results.linear.n_test
    shown = [results.sklearn["test"]["accuracy"],
             results.sklearn["at_our_lambda"]["test"]["accuracy"]]
    shown += [row["mean"] / 100 for row in results.replication["replication"]]
    shown += [row["mean"] for row in results.replication["replication"]]
    for clf in (results.linear, results.mlp, results.cnn):
        shown += [clf.metrics["test"]["accuracy"], clf.metrics["test"]["accuracy_mean"]]
    shown += [rung["test_accuracy_mean"] for ladder in results.ablation.values()
              for rung in ladder["ladder"] + ladder["leave_one_out"]
              if rung["test_accuracy_mean"] is not None]
    bounds = [b for a in shown if 0 <= a <= 1 for b in wilson_interval(a * n_test, n_test)]
    bounds += [x for clf in (results.linear, results.mlp, results.cnn)
               for c in clf.class_intervals() for x in (c["low"], c["high"])]
    numbers = [100 * b for b in (*bounds, *(1 - b for b in bounds))]
    numbers += [1 - clf.metrics["test"]["accuracy"] for clf in (results.linear, results.mlp,
                                                                 results.cnn)]
    for a, b in [(results.linear.correct, results.sklearn_correct["chosen"]),
                 (results.linear.correct, results.sklearn_correct["at_our_lambda"]),
                 (results.cnn.correct, results.mlp.correct)]:
        only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
        numbers += [only_a, only_b,
                    stats.binomtest(min(only_a, only_b), only_a + only_b).pvalue]
    numbers.append(math.prod(results.c0_targets["weights"]["shape"][1:]))  # weights per filter
    original = PARAMS["report"]["original"]["linear_fraction_accuracy"]
    numbers.append(original[-1] - original[0])
    numbers += [row["sd"] / 100 for row in results.replication["replication"] if row["sd"]]
    seeds = [s["test_accuracy"] for s in results.linear.metrics["seeds"].values()]
    numbers.append(round((max(seeds) - min(seeds)) * n_test))  # the seeds' spread, in images
    numbers += [1 - clf.metrics["test"]["accuracy_mean"]
                for clf in (results.linear, results.mlp, results.cnn)]
    n_val = results.data["idx"]["counts"]["val"]  # the CNN's choice against its seeds' spread
    numbers.append(results.cnn.metrics["val"]["accuracy_std"] * n_val)
    for clf in (results.linear, results.mlp, results.cnn):
        curves = clf.curves
        numbers += [curves["train_accuracy"][-1] - curves["val_accuracy"][-1],
                    curves["val_loss"][-1] - min(curves["val_loss"]),
                    int(np.argmin(curves["val_loss"])) + 1,
                    100 * (curves["train_accuracy"][-1] - curves["val_accuracy"][-1]),  # points
                    # the gap between validation and training loss, first and last epoch
                    curves["val_loss"][0] - curves["train_loss"][0],
                    curves["val_loss"][-1] - curves["train_loss"][-1]]
    return numbers


def report_pool(results, files) -> np.ndarray:
    """Every number the committed report may show: read or re-derived."""
    return np.unique(np.concatenate([number_pool(ROOT, files, PARAMS),
                                     np.abs(derived_numbers(results))]))


def test_every_number_comes_from_the_reports_or_settings(committed):
    report, block, results, files = committed
    pool = report_pool(results, files)
    assert len(NUMBER.findall(report)) > 100  # the check is not vacuous
    assert foreign_numbers(report, pool) == []
    assert foreign_numbers(block, pool) == []


def test_the_number_check_catches_a_hand_typed_number(committed):
    report, _, results, files = committed
    pool = report_pool(results, files)
    assert foreign_numbers(report + "\nOur best: 99.97% and 12,345 images, 3.14159.", pool) == [
        "99.97%", "12,345", "3.14159"]
    # glued digits are names, not numbers; a rounded value matches only at its own precision
    assert NUMBER.findall("float64 C0 SHA-256 CIFAR-10 Conv2d reports/c0/x.png") == []
    assert foreign_numbers("0.1306", np.array([0.1306257])) == []
    assert foreign_numbers("0.1307", np.array([0.1306257])) == ["0.1307"]
    assert foreign_numbers("2.03 × 10⁷ and 1.87 × 10⁻⁸", np.array([2.0312e7, 1.8749e-8])) == []
    assert foreign_numbers("2.04 × 10⁷", np.array([2.0312e7])) == ["2.04e7"]
    # a bound holds: rounded up, not to the nearest (study.report.bound)
    assert foreign_numbers("within 2.1 × 10⁻¹⁰ and 1.4 × 10⁻¹⁴ at most",
                           np.array([2.026e-10, 1.32e-14])) == []
    assert foreign_numbers("within 2.0 × 10⁻¹⁰ and 1.3 × 10⁻¹⁴ at most",
                           np.array([2.026e-10, 1.32e-14])) == ["2.0e-10", "1.3e-14"]


# ----------------------------------------------------------------------------- pure functions

def test_a_changed_metric_changes_the_report_and_the_readme_block(committed):
    _, _, results, _ = committed
    metrics = {**results.linear.metrics,
               "test": {**results.linear.metrics["test"], "accuracy": 0.987654,
                        "accuracy_mean": 0.987654, "loss": 0.1}}
    changed = dataclasses.replace(results, linear=dataclasses.replace(results.linear,
                                                                      metrics=metrics))
    assert "98.77%" in readme_block(changed) and "98.77%" not in readme_block(results)
    assert "| test | 98.77% | 0.1000 |" in appendix_markdown(changed)


@pytest.mark.parametrize("value, digits, shown", [
    (2.0312e7, 3, "2.03 × 10⁷"), (1.8749e-8, 3, "1.87 × 10⁻⁸"),
    (-2.53137e-15, 6, "-2.53137 × 10⁻¹⁵"), (224038.3, 3, "2.24 × 10⁵"), (12345.6, 3, "12,346"),
    (914.2, 3, "914"), (0.0199, 3, "0.0199"), (0.43721, 6, "0.43721"), (0.0, 3, "0")])
def test_sci_never_writes_e_notation(value, digits, shown):
    assert sci(value, digits) == shown


def test_replace_block_rewrites_only_the_block():
    text = f"intro\n{HEADLINE_START}\nold\n{HEADLINE_END}\nrest\n"
    new = f"{HEADLINE_START}\nnew\n{HEADLINE_END}"
    assert replace_block(text, new) == f"intro\n{new}\nrest\n"
    assert replace_block(replace_block(text, new), new) == f"intro\n{new}\nrest\n"
    for broken in ("no markers", f"{HEADLINE_END}\n{HEADLINE_START}",
                   f"{HEADLINE_START}{HEADLINE_START}{HEADLINE_END}"):
        with pytest.raises(ValueError, match="headline:start"):
            replace_block(broken, new)


# ----------------------------------------------------------------------- writing the report

@pytest.fixture
def project(tmp_path):
    """A copy of the committed reports/, benchmarks/results.json, dvc.yaml and its plot
    templates (.dvc/plots/) with a README of its own, for the report to be written in."""
    root = tmp_path
    shutil.copytree(ROOT / "reports", root / "reports",
                    ignore=shutil.ignore_patterns("report.md", "figures"))
    (root / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "results.json", root / "benchmarks" / "results.json")
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(ROOT / TEMPLATES, root / TEMPLATES)
    (root / README).write_text(f"# Title\n\n{HEADLINE_START}\nstale\n{HEADLINE_END}\n\nEnd.\n")
    return root


def report_stage() -> dict:
    """dvc.yaml's report stage, its ${...} filled in from params.yaml."""
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]
    return {"deps": {interpolate(d, PARAMS) for d in stage["deps"]},
            "outs": {interpolate(next(iter(o)), PARAMS): next(iter(o.values()))
                     for o in stage["outs"]},
            "params": set(stage["params"])}


@pytest.mark.slow
def test_write_report_writes_the_report_its_figures_and_only_the_readme_block(project):
    written = write_report(project, PARAMS)
    assert (project / REPORT).read_text() == written.markdown
    folder = project / layout.figures(REPORTS)
    figures = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert sorted(figures) == sorted(written.figures) and len(figures) > 10
    assert all(data.startswith(b"\x89PNG") for data in figures.values())
    # report.md shows every figure drawn, and links no other file of figures/
    assert {t for t in links(written.markdown + written.appendix)
            if t.startswith(f"{layout.FIGURES}/")} == {
        f"{layout.FIGURES}/{name}" for name in written.figures}
    readme = (project / README).read_text()
    assert readme.startswith("# Title\n\n" + HEADLINE_START) and readme.endswith(
        HEADLINE_END + "\n\nEnd.\n")
    assert "stale" not in readme and "| MNIST test accuracy | setup |" in readme
    committed = {path.name: path.read_bytes()
                 for path in (ROOT / layout.figures(REPORTS)).iterdir()}
    assert committed == figures, (
        "reports/figures/ is not what dvc.yaml's plots: draw (DVC cannot track dvc.yaml as a "
        "dep, so an edited plot definition shows here): run `python stages/report.py`")
    (folder / "old_plot.png").write_bytes(b"")  # a figure whose plot left dvc.yaml
    write_report(project, PARAMS)  # same inputs, same bytes: DVC sees no change
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == figures
    assert (project / README).read_text() == readme


@pytest.mark.slow
def test_the_report_stage_deps_are_exactly_what_the_report_reads_and_links(project):
    """The report's inputs are listed once, in dvc.yaml: its deps under reports/ are the files
    the report read plus those report.md links (figures excepted: they are outputs)."""
    written = write_report(project, PARAMS)
    reports = PARAMS["paths"]["reports"]
    linked = {f"{reports}/{t}" for t in links(written.markdown + written.appendix)
              if not t.startswith(f"{layout.FIGURES}/") and t not in ("report.md", "appendix.md")}
    stage = report_stage()
    assert {d for d in stage["deps"] if d.startswith(f"{reports}/")} == (
        {p for p in written.read if p.startswith(f"{reports}/")} | linked)
    # the rest of what it reads is make bench's CNN epoch, the plot templates (.dvc/plots/,
    # a dep) and dvc.yaml's plots:, which DVC refuses as a dep ("DVC file 'dvc.yaml' cannot
    # be a dependency"): the committed figures are checked against them below.
    # Editing only report code re-runs the report alone: no data/, no training code
    templates = {p for p in written.read if p.startswith(f"{TEMPLATES}/")}
    assert templates and TEMPLATES in stage["deps"]
    assert {p for p in written.read if not p.startswith(f"{reports}/")} == {
        "dvc.yaml", "benchmarks/results.json", *templates}
    assert "benchmarks/results.json" in stage["deps"]
    assert "src/study/templates" in stage["deps"]
    assert not any(d.startswith(("data/", "src/study/classify")) for d in stage["deps"])
    assert stage["outs"] == {REPORT: {"cache": False}, APPENDIX: {"cache": False},
                             layout.figures(reports): {"cache": False}}
    # the settings the report reads
    assert stage["params"] == {"paths.reports", "report", "linear", "mlp", "cnn", "c0",
                               "replicate",
                               "blur.pick", "ablation", "sigma.seeds", "sigma.values"}


def test_write_report_refuses_to_link_a_missing_file(project):
    (project / "reports" / "blur" / "filters.png").unlink()
    before = (project / README).read_text()
    with pytest.raises(FileNotFoundError, match=r"blur/filters\.png"):
        write_report(project, PARAMS)
    assert (project / README).read_text() == before
    assert not (project / REPORT).exists()


def test_a_diverged_fraction_point_reads_as_diverged(committed):
    _, _, results, _ = committed
    fraction = [{**p, "test_accuracy": None} if i == 0 else p
                for i, p in enumerate(results.mlp.fraction)]
    changed = dataclasses.replace(results, mlp=dataclasses.replace(results.mlp,
                                                                   fraction=fraction))
    first = results.mlp.fraction[0]
    mlp_section = appendix_markdown(changed).split("## Two-layer MLP", 1)[1]
    row = next(line for line in mlp_section.splitlines()
               if line.startswith(f"| {100 * first['fraction']:g}% | {first['seed']} | "))
    assert row.endswith("| diverged |"), row


def test_a_learning_rate_whose_every_point_diverged_leaves_the_sweep_caption_to_the_others(
        committed):
    _, _, results, _ = committed
    highest = max(r["lr"] for r in results.linear.sweep)
    sweep = [{**r, "value": None} if r["lr"] == highest else r for r in results.linear.sweep]
    changed = dataclasses.replace(results, linear=dataclasses.replace(results.linear,
                                                                      sweep=sweep))
    spreads = changed.linear.column_spreads()
    assert len(spreads) == len(results.linear.column_spreads()) - 1
    caption = report_markdown(changed).split("figures/linear_sweep.png)", 1)[1].split("\n\n")[1]
    widest = max(s["but_last"] for s in spreads)
    assert caption.endswith(f"lie within {widest} validation images of each other."), caption


def test_the_best_batch_per_learning_rate_breaks_a_tie_as_the_selection_does(committed):
    """Equal validation accuracy: the lower validation loss wins, as in the sweep's choice,
    not whichever batch size comes first."""
    _, _, results, _ = committed
    lr = max(r["lr"] for r in results.mlp.sweep)
    small, large = sorted({r["batch_size"] for r in results.mlp.sweep})[-2:]

    def tied(loss_of_large: float) -> list[dict]:
        return [{**r, "value": 0.999 if r["metric"] == "val accuracy" else
                 (loss_of_large if r["batch_size"] == large else 0.06)}
                if r["lr"] == lr and r["batch_size"] in (small, large)
                and r["metric"] in ("val accuracy", "val loss") else r
                for r in results.mlp.sweep]

    for loss_of_large, best in ((0.05, large), (0.07, small)):
        mlp = dataclasses.replace(results.mlp, sweep=tied(loss_of_large))
        assert dict(mlp.best_row_per_column())[lr] == best


# ----------------------------------------------------------------- the main text, for a reader

def prose(markdown: str) -> str:
    """The text a reader reads: images and link targets dropped (a link keeps its words)."""
    text = "\n".join(line for line in markdown.splitlines() if not line.startswith("!["))
    return re.sub(r"\]\([^)]*\)", "]", text)


def test_the_main_text_keeps_to_its_word_and_figure_budget(main_text):
    """Words as a journal counts them: the prose, tables and figures aside."""
    text = "\n".join(line for line in prose(main_text).splitlines() if not line.startswith("|"))
    words = len(re.findall(r"\S+", text))
    assert 1000 < words <= MAIN_TEXT_WORDS, words
    assert 0 < main_text.count("![") <= MAIN_TEXT_FIGURES
    summary = main_text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert len(summary.split()) <= 250


# a file name, a config key (snake_case), a pipeline word: none belongs in the main text
JARGON = re.compile(r"\b\w+\.(?:json|csv|yaml|py|md|npy|npz|png)\b|\bconf/|\b(?:dvc|DVC)\b"
                    r"|\bparams\b|\bstages?\b|\b[a-z]+_[a-z_]+\b|`")


def test_every_table_row_has_its_headers_cells(main_text):
    """A row with a cell too few shifts every value after it under the wrong header."""
    for table in re.findall(r"(?:^\|.*\n)+", main_text, flags=re.M):
        rows = [line.strip() for line in table.splitlines()]
        widths = {row.count("|") for row in rows}
        assert len(widths) == 1, rows
    assert len(re.findall(r"(?:^\|.*\n)+", main_text, flags=re.M)) >= 5


def test_the_main_text_names_no_file_setting_or_stage(main_text):
    assert JARGON.findall(prose(main_text)) == []
    assert len(JARGON.findall("see `conf/linear` and scale_pixels in metrics.json")) == 5


def test_every_test_accuracy_in_the_main_text_has_its_interval(main_text, committed):
    """Each model's test accuracy (the mean over its seeds, and each share's mean), which the
    main text must show, and the seed-0 model's, where it shows it, carry the 95% interval
    ("92.51% [91.98, 93.01]"); a mean followed by its spread ("± ... over") counts too."""
    results = committed[2]
    required = [results.sklearn["test"]["accuracy"],
                results.sklearn["at_our_lambda"]["test"]["accuracy"]]
    seed_0 = []
    for clf in (results.linear, results.mlp, results.cnn):
        required.append(clf.metrics["test"]["accuracy_mean"])
        seed_0.append(clf.metrics["test"]["accuracy"])
        if clf.fraction:
            summary = [p for p in clf.fraction_summary() if p["mean"] is not None]
            required += [summary[0]["mean"], summary[-1]["mean"]]
    text = prose(main_text)
    for accuracy in required + seed_0:
        shown = f"{100 * accuracy:.2f}%"
        ends = [m.end() for m in re.finditer(re.escape(shown), text)]
        assert ends or accuracy not in required, shown
        # a share of predictions ("99.21% of predictions") is no accuracy, whatever its value
        bare = [text[max(0, i - 60):i + 20] for i in ends
                if not text.startswith((" [", " ±", " of predictions"), i)]
        assert bare == [], (shown, bare)


# sentences once true or never true, each found by an independent read (issue 20): none may
# come back in what a reader reads
STALE = ["its own DVC stage", "its own stage", "evaluated once", "touched once",
         "touch the TEST set exactly once", "the L2 strength are chosen on validation",
         "the L2 strength is chosen on validation"]


def test_no_stale_sentence_comes_back():
    texts = {path: path.read_text() for path in [ROOT / REPORT, ROOT / APPENDIX, ROOT / README,
                                                 *(ROOT / "conf").rglob("*.yaml"),
                                                 *(ROOT / "stages").glob("*.py")]}
    found = [(path.relative_to(ROOT), phrase) for path, text in texts.items()
             for phrase in STALE if phrase.lower() in text.lower()]
    assert found == []
