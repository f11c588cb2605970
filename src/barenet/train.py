"""Mini-batch training and evaluation of a classifier made of barenet modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._checks import check_array, check_labels, check_non_negative, check_positive_int
from .losses import SoftmaxCrossEntropy, add_l2_grad, cross_entropy_grad, log_softmax
from .nn import Module
from .optim import Optimizer

EVAL_BATCH = 4096  # rows per forward pass when evaluating: bounds memory, keeps GEMMs large


def minibatches(n_samples: int, batch_size: int, rng: np.random.Generator
                ) -> Iterator[np.ndarray]:
    """Index arrays covering range(n_samples) in a fresh random order (draw from ``rng`` once
    per call, so every epoch is reshuffled). The last batch may be smaller."""
    batch_size = check_positive_int(batch_size, "batch_size")
    order = rng.permutation(n_samples)
    for start in range(0, n_samples, batch_size):
        yield order[start:start + batch_size]


def predict_scores(model: Module, x: np.ndarray) -> np.ndarray:
    """(N, ...) inputs -> (N, C) scores, in chunks of EVAL_BATCH rows."""
    return np.concatenate([model.forward(x[i:i + EVAL_BATCH])
                           for i in range(0, len(x), EVAL_BATCH)])


@dataclass
class ClassMetrics:
    """What evaluation reports about one data split."""
    loss: float
    accuracy: float
    per_class_loss: np.ndarray      # (C,) mean cross-entropy of the samples of each class
    per_class_accuracy: np.ndarray  # (C,) recall of each class
    confusion: np.ndarray           # (C, C) counts, rows = true class, columns = predicted


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts: entry [t, p] is how many samples of class t were predicted as p."""
    return np.bincount(labels * n_classes + predicted, minlength=n_classes**2).reshape(
        n_classes, n_classes)


def evaluate(model: Module, x: np.ndarray, labels: np.ndarray) -> ClassMetrics:
    """Cross-entropy and accuracy of ``model`` on (x, labels), overall and per class."""
    return _metrics(predict_scores(model, x), labels)


