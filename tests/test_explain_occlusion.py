"""funcnn.explain.occlusion against a plain reference loop (one forward per window), and its properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn import explain
from funcnn.errors import ExplainError
from funcnn.explain._trace import leaves
from funcnn.explain.perturbation import _plan, window_starts
from funcnn.rng import generator

F64 = NDArray[np.float64]

MODEL = fn.Sequential(fn.Conv2D(3, 2, padding="same"), fn.ReLU(), fn.Flatten(), fn.Dense(4))


def ref_starts(size: int, window: int, stride: int) -> list[int]:
    """Step the window from 0 until it reaches the last row (the last one may be cut off)."""
    starts, r = [], 0
    while True:
        starts.append(r)
        if r + window >= size:
            return starts
        r += stride


def ref_occlusion(model: fn.Layer, params: fn.FrozenTree[np.float64], x: F64, target: int,
                  window: tuple[int, int], stride: tuple[int, int], baseline: float | F64 = 0.0) -> F64:
    """Captum's rule, one image and one window at a time: mean drop over the windows covering each pixel."""
    n, h, w, c = x.shape
    out = np.zeros(x.shape)
    for i in range(n):
        y0 = fn.predict(model, params, x[i : i + 1])[0, target]
        total, count = np.zeros((h, w)), np.zeros((h, w))
        for r in ref_starts(h, window[0], stride[0]):
            for s in ref_starts(w, window[1], stride[1]):
                occluded = x[i].copy()
                occluded[r : r + window[0], s : s + window[1]] = np.broadcast_to(baseline, (h, w, c))[
                    r : r + window[0], s : s + window[1]]
                drop = y0 - fn.predict(model, params, occluded[None])[0, target]
                total[r : r + window[0], s : s + window[1]] += drop
                count[r : r + window[0], s : s + window[1]] += 1
        for a in range(h):
            for b in range(w):
                out[i, a, b, :] = total[a, b] / count[a, b] if count[a, b] else 0.0
    return out


@pytest.fixture
def setup(key: fn.Key) -> tuple[fn.FrozenTree[np.float64], F64]:
    params = fn.init(MODEL, key, in_shape=(5, 6, 2))
    x = generator(fn.fold_in(key, "x")).standard_normal((2, 5, 6, 2))
    return params, x


@pytest.mark.parametrize(("window", "stride"), list(itertools.product([1, 2, 3, (2, 3), (5, 6)], [1, 2, 3, (1, 2)])))
def test_occlusion_matches_the_reference_for_every_window_and_stride(
    window: int | tuple[int, int], stride: int | tuple[int, int], setup: tuple[fn.FrozenTree[np.float64], F64]
) -> None:
    params, x = setup
    wp = window if isinstance(window, tuple) else (window, window)
    sp = stride if isinstance(stride, tuple) else (stride, stride)
    expected = ref_occlusion(MODEL, params, x, 2, wp, sp)
    for batch_size in (1, 7, 1000):  # bounded batches give the same maps
        got = explain.occlusion(MODEL, params, x, 2, window=window, stride=stride, batch_size=batch_size)
        assert got.shape == x.shape
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# Unpadded convolutions and pools first: occlusion runs them on crops of the image only.
LOCAL = fn.Sequential(
    fn.Conv2D(3, 3), fn.ReLU(), fn.MaxPool2D(2), fn.Conv2D(4, 3), fn.Tanh(), fn.Flatten(), fn.Dense(3)
)


@pytest.mark.parametrize(("window", "stride"), [(2, 2), (3, 1), ((2, 4), (3, 2)), (4, 3), (1, 1), (5, 2)])
def test_the_cropped_prefix_gives_the_reference_maps(window: int | tuple[int, int], stride: int | tuple[int, int],
                                                      key: fn.Key) -> None:
    params = fn.init(LOCAL, key, in_shape=(14, 13, 2))
    x = generator(fn.fold_in(key, "x")).standard_normal((3, 14, 13, 2))
    baseline = generator(fn.fold_in(key, "b")).standard_normal((14, 13, 2))
    wp = window if isinstance(window, tuple) else (window, window)
    sp = stride if isinstance(stride, tuple) else (stride, stride)
    starts = (window_starts(14, wp[0], sp[0]), window_starts(13, wp[1], sp[1]))
    plan = _plan(leaves(LOCAL, params), (14, 13), wp, starts)
    assert plan is not None and plan.prefix >= 1  # the fast path is the one tested
    for b in (0.0, baseline):
        expected = ref_occlusion(LOCAL, params, x, 1, wp, sp, b)
        for batch_size in (5, 1000):
            got = explain.occlusion(LOCAL, params, x, 1, window=window, stride=stride, baseline=b,
                                    batch_size=batch_size)
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@given(h=st.integers(1, 7), w=st.integers(1, 7), c=st.integers(1, 2), data=st.data())
def test_any_image_window_and_stride_gives_the_reference_map(h: int, w: int, c: int, data: st.DataObject) -> None:
    kh, kw = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    sh, sw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    model = fn.Sequential(fn.Flatten(), fn.Dense(3), fn.Tanh(), fn.Dense(2))
    k = fn.key(h * 100 + w * 10 + c)
    params = fn.init(model, k, in_shape=(h, w, c))
    x = generator(fn.fold_in(k, "x")).standard_normal((2, h, w, c))
    got = explain.occlusion(model, params, x, 1, window=(kh, kw), stride=(sh, sw), batch_size=3)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, ref_occlusion(model, params, x, 1, (kh, kw), (sh, sw)), rtol=1e-10, atol=1e-12)


