"""Element-wise activations and softmax: param-free layers over one small base.

Each states its ``kind``, its function ``f`` and its derivative ``df`` (``dy``
times ``f'``, from the cached input or output); :class:`_Activation` supplies
``init``, ``forward`` and ``backward``. Each caches what its derivative needs
(the input for LeakyReLU, the output for ReLU, sigmoid, tanh and softmax) and
has no params.
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


class _Activation:
    """The shared base of the activations: each states its ``kind``, ``f`` and ``df`` and nothing else.

    ``caches`` names what the derivative needs: ``"x"`` (the input), ``"y"``
    (the output) or ``""`` (nothing). ``f(x)`` returns a new array (or a
    read-only view); ``df(c, dy)`` is ``dy * f'`` given the cached array ``c``.
    """

    __slots__ = ()
    __repr__ = short_repr
    kind: ClassVar[str]
    uses_key: ClassVar[bool] = False
    caches: ClassVar[str] = "y"

    def f(self, x: Array[FloatT]) -> Array[FloatT]:
        raise NotImplementedError(f"{type(self).__name__} must define f(x), the activation")

    def df(self, c: Array[FloatT], dy: Array[FloatT]) -> Array[FloatT]:
        raise NotImplementedError(f"{type(self).__name__} must define df(cache, dy), the backward rule")

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return in_shape, _NO_GRADS

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        y = fresh(self.f(x))
        if self.caches == "y":
            return y, FrozenTree({"y": y})  # y is fresh and read-only: no view needed
        return y, (cache_of(x=x) if self.caches == "x" else _NO_GRADS)

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        if not self.caches:
            return _NO_GRADS, fresh(self.df(dy, dy))
        c = cache.leaf(self.caches)
        if dy.shape != c.shape:
            raise shape_error(self, f"dy of shape {c.shape}", dy.shape)
        return _NO_GRADS, fresh(self.df(c, dy))


@attrs.frozen(repr=False)
class Identity(_Activation):
    """``y = x``; ``dx = dy``."""

    kind: ClassVar[str] = "identity"
    caches: ClassVar[str] = ""
    name: str | None = attrs.field(default=None, kw_only=True)

    def f(self, x: Array[FloatT]) -> Array[FloatT]:
        return readonly_view(x)  # writes to the output cannot reach x

    def df(self, c: Array[FloatT], dy: Array[FloatT]) -> Array[FloatT]:
        return readonly_view(dy)


@attrs.frozen(repr=False)
class ReLU(_Activation):
    """``y = max(x, 0)``; ``dx = dy * [x > 0]`` (the kink at 0 gets gradient 0)."""

    kind: ClassVar[str] = "relu"
    name: str | None = attrs.field(default=None, kw_only=True)

    def f(self, x: Array[FloatT]) -> Array[FloatT]:
        return np.maximum(x, _zero_row(x))

    def df(self, c: Array[FloatT], dy: Array[FloatT]) -> Array[FloatT]:
        return dy * (c > 0)  # y > 0 exactly where x > 0


@attrs.frozen(repr=False)
class LeakyReLU(_Activation):
    """``y = x`` for ``x > 0`` else ``alpha * x``; ``dx = dy * (1 or alpha)``."""

    kind: ClassVar[str] = "leaky_relu"
    caches: ClassVar[str] = "x"
    alpha: float = attrs.field(default=0.01, converter=float, validator=attrs.validators.ge(0.0))
    name: str | None = attrs.field(default=None, kw_only=True)

    def f(self, x: Array[FloatT]) -> Array[FloatT]:
        return np.where(x > 0, x, self.alpha * x)

    def df(self, c: Array[FloatT], dy: Array[FloatT]) -> Array[FloatT]:
        return np.where(c > 0, dy, self.alpha * dy)


@attrs.frozen(repr=False)
class Sigmoid(_Activation):
    """``y = 1 / (1 + e^-x)`` (computed without overflow); ``dx = dy * y (1 - y)``."""

    kind: ClassVar[str] = "sigmoid"
    name: str | None = attrs.field(default=None, kw_only=True)

    def f(self, x: Array[FloatT]) -> Array[FloatT]:
        return sigmoid(x)

    def df(self, c: Array[FloatT], dy: Array[FloatT]) -> Array[FloatT]:
        return dy * c * (1 - c)


def sigmoid(x: Array[FloatT]) -> Array[FloatT]:
    """Numerically stable logistic function: ``exp`` only ever sees ``-|x|``."""
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@attrs.frozen(repr=False)
class Tanh(_Activation):
    """``y = tanh(x)``; ``dx = dy * (1 - y²)``."""

    kind: ClassVar[str] = "tanh"
    name: str | None = attrs.field(default=None, kw_only=True)

    def f(self, x: Array[FloatT]) -> Array[FloatT]:
        return np.tanh(x)

    def df(self, c: Array[FloatT], dy: Array[FloatT]) -> Array[FloatT]:
        return dy * (1 - c * c)


@attrs.frozen(repr=False)
class Softmax(_Activation):
    """Softmax over the last axis, shifted by the max so ``exp`` never overflows.

    Backward (a Jacobian-vector product, never the Jacobian itself):
    ``dx = y * (dy - Σ_k dy_k y_k)``.
    For training prefer ``CategoricalCrossEntropy(from_logits=True)`` without
    this layer: it fuses both and is more accurate.
    """

    kind: ClassVar[str] = "softmax"
    name: str | None = attrs.field(default=None, kw_only=True)

    def f(self, x: Array[FloatT]) -> Array[FloatT]:
        return softmax(x)

    def df(self, c: Array[FloatT], dy: Array[FloatT]) -> Array[FloatT]:
        dx: Array[FloatT] = dy - np.sum(dy * c, axis=-1, keepdims=True)
        dx *= c
        return dx


def softmax(x: Array[FloatT]) -> Array[FloatT]:
    """Softmax over the last axis, shifted by the row max for stability."""
    e: Array[FloatT] = np.exp(x - np.max(x, axis=-1, keepdims=True))
    e /= np.sum(e, axis=-1, keepdims=True)
    return e
