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
from numpy.typing import NDArray

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
        views = [x[:, rows, cols] for _, _, rows, cols in self._offsets(oh, ow)]
        if len(views) == 1:  # a 1 × 1 window
            return views[0].copy()
        # The first two offsets make the new array (no separate copy pass); the rest fold into it.
        y: Array[FloatT] = op(views[0], views[1])
        for v in views[2:]:
            op(y, v, out=y)
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
    order, so the result is deterministic and no gradient is duplicated. A
    window holding NaN has a NaN maximum that no pixel equals: its ``dy`` goes
    nowhere. The cache holds ``x`` and ``y`` (no copies); backward works out
    the arg-max from them, one window offset at a time, so inference never
    computes it and no mask the size of ``x`` is ever built.

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

    def _first_max(self, x: Array[FloatT], y: Array[FloatT]) -> Iterator[tuple[NDArray[np.bool_], slice, slice]]:
        """``(won, rows, cols)`` per window offset, in row-major order.

        ``won`` is ``(batch, oh, ow, c)``: True where ``x[:, rows, cols]`` is
        the first maximum of its window (equal to ``y`` and no earlier offset
        has won). It is a buffer reused by the next offset: use it before
        asking for the next one.
        """
        offsets = list(self._offsets(*y.shape[1:3]))
        taken = np.empty(y.shape, dtype=bool)  # some earlier offset has won the window
        won = np.empty(y.shape, dtype=bool)
        for i, (_, _, rows, cols) in enumerate(offsets):
            if i == 0:  # the first offset wins wherever it equals the max
                np.equal(x[:, rows, cols], y, out=taken)
                yield taken, rows, cols
                continue
            np.equal(x[:, rows, cols], y, out=won)
            np.greater(won, taken, out=won)  # equal and not taken
            yield won, rows, cols
            if i < len(offsets) - 1:
                taken |= won

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        x, y = cache.leaf("x"), cache.leaf("y")
        n, h, w, c = x.shape
        oh, ow = y.shape[1:3]
        if dy.shape != (n, oh, ow, c):
            raise shape_error(self, f"dy of shape {(n, oh, ow, c)}", dy.shape)
        kh, kw = self.size
        # Each offset's pixels get won * dy (the bool cast to 1.0 or 0.0): dy at
        # a window's arg-max, else 0.0 * dy, a zero signed like dy (NaN for an
        # infinite or NaN dy), exactly the product with a one-hot mask.
        covered = self._tiles() and (oh * kh, ow * kw) == (h, w)
        dx = (np.empty if covered else np.zeros)((n, h, w, c), dtype=dy.dtype)  # uncovered rows/columns get 0
        if self._tiles():  # each pixel is in one window: write its product in place, (n, oh, ow, c) per offset
            for won, rows, cols in self._first_max(x, y):
                np.multiply(won, dy, out=dx[:, rows, cols])
            return FrozenTree(), fresh(dx)
        # Overlapping windows or gaps: add each offset's product, so a pixel
        # that wins several windows gets the sum (and 0.0 + -0.0 is +0.0).
        part = np.empty(y.shape, dtype=dy.dtype)  # (n, oh, ow, c)
        for won, rows, cols in self._first_max(x, y):
            np.multiply(won, dy, out=part)
            dx[:, rows, cols] += part
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

