"""2-D max and average pooling with hand-written forward and backward, as in PyTorch.

Layout and names follow ``torch.nn.MaxPool2d`` / ``AvgPool2d`` without padding: input x
(N, C, H, W), window (kH, kW), stride (sH, sW) (default: the window, so windows tile the
input), output y (N, C, H_out, W_out) with

    H_out = floor((H - kH) / sH) + 1

(and W_out likewise); rows and columns past the last whole window are ignored.

* max: y[n, c, i, j] is the largest x[n, c, i*sH + p, j*sW + q] over the window. The gradient
  goes to ONE element per window, the one PyTorch's CPU kernel picks: the first maximal one in
  row-major window order (ties, e.g. a constant patch or a ReLU's zeros, all go to the first),
  or the last NaN if the window holds any (and y is then NaN, as in PyTorch).
* average: y[n, c, i, j] is the window's sum divided by kH*kW; each element of the window gets
  grad / (kH*kW).

Two implementations share the validation:

* ``max_pool2d_forward`` / ``max_pool2d_backward`` (and ``avg_pool2d_*``): one vectorised
  operation per window offset (p, q) on the strided view of every window's (p, q) element, so
  kH*kW passes over arrays of the output's size and no loop over pixels;
* ``max_pool2d_naive_*`` / ``avg_pool2d_naive_*``: Python loops over every output pixel and
  every element of its window, slow and obviously correct, the reference the fast pair equals
  bit for bit (tests/test_pooling.py): both choose the same elements, and add the same numbers
  in the same order. One exception: where -0.0 and +0.0 tie for a window's maximum, the fast
  y may carry either sign (np.maximum's choice; the two compare equal and the gradient still
  goes to the first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import as_pair, check_array
from .fast_paths import relu_backward
from .nn import Module

Pair = tuple[int, int]

__all__ = [
    "AvgPool2d", "MaxPool2d", "PoolCache", "avg_pool2d_backward", "avg_pool2d_forward",
    "avg_pool2d_naive_backward", "avg_pool2d_naive_forward", "max_pool2d_backward",
    "max_pool2d_forward", "max_pool2d_naive_backward", "max_pool2d_naive_forward",
    "pool2d_output_size",
]


# ----------------------------------------------------------------------------- validation

def _geometry(kernel_size, stride, padding) -> tuple[Pair, Pair]:
    """(kernel, stride) as pairs; stride None means the kernel (PyTorch's default)."""
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else as_pair(stride, "stride", 1)
    if as_pair(padding, "padding", 0) != (0, 0):
        raise ValueError(f"pooling supports no padding (padding=0), got padding={padding!r}; "
                         "pad the input beforehand, or crop it to whole windows")
    return kernel, stride


def pool2d_output_size(input_hw: Pair, kernel_size, stride=None) -> Pair:
    """(H_out, W_out) of pooling an (H, W) input, as PyTorch computes it without padding:
    floor((H - kH) / sH) + 1 per axis. Raises ValueError if the window does not fit."""
    kernel, stride = _geometry(kernel_size, stride, 0)
    h, w = input_hw
    if kernel[0] > h or kernel[1] > w:
        raise ValueError(f"the pooling window {kernel[0]}x{kernel[1]} is larger than the "
                         f"input {h}x{w}; use a smaller kernel_size or a larger input")
    return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1


@dataclass(frozen=True)
class PoolCache:
    """What a pooling backward pass needs from its forward pass. x_shape: (N, C, H, W);
    dtype: the input's (the gradient's too); argmax: for max pooling, (N, C, H_out, W_out)
    index of the chosen element in row-major window order (p*kW + q), None for average
    pooling."""
    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    kernel: Pair
    stride: Pair
    out_hw: Pair
    argmax: np.ndarray | None = None


def _check_pool(x, kernel_size, stride, padding, name: str) -> tuple[np.ndarray, PoolCache]:
    """Validate the arguments shared by every pooling function; return x and the geometry."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} input must have 4 dimensions (N, C, H, W), got shape "
                         f"{x.shape}; add a batch axis with x[None] for a single image")
    x = check_array(x, f"{name} input", finite=False)
    kernel, stride = _geometry(kernel_size, stride, padding)
    out_hw = pool2d_output_size(x.shape[2:], kernel, stride)
    return x, PoolCache(x.shape, x.dtype, kernel, stride, out_hw)


def _check_grad(grad_out, cache: PoolCache) -> np.ndarray:
    """grad_out as an array of the forward input's dtype, if it has the output's shape."""
    expected = (*cache.x_shape[:2], *cache.out_hw)
    grad_out = np.asarray(grad_out)
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have the output's shape {expected}, got {grad_out.shape}")
    return grad_out.astype(cache.dtype, copy=False)


def _offsets(kernel: Pair) -> list[Pair]:
    """Window offsets (p, q) in row-major order: index k = p*kW + q."""
    return [(p, q) for p in range(kernel[0]) for q in range(kernel[1])]


def _window(array: np.ndarray, p: int, q: int, cache: PoolCache) -> np.ndarray:
    """The (N, C, H_out, W_out) strided view of element (p, q) of every window."""
    (sh, sw), (oh, ow) = cache.stride, cache.out_hw
    return array[:, :, p:p + sh * (oh - 1) + 1:sh, q:q + sw * (ow - 1) + 1:sw]


# ----------------------------------------------------------------------------- max, fast path

def max_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0
                       ) -> tuple[np.ndarray, PoolCache]:
    """Fast max pooling. x: (N, C, H, W); kernel_size, stride: int or (int, int), stride None
    for the kernel; padding must be 0. Returns (y, cache): y (N, C, H_out, W_out) in x's dtype,
    cache for ``max_pool2d_backward``.

    The maxima: np.maximum over the strided views of the window offsets (a NaN propagates).
    The choice: offsets last to first, the index moves to k wherever element k equals the
    maximum, so it ends on the first maximal one; as integer arithmetic (index -= equal *
    (index - k)), several times faster than a masked copy. A window holding a NaN equals
    nothing; if there is one, ``_torch_rule`` redoes the choice the slower way PyTorch does."""
    x, cache = _check_pool(x, kernel_size, stride, padding, "max_pool2d")
    elements = [_window(x, p, q, cache) for p, q in _offsets(cache.kernel)]
    y = elements[0].copy()
    for element in elements[1:]:
        np.maximum(y, element, out=y)
    index_type = np.uint8 if len(elements) <= 256 else np.int32
    argmax = np.full(y.shape, len(elements) - 1, dtype=index_type)
    equal = np.empty(y.shape, dtype=bool)
    for k in range(len(elements) - 2, -1, -1):
        np.equal(elements[k], y, out=equal)
        argmax -= equal.view(np.uint8) * (argmax - index_type(k))  # k where equal, else as is
    if np.isnan(y).any():
        argmax = _torch_rule(elements, index_type)
    return y, PoolCache(cache.x_shape, cache.dtype, cache.kernel, cache.stride, cache.out_hw,
                        argmax)


def _torch_rule(elements: list[np.ndarray], index_type) -> np.ndarray:
    """The index PyTorch's kernel picks, vectorised over windows: element k replaces the best
    so far where it is larger or NaN (so the last NaN wins)."""
    best = elements[0].copy()
    argmax = np.zeros(best.shape, dtype=index_type)
    take = np.empty(best.shape, dtype=bool)
    for k, element in enumerate(elements[1:], start=1):
        np.logical_or(np.greater(element, best), np.isnan(element), out=take)
        np.copyto(best, element, where=take)
        argmax[take] = k
    return argmax


def max_pool2d_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    """grad_out: (N, C, H_out, W_out) -> dx: (N, C, H, W), each window's gradient on its chosen
    element, +0.0 elsewhere. Offsets run last to first, so that where overlapping windows
    (stride < kernel) share an element, their gradients add up in the naive loops' order
    (output pixels in row-major order): the same bits."""
    if cache.argmax is None:
        raise ValueError("this PoolCache comes from average pooling, not max pooling")
    # + 0.0 turns a -0.0 gradient into +0.0, as adding it into zeros does in the naive loops
    # and in PyTorch; every other value passes unchanged
    grad_out = _check_grad(grad_out, cache) + cache.dtype.type(0)
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    chosen = np.empty(cache.argmax.shape, dtype=bool)
    # Windows that share no element (stride >= kernel, the usual case) take their gradient
    # in place: its bits ANDed with all ones or all zeros, as relu_backward does, straight
    # into dx (zeros + g, one pass fewer than adding).
    overlap = cache.stride[0] < cache.kernel[0] or cache.stride[1] < cache.kernel[1]
    bits = np.dtype(f"i{cache.dtype.itemsize}") if cache.dtype.itemsize in (2, 4, 8) else None
    for k, (p, q) in reversed(list(enumerate(_offsets(cache.kernel)))):
        np.equal(cache.argmax, k, out=chosen)
        window = _window(dx, p, q, cache)
        if overlap or bits is None:
            window += relu_backward(grad_out, chosen)  # grad where chosen, else +0.0
        else:
            np.bitwise_and(grad_out.view(bits), np.negative(chosen, dtype=bits),
                           out=window.view(bits))
    return dx


# ----------------------------------------------------------------------------- average, fast path

def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0
                       ) -> tuple[np.ndarray, PoolCache]:
    """Fast average pooling, arguments as ``max_pool2d_forward``: the window elements added in
    row-major order, then divided by kH*kW."""
    x, cache = _check_pool(x, kernel_size, stride, padding, "avg_pool2d")
    offsets = _offsets(cache.kernel)
    y = _window(x, 0, 0, cache).copy()
    for p, q in offsets[1:]:
        y += _window(x, p, q, cache)
    y /= x.dtype.type(len(offsets))
    return y, cache


def avg_pool2d_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    """grad_out: (N, C, H_out, W_out) -> dx: (N, C, H, W), grad / (kH*kW) on every element of
    its window (offsets last to first, as in ``max_pool2d_backward``)."""
    share = _check_grad(grad_out, cache) / cache.dtype.type(cache.kernel[0] * cache.kernel[1])
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    for p, q in reversed(_offsets(cache.kernel)):
        _window(dx, p, q, cache)[...] += share
    return dx


# ----------------------------------------------------------------------------- reference

def _torch_argmax(values: list) -> int:
    """The index PyTorch's max-pooling kernel picks, scanning in order: a value replaces the
    best so far if it is larger, or NaN."""
    best = 0
    for k in range(1, len(values)):
        if values[k] > values[best] or np.isnan(values[k]):
            best = k
    return best


def _naive_windows(cache: PoolCache):
    """(n, c, i, j, rows, columns) of every window, output pixels in row-major order."""
    (n_batch, channels, _, _), (kh, kw), (sh, sw) = cache.x_shape, cache.kernel, cache.stride
    for n in range(n_batch):
        for c in range(channels):
            for i in range(cache.out_hw[0]):
                for j in range(cache.out_hw[1]):
                    yield n, c, i, j, slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)


def max_pool2d_naive_forward(x: np.ndarray, kernel_size, stride=None, padding=0) -> np.ndarray:
    """Reference max pooling with Python loops over every window and its elements (slow).
    Same arguments and output as ``max_pool2d_forward``."""
    x, cache = _check_pool(x, kernel_size, stride, padding, "max_pool2d")
    y = np.empty((*x.shape[:2], *cache.out_hw), dtype=x.dtype)
    for n, c, i, j, rows, columns in _naive_windows(cache):
        values = list(x[n, c, rows, columns].ravel())
        y[n, c, i, j] = values[_torch_argmax(values)]
    return y


def max_pool2d_naive_backward(grad_out: np.ndarray, x: np.ndarray, kernel_size, stride=None,
                              padding=0) -> np.ndarray:
    """Reference gradient of max pooling (slow): grad_out (N, C, H_out, W_out) and the forward
    arguments -> dx (N, C, H, W)."""
    x, cache = _check_pool(x, kernel_size, stride, padding, "max_pool2d")
    grad_out = _check_grad(grad_out, cache)
    kw = cache.kernel[1]
    dx = np.zeros_like(x)
    for n, c, i, j, rows, columns in _naive_windows(cache):
        k = _torch_argmax(list(x[n, c, rows, columns].ravel()))
        dx[n, c, rows.start + k // kw, columns.start + k % kw] += grad_out[n, c, i, j]
    return dx


def avg_pool2d_naive_forward(x: np.ndarray, kernel_size, stride=None, padding=0) -> np.ndarray:
    """Reference average pooling (slow): each window's elements added one by one in row-major
    order, in x's dtype, then divided by kH*kW. Same arguments and output as
    ``avg_pool2d_forward``."""
    x, cache = _check_pool(x, kernel_size, stride, padding, "avg_pool2d")
    count = x.dtype.type(cache.kernel[0] * cache.kernel[1])
    y = np.empty((*x.shape[:2], *cache.out_hw), dtype=x.dtype)
    for n, c, i, j, rows, columns in _naive_windows(cache):
        values = x[n, c, rows, columns].ravel()
        total = values[0]
        for value in values[1:]:
            total += value
        y[n, c, i, j] = total / count
    return y


def avg_pool2d_naive_backward(grad_out: np.ndarray, x: np.ndarray, kernel_size, stride=None,
                              padding=0) -> np.ndarray:
    """Reference gradient of average pooling (slow), arguments as
    ``max_pool2d_naive_backward``."""
    x, cache = _check_pool(x, kernel_size, stride, padding, "avg_pool2d")
    grad_out = _check_grad(grad_out, cache)
    count = x.dtype.type(cache.kernel[0] * cache.kernel[1])
    dx = np.zeros_like(x)
    for n, c, i, j, rows, columns in _naive_windows(cache):
        dx[n, c, rows, columns] += grad_out[n, c, i, j] / count
    return dx


# ----------------------------------------------------------------------------- modules

class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share; a subclass names its fast forward and backward."""
    _forward = _backward = None
    _name = ""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride = _geometry(kernel_size, stride, padding)
        self.padding = (0, 0)
        self._cache: PoolCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, C, H, W) -> (N, C, H_out, W_out), in x's dtype."""
        y, self._cache = self._forward(x, self.kernel_size, self.stride)
        return y

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """grad_out: (N, C, H_out, W_out) -> dx: (N, C, H, W), or None when not
        ``need_input_grad`` (pooling has no parameters)."""
        if self._cache is None:
            raise RuntimeError(f"{self._name}.backward called before forward")
        return self._backward(grad_out, self._cache) if need_input_grad else None

    def config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}

    def __repr__(self) -> str:
        return f"{self._name}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool2d(_Pool2d):
    """Max pooling, as ``torch.nn.MaxPool2d`` without padding, dilation or ceil_mode:
    (N, C, H, W) -> (N, C, H_out, W_out), formula and tie rule in the module docstring.
    kernel_size, stride: int or (int, int); stride defaults to kernel_size."""
    _forward, _backward = staticmethod(max_pool2d_forward), staticmethod(max_pool2d_backward)
    _name = "MaxPool2d"


class AvgPool2d(_Pool2d):
    """Average pooling, as ``torch.nn.AvgPool2d`` without padding or ceil_mode: each output is
    the mean of its kH x kW window. kernel_size, stride: int or (int, int); stride defaults to
    kernel_size."""
    _forward, _backward = staticmethod(avg_pool2d_forward), staticmethod(avg_pool2d_backward)
    _name = "AvgPool2d"
