"""The study's results as one Markdown document (reports/report.md) and the README's headline
block, made from the committed reports/ and the composed settings only: every number is
formatted from a loaded file, none is typed by hand. The original attempt's numbers, set beside
ours, are settings too (conf/report).

``load_results`` reads the files; everything else is a pure function of what it returns.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study import plots
from study.io import read_json

REPORTS = Path("reports")
REPORT = REPORTS / "report.md"
FIGURES = "figures"  # under reports/, so report.md links them as figures/<name>.png
MODELS = {"linear": "Linear softmax classifier", "mlp": "Two-layer MLP"}
CLASSIFIER_FIGURES = ("sweep", "curves", "per_class", "confusion", "fraction")
FIGURE_NAMES = [f"{model}_{kind}.png" for model in MODELS for kind in CLASSIFIER_FIGURES] + [
    "c0_errors.png"]
HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"
C0_RUNS = {"sgd": "SGD with momentum", "cg": "conjugate gradient"}


@dataclass(frozen=True)
class Classifier:
    """One classifier's reports (reports/<name>/). sweep: heatmap.json's records; per_class:
    per_class.csv's rows; curves: curves.csv's columns; confusion: (K, K) test counts, row =
    actual class, column = predicted, in the order of ``class_names``; fraction: fraction.csv's
    rows (test_accuracy None where that run diverged)."""
    name: str
    metrics: dict
    sweep: list[dict]
    per_class: list[dict]
    curves: dict[str, list[float]]
    class_names: list[str]
    confusion: np.ndarray
    fraction: list[dict]


@dataclass(frozen=True)
class Results:
    """Everything the report shows. c0_curves: optimiser ("sgd", "cg") -> loss_<opt>.csv's
    columns; data: "mnist", "cifar10" -> reports/data/<name>.json; params: the composed
    settings (params.yaml, with any command-line overrides)."""
    linear: Classifier
    mlp: Classifier
    sklearn: dict
    scalar: list[dict]
    blur: dict
    c0: dict
    c0_targets: dict
    c0_curves: dict[str, dict[str, list[float]]]
    data: dict[str, dict]
    params: dict

    def classifier(self, name: str) -> Classifier:
        return {"linear": self.linear, "mlp": self.mlp}[name]


def source_files() -> list[Path]:
    """Every file under reports/ the report stage reads or links (its DVC dependencies)."""
    files = [REPORTS / "data" / f"{name}.json" for name in ("mnist", "cifar10")]
    for model in MODELS:
        files += [REPORTS / model / name for name in (
            "metrics.json", "heatmap.json", "sweep.md", "per_class.csv", "curves.csv",
            "confusion.csv", "fraction.csv", "weights.png")]
    files += [REPORTS / "sklearn" / "metrics.json", REPORTS / "scalar" / "gradients.json",
              REPORTS / "scalar" / "gradients.md"]
    files += [REPORTS / "blur" / name for name in ("metrics.json", "blurred.png", "filters.png")]
    files += [REPORTS / "c0" / name for name in (
        "metrics.json", "targets.json", "loss_sgd.csv", "loss_cg.csv", "filters.png")]
    return files


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def columns(rows: list[dict[str, str]]) -> dict[str, list[float]]:
    """CSV rows of numbers as one list of floats per column."""
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def load_classifier(root: Path, name: str) -> Classifier:
    folder = root / REPORTS / name
    per_class = [{"class": row["class"], "accuracy": float(row["accuracy"]),
                  "loss": float(row["loss"])} for row in read_csv(folder / "per_class.csv")]
    names = [row["class"] for row in per_class]
    index = {class_name: i for i, class_name in enumerate(names)}
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    for row in read_csv(folder / "confusion.csv"):  # one row per test image
        confusion[index[row["actual"]], index[row["predicted"]]] += 1
    fraction = [{"fraction": float(row["fraction"]), "n_train": int(row["n_train"]),
                 "test_accuracy": float(row["test_accuracy"]) if row["test_accuracy"] else None}
                for row in read_csv(folder / "fraction.csv")]
    return Classifier(name, read_json(folder / "metrics.json"), read_json(folder / "heatmap.json"),
                      per_class, columns(read_csv(folder / "curves.csv")), names, confusion,
                      fraction)


def load_results(root: Path, params: dict) -> Results:
    """Read the reports under ``root``; ``params`` is the composed configuration (a dict)."""
    reports = root / REPORTS
    return Results(
        linear=load_classifier(root, "linear"),
        mlp=load_classifier(root, "mlp"),
        sklearn=read_json(reports / "sklearn" / "metrics.json"),
        scalar=read_json(reports / "scalar" / "gradients.json"),
        blur=read_json(reports / "blur" / "metrics.json"),
        c0=read_json(reports / "c0" / "metrics.json"),
        c0_targets=read_json(reports / "c0" / "targets.json"),
        c0_curves={opt: columns(read_csv(reports / "c0" / f"loss_{opt}.csv")) for opt in C0_RUNS},
        data={name: read_json(reports / "data" / f"{name}.json") for name in ("mnist", "cifar10")},
        params=params,
    )


# ------------------------------------------------------------------------------ number formats

def pct(fraction: float | None) -> str:
    """An accuracy (a fraction) in percent with two decimals, as every accuracy in the report."""
    return "diverged" if fraction is None else f"{100 * fraction:.2f}%"


def quoted_pct(percent: float) -> str:
    """A percentage quoted from elsewhere, with the digits it was given (92 -> "92%")."""
    return f"{percent:g}%"


def err(value: float) -> str:
    """An error or other quantity spanning many orders of magnitude: three significant digits."""
    return f"{value:.3g}"


def loss(value: float) -> str:
    return f"{value:.4f}"


def count(n: int) -> str:
    return f"{n:,}"


def setting(value) -> str:
    """A configured value as it reads in conf/ (0.0001 -> "0.0001", 1e-05 -> "1e-05")."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A Markdown table; ``align`` has one letter per column, "l" (left) or "r" (right)."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return ["| " + " | ".join(header) + " |", rule,
            *("| " + " | ".join(row) + " |" for row in rows)]


