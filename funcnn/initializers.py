"""Weight initialisers: frozen specs called as ``init(key, shape, dtype) -> array``.

Fan-in and fan-out follow the usual convention: for a dense weight ``(in, out)``
they are ``in`` and ``out``; for a convolution kernel ``(kh, kw, c_in, c_out)``
they are ``kh*kw*c_in`` and ``kh*kw*c_out``.
"""

from __future__ import annotations

import math
from typing import ClassVar, Protocol

import attrs
import numpy as np

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT, Shape
from funcnn.rng import Key, generator

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "Normal",
    "Uniform",
    "Zeros",
]


class Initializer(Protocol):
    """Anything called as ``init(key, shape, dtype)`` that returns a new array."""

    def __call__(self, key: Key, shape: Shape, dtype: type[FloatT]) -> Array[FloatT]: ...


def _fans(shape: Shape) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


@attrs.frozen(repr=False)
class Zeros:
    """All zeros (the bias default; for weights it shows the symmetry problem)."""

    __repr__ = short_repr
    kind: ClassVar[str] = "zeros"

    def __call__(self, key: Key, shape: Shape, dtype: type[FloatT]) -> Array[FloatT]:
        return np.zeros(shape, dtype=dtype)


@attrs.frozen(repr=False)
class Constant:
    """Every entry equal to ``value`` (handy for hand-checked tests)."""

    __repr__ = short_repr
    kind: ClassVar[str] = "constant"

    value: float = attrs.field(converter=float)

    def __call__(self, key: Key, shape: Shape, dtype: type[FloatT]) -> Array[FloatT]:
        return np.full(shape, self.value, dtype=dtype)


@attrs.frozen(repr=False)
class Normal:
    """Normal(0, std²) entries; ``Normal(0.01)`` is the classic ``0.01 * randn``."""

    __repr__ = short_repr
    kind: ClassVar[str] = "normal"

    std: float = attrs.field(default=0.01, converter=float, validator=attrs.validators.gt(0.0))

    def __call__(self, key: Key, shape: Shape, dtype: type[FloatT]) -> Array[FloatT]:
        return generator(key).normal(0.0, self.std, size=shape).astype(dtype)


def _check_bounds(instance: Uniform, attribute: attrs.Attribute[float], high: float) -> None:
    if not (math.isfinite(instance.low) and math.isfinite(high) and instance.low < high):
        raise ValueError(
            f"Uniform: expected finite bounds with low < high, got low={instance.low!r}, high={high!r}; "
            "e.g. Uniform(-0.5, 0.5)"
        )


@attrs.frozen(repr=False)
class Uniform:
    """Uniform(low, high) entries, whatever the shape: ``Uniform(-0.5, 0.5)`` or ``Uniform(0, 0.01)`` (``rand * 0.01``).

    Mean ``(low + high) / 2``, variance ``(high - low)² / 12``. Entries are drawn in
    ``[low, high)`` in float64 and cast to the requested dtype (so a float32
    entry may round onto ``high``).

    >>> import numpy as np, funcnn as fn
    >>> w = Uniform(-0.5, 0.5)(fn.key(0), (784, 100), np.float32)
    >>> w.dtype, bool(w.min() >= -0.5 and w.max() <= 0.5)
    (dtype('float32'), True)
    """

    __repr__ = short_repr
    kind: ClassVar[str] = "uniform"

    low: float = attrs.field(converter=float)
    high: float = attrs.field(converter=float, validator=_check_bounds)

    def __call__(self, key: Key, shape: Shape, dtype: type[FloatT]) -> Array[FloatT]:
        return generator(key).uniform(self.low, self.high, size=shape).astype(dtype)


class _FanScaled:
    """The shared base of the fan-scaled initialisers: a :class:`Normal` or :class:`Uniform` sized by the fans.

    A subclass states its ``kind`` and :meth:`distribution`, the initialiser
    its ``(fan_in, fan_out)`` give; the draw is that initialiser's, bit for bit.
    """

    __slots__ = ()
    __repr__ = short_repr

    def distribution(self, fan_in: int, fan_out: int) -> Initializer:
        raise NotImplementedError(f"{type(self).__name__} must define distribution(fan_in, fan_out)")

    def __call__(self, key: Key, shape: Shape, dtype: type[FloatT]) -> Array[FloatT]:
        return self.distribution(*_fans(shape))(key, shape, dtype)


@attrs.frozen(repr=False)
class GlorotUniform(_FanScaled):
    """Uniform(-a, a) with ``a = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""

    kind: ClassVar[str] = "glorot_uniform"

    def distribution(self, fan_in: int, fan_out: int) -> Uniform:
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return Uniform(-limit, limit)


@attrs.frozen(repr=False)
class GlorotNormal(_FanScaled):
    """Normal(0, 2 / (fan_in + fan_out))."""

    kind: ClassVar[str] = "glorot_normal"

    def distribution(self, fan_in: int, fan_out: int) -> Normal:
        return Normal(math.sqrt(2.0 / (fan_in + fan_out)))


@attrs.frozen(repr=False)
class HeNormal(_FanScaled):
    """Normal(0, 2 / fan_in) (He et al., 2015), suited to ReLU layers."""

    kind: ClassVar[str] = "he_normal"

    def distribution(self, fan_in: int, fan_out: int) -> Normal:
        return Normal(math.sqrt(2.0 / fan_in))


@attrs.frozen(repr=False)
class HeUniform(_FanScaled):
    """Uniform(-a, a) with ``a = sqrt(6 / fan_in)``."""

    kind: ClassVar[str] = "he_uniform"

    def distribution(self, fan_in: int, fan_out: int) -> Uniform:
        limit = math.sqrt(6.0 / fan_in)
        return Uniform(-limit, limit)
