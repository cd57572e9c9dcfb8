"""MaxPool2D and AvgPool2D: hand-computed values, arg-max routing and ties, a loop reference,
gradient checks, shapes, errors, purity and dtype.

Expected values are worked out by hand, by a nested-loop reference written here,
or by finite differences; never taken from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn._typing import Array, FloatT
from funcnn.errors import ShapeError
from funcnn.layers.pool import AvgPool2D, MaxPool2D
from funcnn.rng import generator

F64 = NDArray[np.float64]
EMPTY: fn.FrozenTree[np.float64] = fn.FrozenTree()
Pool = MaxPool2D | AvgPool2D

# (spec, in_shape): tiling windows (the fast path), tiling with uncovered rows/columns,
# overlapping windows, gaps between windows, rectangular windows.
POOL_CASES: list[tuple[Pool, tuple[int, int, int]]] = [
    (MaxPool2D(2), (4, 6, 3)),
    (MaxPool2D(2), (5, 7, 2)),
    (MaxPool2D(3, stride=2), (7, 6, 2)),
    (MaxPool2D(2, stride=3), (8, 7, 1)),
    (MaxPool2D((2, 3)), (4, 6, 2)),
    (MaxPool2D((1, 2), stride=1), (3, 4, 2)),
    (AvgPool2D(2), (4, 6, 3)),
    (AvgPool2D(2), (5, 7, 2)),
    (AvgPool2D(3, stride=2), (7, 6, 2)),
    (AvgPool2D(2, stride=3), (8, 7, 1)),
    (AvgPool2D((2, 3), stride=(1, 2)), (4, 7, 2)),
]


def case_id(case: tuple[Pool, tuple[int, int, int]]) -> str:
    return f"{case[0]!r}-{case[1]}"


def loop_pool(x: F64, size: tuple[int, int], stride: tuple[int, int], reduce: str) -> tuple[F64, F64]:
    """Reference pooling with explicit loops: the output and dx for dy = 1 + output index.

    Max-pool routes each dy to the first maximum in row-major window order.
    """
    n, h, w, c = x.shape
    oh, ow = (h - size[0]) // stride[0] + 1, (w - size[1]) // stride[1] + 1
    y = np.zeros((n, oh, ow, c))
    dx = np.zeros_like(x)
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    dy = 1.0 + ((s * oh + i) * ow + j) * c + ch
                    r0, c0 = i * stride[0], j * stride[1]
                    window = x[s, r0 : r0 + size[0], c0 : c0 + size[1], ch]
                    if reduce == "max":
                        best = (0, 0)
                        for a in range(size[0]):
                            for b in range(size[1]):
                                if window[a, b] > window[best]:
                                    best = (a, b)
                        y[s, i, j, ch] = window[best]
                        dx[s, r0 + best[0], c0 + best[1], ch] += dy
                    else:
                        y[s, i, j, ch] = window.sum() / window.size
                        dx[s, r0 : r0 + size[0], c0 : c0 + size[1], ch] += dy / window.size
    return y, dx


# --- hand-computed values -------------------------------------------------------------------------


def test_max_pool_by_hand_forward_and_routing() -> None:
    # x = [[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]]: window maxima
    # 5 (at (0,1)), 8 (at (1,2)), 9 (at (3,0)), 7 (at (2,3)).
    x = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]], dtype=float).reshape(1, 4, 4, 1)
    y, cache = fn.forward(MaxPool2D(2), EMPTY, x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 8], [9, 7]])
    _, dx = fn.backward(MaxPool2D(2), EMPTY, cache, np.array([10.0, 20, 30, 40]).reshape(1, 2, 2, 1))
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2], expected[3, 0], expected[2, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


def test_avg_pool_by_hand_forward_and_backward() -> None:
    # Same x: window means (1+5+3+4)/4 = 3.25, (2+0+8+1)/4 = 2.75, (0+2+9+1)/4 = 3, (6+7+3+2)/4 = 4.5.
    x = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]], dtype=float).reshape(1, 4, 4, 1)
    y, cache = fn.forward(AvgPool2D(2), EMPTY, x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[3.25, 2.75], [3.0, 4.5]])
    _, dx = fn.backward(AvgPool2D(2), EMPTY, cache, np.array([4.0, 8, 12, 16]).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


def test_overlapping_windows_by_hand() -> None:
    # 1-D in effect: a row [1, 3, 2, 5, 4], windows of 1x3 at stride 1 -> max [3, 5, 5], mean [2, 10/3, 11/3].
    x = np.array([1.0, 3, 2, 5, 4]).reshape(1, 1, 5, 1)
    y_max, cache = fn.forward(MaxPool2D((1, 3), stride=1), EMPTY, x)
    np.testing.assert_array_equal(y_max.ravel(), [3, 5, 5])
    _, dx = fn.backward(MaxPool2D((1, 3), stride=1), EMPTY, cache, np.array([1.0, 10, 100]).reshape(1, 1, 3, 1))
    np.testing.assert_array_equal(dx.ravel(), [0, 1, 0, 110, 0])  # the 5 wins two windows: gradients add up
    y_avg, cache = fn.forward(AvgPool2D((1, 3), stride=1), EMPTY, x)
    np.testing.assert_allclose(y_avg.ravel(), [2, 10 / 3, 11 / 3], rtol=1e-15)
    _, dx = fn.backward(AvgPool2D((1, 3), stride=1), EMPTY, cache, np.array([3.0, 6, 9]).reshape(1, 1, 3, 1))
    np.testing.assert_allclose(dx.ravel(), [1, 3, 6, 5, 3], rtol=1e-15)


def test_channels_are_pooled_separately() -> None:
    x = np.zeros((1, 2, 2, 2))
    x[0, :, :, 0] = [[1, 2], [3, 4]]
    x[0, :, :, 1] = [[8, 7], [6, 5]]
    y, _ = fn.forward(MaxPool2D(2), EMPTY, x)
    np.testing.assert_array_equal(y[0, 0, 0], [4, 8])


@pytest.mark.parametrize("pool", [MaxPool2D(2), MaxPool2D(2, stride=1), MaxPool2D(3, stride=2)], ids=repr)
def test_ties_go_to_the_first_maximum_only(pool: MaxPool2D) -> None:
    # All-equal windows (e.g. ReLU zeros): the whole gradient goes to the window's
    # top-left pixel, never split or duplicated.
    x = np.zeros((2, 5, 5, 3))
    y, cache = fn.forward(pool, EMPTY, x)
    dy = 1.0 + np.arange(y.size, dtype=float).reshape(y.shape)
    _, dx = fn.backward(pool, EMPTY, cache, dy)
    expected = np.zeros_like(x)
    sh, sw = pool.strides
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            expected[:, i * sh, j * sw, :] += dy[:, i, j, :]
    np.testing.assert_array_equal(dx, expected)
    assert dx.sum() == dy.sum()


def test_a_tie_inside_a_window_goes_to_the_earlier_pixel_in_row_major_order() -> None:
    x = np.array([[1.0, 7.0], [7.0, 2.0]]).reshape(1, 2, 2, 1)
    _, cache = fn.forward(MaxPool2D(2), EMPTY, x)
    _, dx = fn.backward(MaxPool2D(2), EMPTY, cache, np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 1], [0, 0]])


# --- a loop reference ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", POOL_CASES, ids=case_id)
def test_forward_and_backward_match_the_loop_reference(case: tuple[Pool, tuple[int, int, int]], key: fn.Key) -> None:
    pool, in_shape = case
    x = generator(key).standard_normal((2, *in_shape))
    x[0, 0, :2, 0] = x[0, 1, 0, 0]  # a few exact ties too
    y, cache = fn.forward(pool, EMPTY, x)
    dy = 1.0 + np.arange(y.size, dtype=float).reshape(y.shape)
    _, dx = fn.backward(pool, EMPTY, cache, dy)
    y_ref, dx_ref = loop_pool(x, pool.size, pool.strides, "max" if isinstance(pool, MaxPool2D) else "avg")
    np.testing.assert_allclose(y, y_ref, rtol=1e-14)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-14)


# --- bit-identity with the one-hot mask formula -------------------------------------------------


def mask_pool(
    x: Array[FloatT], size: tuple[int, int], stride: tuple[int, int], dy: Array[FloatT]
) -> tuple[Array[FloatT], Array[FloatT]]:
    """``(y, dx)`` by the explicit one-hot mask formula that backward must reproduce bit for bit.

    ``y`` folds the window offsets with ``np.maximum`` in row-major order. The
    mask is 1.0 at each window's first maximum (row-major), else 0.0. Tiling
    windows: ``dx = mask * dy`` on the covered pixels, 0 on the rest. Overlapping
    windows or gaps: ``dx = 0 + Σ_offsets mask_offset * dy``.
    """
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = size, stride
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    offsets = [(a, b) for a in range(kh) for b in range(kw)]
    spans = [(slice(a, a + sh * (oh - 1) + 1, sh), slice(b, b + sw * (ow - 1) + 1, sw)) for a, b in offsets]
    y = x[:, spans[0][0], spans[0][1]].copy()
    for rows, cols in spans[1:]:
        y = np.maximum(y, x[:, rows, cols])
    taken = np.zeros(y.shape, dtype=bool)
    masks = []
    for rows, cols in spans:
        won = (x[:, rows, cols] == y) & ~taken
        taken = taken | won
        masks.append(won.astype(x.dtype))
    dx = np.zeros_like(x)
    for (rows, cols), mask in zip(spans, masks, strict=True):
        if (sh, sw) == (kh, kw):
            dx[:, rows, cols] = mask * dy
        else:
            dx[:, rows, cols] += mask * dy
    return y, dx


def assert_same_bits(got: Array[FloatT], want: Array[FloatT]) -> None:
    """Equal dtype, shape and values, NaN where NaN, and the same sign on every zero (and every bit)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    uint = np.uint32 if got.dtype == np.float32 else np.uint64
    assert np.array_equal(got.view(uint), want.view(uint))


# (size, stride, in_shape): exact tiling, uncovered rows/columns, rectangular, overlapping, gaps, 1 x 1.
MASK_CASES: list[tuple[tuple[int, int], tuple[int, int] | None, tuple[int, int, int, int]]] = [
    ((2, 2), None, (3, 6, 8, 3)),
    ((2, 2), None, (3, 7, 9, 2)),
    ((2, 3), None, (2, 6, 9, 2)),
    ((3, 2), None, (2, 8, 5, 3)),
    ((3, 3), (2, 2), (2, 7, 8, 2)),
    ((2, 2), (1, 1), (2, 5, 5, 2)),
    ((1, 2), (1, 1), (2, 3, 5, 2)),
    ((2, 2), (3, 3), (2, 8, 7, 1)),
    ((1, 1), None, (2, 3, 4, 2)),
    ((2, 2), None, (4, 24, 24, 16)),
    ((2, 2), None, (4, 8, 8, 32)),
]


def awkward_values(rng: np.random.Generator, shape: tuple[int, ...]) -> F64:
    """Few distinct values (ties everywhere), +0.0 and -0.0 side by side, negatives, infinities."""
    values = np.array([0.0, -0.0, 0.0, 1.0, 2.0, -3.0, np.inf, -np.inf, 2.0, 0.5])
    return rng.choice(values, size=shape)


