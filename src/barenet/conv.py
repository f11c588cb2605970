"""2-D convolution (cross-correlation, as in PyTorch) with hand-written forward and backward.

Layout and names follow ``torch.nn.Conv2d``: input x (N, C_in, H, W), weight
(C_out, C_in, kH, kW), bias (C_out,), output y (N, C_out, H_out, W_out) with

    H_out = floor((H + 2*padding[0] - dilation[0]*(kH - 1) - 1) / stride[0]) + 1

(and W_out likewise with index 1), so that

    y[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q]
                    * x_padded[n, c, i*stride[0] + p*dilation[0], j*stride[1] + q*dilation[1]].

Two implementations share the validation:

* ``conv2d_forward`` / ``conv2d_backward``: im2col through a strided view of the padded input
  and one matrix product per pass, a cache-sized chunk of images at a time;
  ``conv2d_backward`` scatters the column gradient back with one vectorised add per kernel
  offset (never a loop over pixels). For stride 1 (the usual case) both passes copy their
  im2col matrix in a row layout whose rows are whole padded image rows (``_rows_view``, bit
  for bit the ``_windows`` copy of the other strides, at the price of Wp - W_out wasted columns
  per row), and the input gradient is the transposed convolution, a forward pass of the padded
  output gradient (``_input_grad_by_correlation``); where that does not fit, the col2im adds
  run over whole rows too (``_col2im_rows``, bit for bit the plain ``_col2im_reference``).
  From BAND_MIN_ROWS im2col rows per kernel column (C_in*kH) on, stride 1 works in the band
  layout instead (``_band_view``): the kernel's columns move out of the im2col matrix into the
  GEMM's output rows, summed by shifted adds, for a kW times smaller copy and a GEMM shape
  OpenBLAS runs faster; equal to the other forms up to rounding.
* ``conv2d_naive_forward`` / ``conv2d_naive_backward``: explicit Python loops over output
  pixels, slow and obviously correct, the reference the fast pair is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from .checks import as_pair, check_array, check_positive_int
from .nn import Module, Parameter, _uniform

Pair = tuple[int, int]

__all__ = [
    "Conv2d", "Conv2dCache", "conv2d_backward", "conv2d_forward", "conv2d_naive_backward",
    "conv2d_naive_forward", "conv2d_output_size",
]


# ----------------------------------------------------------------------------- validation

def conv2d_output_size(input_hw: Pair, kernel_size, stride=1, padding=0, dilation=1) -> Pair:
    """(H_out, W_out) of a convolution of an (H, W) input, exactly as PyTorch computes it:
    floor((H + 2*padding - dilation*(k - 1) - 1) / stride) + 1 per axis.

    Raises ValueError if the dilated kernel does not fit in the padded input.
    """
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride = as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    dilation = as_pair(dilation, "dilation", 1)
    out = []
    for axis, size in enumerate(input_hw):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        padded = size + 2 * padding[axis]
        if span > padded:
            raise ValueError(
                f"the kernel {kernel[0]}x{kernel[1]} with dilation {dilation} spans "
                f"{dilation[0] * (kernel[0] - 1) + 1}x{dilation[1] * (kernel[1] - 1) + 1}, "
                f"larger than the padded input {input_hw[0] + 2 * padding[0]}x"
                f"{input_hw[1] + 2 * padding[1]} (input {input_hw[0]}x{input_hw[1]}, padding "
                f"{padding}); use a smaller kernel or dilation, more padding or a larger input"
            )
        out.append((padded - span) // stride[axis] + 1)
    return out[0], out[1]


@dataclass(frozen=True)
class _Geometry:
    stride: Pair
    padding: Pair
    dilation: Pair
    kernel: Pair
    out_hw: Pair


def _check_conv(x, weight, bias, stride, padding, dilation):
    """Validate the arguments shared by every conv function; return (x, weight, bias, geometry)
    with weight and bias cast to x's dtype (the output keeps the input's precision)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f"conv2d input must have 4 dimensions (N, C, H, W), got shape {x.shape}; "
            "add a batch axis with x[None] for a single image"
        )
    x = check_array(x, "conv2d input", finite=False)
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d weight must have 4 dimensions (C_out, C_in, kH, kW), got shape {weight.shape}"
        )
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d input has {x.shape[1]} channels (shape {x.shape}, layout N, C, H, W) "
            f"but the weight expects in_channels={weight.shape[1]}"
        )
    weight = weight.astype(x.dtype, copy=False)
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"conv2d bias must have shape ({weight.shape[0]},) (one per output channel), "
                f"got {bias.shape}"
            )
        bias = bias.astype(x.dtype, copy=False)
    stride = as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    dilation = as_pair(dilation, "dilation", 1)
    kernel = (weight.shape[2], weight.shape[3])
    out_hw = conv2d_output_size(x.shape[2:], kernel, stride, padding, dilation)
    return x, weight, bias, _Geometry(stride, padding, dilation, kernel, out_hw)


