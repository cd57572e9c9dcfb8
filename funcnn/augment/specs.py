"""The augmentation specs of :mod:`funcnn.augment`: geometric, pointwise, and ``Compose``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._spec import short_repr
from funcnn.augment.sampling import (
    FILLS,
    INTERPOLATIONS,
    Fill,
    ImageT,
    Interpolation,
    Maps,
    apply_affine,
    check_images,
)
from funcnn.rng import Key, fold_in, generator

__all__ = [
    "Augmentation",
    "Compose",
    "RandomBrightness",
    "RandomFlip",
    "RandomRotation",
    "RandomShear",
    "RandomShift",
    "RandomZoom",
]


class Augmentation(Protocol):
    """An augmentation spec: ``spec(key, x) -> x_augmented``, same shape and dtype."""

    @property
    def kind(self) -> str: ...

    def __call__(self, key: Key, x: NDArray[ImageT]) -> NDArray[ImageT]: ...


def _pair(value: float | Sequence[float]) -> tuple[float, float]:
    """``s -> (-|s|, |s|)``; a pair ``(low, high)`` is kept (as floats)."""
    if isinstance(value, bool):
        raise TypeError(f"expected a number or a (low, high) pair, got {value!r}")
    if isinstance(value, int | float):
        return (-abs(float(value)), abs(float(value)))
    lo, hi = (float(v) for v in value)
    return (lo, hi)


def _check_pair(instance: object, attribute: attrs.Attribute[tuple[float, float]], value: tuple[float, float]) -> None:
    lo, hi = value
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        name = attribute.name
        raise ValueError(
            f"{type(instance).__name__}: {name} must be a number s (for (-s, s)) or a finite pair (low, high) "
            f"with low <= high, got {name}={value!r}"
        )


def _check_zoom(instance: object, attribute: attrs.Attribute[tuple[float, float]], value: tuple[float, float]) -> None:
    _check_pair(instance, attribute, value)
    if value[0] <= -1.0:
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} offsets must stay above -1 (a zoom factor 1 + offset > 0), "
            f"got {attribute.name}={value!r}"
        )


_IN_FILLS = attrs.validators.in_(FILLS)
_IN_INTERPOLATIONS = attrs.validators.in_(INTERPOLATIONS)


def _uniform(key: Key, bounds: tuple[float, float], n: int) -> NDArray[np.float64]:
    lo, hi = bounds
    return generator(key).uniform(lo, hi, size=n)


def _maps(n: int) -> Maps:
    return np.broadcast_to(np.eye(3), (n, 3, 3)).copy()


# -- geometric specs -------------------------------------------------------------------------------


# The sampling options of every resampling spec: one image sampling, so a Compose's members must agree on them.
_SAMPLING = ("fill", "value", "interpolation")


def _own_fields_first(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    # A spec's own fields lead (they are its positional ones); the inherited sampling options follow.
    return [f for f in fields if f.name not in _SAMPLING] + [f for f in fields if f.name in _SAMPLING]


@attrs.frozen(repr=False)
class _Resampled:
    """The shared base of the geometric specs that resample the image.

    It holds the sampling options (``fill``, ``value``, ``interpolation``,
    keyword-only) and applies the spec alone; a subclass states its ``kind``,
    its own fields and :meth:`matrices`, under
    ``@attrs.frozen(repr=False, field_transformer=_own_fields_first)``.
    """

    __repr__ = short_repr

    kind: ClassVar[str]
    geometric: ClassVar[bool] = True
    fill: Fill = attrs.field(default="nearest", kw_only=True, validator=_IN_FILLS)
    value: float = attrs.field(default=0.0, kw_only=True, converter=float)
    interpolation: Interpolation = attrs.field(default="bilinear", kw_only=True, validator=_IN_INTERPOLATIONS)

    def matrices(self, key: Key, n: int, height: int, width: int) -> Maps:
        """``(n, 3, 3)`` forward maps on centred ``(u, v)`` = (column, row) pixel coordinates."""
        raise NotImplementedError(f"{type(self).__name__} must define matrices(key, n, height, width)")

    def __call__(self, key: Key, x: NDArray[ImageT]) -> NDArray[ImageT]:
        return _run((self,), (key,), x, self)


@attrs.frozen(repr=False)
class RandomFlip:
    """Mirror each sample with probability 1/2: left-right (``horizontal``) and/or top-bottom (``vertical``).

    The two axes are drawn independently. Alone, it moves pixels without
    resampling (exact for every dtype).
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "random_flip"
    geometric: ClassVar[bool] = True
    horizontal: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    vertical: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def _flips(self, key: Key, n: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        draws = generator(key).random((n, 2)) < 0.5
        none = np.zeros(n, dtype=bool)
        return (draws[:, 0] if self.horizontal else none), (draws[:, 1] if self.vertical else none)

    def matrices(self, key: Key, n: int, height: int, width: int) -> Maps:
        """``(n, 3, 3)`` forward maps on centred ``(u, v)`` = (column, row) pixel coordinates."""
        h, v = self._flips(key, n)
        m = _maps(n)
        m[:, 0, 0] = np.where(h, -1.0, 1.0)
        m[:, 1, 1] = np.where(v, -1.0, 1.0)
        return m

    def __call__(self, key: Key, x: NDArray[ImageT]) -> NDArray[ImageT]:
        xs = check_images(x, self)
        h, v = self._flips(key, xs.shape[0])
        out = np.where(h[:, None, None, None], xs[:, :, ::-1], xs)
        out = np.where(v[:, None, None, None], out[:, ::-1], out)
        return out.reshape(x.shape)


@attrs.frozen(repr=False, field_transformer=_own_fields_first)
class RandomRotation(_Resampled):
    """Rotate each sample by an angle drawn uniformly from ``degrees`` (counter-clockwise positive).

    Forward map ``u' = c u + s v``, ``v' = -s u + c v`` with ``c = cos θ``,
    ``s = sin θ`` on centred column/row coordinates (rows point down).
    """

    kind: ClassVar[str] = "random_rotation"
    degrees: tuple[float, float] = attrs.field(converter=_pair, validator=_check_pair)

    def matrices(self, key: Key, n: int, height: int, width: int) -> Maps:
        theta = np.deg2rad(_uniform(key, self.degrees, n))
        c, s = np.cos(theta), np.sin(theta)
        m = _maps(n)
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, s, -s, c
        return m


@attrs.frozen(repr=False, field_transformer=_own_fields_first)
class RandomShift(_Resampled):
    """Translate each sample by fractions of its size drawn from ``height`` and ``width``.

    A positive shift moves the content down (``height``) or right (``width``)
    by ``fraction * size`` pixels.
    """

    kind: ClassVar[str] = "random_shift"
    height: tuple[float, float] = attrs.field(converter=_pair, validator=_check_pair)
    width: tuple[float, float] = attrs.field(converter=_pair, validator=_check_pair)

    def matrices(self, key: Key, n: int, height: int, width: int) -> Maps:
        k_h, k_w = fold_in(key, "height"), fold_in(key, "width")
        m = _maps(n)
        m[:, 0, 2] = _uniform(k_w, self.width, n) * width
        m[:, 1, 2] = _uniform(k_h, self.height, n) * height
        return m


@attrs.frozen(repr=False, field_transformer=_own_fields_first)
class RandomShear(_Resampled):
    """Shear each sample horizontally by an angle drawn from ``degrees``: ``u' = u + tan(θ) v``."""

    kind: ClassVar[str] = "random_shear"
    degrees: tuple[float, float] = attrs.field(converter=_pair, validator=_check_pair)

    def __attrs_post_init__(self) -> None:
        if max(abs(d) for d in self.degrees) >= 90.0:
            raise ValueError(f"RandomShear: degrees must lie in (-90, 90), got degrees={self.degrees!r}")

    def matrices(self, key: Key, n: int, height: int, width: int) -> Maps:
        m = _maps(n)
        m[:, 0, 1] = np.tan(np.deg2rad(_uniform(key, self.degrees, n)))
        return m


@attrs.frozen(repr=False, field_transformer=_own_fields_first)
class RandomZoom(_Resampled):
    """Scale each sample about its centre by ``1 + offset``, the offset drawn from ``range``.

    ``RandomZoom(0.2)`` scales by a factor in ``[0.8, 1.2]`` (above 1 enlarges
    the content), the same factor on both axes.
    """

    kind: ClassVar[str] = "random_zoom"
    range: tuple[float, float] = attrs.field(converter=_pair, validator=_check_zoom)

    def matrices(self, key: Key, n: int, height: int, width: int) -> Maps:
        z = 1.0 + _uniform(key, self.range, n)
        m = _maps(n)
        m[:, 0, 0] = z
        m[:, 1, 1] = z
        return m


# -- pointwise specs -------------------------------------------------------------------------------


@attrs.frozen(repr=False)
class RandomBrightness:
    """Multiply each sample by ``1 + offset``, the offset drawn from ``delta``.

    uint8 images are rounded and clipped to ``[0, 255]``; float images are
    only scaled (no clipping: their range is the caller's).
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "random_brightness"
    geometric: ClassVar[bool] = False
    delta: tuple[float, float] = attrs.field(converter=_pair, validator=_check_zoom)

    def __call__(self, key: Key, x: NDArray[ImageT]) -> NDArray[ImageT]:
        xs = check_images(x, self)
        factor = 1.0 + _uniform(key, self.delta, xs.shape[0])
        out: NDArray[Any]
        if xs.dtype == np.uint8:
            scaled = xs * factor.astype(np.float32)[:, None, None, None]
            out = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        else:
            out = xs * factor.astype(xs.dtype)[:, None, None, None]
        return out.reshape(x.shape)


# -- composition -----------------------------------------------------------------------------------


def _flatten(value: Iterable[Augmentation]) -> tuple[Augmentation, ...]:
    out: list[Augmentation] = []
    for spec in value:
        out.extend(spec.specs if isinstance(spec, Compose) else [spec])
    return tuple(out)



def _check_specs(
    instance: Compose, attribute: attrs.Attribute[tuple[Augmentation, ...]], value: tuple[Augmentation, ...]
) -> None:
    for i, spec in enumerate(value):
        if not (callable(spec) and isinstance(getattr(spec, "kind", None), str)):
            raise TypeError(f"Compose: member {i} is not an augmentation spec, got {spec!r}")
    sampled = [s for s in value if getattr(s, "geometric", False) and hasattr(s, "fill")]
    if sampled:
        first = tuple(getattr(sampled[0], f) for f in _SAMPLING)
        for other in sampled[1:]:
            got = tuple(getattr(other, f) for f in _SAMPLING)
            if got != first:
                raise ValueError(
                    f"Compose: the geometric members are sampled once, so they must agree on "
                    f"(fill, value, interpolation); {sampled[0]!r} has {first} but {other!r} has {got}; "
                    "give each the same fill=, value= and interpolation="
                )


@attrs.frozen(repr=False)
class Compose:
    """Several augmentations as one: geometric maps multiplied, the image sampled once.

    Member ``i`` draws from ``fold_in(key, i)``. Geometric members are composed
    in order (the first one listed acts first) and must agree on ``fill``,
    ``value`` and ``interpolation``; pointwise members follow, in order.
    Nested ``Compose`` members are flattened.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "compose"
    geometric: ClassVar[bool] = False
    specs: tuple[Augmentation, ...] = attrs.field(converter=_flatten, validator=_check_specs)

    def __call__(self, key: Key, x: NDArray[ImageT]) -> NDArray[ImageT]:
        return _run(self.specs, tuple(fold_in(key, i) for i in range(len(self.specs))), x, self)

    @classmethod
    def from_text(cls, text: str) -> Compose:
        """The compact syntax of the command line, e.g. ``"flip,rotate=45,shift=0.2,shear=0.2,zoom=0.2"``.

        Comma-separated items, in the order they act: ``flip`` (left-right;
        ``flip=vertical`` or ``flip=both``), ``rotate=DEGREES``, ``shift=FRACTION``
        (both axes), ``shear=DEGREES``, ``zoom=FRACTION``, ``brightness=FRACTION``;
        and for every geometric item ``fill=nearest|constant|reflect|wrap``,
        ``value=NUMBER`` and ``interpolation=nearest|bilinear``.

        Raises:
            ValueError: an unknown item or a bad value (the item is named).

        >>> Compose.from_text("flip,rotate=45,fill=constant")
        Compose(specs=(RandomFlip(), RandomRotation(degrees=(-45.0, 45.0), fill='constant')))
        """
        fill: Fill = "nearest"
        interpolation: Interpolation = "bilinear"
        value = 0.0
        steps: list[tuple[str, str]] = []
        for part in text.split(","):
            name, sep, arg = (t.strip() for t in part.strip().partition("="))
            name = name.lower()
            if not name:
                continue
            if name not in ("flip", *_TEXT_SPECS, "fill", "value", "interpolation"):
                raise ValueError(
                    f"augment: unknown item {name!r} in {text!r}; items: flip, {', '.join(_TEXT_SPECS)}, "
                    "fill, value, interpolation"
                )
            if not sep and name != "flip":
                raise ValueError(f"augment: {name} needs a value, e.g. {name}={_EXAMPLES[name]}")
            if name == "fill":
                if arg not in FILLS:
                    raise ValueError(f"augment: fill={arg} must be one of {', '.join(FILLS)}")
                fill = arg
            elif name == "interpolation":
                if arg not in INTERPOLATIONS:
                    raise ValueError(f"augment: interpolation={arg} must be one of {', '.join(INTERPOLATIONS)}")
                interpolation = arg
            elif name == "value":
                value = _number(name, arg)
            else:
                steps.append((name, arg or "horizontal"))
        if not steps:
            raise ValueError(f"augment: no augmentation in {text!r}, e.g. flip,rotate=15,shift=0.1")
        specs: list[Augmentation] = []
        for name, arg in steps:
            if name == "flip":
                if arg not in ("horizontal", "vertical", "both"):
                    raise ValueError(f"augment: flip={arg} must be horizontal, vertical or both")
                specs.append(RandomFlip(horizontal=arg != "vertical", vertical=arg != "horizontal"))
                continue
            number = _number(name, arg)
            if name == "brightness":
                specs.append(RandomBrightness(number))
            elif name == "rotate":
                specs.append(RandomRotation(number, fill=fill, value=value, interpolation=interpolation))
            elif name == "shift":
                specs.append(RandomShift(number, number, fill=fill, value=value, interpolation=interpolation))
            elif name == "shear":
                specs.append(RandomShear(number, fill=fill, value=value, interpolation=interpolation))
            else:
                specs.append(RandomZoom(number, fill=fill, value=value, interpolation=interpolation))
        return cls(specs)


_TEXT_SPECS = ("rotate", "shift", "shear", "zoom", "brightness")
_EXAMPLES = {"rotate": "45", "shift": "0.2", "shear": "10", "zoom": "0.2", "brightness": "0.2", "fill": "nearest",
             "interpolation": "bilinear", "value": "0"}


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"augment: {name}={value} is not a number") from None


