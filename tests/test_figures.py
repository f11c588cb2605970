"""The report's figures read as dvc.yaml's plots do in `dvc plots show`: each line named in
words by its template, the sweep heatmaps outlining the point best.json names (which the Vega
template finds by the sweep's rule), the per-class accuracy bars with their 95% intervals."""

from pathlib import PurePosixPath

import numpy as np
import pytest
from helpers import PARAMS, ROOT

from study import plots
from study.figures import BEST, draw, plot_definitions, template_param
from study.report import pct
from study.results import ReportInputs

LINES = ("lines", "lines_percent", "lines_log")


@pytest.fixture(scope="module")
def definitions():
    inputs = ReportInputs(ROOT)
    return inputs, plot_definitions(inputs, PARAMS)


def test_every_line_is_named_in_words_by_its_template(definitions):
    inputs, defined = definitions
    unnamed = []
    for plot in (p for p in defined if p.template in LINES):
        names = template_param(inputs, plot.template, "names")
        for path, columns in plot.y.items():
            key = [PurePosixPath(path).name] if len(plot.y) > 1 else columns
            unnamed += [f"{plot.id}: {k}" for k in key if k not in names]
    assert unnamed == [], "add these to the template's param names (.dvc/plots/)"


def test_the_heatmap_template_s_rule_outlines_the_point_best_json_names(definitions):
    """.dvc/plots/heatmap.json outlines the best validation accuracy, ties to the lower
    validation loss (the sweep's rule); the figure outlines best.json's point: the same."""
    inputs, defined = definitions
    heatmaps = [p for p in defined if p.template == "heatmap"]
    assert heatmaps
    for plot in heatmaps:
        path, row_key = plot.only_column()
        scores: dict[tuple, dict] = {}
        for r in inputs.records(path):
            scores.setdefault((r[plot.x], r[row_key]), {})[r["metric"]] = r["value"]
        finished = {p: s for p, s in scores.items() if s["val accuracy"] is not None}
        best_accuracy = max(s["val accuracy"] for s in finished.values())
        tied = {p: s["val loss"] for p, s in finished.items()
                if s["val accuracy"] == best_accuracy}
        chosen = [p for p, loss in tied.items() if loss == min(tied.values())]
        best = inputs.json(str(PurePosixPath(path).with_name(BEST)))
        assert chosen == [(best[plot.x], best[row_key])], plot.id


def test_per_class_accuracy_bars_draw_their_intervals():
    fig = plots.zoomed_bars(["a", "b"], [90.0, 97.0], [(88.0, 91.5), (96.0, 97.8)],
                            "test accuracy (%)", "class", "title", "{:.2f}")
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert 80 < low < 88 and high > 97.8  # zoomed to the values, not from 0
    assert len(ax.containers) == 2  # the bars and their error bars
    plots.close(fig)


def test_lines_lying_on_one_another_differ_in_dashes_marks_and_where_they_are_marked():
    """C0's weight error under three optimisers: nearly equal long lines, which colour alone
    could not tell apart."""
    xs = list(range(500))
    lines = {name: (xs, [2.0 + k / 100] * len(xs)) for k, name in enumerate("abcd")}
    fig = plots.line_chart(lines, "pass", "error", "title", log_y=True)
    drawn = fig.axes[0].get_lines()
    assert len({(line.get_linestyle(), line.get_marker()) for line in drawn}) == 4
    marked = [frozenset(xs[start::step]) for start, step in
              (line.get_markevery() for line in drawn)]
    assert all(0 < len(m) <= 10 for m in marked) and not any(
        a & b for i, a in enumerate(marked) for b in marked[i + 1:])
    legend = [(h.get_linestyle(), h.get_marker()) for h in fig.axes[0].get_legend().legend_handles]
    assert legend == [(line.get_linestyle(), line.get_marker()) for line in drawn]
    plots.close(fig)


def test_each_series_of_a_fraction_chart_has_its_own_dashes_and_marker():
    """This study, the original's recipe re-run and the original's printed numbers: the last
    two once shared one style."""
    series = {name: {10.0: [80.0 + k, 81.0 + k], 100.0: [90.0 + k]}
              for k, name in enumerate(("ours", "re-run", "reported"))}
    fig = plots.mean_stdev_lines(series, "share", "accuracy", "title")
    drawn = [container.lines[0] for container in fig.axes[0].containers]
    assert len(drawn) == 3
    assert len({(line.get_linestyle(), line.get_marker()) for line in drawn}) == 3
    plots.close(fig)


def test_the_mean_and_stdev_dots_print_the_report_s_percentages():
    """Three seeds' validation accuracies (sigma = 0.01's) whose mean is exactly 91.925%: the
    figure writes what the report's pct() writes of the same mean, 91.92 (the mean of the
    percentages rounds to 91.93)."""
    shares = [0.9196666666666666, 0.9189166666666667, 0.9191666666666667]
    fig = plots.mean_stdev_points({"sigma = 0.01": shares}, "validation accuracy",
                                  "initialisation", "title")
    (text,) = [t.get_text() for t in fig.axes[0].texts]
    mean = pct(float(np.mean(shares))).rstrip("%")
    std = pct(float(np.std(shares, ddof=1))).rstrip("%")
    assert text == f"{mean} ± {std}" == "91.92 ± 0.04"
    plots.close(fig)


def test_every_declared_plot_draws(definitions):
    inputs, defined = definitions
    for plot in defined:
        plots.close(draw(plot, inputs))
