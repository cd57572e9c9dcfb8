"""Flatten: ``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``."""

from __future__ import annotations

import math
from typing import ClassVar

import attrs
import numpy as np

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT, Shape
from funcnn.layers.base import fresh, readonly_view, shape_error
from funcnn.rng import Key
from funcnn.tree import FrozenTree

__all__ = ["Flatten"]


@attrs.frozen(repr=False)
class Flatten:
    """Flattens every axis but the batch axis; backward reshapes ``dy`` back.

    Images are channels-last ``(batch, height, width, channels)`` everywhere in
    funcnn, so a flattened image lists the channels of each pixel together.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "flatten"
    uses_key: ClassVar[bool] = False
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return (math.prod(in_shape),), FrozenTree()

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        if x.ndim < 1:
            raise shape_error(self, "an input with a batch axis", x.shape)
        # The cache records the input shape as a zero-size array of that shape.
        y = readonly_view(x.reshape(x.shape[0], -1))
        return y, FrozenTree({"x_shape": _shape_marker(x)})

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        shape = cache.leaf("x_shape").shape[1:]
        if dy.ndim != 2 or dy.shape[0] != shape[0] or dy.shape[1] != math.prod(shape[1:]):
            raise shape_error(self, f"dy of shape ({shape[0]}, {math.prod(shape[1:])})", dy.shape)
        return FrozenTree(), readonly_view(dy.reshape(shape))


def _shape_marker(x: Array[FloatT]) -> Array[FloatT]:
    # A read-only, zero-size array whose shape (after a leading 0) is x's shape,
    # so a cache stays a tree of arrays without holding any data.
    return fresh(np.empty((0, *x.shape), dtype=x.dtype))
