"""Metrics: accuracy, confusion matrices, precision/recall/F1, regression errors, and metrics by name.

Arguments follow :func:`funcnn.loss`: predictions ``y`` first, targets ``t``
second. Classification inputs may be

* scores ``(n, classes)``: probabilities or logits (the arg-max is the class);
* binary scores ``(n,)`` or ``(n, 1)``: probabilities (class 1 if ``>= 0.5``)
  or, with ``from_logits=True``, logits (class 1 if ``>= 0``);
* integer labels ``(n,)``; targets may also be one-hot rows or labels stored
  as floats.

Every function is pure and warning-free: a class that is never predicted has
precision 0, a class that never occurs has recall 0 (no division by zero).
Confusion matrices have the true class on rows and the predicted class on
columns.

>>> import numpy as np
>>> y = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
>>> t = np.array([0, 1, 1])
>>> accuracy(y, t)
0.6666666666666666
>>> confusion_matrix(y, t).tolist()
[[1, 0], [1, 1]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import FloatT
from funcnn.errors import ShapeError
from funcnn.layers.activations import sigmoid, softmax
from funcnn.layers.base import Layer
from funcnn.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss, is_classifier
from funcnn.network import predict
from funcnn.tree import FrozenTree

__all__ = [
    "ClassificationReport",
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "is_classification_metric",
    "mae",
    "metric",
    "metric_names",
    "mse",
    "precision_recall_f1",
    "predict_proba",
    "r2",
    "rmse",
    "predicted_labels",
    "probabilities",
    "to_labels",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def _optional_names(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def _readonly(a: NDArray[np.generic]) -> NDArray[np.generic]:
    a.flags.writeable = False
    return a


def _binary_column(a: NDArray[np.generic]) -> bool:
    return a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1)


def to_labels(y: object, *, from_logits: bool = False, targets: bool = False) -> IntArray:
    """Integer class labels ``(n,)`` from scores, binary scores, one-hot rows or labels.

    With ``targets=True`` a float column whose values are all whole numbers is
    read as labels (``[0., 2., 1.]``); other float columns are thresholded.

    >>> to_labels(np.array([[0.1, 0.7, 0.2]])).tolist(), to_labels(np.array([-0.3, 2.0]), from_logits=True).tolist()
    ([1], [0, 1])
    """
    a = np.asarray(y)
    if a.ndim == 0 or a.ndim > 2:
        raise ShapeError(f"to_labels: expected labels (n,), scores (n, classes) or (n, 1), got shape {a.shape}")
    if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer):
        if not _binary_column(a):
            raise ShapeError(f"to_labels: integer labels must be (n,) or (n, 1), got shape {a.shape}")
        labels = a.reshape(-1).astype(np.int64)
        if labels.size and labels.min() < 0:
            raise ShapeError(f"to_labels: labels must be >= 0, got a minimum of {labels.min()}")
        return labels
    if not np.issubdtype(a.dtype, np.floating):
        raise ShapeError(f"to_labels: expected numeric labels or scores, got dtype {a.dtype}")
    if not _binary_column(a):
        labels_: IntArray = np.argmax(a, axis=1).astype(np.int64)
        return labels_
    column = a.reshape(-1)
    if targets and np.all(np.mod(column, 1) == 0) and (column.size == 0 or column.min() >= 0):
        return column.astype(np.int64)
    return (column >= (0.0 if from_logits else 0.5)).astype(np.int64)


def probabilities(loss: Loss, y: NDArray[FloatT]) -> NDArray[FloatT]:
    """Class probabilities ``(n, classes)`` from a classifier's outputs ``y``.

    Logits (``loss.from_logits``) go through softmax (several columns) or
    sigmoid (one column, which becomes two columns ``1 - p, p``); probabilities
    are returned as they are.

    Raises:
        ValueError: ``loss`` is not a classification loss (see :func:`~funcnn.losses.is_classifier`).

    >>> import numpy as np, funcnn as fn
    >>> probabilities(fn.BinaryCrossEntropy(), np.array([[0.25]])).tolist()
    [[0.75, 0.25]]
    """
    if not is_classifier(loss):
        raise ValueError(f"probabilities: {loss!r} is not a classification loss")
    from_logits = bool(getattr(loss, "from_logits", False))
    if y.ndim == 2 and y.shape[1] > 1:
        return softmax(y) if from_logits else y
    p = sigmoid(y) if from_logits else y
    p = p.reshape(p.shape[0], -1)
    return np.concatenate([1 - p, p], axis=1)


def _last_kind(model: Layer) -> str:
    layers = getattr(model, "layers", None)
    while layers:
        model = layers[-1]
        layers = getattr(model, "layers", None)
    return str(getattr(model, "kind", ""))


def predict_proba(
    model: Layer, params: FrozenTree[FloatT], x: object, *, loss: Loss | None = None, batch_size: int | None = None
) -> NDArray[FloatT]:
    """Class probabilities ``(n, classes)`` of a classifier for inputs ``x: (n, *in_shape)``, rows summing to 1.

    Whatever the loss's ``from_logits``: with ``loss``, its ``from_logits``
    says what the outputs are; without, a model ending in ``Softmax`` or
    ``Sigmoid`` outputs probabilities and any other outputs logits. One output
    column (a binary classifier) becomes two, ``1 - p`` and ``p``.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(3))
    >>> params = fn.freeze({"dense_0": {"w": np.eye(2, 3), "b": np.zeros(3)}})
    >>> p = predict_proba(model, params, np.array([[1.0, 0.0]]))
    >>> p.shape, bool(np.isclose(p.sum(), 1.0)), int(p.argmax())
    ((1, 3), True, 0)
    """
    y = predict(model, params, x, batch_size=batch_size)
    if loss is None:
        from_logits = _last_kind(model) not in ("softmax", "sigmoid")
        width = y.shape[1] if y.ndim == 2 else 1
        loss = BinaryCrossEntropy(from_logits=from_logits) if width == 1 else CategoricalCrossEntropy(
            from_logits=from_logits
        )
    return probabilities(loss, y)


def predicted_labels(loss: Loss, y: NDArray[FloatT]) -> IntArray:
    """``(n,)`` predicted classes from a classifier's outputs (arg-max, or the 0.5 threshold)."""
    return to_labels(y, from_logits=bool(getattr(loss, "from_logits", False)))


