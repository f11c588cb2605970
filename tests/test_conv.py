"""Conv2d: fast (im2col) vs naive loops, finite differences, PyTorch parity, dtypes, errors.

The stride-1 fast path has two layouts, chosen by C_in*kH (``barenet.conv.BAND_MIN_ROWS``),
and the small convolutions drawn here all fall below it: each parity test also runs with
the band layout forced (``LAYOUTS``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import barenet.conv as conv_module
from barenet import Conv2d
from barenet.conv import (
    conv2d_backward,
    conv2d_forward,
    conv2d_naive_backward,
    conv2d_naive_forward,
    conv2d_output_size,
)
from barenet.gradcheck import check_module

# BAND_MIN_ROWS for each stride-1 layout: the one chosen by size, or the band layout forced
LAYOUTS = {"by size": conv_module.BAND_MIN_ROWS, "band": 1}

# ----------------------------------------------------------------------------- strategies


@st.composite
def conv_configs(draw, max_batch=4, max_channels=4, max_kernel=5, max_stride=3, max_padding=3,
                 max_dilation=3, max_extra=6):
    """A convolution whose dilated kernel always fits the padded input: each spatial size is
    the smallest that fits (at least 1) plus a drawn extra, so H != W most of the time."""
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    padding = (draw(st.integers(0, max_padding)), draw(st.integers(0, max_padding)))
    dilation = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    size = []
    for axis in range(2):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        size.append(max(1, span - 2 * padding[axis]) + draw(st.integers(0, max_extra)))
    return dict(
        batch=draw(st.integers(1, max_batch)),
        in_channels=draw(st.integers(1, max_channels)),
        out_channels=draw(st.integers(1, max_channels)),
        size=tuple(size), kernel=kernel, stride=stride, padding=padding, dilation=dilation,
        bias=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)),
    )


def make_arrays(cfg, dtype=np.float64):
    """x, weight, bias (or None) and a random upstream gradient for ``cfg``."""
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((cfg["batch"], cfg["in_channels"], *cfg["size"])).astype(dtype)
    weight = rng.standard_normal((cfg["out_channels"], cfg["in_channels"], *cfg["kernel"]))
    weight = weight.astype(dtype)
    bias = rng.standard_normal(cfg["out_channels"]).astype(dtype) if cfg["bias"] else None
    out_hw = conv2d_output_size(cfg["size"], cfg["kernel"], cfg["stride"], cfg["padding"],
                                cfg["dilation"])
    grad_out = rng.standard_normal((cfg["batch"], cfg["out_channels"], *out_hw)).astype(dtype)
    return x, weight, bias, grad_out


def geometry(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])


# ----------------------------------------------------------------------------- fast vs naive


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=150, deadline=None)
@given(conv_configs())
def test_fast_matches_naive_forward_and_gradients(layout, cfg):
    x, weight, bias, grad_out = make_arrays(cfg)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_module, "BAND_MIN_ROWS", LAYOUTS[layout])
        y, cache = conv2d_forward(x, weight, bias, **geometry(cfg))
        dx, dw, db = conv2d_backward(grad_out, cache)
    y_naive = conv2d_naive_forward(x, weight, bias, **geometry(cfg))
    assert y.shape == y_naive.shape == grad_out.shape
    np.testing.assert_allclose(y, y_naive, rtol=1e-12, atol=1e-12)

    dx_n, dw_n, db_n = conv2d_naive_backward(grad_out, x, weight, bias, **geometry(cfg))
    assert dx.shape == x.shape and dw.shape == weight.shape
    np.testing.assert_allclose(dx, dx_n, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, dw_n, rtol=1e-12, atol=1e-12)
    if bias is None:
        assert db is None and db_n is None
    else:
        np.testing.assert_allclose(db, db_n, rtol=1e-12, atol=1e-12)


def test_naive_forward_on_a_hand_computed_example():
    # 1x1x3x3 input, 2x2 all-ones kernel, stride 1: each output is the sum of a 2x2 block.
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y = conv2d_naive_forward(x, np.ones((1, 1, 2, 2)), np.array([0.5]))
    np.testing.assert_array_equal(y, [[[[8.5, 12.5], [20.5, 24.5]]]])
    y_fast, _ = conv2d_forward(x, np.ones((1, 1, 2, 2)), np.array([0.5]))
    np.testing.assert_array_equal(y_fast, y)


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "dilation", "expected"), [
    ((32, 32), 5, 1, 2, 1, (32, 32)),
    ((7, 9), (3, 2), (2, 1), (1, 0), (1, 3), (4, 6)),
    ((10, 10), 3, 3, 0, 2, (2, 2)),   # floor((10 - 4 - 1) / 3) + 1
    ((5, 5), 5, 1, 0, 1, (1, 1)),
])
def test_output_size_formula(size, kernel, stride, padding, dilation, expected):
    assert conv2d_output_size(size, kernel, stride, padding, dilation) == expected


# ----------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("kwargs", [
    dict(in_channels=2, out_channels=3, kernel_size=3),
    dict(in_channels=2, out_channels=2, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2)),
    dict(in_channels=1, out_channels=2, kernel_size=2, dilation=(2, 3), padding=1),
    dict(in_channels=3, out_channels=2, kernel_size=(1, 3), stride=2, bias=False),
])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradcheck(kwargs, layout, monkeypatch):
    monkeypatch.setattr(conv_module, "BAND_MIN_ROWS", LAYOUTS[layout])
    rng = np.random.default_rng(42)
    module = Conv2d(**kwargs, rng=rng)
    x = rng.standard_normal((2, kwargs["in_channels"], 6, 7))
    errors = check_module(module, x, rng)
    expected_names = {"input", "weight"} | ({"bias"} if kwargs.get("bias", True) else set())
    assert set(errors) == expected_names
    assert max(errors.values()) < 1e-7, errors


# ----------------------------------------------------------------------------- PyTorch parity


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=100, deadline=None)
@given(conv_configs())
def test_matches_pytorch(layout, cfg):
    x, weight, bias, grad_out = make_arrays(cfg)
    module = Conv2d(cfg["in_channels"], cfg["out_channels"], cfg["kernel"], bias=cfg["bias"],
                    **geometry(cfg))
    module.weight.data = weight
    if bias is not None:
        module.bias.data = bias
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_module, "BAND_MIN_ROWS", LAYOUTS[layout])
        y = module.forward(x)
        dx = module.backward(grad_out)

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(weight, requires_grad=True)
    tb = torch.tensor(bias, requires_grad=True) if bias is not None else None
    ty = F.conv2d(tx, tw, tb, **geometry(cfg))
    ty.backward(torch.tensor(grad_out))

    def close(ours, theirs):
        assert ours.shape == tuple(theirs.shape)
        assert np.max(np.abs(ours - theirs.detach().numpy()), initial=0.0) <= 1e-10

    close(y, ty)
    close(dx, tx.grad)
    close(module.weight.grad, tw.grad)
    if bias is not None:
        close(module.bias.grad, tb.grad)
    else:
        assert module.bias is None and len(module.parameters()) == 1


# ----------------------------------------------------------------------------- module contract


def test_init_like_pytorch_and_reproducible():
    module = Conv2d(3, 8, (5, 3), rng=np.random.default_rng(7))
    bound = 1 / np.sqrt(3 * 5 * 3)
    assert module.weight.shape == (8, 3, 5, 3) and module.bias.shape == (8,)
    assert np.abs(module.weight.data).max() <= bound and np.abs(module.bias.data).max() <= bound
    # Spread over the whole interval, not a constant or a tiny sub-range.
    assert module.weight.data.max() > 0.8 * bound and module.weight.data.min() < -0.8 * bound
    again = Conv2d(3, 8, (5, 3), rng=np.random.default_rng(7))
    np.testing.assert_array_equal(module.weight.data, again.weight.data)
    np.testing.assert_array_equal(Conv2d(3, 8, 3).weight.data, Conv2d(3, 8, 3).weight.data)
    assert [name for name, _ in module.named_parameters()] == ["weight", "bias"]
    assert Conv2d(3, 8, 3, bias=False).bias is None


def test_backward_adds_into_grads():
    rng = np.random.default_rng(0)
    module = Conv2d(2, 3, 3, padding=1, rng=rng)
    x = rng.standard_normal((2, 2, 5, 5))
    grad_out = rng.standard_normal((2, 3, 5, 5))
    module.forward(x)
    dx_once = module.backward(grad_out)
    w_once, b_once = module.weight.grad.copy(), module.bias.grad.copy()
    module.forward(x)
    dx_twice = module.backward(grad_out)
    np.testing.assert_allclose(module.weight.grad, 2 * w_once)
    np.testing.assert_allclose(module.bias.grad, 2 * b_once)
    np.testing.assert_array_equal(dx_twice, dx_once)  # the input gradient is returned, not summed
    module.zero_grad()
    assert not module.weight.grad.any() and not module.bias.grad.any()


@pytest.mark.parametrize("module_dtype", [np.float32, np.float64])
def test_float32_input_stays_float32(module_dtype):
    rng = np.random.default_rng(3)
    module = Conv2d(3, 4, 3, stride=2, padding=1, dtype=module_dtype, rng=rng)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    y = module.forward(x)
    assert y.dtype == np.float32
    dx = module.backward(np.ones_like(y))
    assert dx.dtype == np.float32
    assert module.weight.grad.dtype == module_dtype and module.bias.grad.dtype == module_dtype
    _, cache = conv2d_forward(x, module.weight.data, module.bias.data, 2, 1)
    assert cache.cols.dtype == np.float32  # no silent float64 im2col matrix
    dx32, dw32, db32 = conv2d_backward(np.ones_like(y), cache)
    assert dx32.dtype == dw32.dtype == db32.dtype == np.float32
    # Still the right numbers, to float32 precision.
    y64 = conv2d_naive_forward(x.astype(np.float64), module.weight.data.astype(np.float64),
                               module.bias.data.astype(np.float64), 2, 1)
    np.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-5)


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before forward"):
        Conv2d(1, 1, 1).backward(np.zeros((1, 1, 1, 1)))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(stride=0), r"stride must be >= 1.*got 0"),
    (dict(stride=(1, -2)), r"stride must be >= 1.*got \(1, -2\)"),
    (dict(dilation=0), r"dilation must be >= 1.*got 0"),
    (dict(padding=-1), r"padding must be >= 0.*got -1"),
    (dict(stride=1.5), r"stride must be an int or a pair of ints, got 1.5"),
    (dict(padding=(1, 2, 3)), r"padding must be an int or a pair of ints"),
    (dict(dilation=None), r"dilation must be an int or a pair of ints, got None"),
    (dict(kernel_size="3"), r"kernel_size must be an int or a pair of ints"),
    (dict(kernel_size=0), r"kernel_size must be >= 1"),
    (dict(in_channels=0), r"in_channels must be an integer >= 1"),
])
def test_bad_constructor_arguments(kwargs, match):
    args = dict(in_channels=3, out_channels=4, kernel_size=3) | kwargs
    with pytest.raises(ValueError, match=match):
        Conv2d(**args)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(stride=0), r"stride must be >= 1"),
    (dict(dilation=(1, 0)), r"dilation must be >= 1"),
    (dict(padding=(0, -1)), r"padding must be >= 0"),
    (dict(stride=2.0), r"stride must be an int or a pair of ints"),
])
@pytest.mark.parametrize("function", [conv2d_forward, conv2d_naive_forward])
def test_bad_geometry_in_functions(function, kwargs, match):
    with pytest.raises(ValueError, match=match):
        function(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), None, **kwargs)


@pytest.mark.parametrize(("shape", "match"), [
    ((3, 8, 8), r"must have 4 dimensions \(N, C, H, W\), got shape \(3, 8, 8\).*x\[None\]"),
    ((1, 1, 3, 8, 8), r"must have 4 dimensions"),
    ((2, 4, 8, 8), r"input has 4 channels .* in_channels=3"),
])
def test_bad_input_shape(shape, match):
    with pytest.raises(ValueError, match=match):
        Conv2d(3, 2, 3).forward(np.zeros(shape))


def test_bad_input_channels_in_functions():
    with pytest.raises(ValueError, match=r"input has 2 channels .* in_channels=1"):
        conv2d_forward(np.zeros((1, 2, 5, 5)), np.zeros((1, 1, 3, 3)))


def test_integer_input_is_rejected():
    with pytest.raises(ValueError, match=r"float32 or float64.*int64"):
        Conv2d(1, 1, 1).forward(np.zeros((1, 1, 2, 2), dtype=np.int64))


@pytest.mark.parametrize(("module", "shape", "match"), [
    (Conv2d(1, 1, 5), (1, 1, 4, 9), r"spans 5x5, larger than the padded input 4x9"),
    (Conv2d(1, 1, 3, dilation=(1, 3)), (1, 1, 8, 6),
     r"spans 3x7, larger than the padded input 8x6"),
    (Conv2d(1, 1, 5, padding=1), (1, 1, 2, 2), r"padded input 4x4 \(input 2x2, padding \(1, 1\)\)"),
])
def test_kernel_larger_than_padded_input(module, shape, match):
    with pytest.raises(ValueError, match=match):
        module.forward(np.zeros(shape))


def test_kernel_that_just_fits_is_accepted():
    assert Conv2d(1, 1, 5, padding=1, dilation=1).forward(np.zeros((1, 1, 3, 3))).shape == (
        1, 1, 1, 1)


def test_bad_weight_bias_and_grad_out_shapes():
    x = np.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"weight must have 4 dimensions"):
        conv2d_forward(x, np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\).*got \(2,\)"):
        conv2d_forward(x, np.zeros((3, 2, 3, 3)), np.zeros(2))
    _, cache = conv2d_forward(x, np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"grad_out must have the output's shape \(1, 3, 3, 3\)"):
        conv2d_backward(np.zeros((1, 3, 5, 5)), cache)


# ----------------------------------------------------------------------------- memory reuse


def test_input_is_never_modified_even_when_cols_could_alias_it():
    # 1x1 kernel, stride 1, no padding, batch 1: the im2col view of x is already contiguous,
    # and backward writes the column gradient over cols; x must come out untouched.
    rng = np.random.default_rng(5)
    for kwargs, shape in [(dict(kernel_size=1), (1, 2, 4, 5)),
                          (dict(kernel_size=3, padding=1), (2, 2, 4, 5))]:
        module = Conv2d(2, 3, **kwargs, rng=rng)
        x = rng.standard_normal(shape)
        before = x.copy()
        y = module.forward(x)
        module.backward(rng.standard_normal(y.shape))
        np.testing.assert_array_equal(x, before)


def test_a_cache_supports_one_backward():
    x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
    y, cache = conv2d_forward(x, w)
    conv2d_backward(np.ones_like(y), cache)
    with pytest.raises(RuntimeError, match="already used by a backward pass"):
        conv2d_backward(np.ones_like(y), cache)
    module = Conv2d(1, 1, 2)
    module.backward(np.ones_like(module.forward(x)))
    with pytest.raises(RuntimeError, match="run the forward pass again"):
        module.backward(np.ones_like(y))


def test_workspace_reuse_across_batch_sizes_and_dtypes():
    # The module keeps its im2col memory between steps; a smaller batch reuses part of it, a
    # larger one or another dtype gets a fresh one. Every step must still be exact.
    rng = np.random.default_rng(11)
    module = Conv2d(2, 3, (3, 2), stride=(1, 2), padding=1, dilation=(2, 1), rng=rng)
    w, b = module.weight.data, module.bias.data
    geo = dict(stride=(1, 2), padding=1, dilation=(2, 1))
    for batch, dtype in [(3, np.float64), (2, np.float64), (4, np.float64), (4, np.float32),
                         (3, np.float64)]:
        x = rng.standard_normal((batch, 2, 6, 7)).astype(dtype)
        module.zero_grad()
        y = module.forward(x)
        grad_out = rng.standard_normal(y.shape).astype(dtype)
        dx = module.backward(grad_out)
        tol = 1e-12 if dtype == np.float64 else 1e-4
        np.testing.assert_allclose(y, conv2d_naive_forward(x, w, b, **geo), rtol=tol, atol=tol)
        dx_n, dw_n, db_n = conv2d_naive_backward(grad_out, x, w, b, **geo)
        np.testing.assert_allclose(dx, dx_n, rtol=tol, atol=tol)
        np.testing.assert_allclose(module.weight.grad, dw_n, rtol=tol, atol=tol)
        np.testing.assert_allclose(module.bias.grad, db_n, rtol=tol, atol=tol)


def test_forward_uses_a_workspace_only_if_it_fits():
    x, w = np.arange(32.0).reshape(2, 1, 4, 4), np.ones((1, 1, 3, 3))
    # stride 1, the row layout: (9 im2col rows + 1 output channel) x 2 images x 2 rows of 4
    needed = (9 + 1) * 2 * 2 * 4
    big = np.full(needed + 5, np.nan)
    y, cache = conv2d_forward(x, w, workspace=big)
    assert np.shares_memory(cache.cols, big) and not np.isnan(y).any()
    for unfit in (np.zeros(needed - 1), np.zeros(needed, dtype=np.float32)):
        y2, cache2 = conv2d_forward(x, w, workspace=unfit)
        assert not np.shares_memory(cache2.cols, unfit)
        np.testing.assert_array_equal(y2, y)


def test_empty_batch():
    module = Conv2d(2, 3, 3, padding=1)
    y = module.forward(np.zeros((0, 2, 5, 5)))
    assert y.shape == (0, 3, 5, 5)
    assert module.backward(y).shape == (0, 2, 5, 5)
    assert not module.weight.grad.any() and not module.bias.grad.any()