def _pad(x: np.ndarray, padding: Pair) -> np.ndarray:
    """Zero-pad the two spatial axes of (N, C, H, W); no copy when there is no padding."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _window(array: np.ndarray, p: int, q: int, geo: _Geometry) -> np.ndarray:
    """The (N, C, H_out, W_out) strided view of a padded (N, C, Hp, Wp) array that kernel
    offset (p, q) meets at every output pixel."""
    (sh, sw), (dh, dw), (oh, ow) = geo.stride, geo.dilation, geo.out_hw
    return array[:, :, p * dh:p * dh + sh * (oh - 1) + 1:sh, q * dw:q * dw + sw * (ow - 1) + 1:sw]


# ----------------------------------------------------------------------------- fast path

# Bytes of im2col matrix per chunk of images. The fast path works through the batch a few images
# at a time so that a chunk's columns, written by im2col, are still in the CPU cache when the
# GEMMs (and, backward, the col2im) read them; the whole matrix (60 MB in float64 for 100 RGB
# 32x32 images and a 5x5 kernel) would make every pass a trip to main memory. The chunking
# changes no result: tests/test_fast_paths.py checks one chunk per image against the naive
# loops (benchmarks/ times the choice of size).
CHUNK_BYTES = 2 << 20


def _windows(xp: np.ndarray, geo: _Geometry) -> np.ndarray:
    """The im2col matrix of a padded (N, C, Hp, Wp) input as a strided view, shaped
    (C, kH, kW, N, H_out, W_out): rows (c, p, q) match weight.reshape(C_out, -1), and the
    (N, H_out, W_out) columns keep W_out innermost, so a copy reads whole image rows."""
    (kh, kw), (dh, dw) = geo.kernel, geo.dilation
    # every window at once: (N, C, Hp-spanH+1, Wp-spanW+1, spanH, spanW), subsampled by stride
    # (window positions) and dilation (taps inside a window)
    windows = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    windows = windows[:, :, ::geo.stride[0], ::geo.stride[1], ::dh, ::dw]
    return windows.transpose(1, 4, 5, 0, 2, 3)


def _rows_workspace(rows_view: np.ndarray, c_out: int, images: int) -> int:
    """Elements of workspace a chunk of ``images`` needs in the row layout: its im2col rows
    (C_in*kH*kW per column), then C_out rows of products (forward) or of gradient (backward)."""
    c, kh, kw, _, length = rows_view.shape
    return (c * kh * kw + c_out) * images * length


def _chunks(windows: np.ndarray) -> tuple[list[slice], int]:
    """Image slices of about CHUNK_BYTES of im2col matrix each (at least one image), and the
    number of elements a buffer for one chunk needs."""
    n = windows.shape[3]
    per_image = windows.size // n if n else 0
    step = max(1, CHUNK_BYTES // max(1, per_image * windows.itemsize))
    return ([slice(start, min(n, start + step)) for start in range(0, n, step)],
            per_image * min(n, step))


def _buffer(workspace: np.ndarray | None, size: int, dtype) -> np.ndarray:
    """``workspace`` if it is a 1-D C-contiguous array of ``dtype`` with at least ``size``
    elements (reused memory: no fresh pages for the kernel to zero), else a new array."""
    if (workspace is not None and workspace.ndim == 1 and workspace.dtype == dtype
            and workspace.size >= size and workspace.flags.c_contiguous):
        return workspace
    return np.empty(size, dtype=dtype)


def _im2col(windows: np.ndarray, chunk: slice, buffer: np.ndarray) -> np.ndarray:
    """The chunk's images of the ``_windows`` view, copied into the start of ``buffer``:
    (C_in*kH*kW, images, H_out*W_out); of a ``_rows_view``, (C_in*kH*kW, images, H_out*Wp)."""
    part = windows[:, :, :, chunk]
    cols = buffer[:part.size].reshape(part.shape)
    np.copyto(cols, part)
    c, kh, kw, images = part.shape[:4]
    return cols.reshape(c * kh * kw, images, -1)


def _pad_rows(x: np.ndarray, geo: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The row layout's padded input: (flat, padded) with flat (N, C, Hp*Wp + ``_row_tail``)
    each zero-padded image flattened, plus zeros the extra columns of the last row reach, and
    padded its (N, C, Hp, Wp) view (the same values as ``_pad``)."""
    (ph, pw), (n, c, h, w) = geo.padding, x.shape
    hp, wp = h + 2 * ph, w + 2 * pw
    flat = np.zeros((n, c, hp * wp + _row_tail(geo)), dtype=x.dtype)
    padded = flat[:, :, :hp * wp].reshape(n, c, hp, wp)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    return flat, padded


def _padded_width(flat: np.ndarray, geo: _Geometry) -> int:
    """Wp, the padded image width, of a flat (N, C, Hp*Wp + ``_row_tail``) array from
    ``_pad_rows`` (stride 1: Hp = H_out + dilation[0]*(kH - 1))."""
    (kh, _), dh, oh = geo.kernel, geo.dilation[0], geo.out_hw[0]
    return (flat.shape[-1] - _row_tail(geo)) // (oh + dh * (kh - 1))