def _losses_and_predictions(scores: np.ndarray, labels: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(N,) cross-entropy of each sample and (N,) predicted classes."""
    labels = check_labels(labels, len(scores), scores.shape[1])
    return SoftmaxCrossEntropy().per_sample(scores, labels), scores.argmax(axis=1)


def _metrics(scores: np.ndarray, labels: np.ndarray) -> ClassMetrics:
    n_classes = scores.shape[1]
    losses, predicted = _losses_and_predictions(scores, labels)
    correct = predicted == labels
    counts = np.bincount(labels, minlength=n_classes)
    with np.errstate(invalid="ignore"):  # a class absent from the split gets NaN, not a crash
        per_class_loss = np.bincount(labels, losses, n_classes) / counts
        per_class_acc = np.bincount(labels, correct, n_classes) / counts
    return ClassMetrics(
        loss=float(losses.mean()),
        accuracy=float(correct.mean()),
        per_class_loss=per_class_loss,
        per_class_accuracy=per_class_acc,
        confusion=confusion_matrix(labels, predicted, n_classes),
    )


@dataclass
class History:
    """Per-epoch record of a ``fit``. Losses are the data cross-entropy (without the penalty),
    measured on the whole split after each epoch, so train and validation compare directly.
    With ``fit(train_every_epoch=False)`` the train lists hold the last epoch's entry only."""
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    diverged_at_epoch: int | None = None  # 1-based epoch in which the loss became NaN or inf

    @property
    def diverged(self) -> bool:
        return self.diverged_at_epoch is not None


def train_epoch(model: Module, optimizer: Optimizer, x: np.ndarray, labels: np.ndarray, *,
                batch_size: int, rng: np.random.Generator, l2_lambda: float = 0.0,
                augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
                ) -> bool:
    """One pass over (x, labels) in random mini-batches: forward, softmax cross-entropy,
    backward (+ the L2 penalty's gradient on the weight matrices), optimiser step. Returns
    False, at once, if the scores became NaN or inf (the run diverged)."""
    l2_lambda = check_non_negative(l2_lambda, "l2_lambda")
    weights = [p for p in model.parameters() if p.data.ndim > 1]
    n_classes = None
    for idx in minibatches(len(x), batch_size, rng):
        optimizer.zero_grad()
        batch = x[idx] if augment is None else augment(x[idx], rng)
        with np.errstate(over="ignore", invalid="ignore"):
            scores = model.forward(batch)
        if not np.isfinite(scores).all():
            return False
        if n_classes is None:  # what SoftmaxCrossEntropy checks every call, checked once
            n_classes = check_array(scores, "scores", ndim=2).shape[1]
            check_labels(labels, len(x), n_classes)
        # the loss's gradient only: its value is not needed to step
        model.backward(cross_entropy_grad(log_softmax(scores), labels[idx]),
                       need_input_grad=False)
        if l2_lambda:
            add_l2_grad(weights, l2_lambda)
        optimizer.step()
    return True


def fit(model: Module, optimizer: Optimizer, x: np.ndarray, labels: np.ndarray, *,
        epochs: int, batch_size: int, rng: np.random.Generator, l2_lambda: float = 0.0,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        on_epoch: Callable[[int, History], None] | None = None,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        train_every_epoch: bool = True) -> History:
    """Train ``model`` with softmax cross-entropy + l2_lambda * sum(W^2) over its weight
    matrices (biases are not penalised), by mini-batch ``optimizer`` steps.

    x: (N, ...) float inputs; labels: (N,) ints. Stops early, recording the epoch, if the loss
    becomes NaN or inf. ``on_epoch(epoch, history)`` is called after each epoch (progress).
    ``augment(batch, rng)``, if given, returns a randomly altered copy of each training batch
    (e.g. ``random_shift``); the epoch's train metrics are measured on the unaltered x.
    ``train_every_epoch=False`` measures the train split after the last epoch only (a pass over
    it costs as much as a fifth of an epoch's training; a sweep needs the curves of validation
    only).
    """
    epochs = check_positive_int(epochs, "epochs")
    l2_lambda = check_non_negative(l2_lambda, "l2_lambda")
    x = check_array(x, "training inputs")
    labels = check_labels(labels, len(x), n_classes=np.iinfo(np.int64).max)
    if validation is not None:
        validation = (check_array(validation[0], "validation inputs"), validation[1])
    history = History()
    for epoch in range(1, epochs + 1):
        if not train_epoch(model, optimizer, x, labels, batch_size=batch_size, rng=rng,
                           l2_lambda=l2_lambda, augment=augment):
            history.diverged_at_epoch = epoch  # recorded, never a crash in the middle of a sweep
            return history
        # the epoch's last step can be the one that blows up: measure before recording
        measure_train = train_every_epoch or epoch == epochs
        train = _loss_and_accuracy_unless_diverged(model, x, labels) if measure_train else ()
        val = (_loss_and_accuracy_unless_diverged(model, *validation)
               if validation is not None else None)
        if train is None or (validation is not None and val is None):
            history.diverged_at_epoch = epoch
            return history
        if measure_train:
            history.train_loss.append(train[0])
            history.train_accuracy.append(train[1])
        if val is not None:
            history.val_loss.append(val[0])
            history.val_accuracy.append(val[1])
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history


def _loss_and_accuracy_unless_diverged(model: Module, x: np.ndarray, labels: np.ndarray
                                       ) -> tuple[float, float] | None:
    """evaluate()'s loss and accuracy (not the per-class figures a history does not keep), or
    None if the model's scores or loss on x are NaN or inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        scores = predict_scores(model, x)
        if not np.isfinite(scores).all():
            return None
        losses, predicted = _losses_and_predictions(scores, labels)
        loss = float(losses.mean())
    return (loss, float((predicted == labels).mean())) if np.isfinite(loss) else None


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
    # fancy index copies each image's window (np.pad and a per-pixel index cost ~5x more).
    s_image, s_row, s_col = padded.strides
    windows = as_strided(padded, (n, 2 * max_shift + 1, 2 * max_shift + 1, h, w),
                         (s_image, s_row, s_col, s_row, s_col), writeable=False)
    return windows[np.arange(n), dy, dx].reshape(images.shape)
