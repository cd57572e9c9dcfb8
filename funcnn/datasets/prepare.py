"""Preparing arrays for training: splits, one-hot labels, scaling, flattening.

Everything is a pure function or a frozen value. Random splits are functions
of a :class:`~funcnn.rng.Key`. Scalers are *fitted* on the training split into a
frozen value (``Standardizer``, ``MinMaxScaler``) which is then applied to
every split; ``to_arrays``/``from_arrays`` turn it into plain arrays to store
beside a checkpoint. Results are read-only arrays.

>>> import numpy as np
>>> from funcnn.rng import key
>>> x, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
>>> (x_train, y_train), (x_test, y_test) = train_test_split(key(0), x, y, test_fraction=0.2)
>>> x_train.shape, x_test.shape, sorted(y_test.tolist())
((8, 2), (2, 2), [0, 1])
>>> scaler = Standardizer.fit(x_train)
>>> bool(np.allclose(scaler.apply(x_train).mean(axis=0), 0.0))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar, TypeVar, overload

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn._typing import FloatT
from funcnn.datasets.dataset import Dataset
from funcnn.errors import DataError, ShapeError
from funcnn.rng import Key, generator

__all__ = [
    "MinMaxScaler",
    "Standardizer",
    "flatten_images",
    "one_hot",
    "split_dataset",
    "split_indices",
    "train_test_split",
]

X = TypeVar("X", bound=np.generic)
Y = TypeVar("Y", bound=np.generic)


def _own(a: NDArray[X]) -> NDArray[X]:
    a.flags.writeable = False
    return a


def _check_fraction(test_fraction: float) -> float:
    f = float(test_fraction)
    if not (math.isfinite(f) and 0.0 < f < 1.0):
        raise ValueError(f"test_fraction must be in (0, 1), got test_fraction={test_fraction!r}")
    return f


def _class_quotas(counts: NDArray[np.int64], n_test: int) -> NDArray[np.int64]:
    """Test samples per class: proportional, rounded by largest remainder, summing to ``n_test``."""
    n = int(counts.sum())
    quotas = counts * n_test // n
    remainders = counts * n_test % n
    missing = n_test - int(quotas.sum())  # < number of classes with a non-zero remainder
    order = np.argsort(-remainders, kind="stable")
    quotas[order[:missing]] += 1
    return quotas


def split_indices(
    key: Key, y: ArrayLike | int, *, test_fraction: float = 0.2, stratify: bool | None = None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Random train and test indices: a pure function of ``key``.

    Args:
        key: the split's key (same key, same split).
        y: ``(n,)`` labels (or targets), or just the sample count ``n``.
        test_fraction: the share of samples in the test split; the test split has
            ``round(n * test_fraction)`` samples.
        stratify: keep each class's share in both splits. ``None`` (default)
            stratifies when ``y`` holds 1-D integer labels; ``True`` requires them.

    Returns:
        ``(train, test)``: disjoint int64 index arrays covering ``0..n-1``, each in random order.

    Raises:
        DataError: a split would be empty, or ``stratify=True`` without integer labels.
    """
    f = _check_fraction(test_fraction)
    if isinstance(y, int | np.integer):
        labels, n = None, int(y)
    else:
        labels = np.asarray(y)
        n = int(labels.shape[0]) if labels.ndim else 0
    n_test = round(n * f)
    if n_test == 0 or n_test == n:
        raise DataError(
            f"split: {n} samples with test_fraction={f} leave an empty train or test split; use more samples"
        )
    is_labels = labels is not None and labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)
    if stratify and not is_labels:
        got = "a sample count" if labels is None else f"{labels.dtype}{labels.shape}"
        raise DataError(f"split: stratify=True needs 1-D integer class labels, got {got}")
    g = generator(key)
    if not (is_labels if stratify is None else stratify) or labels is None:
        order = g.permutation(n).astype(np.int64)
        return _own(order[n_test:]), _own(order[:n_test])
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quotas = _class_quotas(counts.astype(np.int64), n_test)
    test_parts, train_parts = [], []
    for c in range(classes.size):
        members = np.flatnonzero(inverse.reshape(-1) == c)
        members = members[g.permutation(members.size)]
        test_parts.append(members[: quotas[c]])
        train_parts.append(members[quotas[c] :])
    train, test = np.concatenate(train_parts), np.concatenate(test_parts)
    train, test = train[g.permutation(train.size)], test[g.permutation(test.size)]
    return _own(train.astype(np.int64)), _own(test.astype(np.int64))


