"""barenet: deep-learning building blocks written by hand in NumPy, checked against PyTorch.

NumPy only: no file I/O, no printing, no torch (a model file is bytes in and out:
``model_bytes`` / ``load_model``; the caller reads and writes them). Randomness always comes
from an explicit ``numpy.random.Generator``.
"""

from . import checks, gradcheck, scalar
from .conv import Conv2d
from .data import Batches, minibatches, random_shift
from .losses import (
    L2Loss,
    L2Penalty,
    Loss,
    SoftmaxCrossEntropy,
    l1_penalty,
    l2_penalty,
    log_softmax,
)
from .nn import (
    MLP,
    Flatten,
    Linear,
    Module,
    Parameter,
    ReLU,
    Reshape,
    Sequential,
    SoftmaxClassifier,
)
from .optim import SGD, ConjugateGradient, ExponentialLR, Optimizer
from .pooling import AvgPool2d, MaxPool2d
from .saving import ModelFileError, load_model, model_bytes
from .train import ClassMetrics, History, confusion_matrix, evaluate, fit, train_epoch

__all__ = [
    "MLP", "SGD", "AvgPool2d", "Batches", "ClassMetrics", "ConjugateGradient", "Conv2d",
    "ExponentialLR", "Flatten", "History", "L2Loss", "L2Penalty", "Linear", "Loss", "MaxPool2d",
    "ModelFileError", "Module", "Optimizer", "Parameter", "ReLU", "Reshape", "Sequential",
    "SoftmaxClassifier", "SoftmaxCrossEntropy", "checks", "confusion_matrix", "evaluate", "fit",
    "gradcheck", "l1_penalty", "l2_penalty", "load_model", "log_softmax", "minibatches",
    "model_bytes", "random_shift", "scalar", "train_epoch",
]
