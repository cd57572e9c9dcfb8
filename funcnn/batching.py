"""How the training loop walks its data: validation splits, epoch batches, sampling, full-data gradients.

Pure helpers of :mod:`funcnn.training`. Every random choice is derived by
meaning from the run's root key, never from what ran before:

* the validation split from ``fold_in(key, "validation")``;
* with ``sampling="permutation"`` (the default), epoch ``e`` visits every
  sample once in the order ``fold_in(fold_in(key, "shuffle"), e)`` draws;
* with ``sampling="with_replacement"`` (stochastic gradient descent as the
  classic texts state it: each step draws its samples at random), epoch ``e``
  makes ``n`` independent uniform draws from ``fold_in(fold_in(key,
  "with_replacement"), e)``, cut into batches like a permutation would be.
  Some samples appear twice in an epoch, others not at all (about
  ``1 - 1/e ≈ 63%`` are seen).

:func:`full_gradient` evaluates the gradient of the training cost on all the
data in batches of bounded size, for the convergence test of ``train(tol=...)``.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from funcnn._typing import Array, FloatT, Shape
from funcnn.errors import ShapeError
from funcnn.layers.base import Layer
from funcnn.losses import Loss
from funcnn.network import output_shape
from funcnn.rng import Key, fold_in, generator
from funcnn.tree import FrozenTree, tree_map

__all__ = ["SAMPLINGS", "Sampling", "epoch_batches", "full_gradient", "prepare_data", "run_data", "split_validation"]

Sampling = Literal["permutation", "with_replacement"]
SAMPLINGS: tuple[str, ...] = ("permutation", "with_replacement")

# Rows per forward/backward pass of full_gradient: memory stays bounded whatever n is.
GRADIENT_ROWS = 1024


def prepare_data(
    model: Layer, loss: Loss, dtype: np.dtype[FloatT], x: object, y: object, where: str = "train"
) -> tuple[Array[FloatT], Array[FloatT]]:
    """Cast inputs to ``dtype`` and targets to what ``loss`` expects, once, checking them against the model."""
    xs = np.asarray(x, dtype=dtype)
    ys = np.asarray(y)
    if xs.ndim < 1 or ys.ndim < 1:
        raise ShapeError(f"{where}: x and y need a leading sample axis, got x {xs.shape} and y {ys.shape}")
    if xs.shape[0] != ys.shape[0]:
        raise ShapeError(f"{where}: x and y must hold the same number of samples, got {xs.shape[0]} and {ys.shape[0]}")
    if xs.shape[0] == 0:
        raise ShapeError(f"{where}: got no samples (x has 0 rows)")
    y_shape: Shape = output_shape(model, xs.shape[1:])
    template = np.broadcast_to(np.zeros((), dtype=dtype), (ys.shape[0], *y_shape))
    if not np.issubdtype(ys.dtype, np.number) and ys.dtype != np.bool_:
        raise ShapeError(f"{where}: targets must be numeric, got dtype {ys.dtype}")
    return xs, loss.check_targets(template, ys)


def run_data(
    model: Layer,
    loss: Loss,
    dtype: np.dtype[FloatT],
    key: Key,
    x: object,
    y: object,
    *,
    validation: tuple[object, object] | None,
    fraction: float | None,
    in_shape: Shape | None,
    resumed: tuple[int, bool] = (0, False),
) -> tuple[Array[FloatT], Array[FloatT], Array[FloatT] | None, Array[FloatT] | None]:
    """``(x_train, t_train, x_val, t_val)`` of a run: checked, cast, and split by ``fraction`` if given.

    A continued run (``resumed = (epochs done, had validation costs)``, and
    its ``in_shape``) must bring data of the same shape and the same
    validation setting, so its history's series line up.
    """
    xs, ts = prepare_data(model, loss, dtype, x, y)
    if in_shape is not None and in_shape != xs.shape[1:]:
        raise ShapeError(
            f"train: the run was trained on inputs of shape (n, {', '.join(map(str, in_shape))}), "
            f"got {xs.shape}; continue a run with data of the same shape"
        )
    done, had = resumed
    if done and had != (fraction is not None or validation is not None):
        raise ValueError(
            f"train: the state has {'validation costs' if had else 'no validation costs'} for its first "
            f"{done} epochs, but this call {'has no' if had else 'has'} validation data; "
            "continue a run with the same validation setting"
        )
    if fraction is not None:
        if validation is not None:
            raise ValueError("train: give validation=(x, y) or validation_fraction, not both")
        train_idx, val_idx = split_validation(key, xs.shape[0], fraction)
        return xs[train_idx], ts[train_idx], xs[val_idx], ts[val_idx]
    if validation is not None:
        xv, tv = prepare_data(model, loss, dtype, validation[0], validation[1], "validation")
        return xs, ts, xv, tv
    return xs, ts, None, None


def split_validation(key: Key, n: int, fraction: float) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``(train_indices, validation_indices)``, each sorted, for ``n`` samples.

    ``round(fraction * n)`` samples (at least one, and one fewer than ``n`` at
    most) are held out, chosen by ``fold_in(key, "validation")``: the same key
    always holds out the same samples.

    >>> import funcnn as fn
    >>> tr, va = split_validation(fn.key(0), 10, 0.3)
    >>> len(tr), len(va), sorted([*tr, *va]) == list(range(10))
    (7, 3, True)
    """
    if n < 2:
        raise ShapeError(f"validation_fraction: need at least 2 samples to hold some out, got {n}")
    n_val = min(max(round(fraction * n), 1), n - 1)
    order = generator(fold_in(key, "validation")).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def epoch_batches(
    key: Key, n: int, batch_size: int | None, epoch: int, *, shuffle: bool = True, sampling: str = "permutation"
) -> list[NDArray[np.intp]] | None:
    """Index arrays of the batches of ``epoch``; None means "all samples, in order".

    Every epoch has ``ceil(n / batch_size)`` batches of ``batch_size`` rows
    (the last one may be shorter), whatever the sampling. ``key`` is the run's
    root key (see the module docstring for what is folded into it).

    >>> import funcnn as fn
    >>> [b.tolist() for b in epoch_batches(fn.key(0), 5, 2, 0, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    >>> sorted(len(b) for b in epoch_batches(fn.key(0), 5, 2, 0, sampling="with_replacement"))
    [1, 2, 2]
    """
    size = n if batch_size is None else min(batch_size, n)
    if sampling == "with_replacement":
        draws = generator(fold_in(fold_in(key, "with_replacement"), epoch)).integers(0, n, size=n, dtype=np.intp)
        return [draws[i : i + size] for i in range(0, n, size)]
    if size == n:  # full batch: the order changes nothing but rounding, so skip the copy
        return None
    order = generator(fold_in(fold_in(key, "shuffle"), epoch)).permutation(n) if shuffle else np.arange(n)
    return [order[i : i + size] for i in range(0, n, size)]


