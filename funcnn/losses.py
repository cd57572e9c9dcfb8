"""Losses: each spec computes its cost and the gradient w.r.t. the predictions side by side.

Default conventions (as in PyTorch and Keras): ``MSE`` and
``BinaryCrossEntropy`` are means over all elements; ``CategoricalCrossEntropy``
is the mean over the batch of each sample's sum over classes. :func:`loss`
returns ``(cost, dy)`` with the cost a Python float (computed in the
predictions' dtype) and ``dy`` an array of the predictions' shape and dtype.

``reduction=`` chooses how the per-element terms ``ℓ`` of a ``(batch, k)``
prediction (``size = batch * k``) are combined, and ``half=True`` (``MSE`` only)
puts the textbook ½ in front. The gradient scale decides what a learning rate
means, so a rate copied from a text means the same here once the convention
matches:

================================== ====================== =====================
spec                               cost                   ``dy`` per element
================================== ====================== =====================
``MSE()`` (``"mean"``)             ``Σ (y - t)² / size``  ``2 (y - t) / size``
``MSE(reduction="batch_mean")``    ``Σ (y - t)² / batch`` ``2 (y - t) / batch``
``MSE(reduction="sum")``           ``Σ (y - t)²``         ``2 (y - t)``
``MSE(half=True)`` (any above)     ½ × the cost above     ½ × the ``dy`` above
BCE ``"mean"``                     ``Σ ℓ / size``         ``∂ℓ/∂y / size``
BCE ``"batch_mean"``               ``Σ ℓ / batch``        ``∂ℓ/∂y / batch``
BCE or CCE ``"sum"``               ``Σ ℓ``                ``∂ℓ/∂y``
CCE ``"mean"`` or ``"batch_mean"`` ``Σ ℓ / batch``        ``∂ℓ/∂y / batch``
================================== ====================== =====================

For the categorical cross-entropy ``"mean"`` and ``"batch_mean"`` coincide:
both average the per-sample sums over classes. ``MSE(reduction="sum",
half=True)`` is the ``½ Σ (y - t)²`` of textbook derivations of backprop;
``MSE(reduction="batch_mean", half=True)`` is scikit-learn's ``squared_error``
for ``SGDRegressor`` (``½ (y - t)²`` averaged over samples).
"""

from __future__ import annotations

from typing import ClassVar, Literal, Protocol

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT
from funcnn.errors import ShapeError
from funcnn.layers.activations import sigmoid

__all__ = [
    "MSE", "REDUCTIONS", "BinaryCrossEntropy", "CategoricalCrossEntropy", "Loss", "Reduction", "is_classifier", "loss",
]

# Probabilities are clipped into [EPS, 1 - EPS] so log never sees 0. The clip is
# taken in the predictions' dtype, so for float32 it is well above float32's eps.
_EPS = {np.dtype(np.float32): 1e-7, np.dtype(np.float64): 1e-12}

Reduction = Literal["mean", "sum", "batch_mean"]
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "batch_mean")
_check_reduction = attrs.validators.in_(REDUCTIONS)


def _count(reduction: str, y: Array[FloatT], mean: int) -> int:
    """The divisor of a reduction: ``mean`` for ``"mean"``, the batch for ``"batch_mean"``, 1 for ``"sum"``."""
    if reduction == "sum":
        return 1
    if reduction == "batch_mean":
        return y.shape[0] if y.ndim else 1
    return mean


class Loss(Protocol):
    """A loss spec: ``value_and_grad(y, t) -> (cost, dcost/dy)``.

    ``classifier`` (a class attribute, ``ClassVar[bool]``) says whether the
    targets are class labels: metrics, probabilities and the command line
    read it through :func:`is_classifier` (a loss without it is a regression loss).
    """

    @property
    def kind(self) -> str: ...

    def value_and_grad(self, y: Array[FloatT], t: Array[FloatT]) -> tuple[float, Array[FloatT]]: ...

    def check_targets(self, y: Array[FloatT], t: NDArray[np.generic]) -> Array[FloatT]: ...


def is_classifier(loss: object) -> bool:
    """True if ``loss`` scores class labels (its ``classifier`` attribute), False for regression losses.

    >>> is_classifier(CategoricalCrossEntropy()), is_classifier(MSE())
    (True, False)
    """
    return bool(getattr(loss, "classifier", False))