def test_per_sample_targets_and_an_image_baseline(setup: tuple[fn.FrozenTree[np.float64], F64], key: fn.Key) -> None:
    params, x = setup
    baseline = generator(fn.fold_in(key, "b")).standard_normal((1, 6, 2))  # broadcasts over rows
    got = explain.occlusion(MODEL, params, x, [3, 1], window=2, stride=1, baseline=baseline, batch_size=5)
    for i, t in enumerate([3, 1]):
        expected = ref_occlusion(MODEL, params, x[i : i + 1], t, (2, 2), (1, 1), baseline)
        np.testing.assert_allclose(got[i : i + 1], expected, rtol=1e-10, atol=1e-12)


def test_a_model_that_ignores_part_of_the_input_gives_it_no_credit(key: fn.Key) -> None:
    model = fn.Sequential(fn.Flatten(), fn.Dense(3))
    params = fn.init(model, key, in_shape=(6, 8, 1))
    w = np.array(fn.tree_get(params, "dense_0/w")).reshape(6, 8, 3)
    w[:, :4] = 0.0  # the left half of every image is ignored
    params = fn.tree_set(params, "dense_0/w", w.reshape(48, 3))
    x = generator(fn.fold_in(key, "x")).standard_normal((3, 6, 8, 1)) + 2.0
    for window, stride in ((2, 2), (3, 1), ((2, 4), (1, 4))):
        got = explain.occlusion(model, params, x, 1, window=window, stride=stride)
        wc = window[1] if isinstance(window, tuple) else window
        sc = stride[1] if isinstance(stride, tuple) else stride
        # columns whose every covering window lies inside the ignored half
        ignored = [col for col in range(8) if all(s + wc <= 4 for s in ref_starts(8, wc, sc) if s <= col < s + wc)]
        assert ignored and not np.any(got[:, :, ignored])
        assert np.any(got[:, :, 4:])


def test_a_window_over_the_whole_input_credits_the_full_drop_everywhere(
    setup: tuple[fn.FrozenTree[np.float64], F64]
) -> None:
    params, x = setup
    got = explain.occlusion(MODEL, params, x, 0, window=(5, 6), stride=1, baseline=0.5)
    drop = fn.predict(MODEL, params, x)[:, 0] - fn.predict(MODEL, params, np.full_like(x, 0.5))[:, 0]
    np.testing.assert_allclose(got, np.broadcast_to(drop[:, None, None, None], x.shape), rtol=1e-12)


def test_occlusion_is_pure_and_keeps_float32(key: fn.Key) -> None:
    params = fn.init(MODEL, key, in_shape=(5, 6, 2), dtype=np.float32)
    x = generator(fn.fold_in(key, "x")).standard_normal((2, 5, 6, 2)).astype(np.float32)
    before = x.copy()
    got = explain.occlusion(MODEL, params, x, 1, window=2, stride=1, baseline=0.25, batch_size=4)
    assert got.dtype == np.float32 and not got.flags.writeable
    np.testing.assert_array_equal(x, before)


def test_occlusion_reports_bad_arguments(setup: tuple[fn.FrozenTree[np.float64], F64]) -> None:
    params, x = setup
    with pytest.raises(ExplainError, match=r"window no larger than the image \(5, 6\), got window=\(6, 2\)"):
        explain.occlusion(MODEL, params, x, 0, window=(6, 2), stride=1)
    with pytest.raises(ExplainError, match="stride must be an int >= 1"):
        explain.occlusion(MODEL, params, x, 0, window=2, stride=0)
    with pytest.raises(ExplainError, match="batch_size must be an int >= 1"):
        explain.occlusion(MODEL, params, x, 0, window=2, stride=1, batch_size=0)
    with pytest.raises(ExplainError, match=r"baseline that broadcasts to one image \(5, 6, 2\)"):
        explain.occlusion(MODEL, params, x, 0, window=2, stride=1, baseline=np.zeros(3))
    with pytest.raises(ExplainError, match=r"expected images \(batch, height, width, channels\)"):
        explain.occlusion(fn.Sequential(fn.Dense(2)), fn.init(fn.Sequential(fn.Dense(2)), fn.key(0), in_shape=(3,)),
                          np.zeros((2, 3)), 0, window=1, stride=1)
    with pytest.raises(ExplainError, match="target"):
        explain.occlusion(MODEL, params, x, 4, window=2, stride=1)
