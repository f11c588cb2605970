"""Figures the stages write as PNG (matplotlib, headless). Plots DVC renders itself (curves,
heatmaps, bars, confusion matrices) are written as data files instead."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on CI or under dvc repro
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