def train_test_split(
    key: Key, x: NDArray[X], y: NDArray[Y], *, test_fraction: float = 0.2, stratify: bool | None = None
) -> tuple[tuple[NDArray[X], NDArray[Y]], tuple[NDArray[X], NDArray[Y]]]:
    """Split ``x: (n, ...)`` and ``y: (n, ...)`` into ``(x_train, y_train), (x_test, y_test)``.

    See :func:`split_indices` for ``test_fraction`` and ``stratify`` (stratified
    by default when ``y`` holds integer class labels).

    >>> import numpy as np
    >>> from funcnn.rng import key
    >>> y = np.array([0] * 8 + [1] * 2)
    >>> (_, y_train), (_, y_test) = train_test_split(key(1), np.zeros((10, 3)), y, test_fraction=0.5)
    >>> int(y_train.sum()), int(y_test.sum())  # one of the two 1s in each half
    (1, 1)
    """
    xs, ys = np.asarray(x), np.asarray(y)
    if xs.ndim < 1 or ys.ndim < 1 or xs.shape[0] != ys.shape[0]:
        raise ShapeError(f"train_test_split: x and y need the same number of samples, got {xs.shape} and {ys.shape}")
    train, test = split_indices(key, ys, test_fraction=test_fraction, stratify=stratify)
    return (_own(xs[train]), _own(ys[train])), (_own(xs[test]), _own(ys[test]))


def split_dataset(
    key: Key, ds: Dataset, *, test_fraction: float = 0.2, stratify: bool | None = None
) -> tuple[Dataset, Dataset]:
    """``(train, test)`` data sets (same name, task and class names); see :func:`split_indices`."""
    train, test = split_indices(key, ds.y, test_fraction=test_fraction, stratify=stratify)
    return ds.take(train), ds.take(test)


@overload
def one_hot(labels: ArrayLike, classes: int) -> NDArray[np.float64]: ...
@overload
def one_hot(labels: ArrayLike, classes: int, *, dtype: type[FloatT]) -> NDArray[FloatT]: ...
def one_hot(labels: ArrayLike, classes: int, *, dtype: type[np.floating] = np.float64) -> NDArray[np.floating]:
    """One-hot rows: ``labels: (...)`` integers in ``0..classes-1`` -> ``(..., classes)``.

    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])

    Raises:
        DataError: a label that is not an integer in ``0..classes-1`` (its index is named).
    """
    if isinstance(classes, bool) or not isinstance(classes, int | np.integer) or classes < 1:
        raise ValueError(f"one_hot: classes must be an int >= 1, got classes={classes!r}")
    a = np.asarray(labels)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DataError(f"one_hot: labels must be integers, got dtype {a.dtype}")
    finite = np.isfinite(a) if np.issubdtype(a.dtype, np.floating) else np.ones(a.shape, dtype=bool)
    safe = np.where(finite, a, 0)
    bad = ~finite | (safe < 0) | (safe >= classes) | (safe != np.floor(safe))
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"one_hot: label {a[index].item()} at index {list(index)} is not a class in 0..{int(classes) - 1} "
            f"(classes={classes})"
        )
    out = (safe.astype(np.int64)[..., None] == np.arange(int(classes))).astype(dtype)
    return _own(out)


def flatten_images(x: NDArray[X]) -> NDArray[X]:
    """``(n, height, width[, channels])`` -> ``(n, height·width·channels)`` (a read-only view).

    >>> import numpy as np
    >>> flatten_images(np.zeros((5, 28, 28), dtype=np.uint8)).shape
    (5, 784)
    """
    if x.ndim < 2:
        raise ShapeError(f"flatten_images: expected (n, ...) images, got shape {x.shape}")
    flat = x.reshape(x.shape[0], -1)
    if flat.flags.writeable:
        flat = flat.view()
        flat.flags.writeable = False
    return flat


def _stats(value: ArrayLike) -> NDArray[np.float64]:
    a = np.array(value, dtype=np.float64)  # always a private copy
    a.flags.writeable = False
    return a


def _out_dtype(a: NDArray[np.generic], dtype: type[np.floating] | None) -> type[np.floating]:
    """``dtype`` if given, else the input's float type (float32 stays float32), else float64."""
    if dtype is not None:
        return dtype
    for t in (np.float32, np.float16, np.longdouble):
        if a.dtype == t:
            return t
    return np.float64


def _fit_input(x: ArrayLike, where: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 1 or a.shape[0] == 0:
        raise DataError(f"{where}: need at least one sample (n, ...), got shape {a.shape}")
    _check_finite(a, where, 0)
    return a


def _check_finite(a: NDArray[np.float64], where: str, first: int) -> None:
    """Raise if a row of ``a`` (sample ``first + i`` of the data) holds NaN or an infinity."""
    if not np.all(np.isfinite(a)):
        row = first + int(np.argmax(~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)))
        raise DataError(f"{where}: sample {row} holds NaN or infinite values")


