"""Data augmentation: frozen specs that are pure functions of ``(key, x)``.

Each spec is called as ``spec(key, x)`` on a channels-last batch ``x: (n,
height, width, channels)`` (or ``(n, height, width)``) of float32, float64 or
uint8 images and returns a new batch of the same shape and dtype; ``x`` is
never written. Every sample draws its own random parameters from ``key``, so
the same key always gives the same batch.

Geometric specs (:class:`RandomFlip`, :class:`RandomRotation`,
:class:`RandomShift`, :class:`RandomShear`, :class:`RandomZoom`) describe an
affine map per sample about the image centre. :class:`Compose` multiplies the
maps of all its geometric members into one map per sample and samples each
image once, vectorised over the batch (no per-image loop); its pointwise
members (:class:`RandomBrightness`) are applied afterwards, in order.

Pixels that come from outside the image are filled by ``fill``:
``"nearest"`` (``aaa|abcd|ddd``), ``"reflect"`` (``dcba|abcd|dcba``),
``"wrap"`` (``abcd|abcd|abcd``) or ``"constant"`` (``value``). Interpolation is
``"nearest"`` or ``"bilinear"``. Ranges are ``(low, high)`` pairs; a single
number ``s`` means ``(-s, s)``.

Exactness: a map that is the identity returns the input bit for bit; a flip
applied twice with the same key is the identity; with nearest interpolation,
rotation by 90 degrees of a square image equals ``np.rot90`` and an
integer-pixel shift with constant fill equals the shifted array.

>>> import numpy as np, funcnn as fn
>>> from funcnn.augment import Compose, RandomFlip, RandomRotation
>>> spec = Compose([RandomFlip(), RandomRotation(15.0, fill="constant")])
>>> x = np.zeros((4, 8, 8, 1), dtype=np.float32)
>>> y = spec(fn.key(0), x)
>>> y.shape, y.dtype
((4, 8, 8, 1), dtype('float32'))
"""

from funcnn.augment.sampling import FILLS, INTERPOLATIONS, Fill, Interpolation, apply_affine
from funcnn.augment.specs import (
    Augmentation,
    Compose,
    RandomBrightness,
    RandomFlip,
    RandomRotation,
    RandomShear,
    RandomShift,
    RandomZoom,
)

__all__ = [
    "FILLS",
    "INTERPOLATIONS",
    "Augmentation",
    "Compose",
    "Fill",
    "Interpolation",
    "RandomBrightness",
    "RandomFlip",
    "RandomRotation",
    "RandomShear",
    "RandomShift",
    "RandomZoom",
    "apply_affine",
]