def _same_shape(spec: object, y: Array[FloatT], t: NDArray[np.generic]) -> Array[FloatT]:
    if t.shape != y.shape:
        raise ShapeError(f"{spec!r}: expected targets of shape {y.shape} (like the predictions), got {t.shape}")
    return t.astype(y.dtype, copy=False)


@attrs.frozen(repr=False)
class MSE:
    """Squared error ``Σ (y - t)² / count`` with ``dy = 2 (y - t) / count``.

    ``count`` is the number of elements (``reduction="mean"``, the default),
    the batch (``"batch_mean"``: summed over outputs, averaged over samples) or
    1 (``"sum"``). ``half=True`` multiplies cost and gradient by exactly ½
    (``½ Σ (y - t)²``, whose gradient is ``y - t``). See the module's table.

    >>> import numpy as np, funcnn as fn
    >>> y, t = np.array([[1.0, 2.0]]), np.zeros((1, 2))
    >>> [fn.loss(MSE(reduction=r, half=h), y, t)[0] for r, h in (("mean", False), ("sum", False), ("sum", True))]
    [2.5, 5.0, 2.5]
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "mse"
    classifier: ClassVar[bool] = False
    reduction: Reduction = attrs.field(default="mean", validator=_check_reduction)
    half: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def check_targets(self, y: Array[FloatT], t: NDArray[np.generic]) -> Array[FloatT]:
        return _same_shape(self, y, t)

    def value_and_grad(self, y: Array[FloatT], t: Array[FloatT]) -> tuple[float, Array[FloatT]]:
        diff = y - t
        count = _count(self.reduction, diff, diff.size)
        cost = float(np.vdot(diff, diff)) / count
        if self.half:  # x ½ is exact in binary floating point: half=True is exactly half
            cost *= 0.5
            diff *= 1 / count
        else:
            diff *= 2 / count
        return cost, diff


@attrs.frozen(repr=False)
class _CrossEntropy:
    """The fields every cross-entropy shares (``from_logits``, ``reduction``); a classifier's loss."""

    __repr__ = short_repr

    classifier: ClassVar[bool] = True
    from_logits: bool = False
    reduction: Reduction = attrs.field(default="mean", validator=_check_reduction)


@attrs.frozen(repr=False)
class BinaryCrossEntropy(_CrossEntropy):
    """``-mean(t log p + (1 - t) log(1 - p))`` over all elements; targets in [0, 1].

    ``from_logits=False``: ``y`` are probabilities, clipped away from 0 and 1.
    ``from_logits=True``: ``y`` are logits ``z`` and the cost is computed as
    ``max(z, 0) - z t + log(1 + e^-|z|)`` (never overflows); ``dy = (σ(z) - t) / size``.
    ``reduction`` (``"mean"`` over all elements, ``"batch_mean"`` over samples of
    the per-sample sums, or ``"sum"``) sets the divisor, as in the module's table.
    """

    kind: ClassVar[str] = "binary_cross_entropy"

    def check_targets(self, y: Array[FloatT], t: NDArray[np.generic]) -> Array[FloatT]:
        if t.ndim == y.ndim - 1 and y.shape[-1] == 1 and t.shape == y.shape[:-1]:
            t = t.reshape(y.shape)  # (batch,) labels for a (batch, 1) output
        return _same_shape(self, y, t)

    def value_and_grad(self, y: Array[FloatT], t: Array[FloatT]) -> tuple[float, Array[FloatT]]:
        n = _count(self.reduction, y, y.size)
        if self.from_logits:
            cost_terms = np.maximum(y, 0) - y * t + np.log1p(np.exp(-np.abs(y)))
            dy = sigmoid(y) - t
            dy /= n
            return float(np.sum(cost_terms)) / n, dy
        eps = _EPS[y.dtype]
        p = np.clip(y, eps, 1 - eps)
        cost = -float(np.sum(t * np.log(p) + (1 - t) * np.log1p(-p))) / n
        dy = (p - t) / (p * (1 - p))
        dy *= y == p  # zero where the clip was active (the clipped cost is flat there)
        dy /= n
        return cost, dy


