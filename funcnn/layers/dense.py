"""Dense (fully connected) layer: ``y = x @ w + b``."""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT, Shape
from funcnn.initializers import GlorotUniform, Initializer, Zeros
from funcnn.layers.base import fresh, init_leaves, no_dx, readonly_view, shape_error
from funcnn.rng import Key
from funcnn.tree import FrozenTree

__all__ = ["Dense"]


@attrs.frozen(repr=False)
class Dense:
    """Affine layer with params ``w: (in_dim, out_dim)`` and ``b: (out_dim,)``.

    Forward: ``y = x @ w + b`` for ``x: (batch, in_dim)``.
    Backward: ``dw = xᵀ @ dy``, ``db = Σ_batch dy``, ``dx = dy @ wᵀ``.

    ``w_init`` defaults to Glorot uniform, ``b_init`` to zeros.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "dense"
    uses_key: ClassVar[bool] = False

    out_dim: int = attrs.field(validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)])
    w_init: Initializer = attrs.field(factory=GlorotUniform, kw_only=True)
    b_init: Initializer = attrs.field(factory=Zeros, kw_only=True)
    name: str | None = attrs.field(default=None, kw_only=True)

    def shapes(self, in_shape: Shape) -> tuple[Shape, dict[str, Shape]]:
        """``(out_shape, {leaf: shape})``: the shape rule of :meth:`init`, without arrays."""
        if len(in_shape) != 1:
            raise shape_error(self, "a 1-D feature shape (in_dim,)", in_shape, "add a Flatten() layer before Dense")
        return (self.out_dim,), {"w": (in_shape[0], self.out_dim), "b": (self.out_dim,)}

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return init_leaves(self, key, in_shape, dtype)  # w then b, each by its initializer

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        w, b = params.leaf("w"), params.leaf("b")
        if x.ndim != 2 or x.shape[1] != w.shape[0]:
            raise shape_error(self, f"input (batch, {w.shape[0]})", x.shape)
        y = x @ w  # (batch, in) @ (in, out)
        y += b  # in place on a fresh array: one allocation per forward
        return fresh(y), FrozenTree({"x": readonly_view(x)})  # cache_of(x=x), inlined for the hot path

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        w, x = params.leaf("w"), cache.leaf("x")
        if dy.shape != (x.shape[0], w.shape[1]):
            raise shape_error(self, f"dy of shape ({x.shape[0]}, {w.shape[1]})", dy.shape)
        dw = x.T @ dy  # (in, batch) @ (batch, out)
        db = np.add.reduce(dy, axis=0)  # (out,); np.sum's algorithm without its Python wrapper
        grads: FrozenTree[FloatT] = FrozenTree({"w": fresh(dw), "b": fresh(db)})
        if not need_dx:  # the first layer's dx is never used in training: skip its matmul
            return grads, no_dx(dy)
        dx = dy @ w.T  # (batch, out) @ (out, in)
        return grads, fresh(dx)
