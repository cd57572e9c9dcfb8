"""Evaluation: score a trained model on a data set in one call, as a printable :class:`Report`.

:func:`evaluate` runs the model in inference mode in batches of bounded size
(see :func:`~funcnn.network.predict`) and scores all its outputs at once with
the metrics of :mod:`funcnn.metrics`: the loss's cost, named metrics, and for
classification the confusion matrix with per-class precision, recall and F1.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from funcnn._typing import FloatT
from funcnn.layers.base import Layer
from funcnn.losses import Loss, is_classifier
from funcnn.metrics import ClassificationReport, classification_report, is_classification_metric, metric, metric_names
from funcnn.network import predict
from funcnn.tree import FrozenTree

__all__ = ["Report", "evaluate"]


def _freeze_mapping(value: Mapping[str, float]) -> Mapping[str, float]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(repr=False)
class Report:
    """The result of :func:`evaluate`: a frozen, printable summary.

    ``metrics`` maps metric names to values; ``classes`` holds the confusion
    matrix and per-class scores for classification tasks (None for regression).
    """

    samples: int
    loss: str
    cost: float
    metrics: Mapping[str, float] = attrs.field(converter=_freeze_mapping)
    classes: ClassificationReport | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict (the CLI's ``--json``)."""
        out: dict[str, object] = {
            "samples": self.samples,
            "loss": self.loss,
            "cost": self.cost,
            "metrics": dict(self.metrics),
        }
        if self.classes is not None:
            out.update(self.classes.to_dict())
        return out

    def __str__(self) -> str:
        lines = [f"{self.samples} samples  {self.loss} cost {self.cost:.6g}"]
        lines += [f"{name:>16} {value:.4f}" for name, value in self.metrics.items()]
        if self.classes is not None:
            lines.append(str(self.classes))
        return "\n".join(lines)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items())
        return f"Report(samples={self.samples}, cost={self.cost:.6g}{', ' if shown else ''}{shown})"


def evaluate(
    model: Layer,
    params: FrozenTree[FloatT],
    x: object,
    y: object,
    *,
    loss: Loss,
    metrics: Sequence[str] | None = None,
    batch_size: int | None = None,
    class_names: Sequence[str] | None = None,
) -> Report:
    """Run ``model`` in inference mode on ``x`` and score it against targets ``y``.

    The model runs in batches of ``batch_size`` rows (default: chosen by a
    memory budget, see :func:`~funcnn.network.predict`), so memory grows with
    the batch, not with ``n``; the scores are computed on all the outputs at
    once. Costs agree with a one-pass evaluation to float rounding, labels and
    label-based metrics exactly unless two scores of a sample are within rounding.

    The task is classification if ``loss`` is a cross-entropy or any requested
    metric is a classification metric; then the report also holds the
    confusion matrix and per-class precision/recall/F1. Default metrics:
    ``accuracy`` and ``macro_f1`` for classification, ``mse``, ``rmse``,
    ``mae`` and ``r2`` for regression.

    Args:
        model: the model spec.
        params: its params.
        x: ``(n, *in_shape)`` inputs.
        y: ``(n, *out_shape)`` targets, or ``(n,)`` labels for classification.
        loss: the loss whose cost is reported (its ``from_logits`` tells how
            to read binary outputs).
        metrics: metric names (see :func:`~funcnn.metrics.metric_names`).
        batch_size: rows per inference pass (None: chosen by memory).
        class_names: classification: the name of each class in label order;
            the report prints them and has one row per class even when ``y``
            holds only some classes.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(2))
    >>> params = fn.freeze({"dense_0": {"w": np.eye(2), "b": np.zeros(2)}})
    >>> x, t = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), np.array([0, 1, 1])
    >>> report = evaluate(model, params, x, t, loss=fn.CategoricalCrossEntropy(from_logits=True))
    >>> report.metrics["accuracy"], report.classes.confusion.tolist()
    (0.6666666666666666, [[1, 0], [1, 1]])
    """
    from_logits = bool(getattr(loss, "from_logits", False))
    names = None if metrics is None else metric_names(metrics)
    is_cls = is_classifier(loss) or any(is_classification_metric(n) for n in names or ())
    if names is None:
        names = ("accuracy", "macro_f1") if is_cls else ("mse", "rmse", "mae", "r2")
    y_pred = predict(model, params, x, batch_size=batch_size)
    targets = np.asarray(y)
    cost, _ = loss.value_and_grad(y_pred, loss.check_targets(y_pred, targets))
    values = {n: metric(n, y_pred, targets, from_logits=from_logits) for n in names}
    classes = (
        classification_report(y_pred, targets, from_logits=from_logits, class_names=class_names) if is_cls else None
    )
    return Report(int(y_pred.shape[0]), loss.kind, float(cost), values, classes)