# ------------------------------------------------------------------------------------ headline

def dataset_label(results: Results) -> str:
    """The classification data set's name as the text shows it (conf/data's name; MNIST)."""
    name = results.data["mnist"]["dataset"]
    return "MNIST" if name == "mnist" else name


def headline_table(results: Results) -> list[str]:
    """Our headline numbers beside the original attempt's (params report.original)."""
    original, c0 = results.params["report"]["original"], results.c0
    # the original attempt's numbers are MNIST's: another data set has nothing to set beside
    quoted = quoted_pct if dataset_label(results) == "MNIST" else lambda _: "(MNIST only)"
    rows = [[f"{label}, {dataset_label(results)} test accuracy", quoted(original[key]),
             pct(ours["test"]["accuracy"])]
            for label, key, ours in (
                (MODELS["linear"], "linear_test_accuracy", results.linear.metrics),
                ("scikit-learn LogisticRegression", "sklearn_test_accuracy", results.sklearn),
                (MODELS["mlp"], "mlp_test_accuracy", results.mlp.metrics))]
    rows += [
        ["C0 recovery, largest weight difference to C0",
         setting(original["c0_max_weight_difference"]),
         f"{err(c0['cg']['max_abs_weight_error'])} ({C0_RUNS['cg']}); "
         f"{err(c0['sgd']['max_abs_weight_error'])} ({C0_RUNS['sgd']})"]]
    return table(["result", "original attempt", "this study"], rows, "lrr")


def readme_block(results: Results) -> str:
    """The README's headline block, markers included."""
    return "\n".join([
        HEADLINE_START,
        "<!-- written by the report stage (stages/report.py) from reports/: edits are lost -->",
        *headline_table(results),
        "",
        "Every figure and table of the study, and why the numbers differ from the original "
        "attempt's: [reports/report.md](reports/report.md).",
        HEADLINE_END,
    ])


