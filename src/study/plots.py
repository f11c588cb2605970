"""Figures the stages write as PNG (matplotlib, headless). Plots DVC renders itself (curves,
heatmaps, bars, confusion matrices) are written as data files for DVC; the report stage draws
the same plot definitions as PNGs with the functions at the end of this module, for
reports/report.md, which cannot show DVC's plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on CI or under dvc repro
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402


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


def line_chart(lines: dict[str, tuple[list[float], list[float]]], x_label: str, y_label: str,
               title: str):
    """DVC's ``linear`` template: one line per entry of ``lines`` (label -> (x, y), equal
    lengths), with a legend."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, (xs, ys) in lines.items():
        ax.plot(xs, ys, marker="." if len(xs) <= 50 else None, label=label)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def annotated_heatmap(ax, values: np.ndarray, row_labels: list[str], col_labels: list[str],
                      fmt, cmap: str) -> None:
    """values (R, C) as coloured cells with ``fmt(value)`` written in each; NaN cells are
    grey and read "diverged"."""
    masked = np.ma.masked_invalid(values)
    colours = plt.get_cmap(cmap).with_extremes(bad="0.85")
    image = ax.imshow(masked, cmap=colours, aspect="auto")
    for (r, c), value in np.ndenumerate(values):
        finite = bool(np.isfinite(value))
        ax.text(c, r, fmt(value) if finite else "diverged", ha="center", va="center",
                fontsize=8, color=_text_colour(image, value) if finite else "black")
    ax.set_xticks(range(len(col_labels)), col_labels)
    ax.set_yticks(range(len(row_labels)), row_labels)
    ax.figure.colorbar(image, ax=ax, shrink=0.85)


def heatmap_panels(panels: dict[str, np.ndarray], row_labels: list[str], col_labels: list[str],
                   x_label: str, y_label: str, title: str):
    """The project's ``heatmap`` template (.dvc/plots/heatmap.json): one panel per entry of
    ``panels`` (its title -> values (R, C), NaN where missing), each cell labelled with its
    value to three decimals, each panel on its own colour scale."""
    fig, axes = plt.subplots(1, len(panels), squeeze=False,
                             figsize=(6 * len(panels), 0.45 * len(row_labels) + 2.4))
    for ax, (panel_title, values) in zip(axes.flat, panels.items(), strict=True):
        annotated_heatmap(ax, values, row_labels, col_labels, "{:.3f}".format, "viridis")
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(panel_title, fontsize=10)
    fig.suptitle(title, fontsize=11)
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
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def mean_stdev_points(groups: dict[str, list[float]], x_label: str, y_label: str, title: str):
    """The ``mean_stdev`` template (.dvc/plots/): per label, the mean of its values as a dot
    with error bars of one sample standard deviation, the first label on top."""
    labels = list(groups)
    means = [float(np.mean(v)) for v in groups.values()]
    stds = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in groups.values()]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(labels) + 1.5))
    ax.errorbar(means, range(len(labels)), xerr=stds, fmt="o", capsize=4)
    for i, (mean, std) in enumerate(zip(means, stds, strict=True)):
        ax.annotate(f"{mean:.4f}" + (f" ± {std:.4f}" if std else ""), (mean, i),
                    textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.margins(y=0.25)
    ax.set_xlabel(f"{x_label} (mean ± standard deviation over seeds)")
    ax.set_ylabel(y_label)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=11)
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
    fig.colorbar(image, ax=ax, shrink=0.8, label="count (log scale)")
    ax.set_title(title, fontsize=11)
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
        ax.text(i, top, f"{change:+.2f}", ha="center", va="bottom", fontsize=8)
        level += change
    ax.set_xticks(range(len(steps) + 1), [label, *(s[0] for s in steps)], rotation=30,
                  ha="right", fontsize=8)
    span = max(levels) - min(levels)
    ax.set_ylim(min(levels) - 0.1 * span - 0.5, max(levels) + 0.15 * span + 0.5)
    ax.set_ylabel(y_label)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig
