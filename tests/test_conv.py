"""Conv2D: hand-computed outputs, a loop reference, gradient checks, shapes, errors, purity, dtype.

Expected values come from hand computation (constant kernels), from a plain
nested-loop convolution written here, or from finite differences; never from
the code under test.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn.errors import ShapeError
from funcnn.layers.conv import Conv2D, conv_output_size, conv_padding
from funcnn.layers.pool import AvgPool2D, MaxPool2D
from funcnn.rng import generator

F64 = NDArray[np.float64]
CCE = fn.CategoricalCrossEntropy(from_logits=True)
PADDINGS: tuple[str | int, ...] = ("valid", "same", 1, 2)


def loop_conv(x: F64, w: F64, b: F64, stride: tuple[int, int], pads: tuple[tuple[int, int], tuple[int, int]]) -> F64:
    """Reference convolution: explicit loops over samples, output pixels and channels."""
    n, h, wd, c_in = x.shape
    kh, kw, _, c_out = w.shape
    (top, bottom), (left, right) = pads
    xp = np.zeros((n, h + top + bottom, wd + left + right, c_in))
    xp[:, top : top + h, left : left + wd] = x
    oh = (xp.shape[1] - kh) // stride[0] + 1
    ow = (xp.shape[2] - kw) // stride[1] + 1
    y = np.zeros((n, oh, ow, c_out))
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for o in range(c_out):
                    total = b[o]
                    for a in range(kh):
                        for q in range(kw):
                            for c in range(c_in):
                                total += xp[s, i * stride[0] + a, j * stride[1] + q, c] * w[a, q, c, o]
                    y[s, i, j, o] = total
    return y


def random_params(conv: Conv2D, key: fn.Key, in_shape: tuple[int, int, int]) -> fn.FrozenTree[np.float64]:
    """Params with random weights *and* a random bias (the default bias is zero)."""
    params = fn.init(conv, key, in_shape=in_shape, dtype=np.float64)
    b = generator(fn.fold_in(key, "bias")).standard_normal(params.leaf("b").shape)
    return fn.tree_set(params, "b", b)


# --- hand-computed outputs ----------------------------------------------------------------------


def test_constant_kernel_sums_each_receptive_field_plus_bias() -> None:
    # x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]], a 2x2 kernel of ones, bias 0.5:
    # 0+1+3+4 = 8, 1+2+4+5 = 12, 3+4+6+7 = 20, 4+5+7+8 = 24, each + 0.5, in both output channels.
    conv = Conv2D(2, 2, w_init=fn.Constant(1.0), b_init=fn.Constant(0.5))
    params = fn.init(conv, fn.key(0), in_shape=(3, 3, 1))
    y, _ = fn.forward(conv, params, np.arange(9.0).reshape(1, 3, 3, 1))
    expected = np.array([[8.5, 12.5], [20.5, 24.5]])
    assert y.shape == (1, 2, 2, 2)
    np.testing.assert_array_equal(y[0, :, :, 0], expected)
    np.testing.assert_array_equal(y[0, :, :, 1], expected)


def test_constant_kernel_sums_over_input_channels() -> None:
    # Channel 0 holds 1s, channel 1 holds 10s; a 2x2 kernel of 0.5 sees 4 pixels x (1 + 10) x 0.5 = 22.
    x = np.stack([np.ones((3, 4)), 10 * np.ones((3, 4))], axis=-1)[None]
    conv = Conv2D(3, 2, w_init=fn.Constant(0.5))
    y, _ = fn.forward(conv, fn.init(conv, fn.key(0), in_shape=(3, 4, 2)), x)
    assert y.shape == (1, 2, 3, 3)
    np.testing.assert_array_equal(y, np.full((1, 2, 3, 3), 22.0))


def test_same_padding_counts_the_neighbours_inside_the_image() -> None:
    # A 3x3 kernel of ones on a 4x4 image of ones with zero padding counts the
    # in-image neighbours of each pixel: 4 at the corners, 6 on the edges, 9 inside.
    conv = Conv2D(1, 3, padding="same", w_init=fn.Constant(1.0))
    y, _ = fn.forward(conv, fn.init(conv, fn.key(0), in_shape=(4, 4, 1)), np.ones((1, 4, 4, 1)))
    expected = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], dtype=float)
    np.testing.assert_array_equal(y[0, :, :, 0], expected)


def test_stride_two_samples_every_other_field() -> None:
    # 5x5 image whose pixel (r, c) is 10 r + c; a 1x1 kernel of ones at stride 2
    # picks rows and columns 0, 2, 4.
    x = (10 * np.arange(5)[:, None] + np.arange(5)[None, :]).astype(float).reshape(1, 5, 5, 1)
    conv = Conv2D(1, 1, stride=2, w_init=fn.Constant(1.0))
    y, _ = fn.forward(conv, fn.init(conv, fn.key(0), in_shape=(5, 5, 1)), x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 2, 4], [20, 22, 24], [40, 42, 44]])


def test_integer_padding_adds_zeros_on_every_side() -> None:
    # 2x2 ones, padding 1, 2x2 kernel of ones: a 3x3 output counting overlaps, 1 2 1 / 2 4 2 / 1 2 1.
    conv = Conv2D(1, 2, padding=1, w_init=fn.Constant(1.0))
    y, _ = fn.forward(conv, fn.init(conv, fn.key(0), in_shape=(2, 2, 1)), np.ones((1, 2, 2, 1)))
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_backward_of_a_constant_kernel_by_hand() -> None:
    # 3x3 input, 2x2 kernel of ones, dy = ones (2x2): each pixel's dx counts the
    # fields covering it (1 2 1 / 2 4 2 / 1 2 1); dw[a, b] sums the four pixels
    # x[a:a+2, b:b+2] (= the forward values of the first test without bias); db = 4.
    conv = Conv2D(1, 2, w_init=fn.Constant(1.0))
    params = fn.init(conv, fn.key(0), in_shape=(3, 3, 1))
    y, cache = fn.forward(conv, params, np.arange(9.0).reshape(1, 3, 3, 1))
    grads, dx = fn.backward(conv, params, cache, np.ones_like(y))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(grads.leaf("w")[:, :, 0, 0], [[8, 12], [20, 24]])
    np.testing.assert_array_equal(grads.leaf("b"), [4.0])


def test_padding_rules_by_hand() -> None:
    # same: out = ceil(in / s); total pad = (out - 1) s + k - in, the odd zero after.
    assert conv_padding(28, 5, 1, "same") == (2, 2)
    assert conv_padding(28, 4, 1, "same") == (1, 2)
    assert conv_padding(7, 3, 2, "same") == (1, 1)  # out 4: 3*2 + 3 - 7 = 2
    assert conv_padding(8, 3, 2, "same") == (0, 1)  # out 4: 3*2 + 3 - 8 = 1
    assert conv_padding(5, 1, 3, "same") == (0, 0)  # out 2: 1*3 + 1 - 5 < 0 -> no padding
    assert conv_padding(9, 3, 1, "valid") == (0, 0)
    assert conv_padding(9, 3, 1, 2) == (2, 2)
    assert [conv_output_size(28, 5, 1, p) for p in ("valid", "same", 1)] == [24, 28, 26]
    assert [conv_output_size(28, 5, 2, p) for p in ("valid", "same", 2)] == [12, 14, 14]


# --- a loop reference over strides, paddings and channel counts ------------------------------------


@pytest.mark.parametrize("stride", [1, 2, (2, 1)])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("c_in", [1, 3])
def test_forward_matches_the_loop_reference(stride: int | tuple[int, int], padding: str | int, c_in: int,
                                            key: fn.Key) -> None:
    conv = Conv2D(2, (3, 2), stride=stride, padding=padding)
    params = random_params(conv, key, (6, 5, c_in))
    x = generator(fn.fold_in(key, "x")).standard_normal((2, 6, 5, c_in))
    y, _ = fn.forward(conv, params, x)
    pads = (conv_padding(6, 3, conv.stride[0], padding), conv_padding(5, 2, conv.stride[1], padding))
    expected = loop_conv(x, params.leaf("w"), params.leaf("b"), conv.stride, pads)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def loop_conv_dx(
    w: NDArray[np.floating], dy: NDArray[np.floating], x_shape: tuple[int, ...], stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
) -> NDArray[np.floating]:
    """The reference formula for dx, with the scatter as explicit loops over output pixels.

    Kernel offsets (a, q) in row-major order; offset (a, q)'s block is the matrix
    product ``dy @ w[a, q]ᵀ`` over the whole batch (the reference's own product,
    so its float rounding is the reference's), and each of its pixels is added
    onto the input pixel its field was copied from, into a padded zero image.
    """
    kh, kw, c_in, c_out = w.shape
    n, oh, ow, _ = dy.shape
    (top, bottom), (left, right) = pads
    dxp = np.zeros((n, x_shape[1] + top + bottom, x_shape[2] + left + right, c_in), dtype=dy.dtype)
    dy2 = dy.reshape(n * oh * ow, c_out)
    for a in range(kh):
        for q in range(kw):
            block = (dy2 @ w[a, q].T).reshape(n, oh, ow, c_in)
            for i in range(oh):
                for j in range(ow):
                    dxp[:, i * stride[0] + a, j * stride[1] + q] += block[:, i, j]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("in_shape", "kernel", "stride", "padding", "batch", "c_out"),
    [
        ((12, 12, 16), 5, 1, "valid", 3, 32),  # the benchmark CNN's second convolution, smaller batch
        ((28, 28, 1), 5, 1, "same", 2, 16),  # its first, with "same" padding
        ((7, 9, 3), 3, 1, "same", 1, 2),  # odd sizes, batch 1
        ((6, 6, 1), 4, 1, "same", 2, 3),  # even kernel: the odd zero of padding after
        ((7, 5, 2), (2, 3), 1, 1, 3, 4),  # integer padding, non-square kernel
        ((5, 6, 4), 1, 1, "valid", 3, 5),  # 1 x 1 kernel
        ((9, 8, 5), 3, 2, "valid", 2, 3),  # stride 2: fields that do not overlap every pixel
        ((8, 7, 2), (3, 2), (2, 1), "same", 2, 3),
    ],
)
def test_dx_is_the_reference_formula_bit_for_bit(
    in_shape: tuple[int, int, int], kernel: int | tuple[int, int], stride: int | tuple[int, int],
    padding: str | int, batch: int, c_out: int, dtype: type[np.floating], key: fn.Key,
) -> None:
    conv = Conv2D(c_out, kernel, stride=stride, padding=padding)
    params = fn.init(conv, key, in_shape=in_shape, dtype=dtype)
    x = generator(fn.fold_in(key, "x")).standard_normal((batch, *in_shape)).astype(dtype)
    y, cache = fn.forward(conv, params, x)
    dy = generator(fn.fold_in(key, "dy")).standard_normal(y.shape).astype(dtype)
    _, dx = fn.backward(conv, params, cache, dy)
    pads = (conv_padding(in_shape[0], conv.kernel_size[0], conv.stride[0], padding),
            conv_padding(in_shape[1], conv.kernel_size[1], conv.stride[1], padding))
    expected = loop_conv_dx(params.leaf("w"), dy, x.shape, conv.stride, pads)
    assert dx.dtype == dtype
    assert np.array_equal(dx, expected)
    assert np.array_equal(np.signbit(dx), np.signbit(expected))  # even the signs of zeros


# --- gradients (float64) --------------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same", 1])
@pytest.mark.parametrize(("c_in", "c_out"), [(1, 2), (2, 3), (3, 1)])
def test_check_gradients_per_leaf(stride: int, padding: str | int, c_in: int, c_out: int, key: fn.Key) -> None:
    conv = Conv2D(c_out, 3, stride=stride, padding=padding)
    in_shape = (5, 4, c_in)
    params = random_params(conv, key, in_shape)
    rng = generator(fn.fold_in(key, "data"))
    x = rng.standard_normal((2, *in_shape))
    t = rng.standard_normal((2, *fn.output_shape(conv, in_shape)))
    report = fn.check_gradients(conv, params, x, t, fn.MSE())
    assert set(report.errors) == {"w", "b", "x"}
    assert report.ok(1e-7), str(report)


def _vjp_error(spec: fn.Layer, params: fn.FrozenTree[np.float64], x: F64, rng: np.random.Generator) -> float:
    """Relative gap between <backward(u), t> and the central difference of <forward, u> along t."""
    y, cache = spec.forward(params, x)
    u = rng.standard_normal(y.shape)
    grads, dx = spec.backward(params, cache, u)
    tp = fn.tree_map(lambda a: rng.standard_normal(a.shape), params)
    tx = rng.standard_normal(x.shape)
    analytic = float(np.vdot(dx, tx)) + sum(
        float(np.vdot(g, t)) for g, t in zip(fn.tree_leaves(grads), fn.tree_leaves(tp), strict=True)
    )

    def along(s: float) -> float:
        p = fn.tree_map(lambda a, d: a + s * d, params, tp)
        return float(np.vdot(spec.forward(p, x + s * tx)[0], u))

    eps = 1e-6
    numeric = (along(eps) - along(-eps)) / (2 * eps)
    return abs(numeric - analytic) / max(abs(analytic), 1.0)


@given(
    hw=st.tuples(st.integers(3, 9), st.integers(3, 9)),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.sampled_from(PADDINGS),
    channels=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_vjp_over_drawn_geometries(
    hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], padding: str | int,
    channels: tuple[int, int], batch: int, seed: int,
) -> None:
    conv = Conv2D(channels[1], kernel, stride=stride, padding=padding)
    in_shape = (*hw, channels[0])
    params = random_params(conv, fn.key(seed), in_shape)
    rng = generator(fn.fold_in(fn.key(seed), "data"))
    x = rng.standard_normal((batch, *in_shape))
    assert _vjp_error(conv, params, x, rng) < 1e-7


def test_check_gradients_through_a_small_cnn_and_loss(key: fn.Key) -> None:
    # Tanh/LeakyReLU rather than ReLU keep the finite differences away from kinks.
    model = fn.Sequential(
        Conv2D(3, 3, padding="same", b_init=fn.Normal(0.3)), fn.Tanh(), MaxPool2D(2),
        Conv2D(4, 2, stride=2, padding=1, b_init=fn.Normal(0.3)), fn.LeakyReLU(0.1), AvgPool2D(2, stride=1),
        fn.Flatten(), fn.Dense(3),
    )  # fmt: skip
    in_shape = (8, 7, 2)
    assert fn.output_shape(model, in_shape) == (3,)
    params = fn.init(model, key, in_shape=in_shape)
    rng = generator(fn.fold_in(key, "data"))
    x = rng.standard_normal((3, *in_shape))
    report = fn.check_gradients(model, params, x, np.array([0, 2, 1]), CCE)
    assert set(report.errors) == {*fn.tree_paths(params), "x"}
    assert report.ok(1e-6), str(report)


def test_need_dx_false_gives_the_same_grads_and_an_empty_dx(key: fn.Key) -> None:
    for c_in in (1, 3):  # both im2col layouts
        conv = Conv2D(2, 3, padding="same")
        params = random_params(conv, key, (5, 5, c_in))
        x = generator(key).standard_normal((2, 5, 5, c_in))
        y, cache = fn.forward(conv, params, x)
        dy = generator(fn.fold_in(key, "dy")).standard_normal(y.shape)
        grads, dx = fn.backward(conv, params, cache, dy)
        grads_no_dx, no_dx = fn.backward(conv, params, cache, dy, need_dx=False)
        assert dx.shape == x.shape
        assert fn.tree_equal(grads, grads_no_dx)
        assert no_dx.size == 0


# --- shapes ---------------------------------------------------------------------------------------


@given(
    hw=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    padding=st.sampled_from(PADDINGS),
    c_in=st.integers(1, 3),
    batch=st.integers(1, 3),
)
def test_init_output_shape_agrees_with_forward_and_the_formulas(
    hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], padding: str | int, c_in: int, batch: int
) -> None:
    conv = Conv2D(2, kernel, stride=stride, padding=padding)
    pad = [0 if padding in ("valid", "same") else int(padding)] * 2
    if padding == "same":
        # the stated rule: ceil(in / stride) positions, whatever the kernel
        expected = tuple(math.ceil(hw[i] / stride[i]) for i in range(2))
    else:
        expected = tuple((hw[i] + 2 * pad[i] - kernel[i]) // stride[i] + 1 for i in range(2))
    if min(expected) < 1:
        with pytest.raises(ShapeError):
            fn.output_shape(conv, (*hw, c_in))
        return
    out_shape = fn.output_shape(conv, (*hw, c_in))
    assert out_shape == (*expected, 2)
    params = fn.init(conv, fn.key(0), in_shape=(*hw, c_in), dtype=np.float64)
    y, cache = fn.forward(conv, params, np.ones((batch, *hw, c_in)))
    assert y.shape == (batch, *out_shape)
    grads, dx = fn.backward(conv, params, cache, np.ones_like(y))
    assert dx.shape == (batch, *hw, c_in)
    assert grads.leaf("w").shape == (*kernel, c_in, 2)


def test_params_layout() -> None:
    params = fn.init(Conv2D(16, 5), fn.key(0), in_shape=(28, 28, 3))
    assert params.leaf("w").shape == (5, 5, 3, 16)
    assert params.leaf("b").shape == (16,)
    assert fn.output_shape(Conv2D(16, (5, 3), stride=(1, 2)), (28, 28, 3)) == (24, 13, 16)


def test_default_init_is_he_normal_with_zero_bias() -> None:
    # He: std = sqrt(2 / fan_in) with fan_in = kh * kw * c_in = 3 * 3 * 64 = 576.
    params = fn.init(Conv2D(64, 3), fn.key(0), in_shape=(8, 8, 64))
    w = params.leaf("w")
    assert float(np.std(w)) == pytest.approx(math.sqrt(2 / 576), rel=0.02)
    assert abs(float(np.mean(w))) < 0.005
    np.testing.assert_array_equal(params.leaf("b"), np.zeros(64))


# --- errors ----------------------------------------------------------------------------------------


def test_kernel_larger_than_the_padded_input_names_the_layer_and_both_shapes() -> None:
    conv = Conv2D(4, 5)
    with pytest.raises(ShapeError, match=r"Conv2D\(out_channels=4, kernel_size=\(5, 5\)\).*\(5, 5\).*\(3, 8, 1\)"):
        fn.init(conv, fn.key(0), in_shape=(3, 8, 1))
    params = fn.init(conv, fn.key(0), in_shape=(8, 8, 1))
    with pytest.raises(ShapeError, match=r"Conv2D.*kernel \(5, 5\).*\(4, 8, 1\).*padded to \(4, 8\)"):
        fn.forward(conv, params, np.ones((2, 4, 8, 1)))
    # "same" and enough integer padding make it fit
    assert fn.output_shape(Conv2D(4, 5, padding="same"), (3, 8, 1)) == (3, 8, 4)
    assert fn.output_shape(Conv2D(4, 5, padding=1), (3, 8, 1)) == (1, 6, 4)


def test_forward_rejects_a_wrong_channel_count_or_rank() -> None:
    conv = Conv2D(4, 3)
    params = fn.init(conv, fn.key(0), in_shape=(6, 6, 2))
    with pytest.raises(ShapeError, match=r"Conv2D.*expected input \(batch, height, width, 2\), got \(1, 6, 6, 3\)"):
        fn.forward(conv, params, np.ones((1, 6, 6, 3)))
    with pytest.raises(ShapeError, match=r"got \(1, 72\)"):
        fn.forward(conv, params, np.ones((1, 72)))
    with pytest.raises(ShapeError, match="channels-last"):
        fn.init(conv, fn.key(0), in_shape=(784,))


def test_sequential_prefixes_the_layer_name() -> None:
    model = fn.Sequential(Conv2D(4, 3), fn.ReLU(), Conv2D(2, 5))
    with pytest.raises(ShapeError, match=r"conv2d_1 Conv2D\(out_channels=2, kernel_size=\(5, 5\)\)"):
        fn.init(model, fn.key(0), in_shape=(6, 6, 1))


def test_backward_rejects_a_wrong_dy() -> None:
    conv = Conv2D(4, 3)
    params = fn.init(conv, fn.key(0), in_shape=(6, 6, 2), dtype=np.float64)
    _, cache = fn.forward(conv, params, np.ones((2, 6, 6, 2)))
    with pytest.raises(ShapeError, match=r"dy of shape \(2, 4, 4, 4\), got \(2, 4, 4, 3\)"):
        fn.backward(conv, params, cache, np.ones((2, 4, 4, 3)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Conv2D(0, 3), "out_channels"),
        (lambda: Conv2D(4, 0), r"kernel_size=\(0, 0\)"),
        (lambda: Conv2D(4, 3, stride=0), r"stride=\(0, 0\)"),
        (lambda: Conv2D(4, 3, padding="full"), "padding='full'"),
        (lambda: Conv2D(4, 3, padding=-1), "padding=-1"),
        (lambda: Conv2D(4, (3, 3, 3)), r"\(3, 3, 3\)"),  # type: ignore[arg-type]
    ],
)
def test_bad_hyperparameters_are_rejected_with_name_equals_value(make: Callable[[], Conv2D], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_repr_shows_non_default_fields() -> None:
    assert repr(Conv2D(16, 5)) == "Conv2D(out_channels=16, kernel_size=(5, 5))"
    assert repr(Conv2D(8, (3, 2), stride=2, padding="same")) == (
        "Conv2D(out_channels=8, kernel_size=(3, 2), stride=(2, 2), padding='same')"
    )


# --- purity and dtype ------------------------------------------------------------------------------


def test_pure_and_read_only(key: fn.Key) -> None:
    conv = Conv2D(3, 3, stride=2, padding="same")
    params = random_params(conv, key, (6, 6, 2))
    assert fn.tree_equal(fn.init(conv, key, in_shape=(6, 6, 2)), fn.init(conv, key, in_shape=(6, 6, 2)))
    assert not np.array_equal(fn.init(conv, fn.fold_in(key, 1), in_shape=(6, 6, 2)).leaf("w"), params.leaf("w"))
    x = generator(key).standard_normal((2, 6, 6, 2))
    x_before, params_before = x.copy(), copy.deepcopy(fn.thaw(params))
    y1, cache = fn.forward(conv, params, x)
    y2, _ = fn.forward(conv, params, x)
    np.testing.assert_array_equal(y1, y2)
    dy = np.ones_like(y1)
    grads, dx = fn.backward(conv, params, cache, dy)
    grads2, dx2 = fn.backward(conv, params, cache, dy)
    assert fn.tree_equal(grads, grads2)
    np.testing.assert_array_equal(dx, dx2)
    np.testing.assert_array_equal(x, x_before)
    frozen_before: fn.FrozenTree[np.float64] = fn.freeze(params_before)
    assert fn.tree_allclose(params, frozen_before, rtol=0.0)
    for a in (y1, dx, *fn.tree_leaves(grads), *fn.tree_leaves(cache), *fn.tree_leaves(params)):
        assert not a.flags.writeable


@pytest.mark.parametrize("c_in", [1, 3])
def test_float32_stays_float32(c_in: int, key: fn.Key) -> None:
    conv = Conv2D(4, 3, padding="same")
    params = fn.init(conv, key, in_shape=(6, 6, c_in), dtype=np.float32)
    x = generator(key).standard_normal((2, 6, 6, c_in)).astype(np.float32)
    y, cache = fn.forward(conv, params, x)
    grads, dx = fn.backward(conv, params, cache, np.ones_like(y))
    for a in (y, dx, *fn.tree_leaves(params), *fn.tree_leaves(grads), *fn.tree_leaves(cache)):
        assert a.dtype == np.float32
    # and it computes the same function as float64, to float32 precision
    p64 = fn.tree_map(lambda a: a.astype(np.float64), params)
    y64, _ = fn.forward(conv, p64, x.astype(np.float64))
    np.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-5)


def test_config_round_trip() -> None:
    from funcnn.config import from_config, to_config

    for spec in (Conv2D(16, 5), Conv2D(8, (3, 2), stride=(2, 1), padding="same", name="c"), Conv2D(4, 3, padding=2)):
        config = to_config(spec)
        assert from_config(config) == spec