def replace_block(text: str, block: str) -> str:
    """``text`` with the part from HEADLINE_START to HEADLINE_END replaced by ``block``."""
    start, end = text.find(HEADLINE_START), text.find(HEADLINE_END)
    if start < 0 or end < start or text.count(HEADLINE_START) != 1:
        raise ValueError(f"README.md must hold exactly one {HEADLINE_START} line followed by a "
                         f"{HEADLINE_END} line, where the report stage writes the headline "
                         "numbers; add them (e.g. under the first paragraph)")
    return text[:start] + block + text[end + len(HEADLINE_END):]


def differences(results: Results) -> list[str]:
    """What this study does differently from the original attempt, and why it matters."""
    linear, c0 = results.linear, results.c0
    prep = linear.metrics["preprocessing"]
    lp, mp = results.params["linear"], results.params["mlp"]
    sweep = [r["value"] for r in linear.sweep
             if r["metric"] == "val accuracy" and r["value"] is not None]
    shift = mp["shift"]
    sgd, cg = c0["sgd"], c0["cg"]
    original = results.params["report"]["original"]
    return [
        "The original attempt's code is not part of this repository, so its numbers are quoted "
        "as it reported them (`conf/report/default.yaml`). These differences in method account "
        "for the gaps:",
        "",
        f"- **Standardised inputs.** Pixels are divided by their largest possible value and then "
        f"standardised with the mean ({prep['mean']:.4f}) and standard deviation "
        f"({prep['std']:.4f}) of the training split alone, so validation and test data never "
        "leak in. Raw pixels are all non-negative with a large common offset, which makes the "
        "loss a long, narrow valley in which one learning rate is too large for some weights and "
        "too small for others; centred inputs of unit scale let one learning rate suit them all.",
        f"- **A chosen, decaying learning rate.** The learning rate and the L2 strength are "
        f"chosen on a held-out validation split of {count(results.data['mnist']['counts']['val'])}"
        " images, and the test set is evaluated once; across the linear sweep, validation "
        f"accuracy ranges from {pct(min(sweep))} to {pct(max(sweep))}. "
        f"During training it is multiplied by {setting(lp['lr_decay'])} (linear) or "
        f"{setting(mp['lr_decay'])} (MLP) after every epoch, so late epochs settle into the "
        "minimum instead of bouncing around it with the noise of the mini-batches.",
        f"- **Momentum and augmentation for the MLP.** SGD with momentum "
        f"{setting(mp['momentum'])}, and every training image moved by a random shift of up to "
        f"{shift} pixel{'s' if shift != 1 else ''} in each direction, drawn afresh for every "
        "batch: a digit moved by a pixel is the same digit, so the network learns not to depend "
        "on exact stroke positions.",
        "- **A verified convolution.** barenet's Conv2d forward and backward (gradients of the "
        "input, weights and bias) are tested against PyTorch's autograd in float64 and against "
        "finite differences, so the gradient that drives the C0 fit is the true one; with a "
        "wrong backward pass no optimiser can find C0.",
        "- **An optimiser for an ill-conditioned problem.** The C0 loss is quadratic in C's "
        "weights, with a curvature set by the Gram matrix of the image patches, whose condition "
        f"number on these images is {err(c0['patch_gram_condition_number'])}. Natural images "
        "carry little energy at high spatial frequencies, so changing a filter along such a "
        "pattern barely changes its outputs: a small output error does not imply a small weight "
        "error, and gradient descent shrinks the error along those flat directions by a tiny "
        f"fraction per step. Our own SGD with momentum ends, after {count(sgd['epochs'])} epochs, "
        f"with a relative output error of {err(sgd['relative_output_error'])} but weights still "
        f"up to {err(sgd['max_abs_weight_error'])} away from C0's (the original attempt: "
        f"{setting(original['c0_max_weight_difference'])}). Conjugate gradient with an exact "
        "line search (the loss is quadratic, so the best step along each direction has a "
        "closed form), one run per filter, accounts for the curvature; it "
        f"{'converges' if cg['converged'] else 'stops without converging'} in "
        f"{count(cg['iterations'])} iterations, with a largest weight difference of "
        f"{err(cg['max_abs_weight_error'])}.",
    ]


