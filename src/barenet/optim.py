"""Optimisers over ``Parameter`` lists, with PyTorch's names and update rules."""

from __future__ import annotations

import numpy as np

from ._checks import check_non_negative, check_positive
from .nn import Parameter


class Optimizer:
    def __init__(self, params):
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError("the optimiser got an empty parameter list")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0


class SGD(Optimizer):
    """Stochastic gradient descent as ``torch.optim.SGD`` (dampening 0, no Nesterov):
    g = grad + weight_decay * w;  v = momentum * v + g;  w -= lr * v."""

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params)
        self.lr = check_positive(lr, "lr (learning rate)")
        self.momentum = check_non_negative(momentum, "momentum")
        self.weight_decay = check_non_negative(weight_decay, "weight_decay")
        self._velocity: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        for i, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                v = self._velocity[i]
                self._velocity[i] = v = g.copy() if v is None else self.momentum * v + g
                g = v
            p.data -= self.lr * g
