"""The training loop, for any model, loss and optimiser, and the evaluation of classifiers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .checks import check_array, check_labels, check_positive_int
from .data import Batches
from .losses import L2Penalty, Loss, SoftmaxCrossEntropy
from .nn import Module
from .optim import Optimizer

EVAL_BATCH = 4096  # rows per forward pass when evaluating: bounds memory, keeps GEMMs large


def train_epoch(model: Module, optimizer: Optimizer, loss: Loss, x: np.ndarray,
                targets: np.ndarray, batches: Batches, penalty: L2Penalty | None = None
                ) -> bool:
    """One pass over (x, targets) in mini-batches: for each, forward, ``loss(pred, target)``,
    backward from ``loss.backward()`` (plus the penalty's gradient, if any), optimiser step.

    x: (N, ...) inputs; targets: (N, ...) what ``loss`` compares the predictions with (class
    labels, target outputs). Returns False, at once, if the predictions became NaN or inf (the
    run diverged). The targets are checked once, against the first batch's predictions; each
    batch then goes through ``loss.compute``, the loss without its per-call checks.
    """
    checked = False
    for inputs, target in batches.of(x, targets):
        optimizer.zero_grad()
        with np.errstate(over="ignore", invalid="ignore"):
            pred = model.forward(inputs)
        if not np.isfinite(pred).all():
            return False
        if not checked:
            loss.check_targets(pred, targets)
            checked = True
        loss.compute(pred, target)  # its value is not needed to step, only what backward keeps
        model.backward(loss.backward(), need_input_grad=False)
        if penalty is not None:
            penalty.add_grad(len(inputs))
        optimizer.step()
    return True


def fit(model: Module, optimizer: Optimizer, loss: Loss, x: np.ndarray, targets: np.ndarray,
        *, epochs: int, batches: Batches, penalty: L2Penalty | None = None,
        on_epoch: Callable[[int], bool | None] | None = None) -> int | None:
    """Up to ``epochs`` calls of ``train_epoch``. After each, ``on_epoch(epoch)`` (1-based)
    runs, for measurements, a learning-rate schedule or progress; returning True stops the
    training there (converged, or the measurements diverged).

    x: (N, ...) float inputs, free of NaN and inf; targets: N rows. Returns the epoch in which
    the predictions became NaN or inf (the weights stay as they were then), or None.
    """
    epochs = check_positive_int(epochs, "epochs")
    x = check_array(x, "training inputs")
    if len(targets) != len(x):
        raise ValueError(f"targets must have one row per input: {len(x)} inputs, "
                         f"got {len(targets)} targets")
    for epoch in range(1, epochs + 1):
        if not train_epoch(model, optimizer, loss, x, targets, batches, penalty):
            return epoch
        if on_epoch is not None and on_epoch(epoch):
            break
    return None


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
    """Per-epoch record of a classifier's training, filled by ``record_epoch``: the data
    cross-entropy (without any penalty) and the accuracy on whole splits, measured after an
    epoch, so train and validation compare directly."""
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    diverged_at_epoch: int | None = None  # 1-based epoch in which the loss became NaN or inf

    @property
    def diverged(self) -> bool:
        return self.diverged_at_epoch is not None

    def record_epoch(self, epoch: int, model: Module,
                     train: tuple[np.ndarray, np.ndarray] | None = None,
                     validation: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
        """Measure ``model`` on the (x, labels) splits given (None: not this epoch) and append
        the figures. If a score or loss is NaN or inf, record only ``diverged_at_epoch = epoch``
        and return True (the run diverged: stop it), else False. x: (N, ...), labels: (N,)."""
        figures = {}
        for name, split in (("training", train), ("validation", validation)):
            if split is not None:
                x, labels = split
                figures[name] = _loss_and_accuracy_unless_diverged(
                    model, check_array(x, f"{name} inputs"), labels)
        if None in figures.values():
            self.diverged_at_epoch = epoch  # recorded, never a crash in the middle of a sweep
            return True
        if train is not None:
            self.train_loss.append(figures["training"][0])
            self.train_accuracy.append(figures["training"][1])
        if validation is not None:
            self.val_loss.append(figures["validation"][0])
            self.val_accuracy.append(figures["validation"][1])
        return False


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