# ---------------------------------------------------------------------------- classifier parts

def grid_keys(clf: Classifier) -> tuple[str, str]:
    """The sweep's (column, row) parameter names: the learning rate across, the other down."""
    keys = [k for k in clf.sweep[0] if k not in ("metric", "value")]
    if len(keys) != 2:
        raise ValueError(f"reports/{clf.name}/heatmap.json: expected a two-parameter grid, got "
                         f"parameters {keys}")
    return (keys[0], keys[1]) if keys[0] == "lr" else (keys[1], keys[0])


def sweep_grid(clf: Classifier, metric: str) -> tuple[list, list, np.ndarray]:
    """(column values, row values, values (rows, cols)) of one sweep metric, each axis in
    ascending order; NaN where the point diverged."""
    col_key, row_key = grid_keys(clf)
    records = [r for r in clf.sweep if r["metric"] == metric]
    cols = sorted({r[col_key] for r in records})
    rows = sorted({r[row_key] for r in records})
    values = np.full((len(rows), len(cols)), np.nan)
    for r in records:
        values[rows.index(r[row_key]), cols.index(r[col_key])] = (
            np.nan if r["value"] is None else r["value"])
    return cols, rows, values


def chosen_cell(clf: Classifier, cols: list, rows: list) -> tuple[int, int]:
    col_key, row_key = grid_keys(clf)
    best = clf.metrics["best"]
    return rows.index(best[row_key]), cols.index(best[col_key])


def sweep_section(clf: Classifier) -> list[str]:
    col_key, row_key = grid_keys(clf)
    cols, rows, accuracy = sweep_grid(clf, "val accuracy")
    chosen = chosen_cell(clf, cols, rows)
    body = []
    for r, row_value in enumerate(rows):
        cells = [pct(None if np.isnan(v) else float(v)) for v in accuracy[r]]
        if r == chosen[0]:
            cells[chosen[1]] = f"**{cells[chosen[1]]}**"
        body.append([f"**{setting(row_value)}**", *cells])
    return [
        f"Validation accuracy after the last epoch for every {col_key} (across) and {row_key} "
        "(down); the chosen point, in bold, has the best validation accuracy (ties: the lower "
        f"validation loss). Validation loss and training accuracy too: [sweep.md]({clf.name}/"
        "sweep.md).",
        "",
        *table([f"{row_key} \\ {col_key}", *(setting(c) for c in cols)], body,
               "l" + "r" * len(cols)),
        "",
        f"![{MODELS[clf.name]}: validation accuracy and loss over the sweep]"
        f"({FIGURES}/{clf.name}_sweep.png)",
    ]


def settings_line(clf: Classifier, section: dict) -> str:
    fixed = ", ".join(f"{key} {setting(value)}" for key, value in section.items()
                      if key != "grid")
    chosen = ", ".join(f"{key} {setting(value)}" for key, value in clf.metrics["best"].items())
    return f"Settings (`conf/{clf.name}`): {fixed}; chosen by the sweep: {chosen}."


def final_section(clf: Classifier) -> list[str]:
    m = clf.metrics
    rows = [[split, pct(m[key]["accuracy"]), loss(m[key]["loss"])]
            for split, key in (("train", "train"), ("validation", "val"), ("test", "test"))]
    return [
        f"Retrained for {m['epochs']} epochs with the chosen settings; the test set is evaluated "
        "once, here.",
        "",
        *table(["split", "accuracy", "loss"], rows, "lrr"),
        "",
        f"![{MODELS[clf.name]}: loss and accuracy per epoch]({FIGURES}/{clf.name}_curves.png)",
        "",
        f"![{MODELS[clf.name]}: learned weights]({clf.name}/weights.png)",
    ]


