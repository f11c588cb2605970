"""Figures the stages write as PNG (matplotlib, headless). Plots DVC renders itself (curves,
heatmaps, bars, confusion matrices) are written as data files for DVC; the report stage draws
the same plot definitions as PNGs with the functions at the end of this module, for
reports/report.md, which cannot show DVC's plots."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")  # no display on CI or under dvc repro
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def image_grid(images: np.ndarray, titles: list[str], ncols: int, suptitle: str,
               cmap: str = "gray", symmetric: bool = False, cell: float = 1.4):
    """A grid of images. images: (K, H, W) for colour-mapped planes or (K, H, W, 3) RGB in
    [0, 1]. ``symmetric`` centres each plane's colour scale on 0 (for weights)."""
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows + 0.5),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        if symmetric:
            bound = float(np.abs(image).max()) or 1.0
            ax.imshow(image, cmap=cmap, vmin=-bound, vmax=bound, interpolation="nearest")
        else:
            ax.imshow(image, cmap=None if image.ndim == 3 else cmap, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def close(fig) -> None:
    plt.close(fig)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an (H, W) or (H, W, 3) image by an integer factor, so a
    32x32 picture shows as crisp blocks rather than being smoothed by the renderer."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def image_rows(rows: list[np.ndarray], row_labels: list[str], titles: list[str],
               suptitle: str, factor: int = 4, cell: float = 1.45):
    """Rows of RGB images, one row per array in ``rows`` (each (K, H, W, 3) in [0, 1], the
    same K), labelled on the left by ``row_labels``; ``titles`` (K) go above the top row."""
    ncols = len(rows[0])
    fig, axes = plt.subplots(len(rows), ncols, figsize=(cell * ncols + 0.6, cell * len(rows) + 0.6),
                             squeeze=False)
    for r, (images, label) in enumerate(zip(rows, row_labels, strict=True)):
        for c, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(upscale(np.clip(image, 0.0, 1.0), factor), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
        axes[r, 0].set_ylabel(label, fontsize=10)
    fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def kernel_grid(weight: np.ndarray, channel_names: list[str], suptitle: str,
                cell: float | None = None):
    """The filters of a convolution, weight (C_out, C_in, kH, kW): one row per output channel,
    one column per input channel, each kH x kW panel shaded by value (shared scale, 0 = white)
    with the value written in every cell (cells of kernels wider than 9 are left unwritten)."""
    c_out, c_in, kh, kw = weight.shape
    cell = cell or max(1.7, 0.5 * max(kh, kw))  # room for the numbers of wider kernels
    low, high = min(0.0, float(weight.min())), max(float(weight.max()), 1e-12)
    fig, axes = plt.subplots(c_out, c_in, figsize=(cell * c_in + 0.8, cell * c_out + 0.8),
                             squeeze=False)
    fontsize = 9 if max(kh, kw) <= 3 else 7
    for o in range(c_out):
        for i in range(c_in):
            ax, panel = axes[o, i], weight[o, i]
            ax.imshow(panel, cmap="Blues", vmin=low, vmax=high, interpolation="nearest")
            if max(kh, kw) <= 9:
                for (p, q), value in np.ndenumerate(panel):
                    shade = (value - low) / (high - low)
                    ax.text(q, p, f"{value:.3g}", ha="center", va="center", fontsize=fontsize,
                            color="white" if shade > 0.6 else "black")
            ax.set_xticks([])
            ax.set_yticks([])
            if o == 0:
                ax.set_title(f"input {channel_names[i]}", fontsize=9)
            if i == 0:
                ax.set_ylabel(f"output {channel_names[o]}", fontsize=9)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def filters_rgb(weights: np.ndarray, bound: float) -> np.ndarray:
    """Colour filters (K, 3, kH, kW) as RGB images (K, kH, kW, 3) in [0, 1]: 0.5 + w / (2 bound),
    clipped. Pass one ``bound`` for every bank to be compared, so equal weights look equal."""
    if weights.ndim != 4 or weights.shape[1] != 3:
        raise ValueError(f"filters must have shape (K, 3, kH, kW), got {weights.shape}")
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}")
    return np.clip(0.5 + weights.transpose(0, 2, 3, 1) / (2 * bound), 0.0, 1.0)