def full_gradient(
    model: Layer,
    loss: Loss,
    params: FrozenTree[FloatT],
    x: Array[FloatT],
    t: Array[FloatT],
    *,
    rows: int = GRADIENT_ROWS,
) -> FrozenTree[FloatT]:
    """The gradient of the cost on all of ``x, t`` (inference mode), in passes of at most ``rows`` rows.

    Each pass's gradient is weighted by its share of the samples (or summed,
    for ``reduction="sum"``), so the result equals one pass over all the data
    up to rounding, while memory stays that of ``rows`` samples.

    Args:
        model: the network.
        loss: the loss spec (its ``reduction`` decides the weighting).
        params: the params to differentiate at.
        x: ``(n, *in_shape)`` inputs, in the params' dtype.
        t: ``(n, *out_shape)`` targets as the loss checked them.
        rows: the largest pass.

    Returns:
        A tree mirroring ``params``.
    """
    n = x.shape[0]
    summed = getattr(loss, "reduction", "mean") == "sum"
    total: FrozenTree[FloatT] | None = None
    for start in range(0, n, rows):
        xb, tb = x[start : start + rows], t[start : start + rows]
        yb, cache = model.forward(params, xb, train=False)
        _, dy = loss.value_and_grad(yb, tb)
        grads, _ = model.backward(params, cache, dy, need_dx=False)
        if not summed and xb.shape[0] != n:
            grads = tree_map(functools.partial(np.multiply, xb.shape[0] / n), grads)
        total = grads if total is None else tree_map(np.add, total, grads)
    assert total is not None  # n >= 1: checked when the data were prepared
    return total
