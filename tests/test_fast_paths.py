"""Each fast path against its plain reference form: barenet.fast_paths (the Linear and ReLU
layers), the chunked im2col of barenet.conv and barenet.data.random_shift."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import dims, seeds

import barenet as bn
import barenet.conv as conv_module
from barenet.conv import (
    conv2d_backward,
    conv2d_forward,
    conv2d_naive_backward,
    conv2d_naive_forward,
)
from barenet.fast_paths import (
    linear_forward,
    linear_forward_reference,
    relu_backward,
    relu_backward_reference,
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@given(rows=dims(1, 256), seed=seeds)
def test_linear_forward_is_the_reference_bit_for_bit(dtype, bias, rows, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 50)).astype(dtype)
    weight = rng.standard_normal((7, 50)).astype(dtype)
    b = rng.standard_normal(7).astype(dtype) if bias else None
    fast = linear_forward(x, weight, b)
    reference = linear_forward_reference(x, weight, b)
    assert fast.flags.c_contiguous and fast.dtype == reference.dtype == dtype
    assert fast.tobytes() == reference.tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_relu_backward_is_the_reference_bit_for_bit(dtype):
    x = np.array([[-1.0, 0.0, 2.0, np.nan, 3.0, -0.0]]).astype(dtype)
    grad = np.array([[np.nan, np.inf, -0.0, 5.0, -np.inf, 1.0]]).astype(dtype)
    expected = relu_backward_reference(grad, x > 0)
    assert expected.dtype == dtype and relu_backward(grad, x > 0).dtype == dtype
    assert relu_backward(grad, x > 0).tobytes() == expected.tobytes()  # NaN, inf, -0.0, +0.0
    relu = bn.ReLU()
    relu.forward(x)
    assert relu.backward(grad).tobytes() == expected.tobytes()


@given(shape=st.tuples(dims(1, 9), dims(1, 9)), seed=seeds)
def test_relu_backward_reference_is_grad_times_mask_for_finite_grads(shape, seed):
    rng = np.random.default_rng(seed)
    x, grad = rng.standard_normal((2, *shape))
    np.testing.assert_array_equal(relu_backward_reference(grad, x > 0), grad * (x > 0))


@pytest.mark.parametrize("shape", [(6, 35), (6, 5, 7)])
def test_random_shift_matches_a_per_image_reference(shape):
    images = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    out = bn.random_shift(images, 2, np.random.default_rng(3), (5, 7), fill=-1.0)
    dy, dx = np.random.default_rng(3).integers(0, 5, size=(2, 6))  # the same draws
    padded = np.pad(images.reshape(6, 5, 7), ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    expected = np.stack([padded[i, dy[i]:dy[i] + 5, dx[i]:dx[i] + 7] for i in range(6)])
    np.testing.assert_array_equal(out, expected.reshape(shape))


@pytest.mark.parametrize("geometry", [dict(padding=1), dict(stride=2, padding=2),
                                      dict(dilation=(2, 1), padding=(2, 0))])
def test_conv_in_chunks_matches_the_naive_loops_reference(monkeypatch, geometry):
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", 1)  # one image per chunk
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 2, 7, 6))
    weight, bias = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    y, cache = conv2d_forward(x, weight, bias, **geometry)
    np.testing.assert_allclose(y, conv2d_naive_forward(x, weight, bias, **geometry),
                               rtol=1e-12, atol=1e-12)
    grad_out = rng.standard_normal(y.shape)
    for ours, naive in zip(conv2d_backward(grad_out, cache),
                           conv2d_naive_backward(grad_out, x, weight, bias, **geometry),
                           strict=True):
        np.testing.assert_allclose(ours, naive, rtol=1e-12, atol=1e-12)


def test_cache_cols_is_the_whole_im2col_matrix_and_independent_of_x():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 4, 5))
    _, cache = conv2d_forward(x, np.ones((1, 2, 2, 2)))  # no padding: the cache copies x
    x[...] = 0  # later changes to the caller's array do not reach the cache
    cols = cache.cols
    assert cols.shape == (2 * 2 * 2, 3, 3 * 4) and cache.cols is cols
    assert np.array_equal(cols[0].reshape(3, 3, 4), cache.padded[:, 0, :3, :4])
    assert cols.any()


def stride1_geometry(h, w, kh, kw, dh, dw, ph, pw):
    """(padded height, width, output height, width, the stride-1 _Geometry), the geometry None
    when the dilated kernel does not fit the padded image."""
    hp, wp = h + 2 * ph, w + 2 * pw
    oh, ow = hp - dh * (kh - 1), wp - dw * (kw - 1)
    if oh < 1 or ow < 1:
        return hp, wp, oh, ow, None
    return hp, wp, oh, ow, conv_module._Geometry((1, 1), (ph, pw), (dh, dw), (kh, kw), (oh, ow))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(n=dims(1, 3), c=dims(1, 3), h=dims(1, 7), w=dims(1, 7), kh=dims(1, 4), kw=dims(1, 4),
       dh=dims(1, 2), dw=dims(1, 2), ph=st.integers(0, 3), pw=st.integers(0, 3), seed=seeds)
def test_col2im_in_the_row_layout_is_the_reference_bit_for_bit(dtype, n, c, h, w, kh, kw, dh,
                                                                dw, ph, pw, seed):
    # barenet.conv's stride-1 col2im, rows extended to the padded width, against the plain
    # per-offset strided adds, given the same column gradient
    hp, wp, oh, ow, geo = stride1_geometry(h, w, kh, kw, dh, dw, ph, pw)
    if geo is None:
        return
    rng = np.random.default_rng(seed)
    dcols = rng.standard_normal((c, kh, kw, n, oh, ow)).astype(dtype)
    dcols[rng.random(dcols.shape) < 0.2] = -0.0  # signed zeros must come out the same
    reference = np.zeros((n, c, hp, wp), dtype=dtype)
    conv_module._col2im_reference(dcols, reference, geo)
    rows = np.zeros((c, kh, kw, n, oh, wp), dtype=dtype)
    rows[..., :ow] = dcols
    flat = np.zeros((n, c, hp * wp + conv_module._row_tail(geo)), dtype=dtype)
    conv_module._col2im_rows(rows.reshape(c, kh, kw, n, oh * wp), flat, geo)
    fast = flat[:, :, :hp * wp].reshape(n, c, hp, wp)
    assert fast.tobytes() == reference.tobytes()
    assert not flat[:, :, hp * wp:].any()  # the tail only ever receives the extra columns' zeros


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(n=dims(1, 3), c=dims(1, 3), h=dims(1, 7), w=dims(1, 7), kh=dims(1, 4), kw=dims(1, 4),
       dh=dims(1, 2), dw=dims(1, 2), ph=st.integers(0, 3), pw=st.integers(0, 3), seed=seeds)
def test_im2col_in_the_row_layout_is_the_windows_copy_bit_for_bit(dtype, n, c, h, w, kh, kw, dh,
                                                                   dw, ph, pw, seed):
    # the stride-1 im2col rows, cropped to W_out columns, are the plain _windows copy
    hp, wp, oh, ow, geo = stride1_geometry(h, w, kh, kw, dh, dw, ph, pw)
    if geo is None:
        return
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)
    flat, padded = conv_module._pad_rows(x, geo)
    plain_padded = conv_module._pad(x, (ph, pw))
    assert padded.tobytes() == plain_padded.tobytes()
    assert not flat[:, :, hp * wp:].any()
    rows_view = conv_module._rows_view(flat, geo)
    for chunk in (slice(0, n), slice(n - 1, n)):
        rows = conv_module._im2col(rows_view, chunk, np.empty(rows_view.size, dtype))
        plain = conv_module._im2col(conv_module._windows(plain_padded, geo), chunk,
                                    np.empty(rows_view.size, dtype))
        cropped = rows.reshape(c * kh * kw, -1, oh, wp)[..., :ow]
        assert cropped.tobytes() == plain.reshape(cropped.shape).tobytes()


def _naive_parity(x, weight, bias, geometry, need_input_grad=True, tol=1e-12):
    y, cache = conv2d_forward(x, weight, bias, **geometry)
    grad_out = np.random.default_rng(0).standard_normal(y.shape)
    dx, dweight, dbias = conv2d_backward(grad_out, cache, need_input_grad=need_input_grad)
    naive = conv2d_naive_backward(grad_out, x, weight, bias, **geometry)
    np.testing.assert_allclose(y, conv2d_naive_forward(x, weight, bias, **geometry),
                               rtol=tol, atol=tol)
    if need_input_grad:
        assert dx.flags.c_contiguous
        np.testing.assert_allclose(dx, naive[0], rtol=tol, atol=tol)
    else:
        assert dx is None
    np.testing.assert_allclose(dweight, naive[1], rtol=tol, atol=tol)
    np.testing.assert_allclose(dbias, naive[2], rtol=tol, atol=tol)


@pytest.mark.parametrize("band_min_rows", [conv_module.BAND_MIN_ROWS, 1])
@given(n=dims(1, 3), c=dims(1, 3), c_out=dims(1, 3), h=dims(1, 7), w=dims(1, 7), kh=dims(1, 4),
       kw=dims(1, 4), dh=dims(1, 2), dw=dims(1, 2), ph=st.integers(0, 4), pw=st.integers(0, 4),
       stride=st.sampled_from([1, 1, (1, 2), 2]), need_input_grad=st.booleans(), seed=seeds)
def test_conv_paths_match_the_naive_loops(band_min_rows, n, c, c_out, h, w, kh, kw, dh, dw, ph,
                                          pw, stride, need_input_grad, seed):
    # stride 1, these small sizes: the row layout, with the input gradient by correlation, or
    # (padding wider than the dilated kernel reaches) by the row-layout col2im; with
    # BAND_MIN_ROWS 1, the band layout and its own col2im; other strides: the plain form
    if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    weight, bias = rng.standard_normal((c_out, c, kh, kw)), rng.standard_normal(c_out)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_module, "BAND_MIN_ROWS", band_min_rows)
        _naive_parity(x, weight, bias, dict(stride=stride, padding=(ph, pw), dilation=(dh, dw)),
                      need_input_grad)


@pytest.mark.parametrize(("c", "kernel", "in_bands"), [
    (8, 5, True),  # the CNN's second layer: 40 im2col rows
    (1, 5, False), (3, 5, False),  # its first layer on grey images; C0 on colour ones
    (13, (3, 5), False), (10, (4, 1), True),  # 39 and 40 rows: C_in*kH decides, not kW
])
def test_conv_layout_by_size_at_the_study_sizes(monkeypatch, c, kernel, in_bands):
    # both passes take the band layout from BAND_MIN_ROWS im2col rows per kernel column on,
    # with or without the input gradient, and match the naive loops at that size
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    calls = []

    def recorded(name):
        run = getattr(conv_module, name)
        return lambda *args: calls.append(name) or run(*args)

    for name in ("_forward_in_bands", "_backward_in_bands"):
        monkeypatch.setattr(conv_module, name, recorded(name))
    rng = np.random.default_rng(c * kh * kw)
    x = rng.standard_normal((3, c, 9, 9))
    weight, bias = rng.standard_normal((4, c, kh, kw)), rng.standard_normal(4)
    for need_input_grad in (True, False):
        calls.clear()
        _naive_parity(x, weight, bias, dict(padding=(kh // 2, kw // 2)), need_input_grad)
        assert calls == ["_forward_in_bands", "_backward_in_bands"] * in_bands


@pytest.mark.parametrize("geometry", [dict(padding=2), dict(padding=(0, 1), dilation=(1, 2)),
                                      dict(padding=3), dict(stride=2, padding=1)])
def test_conv_backward_plain_form_when_the_row_layout_is_patched_out(monkeypatch, geometry):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3, 9, 8))
    weight, bias = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    monkeypatch.setattr(conv_module, "_backward_in_rows", lambda *args: False)
    monkeypatch.setattr(conv_module, "_col2im_rows", None)  # would fail if it ran
    monkeypatch.setattr(conv_module, "_input_grad_by_correlation", None)
    _naive_parity(x, weight, bias, geometry)


def test_conv_backward_with_a_non_finite_weight_or_input_takes_the_plain_form():
    # 0 * inf in the row layout's extra columns, or in the zero-padded gradient of the
    # correlation, would put NaN where the plain form has none
    x = np.ones((1, 1, 4, 4))
    weight = np.zeros((1, 1, 3, 3))
    weight[0, 0, 0, 0] = np.inf
    with np.errstate(invalid="ignore"):
        for x_, weight_ in ((x, weight), (np.where(np.eye(4) > 0, np.inf, 1.0)[None, None],
                                          np.ones((1, 1, 3, 3)))):
            y, cache = conv2d_forward(x_, weight_, padding=1)
            assert not conv_module._backward_in_rows(cache._flat, weight_, True)
            grad_out = np.zeros_like(y)
            grad_out[0, 0, 1, 1] = 1.0
            ours = conv2d_backward(grad_out, cache)
            naive = conv2d_naive_backward(grad_out, x_, weight_, padding=1)
            np.testing.assert_array_equal(ours[0], naive[0])
            np.testing.assert_array_equal(ours[1], naive[1])