def filter_bank_rows(banks: dict[str, np.ndarray], suptitle: str, cell: float = 0.6):
    """One row of RGB filters per labelled bank, filters side by side, column i = filter i in
    every row. banks: label -> (K, kH, kW, 3) images in [0, 1] (see ``filters_rgb``)."""
    n_filters = max(len(images) for images in banks.values())
    fig, axes = plt.subplots(len(banks), n_filters, squeeze=False,
                             figsize=(cell * n_filters + 1.6, cell * len(banks) + 0.7))
    for row, (label, images) in enumerate(banks.items()):
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(images):
                ax.imshow(images[col], interpolation="nearest")
            else:
                ax.axis("off")
            if row == 0:
                ax.set_title(str(col), fontsize=7)
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


# Figures of the report stage: the plots dvc.yaml declares, drawn as static PNGs a Markdown
# document can show, one function per DVC template (study.figures reads the definitions). Each
# takes plain numbers and returns a figure.

def _text_colour(image, value: float) -> str:
    """Black or white, whichever reads better on the cell ``image`` paints for ``value``."""
    red, green, blue, _ = image.cmap(image.norm(value))
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


# Each line of a line chart (and each series of mean_stdev_lines) has its own dash pattern and
# marker, besides its colour, so that lines lying on one another (C0's weight error under three
# optimisers) and a greyscale print still tell them apart.
LINE_STYLES = ["-", "--", "-.", ":"]
LINE_MARKERS = ["o", "s", "^", "D", "v", "P"]


def line_style(i: int) -> dict[str, str]:
    """The dash pattern and marker of a chart's ``i``-th line (from 0), as plot's keywords."""
    return {"linestyle": LINE_STYLES[i % len(LINE_STYLES)],
            "marker": LINE_MARKERS[i % len(LINE_MARKERS)]}