def _rows_view(flat: np.ndarray, geo: _Geometry) -> np.ndarray:
    """The im2col matrix in the row layout, as a read-only strided view of ``flat`` (from
    ``_pad_rows``, stride 1): shaped (C, kH, kW, N, H_out*Wp), element [c, p, q, n, t] is
    flat[n, c, p*dilation[0]*Wp + q*dilation[1] + t]. Column t = i*Wp + j is output pixel
    (i, j) for j < W_out; the Wp - W_out extra columns of each row are wasted work, but every
    (c, p, q, n) row is one contiguous run, which copies several times faster than the
    W_out-long pieces of ``_windows``."""
    (kh, kw), (dh, dw), (oh, _) = geo.kernel, geo.dilation, geo.out_hw
    n, c, _ = flat.shape
    wp = _padded_width(flat, geo)
    s_n, s_c, s_t = flat.strides
    return as_strided(flat, (c, kh, kw, n, oh * wp), (s_c, dh * wp * s_t, dw * s_t, s_n, s_t),
                      writeable=False)


def _row_layout(geo: _Geometry) -> bool:
    """Whether the fast path works in the row layout: stride 1 (the usual case)."""
    return geo.stride == (1, 1)


def _col2im_reference(dcols: np.ndarray, dxp: np.ndarray, geo: _Geometry) -> None:
    """col2im, plain form: add the column gradient dcols (C_in, kH, kW, N, H_out, W_out) into
    the padded input gradient dxp (N, C_in, Hp, Wp). Each kernel offset touched a strided
    window of the padded input; windows of different offsets overlap, so accumulate offset by
    offset (kH*kW vectorised adds, offsets in row-major order)."""
    for p in range(geo.kernel[0]):
        for q in range(geo.kernel[1]):
            _window(dxp, p, q, geo)[...] += dcols[:, p, q].transpose(1, 0, 2, 3)


# Im2col rows per kernel column (C_in*kH) from which the stride-1 fast path works in the band
# layout (``_band_view``). Measured side by side on this project's 2-core machine (64 images,
# 16 output channels, 5x5 kernels, 14x14 and 28x28, float32 and float64, one thread): forward
# plus weight gradient took 1.1 to 3.1 times the row layout's time in bands at 5 to 20 rows,
# 0.96 to 1.21 at 30, 0.77 to 0.90 at 40 and 0.61 to 0.73 at 60 to 80; with the input gradient
# as well, 0.54 to 0.74 from 20 rows on.
BAND_MIN_ROWS = 40


def _band_layout(geo: _Geometry, c_in: int) -> bool:
    """Whether the stride-1 fast path works in the band layout (``_band_view``): from
    BAND_MIN_ROWS im2col rows (C_in*kH) on. Below that, the GEMM's depth C_in*kH is too small for
    OpenBLAS to run well and the kW-fold product costs more than the smaller im2col saves (a
    CNN's first layer on grey images, C0's 3 colours)."""
    return _row_layout(geo) and c_in * geo.kernel[0] >= BAND_MIN_ROWS


def _band_view(flat: np.ndarray, geo: _Geometry) -> np.ndarray:
    """The row layout's im2col matrix without its kernel-column axis, a read-only strided view
    of ``flat`` (from ``_pad_rows``, stride 1) shaped (C, kH, 1, N, H_out*Wp + ``_row_tail``):
    element [c, p, 0, n, s] is flat[n, c, p*dilation[0]*Wp + s]. The rows of kernel column q in
    ``_rows_view`` are these rows shifted left by q*dilation[1], so the convolution is

        y[n, o, t] = sum_q Z[n, o, q, t + q*dilation[1]],  Z[n] = ``_band_weight`` @ band[n]

    one GEMM with kW times the output rows and 1/kW of the depth, on an im2col matrix kW times
    smaller, then kW - 1 shifted adds (``_sum_band_shifts``). The singleton axis lets ``_im2col``
    copy it as it copies the other views."""
    (kh, _), (dh, _), (oh, _) = geo.kernel, geo.dilation, geo.out_hw
    n, c, _ = flat.shape
    wp = _padded_width(flat, geo)
    s_n, s_c, s_t = flat.strides
    return as_strided(flat, (c, kh, 1, n, oh * wp + _row_tail(geo)),
                      (s_c, dh * wp * s_t, 0, s_n, s_t), writeable=False)


def _band_weight(weight: np.ndarray) -> np.ndarray:
    """weight (C_out, C_in, kH, kW) as the band layout's (C_out*kW, C_in*kH) matrix: row
    (o, q), column (c, p)."""
    c_out, c, kh, kw = weight.shape
    return weight.transpose(0, 3, 1, 2).reshape(c_out * kw, c * kh)


