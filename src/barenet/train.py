"""Mini-batch training and evaluation of a classifier made of barenet modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_array, check_labels, check_non_negative, check_positive_int
from .losses import SoftmaxCrossEntropy, l2_penalty
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


def _metrics(scores: np.ndarray, labels: np.ndarray) -> ClassMetrics:
    n_classes = scores.shape[1]
    labels = check_labels(labels, len(scores), n_classes)
    losses = SoftmaxCrossEntropy().per_sample(scores, labels)
    correct = scores.argmax(axis=1) == labels
    counts = np.bincount(labels, minlength=n_classes)
    with np.errstate(invalid="ignore"):  # a class absent from the split gets NaN, not a crash
        per_class_loss = np.bincount(labels, losses, n_classes) / counts
        per_class_acc = np.bincount(labels, correct, n_classes) / counts
    return ClassMetrics(
        loss=float(losses.mean()),
        accuracy=float(correct.mean()),
        per_class_loss=per_class_loss,
        per_class_accuracy=per_class_acc,
        confusion=confusion_matrix(labels, scores.argmax(axis=1), n_classes),
    )


@dataclass
class History:
    """Per-epoch record of a ``fit``. Losses are the data cross-entropy (without the penalty),
    measured on the whole split after each epoch, so train and validation compare directly."""
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
    loss_fn = SoftmaxCrossEntropy()
    weights = [p for p in model.parameters() if p.data.ndim > 1]
    for idx in minibatches(len(x), batch_size, rng):
        optimizer.zero_grad()
        batch = x[idx] if augment is None else augment(x[idx], rng)
        with np.errstate(over="ignore", invalid="ignore"):
            scores = model.forward(batch)
        if not np.isfinite(scores).all():
            return False
        loss_fn.forward(scores, labels[idx])
        model.backward(loss_fn.backward(), need_input_grad=False)
        if l2_lambda:
            l2_penalty(weights, l2_lambda)
        optimizer.step()
    return True


def fit(model: Module, optimizer: Optimizer, x: np.ndarray, labels: np.ndarray, *,
        epochs: int, batch_size: int, rng: np.random.Generator, l2_lambda: float = 0.0,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        on_epoch: Callable[[int, History], None] | None = None,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
        ) -> History:
    """Train ``model`` with softmax cross-entropy + l2_lambda * sum(W^2) over its weight
    matrices (biases are not penalised), by mini-batch ``optimizer`` steps.

    x: (N, ...) float inputs; labels: (N,) ints. Stops early, recording the epoch, if the loss
    becomes NaN or inf. ``on_epoch(epoch, history)`` is called after each epoch (progress).
    ``augment(batch, rng)``, if given, returns a randomly altered copy of each training batch
    (e.g. ``random_shift``); the epoch's train metrics are measured on the unaltered x.
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
        train = _metrics_unless_diverged(model, x, labels)
        val = _metrics_unless_diverged(model, *validation) if validation is not None else None
        if train is None or (validation is not None and val is None):
            history.diverged_at_epoch = epoch
            return history
        history.train_loss.append(train.loss)
        history.train_accuracy.append(train.accuracy)
        if val is not None:
            history.val_loss.append(val.loss)
            history.val_accuracy.append(val.accuracy)
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history


def _metrics_unless_diverged(model: Module, x: np.ndarray, labels: np.ndarray
                             ) -> ClassMetrics | None:
    """evaluate(), or None if the model's scores or loss on x are NaN or inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        scores = predict_scores(model, x)
        if not np.isfinite(scores).all():
            return None
        metrics = _metrics(scores, labels)
    return metrics if np.isfinite(metrics.loss) else None


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
    padded = np.pad(images.reshape(n, h, w), ((0, 0), (max_shift, max_shift),
                                              (max_shift, max_shift)), constant_values=fill)
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(h))[:, :, None]
    cols = (dx[:, None] + np.arange(w))[:, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols].reshape(images.shape)
