"""Modules with hand-written forward and backward passes, named and shaped as in PyTorch.

Contract: ``forward(x)`` stores what backward needs on the module and returns the output;
``backward(grad_out)`` ADDS the parameter gradients into ``Parameter.grad`` and returns the
gradient with respect to the input. ``backward(grad_out, need_input_grad=False)`` skips that
last product and returns None: the training loop does not need the gradient of the data
(PyTorch skips it likewise for inputs that do not require grad). Arrays keep the input dtype.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .checks import check_array, check_non_negative, check_positive_int
from .fast_paths import linear_forward, relu_backward


class Parameter:
    """A trainable array and the gradient accumulated into it (same shape and dtype)."""

    def __init__(self, data: np.ndarray):
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: subclasses implement ``forward`` and ``backward``; parameters and child
    modules are discovered from attributes, in the order they were assigned."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(f"{prefix}{name}.")
            elif isinstance(value, list | tuple):
                for i, v in enumerate(value):
                    if isinstance(v, Module):
                        yield from v.named_parameters(f"{prefix}{name}.{i}.")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad.fill(0)

    def config(self) -> dict:
        """The constructor arguments that rebuild this module's shape (a JSON-able dict, by
        the constructor's names); barenet.saving stores it beside the parameters."""
        raise TypeError(f"{type(self).__name__} has no config(): barenet cannot save it")

    def to(self, dtype) -> Module:
        """Cast every parameter (and its gradient) to ``dtype``, e.g. ``np.float32``."""
        for p in self.parameters():
            p.data = p.data.astype(dtype, copy=False)
            p.grad = np.zeros_like(p.data)
        return self


def _uniform(rng: np.random.Generator, bound: float, shape, dtype) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class Linear(Module):
    """y = x @ weight.T + bias.

    x: (N, in_features) -> y: (N, out_features); weight: (out_features, in_features);
    bias: (out_features,). Initialised like PyTorch, U(-1/sqrt(in), 1/sqrt(in)), or with
    ``weight_std`` a number: weight ~ N(0, weight_std^2) and a zero bias (the assignment's
    initialisation; 0 gives all-zero weights), drawn after the uniform values so the draws
    that follow are the same either way.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float64,
                 weight_std: float | None = None):
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        rng = rng if rng is not None else np.random.default_rng(0)
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Parameter(_uniform(rng, bound, (out_features, in_features), dtype))
        self.bias = Parameter(_uniform(rng, bound, (out_features,), dtype)) if bias else None
        if weight_std is not None:
            std = check_non_negative(weight_std, "weight_std")
            self.weight.data = rng.normal(0.0, std, self.weight.shape).astype(dtype)
            if self.bias is not None:
                self.bias.data = np.zeros(self.bias.shape, dtype)
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_array(x, "Linear input", ndim=2, last_dim=self.in_features, finite=False)
        self._x = x
        weight = self.weight.data.astype(x.dtype, copy=False)
        bias = self.bias.data if self.bias is not None else None
        return linear_forward(x, weight, bias)  # x @ weight.T + bias, see fast_paths

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        x = self._x
        self.weight.grad += grad_out.T @ x
        if self.bias is not None:
            self.bias.grad += grad_out.sum(axis=0)
        if not need_input_grad:
            return None
        return grad_out @ self.weight.data.astype(grad_out.dtype, copy=False)

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": self.weight.data.dtype.name}

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class SoftmaxClassifier(Linear):
    """The assignment's single-layer classifier: scores = x @ W + b (or x @ W, the assignment's
    own, with ``bias=False``) with W of shape (n_features, n_classes). ``W`` is a view of
    ``weight`` (stored (out, in) as in Linear), so the maths and its gradient live in one place.
    Pair it with ``SoftmaxCrossEntropy``. ``weight_std`` initialises as Linear's does."""

    def __init__(self, n_features: int, n_classes: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float64,
                 weight_std: float | None = None):
        super().__init__(n_features, n_classes, bias=bias, rng=rng, dtype=dtype,
                         weight_std=weight_std)

    def config(self) -> dict:
        return {"n_features": self.in_features, "n_classes": self.out_features,
                "bias": self.bias is not None, "dtype": self.weight.data.dtype.name}

    @property
    def W(self) -> np.ndarray:
        return self.weight.data.T

    def __repr__(self) -> str:
        return f"SoftmaxClassifier(n_features={self.in_features}, n_classes={self.out_features})"


class ReLU(Module):
    """y = max(x, 0), elementwise, any shape. The gradient at exactly 0 is 0, and NaN passes
    through (so a diverging run shows up downstream), as in PyTorch."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.maximum(x, 0).astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if not need_input_grad:
            return None
        return relu_backward(grad_out, self._mask)  # grad_out where x > 0, else 0

    def config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return "ReLU()"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        return grad_out.reshape(self._shape) if need_input_grad else None

    def config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return "Flatten()"


class Reshape(Module):
    """(N, ...) -> (N, *shape), e.g. ``Reshape((1, 28, 28))`` turns flattened (N, 784) image
    rows, as the training loop feeds them, into the (N, C, H, W) a Conv2d takes; the inverse of
    Flatten."""

    def __init__(self, shape):
        shape = tuple(shape) if isinstance(shape, tuple | list) else (shape,)
        self.shape = tuple(check_positive_int(d, "Reshape shape entries") for d in shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        size = int(np.prod(self.shape))
        if x.ndim < 1 or int(np.prod(x.shape[1:])) != size:
            raise ValueError(f"Reshape{self.shape} needs {size} values per sample, got shape "
                             f"{x.shape}")
        self._shape = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        return grad_out.reshape(self._shape) if need_input_grad else None

    def config(self) -> dict:
        return {"shape": list(self.shape)}

    def __repr__(self) -> str:
        return f"Reshape({self.shape})"


class Sequential(Module):
    """Applies modules in order; backward runs them in reverse."""

    def __init__(self, *modules: Module):
        self.layers = list(modules)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        # Without an input gradient, the backward pass stops at the first layer with parameters
        # (e.g. a CNN's first Conv2d after a Reshape): nothing before it has anything to learn.
        first = 0 if need_input_grad else next(
            (i for i, layer in enumerate(self.layers) if layer.parameters()), 0)
        for i in reversed(range(first, len(self.layers))):
            grad_out = self.layers[i].backward(grad_out,
                                               need_input_grad=need_input_grad or i > first)
        return grad_out if need_input_grad else None

    def config(self) -> dict:
        return {"modules": [{"type": type(m).__name__, **m.config()} for m in self.layers]}

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(m) for m in self.layers)
        return f"Sequential(\n  {inner}\n)"


def MLP(in_features: int, hidden: int, out_features: int,
        rng: np.random.Generator | None = None, dtype=np.float64,
        weight_std: float | None = None) -> Sequential:
    """The two-layer perceptron of the study: Linear(in, hidden) -> ReLU -> Linear(hidden, out),
    both layers initialised as Linear's ``weight_std`` says."""
    rng = rng if rng is not None else np.random.default_rng(0)
    return Sequential(
        Linear(in_features, hidden, rng=rng, dtype=dtype, weight_std=weight_std),
        ReLU(),
        Linear(hidden, out_features, rng=rng, dtype=dtype, weight_std=weight_std),
    )