@attrs.frozen(repr=False)
class CategoricalCrossEntropy(_CrossEntropy):
    """``-(1/batch) Σ_i Σ_k t_ik log p_ik`` for ``y: (batch, classes)``.

    Targets are one-hot (or soft) rows ``(batch, classes)`` or integer labels
    ``(batch,)``. ``from_logits=False``: ``y`` are probabilities (e.g. after a
    ``Softmax`` layer), clipped away from 0. ``from_logits=True``: ``y`` are
    logits; softmax and log are fused (log-sum-exp), and ``dy = (softmax(y) - t) / batch``.
    ``reduction="sum"`` drops the ``1/batch``; ``"mean"`` and ``"batch_mean"`` are the same.
    """

    kind: ClassVar[str] = "categorical_cross_entropy"

    def check_targets(self, y: Array[FloatT], t: NDArray[np.generic]) -> Array[FloatT]:
        if y.ndim != 2:
            raise ShapeError(f"{self!r}: expected predictions of shape (batch, classes), got {y.shape}")
        if t.ndim == 1 and t.shape[0] == y.shape[0]:
            if not np.issubdtype(t.dtype, np.integer):
                if not np.all(np.mod(t, 1) == 0):
                    raise ShapeError(f"{self!r}: 1-D targets must be integer class labels, got {t.dtype} values")
            labels = t.astype(np.int64)
            if labels.size and (labels.min() < 0 or labels.max() >= y.shape[1]):
                raise ShapeError(
                    f"{self!r}: labels must lie in [0, {y.shape[1] - 1}] for {y.shape[1]} classes, "
                    f"got values in [{labels.min()}, {labels.max()}]"
                )
            onehot = np.zeros(y.shape, dtype=y.dtype)
            onehot[np.arange(y.shape[0]), labels] = 1
            return onehot
        if t.shape != y.shape:
            raise ShapeError(
                f"{self!r}: expected one-hot targets of shape {y.shape} or integer labels of shape "
                f"({y.shape[0]},), got {t.shape}"
            )
        return t.astype(y.dtype, copy=False)

    def value_and_grad(self, y: Array[FloatT], t: Array[FloatT]) -> tuple[float, Array[FloatT]]:
        batch = 1 if self.reduction == "sum" else y.shape[0]
        if self.from_logits:
            shifted = y - _row_max(y)
            e = np.exp(shifted)  # one exp serves the log-sum-exp and the softmax
            z = np.add.reduce(e, axis=1, keepdims=True)  # np.sum's algorithm without its Python wrapper
            cost = -float(np.vdot(t, shifted - np.log(z))) / batch
            # d/dz of -Σ t log softmax(z) is softmax(z) Σ t - t (= p - t for one-hot rows)
            dy = e / z  # softmax(y)
            dy *= np.add.reduce(t, axis=1, keepdims=True)
            dy -= t
            dy /= batch
            return cost, dy
        eps = _EPS[y.dtype]
        p: Array[FloatT] = np.maximum(y, eps)
        cost = -float(np.vdot(t, np.log(p))) / batch
        dp: Array[FloatT] = -t / p
        dp *= y >= eps  # zero where the clip was active
        dp /= batch
        return cost, dp


def _row_max(y: Array[FloatT]) -> Array[FloatT]:
    """``max(y, axis=1, keepdims=True)`` for ``y: (batch, classes)``, fast for few classes.

    With few classes numpy's row-wise reduction runs one tiny inner loop per
    row; a transposed copy is reduced with one vector loop per class instead,
    several times faster. The max is exact, so the values are the same.
    """
    m: Array[FloatT] = (
        np.maximum.reduce(y.T.copy(), axis=0)[:, np.newaxis] if y.shape[1] <= 64 else np.max(y, axis=1, keepdims=True)
    )
    return m


def loss(spec: Loss, y: Array[FloatT], t: object) -> tuple[float, Array[FloatT]]:
    """``(cost, dcost/dy)`` of ``spec`` for predictions ``y`` and targets ``t``.

    ``t`` is checked against ``y`` (a clear :class:`ShapeError` names what was
    expected) and cast to ``y``'s dtype once.

    >>> import numpy as np, funcnn as fn
    >>> cost, dy = fn.loss(fn.MSE(), np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
    >>> cost, dy.ravel().tolist()
    (2.5, [1.0, 2.0])
    """
    if not isinstance(y, np.ndarray) or y.dtype not in (np.float32, np.float64):
        raise TypeError(f"loss: predictions must be a float32 or float64 array, got {type(y).__name__}")
    targets = spec.check_targets(y, np.asarray(t))
    return spec.value_and_grad(y, targets)
