"""The layer contract shared by every layer spec, and small helpers for layers.

A layer is a frozen attrs spec (its hyperparameters) with three pure methods,
written side by side in its module:

* ``init(key, in_shape, dtype) -> (out_shape, params)``: shapes exclude the
  batch axis, so a whole stack's shapes are known before any data. A layer
  with params also has ``shapes(in_shape) -> (out_shape, {leaf: shape})``,
  the same rule without arrays, which :func:`funcnn.network.shapes` uses to
  know shapes and parameter counts without drawing weights (a layer without
  it is built once, with its weights, when its shapes are first needed), and
  builds its params from it with :func:`init_leaves`;
* ``forward(params, x, *, key=None, train=False) -> (y, cache)``: ``x`` is
  ``(batch, *in_shape)``; the cache holds exactly what ``backward`` needs;
* ``backward(params, cache, dy, *, need_dx=True) -> (grads, dx)``: ``grads``
  mirrors ``params`` (empty for param-free layers). Layers *sum* over the
  batch: the ``1/batch`` factor lives only in the loss gradient.
  ``need_dx`` is an optional fast path, part of the protocol: with
  ``need_dx=False`` a layer may skip computing ``dx`` and return
  :func:`no_dx` instead (training never needs the input gradient of the
  first layer with params); a layer may also ignore it and always return
  ``dx``.

Arrays a layer returns are read-only; caches hold read-only views.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from funcnn._typing import Array, FloatT, Shape
from funcnn.errors import ShapeError
from funcnn.rng import Key, fold_in
from funcnn.tree import FrozenTree

__all__ = ["Layer", "cache_of", "fresh", "init_leaves", "no_dx", "readonly_view", "shape_error"]


class Layer(Protocol):
    """The protocol every layer spec (and :class:`~funcnn.Sequential`) implements."""

    @property
    def kind(self) -> str:
        """Stable snake_case tag: the default name prefix and the config ``kind``."""
        ...

    @property
    def uses_key(self) -> bool:
        """True if ``forward`` draws random numbers in training (needs a key)."""
        ...

    @property
    def name(self) -> str | None:
        """An explicit layer name, or None for the automatic ``kind_N``."""
        ...

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]: ...

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]: ...

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]: ...


def init_leaves(layer: object, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
    """``init`` from a layer's shape rule: each leaf ``x`` drawn by the layer's ``x_init`` initializer.

    The layer's ``shapes(in_shape)`` gives ``(out_shape, {leaf: shape})``; leaf
    ``w`` is drawn by ``layer.w_init`` with the key ``fold_in(key, "w")``.
    """
    out, leaves = layer.shapes(in_shape)  # type: ignore[attr-defined]
    params = {name: getattr(layer, f"{name}_init")(fold_in(key, name), shape, dtype) for name, shape in leaves.items()}
    return out, FrozenTree({name: fresh(a) for name, a in params.items()})


def no_dx(dy: Array[FloatT]) -> Array[FloatT]:
    """The placeholder returned as ``dx`` when ``need_dx=False``: an empty array."""
    return fresh(np.empty((0,), dtype=dy.dtype))


def fresh(a: NDArray[FloatT]) -> NDArray[FloatT]:
    """Mark an array the layer has just created as read-only, in place (no copy)."""
    a.flags.writeable = False
    return a


def readonly_view(a: NDArray[FloatT]) -> NDArray[FloatT]:
    """``a`` itself if read-only, else a read-only view of it (no copy)."""
    if not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v


def cache_of(**arrays: NDArray[FloatT]) -> FrozenTree[FloatT]:
    """A cache tree of read-only views (the caller's arrays keep their flags)."""
    return FrozenTree({name: readonly_view(a) for name, a in arrays.items()})


def shape_error(layer: object, expected: str, got: Shape, hint: str = "") -> ShapeError:
    """A :class:`ShapeError` in the house style: ``Layer(...): expected X, got Y. hint``."""
    text = f"{layer!r}: expected {expected}, got {got}"
    return ShapeError(text + (f"; {hint}" if hint else ""))
