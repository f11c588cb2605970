"""The report's figures are the plots dvc.yaml declares (its top-level ``plots:``): each data
plot, drawn with matplotlib the way its DVC template draws it, becomes reports/figures/<id>.png,
so `dvc plots show` and report.md show one definition. Image plots (listed by path alone) are
linked from report.md as they are."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from study import plots
from study.layout import FIGURES
from study.results import ReportInputs

DVC_YAML = "dvc.yaml"
TEMPLATES = ".dvc/plots"  # the project's own Vega-Lite templates, <name>.json
PLOT_ID = re.compile(r"[a-z0-9_]+")
INTERPOLATION = re.compile(r"\$\{([\w.]+)\}")  # DVC's ${key.path}, read from params.yaml
# the fields .dvc/plots/heatmap.json facets by and colours by
HEATMAP_FACET, HEATMAP_VALUE = "metric", "value"
BEST = "best.json"  # beside a sweep's heatmap.json: the chosen point the heatmap outlines
CONFUSION_COUNT = "count"  # the field .dvc/plots/confusion_counts.json colours and labels by


@dataclass(frozen=True)
class PlotDefinition:
    """One data plot of dvc.yaml. y: data file -> the columns (fields) drawn from it."""
    id: str
    template: str
    x: str
    y: dict[str, list[str]]
    title: str
    x_label: str
    y_label: str

    @property
    def file_name(self) -> str:
        return f"{self.id}.png"

    def only_column(self) -> tuple[str, str]:
        """(file, column) of a plot that draws one column of one file."""
        if len(self.y) != 1 or len(next(iter(self.y.values()))) != 1:
            raise ValueError(f"{DVC_YAML}: plot {self.id!r} (template {self.template}) must "
                             f"draw one y column of one file, got {self.y}")
        ((path, (column,)),) = self.y.items()
        return path, column


def interpolate(text: str, params: dict) -> str:
    """``text`` with each ${a.b} replaced by params["a"]["b"], as DVC fills in dvc.yaml."""
    def value(match: re.Match) -> str:
        node = params
        for key in match[1].split("."):
            node = node[key]
        return str(node)
    return INTERPOLATION.sub(value, text)


def plot_definitions(inputs: ReportInputs, params: dict) -> list[PlotDefinition]:
    """The data plots of dvc.yaml, in its order; ``params`` fills in its ${...}."""
    definitions = []
    for entry in inputs.yaml(DVC_YAML).get("plots", []):
        if isinstance(entry, str):
            continue  # an image: report.md links it
        ((plot_id, spec),) = entry.items()
        plot_id = interpolate(plot_id, params)
        if not PLOT_ID.fullmatch(plot_id):
            raise ValueError(f"{DVC_YAML}: plot id {plot_id!r} names the report's figure "
                             f"{FIGURES}/<id>.png beside report.md: use lower-case letters, "
                             "digits and _ (e.g. linear_loss) and put the words in the plot's "
                             "title:")
        if spec.get("template") not in DRAWERS:
            raise ValueError(f"{DVC_YAML}: plot {plot_id!r} has template "
                             f"{spec.get('template')!r}; the report draws {sorted(DRAWERS)}: "
                             "use one of them or add a drawer to study/figures.py")
        y = {interpolate(path, params): [columns] if isinstance(columns, str) else list(columns)
             for path, columns in spec["y"].items()}
        definitions.append(PlotDefinition(
            plot_id, spec["template"], spec["x"], y, spec.get("title", plot_id),
            spec.get("x_label", spec["x"]),
            spec.get("y_label", ", ".join(dict.fromkeys(c for cs in y.values() for c in cs)))))
    return definitions


def _number(value) -> float:
    """A CSV cell or JSON value as a float; an empty cell or null (a diverged run) is NaN."""
    return np.nan if value in ("", None) else float(value)


def template_param(inputs: ReportInputs, template: str, name: str):
    """The value of the param ``name`` of the project's template ``template``
    (.dvc/plots/<template>.json): the words and settings the Vega spec and the figure share."""
    spec = inputs.json(f"{TEMPLATES}/{template}.json")
    return next(param["value"] for param in spec["params"] if param["name"] == name)


def draw_lines(plot: PlotDefinition, inputs: ReportInputs):
    """The ``lines`` templates (.dvc/plots/lines*.json): one line per (file, column), named in
    words by the template's ``names`` (the file's name when the plot draws one column from
    several files, else the column); ``lines_percent`` draws shares in percent, ``lines_log``
    on a log axis."""
    names = template_param(inputs, plot.template, "names")
    scale = 100.0 if plot.template == "lines_percent" else 1.0
    lines = {}
    for path, columns in plot.y.items():
        rows = inputs.records(path)
        file_name = PurePosixPath(path).name
        for column in columns:
            label = names.get(file_name) if len(plot.y) > 1 else None
            label = label or names.get(column, column)
            points = [(_number(row[plot.x]), scale * _number(row[column])) for row in rows]
            drawn = [(x, y) for x, y in points if not np.isnan(y)]  # a gap where a run diverged
            lines[label] = ([x for x, _ in drawn], [y for _, y in drawn])
    return plots.line_chart(lines, plot.x_label, plot.y_label, plot.title,
                            log_y=plot.template == "lines_log")


def draw_linear(plot: PlotDefinition, inputs: ReportInputs):
    """One line per (file, column), labelled by the column, or by the file when the plot
    draws the same column from several files."""
    lines = {}
    for path, columns in plot.y.items():
        rows = inputs.records(path)
        for column in columns:
            stem = PurePosixPath(path).stem
            label = (column if len(plot.y) == 1 else stem if len(columns) == 1
                     else f"{stem}: {column}")
            points = [(_number(row[plot.x]), _number(row[column])) for row in rows]
            drawn = [(x, y) for x, y in points if not np.isnan(y)]  # a gap where a run diverged
            lines[label] = ([x for x, _ in drawn], [y for _, y in drawn])
    return plots.line_chart(lines, plot.x_label, plot.y_label, plot.title)


def draw_heatmap(plot: PlotDefinition, inputs: ReportInputs):
    """x across and y down, both ascending (as the report's tables and the template put
    them), one panel per metric, named by the template's ``names``, those in its ``percent``
    written in percent; the chosen point, which best.json beside the file names, outlined."""
    path, row_key = plot.only_column()
    records = inputs.records(path)
    names = template_param(inputs, plot.template, "names")
    percent = template_param(inputs, plot.template, "percent")
    best = inputs.json(str(PurePosixPath(path).with_name(BEST)))
    cols = sorted({r[plot.x] for r in records})
    rows = sorted({r[row_key] for r in records})
    panels: dict[str, tuple[np.ndarray, bool]] = {}
    for r in records:
        metric = r[HEATMAP_FACET]
        values, _ = panels.setdefault(names.get(metric, metric), (
            np.full((len(rows), len(cols)), np.nan), metric in percent))
        values[rows.index(r[row_key]), cols.index(r[plot.x])] = _number(r[HEATMAP_VALUE])
    chosen = (rows.index(best[row_key]), cols.index(best[plot.x]))
    return plots.heatmap_panels(panels, [str(v) for v in rows], [str(v) for v in cols],
                                plot.x_label, plot.y_label, plot.title, chosen)


def draw_bar_horizontal(plot: PlotDefinition, inputs: ReportInputs):
    """One bar per row: x its length, the y column its label."""
    path, label_key = plot.only_column()
    rows = inputs.records(path)
    return plots.horizontal_bars([str(row[label_key]) for row in rows],
                                 [_number(row[plot.x]) for row in rows],
                                 plot.x_label, plot.y_label, plot.title)


def draw_bars(plot: PlotDefinition, inputs: ReportInputs):
    """The ``bars`` templates (.dvc/plots/bars*.json): one bar per row, the y column its
    label, zoomed to the values' range, with the interval [<x>_low, <x>_high] where the file
    has those columns; ``bars_percent`` draws shares in percent."""
    path, label_key = plot.only_column()
    rows = inputs.records(path)
    scale = 100.0 if plot.template == "bars_percent" else 1.0

    def column(name: str) -> list[float] | None:
        if not rows or name not in rows[0]:
            return None
        return [scale * _number(row[name]) for row in rows]

    values, low, high = column(plot.x), column(f"{plot.x}_low"), column(f"{plot.x}_high")
    intervals = list(zip(low, high, strict=True)) if low and high else None
    return plots.zoomed_bars([str(row[label_key]) for row in rows], values, intervals,
                             plot.x_label, plot.y_label, plot.title,
                             "{:.2f}" if scale != 1.0 else "{:.4g}")


def draw_confusion_counts(plot: PlotDefinition, inputs: ReportInputs):
    """A matrix stored one row per cell: the ``count`` of each (x, y) pair of values, x across
    and y down, the values in the order the file first names them."""
    path, y_key = plot.only_column()
    rows = inputs.records(path)
    x_names = list(dict.fromkeys(str(row[plot.x]) for row in rows))
    y_names = list(dict.fromkeys(str(row[y_key]) for row in rows))
    counts = np.zeros((len(y_names), len(x_names)), dtype=np.int64)
    for row in rows:
        counts[y_names.index(str(row[y_key])), x_names.index(str(row[plot.x]))] = \
            int(row[CONFUSION_COUNT])
    return plots.confusion_matrix(counts, x_names, y_names, plot.x_label, plot.y_label,
                                  plot.title)


def draw_mean_stdev_percent(plot: PlotDefinition, inputs: ReportInputs):
    """One row per y value, in the file's order: the mean of x (a share, in percent) over its
    rows and error bars of one sample standard deviation (Vega-Lite's stdev extent)."""
    path, label_key = plot.only_column()
    groups: dict[str, list[float]] = {}
    for row in inputs.records(path):
        groups.setdefault(str(row[label_key]), []).append(_number(row[plot.x]))
    return plots.mean_stdev_points(groups, plot.x_label, plot.y_label, plot.title)


def draw_fraction(plot: PlotDefinition, inputs: ReportInputs):
    """Per y column, named in words by the template's ``names``: per x value (a share), in
    percent on a log axis, the mean of the column (an accuracy, in percent) over its rows
    (seeds) joined by a line, with one sample standard deviation as error bars
    (.dvc/plots/fraction.json)."""
    names = template_param(inputs, plot.template, "names")
    series: dict[str, dict[float, list[float]]] = {}
    for path, columns in plot.y.items():
        for row in inputs.records(path):
            for column in columns:
                if row[column] not in ("", None):  # a diverged run
                    groups = series.setdefault(names.get(column, column), {})
                    groups.setdefault(100 * _number(row[plot.x]), []).append(
                        100 * _number(row[column]))
    return plots.mean_stdev_lines(series, plot.x_label, plot.y_label, plot.title)


def draw_waterfall(plot: PlotDefinition, inputs: ReportInputs):
    """Per row, a floating bar from ``start`` to the y column, with the interval [low, high]
    (.dvc/plots/waterfall.json); the first row is the starting level."""
    path, end = plot.only_column()
    rows = inputs.records(path)
    first, rest = rows[0], rows[1:]
    steps = [(str(r[plot.x]), _number(r[end]) - _number(r["start"]),
              *(None if r[k] in ("", None) else _number(r[k]) - _number(r["start"])
                for k in ("low", "high"))) for r in rest]
    return plots.waterfall((str(first[plot.x]), _number(first[end])), steps, plot.y_label,
                           plot.title)


DRAWERS = {"linear": draw_linear, "lines": draw_lines, "lines_percent": draw_lines,
           "lines_log": draw_lines, "heatmap": draw_heatmap,
           "bar_horizontal": draw_bar_horizontal, "bars": draw_bars, "bars_percent": draw_bars,
           "confusion_counts": draw_confusion_counts,
           "mean_stdev_percent": draw_mean_stdev_percent, "waterfall": draw_waterfall,
           "fraction": draw_fraction}


def draw(plot: PlotDefinition, inputs: ReportInputs):
    """The matplotlib figure of ``plot``, its data read through ``inputs``, laid out."""
    fig = DRAWERS[plot.template](plot, inputs)
    # tight_layout leaves a placeholder layout engine on the figure, and for any engine savefig
    # first lays the figure out again in a draw pass of its own; the layout is done, so none.
    fig.set_layout_engine(None)
    return fig
