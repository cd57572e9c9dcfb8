"""The :class:`Dataset` value every loader and generator returns.

A data set is a frozen value: inputs ``x`` (float, or uint8 for raw images),
targets ``y`` (int64 class labels for classification, float for regression), a
name, the task, optional class names, a credit line and, for data read one
sample per file (image folders), the file of each sample. Its arrays are
read-only, and ``x, y = ds`` unpacks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, TypeAlias

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.errors import DataError

if TYPE_CHECKING:
    from funcnn.datasets.schema import Schema

__all__ = ["TASKS", "Dataset", "Task"]

Task: TypeAlias = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")


def _frozen(a: NDArray[np.number]) -> NDArray[np.number]:
    """Mark an array this package has just created read-only (no copy)."""
    a.flags.writeable = False
    return a


def _readonly(value: ArrayLike) -> NDArray[np.number]:
    """A read-only numeric array; a writeable input is copied once, read-only ones are shared."""
    a = np.asarray(value)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise DataError(f"Dataset: expected a numeric array, got dtype {a.dtype}")
    if a.flags.writeable:
        a = a.copy()
        a.flags.writeable = False
    return a


def _names(value: tuple[str, ...] | list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def _name_tuple(value: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    return _names(value) or ()


def _int_tuple(value: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in value)


@attrs.frozen(repr=False, eq=False)
class Dataset:
    """A named pair of read-only arrays ``x: (n, *features)`` and ``y``.

    ``y`` is ``(n,)`` int64 class labels in ``0..n_classes-1`` when
    ``task == "classification"`` and ``(n, outputs)`` floats when
    ``task == "regression"``. Equality is identity (arrays have no single ``==``).

    >>> import numpy as np
    >>> ds = Dataset(np.zeros((4, 2)), np.array([0, 1, 1, 0]), name="toy")
    >>> ds
    Dataset(name='toy', task='classification', x=float64(4, 2), y=int64(4,), classes=2)
    >>> x, y = ds
    >>> x.shape, y.flags.writeable
    ((4, 2), False)
    """

    x: NDArray[np.number] = attrs.field(converter=_readonly)
    y: NDArray[np.number] = attrs.field(converter=_readonly)
    name: str = "data"
    task: Task = attrs.field(default="classification", validator=attrs.validators.in_(TASKS))
    class_names: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    source: str = ""
    files: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    feature_names: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    target: str | None = None
    target_position: int | None = None
    dropped: tuple[str, ...] = attrs.field(default=(), converter=_name_tuple)
    dropped_positions: tuple[int, ...] = attrs.field(default=(), converter=_int_tuple)

    def __attrs_post_init__(self) -> None:
        x, y, where = self.x, self.y, f"Dataset {self.name!r}"
        if x.ndim < 1 or y.ndim < 1:
            raise DataError(f"{where}: x and y need a leading sample axis, got x {x.shape} and y {y.shape}")
        if x.shape[0] != y.shape[0]:
            raise DataError(f"{where}: x has {x.shape[0]} samples but y has {y.shape[0]}")
        if self.feature_names is not None and len(self.feature_names) != int(np.prod(x.shape[1:])):
            raise DataError(
                f"{where}: {len(self.feature_names)} feature names for samples of shape {tuple(x.shape[1:])}"
            )
        if self.files is not None and len(self.files) != x.shape[0]:
            raise DataError(f"{where}: x has {x.shape[0]} samples but files names {len(self.files)}")
        if np.issubdtype(x.dtype, np.inexact) and not np.all(np.isfinite(x)):
            raise DataError(f"{where}: x holds NaN or infinite values at sample {_first_bad_row(x)}")
        if self.task == "classification":
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
                raise DataError(
                    f"{where}: classification labels must be a 1-D integer array, got {y.dtype}{y.shape}; "
                    "use task='regression' for float targets"
                )
            if y.size and int(y.min()) < 0:
                raise DataError(f"{where}: class labels must be >= 0, got {int(y.min())}")
            if self.class_names is not None and y.size and int(y.max()) >= len(self.class_names):
                raise DataError(
                    f"{where}: label {int(y.max())} has no name; class_names has {len(self.class_names)} entries"
                )
        else:
            if not np.issubdtype(y.dtype, np.floating):
                raise DataError(f"{where}: regression targets must be floats, got {y.dtype}")
            if not np.all(np.isfinite(y)):
                raise DataError(f"{where}: y holds NaN or infinite values at sample {_first_bad_row(y)}")
            if self.class_names is not None:
                raise DataError(f"{where}: a regression data set has no class_names")

    def __iter__(self) -> Iterator[NDArray[np.number]]:
        """``x, y = ds``."""
        yield self.x
        yield self.y

    def __repr__(self) -> str:
        classes = f", classes={self.n_classes}" if self.task == "classification" else ""
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, x={self.x.dtype}{self.x.shape}, "
            f"y={self.y.dtype}{self.y.shape}{classes})"
        )

    @property
    def n_samples(self) -> int:
        """The number of samples ``n`` (the leading axis of ``x`` and ``y``)."""
        return int(self.x.shape[0])

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one input, ``x.shape[1:]`` (a model's ``in_shape``)."""
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def n_classes(self) -> int | None:
        """``len(class_names)`` if known, else ``max(y) + 1``; ``None`` for regression."""
        if self.task != "classification":
            return None
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.y.max()) + 1 if self.y.size else 0

    @property
    def schema(self) -> Schema:
        """What the data mean (:class:`~funcnn.datasets.Schema`): feature names, shape, task, classes.

        >>> import numpy as np
        >>> ds = Dataset(np.zeros((2, 2)), np.array([0, 1]), class_names=("no", "yes"), feature_names=("a", "b"))
        >>> ds.schema.features, ds.schema.class_names
        (('a', 'b'), ('no', 'yes'))
        """
        from funcnn.datasets.schema import Schema  # noqa: PLC0415 - schema.py builds on this module

        is_cls = self.task == "classification"
        return Schema(
            features=self.feature_names,
            feature_shape=self.feature_shape,
            task=self.task,
            class_names=self.class_names,
            classes=self.n_classes if is_cls and self.class_names is None else None,
            outputs=None if is_cls else int(np.prod(self.y.shape[1:])),
            target=self.target,
            target_position=self.target_position,
            dropped=self.dropped,
            dropped_positions=self.dropped_positions,
        )

    @classmethod
    def from_schema(cls, x: ArrayLike, y: ArrayLike, schema: Schema, *, name: str, source: str = "") -> Dataset:
        """A data set of samples read through ``schema``: its task, class names and columns describe them.

        The inverse of :attr:`schema` (the shape, class count and outputs come from ``x`` and ``y``).

        >>> import numpy as np
        >>> ds = Dataset(np.zeros((2, 2)), np.array([0, 1]), class_names=("no", "yes"), feature_names=("a", "b"))
        >>> Dataset.from_schema(np.ones((3, 2)), np.array([1, 1, 0]), ds.schema, name="more").schema == ds.schema
        True
        """
        return cls(
            x,
            y,
            name=name,
            task=schema.task,
            class_names=schema.class_names,
            source=source,
            feature_names=schema.features,
            target=schema.target,
            target_position=schema.target_position,
            dropped=schema.dropped,
            dropped_positions=schema.dropped_positions,
        )

    @property
    def labels(self) -> NDArray[np.int64]:
        """``y`` typed as int64 class labels ``(n,)``; a DataError for a regression data set."""
        if self.task != "classification":
            raise DataError(f"Dataset {self.name!r}: a regression data set has no class labels")
        labels = np.asarray(self.y, dtype=np.int64)  # no copy when y is already int64
        labels.flags.writeable = False
        return labels

    def take(self, index: slice | NDArray[np.integer] | list[int]) -> Dataset:
        """The samples at ``index`` (a slice or integer indices), as a new data set.

        >>> import numpy as np
        >>> Dataset(np.arange(10.0).reshape(5, 2), np.array([0, 1, 0, 1, 1])).take(slice(0, 2)).n_samples
        2
        """
        files = None if self.files is None else tuple(np.asarray(self.files, dtype=object)[index])
        return attrs.evolve(self, x=self.x[index], y=self.y[index], files=files)


def _first_bad_row(a: NDArray[np.number]) -> int:
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return int(np.argmax(bad))