def top_confusions(clf: Classifier, n: int) -> list[tuple[str, str, int]]:
    """The ``n`` most frequent (actual, predicted, count) mistakes, most frequent first (ties in
    class order)."""
    off = clf.confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:n]
    return [(clf.class_names[a], clf.class_names[p], int(off[a, p]))
            for a, p in zip(*np.unravel_index(order, off.shape), strict=True) if off[a, p]]


def per_class_section(clf: Classifier) -> list[str]:
    m = clf.metrics
    accuracy = {row["class"]: row["accuracy"] for row in clf.per_class}
    errors = int(clf.confusion.sum() - np.trace(clf.confusion))
    mistakes = "; ".join(f"{a} taken for {p} ({count(k)} times)"
                         for a, p, k in top_confusions(clf, 3))
    return [
        f"Best class {m['best_class']} ({pct(accuracy[m['best_class']])} of its test images "
        f"right), worst class {m['worst_class']} ({pct(accuracy[m['worst_class']])}).",
        "",
        f"![{MODELS[clf.name]}: test accuracy per class]({FIGURES}/{clf.name}_per_class.png)",
        "",
        f"{count(errors)} of {count(int(clf.confusion.sum()))} test images are misclassified; "
        f"the most frequent mistakes: {mistakes}.",
        "",
        f"![{MODELS[clf.name]}: test confusion matrix]({FIGURES}/{clf.name}_confusion.png)",
    ]


def fraction_section(clf: Classifier) -> list[str]:
    rows = [[f"{100 * p['fraction']:g}%", count(p["n_train"]), pct(p["test_accuracy"])]
            for p in clf.fraction]
    return [
        "Retrained with the chosen settings on a seeded random share of the training split:",
        "",
        *table(["share of the training split", "training images", "test accuracy"], rows, "rrr"),
        "",
        f"![{MODELS[clf.name]}: test accuracy against training set size]"
        f"({FIGURES}/{clf.name}_fraction.png)",
    ]


def sklearn_section(results: Results) -> list[str]:
    ours, theirs = results.linear.metrics, results.sklearn
    rows = [[name, *(pct(m[split]["accuracy"]) for split in ("train", "val", "test"))]
            for name, m in (("barenet softmax classifier (SGD)", ours),
                            (f"scikit-learn LogisticRegression (C = {setting(theirs['C'])})",
                             theirs))]
    status = "converged" if theirs["converged"] else "stopped before converging"
    return [
        "The same model fitted by scikit-learn (lbfgs) on the same split and preprocessing (in "
        f"{theirs['dtype']}, on one thread; {status} after {count(theirs['iterations'])} "
        "iterations):",
        "",
        *table(["model", "train", "validation", "test"], rows, "lrrr"),
    ]


def classifier_section(results: Results, name: str) -> list[str]:
    clf = results.classifier(name)
    parts = [
        f"## {MODELS[name]}", "",
        settings_line(clf, results.params[name]), "",
        "### Hyperparameter sweep", "", *sweep_section(clf), "",
        "### Final model", "", *final_section(clf), "",
        "### Per class", "", *per_class_section(clf), "",
    ]
    if name == "linear":
        parts += ["### scikit-learn comparison", "", *sklearn_section(results), ""]
    return parts + ["### Training set size", "", *fraction_section(clf), ""]


# ---------------------------------------------------------------------------------- other parts