def line_chart(lines: dict[str, tuple[list[float], list[float]]], x_label: str, y_label: str,
               title: str, log_y: bool = False):
    """DVC's ``linear`` template and the project's ``lines`` ones: one line per entry of
    ``lines`` (label -> (x, y), equal lengths), with a legend; ``log_y``: a log y axis. A line
    of up to 50 points marks each; a longer one every tenth of its points, each line's marks
    shifted along x from the others'."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (label, (xs, ys)) in enumerate(lines.items()):
        step = len(xs) // 10 if len(xs) > 50 else 1
        ax.plot(xs, ys, **line_style(i), markersize=4,
                markevery=(i * step // len(lines), step), label=label)
    if log_y:
        ax.set_yscale("log")
    if all(float(x).is_integer() for xs, _ in lines.values() for x in xs):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, passes: no 2.5
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3, which="both" if log_y else "major")
    ax.legend()
    ax.set_title(_wrapped(title, 80), fontsize=11)
    fig.tight_layout()
    return fig


def _wrapped(title: str, width: int) -> str:
    """``title`` broken into lines of at most ``width`` characters, so it fits its figure."""
    return textwrap.fill(title, width)


def annotated_heatmap(ax, values: np.ndarray, row_labels: list[str], col_labels: list[str],
                      fmt, cmap: str, chosen: tuple[int, int] | None = None) -> None:
    """values (R, C) as coloured cells with ``fmt(value)`` written in each; NaN cells are
    grey and read "diverged"; the cell ``chosen`` (row, column), if any, outlined in red."""
    masked = np.ma.masked_invalid(values)
    colours = plt.get_cmap(cmap).with_extremes(bad="0.85")
    image = ax.imshow(masked, cmap=colours, aspect="auto")
    for (r, c), value in np.ndenumerate(values):
        finite = bool(np.isfinite(value))
        ax.text(c, r, fmt(value) if finite else "diverged", ha="center", va="center",
                fontsize=8, color=_text_colour(image, value) if finite else "black")
    ax.set_xticks(range(len(col_labels)), col_labels)
    ax.set_yticks(range(len(row_labels)), row_labels)
    if chosen is not None:
        row, col = chosen
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red",
                               linewidth=3))
    ax.figure.colorbar(image, ax=ax, shrink=0.85)


def heatmap_panels(panels: dict[str, tuple[np.ndarray, bool]], row_labels: list[str],
                   col_labels: list[str], x_label: str, y_label: str, title: str,
                   chosen: tuple[int, int] | None = None):
    """The project's ``heatmap`` template (.dvc/plots/heatmap.json): one panel per entry of
    ``panels`` (its title -> (values (R, C), NaN where missing; whether they are shares)),
    each cell labelled with its value, a share in percent to two decimals, else to three
    decimals, each panel on its own colour scale; the cell ``chosen`` (row, column) outlined."""
    fig, axes = plt.subplots(1, len(panels), squeeze=False,
                             figsize=(6 * len(panels), 0.45 * len(row_labels) + 2.6))
    for ax, (panel_title, (values, share)) in zip(axes.flat, panels.items(), strict=True):
        annotated_heatmap(ax, 100 * values if share else values, row_labels, col_labels,
                          "{:.2f}".format if share else "{:.3f}".format, "viridis", chosen)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(panel_title, fontsize=10)
    fig.suptitle(_wrapped(title, 110), fontsize=11)
    fig.tight_layout()
    return fig


def horizontal_bars(labels: list[str], values: list[float], x_label: str, y_label: str,
                    title: str):
    """DVC's ``bar_horizontal`` template: one bar per label, the first on top, each labelled
    with its value."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.4))
    ax.barh(range(len(labels)), values)
    for i, value in enumerate(values):
        ax.text(value, i, f" {value:.4g}", va="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.margins(x=0.12)  # room for the value labels
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(_wrapped(title, 80), fontsize=11)
    fig.tight_layout()
    return fig


def zoomed_bars(labels: list[str], values: list[float],
                intervals: list[tuple[float, float]] | None, x_label: str, y_label: str,
                title: str, fmt: str):
    """The project's ``bars`` templates (.dvc/plots/bars*.json): one bar per label, the first
    on top, the axis zoomed to the values' range (and their ``intervals``, (low, high) per
    bar, drawn as error bars), each bar labelled with its value (``fmt``) past its end."""
    ends = [high for _, high in intervals] if intervals else values
    lows = [low for low, _ in intervals] if intervals else values
    span = (max(ends) - min(lows)) or abs(max(ends)) or 1.0
    left = min(lows) - 0.15 * span
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.4))
    rows = np.arange(len(labels))
    ax.barh(rows, np.asarray(values) - left, left=left)
    if intervals:
        ax.errorbar(values, rows, xerr=[[v - low for v, (low, _) in zip(values, intervals,
                                                                         strict=True)],
                                        [high - v for v, (_, high) in zip(values, intervals,
                                                                          strict=True)]],
                    fmt="none", ecolor="black", capsize=3)
    for i, (value, end) in enumerate(zip(values, ends, strict=True)):
        ax.text(end, i, " " + fmt.format(value), va="center", fontsize=8)
    ax.set_yticks(rows, labels)
    ax.invert_yaxis()
    ax.set_xlim(left, max(ends) + 0.2 * span)  # room for the value labels
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(_wrapped(title, 80), fontsize=11)
    fig.tight_layout()
    return fig


