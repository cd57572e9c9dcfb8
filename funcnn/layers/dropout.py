"""Inverted dropout: zero a fraction ``rate`` of activations while training."""

from __future__ import annotations

from typing import ClassVar

import attrs

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT, Shape
from funcnn.errors import MissingRngError
from funcnn.layers.base import cache_of, fresh, readonly_view, shape_error
from funcnn.rng import Key, generator
from funcnn.tree import FrozenTree

__all__ = ["Dropout"]


def _rate(instance: object, attribute: object, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Dropout: rate must be in [0, 1), got rate={value}")


@attrs.frozen(repr=False)
class Dropout:
    """Training: ``y = x * m`` with ``m = [u >= rate] / (1 - rate)``, ``u ~ U(0, 1)``.

    Inference (``train=False``): ``y = x``. Backward: ``dx = dy * m``; the mask
    is cached, never redrawn. Training needs a ``key``.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "dropout"
    uses_key: ClassVar[bool] = True
    rate: float = attrs.field(converter=float, validator=_rate)
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return in_shape, FrozenTree()

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        if not train or self.rate == 0.0:
            return readonly_view(x), FrozenTree()  # read-only view: writes to the output cannot reach x
        if key is None:
            raise MissingRngError(f"{self!r}: training mode needs a key; pass key=... or train=False")
        keep = generator(key).random(x.shape, dtype=x.dtype) >= self.rate
        mask = fresh(keep.astype(x.dtype) / x.dtype.type(1.0 - self.rate))
        return fresh(x * mask), cache_of(mask=mask)

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        if "mask" not in cache:
            return FrozenTree(), readonly_view(dy)
        mask = cache.leaf("mask")
        if dy.shape != mask.shape:
            raise shape_error(self, f"dy of shape {mask.shape}", dy.shape)
        return FrozenTree(), fresh(dy * mask)
