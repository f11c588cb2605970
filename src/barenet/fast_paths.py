"""Fast paths of the layers in nn.py, each beside the plain reference form it equals bit for
bit (tests/test_fast_paths.py checks it). A layer calls the fast form; read the reference to
see what it computes. (conv.py keeps its own: im2col in cache-sized chunks, against the
``conv2d_naive_*`` loops.)"""

from __future__ import annotations

import numpy as np


def linear_forward_reference(x: np.ndarray, weight: np.ndarray,
                             bias: np.ndarray | None) -> np.ndarray:
    """The textbook y = x @ weight.T + bias. x: (N, in), weight: (out, in), bias: (out,) or
    None -> y: (N, out)."""
    y = x @ weight.T
    return y if bias is None else y + bias


def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``linear_forward_reference`` with the bias added in place (no second (N, out) array).
    The GEMM stays x @ weight.T: with its operands swapped, (weight @ x.T).T, OpenBLAS's
    Haswell kernels round float32 sums differently, so that form has the reference's bits on
    some machines only."""
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def relu_backward_reference(grad_out: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """grad_out where mask (x > 0) holds, +0.0 elsewhere; any shape, grad_out's dtype. A NaN
    or inf in grad_out where the mask is False gives 0, as in PyTorch (grad_out * mask would
    give NaN)."""
    return np.where(mask, grad_out, 0).astype(grad_out.dtype, copy=False)


def relu_backward(grad_out: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``relu_backward_reference`` without branches, for float16/32/64: AND each float's bits
    with all ones (kept) or all zeros (+0.0). np.where mispredicts on a fresh random mask
    every step."""
    grad_out = np.asarray(grad_out)
    if grad_out.dtype.kind != "f" or grad_out.dtype.itemsize not in (2, 4, 8):
        return relu_backward_reference(grad_out, mask)
    bits = np.dtype(f"i{grad_out.dtype.itemsize}")
    # True -> -1 (all ones), False -> 0, in one byte per element: the AND widens it to the
    # float's size a buffer at a time, with no temporary array as large as the gradient
    keep = np.negative(np.asarray(mask, dtype=bool).view(np.int8))
    return np.bitwise_and(grad_out.view(bits), keep).view(grad_out.dtype)
