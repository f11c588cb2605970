"""The blur experiment: a Gaussian blur of CIFAR-10 images by barenet's Conv2d, checked against
scipy.

The kernel comes from blur.kernel, the 1-D weights w of a separable kernel: the 2-D kernel is
outer(w, w) / sum(w)^2, so it sums to 1 ([1, 2, 1] gives the assignment's 3x3 binomial
[1,2,1] x [1,2,1] / 16). A Conv2d(3, 3, k, padding=k // 2, bias=False) with weight[c, c] =
kernel and zeros elsewhere blurs each colour channel on its own, keeping the 32x32 size (zero
padding), in float64 on pixels scaled to [0, 1]. blur.n_images images of the prepared sample
are used, picked by blur.pick: "per_class" (default) takes the first image of each class in
class order, then the second of each, ... so ten images show ten classes; "first" takes the
first n of the sample (which is sorted by class in the JPEG mirror). The independent
reference is scipy.ndimage.correlate per channel with zero padding (a convolution in
PyTorch's sense is a cross-correlation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import ndimage

import barenet as bn
from study.data import CIFAR10_CLASSES
from study.plots import image_rows, kernel_grid

CHANNELS = ["R", "G", "B"]
REFERENCE = "scipy.ndimage.correlate per image and channel, zero padding (mode='constant')"


def kernel_2d(weights) -> np.ndarray:
    """The normalised (k, k) float64 kernel outer(w, w) / sum(w)^2 of the 1-D weights ``w``
    (blur.kernel: an odd number of non-negative numbers with a positive sum, as
    study.validate checks)."""
    w = np.asarray(weights, dtype=np.float64)
    return np.outer(w, w) / float(w.sum())**2


def pick_images(labels: np.ndarray, n_images, pick: str) -> np.ndarray:
    """Indices (n_images,) into the prepared sample whose int labels are ``labels`` (N,).
    "first": 0..n-1. "per_class": round robin over the classes present, in class order (the
    first image of each class, then the second of each, ...), each class's images in sample
    order."""
    if pick == "first":
        return np.arange(n_images)
    labels = np.asarray(labels)
    rank = np.empty(len(labels), dtype=np.int64)  # position of each image within its class
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[members] = np.arange(len(members))
    order = np.lexsort((labels, rank))  # by rank, then class; stable keeps sample order
    return order[:n_images]


def blur_conv(kernel: np.ndarray, channels: int = 3) -> bn.Conv2d:
    """A Conv2d(channels, channels, k, padding=k // 2, bias=False), float64, whose output
    channel c is input channel c correlated with ``kernel`` (weight[c, c] = kernel, else 0)."""
    k = kernel.shape[0]
    conv = bn.Conv2d(channels, channels, k, padding=k // 2, bias=False, dtype=np.float64)
    conv.weight.data[...] = 0.0
    for c in range(channels):
        conv.weight.data[c, c] = kernel
    return conv


def reference_blur(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """images (N, C, H, W) correlated channel by channel with ``kernel`` by scipy, zero-padded
    to keep the size; float64."""
    out = np.empty(images.shape, dtype=np.float64)
    for n, c in np.ndindex(images.shape[:2]):
        out[n, c] = ndimage.correlate(images[n, c].astype(np.float64), kernel,
                                      mode="constant", cval=0.0)
    return out


def blur(images: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, bn.Conv2d]:
    """images (N, C, H, W) float in [0, 1] -> (blurred (N, C, H, W) float64, the conv used)."""
    conv = blur_conv(kernel, images.shape[1])
    return conv(np.asarray(images, dtype=np.float64)), conv


def to_rgb(images: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) -> (N, H, W, 3), for display."""
    return images.transpose(0, 2, 3, 1)


def blur_outputs(blur_cfg: Mapping, images: np.ndarray, labels: np.ndarray
                 ) -> tuple[dict, str]:
    """The experiment on the prepared sample (uint8 images (N, 3, H, W), int labels (N,)) as
    the files of reports/blur/ (metrics.json: how far the conv is from the reference and how
    much it changes the pixels; info.json: the reference, the images' indices into the sample
    and the kernel; blurred.png: originals above their blurred versions; filters.png: the
    conv's 3 x 3 filters) and a one-line summary."""
    weights = [float(v) for v in blur_cfg["kernel"]]
    kernel = kernel_2d(weights)
    chosen = pick_images(labels, blur_cfg["n_images"], blur_cfg["pick"])
    x = images[chosen].astype(np.float64) / 255.0
    blurred, conv = blur(x, kernel)
    max_diff = float(np.max(np.abs(blurred - reference_blur(x, kernel))))
    k = kernel.shape[0]
    metrics = {  # numbers only, as every metric (study.bars): the rest is info.json's
        "max_abs_diff_vs_reference": max_diff,
        "mean_abs_change": float(np.mean(np.abs(blurred - x))),
        "n_images": len(chosen),
        "kernel_size": int(k),
    }
    info = {"reference": REFERENCE, "images": chosen, "kernel": kernel,
            "pixel_scale": "x / 255, float64"}
    spec = f"[{', '.join(f'{v:g}' for v in weights)}]"
    total = math.fsum(weights) ** 2
    names = [CIFAR10_CLASSES[i] for i in labels[chosen]]
    blurred_fig = image_rows([to_rgb(x), to_rgb(blurred)], ["original", "blurred"], names,
                             suptitle=f"{k} × {k} Gaussian blur (weights {spec} × {spec} / "
                                      f"{total:g}) by our convolution, zero padding")
    filters_fig = kernel_grid(conv.weight.data, CHANNELS,
                              suptitle="The blur's filters: row = output colour, column = input "
                                       "colour\nthe Gaussian on the diagonal, zero elsewhere "
                                       "(colours never mix)")
    summary = (f"{len(chosen)} images, {k}x{k} kernel, max |conv - scipy| = {max_diff:.1e}")
    return {"metrics.json": metrics, "info.json": info, "blurred.png": blurred_fig,
            "filters.png": filters_fig}, summary
