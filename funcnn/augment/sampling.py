"""Resampling images under per-sample affine maps: the one sampling step of :mod:`funcnn.augment`.

:func:`apply_affine` takes a batch of channels-last images and one forward
affine map per image, computes the source coordinates of every output pixel
for the whole batch at once, and gathers them (one gather per bilinear corner;
no Python loop over images or pixels). Fill modes decide what comes from
outside the image.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, TypeVar

import numpy as np
from numpy.typing import NDArray

from funcnn.errors import ShapeError

__all__ = ["FILLS", "INTERPOLATIONS", "Fill", "ImageT", "Interpolation", "Maps", "apply_affine", "check_images"]

ImageT = TypeVar("ImageT", np.uint8, np.float32, np.float64)
Fill: TypeAlias = Literal["nearest", "constant", "reflect", "wrap"]
Interpolation: TypeAlias = Literal["nearest", "bilinear"]
FILLS: tuple[Fill, ...] = ("nearest", "constant", "reflect", "wrap")
INTERPOLATIONS: tuple[Interpolation, ...] = ("nearest", "bilinear")
Maps: TypeAlias = NDArray[np.float64]  # (n, 3, 3) forward affine maps in centred (u, v) = (col, row) pixels


def check_images(x: NDArray[ImageT], spec: object) -> NDArray[ImageT]:
    """``x`` as ``(n, height, width, channels)`` (a view); a ShapeError or TypeError names the spec."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{spec!r}: expected a numpy array of images, got {type(x).__name__}")
    if x.dtype not in (np.uint8, np.float32, np.float64):
        raise TypeError(f"{spec!r}: expected uint8, float32 or float64 images, got dtype {x.dtype}")
    if x.ndim == 3:
        return x[..., None]
    if x.ndim != 4 or 0 in x.shape[1:]:
        raise ShapeError(
            f"{spec!r}: expected a channels-last batch (n, height, width, channels) or (n, height, width), "
            f"got shape {x.shape}; flat (n, features) rows must be reshaped to images first"
        )
    return x


def _fill_index(i: NDArray[np.int64], size: int, fill: Fill) -> NDArray[np.int64]:
    """Map integer coordinates into ``[0, size)`` by the fill mode (constant: clipped; masked later)."""
    if fill == "wrap":
        return np.mod(i, size)
    if fill == "reflect":  # symmetric: dcba|abcd|dcba
        m = np.mod(i, 2 * size)
        return np.where(m >= size, 2 * size - 1 - m, m)
    return np.clip(i, 0, size - 1)


def apply_affine(
    x: NDArray[ImageT],
    maps: Maps,
    *,
    fill: Fill = "nearest",
    value: float = 0.0,
    interpolation: Interpolation = "bilinear",
) -> NDArray[ImageT]:
    """Resample each image of ``x`` under its own forward affine map, all samples at once.

    Args:
        x: ``(n, height, width, channels)`` images, uint8, float32 or float64.
        maps: ``(n, 3, 3)`` forward maps on centred ``(u, v)`` = (column, row)
            pixel coordinates: output pixel ``p`` shows input pixel ``maps⁻¹ p``.
        fill: how pixels from outside the image are filled.
        value: the constant for ``fill="constant"``.
        interpolation: ``"nearest"`` or ``"bilinear"``.

    Returns:
        ``(n, height, width, channels)`` images of ``x``'s dtype; samples whose
        map is exactly the identity are copied bit for bit.
    """
    n, height, width, channels = x.shape
    maps = np.asarray(maps, dtype=np.float64)
    if maps.shape != (n, 3, 3):
        raise ShapeError(f"apply_affine: expected maps of shape ({n}, 3, 3), got {maps.shape}")
    a, b, c, d = maps[:, 0, 0], maps[:, 0, 1], maps[:, 1, 0], maps[:, 1, 1]
    det = a * d - b * c
    if np.any(det == 0.0):
        raise ValueError(f"apply_affine: the map of sample {int(np.argmax(det == 0.0))} is singular")
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det  # the 2x2 inverse
    cu, cv = (width - 1) / 2.0, (height - 1) / 2.0
    u = (np.arange(width, dtype=np.float64) - cu)[None, None, :] - maps[:, 0, 2][:, None, None]  # (n, 1, w)
    v = (np.arange(height, dtype=np.float64) - cv)[None, :, None] - maps[:, 1, 2][:, None, None]  # (n, h, 1)
    col = ia[:, None, None] * u + ib[:, None, None] * v + cu  # (n, h, w) source columns
    row = ic[:, None, None] * u + id_[:, None, None] * v + cv  # (n, h, w) source rows
    flat = x.reshape(n * height * width, channels)
    base = (np.arange(n, dtype=np.int64) * (height * width))[:, None, None]  # (n, 1, 1) first row of each image
    work = np.float64 if x.dtype == np.float64 else np.float32
    fill_value = np.asarray(min(max(round(value), 0), 255) if x.dtype == np.uint8 else value, dtype=x.dtype)

    def rows(r: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.bool_] | None]:
        """Offsets of source rows in ``flat`` (fill mode applied), and where they fall outside (constant fill)."""
        return base + _fill_index(r, height, fill) * width, ((r < 0) | (r >= height)) if fill == "constant" else None

    def cols(q: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.bool_] | None]:
        return _fill_index(q, width, fill), ((q < 0) | (q >= width)) if fill == "constant" else None

    def gather(
        r: tuple[NDArray[np.int64], NDArray[np.bool_] | None], q: tuple[NDArray[np.int64], NDArray[np.bool_] | None]
    ) -> NDArray[Any]:
        g: NDArray[Any] = np.take(flat, r[0] + q[0], axis=0)  # (n, h, w, channels)
        if r[1] is not None and q[1] is not None:
            g = np.where((r[1] | q[1])[..., None], fill_value, g)
        return g

    out: NDArray[Any]
    if interpolation == "nearest":
        out = gather(rows(np.floor(row + 0.5).astype(np.int64)), cols(np.floor(col + 0.5).astype(np.int64)))
    else:
        r0, q0 = np.floor(row), np.floor(col)
        fr, fq = (row - r0).astype(work)[..., None], (col - q0).astype(work)[..., None]
        r0i, q0i = r0.astype(np.int64), q0.astype(np.int64)
        top_rows, bottom_rows, left, right = rows(r0i), rows(r0i + 1), cols(q0i), cols(q0i + 1)
        top: NDArray[Any] = gather(top_rows, left).astype(work, copy=False)
        top += (gather(top_rows, right) - top) * fq  # a + (b - a) f: the interpolation along a row
        bottom: NDArray[Any] = gather(bottom_rows, left).astype(work, copy=False)
        bottom += (gather(bottom_rows, right) - bottom) * fq
        blended = top
        blended += (bottom - top) * fr
        if x.dtype == np.uint8:
            out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        else:
            out = blended.astype(x.dtype, copy=False)
    out = out.reshape(x.shape)
    identity = np.all(maps == np.eye(3), axis=(1, 2))
    if identity.any():
        out[identity] = x[identity]
    return out