def data_section(results: Results) -> list[str]:
    mnist, cifar = results.data["mnist"], results.data["cifar10"]
    counts = mnist["counts"]
    return [
        "## Data", "",
        f"{dataset_label(results)}: the official training set split into "
        f"{count(counts['train'])} training and {count(counts['val'])} validation images (seed "
        f"{mnist['split']['seed']}), and the official {count(counts['test'])} test images; "
        "hyperparameters are chosen on validation only. Every raw file is checked against the "
        "SHA-256 in conf/data/ where it is pinned, so its bytes are the same whether downloaded "
        "or read from a mirror.",
        "",
        f"CIFAR-10: {count(cifar['n_images'])} images of the {cifar['split']} split, drawn with "
        f"seed {cifar['seed']}, for the blur and C0 experiments. Source: {cifar['source']}.",
        "",
    ]


def scalar_section(results: Results) -> list[str]:
    records = results.scalar
    rows = [[*(setting(float(v)) for v in r["point"]), f"{r['f']:.6g}",
             *(f"{g:.6g}" for g in r["grad"]), err(r["fd_rel_error"])] for r in records]
    return [
        "## Scalar autograd", "",
        f"`f(x, y, z) = {records[0]['expression']}` and its gradient by reverse mode through "
        "barenet's scalar graph, checked against centred finite differences of an independent "
        "plain-math f (relative error over the gradient vector; details in "
        "[gradients.md](scalar/gradients.md)).",
        "",
        *table(["x", "y", "z", "f", "df/dx", "df/dy", "df/dz", "finite-difference error"], rows,
               "rrrrrrrr"),
        "",
    ]


def blur_section(results: Results) -> list[str]:
    b = results.blur
    k = b["kernel_size"]
    kernel = ", ".join("[" + ", ".join(setting(float(v)) for v in row) + "]"
                       for row in b["kernel"])
    return [
        "## Gaussian blur with barenet's Conv2d", "",
        f"A {k}×{k} Gaussian kernel `[{kernel}]`, the same for each colour channel, applied by "
        f"barenet's Conv2d to {b['n_images']} CIFAR-10 images. Largest difference to the "
        f"independent reference, {b['reference']}: {err(b['max_abs_diff_vs_reference'])}. Mean "
        f"absolute change of a pixel: {err(b['mean_abs_change'])}.",
        "",
        "![CIFAR-10 images and their blurred versions](blur/blurred.png)",
        "",
        "![The convolution's filters](blur/filters.png)",
        "",
    ]


def c0_section(results: Results) -> list[str]:
    c0, targets, settings = results.c0, results.c0_targets, results.params["c0"]
    out_channels, in_channels, kh, kw = targets["weights"]["shape"]
    runs = [("start (the same random weights for both)", c0["initial"], None),
            *((label, c0[opt], c0[opt]) for opt, label in C0_RUNS.items()),
            ("closed-form least squares (a reference, not a fit)",
             c0["least_squares_reference"], None)]
    rows = [[label, err(e["max_abs_weight_error"]), err(e["relative_weight_error"]),
             err(e["relative_output_error"]),
             count(run["iterations"]) if run else "", count(run["gradient_passes"]) if run else "",
             ("yes" if run["converged"] else "no") if run else ""]
            for label, e, run in runs]
    sgd, cg = settings["sgd"], settings["cg"]
    return [
        "## Recovering C0's weights", "",
        f"A fixed layer C0 ({out_channels} filters of {kh}×{kw} over {in_channels} colour "
        f"channels, zero bias, weights from `{targets['weights']['file_name']}`) makes target "
        f"outputs on {count(targets['inputs']['shape'][0])} CIFAR-10 images. A fresh bias-free "
        "layer C of the same shape is fitted to them from random weights by two optimisers, "
        "both driven only by barenet's Conv2d gradients of the L2 loss: mini-batch SGD with "
        f"momentum (learning rate {setting(sgd['lr'])}, momentum {setting(sgd['momentum'])}, "
        f"batch size {sgd['batch_size']}, at most {count(sgd['max_epochs'])} epochs) and "
        "conjugate gradient with an exact line search, one run per filter (stops when the "
        f"gradient norm falls to {setting(cg['tol'])} of its start, at most "
        f"{count(cg['max_iter'])} iterations). The weight differences below compare C with C0; "
        "the output error is relative to C0's outputs. The Gram matrix of the image patches, "
        f"the loss's curvature, has condition number {err(c0['patch_gram_condition_number'])}.",
        "",
        *table(["weights", "largest weight difference", "relative weight error",
                "relative output error", "iterations", "gradient passes", "converged"], rows,
               "lrrrrrr"),
        "",
        "A gradient pass is one gradient over all the images (an SGD epoch, or half a conjugate "
        "gradient iteration).",
        "",
        f"![C0 recovery: errors per gradient pass]({FIGURES}/c0_errors.png)",
        "",
        "![C0's filters beside C's after each optimiser](c0/filters.png)",
        "",
    ]


