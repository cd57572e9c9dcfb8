"""Synthetic generators: pure functions of a key, with the documented geometry."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnn as fn
from funcnn.datasets.dataset import Dataset
from funcnn.datasets.synthetic import blobs, circles, line, linear, moons, polynomial, spiral, xor
from funcnn.rng import Key

GENERATORS: dict[str, Callable[[Key], Dataset]] = {
    "spiral": spiral,
    "xor": xor,
    "moons": moons,
    "circles": circles,
    "blobs": blobs,
    "line": line,
    "linear": linear,
    "polynomial": polynomial,
}
CLASSIFIERS = ("spiral", "xor", "moons", "circles", "blobs")


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_key_gives_bit_identical_data_and_another_key_differs(name: str, key: Key) -> None:
    make = GENERATORS[name]
    a, b, c = make(key), make(key), make(fn.fold_in(key, "other"))
    assert a.x.tobytes() == b.x.tobytes() and a.y.tobytes() == b.y.tobytes()
    assert a.x.dtype == b.x.dtype and a.y.dtype == b.y.dtype
    assert not np.array_equal(a.x, c.x)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_arrays_are_read_only_and_typed(name: str, key: Key) -> None:
    ds = GENERATORS[name](key)
    assert ds.name == name
    assert not ds.x.flags.writeable and not ds.y.flags.writeable
    assert ds.x.dtype == np.float64
    assert np.all(np.isfinite(ds.x))
    if name in CLASSIFIERS:
        assert ds.task == "classification"
        assert ds.y.dtype == np.int64 and ds.y.shape == (ds.x.shape[0],)
    else:
        assert ds.task == "regression"
        assert ds.y.dtype == np.float64 and ds.y.shape == (ds.x.shape[0], 1)
    with pytest.raises(ValueError):
        ds.x[0] = 1.0
    assert repr(key) in ds.source


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 30), classes=st.integers(2, 6), seed=st.integers(0, 2**32))
def test_spiral_has_n_per_class_points_in_each_class(n: int, classes: int, seed: int) -> None:
    ds = spiral(fn.key(seed), n_per_class=n, classes=classes)
    assert ds.x.shape == (n * classes, 2)
    assert np.bincount(ds.y, minlength=classes).tolist() == [n] * classes
    assert ds.n_classes == classes and ds.class_names == tuple(str(k) for k in range(classes))


def test_classification_sets_are_shuffled_not_in_class_blocks(key: Key) -> None:
    for name in CLASSIFIERS:
        y = GENERATORS[name](key).y
        assert not np.all(np.diff(y) >= 0), name


def test_spiral_without_noise_follows_the_formula(key: Key) -> None:
    n, k, turns = 7, 3, 0.75
    ds = spiral(key, n_per_class=n, classes=k, noise=0.0, turns=turns)
    for c in range(k):
        pts = ds.x[ds.y == c]
        r = np.hypot(pts[:, 0], pts[:, 1])
        order = np.argsort(r)
        # radii evenly spaced in [0, 1]: 0, 1/6, ..., 1
        np.testing.assert_allclose(r[order], np.arange(n) / (n - 1), atol=1e-12)
        theta = 2 * math.pi * c / k + 2 * math.pi * turns * r[order]
        expected = np.stack([r[order] * np.cos(theta), r[order] * np.sin(theta)], axis=1)
        np.testing.assert_allclose(pts[order], expected, atol=1e-12)


def test_xor_without_noise_is_the_truth_table(key: Key) -> None:
    ds = xor(key, n_per_class=6, noise=0.0)
    a, b = ds.x[:, 0], ds.x[:, 1]
    assert set(np.unique(ds.x)) <= {0.0, 1.0}
    assert np.array_equal(ds.y, (a.astype(int) ^ b.astype(int)))
    corners, counts = np.unique(ds.x, axis=0, return_counts=True)
    assert corners.tolist() == [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    assert counts.tolist() == [3, 3, 3, 3]


def test_moons_without_noise_lie_on_their_half_circles(key: Key) -> None:
    ds = moons(key, n_per_class=25, noise=0.0)
    upper, lower = ds.x[ds.y == 0], ds.x[ds.y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert np.all(upper[:, 1] >= -1e-12)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert np.all(lower[:, 1] <= 0.5 + 1e-12)


def test_circles_without_noise_have_radii_one_and_factor(key: Key) -> None:
    ds = circles(key, n_per_class=16, noise=0.0, factor=0.3)
    r = np.hypot(ds.x[:, 0], ds.x[:, 1])
    np.testing.assert_allclose(r[ds.y == 0], 1.0)
    np.testing.assert_allclose(r[ds.y == 1], 0.3)


def test_blobs_have_the_requested_spread_around_distinct_centres(key: Key) -> None:
    ds = blobs(key, n_per_class=2000, classes=4, dim=3, std=0.5, center_box=5.0)
    assert ds.x.shape == (8000, 3)
    means = np.stack([ds.x[ds.y == c].mean(axis=0) for c in range(4)])
    for c in range(4):
        spread = ds.x[ds.y == c] - means[c]
        np.testing.assert_allclose(spread.std(axis=0), 0.5, rtol=0.1)
    assert np.all(np.abs(means) <= 5.0 + 0.1)
    assert len({tuple(np.round(m, 3)) for m in means}) == 4


def test_line_recovers_slope_and_intercept(key: Key) -> None:
    exact = line(key, n=50, slope=-3.0, intercept=0.5, noise=0.0, low=-2.0, high=4.0)
    np.testing.assert_allclose(exact.y, -3.0 * exact.x + 0.5, rtol=1e-12, atol=1e-12)
    assert exact.x.min() >= -2.0 and exact.x.max() < 4.0
    noisy = line(key, n=2000, noise=0.1)
    slope, intercept = np.polyfit(noisy.x[:, 0], noisy.y[:, 0], 1)
    assert abs(slope - 2.0) < 0.02 and abs(intercept - 1.0) < 0.02
    residual = noisy.y[:, 0] - (slope * noisy.x[:, 0] + intercept)
    assert abs(residual.std() - 0.1) < 0.01


def test_polynomial_default_is_half_x_squared_plus_x_plus_two(key: Key) -> None:
    exact = polynomial(key, n=40, noise=0.0)
    x = exact.x[:, 0]
    np.testing.assert_allclose(exact.y[:, 0], 0.5 * x**2 + x + 2.0, rtol=1e-12)
    assert x.min() >= -3.0 and x.max() < 3.0
    noisy = polynomial(key, n=3000, noise=0.1)
    fitted = np.polyfit(noisy.x[:, 0], noisy.y[:, 0], 2)  # highest power first
    np.testing.assert_allclose(fitted, [0.5, 1.0, 2.0], atol=0.02)


def test_linear_recovers_weights_and_bias(key: Key) -> None:
    ds = linear(key, n=3000, weights=(0.5, -1.0, 2.0, 0.0), bias=-0.75, noise=0.05)
    assert ds.x.shape == (3000, 4)
    design = np.hstack([ds.x, np.ones((3000, 1))])
    solution, *_ = np.linalg.lstsq(design, ds.y[:, 0], rcond=None)
    np.testing.assert_allclose(solution, [0.5, -1.0, 2.0, 0.0, -0.75], atol=0.01)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda k: spiral(k, classes=1), "classes=1"),
        (lambda k: spiral(k, n_per_class=0), "n_per_class=0"),
        (lambda k: spiral(k, noise=-0.1), "noise=-0.1"),
        (lambda k: moons(k, noise=float("nan")), "noise=nan"),
        (lambda k: circles(k, factor=1.5), "factor=1.5"),
        (lambda k: blobs(k, dim=0), "dim=0"),
        (lambda k: blobs(k, center_box=0.0), "center_box=0.0"),
        (lambda k: line(k, low=1.0, high=1.0), "low=1.0"),
        (lambda k: linear(k, weights=()), "weights=()"),
        (lambda k: polynomial(k, coefficients=(1.0, float("inf"))), "coefficients"),
        (lambda k: xor(k, n_per_class=True), "n_per_class=True"),
    ],
)
def test_bad_arguments_are_rejected_with_name_and_value(call: Callable[[Key], Dataset], match: str, key: Key) -> None:
    with pytest.raises(ValueError, match=match):
        call(key)