def mean_stdev_points(groups: dict[str, list[float]], x_label: str, y_label: str, title: str):
    """The ``mean_stdev_percent`` template (.dvc/plots/): per label, the mean of its values
    (shares) as a dot with error bars of one sample standard deviation, the first label on
    top, in percent. Both are taken of the shares and then scaled, as the report computes
    them: the mean of the percentages can round the other way (91.93 for the report's 91.92)."""
    labels = list(groups)
    means = [100 * float(np.mean(v)) for v in groups.values()]
    stds = [100 * float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in groups.values()]
    # wide enough for the labels and a plot beside them
    fig, ax = plt.subplots(figsize=(max(7.0, 5.6 + 0.085 * max(map(len, labels))),
                                    0.4 * len(labels) + 1.5))
    ax.errorbar(means, range(len(labels)), xerr=stds, fmt="o", capsize=4)
    for i, (mean, std) in enumerate(zip(means, stds, strict=True)):
        ax.annotate(f"{mean:.2f}" + (f" ± {std:.2f}" if std else ""), (mean, i),
                    textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.margins(x=0.08, y=0.25)  # room for the values written above the dots
    ax.set_xlabel(_wrapped(f"{x_label} (%, mean ± standard deviation over seeds)", 55))
    ax.set_ylabel(y_label)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(_wrapped(title, 55), fontsize=11)
    fig.tight_layout()
    return fig


def mean_stdev_lines(series: dict[str, dict[float, list[float]]], x_label: str, y_label: str,
                     title: str):
    """The ``fraction`` template (.dvc/plots/): per series (label -> x -> values), the mean of
    each x's values joined by a line, with error bars of one sample standard deviation, x on a
    log axis labelled by its values. The first series, the study's own, has its means written
    beside its points."""
    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    all_xs: set[float] = set()
    for i, (label, groups) in enumerate(series.items()):
        xs = sorted(groups)
        means = [float(np.mean(groups[x])) for x in xs]
        stds = [float(np.std(groups[x], ddof=1)) if len(groups[x]) > 1 else 0.0 for x in xs]
        ax.errorbar(xs, means, yerr=stds if any(stds) else None,  # none for a printed number
                    **line_style(i), capsize=4, label=label)
        if i == 0:  # to the right of the point, clear of its error bar
            for x, mean in zip(xs, means, strict=True):
                ax.annotate(f"{mean:.2f}", (x, mean), textcoords="offset points",
                            xytext=(7, -10), ha="left", fontsize=8)
        all_xs.update(xs)
    ax.set_xscale("log")
    ax.set_xticks(sorted(all_xs), [f"{x:g}%" for x in sorted(all_xs)])
    ax.minorticks_off()
    ax.margins(x=0.12, y=0.1)
    ax.set_xlabel(x_label)
    ax.set_ylabel(_wrapped(y_label, 40))
    ax.grid(alpha=0.3)
    # below the axes: inside, it would cover some series' error bars
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax.set_title(_wrapped(title, 60), fontsize=11)
    fig.tight_layout()
    return fig


def confusion_matrix(counts: np.ndarray, x_names: list[str], y_names: list[str], x_label: str,
                     y_label: str, title: str):
    """DVC's ``confusion`` template: counts (len(y_names), len(x_names)) as cells, each labelled
    with its count; colours on a log scale so that the few mistakes show beside the large
    diagonal."""
    fig, ax = plt.subplots(figsize=(7.2, 6.2))
    masked = np.ma.masked_equal(counts, 0)
    image = ax.imshow(masked, cmap="Blues", norm=LogNorm(vmin=1, vmax=max(2, counts.max())))
    for (r, c), n in np.ndenumerate(counts):
        if n:
            ax.text(c, r, str(n), ha="center", va="center", fontsize=7,
                    color=_text_colour(image, n))
    ax.set_xticks(range(len(x_names)), x_names)
    ax.set_yticks(range(len(y_names)), y_names)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    fig.colorbar(image, ax=ax, shrink=0.8, label="test images (log scale)")
    ax.set_title(_wrapped(title, 80), fontsize=11)
    fig.tight_layout()
    return fig


def waterfall(start: tuple[str, float], steps: list[tuple[str, float, float | None,
                                                           float | None]],
              y_label: str, title: str):
    """A waterfall: a bar for ``start`` (label, level), then one floating bar per step (label,
    change, interval low, interval high, the interval around the change) from the running
    level, green up and red down, each with its interval as an error bar and its change
    written above it."""
    fig, ax = plt.subplots(figsize=(max(7.0, 0.8 * (len(steps) + 1) + 1.5), 4.8))
    label, level = start
    levels = [level]  # and every interval's ends, so the axis shows them whole
    ax.plot([-0.4, 0.4], [level, level], color="0.3", linewidth=3)
    ax.text(0, level, f"{level:.2f}", ha="center", va="bottom", fontsize=8)
    for i, (_, change, low, high) in enumerate(steps, start=1):
        ax.bar(i, change, bottom=level, color="tab:green" if change >= 0 else "tab:red")
        top = level + max(change, 0)
        if low is not None and high is not None:
            ax.errorbar(i, level + change, yerr=[[change - low], [high - change]], fmt="none",
                        ecolor="black", capsize=3)
            top = max(top, level + high)
            levels += [level + low, level + high]
        ax.annotate(f"{change:+.2f}", (i, top), textcoords="offset points", xytext=(0, 3),
                    ha="center", va="bottom", fontsize=8)  # clear of the interval's cap
        level += change
    ax.set_xticks(range(len(steps) + 1), [label, *(s[0] for s in steps)], rotation=30,
                  ha="right", fontsize=8)
    span = max(levels) - min(levels)
    ax.set_ylim(min(levels) - 0.1 * span - 0.5, max(levels) + 0.15 * span + 0.5)
    ax.set_ylabel(y_label)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(_wrapped(title, 80), fontsize=11)
    fig.tight_layout()
    return fig