CHUNK_BYTES = 8 * 2**20
"""Float64 bytes per chunk of samples a scaler's fit converts at a time (memory follows this, not the data)."""


def _fit_chunks(x: ArrayLike, where: str) -> Iterator[NDArray[np.float64]]:
    """The samples of ``x: (n, ...)`` as float64 copies of about :data:`CHUNK_BYTES` each, checked finite.

    A fit that reduces chunk by chunk never holds a float64 copy of all the data.
    """
    a = np.asarray(x)
    if a.ndim < 1 or a.shape[0] == 0:
        raise DataError(f"{where}: need at least one sample (n, ...), got shape {a.shape}")
    rows = max(1, CHUNK_BYTES // (8 * max(1, math.prod(a.shape[1:]))))
    for first in range(0, a.shape[0], rows):
        chunk = np.asarray(a[first : first + rows], dtype=np.float64)
        _check_finite(chunk, where, first)
        yield chunk


def _scaled(
    a: NDArray[np.generic], dt: type[np.floating], shift: NDArray[np.float64], span: NDArray[np.floating]
) -> NDArray[np.floating]:
    """``(a.astype(dt) - shift.astype(dt)) / span`` computed in one new array (no full-size temporaries)."""
    out = a.astype(dt)
    np.subtract(out, shift.astype(dt), out=out)
    np.divide(out, span, out=out)
    return _own(out)


def _from_arrays(where: str, arrays: Mapping[str, ArrayLike], names: tuple[str, str]) -> tuple[ArrayLike, ArrayLike]:
    missing = [n for n in names if n not in arrays]
    if missing:
        raise DataError(f"{where}: missing arrays {missing}; got {sorted(arrays)}")
    return arrays[names[0]], arrays[names[1]]


def _check_stats(
    where: str, a: tuple[str, NDArray[np.float64]], b: tuple[str, NDArray[np.float64]],
    rule_holds: Callable[[], np.bool_ | bool], rule: str,
) -> None:
    """Raise DataError unless a scaler's two stat arrays agree in shape, are finite and ``rule_holds()``."""
    (a_name, a_value), (b_name, b_value) = a, b
    if a_value.shape != b_value.shape:
        raise DataError(f"{where}: {a_name} {a_value.shape} and {b_name} {b_value.shape} differ in shape")
    if not (np.all(np.isfinite(a_value)) and np.all(np.isfinite(b_value)) and rule_holds()):
        raise DataError(f"{where}: {rule}")


@attrs.frozen(repr=False, eq=False)
class Standardizer:
    """Feature-wise ``(x - mean) / std``, with ``mean``, ``std`` fitted on training data.

    ``mean`` and ``std`` are read-only float64 arrays of the feature shape
    (``x.shape[1:]``). A constant feature gets ``std = 1``, so it maps to 0.

    >>> import numpy as np
    >>> s = Standardizer.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> s.mean.tolist(), s.std.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    >>> s.apply(np.array([[5.0, 6.0]])).tolist()
    [[3.0, 1.0]]
    """

    kind: ClassVar[str] = "standardizer"
    mean: NDArray[np.float64] = attrs.field(converter=_stats)
    std: NDArray[np.float64] = attrs.field(converter=_stats)

    def __attrs_post_init__(self) -> None:
        _check_stats("Standardizer", ("mean", self.mean), ("std", self.std), lambda: np.all(self.std > 0),
                     "mean must be finite and std finite and > 0")

    def __repr__(self) -> str:
        return f"Standardizer(features={self.mean.shape})"

    @classmethod
    def fit(cls, x: ArrayLike) -> Standardizer:
        """Mean and (population) standard deviation of ``x: (n, ...)`` over the samples, in float64."""
        a = _fit_input(x, "Standardizer.fit")
        mean = a.mean(axis=0)
        std = a.std(axis=0)
        # Rounding leaves ~1e-16 "spread" in constant features; treat that as constant too.
        std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        return cls(mean, std)

    def apply(self, x: ArrayLike, *, dtype: type[np.floating] | None = None) -> NDArray[np.floating]:
        """``(x - mean) / std`` for ``x: (n, *features)``; float inputs keep their dtype, others become float64."""
        a = np.asarray(x)
        _check_shape("Standardizer.apply", a, self.mean.shape)
        dt = _out_dtype(a, dtype)
        return _scaled(a, dt, self.mean, self.std.astype(dt))

    def invert(self, z: ArrayLike) -> NDArray[np.floating]:
        """``z * std + mean``: back to the original units."""
        a = np.asarray(z)
        _check_shape("Standardizer.invert", a, self.mean.shape)
        dt = _out_dtype(a, None)
        return _own(a.astype(dt) * self.std.astype(dt) + self.mean.astype(dt))

    def to_arrays(self) -> dict[str, NDArray[np.float64]]:
        """``{"mean": ..., "std": ...}``: plain arrays to save beside a checkpoint."""
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike]) -> Standardizer:
        """The inverse of :meth:`to_arrays` (validated: same shapes, finite, ``std > 0``)."""
        return cls(*_from_arrays("Standardizer.from_arrays", arrays, ("mean", "std")))


