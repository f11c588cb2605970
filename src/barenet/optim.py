"""Optimisers over ``Parameter`` lists, with PyTorch's names and update rules."""

from __future__ import annotations

import numpy as np

from ._checks import check_non_negative, check_positive, check_positive_int
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


class ExponentialLR:
    """Multiply the optimiser's learning rate by ``gamma`` at each ``step()`` (call it once per
    epoch), as ``torch.optim.lr_scheduler.ExponentialLR``."""

    def __init__(self, optimizer: Optimizer, gamma: float):
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma (learning-rate decay per epoch) must be in (0, 1], "
                             f"got {gamma!r}")
        self.optimizer, self.gamma = optimizer, float(gamma)

    def step(self) -> None:
        self.optimizer.lr *= self.gamma


class ConjugateGradient(Optimizer):
    """Nonlinear conjugate gradient (Polak-Ribiere+, with restarts) whose line search is exact
    for QUADRATIC losses; it needs nothing but gradients.

    Used like ``torch.optim.LBFGS``: ``loss = opt.step(closure)``, where ``closure()`` zeroes
    the gradients, runs forward, loss and backward, and returns the loss (a float). Each
    ``step`` is ONE iteration and calls the closure twice:

    1. at the current weights w: the loss L(w) (which ``step`` returns) and g = grad L(w);
    2. at a probe point w + t*d on the search direction d = -g + beta * d_prev, which gives the
       curvature along d through H d = (grad L(w + t d) - g) / t;

    then it moves to w + alpha * d with alpha = -(g^T d) / (d^T H d), the minimiser along d.

    The line search is exact ONLY for a quadratic loss L(w) = w^T H w / 2 + b^T w + c: there
    the difference of two gradients is exactly H t d for any t, and CG reaches the minimiser in
    at most as many iterations as H has distinct eigenvalues (at most the number of weights),
    however ill-conditioned H is, where gradient descent slows down with the condition number.
    For any other loss the curvature is a secant estimate over the probe step and the step is a
    heuristic; a curvature <= 0 raises RuntimeError instead of stepping uphill.

    beta = max(0, g^T (g - g_prev) / (g_prev^T g_prev)) (Polak-Ribiere+, which equals
    Fletcher-Reeves on a quadratic with exact line searches). The direction restarts from
    steepest descent every ``restart`` iterations (default: the number of weights) and whenever
    the conjugate direction is not a descent direction.

    probe_length: ||t d||, the length of the probe step; None (default) means max(||w||, 1).
    A probe as long as the weights keeps the two gradients from cancelling in floating point
    near the minimiser, where d is tiny (for an exact quadratic any length would do).

    After a ``step``: ``loss`` and ``grad_norm`` are the loss and the Euclidean norm of the
    gradient where that step began (``grad_norm`` suits a stopping tolerance); ``iterations``
    counts steps, ``evaluations`` closure calls. The parameters' ``.grad`` then hold the
    probe's gradient, not the gradient at the new weights. The loss, the weights and their
    gradients must be finite (FloatingPointError otherwise).
    """

    def __init__(self, params, restart: int | None = None, probe_length: float | None = None):
        super().__init__(params)
        for p in self.params:
            if not np.issubdtype(p.data.dtype, np.floating):
                raise ValueError(f"ConjugateGradient needs floating-point parameters, got {p!r}")
        n_weights = sum(p.data.size for p in self.params)
        self.restart = n_weights if restart is None else check_positive_int(restart, "restart")
        self.probe_length = (None if probe_length is None
                             else check_positive(probe_length, "probe_length"))
        self.iterations = 0
        self.evaluations = 0
        self.loss: float | None = None
        self.grad_norm: float | None = None
        self._direction: np.ndarray | None = None
        self._grad_prev: np.ndarray | None = None
        self._since_restart = 0  # iterations since the last steepest-descent direction

    def _weights(self) -> np.ndarray:
        return np.concatenate([p.data.ravel() for p in self.params])

    def _set_weights(self, flat: np.ndarray) -> None:
        start = 0
        for p in self.params:
            p.data[...] = flat[start:start + p.data.size].reshape(p.data.shape)
            start += p.data.size

    def _evaluate(self, closure) -> tuple[float, np.ndarray]:
        loss = closure()
        self.evaluations += 1
        try:
            loss = float(loss)
        except (TypeError, ValueError):
            raise ValueError("the closure must return the loss as a number, "
                             f"got {type(loss).__name__}") from None
        grad = np.concatenate([p.grad.ravel() for p in self.params])
        if not (np.isfinite(loss) and np.isfinite(grad).all()):
            raise FloatingPointError(f"the loss ({loss}) or its gradient is not finite")
        return loss, grad

    def step(self, closure) -> float:
        """One CG iteration (two closure calls); returns the loss at the starting weights."""
        if not callable(closure):
            raise ValueError("ConjugateGradient.step needs a closure: a function that zeroes "
                             "the gradients, runs forward, loss and backward and returns the "
                             f"loss; got {closure!r}")
        w = self._weights()
        if not np.isfinite(w).all():
            raise FloatingPointError("the parameters contain NaN or inf")
        loss, g = self._evaluate(closure)
        self.loss, self.grad_norm = loss, float(np.linalg.norm(g))
        self.iterations += 1
        if self.grad_norm == 0.0:  # a stationary point: nothing to do
            return loss
        d, conjugate_step = -g, False
        if self._direction is not None and self._since_restart < self.restart:
            g_prev = self._grad_prev
            beta = max(0.0, float(g @ (g - g_prev)) / float(g_prev @ g_prev))
            conjugate = beta * self._direction - g
            if float(conjugate @ g) < 0:
                d, conjugate_step = conjugate, True
        self._since_restart = self._since_restart + 1 if conjugate_step else 1

        t = (self.probe_length or max(float(np.linalg.norm(w)), 1.0)) / float(np.linalg.norm(d))
        self._set_weights(w + t * d)
        try:
            _, g_probe = self._evaluate(closure)
        finally:
            self._set_weights(w)
        curvature = float(d @ (g_probe - g)) / t
        if not curvature > 0:
            raise RuntimeError(
                f"the curvature along the search direction is {curvature:.3g} <= 0: the loss "
                "is not convex there, and ConjugateGradient's line search needs a convex "
                "(ideally quadratic) loss")
        alpha = -float(g @ d) / curvature
        self._set_weights(w + alpha * d)
        self._direction, self._grad_prev = d, g
        return loss
