"""Element-wise activations and softmax: param-free layers.

Each caches what its derivative needs (the input for ReLU-like layers, the
output for sigmoid, tanh and softmax) and has no params.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT, Shape
from funcnn.layers.base import cache_of, fresh, readonly_view, shape_error
from funcnn.rng import Key
from funcnn.tree import FrozenTree

__all__ = ["Identity", "LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"]


# The (empty, immutable) grads of every param-free layer: one shared instance.
_NO_GRADS: FrozenTree[Any] = FrozenTree()


def _zero_row(x: Array[FloatT]) -> Array[FloatT] | float:
    """The zero to compare ``x`` with in ``np.maximum``: a row of zeros for wide inputs, else ``0.0``.

    Against a zero row numpy runs its contiguous SIMD loop, about twice as fast
    at (128, 256) as the broadcast-scalar loop; the values are the same bit for
    bit (``maximum`` returns one of its operands, NaN and -0.0 included).
    """
    if x.ndim and x.shape[-1] >= 64:
        return np.zeros(x.shape[-1:], dtype=x.dtype)
    return 0.0


def _check_dy(layer: object, cached: Array[FloatT], dy: Array[FloatT]) -> None:
    if dy.shape != cached.shape:
        raise shape_error(layer, f"dy of shape {cached.shape}", dy.shape)


@attrs.frozen(repr=False)
class Identity:
    """``y = x``; ``dx = dy``."""

    __repr__ = short_repr

    kind: ClassVar[str] = "identity"
    uses_key: ClassVar[bool] = False
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return in_shape, FrozenTree()

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        return readonly_view(x), FrozenTree()  # read-only view: writes to the output cannot reach x

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        return FrozenTree(), readonly_view(dy)


@attrs.frozen(repr=False)
class ReLU:
    """``y = max(x, 0)``; ``dx = dy * [x > 0]`` (the kink at 0 gets gradient 0)."""

    __repr__ = short_repr

    kind: ClassVar[str] = "relu"
    uses_key: ClassVar[bool] = False
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return in_shape, FrozenTree()

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        y = fresh(np.maximum(x, _zero_row(x)))
        return y, FrozenTree({"y": y})  # y is fresh and read-only: no view needed

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        y = cache.leaf("y")
        _check_dy(self, y, dy)
        dx = dy * (y > 0)  # y > 0 exactly where x > 0
        return _NO_GRADS, fresh(dx)


@attrs.frozen(repr=False)
class LeakyReLU:
    """``y = x`` for ``x > 0`` else ``alpha * x``; ``dx = dy * (1 or alpha)``."""

    __repr__ = short_repr

    kind: ClassVar[str] = "leaky_relu"
    uses_key: ClassVar[bool] = False
    alpha: float = attrs.field(default=0.01, converter=float, validator=attrs.validators.ge(0.0))
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return in_shape, FrozenTree()

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        y = fresh(np.where(x > 0, x, self.alpha * x))
        return y, cache_of(x=x)

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        x = cache.leaf("x")
        _check_dy(self, x, dy)
        dx = np.where(x > 0, dy, self.alpha * dy)
        return FrozenTree(), fresh(dx)


@attrs.frozen(repr=False)
class Sigmoid:
    """``y = 1 / (1 + e^-x)`` (computed without overflow); ``dx = dy * y (1 - y)``."""

    __repr__ = short_repr

    kind: ClassVar[str] = "sigmoid"
    uses_key: ClassVar[bool] = False
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return in_shape, FrozenTree()

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        y = fresh(sigmoid(x))
        return y, cache_of(y=y)

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        y = cache.leaf("y")
        _check_dy(self, y, dy)
        return FrozenTree(), fresh(dy * y * (1 - y))


def sigmoid(x: Array[FloatT]) -> Array[FloatT]:
    """Numerically stable logistic function: ``exp`` only ever sees ``-|x|``."""
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@attrs.frozen(repr=False)
class Tanh:
    """``y = tanh(x)``; ``dx = dy * (1 - y²)``."""

    __repr__ = short_repr

    kind: ClassVar[str] = "tanh"
    uses_key: ClassVar[bool] = False
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return in_shape, FrozenTree()

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        y = fresh(np.tanh(x))
        return y, cache_of(y=y)

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        y = cache.leaf("y")
        _check_dy(self, y, dy)
        return FrozenTree(), fresh(dy * (1 - y * y))


@attrs.frozen(repr=False)
class Softmax:
    """Softmax over the last axis, shifted by the max so ``exp`` never overflows.

    Backward (a Jacobian-vector product, never the Jacobian itself):
    ``dx = y * (dy - Σ_k dy_k y_k)``.
    For training prefer ``CategoricalCrossEntropy(from_logits=True)`` without
    this layer: it fuses both and is more accurate.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "softmax"
    uses_key: ClassVar[bool] = False
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return in_shape, FrozenTree()

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        y = fresh(softmax(x))
        return y, cache_of(y=y)

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        y = cache.leaf("y")
        _check_dy(self, y, dy)
        dx = dy - np.sum(dy * y, axis=-1, keepdims=True)
        dx *= y
        return FrozenTree(), fresh(dx)


def softmax(x: Array[FloatT]) -> Array[FloatT]:
    """Softmax over the last axis, shifted by the row max for stability."""
    e: Array[FloatT] = np.exp(x - np.max(x, axis=-1, keepdims=True))
    e /= np.sum(e, axis=-1, keepdims=True)
    return e