@attrs.frozen(repr=False, eq=False)
class MinMaxScaler:
    """``(x - low) / (high - low)``: maps the fitted range to ``[0, 1]``.

    ``low`` and ``high`` are read-only float64 arrays of the feature shape
    (per-feature fit) or 0-d (one range for all values, e.g. pixels). A feature
    with ``high == low`` is only shifted. Values outside the fitted range map
    outside ``[0, 1]`` (nothing is clipped).

    >>> import numpy as np
    >>> pixels = np.array([[0, 128, 255]], dtype=np.uint8)
    >>> MinMaxScaler.from_range(0.0, 255.0).apply(pixels, dtype=np.float32).tolist()
    [[0.0, 0.501960813999176, 1.0]]
    """

    kind: ClassVar[str] = "min_max_scaler"
    low: NDArray[np.float64] = attrs.field(converter=_stats)
    high: NDArray[np.float64] = attrs.field(converter=_stats)

    def __attrs_post_init__(self) -> None:
        _check_stats("MinMaxScaler", ("low", self.low), ("high", self.high), lambda: np.all(self.high >= self.low),
                     "low and high must be finite with high >= low")

    def __repr__(self) -> str:
        return f"MinMaxScaler(features={self.low.shape})"

    @classmethod
    def fit(cls, x: ArrayLike, *, per_feature: bool = True) -> MinMaxScaler:
        """The minimum and maximum of ``x: (n, ...)`` per feature, or over everything if ``per_feature=False``."""
        lows, highs = [], []
        for chunk in _fit_chunks(x, "MinMaxScaler.fit"):  # min and max are exact: chunking changes no bit
            lows.append(chunk.min(axis=0) if per_feature else chunk.min())
            highs.append(chunk.max(axis=0) if per_feature else chunk.max())
        return cls(np.min(lows, axis=0), np.max(highs, axis=0))

    @classmethod
    def from_range(cls, low: float, high: float) -> MinMaxScaler:
        """A scaler for a known range, e.g. ``from_range(0, 255)`` for 8-bit pixels."""
        return cls(float(low), float(high))

    def _span(self, dt: type[np.floating]) -> NDArray[np.floating]:
        span = self.high - self.low
        return np.where(span > 0, span, 1.0).astype(dt)

    def apply(self, x: ArrayLike, *, dtype: type[np.floating] | None = None) -> NDArray[np.floating]:
        """``(x - low) / (high - low)``; float inputs keep their dtype, others become float64 (or ``dtype``)."""
        a = np.asarray(x)
        _check_shape("MinMaxScaler.apply", a, self.low.shape)
        dt = _out_dtype(a, dtype)
        return _scaled(a, dt, self.low, self._span(dt))

    def invert(self, z: ArrayLike) -> NDArray[np.floating]:
        """``z * (high - low) + low``: back to the original units."""
        a = np.asarray(z)
        _check_shape("MinMaxScaler.invert", a, self.low.shape)
        dt = _out_dtype(a, None)
        return _own(a.astype(dt) * self._span(dt) + self.low.astype(dt))

    def to_arrays(self) -> dict[str, NDArray[np.float64]]:
        """``{"low": ..., "high": ...}``: plain arrays to save beside a checkpoint."""
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike]) -> MinMaxScaler:
        """The inverse of :meth:`to_arrays` (validated: same shapes, finite, ``high >= low``)."""
        return cls(*_from_arrays("MinMaxScaler.from_arrays", arrays, ("low", "high")))


def _check_shape(where: str, a: NDArray[np.generic], feature_shape: tuple[int, ...]) -> None:
    """``a`` must be ``(n, *feature_shape)``; a 0-d (global) scaler accepts any shape."""
    if feature_shape == ():
        return
    if a.ndim < 1 or a.shape[1:] != feature_shape:
        raise ShapeError(f"{where}: expected samples of shape (n, {', '.join(map(str, feature_shape))}), got {a.shape}")
