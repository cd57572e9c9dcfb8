"""Synthetic data sets: pure functions of a :class:`~funcnn.rng.Key`.

Each generator draws every number from one ``funcnn.rng.generator(key)``, so
the same key and arguments give bit-identical arrays, and nothing global is
touched. Inputs are float64. Classification sets have ``n_per_class`` points
per class in a random order and int64 labels ``(n,)``; regression sets have
float64 targets ``(n, 1)``. The ``source`` field records the call.

>>> from funcnn.rng import key
>>> ds = spiral(key(0), n_per_class=50, classes=3)
>>> ds.x.shape, ds.y.shape, ds.n_classes
((150, 2), (150,), 3)
>>> bool((spiral(key(0), n_per_class=50).x == ds.x).all())
True
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from funcnn.datasets.dataset import Dataset
from funcnn.rng import Key, generator

__all__ = ["blobs", "circles", "line", "linear", "moons", "polynomial", "spiral", "xor"]


def _check_count(where: str, name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{where}: {name} must be an int >= {minimum}, got {name}={value!r}")
    return int(value)


def _check_float(where: str, name: str, value: float, *, positive: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{where}: {name} must be a finite number {bound}, got {name}={value!r}")
    return v


def _classification(
    name: str, x: NDArray[np.float64], y: NDArray[np.int64], classes: int, g: np.random.Generator, call: str
) -> Dataset:
    """Shuffle the samples (class blocks would bias unshuffled slices) and wrap them."""
    order = g.permutation(x.shape[0])
    x, y = x[order], y[order]
    x.flags.writeable = False
    y.flags.writeable = False
    names = tuple(str(k) for k in range(classes))
    return Dataset(x, y, name=name, task="classification", class_names=names, source=f"synthetic: {call}")


def _regression(name: str, x: NDArray[np.float64], y: NDArray[np.float64], call: str) -> Dataset:
    x.flags.writeable = False
    y.flags.writeable = False
    return Dataset(x, y, name=name, task="regression", source=f"synthetic: {call}")


def spiral(key: Key, *, n_per_class: int = 100, classes: int = 3, noise: float = 0.2, turns: float = 0.75) -> Dataset:
    """``classes`` interleaved spiral arms in the plane.

    Arm ``k`` has radii ``r`` evenly spaced in ``[0, 1]`` and angles
    ``2πk/classes + 2π·turns·r + noise·N(0, 1)``; a point is ``r (cos θ, sin θ)``.

    Returns:
        ``x: (n_per_class·classes, 2)``, labels ``y`` in ``0..classes-1``.
    """
    where = "spiral"
    n = _check_count(where, "n_per_class", n_per_class)
    k = _check_count(where, "classes", classes, 2)
    sigma, span = _check_float(where, "noise", noise), _check_float(where, "turns", turns)
    g = generator(key)
    r = np.tile(np.linspace(0.0, 1.0, n), k)
    y = np.repeat(np.arange(k, dtype=np.int64), n)
    theta = (2 * math.pi / k) * y + (2 * math.pi * span) * r + sigma * g.standard_normal(n * k)
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    call = f"spiral(key={key!r}, n_per_class={n}, classes={k}, noise={sigma}, turns={span})"
    return _classification("spiral", x, y, k, g, call)


def xor(key: Key, *, n_per_class: int = 100, noise: float = 0.1) -> Dataset:
    """The XOR problem: points near the corners of the unit square, label ``a XOR b``.

    Class 0 sits at corners ``(0, 0)`` and ``(1, 1)``, class 1 at ``(0, 1)``
    and ``(1, 0)``, alternating between its two corners; Gaussian noise of
    standard deviation ``noise`` is added. ``noise=0, n_per_class=2`` is the
    truth table.

    Returns:
        ``x: (2·n_per_class, 2)``, labels ``y`` in ``{0, 1}``.
    """
    n = _check_count("xor", "n_per_class", n_per_class)
    sigma = _check_float("xor", "noise", noise)
    g = generator(key)
    corners = np.array([[[0.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])  # (class, corner, xy)
    y = np.repeat(np.arange(2, dtype=np.int64), n)
    corner = np.tile(np.arange(n) % 2, 2)
    x = corners[y, corner] + sigma * g.standard_normal((2 * n, 2))
    return _classification("xor", x, y, 2, g, f"xor(key={key!r}, n_per_class={n}, noise={sigma})")


def moons(key: Key, *, n_per_class: int = 100, noise: float = 0.1) -> Dataset:
    """Two interleaving half circles.

    Class 0: ``(cos t, sin t)``; class 1: ``(1 - cos t, 0.5 - sin t)``, with
    ``t`` evenly spaced in ``[0, π]``, plus Gaussian noise of std ``noise``.

    Returns:
        ``x: (2·n_per_class, 2)``, labels ``y`` in ``{0, 1}``.
    """
    n = _check_count("moons", "n_per_class", n_per_class)
    sigma = _check_float("moons", "noise", noise)
    g = generator(key)
    t = np.linspace(0.0, math.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.concatenate([upper, lower]) + sigma * g.standard_normal((2 * n, 2))
    y = np.repeat(np.arange(2, dtype=np.int64), n)
    return _classification("moons", x, y, 2, g, f"moons(key={key!r}, n_per_class={n}, noise={sigma})")


def circles(key: Key, *, n_per_class: int = 100, noise: float = 0.05, factor: float = 0.5) -> Dataset:
    """Two concentric circles: class 0 of radius 1, class 1 of radius ``factor``.

    Angles are evenly spaced in ``[0, 2π)``; Gaussian noise of std ``noise`` is added.

    Returns:
        ``x: (2·n_per_class, 2)``, labels ``y`` in ``{0, 1}``.
    """
    n = _check_count("circles", "n_per_class", n_per_class)
    sigma = _check_float("circles", "noise", noise)
    f = _check_float("circles", "factor", factor, positive=True)
    if f >= 1:
        raise ValueError(f"circles: factor must be in (0, 1), got factor={factor!r}")
    g = generator(key)
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    ring = np.stack([np.cos(t), np.sin(t)], axis=1)
    x = np.concatenate([ring, f * ring]) + sigma * g.standard_normal((2 * n, 2))
    y = np.repeat(np.arange(2, dtype=np.int64), n)
    call = f"circles(key={key!r}, n_per_class={n}, noise={sigma}, factor={f})"
    return _classification("circles", x, y, 2, g, call)


def blobs(
    key: Key, *, n_per_class: int = 100, classes: int = 3, dim: int = 2, std: float = 1.0, center_box: float = 8.0
) -> Dataset:
    """Gaussian clusters: one per class, isotropic with standard deviation ``std``.

    Centres are drawn uniformly from ``[-center_box, center_box]^dim`` (from the key).

    Returns:
        ``x: (n_per_class·classes, dim)``, labels ``y`` in ``0..classes-1``.
    """
    n = _check_count("blobs", "n_per_class", n_per_class)
    k = _check_count("blobs", "classes", classes, 2)
    d = _check_count("blobs", "dim", dim)
    sigma = _check_float("blobs", "std", std)
    box = _check_float("blobs", "center_box", center_box, positive=True)
    g = generator(key)
    centers = g.uniform(-box, box, size=(k, d))
    y = np.repeat(np.arange(k, dtype=np.int64), n)
    x = centers[y] + sigma * g.standard_normal((n * k, d))
    call = f"blobs(key={key!r}, n_per_class={n}, classes={k}, dim={d}, std={sigma}, center_box={box})"
    return _classification("blobs", x, y, k, g, call)


def line(
    key: Key,
    *,
    n: int = 100,
    slope: float = 2.0,
    intercept: float = 1.0,
    noise: float = 0.1,
    low: float = -1.0,
    high: float = 1.0,
) -> Dataset:
    """Points on a line: ``y = slope·x + intercept + noise·N(0, 1)``, ``x ~ U(low, high)``.

    Returns:
        ``x: (n, 1)`` and ``y: (n, 1)``, task ``"regression"``.
    """
    count = _check_count("line", "n", n)
    sigma = _check_float("line", "noise", noise)
    m, b, lo, hi = float(slope), float(intercept), float(low), float(high)
    if not (math.isfinite(m) and math.isfinite(b) and math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(
            f"line: need finite slope/intercept and low < high, got slope={slope!r}, "
            f"intercept={intercept!r}, low={low!r}, high={high!r}"
        )
    g = generator(key)
    x = g.uniform(lo, hi, size=(count, 1))
    y = m * x + b + sigma * g.standard_normal((count, 1))
    call = f"line(key={key!r}, n={count}, slope={m}, intercept={b}, noise={sigma}, low={lo}, high={hi})"
    return _regression("line", x, y, call)


def linear(
    key: Key, *, n: int = 200, weights: tuple[float, ...] = (1.5, -2.0, 0.5), bias: float = 0.25, noise: float = 0.1
) -> Dataset:
    """A linear model of several inputs: ``y = x @ weights + bias + noise·N(0, 1)``, ``x ~ N(0, I)``.

    Returns:
        ``x: (n, len(weights))`` and ``y: (n, 1)``, task ``"regression"``.
    """
    count = _check_count("linear", "n", n)
    sigma = _check_float("linear", "noise", noise)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or not math.isfinite(float(bias)):
        raise ValueError(f"linear: weights must be a non-empty tuple of finite floats, got weights={weights!r}")
    g = generator(key)
    x = g.standard_normal((count, w.size))
    y = (x @ w)[:, None] + float(bias) + sigma * g.standard_normal((count, 1))
    call = f"linear(key={key!r}, n={count}, weights={tuple(float(v) for v in w)}, bias={float(bias)}, noise={sigma})"
    return _regression("linear", x, y, call)


def polynomial(
    key: Key,
    *,
    n: int = 200,
    coefficients: tuple[float, ...] = (2.0, 1.0, 0.5),
    noise: float = 0.1,
    low: float = -3.0,
    high: float = 3.0,
) -> Dataset:
    """A polynomial of one input: ``y = Σ_i coefficients[i]·x^i + noise·N(0, 1)``, ``x ~ U(low, high)``.

    Coefficients go from the constant term up: the default is ``y = 0.5x² + x + 2``.

    Returns:
        ``x: (n, 1)`` and ``y: (n, 1)``, task ``"regression"``.
    """
    count = _check_count("polynomial", "n", n)
    sigma = _check_float("polynomial", "noise", noise)
    c = np.asarray(coefficients, dtype=np.float64)
    lo, hi = float(low), float(high)
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
        raise ValueError(f"polynomial: coefficients must be a non-empty tuple of finite floats, got {coefficients!r}")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"polynomial: need finite low < high, got low={low!r}, high={high!r}")
    g = generator(key)
    x = g.uniform(lo, hi, size=(count, 1))
    y = np.polynomial.polynomial.polyval(x, c) + sigma * g.standard_normal((count, 1))
    call = (
        f"polynomial(key={key!r}, n={count}, coefficients={tuple(float(v) for v in c)}, noise={sigma}, "
        f"low={lo}, high={hi})"
    )
    return _regression("polynomial", x, y, call)
