"""Output heads: which last layer width and loss fit a data set, and classes on a grid.

:func:`choose_head` picks the width of the last ``Dense`` and the loss for a
task; :func:`loss_for_model` picks the loss for a given model (e.g. from a
model file) and checks that its output fits the labels, by shape inference
(no weights built). :func:`decision_grid` predicts the class on a grid over
2-D inputs, for a decision-boundary plot.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn._typing import FloatT, Shape
from funcnn.datasets.inputs import Preparation
from funcnn.errors import ConfigError, DataError, ShapeError
from funcnn.layers.base import Layer
from funcnn.losses import MSE, BinaryCrossEntropy, CategoricalCrossEntropy, Loss
from funcnn.metrics import predicted_labels
from funcnn.network import Sequential, output_shape, predict
from funcnn.tree import FrozenTree, tree_dtype

__all__ = ["Head", "LossName", "Task", "choose_head", "decision_grid", "loss_for_model"]

LossName: TypeAlias = Literal["cross_entropy", "binary_cross_entropy", "mse"]
Task: TypeAlias = Literal["classification", "regression"]


@attrs.frozen
class Head:
    """The output layer width and the loss that fit a data set, and how to describe the choice."""

    out_dim: int
    loss: Loss
    description: str


def _classes_text(n: int) -> str:
    return f"{n} classes"


def _check_classes(n_classes: int | None) -> int:
    if n_classes is None or n_classes < 2:
        raise DataError(
            f"classification needs at least 2 classes, the labels hold {n_classes or 0}; "
            "check the label column (--label-column)"
        )
    return n_classes


def choose_head(task: Task, *, n_classes: int | None = None, n_outputs: int = 1, loss: LossName | None = None) -> Head:
    """The last ``Dense`` width and loss for a data set (``loss=None`` chooses).

    Several classes: ``n_classes`` logits with softmax + cross-entropy; two
    classes: one logit with sigmoid + binary cross-entropy; regression:
    ``n_outputs`` values with the mean squared error. The losses work on
    logits (``from_logits=True``), which is the numerically stable form.

    Raises:
        DataError: the loss does not fit the labels (e.g. cross-entropy on
            real-valued targets); the message names the loss that would.

    >>> choose_head("classification", n_classes=3).description
    'softmax + cross-entropy (3 classes)'
    >>> choose_head("classification", n_classes=2).out_dim
    1
    """
    if task == "regression":
        if loss not in (None, "mse"):
            raise DataError(
                f"the loss {loss.replace('_', '-')} needs class labels, but the targets are real numbers "
                "(a regression data set); use --loss mse"
            )
        return Head(n_outputs, MSE(), f"identity + mean squared error ({n_outputs} output{'s' * (n_outputs > 1)})")
    k = _check_classes(n_classes)
    if loss == "mse":
        raise DataError(
            f"the loss mse needs real-valued targets, but the labels are classes ({_classes_text(k)}); "
            "use --loss cross-entropy"
        )
    if loss == "binary_cross_entropy" or (loss is None and k == 2):
        if k != 2:
            raise DataError(
                f"binary cross-entropy needs labels 0 and 1, but the labels hold {_classes_text(k)}; "
                "use --loss cross-entropy"
            )
        return Head(1, BinaryCrossEntropy(from_logits=True), "sigmoid + binary cross-entropy (2 classes)")
    return Head(k, CategoricalCrossEntropy(from_logits=True), f"softmax + cross-entropy ({_classes_text(k)})")


def _last_layer(model: Layer) -> Layer:
    while isinstance(model, Sequential) and model.layers:
        model = model.layers[-1]
    return model


def loss_for_model(
    model: Layer,
    in_shape: Shape,
    task: Task,
    *,
    n_classes: int | None = None,
    n_outputs: int = 1,
    loss: LossName | None = None,
) -> tuple[Loss, str]:
    """The loss for a given model (e.g. from a model file) and data, with a description.

    A last ``Softmax`` or ``Sigmoid`` layer means the model outputs
    probabilities; otherwise its outputs are read as logits.

    Raises:
        ConfigError: the model's output does not fit the labels (the message
            says which ``out_dim`` the last layer needs).
        DataError: the loss does not fit the labels.
    """
    out = output_shape(model, in_shape)
    last = _last_layer(model).kind
    probs = last in ("softmax", "sigmoid")
    width = out[-1] if out else 1
    if task == "regression":
        head = choose_head(task, n_outputs=n_outputs, loss=loss)
        if out != (n_outputs,):
            raise ConfigError(
                f"the model outputs shape {out} per sample but the targets have {n_outputs} value(s); "
                f"make the last layer's out_dim {n_outputs}"
            )
        return head.loss, head.description
    k = _check_classes(n_classes)
    if loss is None:
        loss = "binary_cross_entropy" if (width == 1 and k == 2) else "cross_entropy"
    head = choose_head(task, n_classes=k, loss=loss)
    if loss == "binary_cross_entropy":
        if out != (1,):
            raise ConfigError(
                f"binary cross-entropy needs one output per sample, but the model outputs shape {out}; "
                "make the last layer's out_dim 1, or use --loss cross-entropy"
            )
        if probs:
            return BinaryCrossEntropy(), "binary cross-entropy on the model's sigmoid output (2 classes)"
        return head.loss, head.description
    if len(out) != 1 or out[0] < k:
        raise ConfigError(
            f"the model outputs shape {out} per sample but the labels hold {_classes_text(k)}; "
            f"make the last layer's out_dim {k}"
        )
    if probs:
        return CategoricalCrossEntropy(), f"cross-entropy on the model's softmax output ({_classes_text(k)})"
    return head.loss, head.description


def decision_grid(
    model: Layer,
    params: FrozenTree[FloatT],
    prep: Preparation,
    loss: Loss,
    x: ArrayLike,
    *,
    resolution: int = 200,
    margin: float = 0.1,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """The predicted class on a grid covering 2-D raw inputs ``x: (n, 2)`` (for a decision-boundary plot).

    Returns:
        ``(gx, gy, labels)``: ``gx: (resolution,)`` and ``gy: (resolution,)``
        grid coordinates spanning the data plus ``margin`` of its range on each
        side, and ``labels: (resolution, resolution)`` with ``labels[i, j]``
        the class predicted at ``(gx[j], gy[i])``.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ShapeError(f"decision_grid: expected 2-D inputs (n, 2), got {a.shape}")
    low, high = a.min(axis=0), a.max(axis=0)
    pad = np.where(high > low, (high - low) * margin, 1.0)
    gx = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    gy = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    mesh = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    y = predict(model, params, prep.apply(mesh, tree_dtype(params).type))
    return gx, gy, predicted_labels(loss, y).reshape(resolution, resolution)
