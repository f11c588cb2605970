"""Feeding data to training: random mini-batches, and random shifts to augment images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .checks import check_positive_int

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def minibatches(n_samples: int, batch_size: int, rng: np.random.Generator
                ) -> Iterator[np.ndarray]:
    """Index arrays covering range(n_samples) in a fresh random order (draw from ``rng`` once
    per call, so every epoch is reshuffled). The last batch may be smaller."""
    batch_size = check_positive_int(batch_size, "batch_size")
    order = rng.permutation(n_samples)
    for start in range(0, n_samples, batch_size):
        yield order[start:start + batch_size]


@dataclass
class Batches:
    """How an epoch of training sees the data: ``size`` rows at a time, in a fresh random order
    drawn from ``rng``, each batch of inputs passed through ``augment(batch, rng)`` if given
    (e.g. ``random_shift``)."""
    size: int
    rng: np.random.Generator
    augment: Augment | None = None

    def __post_init__(self):
        self.size = check_positive_int(self.size, "batch_size")

    def of(self, x: np.ndarray, targets: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(inputs, targets) pairs, rows of x (N, ...) and of targets (N, ...), covering every
        row once."""
        for rows in minibatches(len(x), self.size, self.rng):
            inputs = x[rows] if self.augment is None else self.augment(x[rows], self.rng)
            yield inputs, targets[rows]


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator,
                 image_shape: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Translate each image by its own random (dy, dx), each in [-max_shift, max_shift],
    filling the uncovered border with ``fill`` (the background value).

    images: (N, H*W) flattened or (N, H, W), with (H, W) = image_shape; returns the same shape
    and dtype. A classic augmentation for digits: the class does not change when the stroke
    moves by a pixel, so the model learns that it should not care.
    """
    max_shift = int(max_shift)
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    if max_shift == 0:
        return images
    n, (h, w) = len(images), image_shape
    hp, wp = h + 2 * max_shift, w + 2 * max_shift
    padded = np.full((n, hp, wp), fill, dtype=images.dtype)
    padded[:, max_shift:max_shift + h, max_shift:max_shift + w] = images.reshape(n, h, w)
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    # windows[i, a, b] is image i shifted by (a - max_shift, b - max_shift): a strided view of
    # padded (as sliding_window_view builds, without its per-call checks), from which one
    # fancy index copies each image's window without a per-image loop.
    s_image, s_row, s_col = padded.strides
    windows = as_strided(padded, (n, 2 * max_shift + 1, 2 * max_shift + 1, h, w),
                         (s_image, s_row, s_col, s_row, s_col), writeable=False)
    return windows[np.arange(n), dy, dx].reshape(images.shape)
