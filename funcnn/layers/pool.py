"""2-D pooling (subsampling) on channels-last images ``(batch, height, width, channels)``.

A pooling window of ``kh × kw`` pixels moves by ``stride`` (default: the window
size, so windows tile the image without overlap) over each channel separately,
without padding: ``oh = (h - kh) // sh + 1``. Rows and columns that no window
reaches get a zero gradient. Both layers have no params.

The windows are never looped over: the loop runs over the ``kh·kw`` offsets
inside a window, each offset a strided slice of the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, TypeVar

import attrs
import numpy as np

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT, Shape
from funcnn.layers.base import cache_of, fresh, shape_error
from funcnn.layers.conv import _pair
from funcnn.rng import Key
from funcnn.tree import FrozenTree

__all__ = ["AvgPool2D", "MaxPool2D"]

_P = TypeVar("_P", tuple[int, int], tuple[int, int] | None)


def _optional_pair(value: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    return None if value is None else _pair(value)


def _positive(instance: object, attribute: attrs.Attribute[_P], value: _P) -> None:
    if isinstance(value, tuple) and min(value) < 1:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be >= 1, got {attribute.name}={value}")


@attrs.frozen(repr=False)
class _Pool:
    """The fields, ``init`` and window geometry shared by both pooling layers."""

    __repr__ = short_repr

    uses_key: ClassVar[bool] = False

    size: tuple[int, int] = attrs.field(converter=_pair, validator=_positive)
    stride: tuple[int, int] | None = attrs.field(default=None, converter=_optional_pair, validator=_positive)
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        oh, ow = self._check_in_shape(in_shape)
        return (oh, ow, in_shape[2]), FrozenTree()


    @property
    def strides(self) -> tuple[int, int]:
        """The effective stride: ``stride``, or ``size`` when it is None."""
        return self.size if self.stride is None else self.stride

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw) = self.size, self.strides
        return (h - kh) // sh + 1, (w - kw) // sw + 1

    def _check_in_shape(self, in_shape: Shape) -> tuple[int, int]:
        if len(in_shape) != 3:
            raise shape_error(self, "an image shape (height, width, channels)", in_shape)
        oh, ow = self._out_hw(in_shape[0], in_shape[1])
        if oh < 1 or ow < 1:
            raise shape_error(self, f"an input at least as large as the window {self.size}", in_shape,
                              "pooling does not pad; use a smaller window")
        return oh, ow

    def _tiles(self) -> bool:
        """True when windows tile the input exactly side by side (stride == size)."""
        return self.strides == self.size

    def _fold(self, x: Array[FloatT], op: np.ufunc) -> Array[FloatT]:
        """Check a forward input ``x`` and fold its windows with ``op`` (``np.maximum``, ``np.add``) in place.

        Returns a new ``(batch, oh, ow, c)`` array: ``op`` over the pixel at each
        window offset, in row-major window order.
        """
        if x.ndim != 4:
            raise shape_error(self, "input (batch, height, width, channels)", x.shape)
        oh, ow = self._check_in_shape(x.shape[1:])
        offsets = self._offsets(oh, ow)
        _, _, rows, cols = next(offsets)
        y = x[:, rows, cols].copy()
        for _, _, rows, cols in offsets:
            op(y, x[:, rows, cols], out=y)
        return y

    def _offsets(self, oh: int, ow: int) -> Iterator[tuple[int, int, slice, slice]]:
        """``(a, b, rows, cols)`` per offset in a window, in row-major order.

        ``x[:, rows, cols]`` is ``(batch, oh, ow, c)``: the pixel at offset
        ``(a, b)`` of every window.
        """
        (kh, kw), (sh, sw) = self.size, self.strides
        for a in range(kh):
            for b in range(kw):
                yield a, b, slice(a, a + sh * (oh - 1) + 1, sh), slice(b, b + sw * (ow - 1) + 1, sw)


@attrs.frozen(repr=False)
class MaxPool2D(_Pool):
    """Max pooling: ``y[n, i, j, c] = max_{a, b} x[n, i·sh + a, j·sw + b, c]``.

    Backward routes each ``dy`` entry to the arg-max of its window only. Ties
    (e.g. a window of ReLU zeros) go to the first maximum in row-major window
    order, so the result is deterministic and no gradient is duplicated. The
    cache holds ``x`` and ``y`` (no copies); backward works out the arg-max
    (a one-hot mask) from them, so inference never computes it.

    Args:
        size: window ``kh = kw`` for an int, or ``(kh, kw)``.
        stride: an int or a pair; None (the default) means ``size``.
        name: an explicit layer name.

    >>> import numpy as np, funcnn as fn
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> fn.forward(MaxPool2D(2), fn.FrozenTree(), x)[0][0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    kind: ClassVar[str] = "max_pool2d"

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        y = self._fold(x, np.maximum)
        # The switches (which pixel won each window) are worked out in backward
        # from x and y: an inference pass never pays for them, and the cache
        # holds no array of its own (x and y are alive anyway).
        return fresh(y), cache_of(x=x, y=y)

    def _mask(self, x: Array[FloatT], y: Array[FloatT]) -> Array[FloatT]:
        """The one-hot arg-max mask: x's layout when windows tile x, else one ``(n, oh, ow, c)`` block per offset."""
        n, oh, ow, c = y.shape
        views = [(x[:, rows, cols], rows, cols) for _, _, rows, cols in self._offsets(oh, ow)]
        # An offset wins where it equals the max and no earlier offset has won
        # (first maximum in row-major window order).
        if self._tiles():  # windows tile x: the mask has x's layout, so backward is one broadcast product
            mask = np.zeros(x.shape, dtype=x.dtype)
            targets = [mask[:, rows, cols] for _, rows, cols in views]
        else:  # overlapping windows or gaps: one (batch, oh, ow, c) mask block per offset
            mask = np.empty((len(views), n, oh, ow, c), dtype=x.dtype)
            targets = list(mask)
        taken = np.zeros(y.shape, dtype=bool)
        for i, ((v, _, _), target) in enumerate(zip(views, targets, strict=True)):
            won = v == y
            if i:
                np.greater(won, taken, out=won)  # won and not taken
            if i < len(views) - 1:
                taken |= won
            target[...] = won
        return mask

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        x, y = cache.leaf("x"), cache.leaf("y")
        n, h, w, c = x.shape
        oh, ow = y.shape[1:3]
        if dy.shape != (n, oh, ow, c):
            raise shape_error(self, f"dy of shape {(n, oh, ow, c)}", dy.shape)
        mask = self._mask(x, y)
        if self._tiles():
            kh, kw = self.size
            covered = mask[:, : oh * kh, : ow * kw]  # the rows/columns some window reaches
            # (n, oh, kh, ow, kw, c) * (n, oh, 1, ow, 1, c): each dy lands on its window's arg-max
            dxc = (covered.reshape(n, oh, kh, ow, kw, c) * dy[:, :, None, :, None, :]).reshape(n, oh * kh, ow * kw, c)
            if (oh * kh, ow * kw) == (h, w):
                return FrozenTree(), fresh(dxc)
            dx = np.zeros((n, h, w, c), dtype=dy.dtype)
            dx[:, : oh * kh, : ow * kw] = dxc
            return FrozenTree(), fresh(dx)
        dx = np.zeros((n, h, w, c), dtype=dy.dtype)
        for i, (_, _, rows, cols) in enumerate(self._offsets(oh, ow)):
            dx[:, rows, cols] += mask[i] * dy
        return FrozenTree(), fresh(dx)


@attrs.frozen(repr=False)
class AvgPool2D(_Pool):
    """Average pooling: ``y[n, i, j, c] = (1 / (kh·kw)) Σ_{a, b} x[n, i·sh + a, j·sw + b, c]``.

    Backward spreads ``dy / (kh·kw)`` evenly over each window (summed where
    windows overlap). Only the input shape is cached.

    Args:
        size: window ``kh = kw`` for an int, or ``(kh, kw)``.
        stride: an int or a pair; None (the default) means ``size``.
        name: an explicit layer name.

    >>> import numpy as np, funcnn as fn
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> fn.forward(AvgPool2D(2), fn.FrozenTree(), x)[0][0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """

    kind: ClassVar[str] = "avg_pool2d"

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        y = self._fold(x, np.add)
        y *= 1.0 / (self.size[0] * self.size[1])  # a Python float: float32 stays float32
        return fresh(y), FrozenTree({"x_shape": _shape_marker(x)})

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        n, h, w, c = cache.leaf("x_shape").shape[1:]
        oh, ow = self._out_hw(h, w)
        if dy.shape != (n, oh, ow, c):
            raise shape_error(self, f"dy of shape {(n, oh, ow, c)}", dy.shape)
        kh, kw = self.size
        share = dy * (1.0 / (kh * kw))  # (n, oh, ow, c)
        if self._tiles() and (oh * kh, ow * kw) == (h, w):
            # Windows tile x: repeat each share over its window in one copy.
            spread = np.broadcast_to(share[:, :, None, :, None, :], (n, oh, kh, ow, kw, c))
            return FrozenTree(), fresh(spread.reshape(n, h, w, c))
        dx = np.zeros((n, h, w, c), dtype=dy.dtype)
        for _, _, rows, cols in self._offsets(oh, ow):
            dx[:, rows, cols] += share
        return FrozenTree(), fresh(dx)


def _shape_marker(x: Array[FloatT]) -> Array[FloatT]:
    # A zero-size array whose shape after the leading 0 is x's shape: the cache
    # stays a tree of arrays without holding x's data.
    return fresh(np.empty((0, *x.shape), dtype=x.dtype))

