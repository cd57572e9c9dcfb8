"""The data schema: what a model's inputs and outputs mean, saved with a run and read back.

A :class:`Schema` records the feature names in order (None for data without
names, such as arrays and images), the shape of one sample, the task, for
classification the ordered class names (or the number of classes for integer
labels), for regression the number of outputs and, when the targets were
standardised, their mean and standard deviation, plus the label column's name
and the columns that were dropped. Files read for a trained model go through
it (:func:`funcnn.datasets.load_csv` with ``schema=``): columns are matched by
name, labels by class name, and nothing is re-encoded per file.

>>> s = Schema(features=("a", "b"), feature_shape=(2,), task="classification",
...            class_names=("no", "yes"), target="label")
>>> Schema.from_json(s.to_json()) == s
True
>>> s.n_classes
2
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.datasets.dataset import TASKS, Task
from funcnn.errors import DataError

__all__ = ["SCHEMA_VERSION", "Schema", "TargetScale"]

SCHEMA_VERSION = 1


def _names(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise DataError(f"Schema: expected a list of names, got {value!r}")
    return tuple(str(v) for v in value)


def _name_tuple(value: object) -> tuple[str, ...]:
    return _names(value) or ()


def _shape(value: object) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(d, int | np.integer) for d in value):
        raise DataError(f"Schema: expected a shape (a list of whole numbers), got {value!r}")
    return tuple(int(d) for d in value)


def _floats(value: object) -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise DataError(f"Schema: expected a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)


@attrs.frozen
class TargetScale:
    """How regression targets were standardised: ``t_scaled = (t - mean) / std``, per output ``(outputs,)``."""

    mean: tuple[float, ...] = attrs.field(converter=_floats)
    std: tuple[float, ...] = attrs.field(converter=_floats)

    def __attrs_post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not all(s > 0 and math.isfinite(s) for s in self.std):
            raise DataError(f"TargetScale: need as many means as positive stds, got {self.mean} and {self.std}")

    @classmethod
    def fit(cls, y: ArrayLike) -> TargetScale:
        """The mean and std of targets ``y: (n, outputs)`` (a constant output gets std 1)."""
        a = np.asarray(y, dtype=np.float64)
        a = a.reshape(a.shape[0], -1)
        std = a.std(axis=0)
        return cls(tuple(a.mean(axis=0).tolist()), tuple(np.where(std > 0, std, 1.0).tolist()))

    def scale(self, y: NDArray[Any]) -> NDArray[Any]:
        """``(y - mean) / std`` in ``y``'s dtype."""
        a = np.asarray(y)
        out: NDArray[Any] = ((a - np.asarray(self.mean)) / np.asarray(self.std)).astype(a.dtype)
        return out

    def unscale(self, y: NDArray[Any]) -> NDArray[Any]:
        """Outputs in the targets' original units: ``y * std + mean``, in ``y``'s dtype."""
        a = np.asarray(y)
        out: NDArray[Any] = (a * np.asarray(self.std) + np.asarray(self.mean)).astype(a.dtype)
        return out


@attrs.frozen
class Schema:
    """What a model's data mean (see the module docstring). Equal schemas compare equal.

    Attributes:
        features: feature (column) names in input order, or None when the data have none.
        feature_shape: the shape of one raw sample, e.g. ``(4,)`` or ``(28, 28)``.
        task: ``"classification"`` or ``"regression"``.
        class_names: classification: the name of each class index (None for integer labels).
        classes: classification with unnamed (integer) labels: the number of classes (see :attr:`n_classes`).
        outputs: regression: the number of target values per sample.
        target: the label column's name (None: not from a CSV header).
        target_position: the label column's position in the file, counted from 1 (None: not a CSV).
        dropped: columns that were ignored (names, or positions from 1 for a file without header).
        dropped_positions: their positions in the training file, counted from 1.
        target_scale: regression targets standardised for training, or None.
    """

    features: tuple[str, ...] | None
    feature_shape: tuple[int, ...] = attrs.field(converter=_shape)
    task: Task = attrs.field(validator=attrs.validators.in_(TASKS))
    class_names: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    classes: int | None = None
    outputs: int | None = None
    target: str | None = None
    target_position: int | None = None
    dropped: tuple[str, ...] = attrs.field(default=(), converter=_name_tuple)
    dropped_positions: tuple[int, ...] = attrs.field(default=(), converter=_shape)
    target_scale: TargetScale | None = None

    def __attrs_post_init__(self) -> None:
        if self.features is not None and len(self.features) != math.prod(self.feature_shape):
            raise DataError(
                f"Schema: {len(self.features)} feature names for samples of shape {self.feature_shape}"
            )
        if self.task == "regression" and (self.class_names is not None or self.classes is not None):
            raise DataError("Schema: a regression schema has no classes")
        if self.task == "classification" and self.target_scale is not None:
            raise DataError("Schema: class labels are not scaled (target_scale is for regression)")

    @property
    def n_features(self) -> int:
        """Values per sample: ``prod(feature_shape)``."""
        return math.prod(self.feature_shape)

    @property
    def n_classes(self) -> int | None:
        """The number of classes (None for regression)."""
        if self.task != "classification":
            return None
        return len(self.class_names) if self.class_names is not None else self.classes

    def to_json(self) -> dict[str, object]:
        """A JSON object (``schema.json`` in a run folder), with a ``schema_version`` field."""
        scale = self.target_scale
        return {
            "schema_version": SCHEMA_VERSION,
            "task": self.task,
            "features": None if self.features is None else list(self.features),
            "feature_shape": list(self.feature_shape),
            "class_names": None if self.class_names is None else list(self.class_names),
            "classes": self.n_classes,
            "outputs": self.outputs,
            "target": self.target,
            "target_position": self.target_position,
            "dropped": list(self.dropped),
            "dropped_positions": list(self.dropped_positions),
            "target_scale": None if scale is None else {"mean": list(scale.mean), "std": list(scale.std)},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "schema") -> Schema:
        """The inverse of :meth:`to_json`.

        Raises:
            DataError: not a schema, or a newer ``schema_version`` (the message names ``where``).
        """
        version = data.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise DataError(
                f"{where}: schema_version {version!r} is not one this funcnn reads (1..{SCHEMA_VERSION}); "
                "upgrade funcnn"
            )
        try:
            scale = data.get("target_scale")
            return cls(
                features=_names(data.get("features")),
                feature_shape=data["feature_shape"],
                task=data["task"],
                class_names=data.get("class_names"),
                classes=None if data.get("class_names") is not None else data.get("classes"),
                outputs=data.get("outputs"),
                target=data.get("target"),
                target_position=data.get("target_position"),
                dropped=data.get("dropped") or (),
                dropped_positions=data.get("dropped_positions") or (),
                target_scale=None if scale is None else TargetScale(scale["mean"], scale["std"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}: not a data schema ({type(e).__name__}: {e})") from None

    @classmethod
    def from_run_config(cls, config: Mapping[str, Any]) -> Schema:
        """The schema of a run written before ``schema.json`` existed, from its ``config.json`` ``data`` table.

        Such runs know the task, the shape and the class names, not the column names.
        """
        data = config.get("data", {})
        task = data.get("task", "classification")
        is_cls = task == "classification"
        return cls(
            features=None,
            feature_shape=data.get("feature_shape") or [],
            task=task,
            class_names=data.get("class_names") if is_cls else None,
            classes=data.get("classes") if is_cls and data.get("class_names") is None else None,
            outputs=None if is_cls else data.get("outputs"),
        )