def report_markdown(results: Results) -> str:
    """The whole of reports/report.md; its links are relative to reports/."""
    lines = [
        "# barenet: the study's results", "",
        "Written by the `report` stage (`stages/report.py`) from the committed files under "
        "`reports/` and the settings in `params.yaml`: every number below is read from them, and "
        "`dvc repro` rewrites this file when they change. The plots `dvc plots show` draws "
        "interactively appear here as static images.",
        "",
        "## This study beside the original attempt", "",
        *headline_table(results), "",
        *differences(results), "",
        *data_section(results),
        *classifier_section(results, "linear"),
        *classifier_section(results, "mlp"),
        *scalar_section(results),
        *blur_section(results),
        *c0_section(results),
    ]
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def links(markdown: str) -> list[str]:
    """The targets of every Markdown link and image in ``markdown``, in order."""
    return LINK.findall(markdown)


def missing_links(markdown: str, base: Path) -> list[str]:
    """Link targets in ``markdown`` that are not files under ``base`` (web links excepted)."""
    return [target for target in links(markdown)
            if "://" not in target and not (base / target).is_file()]


# -------------------------------------------------------------------------------------- figures

def figures(results: Results) -> Iterator[tuple[str, object]]:
    """(file name in reports/figures/, matplotlib figure) for each of FIGURE_NAMES; the caller
    saves and closes each before asking for the next."""
    for name in MODELS:
        clf = results.classifier(name)
        title = MODELS[name]
        col_key, row_key = grid_keys(clf)
        cols, rows, accuracy = sweep_grid(clf, "val accuracy")
        _, _, val_loss = sweep_grid(clf, "val loss")
        yield f"{name}_sweep.png", plots.sweep_heatmaps(
            accuracy, val_loss, [setting(r) for r in rows], [setting(c) for c in cols],
            row_key, col_key, chosen_cell(clf, cols, rows), f"{title}: validation sweep")
        c = clf.curves
        yield f"{name}_curves.png", plots.training_curves(
            [int(e) for e in c["epoch"]],
            {"train": c["train_loss"], "validation": c["val_loss"]},
            {"train": c["train_accuracy"], "validation": c["val_accuracy"]},
            f"{title}: training curves (the chosen settings)")
        yield f"{name}_per_class.png", plots.class_accuracy_bars(
            clf.class_names, [row["accuracy"] for row in clf.per_class],
            clf.metrics["best_class"], clf.metrics["worst_class"],
            f"{title}: test accuracy per class")
        yield f"{name}_confusion.png", plots.confusion_matrix(
            clf.confusion, clf.class_names, f"{title}: test confusion matrix")
        yield f"{name}_fraction.png", plots.fraction_curve(
            [p["n_train"] for p in clf.fraction], [p["test_accuracy"] for p in clf.fraction],
            f"{title}: test accuracy against training set size")
    curves = results.c0_curves
    panels = {
        ylabel: {C0_RUNS[opt]: (curves[opt]["gradient_passes"], curves[opt][column])
                 for opt in C0_RUNS}
        for ylabel, column in (("relative output error", "relative_output_error"),
                               ("relative weight error", "relative_weight_error"))}
    yield "c0_errors.png", plots.error_curves(
        "gradient passes over all images", panels,
        "C0 recovery: how far C is from C0, per gradient pass")