def _n_classes(a: NDArray[np.generic]) -> int:
    """Classes implied by an input's shape: its columns, 2 for a binary float column, else 0."""
    if not _binary_column(a):
        return int(a.shape[1])
    return 2 if np.issubdtype(a.dtype, np.floating) else 0


def _pair(y: object, t: object, from_logits: bool) -> tuple[IntArray, IntArray, int]:
    ya, ta = np.asarray(y), np.asarray(t)
    yl, tl = to_labels(ya, from_logits=from_logits), to_labels(ta, targets=True)
    if yl.shape != tl.shape:
        raise ShapeError(
            f"metrics: predictions and targets hold different numbers of samples: {yl.shape[0]} and {tl.shape[0]}"
        )
    top = max(int(yl.max(initial=-1)), int(tl.max(initial=-1))) + 1
    return yl, tl, max(_n_classes(ya), _n_classes(ta), top)


def accuracy(y: object, t: object, *, from_logits: bool = False) -> float:
    """The fraction of samples whose predicted class equals the target class."""
    yl, tl, _ = _pair(y, t, from_logits)
    if yl.size == 0:
        raise ShapeError("accuracy: got no samples")
    return float(np.count_nonzero(yl == tl)) / yl.size


def confusion_matrix(y: object, t: object, *, num_classes: int | None = None, from_logits: bool = False) -> IntArray:
    """``(classes, classes)`` counts: entry ``[i, j]`` is the number of samples of class ``i`` predicted as ``j``.

    ``num_classes`` defaults to what the shapes and labels imply.
    """
    yl, tl, k = _pair(y, t, from_logits)
    if num_classes is not None:
        if num_classes < k and max(int(yl.max(initial=-1)), int(tl.max(initial=-1))) >= num_classes:
            raise ShapeError(
                f"confusion_matrix: labels must lie in [0, {num_classes - 1}], got a label >= {num_classes}"
            )
        k = num_classes
    cm = np.bincount(tl * k + yl, minlength=k * k).reshape(k, k).astype(np.int64)
    return _readonly(cm)  # type: ignore[return-value]


def _safe_divide(a: NDArray[np.generic], b: NDArray[np.generic]) -> FloatArray:
    out = np.zeros(np.shape(a), dtype=np.float64)
    np.divide(a, b, out=out, where=np.asarray(b) > 0)
    return out