def _sum_band_shifts(z: np.ndarray, geo: _Geometry, total: np.ndarray) -> np.ndarray:
    """Sum band-layout product rows z (..., C_out, kW, H_out*Wp + ``_row_tail``) over the kernel
    columns into total (..., C_out, H_out*Wp), whole rows at a time (not W_out-long pieces):
    total[..., o, t] = z[..., o, 0, t] + z[..., o, 1, t + dilation[1]] + ... in turn. Returns
    the (..., C_out, H_out, W_out) view of the sums at the output pixels. (total is not part of
    z: numpy would copy an operand it cannot prove apart from the output.)"""
    (oh, ow), dw, (kw, length) = geo.out_hw, geo.dilation[1], z.shape[-2:]
    length -= _row_tail(geo)
    first, *rest = (z[..., q, q * dw:q * dw + length] for q in range(kw))
    if rest:
        np.add(first, rest.pop(0), out=total)
    else:
        np.copyto(total, first)
    for term in rest:
        total += term
    return total.reshape(*z.shape[:-2], oh, length // oh)[..., :ow]


def _forward_in_bands(flat: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                      geo: _Geometry, chunks: list[slice], workspace: np.ndarray | None,
                      y: np.ndarray) -> np.ndarray:
    """``conv2d_forward``'s products in the band layout, written into y (N, C_out, H_out,
    W_out) a chunk of images at a time; returns the workspace used."""
    band = _band_view(flat, geo)
    c_out, kw, (c, kh, _, _, length) = weight.shape[0], weight.shape[3], band.shape
    step = chunks[0].stop
    pixels = length - _row_tail(geo)
    # per chunk: its im2col rows, the product rows, their sums
    buffer = _buffer(workspace, ((c * kh + c_out * kw) * length + c_out * pixels) * step, y.dtype)
    w_band = _band_weight(weight)
    for chunk in chunks:
        cols = _im2col(band, chunk, buffer)
        images = cols.shape[1]
        z = buffer[cols.size:cols.size + images * c_out * kw * length]
        np.matmul(w_band, cols.transpose(1, 0, 2), out=z.reshape(images, c_out * kw, length))
        end = cols.size + z.size
        total = buffer[end:end + images * c_out * pixels].reshape(images, c_out, pixels)
        sums = _sum_band_shifts(z.reshape(images, c_out, kw, length), geo, total)
        if bias is None:
            y[chunk] = sums
        else:
            np.add(sums, bias[:, None, None], out=y[chunk])
    return buffer


def _band_gradient(grad_out: np.ndarray, geo: _Geometry, g: np.ndarray) -> np.ndarray:
    """The output gradient (N, C_out, H_out, W_out) as the forward's product rows, written into
    g (C_out, kW, N, H_out*Wp + ``_row_tail``) and returned as a (C_out*kW, N*(H_out*Wp +
    ``_row_tail``)) matrix: g[o, q, n, q*dilation[1] + t] = grad_out[n, o, i, j] at t = i*Wp + j
    for j < W_out, zero everywhere else. Kernel column 0's rows are built first; the others are
    contiguous copies of them, shifted."""
    (oh, ow), dw = geo.out_hw, geo.dilation[1]
    c_out, kw, n, length = g.shape
    first = g[:, 0]
    rows = first[..., :length - _row_tail(geo)].reshape(c_out, n, oh, -1)
    rows[..., :ow] = grad_out.transpose(1, 0, 2, 3)
    rows[..., ow:] = 0
    first[..., rows.shape[-1] * oh:] = 0
    for q in range(1, kw):
        g[:, q, :, :q * dw] = 0
        g[:, q, :, q * dw:] = first[..., :length - q * dw]
    return g.reshape(c_out * kw, n * length)


def _backward_in_bands(flat: np.ndarray, grad_out: np.ndarray, weight: np.ndarray,
                       geo: _Geometry, chunks: list[slice], workspace: np.ndarray | None,
                       dxp_flat: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``conv2d_backward``'s products in the band layout, a chunk of images at a time. With G
    the output gradient (N, C_out, H_out, W_out) laid out as the forward's product rows
    (``_band_gradient``; zero elsewhere, so the extra columns add 0 * a finite value):

        dweight[(o, q), (c, p)] = sum_{n, s} G[(o, q), n, s] * band[(c, p), n, s]
        dband = ``_band_weight``.T @ G, added into dxp_flat[n, c, p*dilation[0]*Wp + s]

    dxp_flat: (N, C_in, Hp*Wp + ``_row_tail``), the padded input gradient with each image
    flat (added into), or None for no input gradient. Returns (dweight (C_out, C_in, kH, kW),
    the workspace used)."""
    band = _band_view(flat, geo)
    c_out, c, kh, kw = weight.shape
    length, step, dh = band.shape[-1], chunks[0].stop, geo.dilation[0]
    wp = _padded_width(flat, geo)
    buffer = _buffer(workspace, (c * kh + c_out * kw) * step * length, weight.dtype)
    dweight = np.zeros((c_out * kw, c * kh), dtype=weight.dtype)
    w_band_t = _band_weight(weight).T
    for chunk in chunks:
        cols = _im2col(band, chunk, buffer)
        images = cols.shape[1]
        g = buffer[cols.size:cols.size + c_out * kw * images * length]
        g = _band_gradient(grad_out[chunk], geo, g.reshape(c_out, kw, images, length))
        cols = cols.reshape(c * kh, -1)
        dweight += g @ cols.T
        if dxp_flat is not None:  # the chunk's columns are done: their memory takes dband
            dband = np.matmul(w_band_t, g, out=cols)
            dband = dband.reshape(c, kh, images, length)
            for p in range(kh):
                start = p * dh * wp
                dxp_flat[chunk, :, start:start + length] += dband[:, p].transpose(1, 0, 2)
    dweight = dweight.reshape(c_out, kw, c, kh).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(dweight), buffer


def _row_tail(geo: _Geometry) -> int:
    """Elements past the end of a flat padded image that the row layout's extra columns of the
    last row reach: (kW - 1)*dilation[1]."""
    return (geo.kernel[1] - 1) * geo.dilation[1]


def _backward_in_rows(flat: np.ndarray | None, weight: np.ndarray, need_input_grad: bool
                      ) -> bool:
    """Whether ``conv2d_backward`` works in the row layout: if the forward did (``flat`` from
    ``_pad_rows``), unless a non-finite input or weight would carry NaN (0 * inf) from the
    extra columns into the gradients."""
    return (flat is not None and bool(np.isfinite(flat).all())
            and (not need_input_grad or bool(np.isfinite(weight).all())))


def _correlation_padding(geo: _Geometry) -> Pair | None:
    """The zero padding of the output gradient that makes the input gradient a stride-1
    correlation of the input's size (``_input_grad_by_correlation``): dilation*(k - 1) -
    padding per axis; None if the geometry does not allow it (a stride, or a padding wider
    than the dilated kernel's reach)."""
    if geo.stride != (1, 1):
        return None
    pad = tuple(d * (k - 1) - p for d, k, p in zip(geo.dilation, geo.kernel, geo.padding,
                                                    strict=True))
    return pad if min(pad) >= 0 else None


def _input_grad_by_correlation(grad_out: np.ndarray, weight: np.ndarray, geo: _Geometry,
                               workspace: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """dx for stride 1 without col2im: the transposed convolution, computed as the forward
    pass (im2col in the row layout and one GEMM per image) of the output gradient, zero-padded
    by ``_correlation_padding``, with the weight flipped in both spatial axes and its channel
    axes swapped:

        dx[n, c, y, x] = sum_{o, p, q} grad_out[n, o, y + ph - p*dh, x + pw - q*dw]
                                       * weight[o, c, p, q]

    (terms outside grad_out are zero). The same products as the col2im's, summed in another
    order (so equal to rounding, not bit for bit). grad_out: (N, C_out, H_out, W_out); weight:
    (C_out, C_in, kH, kW), finite (a zero-padded gradient times inf would give NaN). Returns dx
    (N, C_in, H, W) and the workspace used."""
    flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    dx, cache = conv2d_forward(grad_out, flipped, None, padding=_correlation_padding(geo),
                               dilation=geo.dilation, workspace=workspace)
    return dx, cache.workspace


def _col2im_rows(dcols_rows: np.ndarray, dxp_flat: np.ndarray, geo: _Geometry) -> None:
    """``_col2im_reference`` for stride 1, bit for bit, in the row layout: every output row
    extended from W_out to the padded width Wp, so that the pixels kernel offset (p, q) touched
    in an image are ONE contiguous run of H_out*Wp elements of the flat padded image, starting
    at p*dilation[0]*Wp + q*dilation[1] (the extra columns land on the next row's first
    elements). The adds then run over rows of H_out*Wp elements instead of W_out.

    dcols_rows: (C_in, kH, kW, N, H_out*Wp), its extra columns (W_out..Wp-1 of each row) zero
    (adding +-0.0 to the sums, which start at +0.0, changes no bit); dxp_flat: (N, C_in,
    Hp*Wp + ``_row_tail``), the padded gradient with each image flattened. Same offsets in the
    same order as the reference: the same sums."""
    if geo.stride != (1, 1):
        raise ValueError(f"the row layout needs stride 1, got {geo.stride}")
    (kh, kw), (dh, dw) = geo.kernel, geo.dilation
    length = dcols_rows.shape[-1]
    wp = length // geo.out_hw[0]
    for p in range(kh):
        for q in range(kw):
            start = p * dh * wp + q * dw
            dxp_flat[:, :, start:start + length] += dcols_rows[:, p, q].transpose(1, 0, 2)


@dataclass
class Conv2dCache:
    """What ``conv2d_backward`` needs from ``conv2d_forward``.

    padded: the zero-padded input (N, C_in, H + 2*padding[0], W + 2*padding[1]), a private
    copy (None once a backward pass has consumed the cache); weight: (C_out, C_in, kH, kW) in
    the input's dtype; x_shape: (N, C_in, H, W); workspace: memory the im2col chunks reuse.
    The backward pass rebuilds the im2col matrix chunk by chunk from ``padded``; ``cols``
    builds all of it, for a caller who wants the patches themselves.
    """
    padded: np.ndarray | None
    weight: np.ndarray
    x_shape: tuple[int, int, int, int]
    has_bias: bool
    stride: Pair
    padding: Pair
    dilation: Pair
    out_hw: Pair
    workspace: np.ndarray | None = None
    _cols: np.ndarray | None = field(default=None, repr=False)
    _flat: np.ndarray | None = field(default=None, repr=False)  # row layout, see _pad_rows

    @property
    def geometry(self) -> _Geometry:
        return _Geometry(self.stride, self.padding, self.dilation, self.weight.shape[2:],
                         self.out_hw)

    @property
    def cols(self) -> np.ndarray | None:
        """(C_in*kH*kW, N, H_out*W_out) im2col matrix, rows ordered (c, p, q) like the flattened
        weight; built on first use (into the workspace if it fits), None once a backward pass
        has consumed the cache (which reuses the workspace)."""
        if self.padded is not None and self._cols is None:
            windows = _windows(self.padded, self.geometry)
            self._cols = _im2col(windows, slice(None),
                                 _buffer(self.workspace, windows.size, self.padded.dtype))
        return self._cols


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                   stride=1, padding=0, dilation=1, *, workspace: np.ndarray | None = None
                   ) -> tuple[np.ndarray, Conv2dCache]:
    """Fast convolution: im2col + one matrix product, a chunk of images at a time.

    x: (N, C_in, H, W); weight: (C_out, C_in, kH, kW); bias: (C_out,) or None;
    stride, padding, dilation: int or (int, int). Returns (y, cache) with
    y: (N, C_out, H_out, W_out) in x's dtype and cache for ``conv2d_backward``.

    workspace: optional 1-D C-contiguous array of x's dtype; if it holds a chunk's im2col
    matrix, the chunks (and ``cache.cols``, if asked for and it fits) are written into its
    start instead of fresh allocations. ``cache.workspace`` is the memory used, for next time.
    """
    x, weight, bias, geo = _check_conv(x, weight, bias, stride, padding, dilation)
    n, c_out, (oh, ow) = x.shape[0], weight.shape[0], geo.out_hw
    flat = None
    if _row_layout(geo):
        flat, xp = _pad_rows(x, geo)  # a private copy either way
    else:
        xp = _pad(x, geo.padding)
        if xp is x:  # the cache must not see later changes to the caller's array
            xp = x.copy()
    windows = _windows(xp, geo)
    chunks, chunk_size = _chunks(windows)
    weight_2d = weight.reshape(c_out, -1)
    y = np.empty((n, c_out, oh * ow), dtype=x.dtype)
    if flat is not None and n > 0 and _band_layout(geo, x.shape[1]):
        buffer = _forward_in_bands(flat, weight, bias, geo, chunks, workspace,
                                   y.reshape(n, c_out, oh, ow))
    elif flat is not None and n > 0:
        rows_view, step = _rows_view(flat, geo), chunks[0].stop
        length = rows_view.shape[-1]
        # per chunk: its im2col rows, then the products in the row layout, cropped into y
        buffer = _buffer(workspace, _rows_workspace(rows_view, c_out, step), x.dtype)
        y_4d = y.reshape(n, c_out, oh, ow)
        for chunk in chunks:
            cols = _im2col(rows_view, chunk, buffer)
            images = cols.shape[1]
            start = cols.size
            y_rows = buffer[start:start + images * c_out * length].reshape(images, c_out, length)
            np.matmul(weight_2d, cols.transpose(1, 0, 2), out=y_rows)
            y_4d[chunk] = y_rows.reshape(images, c_out, oh, -1)[..., :ow]
            if bias is not None:
                y[chunk] += bias[:, None]
    else:
        buffer = _buffer(workspace, chunk_size, x.dtype)
        for chunk in chunks:
            cols = _im2col(windows, chunk, buffer)
            # one matmul, batched over the chunk's images on a strided view of cols: (C_out, K)
            # @ (K, H_out*W_out) per image, written straight into y in NCHW order
            np.matmul(weight_2d, cols.transpose(1, 0, 2), out=y[chunk])
            if bias is not None:  # while the chunk of y is still in cache
                y[chunk] += bias[:, None]
    cache = Conv2dCache(xp, weight, x.shape, bias is not None, geo.stride, geo.padding,
                        geo.dilation, geo.out_hw, workspace=buffer)
    cache._flat = flat
    return y.reshape(n, c_out, oh, ow), cache


def conv2d_backward(grad_out: np.ndarray, cache: Conv2dCache, need_input_grad: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of a ``conv2d_forward`` call.

    grad_out: (N, C_out, H_out, W_out). Returns (dx, dweight, dbias): dx (N, C_in, H, W), or
    None when not ``need_input_grad`` (that saves a GEMM and the col2im); dweight
    (C_out, C_in, kH, kW), dbias (C_out,) or None if the forward had no bias; all in the
    forward input's dtype.

    Consumes the cache, like PyTorch freeing the graph after ``backward()``: a second backward
    through the same cache raises a RuntimeError.
    """
    if cache.padded is None:
        raise RuntimeError("this Conv2dCache was already used by a backward pass; "
                           "run the forward pass again before another backward")
    weight, (n, c, h, w) = cache.weight, cache.x_shape
    c_out, _, kh, kw = weight.shape
    (oh, ow), (ph, pw), rows = cache.out_hw, cache.padding, c * kh * kw
    expected = (n, c_out, oh, ow)
    grad_out = np.asarray(grad_out)
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have the output's shape {expected}, got {grad_out.shape}")
    grad_out = grad_out.astype(weight.dtype, copy=False).reshape(n, c_out, oh * ow)
    geo = cache.geometry
    xp, flat = cache.padded, cache._flat
    cache.padded, cache._cols, cache._flat = None, None, None
    windows = _windows(xp, geo)
    chunks, chunk_size = _chunks(windows)
    hp, wp = xp.shape[2:]
    weight_2d = weight.reshape(c_out, rows)
    dweight = np.zeros((c_out, rows), dtype=weight.dtype)
    rows_layout = n > 0 and _backward_in_rows(flat, weight, need_input_grad)
    in_bands = rows_layout and _band_layout(geo, c)
    # the input gradient as a correlation (the transposed convolution), not col2im
    by_correlation = (rows_layout and not in_bands and need_input_grad
                      and _correlation_padding(geo) is not None)
    dxp = None
    if need_input_grad and not by_correlation:  # in the row layout: each image flat, plus
        # room for the extra columns
        dxp = (np.zeros((n, c, hp * wp + _row_tail(geo)), dtype=weight.dtype) if rows_layout
               else np.zeros(xp.shape, dtype=weight.dtype))
    if in_bands:
        dweight, buffer = _backward_in_bands(flat, grad_out.reshape(expected), weight, geo,
                                             chunks, cache.workspace, dxp)
    elif rows_layout:
        rows_view, step = _rows_view(flat, geo), chunks[0].stop
        length = rows_view.shape[-1]
        buffer = _buffer(cache.workspace, _rows_workspace(rows_view, c_out, step), weight.dtype)
        # after the chunk's im2col rows: the gradient in the row layout, (C_out, images,
        # H_out*Wp), its extra columns zero (zeroed once; each chunk writes the others)
        g_memory = buffer[rows * step * length:(rows + c_out) * step * length]
        g_memory.fill(0)
        grad_4d = grad_out.reshape(n, c_out, oh, ow)
        for chunk in chunks:
            cols = _im2col(rows_view, chunk, buffer)
            images = cols.shape[1]
            g = g_memory[:c_out * images * length].reshape(c_out, images, oh, wp)
            g[..., :ow] = grad_4d[chunk].transpose(1, 0, 2, 3)
            g = g.reshape(c_out, images, length)
            # the extra columns add 0 * (a finite input) to each sum. One GEMM per image, then
            # the images' sum: OpenBLAS runs the chunk's long, skinny GEMM slower (float32, 25 x
            # 8 over 23 images of 28 x 32: 34 GFLOP/s in one GEMM, 63 one image at a time)
            dweight += np.matmul(cols.transpose(1, 0, 2), g.transpose(1, 2, 0)).sum(axis=0).T
            cols, g = cols.reshape(rows, images * length), g.reshape(c_out, images * length)
            if dxp is not None:  # the chunk's columns are done: their memory gets the gradient
                dcols = np.matmul(weight_2d.T, g, out=cols)
                _col2im_rows(dcols.reshape(c, kh, kw, images, length), dxp[chunk], geo)
    else:
        buffer = _buffer(cache.workspace, chunk_size, weight.dtype)
        for chunk in chunks:
            cols = _im2col(windows, chunk, buffer)
            images = cols.shape[1]
            cols = cols.reshape(rows, images * oh * ow)
            # (images, C_out, P) -> (C_out, images*P): the one layout in which both products
            # below are plain 2-D GEMMs over the chunk (a copy C_out/K the size of cols)
            g = np.ascontiguousarray(grad_out[chunk].transpose(1, 0, 2)).reshape(c_out, -1)
            dweight += (cols @ g.T).T
            if dxp is not None:
                dcols = np.matmul(weight_2d.T, g, out=cols).reshape(c, kh, kw, images, oh, ow)
                _col2im_reference(dcols, dxp[chunk], geo)
    cache.workspace = buffer  # for the next forward
    dbias = grad_out.sum(axis=(0, 2)) if cache.has_bias else None
    dweight = dweight.reshape(weight.shape)
    if by_correlation:
        dx, cache.workspace = _input_grad_by_correlation(grad_out.reshape(expected), weight, geo,
                                                         buffer)
        return dx, dweight, dbias
    if dxp is None:
        return None, dweight, dbias
    if rows_layout:
        dxp = dxp[:, :, :hp * wp].reshape(n, c, hp, wp)
    dx = dxp if dxp.flags.c_contiguous and ph == 0 and pw == 0 else np.ascontiguousarray(
        dxp[:, :, ph:ph + h, pw:pw + w])
    return dx, dweight, dbias


# ----------------------------------------------------------------------------- reference

def conv2d_naive_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                         stride=1, padding=0, dilation=1) -> np.ndarray:
    """Reference convolution with a Python loop over every output pixel (slow).

    Same arguments and output as ``conv2d_forward``: x (N, C_in, H, W), weight
    (C_out, C_in, kH, kW), bias (C_out,) or None -> y (N, C_out, H_out, W_out).
    """
    x, weight, bias, geo = _check_conv(x, weight, bias, stride, padding, dilation)
    (sh, sw), (dh, dw), (oh, ow) = geo.stride, geo.dilation, geo.out_hw
    kh, kw = geo.kernel
    xp = _pad(x, geo.padding)
    y = np.zeros((x.shape[0], weight.shape[0], oh, ow), dtype=x.dtype)
    for n in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                patch = xp[n, :, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                           j * sw:j * sw + dw * (kw - 1) + 1:dw]  # (C_in, kH, kW)
                y[n, :, i, j] = (weight * patch).sum(axis=(1, 2, 3))
    if bias is not None:
        y += bias[:, None, None]
    return y


def conv2d_naive_backward(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                          bias: np.ndarray | None = None, stride=1, padding=0, dilation=1
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Reference gradients with a Python loop over every output pixel (slow).

    grad_out: (N, C_out, H_out, W_out); the other arguments as given to
    ``conv2d_naive_forward`` (bias only says whether there is one). Returns (dx, dweight,
    dbias) shaped like x, weight and bias (dbias None without a bias).
    """
    x, weight, bias, geo = _check_conv(x, weight, bias, stride, padding, dilation)
    (sh, sw), (dh, dw), (oh, ow) = geo.stride, geo.dilation, geo.out_hw
    (ph, pw), (kh, kw) = geo.padding, geo.kernel
    n_batch, _, h, w = x.shape
    grad_out = np.asarray(grad_out).astype(x.dtype, copy=False)
    if grad_out.shape != (n_batch, weight.shape[0], oh, ow):
        raise ValueError(f"grad_out must have shape {(n_batch, weight.shape[0], oh, ow)}, "
                         f"got {grad_out.shape}")
    xp = _pad(x, geo.padding)
    dxp = np.zeros_like(xp)
    dweight = np.zeros_like(weight)
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                columns = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                g = grad_out[n, :, i, j][:, None, None, None]  # (C_out, 1, 1, 1)
                dweight += g * xp[n, :, rows, columns]
                dxp[n, :, rows, columns] += (g * weight).sum(axis=0)
    dbias = grad_out.sum(axis=(0, 2, 3)) if bias is not None else None
    return dxp[:, :, ph:ph + h, pw:pw + w].copy(), dweight, dbias


# ----------------------------------------------------------------------------- module

class Conv2d(Module):
    """2-D convolution layer, named and initialised as ``torch.nn.Conv2d``.

    x: (N, in_channels, H, W) -> y: (N, out_channels, H_out, W_out) (formula in the module
    docstring); weight: (out_channels, in_channels, kH, kW); bias: (out_channels,) or None.
    kernel_size, stride, padding, dilation: int or (int, int). Weight and bias are drawn from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels*kH*kW, using ``rng``.

    Each forward supports one backward (as in PyTorch). The layer keeps its im2col buffer
    (one chunk of images, ``CHUNK_BYTES``) between steps instead of reallocating it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, rng: np.random.Generator | None = None,
                 dtype=np.float64):
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = as_pair(stride, "stride", 1)
        self.padding = as_pair(padding, "padding", 0)
        self.dilation = as_pair(dilation, "dilation", 1)
        rng = rng if rng is not None else np.random.default_rng(0)
        bound = 1.0 / np.sqrt(in_channels * self.kernel_size[0] * self.kernel_size[1])
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = Parameter(_uniform(rng, bound, shape, dtype))
        self.bias = Parameter(_uniform(rng, bound, (out_channels,), dtype)) if bias else None
        self._cache: Conv2dCache | None = None
        # The im2col chunks' memory, kept between steps: each forward and backward fills it
        # chunk by chunk, and the next step reuses it.
        self._workspace: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, in_channels, H, W) -> (N, out_channels, H_out, W_out), in x's dtype."""
        x = np.asarray(x)
        if x.ndim == 4 and x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d input has {x.shape[1]} channels (shape {x.shape}, layout N, C, H, W) "
                f"but in_channels={self.in_channels}"
            )
        bias = self.bias.data if self.bias is not None else None
        y, self._cache = conv2d_forward(x, self.weight.data, bias, self.stride, self.padding,
                                        self.dilation, workspace=self._workspace)
        self._workspace = self._cache.workspace  # a fresh one if the batch or dtype changed
        return y

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """grad_out: (N, out_channels, H_out, W_out) -> dx: (N, in_channels, H, W) (None when
        not ``need_input_grad``); adds the weight and bias gradients into ``weight.grad`` and
        ``bias.grad``."""
        if self._cache is None:
            raise RuntimeError("Conv2d.backward called before forward")
        dx, dweight, dbias = conv2d_backward(grad_out, self._cache,  # consumes the cache
                                             need_input_grad=need_input_grad)
        self._workspace = self._cache.workspace  # grown, if the backward needed more
        self.weight.grad += dweight
        if self.bias is not None:
            self.bias.grad += dbias
        return dx

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "dilation": list(self.dilation),
                "bias": self.bias is not None, "dtype": self.weight.data.dtype.name}

    def __repr__(self) -> str:
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"bias={self.bias is not None})")