def _run(
    specs: tuple[Augmentation, ...], keys: tuple[Key, ...], x: NDArray[ImageT], where: object
) -> NDArray[ImageT]:
    """Apply ``specs`` with their ``keys``: the geometric ones as one map, then the pointwise ones."""
    xs = check_images(x, where)
    n, height, width = xs.shape[:3]
    geometric = [(s, k) for s, k in zip(specs, keys, strict=True) if getattr(s, "geometric", False)]
    out = xs
    if len(geometric) == 1 and isinstance(geometric[0][0], RandomFlip):
        out = geometric[0][0](geometric[0][1], xs)  # a flip alone moves pixels, no resampling
    elif geometric:
        total = _maps(n)
        for spec, k in geometric:
            total = spec.matrices(k, n, height, width) @ total  # type: ignore[attr-defined]
        sampled = next((s for s, _ in geometric if hasattr(s, "fill")), None)
        if sampled is None:  # flips only: every coordinate lands on a pixel centre
            out = apply_affine(xs, total, interpolation="nearest")
        else:
            out = apply_affine(
                xs, total, fill=sampled.fill, value=sampled.value,  # type: ignore[attr-defined]
                interpolation=sampled.interpolation,  # type: ignore[attr-defined]
            )
    for spec, k in zip(specs, keys, strict=True):
        if not getattr(spec, "geometric", False):
            out = spec(k, out)
    return (out if out is not xs else xs.copy()).reshape(x.shape)
