"""Optimisers over ``Parameter`` lists, with PyTorch's names and update rules."""

from __future__ import annotations

import numpy as np

from .checks import check_non_negative, check_positive, check_positive_int
from .nn import Parameter


class Optimizer:
    def __init__(self, params):
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError("the optimiser got an empty parameter list")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.fill(0)


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
                if v is None:
                    self._velocity[i] = v = g.copy()
                else:  # momentum * v + g, in place: no temporaries the size of the weights
                    v *= self.momentum
                    v += g
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
    """Conjugate gradient with a line search that is exact for QUADRATIC losses, driven only by
    gradients; for ill-conditioned least-squares fits where SGD stalls.

    Used like ``torch.optim.LBFGS``: ``loss = opt.step(closure)``, where ``closure()`` zeroes
    the gradients, runs forward, loss and backward, and returns the loss (a number). Each
    ``step`` is ONE iteration and calls the closure twice:

    1. at the current weights w: the loss (which ``step`` returns) and g = grad L(w);
    2. at a probe point w + t*d on the new search direction d, for the curvature along d:
       H d = (grad L(w + t d) - g) / t;

    then it moves to w + alpha * d with alpha = -(g^T d) / (d^T H d), the minimiser along d.

    The direction is d = -g made H-conjugate (d^T H d_i = 0) to the previous directions d_i,
    using the stored H d_i. With ``memory=1`` that is classic nonlinear CG (Hestenes-Stiefel,
    which on a quadratic with exact line searches equals Polak-Ribiere and Fletcher-Reeves).
    In exact arithmetic the older directions are conjugate anyway and CG reaches the minimiser
    of a quadratic in at most as many steps as the Hessian has distinct eigenvalues; in
    floating point an ill-conditioned Hessian makes them drift, and CG needs many times that.
    ``memory=None`` conjugates against EVERY direction since the last restart (full
    re-conjugation, two vectors of the parameters' size stored per iteration), which restores
    the finite termination.

    separable=True splits the weights into independent problems along the first axis of the
    parameters, which must all have the same length m there: block i is ``p.data[i]`` of every
    parameter (e.g. output channel i's filter and bias), with its own step length, conjugation
    and probe length; all m blocks share the closure calls. This is right only if the Hessian is
    block-diagonal over those blocks, e.g. one layer fitted to fixed targets with a loss summed
    over its output units or channels (each filter meets only its own targets). It matters in
    floating point: blocks with the same Hessian make each of its eigenvalues an m-fold one,
    rounding splits those into many close ones, and a joint CG has to resolve them one by one.

    The line search is exact ONLY for a quadratic loss w^T H w / 2 + b^T w + c, where the
    gradient difference is exactly H t d for any t. For other losses the curvature is a secant
    estimate over the probe step and the method is a heuristic; a curvature <= 0 raises
    RuntimeError instead of stepping uphill.

    restart: iterations between restarts from steepest descent (memory cleared); default the
    number of weights in a block (all of them unless ``separable``), after which a quadratic is
    solved in exact arithmetic. A block whose conjugate direction is not a descent direction
    restarts alone.
    probe_length: ||t d|| per block; None (default) means max(||w||, 1) for that block. A probe
    as long as the weights keeps the two gradients from cancelling in floating point near the
    minimiser, where d is tiny.

    After a ``step``: ``loss`` and ``grad_norm`` are the loss and the Euclidean norm of the
    whole gradient where that step began (``grad_norm`` suits a stopping tolerance);
    ``iterations`` counts steps and ``evaluations`` closure calls. The parameters' ``.grad``
    then hold the probe's gradient, not the gradient at the new weights.
    """

    def __init__(self, params, memory: int | None = 1, separable: bool = False,
                 restart: int | None = None, probe_length: float | None = None):
        super().__init__(params)
        if not isinstance(separable, bool | np.bool_):
            raise ValueError(f"separable must be True or False, got {separable!r}")
        for p in self.params:
            if not np.issubdtype(p.data.dtype, np.floating):
                raise ValueError(f"ConjugateGradient needs floating-point parameters, got {p!r}")
            if p.data.size == 0:
                raise ValueError(f"ConjugateGradient got an empty parameter {p!r}")
        self.separable = bool(separable)
        if self.separable:
            lengths = {p.data.shape[0] if p.data.ndim else None for p in self.params}
            if len(lengths) != 1 or None in lengths:
                raise ValueError(
                    "separable=True needs parameters of equal length along their first axis "
                    "(block i is slice i of every parameter), got shapes "
                    f"{[p.data.shape for p in self.params]}")
            # block of each flat weight: the index along the first axis of its parameter
            self._block = np.concatenate([np.repeat(np.arange(p.data.shape[0]),
                                                    p.data.size // p.data.shape[0])
                                          for p in self.params])
        else:
            self._block = np.zeros(sum(p.data.size for p in self.params), dtype=np.intp)
        self.n_blocks = int(self._block.max()) + 1
        self.memory = None if memory is None else check_positive_int(memory, "memory")
        block_size = len(self._block) // self.n_blocks
        self.restart = (block_size if restart is None
                        else check_positive_int(restart, "restart"))
        self.probe_length = (None if probe_length is None
                             else check_positive(probe_length, "probe_length"))
        self.iterations = 0
        self.evaluations = 0
        self.loss: float | None = None
        self.grad_norm: float | None = None
        # previous directions d_i, their H d_i and per-block curvatures d_i^T H d_i (inf where
        # a block has restarted since, which makes its conjugation coefficient 0)
        self._history: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._since_restart = 0

    def _blockwise_dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.bincount(self._block, weights=a * b, minlength=self.n_blocks)

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

    def _direction(self, g: np.ndarray) -> np.ndarray:
        """-g made H-conjugate to the remembered directions, block by block (one modified
        Gram-Schmidt pass in the H inner product)."""
        if self._since_restart >= self.restart:
            self._history, self._since_restart = [], 0
        d = -g
        for d_i, hd_i, curv_i in self._history:
            d -= (self._blockwise_dot(d, hd_i) / curv_i)[self._block] * d_i
        uphill = self._blockwise_dot(d, g) >= 0
        if uphill.any():  # lost conjugacy in these blocks: steepest descent, forget the past
            d[uphill[self._block]] = -g[uphill[self._block]]
            for _, _, curv_i in self._history:
                curv_i[uphill] = np.inf
        return d

    def step(self, closure) -> float:
        """One iteration (two closure calls); returns the loss at the starting weights."""
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
        d = self._direction(g)
        d_norm = np.sqrt(self._blockwise_dot(d, d))
        active = d_norm > 0  # blocks already at their minimum stay put
        length = (np.full(self.n_blocks, self.probe_length) if self.probe_length is not None
                  else np.maximum(np.sqrt(self._blockwise_dot(w, w)), 1.0))
        t = np.where(active, length / np.where(active, d_norm, 1.0), 0.0)
        self._set_weights(w + t[self._block] * d)
        try:
            _, g_probe = self._evaluate(closure)
        finally:
            self._set_weights(w)
        hd = (g_probe - g) / np.where(active, t, 1.0)[self._block]
        curvature = self._blockwise_dot(d, hd)
        bad = active & ~(curvature > 0)
        if bad.any():
            raise RuntimeError(
                f"the curvature along the search direction is {curvature[bad].min():.3g} <= 0 "
                "(in block(s) " + ", ".join(map(str, np.flatnonzero(bad)[:5])) + "): the loss "
                "is not convex there, and ConjugateGradient's line search needs a convex, "
                "ideally quadratic, loss")
        alpha = np.where(active, -self._blockwise_dot(g, d) / np.where(active, curvature, 1.0),
                         0.0)
        self._set_weights(w + alpha[self._block] * d)
        self._history.append((d, hd, np.where(active, curvature, np.inf)))
        if self.memory is not None:
            self._history = self._history[-self.memory:]
        self._since_restart += 1
        return loss