@attrs.frozen(repr=False)
class ClassificationReport:
    """Per-class precision, recall, F1 and support, with macro and micro averages, from a confusion matrix.

    Macro averages are plain means over the classes that occur in the targets
    or the predictions; micro averages pool every sample (for single-label
    data all three equal the accuracy).
    """

    confusion: IntArray = attrs.field(eq=False)
    class_names: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_names)

    def __attrs_post_init__(self) -> None:
        k = self.confusion.shape[0]
        if self.class_names is not None and len(self.class_names) != k:
            raise ValueError(
                f"ClassificationReport: {len(self.class_names)} class names for a {k}x{k} confusion matrix; "
                f"give one name per class"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The class names, or ``'0'``, ``'1'``, ... when none were given."""
        if self.class_names is not None:
            return self.class_names
        return tuple(str(i) for i in range(self.confusion.shape[0]))

    @property
    def support(self) -> IntArray:
        """``(classes,)`` number of samples of each true class."""
        counts: IntArray = self.confusion.sum(axis=1)
        return counts

    @property
    def precision(self) -> FloatArray:
        """``(classes,)`` ``tp / predicted`` (0 for a class never predicted)."""
        return _safe_divide(np.diagonal(self.confusion), self.confusion.sum(axis=0))

    @property
    def recall(self) -> FloatArray:
        """``(classes,)`` ``tp / support`` (0 for a class that never occurs)."""
        return _safe_divide(np.diagonal(self.confusion), self.support)

    @property
    def f1(self) -> FloatArray:
        """``(classes,)`` harmonic mean ``2 p r / (p + r)`` (0 where ``p + r = 0``)."""
        p, r = self.precision, self.recall
        return _safe_divide(2.0 * p * r, p + r)

    @property
    def accuracy(self) -> float:
        total = int(self.confusion.sum())
        return float(np.trace(self.confusion)) / total if total else 0.0

    def _present(self) -> NDArray[np.bool_]:
        present: NDArray[np.bool_] = (self.support + self.confusion.sum(axis=0)) > 0
        return present

    def _macro(self, values: FloatArray) -> float:
        present = self._present()
        return float(np.mean(values[present])) if present.any() else 0.0

    @property
    def macro(self) -> dict[str, float]:
        """``{"precision", "recall", "f1"}`` unweighted means over the classes present."""
        p, r, f = self.precision, self.recall, self.f1
        return {"precision": self._macro(p), "recall": self._macro(r), "f1": self._macro(f)}

    @property
    def micro(self) -> dict[str, float]:
        """``{"precision", "recall", "f1"}`` from the pooled counts."""
        tp = float(np.trace(self.confusion))
        total = float(self.confusion.sum())
        p = tp / total if total else 0.0  # pooled predictions and pooled support both sum to total
        return {"precision": p, "recall": p, "f1": p}

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict (lists and floats)."""
        return {
            "class_names": list(self.names),
            "confusion_matrix": self.confusion.tolist(),
            "per_class": {
                "precision": self.precision.tolist(),
                "recall": self.recall.tolist(),
                "f1": self.f1.tolist(),
                "support": self.support.tolist(),
            },
            "macro": self.macro,
            "micro": self.micro,
        }

    def __str__(self) -> str:
        k, names = self.confusion.shape[0], self.names
        width = max(5, len(str(int(self.confusion.max(initial=0)))) + 1, *(len(n) + 1 for n in names))
        label = max(9, *(len(n) for n in names))
        lines = ["confusion matrix (rows: true class, columns: predicted class)"]
        lines.append(" " * (label + 1) + "".join(f"{n:>{width}}" for n in names))
        rows = self.confusion.tolist()
        lines += [f"{names[i]:<{label}} " + "".join(f"{c:>{width}}" for c in row) for i, row in enumerate(rows)]
        lines += ["", f"{'class':<{label}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}"]
        p, r, f, s = self.precision, self.recall, self.f1, self.support
        lines += [f"{names[i]:<{label}} {p[i]:>9.4f} {r[i]:>9.4f} {f[i]:>9.4f} {s[i]:>9}" for i in range(k)]
        total = int(s.sum())
        for name, avg in (("macro avg", self.macro), ("micro avg", self.micro)):
            lines.append(
                f"{name:<{label}} {avg['precision']:>9.4f} {avg['recall']:>9.4f} {avg['f1']:>9.4f} {total:>9}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ClassificationReport(classes={self.confusion.shape[0]}, samples={int(self.confusion.sum())})"


def classification_report(
    y: object,
    t: object,
    *,
    num_classes: int | None = None,
    from_logits: bool = False,
    class_names: Sequence[str] | None = None,
) -> ClassificationReport:
    """Confusion matrix with per-class precision/recall/F1 and their macro and micro averages.

    ``class_names`` (one per class, in label order) label the rows when printed
    and fix the number of classes, so a data set holding only some classes still
    gets the model's full table.
    """
    k = num_classes if num_classes is not None else (None if class_names is None else len(class_names))
    return ClassificationReport(confusion_matrix(y, t, num_classes=k, from_logits=from_logits), class_names)


def precision_recall_f1(
    y: object, t: object, *, num_classes: int | None = None, from_logits: bool = False
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-class ``(precision, recall, f1)``, each ``(classes,)``; 0 where undefined."""
    report = classification_report(y, t, num_classes=num_classes, from_logits=from_logits)
    return report.precision, report.recall, report.f1


# -- regression ---------------------------------------------------------------


def _regression_pair(y: object, t: object) -> tuple[FloatArray, FloatArray]:
    ya = np.asarray(y, dtype=np.float64)
    ta = np.asarray(t, dtype=np.float64)
    if ta.shape != ya.shape and ta.size == ya.size and ya.ndim >= 1 and ta.shape[:1] == ya.shape[:1]:
        ta = ta.reshape(ya.shape)  # (n,) targets for an (n, 1) output
    if ta.shape != ya.shape:
        raise ShapeError(f"metrics: expected targets of shape {ya.shape} (like the predictions), got {ta.shape}")
    if ya.size == 0:
        raise ShapeError("metrics: got no samples")
    return ya, ta


def mse(y: object, t: object) -> float:
    """Mean squared error over all elements (computed in float64)."""
    ya, ta = _regression_pair(y, t)
    d = ya - ta
    return float(np.vdot(d, d)) / d.size


def rmse(y: object, t: object) -> float:
    """Root mean squared error."""
    return math.sqrt(mse(y, t))


def mae(y: object, t: object) -> float:
    """Mean absolute error over all elements."""
    ya, ta = _regression_pair(y, t)
    return float(np.mean(np.abs(ya - ta)))


def r2(y: object, t: object) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``, averaged over output columns.

    A constant target column scores 1 if predicted exactly, else 0 (no division by zero).
    """
    ya, ta = _regression_pair(y, t)
    ya2 = ya.reshape(ya.shape[0], -1)
    ta2 = ta.reshape(ta.shape[0], -1)
    ss_res = np.sum((ta2 - ya2) ** 2, axis=0)
    ss_tot = np.sum((ta2 - ta2.mean(axis=0)) ** 2, axis=0)
    perfect = (ss_res == 0).astype(np.float64)
    scores = np.where(ss_tot > 0, 1.0 - _safe_divide(ss_res, ss_tot), perfect)
    return float(np.mean(scores))


# -- named metrics -------------------------------------------------------------

MetricFn = Callable[[object, object, bool], float]


def _cls(pick: Callable[[ClassificationReport], float]) -> MetricFn:
    return lambda y, t, from_logits: pick(classification_report(y, t, from_logits=from_logits))


_METRICS: dict[str, tuple[Literal["classification", "regression"], MetricFn]] = {
    "accuracy": ("classification", lambda y, t, fl: accuracy(y, t, from_logits=fl)),
    "macro_precision": ("classification", _cls(lambda r: r.macro["precision"])),
    "macro_recall": ("classification", _cls(lambda r: r.macro["recall"])),
    "macro_f1": ("classification", _cls(lambda r: r.macro["f1"])),
    "micro_precision": ("classification", _cls(lambda r: r.micro["precision"])),
    "micro_recall": ("classification", _cls(lambda r: r.micro["recall"])),
    "micro_f1": ("classification", _cls(lambda r: r.micro["f1"])),
    "mse": ("regression", lambda y, t, fl: mse(y, t)),
    "rmse": ("regression", lambda y, t, fl: rmse(y, t)),
    "mae": ("regression", lambda y, t, fl: mae(y, t)),
    "r2": ("regression", lambda y, t, fl: r2(y, t)),
}
_METRICS["precision"] = _METRICS["macro_precision"]
_METRICS["recall"] = _METRICS["macro_recall"]
_METRICS["f1"] = _METRICS["macro_f1"]


def metric_names(names: Sequence[str]) -> tuple[str, ...]:
    """Check metric names (for ``train(metrics=...)`` and ``evaluate``) and return them as a tuple.

    Known names: ``accuracy``, ``precision``, ``recall``, ``f1`` (macro
    averages), ``macro_*``, ``micro_*``, ``mse``, ``rmse``, ``mae``, ``r2``.
    """
    if isinstance(names, str):
        names = (names,)
    unknown = [n for n in names if n not in _METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown metric(s) {unknown}; known names are {sorted(_METRICS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics: names must be distinct, got {list(names)}")
    return tuple(names)


def is_classification_metric(name: str) -> bool:
    """True if the named metric scores classes (``accuracy``, ``f1``, ...), False for a regression metric."""
    metric_names((name,))
    return _METRICS[name][0] == "classification"


def metric(name: str, y: object, t: object, *, from_logits: bool = False) -> float:
    """The named metric of predictions ``y`` against targets ``t``.

    >>> metric("rmse", np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    1.4142135623730951
    """
    metric_names((name,))
    return _METRICS[name][1](y, t, from_logits)