def check_against_the_mask_formula(pool: MaxPool2D, x: Array[FloatT], rng: np.random.Generator) -> None:
    """Forward and backward bits equal ``mask_pool``'s, for dy with negatives, signed zeros, NaN and inf."""
    empty: fn.FrozenTree[FloatT] = fn.FrozenTree()
    y, cache = pool.forward(empty, x)
    # dy: negatives (0.0 * dy is -0.0 off the arg-max), zeros of both signs, NaN; infinities below.
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    dy.flat[::7] = -0.0
    dy.flat[3::11] = 0.0
    dy.flat[5::13] = np.nan
    y_ref, dx_ref = mask_pool(x, pool.size, pool.strides, dy)
    assert_same_bits(y, y_ref)
    assert_same_bits(pool.backward(empty, cache, dy)[1], dx_ref)
    if pool.strides == pool.size != (1, 1):  # the signed zeros under test occur (sums of overlaps make +0.0)
        assert np.any(np.signbit(dx_ref) & (dx_ref == 0))

    # An infinite dy: 0.0 * inf is an invalid operation (NaN) off the arg-max, raised as by the mask product.
    dy.flat[1::5] = np.inf
    dy.flat[2::9] = -np.inf
    if pool.size != (1, 1):
        with pytest.raises(FloatingPointError):
            pool.backward(empty, cache, dy)
        with pytest.raises(FloatingPointError):
            mask_pool(x, pool.size, pool.strides, dy)
    with np.errstate(invalid="ignore"):
        dx = pool.backward(empty, cache, dy)[1]
        _, dx_ref = mask_pool(x, pool.size, pool.strides, dy)
    assert_same_bits(dx, dx_ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", MASK_CASES, ids=lambda case: f"{case[0]}-{case[1]}-{case[2]}")
def test_forward_and_backward_are_bit_identical_to_the_mask_formula(
    case: tuple[tuple[int, int], tuple[int, int] | None, tuple[int, int, int, int]], dtype: str, key: fn.Key
) -> None:
    size, stride, shape = case
    rng = generator(key)
    x = awkward_values(rng, shape)
    x.flat[rng.choice(x.size, size=max(1, x.size // 50), replace=False)] = np.nan  # some NaN windows
    if dtype == "float32":
        check_against_the_mask_formula(MaxPool2D(size, stride=stride), x.astype(np.float32), rng)
    else:
        check_against_the_mask_formula(MaxPool2D(size, stride=stride), x, rng)


def test_a_window_holding_nan_passes_no_gradient() -> None:
    # Windows [[1, nan], [0, 4]] and [[2, 3], [5, 1]]: the first max is NaN, which no pixel
    # equals, so its dy reaches no pixel: 0.0 * -2 = -0.0 everywhere in that window.
    x = np.array([[1, np.nan, 2, 3], [0, 4, 5, 1]], dtype=np.float32).reshape(1, 2, 4, 1)
    y, cache = MaxPool2D(2).forward(fn.FrozenTree(), x)
    np.testing.assert_array_equal(y.ravel(), [np.nan, 5])
    dy = np.array([-2.0, 3.0], dtype=np.float32).reshape(1, 1, 2, 1)
    _, dx = MaxPool2D(2).backward(fn.FrozenTree(), cache, dy)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 0, 0], [0, 0, 3, 0]])
    assert np.signbit(dx[0, :, :2, 0]).all() and not np.signbit(dx[0, :, 2:, 0]).any()


@given(
    hw=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))),
    channels=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_bit_identity_over_drawn_geometries(
    hw: tuple[int, int], size: tuple[int, int], stride: tuple[int, int] | None, channels: int, seed: int,
) -> None:
    if size[0] > hw[0] or size[1] > hw[1]:
        return
    rng = generator(fn.key(seed))
    check_against_the_mask_formula(MaxPool2D(size, stride=stride), awkward_values(rng, (2, *hw, channels)), rng)


