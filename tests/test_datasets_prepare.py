"""Preparation: reproducible (stratified) splits, one-hot, fitted scalers as values, flattening."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnn as fn
from funcnn.datasets.builtin import load_builtin
from funcnn.datasets.dataset import Dataset
from funcnn.datasets.prepare import (
    MinMaxScaler,
    Standardizer,
    flatten_images,
    one_hot,
    split_dataset,
    split_indices,
    train_test_split,
)
from funcnn.errors import DataError, ShapeError
from funcnn.rng import Key


def _check_partition(train: np.ndarray, test: np.ndarray, n: int) -> None:
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.intersect1d(train, test).size == 0
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(n))


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    fraction=st.floats(0.1, 0.9),
    seed=st.integers(0, 2**32),
)
def test_stratified_split_keeps_each_class_share(counts: list[int], fraction: float, seed: int) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    n = y.size
    n_test = round(n * fraction)
    if n_test in (0, n):
        with pytest.raises(DataError, match="empty train or test split"):
            split_indices(fn.key(seed), y, test_fraction=fraction)
        return
    train, test = split_indices(fn.key(seed), y, test_fraction=fraction)
    _check_partition(train, test, n)
    assert test.size == n_test
    per_class = np.bincount(y[test], minlength=len(counts))
    for c, count in enumerate(counts):
        share = count * n_test / n  # the exact proportional share, rounded down or up
        assert int(np.floor(share)) <= per_class[c] <= int(np.ceil(share))


def test_split_is_a_pure_function_of_the_key(key: Key) -> None:
    y = np.arange(100) % 3
    a = split_indices(key, y)
    b = split_indices(key, y)
    c = split_indices(fn.fold_in(key, 1), y)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])
    assert not a[0].flags.writeable


def test_unstratified_split_of_a_count_or_of_float_targets(key: Key) -> None:
    train, test = split_indices(key, 10, test_fraction=0.3)
    _check_partition(train, test, 10)
    assert test.size == 3
    targets = np.linspace(0.0, 1.0, 10)
    train2, test2 = split_indices(key, targets, test_fraction=0.3)
    assert np.array_equal(train, train2) and np.array_equal(test, test2)  # both use one permutation of 10


def test_stratify_true_needs_integer_labels(key: Key) -> None:
    with pytest.raises(DataError, match="stratify=True needs 1-D integer class labels"):
        split_indices(key, np.linspace(0, 1, 10), stratify=True)


def test_stratify_false_ignores_the_classes(key: Key) -> None:
    y = np.array([0] * 50 + [1] * 50)
    shares = {int(y[split_indices(fn.fold_in(key, i), y, stratify=False)[1]].sum()) for i in range(20)}
    assert len(shares) > 1  # stratified splits would always put exactly 10 ones in the test part


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5, float("nan")])
def test_bad_test_fraction_is_rejected(fraction: float, key: Key) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        split_indices(key, 10, test_fraction=fraction)


def test_train_test_split_keeps_rows_and_labels_together(key: Key) -> None:
    x = np.arange(30.0).reshape(15, 2)  # row i is (2i, 2i + 1)
    y = np.arange(15) % 3
    (x_train, y_train), (x_test, y_test) = train_test_split(key, x, y, test_fraction=0.2)
    assert x_train.shape == (12, 2) and x_test.shape == (3, 2)
    for xs, ys in ((x_train, y_train), (x_test, y_test)):
        rows = (xs[:, 0] / 2).astype(int)
        assert np.array_equal(ys, rows % 3)
        assert np.array_equal(xs[:, 1], xs[:, 0] + 1)
        assert not xs.flags.writeable and not ys.flags.writeable
    assert sorted(y_test.tolist()) == [0, 1, 2]
    with pytest.raises(ShapeError, match="same number of samples"):
        train_test_split(key, x, y[:-1])


def test_split_dataset_protocol_for_digits(key: Key) -> None:
    ds = load_builtin("digits")
    train, test = split_dataset(key, ds, test_fraction=0.2)
    assert (train.n_samples, test.n_samples) == (1438, 359)  # round(1797 * 0.2) = 359
    assert train.name == "digits" and train.class_names == ds.class_names
    counts = np.bincount(ds.y)
    test_counts = np.bincount(test.y, minlength=10)
    assert np.all(np.abs(test_counts - counts * 359 / 1797) < 1)
    x = MinMaxScaler.from_range(0.0, 16.0).apply(flatten_images(train.x), dtype=np.float32)
    assert x.dtype == np.float32 and x.shape == (1438, 64)
    np.testing.assert_array_equal(x, train.x.reshape(1438, 64).astype(np.float32) / np.float32(16))


def test_one_hot_by_hand() -> None:
    out = one_hot(np.array([1, 0, 3]), 4)
    assert out.tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]
    assert out.dtype == np.float64 and not out.flags.writeable
    assert one_hot([2.0], 3, dtype=np.float32).dtype == np.float32
    assert one_hot(np.array([[0, 1]]), 2).shape == (1, 2, 2)


@pytest.mark.parametrize(
    ("labels", "match"),
    [([0, 4], r"label 4 at index \[1\]"), ([-1], "label -1"), ([0.5], "label 0.5"), ([np.nan], "label nan")],
)
def test_one_hot_rejects_labels_outside_the_classes(labels: list[float], match: str) -> None:
    with pytest.raises(DataError, match=match):
        one_hot(np.array(labels), 4)


def test_standardizer_is_fitted_on_train_and_applied_to_test() -> None:
    train = np.array([[1.0, 10.0, 7.0], [3.0, 30.0, 7.0], [5.0, 20.0, 7.0]])
    before = copy.deepcopy(train)
    s = Standardizer.fit(train)
    np.testing.assert_array_equal(train, before)
    # by hand: means 3, 20, 7; population stds sqrt(8/3), sqrt(200/3), constant -> 1
    np.testing.assert_allclose(s.mean, [3.0, 20.0, 7.0])
    np.testing.assert_allclose(s.std, [np.sqrt(8 / 3), np.sqrt(200 / 3), 1.0])
    z = s.apply(train)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(z[:, :2].std(axis=0), 1.0)
    assert np.all(z[:, 2] == 0.0)
    test = np.array([[3.0 + np.sqrt(8 / 3), 20.0, 8.0]])
    np.testing.assert_allclose(s.apply(test), [[1.0, 0.0, 1.0]])
    np.testing.assert_allclose(s.invert(s.apply(test)), test)
    assert not z.flags.writeable and not s.mean.flags.writeable


def test_standardizer_keeps_float32_and_turns_integers_into_float64() -> None:
    s = Standardizer.fit(np.array([[0.0], [2.0]]))
    assert s.apply(np.array([[1.0]], dtype=np.float32)).dtype == np.float32
    assert s.apply(np.array([[1]], dtype=np.int64)).dtype == np.float64
    assert s.apply(np.array([[1.0]]), dtype=np.float32).dtype == np.float32


def test_scaler_state_round_trips_through_plain_arrays() -> None:
    x = np.array([[1.0, -2.0], [4.0, 6.0], [0.5, 0.0]])
    s = Standardizer.fit(x)
    arrays = {k: np.array(v) for k, v in s.to_arrays().items()}
    assert sorted(arrays) == ["mean", "std"]
    s2 = Standardizer.from_arrays(arrays)
    assert s2.apply(x).tobytes() == s.apply(x).tobytes()
    arrays["mean"][0] = 99.0  # the restored value owns its arrays
    assert s2.mean[0] != 99.0
    m = MinMaxScaler.fit(x)
    m2 = MinMaxScaler.from_arrays(m.to_arrays())
    assert m2.apply(x).tobytes() == m.apply(x).tobytes()


def test_scaler_from_arrays_rejects_bad_state() -> None:
    with pytest.raises(DataError, match="missing arrays"):
        Standardizer.from_arrays({"mean": np.zeros(2)})
    with pytest.raises(DataError, match="std finite and > 0"):
        Standardizer.from_arrays({"mean": np.zeros(2), "std": np.array([1.0, 0.0])})
    with pytest.raises(DataError, match="differ in shape"):
        MinMaxScaler.from_arrays({"low": np.zeros(2), "high": np.ones(3)})


def test_scalers_check_the_feature_shape_and_finite_input() -> None:
    s = Standardizer.fit(np.ones((4, 3)))
    with pytest.raises(ShapeError, match=r"expected samples of shape \(n, 3\), got \(4, 2\)"):
        s.apply(np.ones((4, 2)))
    with pytest.raises(DataError, match="sample 1 holds NaN"):
        Standardizer.fit(np.array([[0.0], [np.inf]]))
    with pytest.raises(DataError, match="at least one sample"):
        MinMaxScaler.fit(np.zeros((0, 2)))


def test_min_max_scaler_maps_the_training_range_to_unit_interval() -> None:
    train = np.array([[0.0, -1.0, 5.0], [10.0, 1.0, 5.0], [5.0, 0.0, 5.0]])
    m = MinMaxScaler.fit(train)
    assert m.apply(train).tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.0]]
    assert m.apply(np.array([[20.0, 3.0, 6.0]])).tolist() == [[2.0, 2.0, 1.0]]  # no clipping
    np.testing.assert_allclose(m.invert(m.apply(train)), train)
    overall = MinMaxScaler.fit(train, per_feature=False)
    assert overall.low.shape == () and float(overall.low) == -1.0 and float(overall.high) == 10.0
    np.testing.assert_allclose(overall.apply(train), (train + 1.0) / 11.0)


@pytest.mark.parametrize("chunk_bytes", [8, 8 * 7, 8 * 30 * 11, 2**30])
@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32, np.float64])
def test_min_max_fit_in_chunks_and_apply_match_the_whole_array_formulas(
    chunk_bytes: int, dtype: type[np.generic], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of one sample, of a few samples (not dividing 30), and all at once give the same bits.
    monkeypatch.setattr(fn.datasets.prepare, "CHUNK_BYTES", chunk_bytes)
    x = (np.random.default_rng(3).normal(size=(30, 11)) * 60 + 100).astype(dtype)
    whole = x.astype(np.float64)
    for per_feature in (True, False):
        m = MinMaxScaler.fit(x, per_feature=per_feature)
        low, high = (whole.min(axis=0), whole.max(axis=0)) if per_feature else (whole.min(), whole.max())
        assert m.low.tobytes() == low.tobytes() and m.high.tobytes() == high.tobytes()
        for dt in (np.float32, np.float64):
            span = np.where(high - low > 0, high - low, 1.0).astype(dt)
            expected = (x.astype(dt) - low.astype(dt)) / span
            got = m.apply(x, dtype=dt)
            assert got.dtype == dt and got.tobytes() == expected.tobytes() and not got.flags.writeable
    s = Standardizer.fit(x)
    expected32 = (x.astype(np.float32) - s.mean.astype(np.float32)) / s.std.astype(np.float32)
    assert s.apply(x, dtype=np.float32).tobytes() == expected32.tobytes()
    bad = whole.copy()
    bad[17, 4] = np.nan
    with pytest.raises(DataError, match="sample 17 holds NaN"):
        MinMaxScaler.fit(bad)


def test_pixels_over_255_as_float32() -> None:
    images = np.array([[[0, 51], [255, 102]]], dtype=np.uint8)
    out = MinMaxScaler.from_range(0, 255).apply(images, dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[[0.0, 0.2], [1.0, 0.4]]], dtype=np.float32))


def test_flatten_images() -> None:
    x = np.arange(2 * 3 * 4 * 2, dtype=np.uint8).reshape(2, 3, 4, 2)
    flat = flatten_images(x)
    assert flat.shape == (2, 24) and flat.dtype == np.uint8
    assert flat[1].tolist() == list(range(24, 48))
    assert not flat.flags.writeable and x.flags.writeable
    with pytest.raises(ShapeError, match=r"got shape \(5,\)"):
        flatten_images(np.zeros(5))


def test_dataset_value_rules() -> None:
    ds = Dataset(np.zeros((3, 2)), [0, 2, 1], name="toy")
    x, y = ds
    assert ds.n_classes == 3 and ds.feature_shape == (2,) and ds.n_samples == 3
    assert ds.labels.dtype == np.int64
    with pytest.raises(DataError, match="3 samples but y has 2"):
        Dataset(np.zeros((3, 2)), [0, 1])
    with pytest.raises(DataError, match="1-D integer array"):
        Dataset(np.zeros((2, 2)), [0.5, 1.0])
    with pytest.raises(DataError, match="NaN or infinite values at sample 1"):
        Dataset(np.array([[0.0], [np.nan]]), [0, 1])
    with pytest.raises(DataError, match="label 2 has no name"):
        Dataset(np.zeros((3, 2)), [0, 2, 1], class_names=("a", "b"))
    reg = Dataset(np.zeros((2, 1)), np.ones((2, 1)), task="regression")
    assert reg.n_classes is None
    with pytest.raises(DataError, match="no class labels"):
        _ = reg.labels
    source = np.zeros((2, 1))
    held = Dataset(source, [0, 1])
    source[0, 0] = 5.0  # the data set keeps its own copy of a writeable input
    assert held.x[0, 0] == 0.0