# --- gradients (float64) --------------------------------------------------------------------------


@pytest.mark.parametrize("case", POOL_CASES, ids=case_id)
def test_check_gradients_inside_a_small_cnn(case: tuple[Pool, tuple[int, int, int]], key: fn.Key) -> None:
    from funcnn.layers.conv import Conv2D

    pool, in_shape = case
    model = fn.Sequential(Conv2D(2, 2, padding="same", b_init=fn.Normal(0.3)), pool, fn.Flatten(), fn.Dense(3))
    params = fn.init(model, key, in_shape=in_shape)
    x = generator(fn.fold_in(key, "x")).standard_normal((2, *in_shape))
    report = fn.check_gradients(model, params, x, np.array([0, 2]), fn.CategoricalCrossEntropy(from_logits=True))
    assert report.ok(1e-6), str(report)


@given(
    hw=st.tuples(st.integers(2, 9), st.integers(2, 9)),
    size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    channels=st.integers(1, 3),
    batch=st.integers(1, 3),
    is_max=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_vjp_over_drawn_geometries(
    hw: tuple[int, int], size: tuple[int, int], stride: tuple[int, int] | None, channels: int, batch: int,
    is_max: bool, seed: int,
) -> None:
    pool: Pool = MaxPool2D(size, stride=stride) if is_max else AvgPool2D(size, stride=stride)
    if size[0] > hw[0] or size[1] > hw[1]:
        with pytest.raises(ShapeError):
            fn.output_shape(pool, (*hw, channels))
        return
    rng = generator(fn.key(seed))
    x = rng.standard_normal((batch, *hw, channels))
    y, cache = fn.forward(pool, EMPTY, x)
    assert y.shape == (batch, *fn.output_shape(pool, (*hw, channels)))
    u, t = rng.standard_normal(y.shape), rng.standard_normal(x.shape)
    _, dx = fn.backward(pool, EMPTY, cache, u)
    eps = 1e-7  # random normal inputs: no two values in a window within 1e-7 in practice
    plus, minus = fn.forward(pool, EMPTY, x + eps * t)[0], fn.forward(pool, EMPTY, x - eps * t)[0]
    numeric = float(np.vdot(plus, u) - np.vdot(minus, u))
    assert numeric / (2 * eps) == pytest.approx(float(np.vdot(dx, t)), rel=1e-6, abs=1e-8)


# --- shapes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", POOL_CASES, ids=case_id)
def test_init_output_shape_agrees_with_forward(case: tuple[Pool, tuple[int, int, int]]) -> None:
    pool, in_shape = case
    (kh, kw), (sh, sw) = pool.size, pool.strides
    expected = ((in_shape[0] - kh) // sh + 1, (in_shape[1] - kw) // sw + 1, in_shape[2])
    assert fn.output_shape(pool, in_shape) == expected
    assert len(fn.init(pool, fn.key(0), in_shape=in_shape)) == 0
    y, cache = fn.forward(pool, EMPTY, np.ones((3, *in_shape)))
    assert y.shape == (3, *expected)
    grads, dx = fn.backward(pool, EMPTY, cache, np.ones_like(y))
    assert len(grads) == 0
    assert dx.shape == (3, *in_shape)


def test_stride_defaults_to_the_window_size() -> None:
    assert MaxPool2D(2).strides == (2, 2)
    assert MaxPool2D(3, stride=1).strides == (1, 1)
    assert AvgPool2D((2, 3)).strides == (2, 3)
    assert repr(MaxPool2D(2)) == "MaxPool2D(size=(2, 2))"
    assert repr(AvgPool2D(3, stride=2)) == "AvgPool2D(size=(3, 3), stride=(2, 2))"


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", [MaxPool2D(3), AvgPool2D(3)], ids=repr)
def test_window_larger_than_the_input_names_the_layer_and_both_shapes(pool: Pool) -> None:
    name = type(pool).__name__
    with pytest.raises(ShapeError, match=rf"{name}\(size=\(3, 3\)\).*window \(3, 3\).*got \(2, 5, 1\)"):
        fn.init(pool, fn.key(0), in_shape=(2, 5, 1))
    with pytest.raises(ShapeError, match=rf"{name}.*window \(3, 3\).*got \(5, 2, 1\)"):
        fn.forward(pool, EMPTY, np.ones((1, 5, 2, 1)))
    with pytest.raises(ShapeError, match=rf"{name}.*expected input \(batch, height, width, channels\), got \(1, 25\)"):
        fn.forward(pool, EMPTY, np.ones((1, 25)))
    _, cache = fn.forward(pool, EMPTY, np.ones((2, 6, 6, 1)))
    with pytest.raises(ShapeError, match=r"dy of shape \(2, 2, 2, 1\), got \(2, 3, 3, 1\)"):
        fn.backward(pool, EMPTY, cache, np.ones((2, 3, 3, 1)))


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
def test_bad_hyperparameters_are_rejected(cls: type[Pool]) -> None:
    with pytest.raises(ValueError, match=r"size=\(0, 2\)"):
        cls((0, 2))
    with pytest.raises(ValueError, match=r"stride=\(0, 0\)"):
        cls(2, stride=0)
    with pytest.raises(TypeError, match="pair of ints"):
        cls(2.5)  # type: ignore[arg-type]


# --- purity and dtype ------------------------------------------------------------------------------


def run_pure(pool: fn.Layer, x: Array[FloatT]) -> Array[FloatT]:
    """Forward and backward twice on a read-only ``x``: same results, ``x`` unchanged, outputs read-only."""
    before = x.copy()
    x.flags.writeable = False
    empty: fn.FrozenTree[FloatT] = fn.FrozenTree()
    y, pool_cache = pool.forward(empty, x)
    y2, _ = pool.forward(empty, x)
    np.testing.assert_array_equal(y, y2)
    _, dx = pool.backward(empty, pool_cache, np.ones_like(y))
    np.testing.assert_array_equal(x, before)
    for a in [y, dx] + fn.tree_leaves(pool_cache):
        assert a.dtype == x.dtype
        assert not a.flags.writeable
    return y


@pytest.mark.parametrize("case", POOL_CASES, ids=case_id)
def test_pure_read_only_and_float32(case: tuple[Pool, tuple[int, int, int]], key: fn.Key) -> None:
    pool, in_shape = case
    x64 = generator(key).standard_normal((2, *in_shape))
    y64 = run_pure(pool, x64)
    y32 = run_pure(pool, x64.astype(np.float32))
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-6)


def test_config_round_trip() -> None:
    from funcnn.config import from_config, to_config

    for spec in (MaxPool2D(2), MaxPool2D((2, 3), stride=1, name="p"), AvgPool2D(3, stride=2)):
        assert from_config(to_config(spec)) == spec
