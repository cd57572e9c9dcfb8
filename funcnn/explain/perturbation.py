"""Occlusion maps (a perturbation method): how much the output drops when a grey square hides part of the image.

A ``kh × kw`` window filled with ``baseline`` slides over each image (all
channels at once). The first window sits at the top-left corner; windows step
by ``stride`` until the last one reaches the border, where it may be cut off
(so every pixel is covered when ``stride <= window``). For each window the drop
``out(x) − out(occluded)`` at ``target`` is credited to every pixel the window
covers, and each pixel's credit is averaged over the windows that covered it:
Captum's ``Occlusion`` rule. Pixels no window covers (``stride > window``) get 0.

The occluded copies are built with array masks and run through the model in
batches of at most ``batch_size`` copies: memory is bounded, and there is no
Python-level forward per window.

A window changes only a few positions of the first feature maps. When the
model starts with unpadded convolutions and pools (and element-wise layers),
the longest such prefix whose outputs a window touches in at most half of the
positions is run on the original images once and, per occluded copy, only on
the crop of the image that feeds the touched positions (the layers' own
forward on a smaller image); the touched positions are pasted into the
original maps and the rest of the model runs on the whole map. The maps are
those of the plain computation up to float rounding (the products run on
other matrix shapes).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from funcnn._typing import Array, FloatT, IntArray
from funcnn.errors import ExplainError
from funcnn.explain._trace import POINTWISE, Leaf, apply, as_input, leaves, target_index
from funcnn.layers import AvgPool2D, Conv2D, Layer, MaxPool2D
from funcnn.layers.base import fresh
from funcnn.layers.conv import conv_padding
from funcnn.tree import FrozenTree

__all__ = ["occlusion", "window_starts"]


def _pair(name: str, value: int | tuple[int, int]) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1 for v in pair):
        raise ExplainError(f"occlusion: {name} must be an int >= 1 or a pair of them, got {name}={value!r}")
    return int(pair[0]), int(pair[1])


def window_starts(size: int, window: int, stride: int) -> IntArray:
    """The first index of every window along an axis of ``size``: ``0, s, 2s, ...`` until one reaches the end.

    >>> window_starts(28, 4, 2)[-3:], window_starts(5, 2, 2)
    (array([20, 22, 24]), array([0, 2, 4]))
    """
    count = -(-(size - window) // stride) + 1  # ceil((size - window) / stride) + 1, as Captum counts
    return np.arange(count, dtype=np.int64) * stride


@attrs.frozen
class _Plan:
    """Run ``prefix`` leaves on crops: per window start, the first touched output position ``q0``."""

    prefix: int
    jump: tuple[int, int]
    q: tuple[int, int]  # touched positions per axis (at most), the crop's output size
    crop: tuple[int, int]  # the input crop that feeds them
    q0_rows: IntArray  # (windows along rows,)
    q0_cols: IntArray


def _touched(starts: IntArray, window: int, jump: int, field: int, size: int) -> tuple[IntArray, int]:
    """First touched output position per window start (shifted to fit ``q`` in the map), and ``q``."""
    first = np.maximum((starts - field) // jump + 1, 0)  # output i sees input [i·jump, i·jump + field)
    last = np.minimum((starts + window - 1) // jump, size - 1)
    q = int(np.max(last - first + 1))
    return np.minimum(first, size - q), q


def _plan(chain: tuple[Leaf[FloatT], ...], hw: tuple[int, int], window: tuple[int, int],
          starts: tuple[IntArray, IntArray]) -> _Plan | None:
    """The longest unpadded local prefix whose outputs a window touches in at most half the positions."""
    (h, w), best = hw, None
    jh = jw = rh = rw = 1
    for k, leaf in enumerate(chain, start=1):
        layer = leaf.layer
        if isinstance(layer, Conv2D):
            (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
            if conv_padding(h, kh, sh, layer.padding) != (0, 0) or conv_padding(w, kw, sw, layer.padding) != (0, 0):
                break
        elif isinstance(layer, MaxPool2D | AvgPool2D):
            (kh, kw), (sh, sw) = layer.size, layer.strides
        elif isinstance(layer, POINTWISE):
            kh = kw = sh = sw = 1
        else:
            break
        h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
        rh, rw, jh, jw = rh + (kh - 1) * jh, rw + (kw - 1) * jw, jh * sh, jw * sw
        q0_rows, qh = _touched(starts[0], window[0], jh, rh, h)
        q0_cols, qw = _touched(starts[1], window[1], jw, rw, w)
        if 2 * qh * qw <= h * w:
            best = _Plan(k, (jh, jw), (qh, qw), ((qh - 1) * jh + rh, (qw - 1) * jw + rw), q0_rows, q0_cols)
    return best


def _outputs(chain: tuple[Leaf[FloatT], ...], x: Array[FloatT], batch_size: int) -> Array[FloatT]:
    """The model's outputs ``(batch, outputs)`` (flattened per sample), ``batch_size`` samples at a time."""
    parts = [apply(chain, x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    y = np.concatenate(parts)
    return y.reshape(y.shape[0], -1)


def _patched_outputs(
    chain: tuple[Leaf[FloatT], ...], plan: _Plan, x: Array[FloatT], base: Array[FloatT], img: IntArray,
    p: IntArray, in_rows: NDArray[np.bool_], in_cols: NDArray[np.bool_], per_row: int,
) -> Array[FloatT]:
    """The model's outputs on the occluded copies ``(img, p)``, the prefix run on crops only."""
    (jh, jw), (qh, qw), (ch, cw) = plan.jump, plan.q, plan.crop
    r0, c0 = plan.q0_rows[p // per_row], plan.q0_cols[p % per_row]  # first touched position per copy
    top, left = r0 * jh, c0 * jw  # the crops' corners in the image
    take = (img, top, left)
    crops = sliding_window_view(x, (ch, cw), axis=(1, 2))[take].transpose(0, 2, 3, 1)  # (copies, ch, cw, c)
    rows = top[:, None] + np.arange(ch)
    cols = left[:, None] + np.arange(cw)
    hidden = (np.take_along_axis(in_rows, rows, axis=1)[:, :, None]
              & np.take_along_axis(in_cols, cols, axis=1)[:, None, :])  # (copies, ch, cw)
    if base.ndim:
        full = np.broadcast_to(base, x.shape[1:])
        base = sliding_window_view(full, (ch, cw), axis=(0, 1))[top, left].transpose(0, 2, 3, 1)
    prefix, suffix = chain[: plan.prefix], chain[plan.prefix :]
    touched = apply(prefix, np.where(hidden[..., None], base, crops))  # (copies, qh, qw, channels)
    images, local = np.unique(img, return_inverse=True)
    maps = apply(prefix, x[images])[local]  # the untouched maps, one copy per occluded image
    sel = (np.arange(img.size)[:, None, None], (r0[:, None] + np.arange(qh))[:, :, None],
           (c0[:, None] + np.arange(qw))[:, None, :])
    maps[sel] = touched
    return apply(suffix, maps)


def occlusion(
    model: Layer,
    params: FrozenTree[FloatT],
    x: Array[FloatT] | object,
    target: int | Sequence[int] | IntArray,
    *,
    window: int | tuple[int, int],
    stride: int | tuple[int, int],
    baseline: float | ArrayLike = 0.0,
    batch_size: int = 256,
) -> Array[FloatT]:
    """The occlusion map of ``x`` for the output at ``target`` (Zeiler & Fergus's grey squares).

    Args:
        model: any funcnn model whose input is an image batch.
        params: its params; their dtype is the result's.
        x: ``(batch, h, w, c)`` channels-last images.
        target: the output index, an int or one int per image (as in :func:`saliency`).
        window: ``(kh, kw)`` of the occluding square, or one int for both.
        stride: the step between windows, an int or a pair.
        baseline: the value written under the window: a float, or an array
            that broadcasts to one image ``(h, w, c)`` (e.g. the mean image).
        batch_size: at most this many occluded copies go through the model at once.

    Returns:
        ``(batch, h, w, c)``: each pixel's mean output drop over the windows that
        covered it (the same value on every channel); positive where hiding the
        pixel lowers the output.

    Raises:
        ExplainError: ``x`` not a batch of images, a window larger than the
            image, a bad stride or batch size, or a target out of range.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Flatten(), fn.Dense(1, w_init=fn.Constant(1.0)))
    >>> params = fn.init(model, fn.key(0), in_shape=(4, 4, 1))
    >>> occlusion(model, params, np.ones((1, 4, 4, 1)), 0, window=2, stride=2)[0, :, :, 0]
    array([[4., 4., 4., 4.],
           [4., 4., 4., 4.],
           [4., 4., 4., 4.],
           [4., 4., 4., 4.]])
    """
    x = as_input(params, x)
    if x.ndim != 4:
        raise ExplainError(f"occlusion: expected images (batch, height, width, channels), got x of shape {x.shape}")
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = _pair("window", window), _pair("stride", stride)
    if kh > h or kw > w:
        raise ExplainError(f"occlusion: expected a window no larger than the image {(h, w)}, got window={(kh, kw)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ExplainError(f"occlusion: batch_size must be an int >= 1, got batch_size={batch_size!r}")
    base = np.asarray(baseline, dtype=x.dtype)
    if base.ndim > 3 or any(b not in (1, d) for b, d in zip(base.shape[::-1], (c, w, h), strict=False)):
        raise ExplainError(f"occlusion: expected a baseline that broadcasts to one image {(h, w, c)}, "
                           f"got shape {base.shape}")
    chain = leaves(model, params)
    y0 = _outputs(chain, x, batch_size)  # (batch, outputs)
    t = target_index(y0, target)
    out0 = y0[np.arange(n), t]  # (batch,)

    rows_start, cols_start = window_starts(h, kh, sh), window_starts(w, kw, sw)
    n_windows = rows_start.size * cols_start.size
    win_row = np.repeat(rows_start, cols_start.size)  # window p's top row, p in row-major order
    win_col = np.tile(cols_start, rows_start.size)
    rows, cols = np.arange(h), np.arange(w)
    plan = _plan(chain, (h, w), (kh, kw), (rows_start, cols_start))
    credit = np.zeros((n, h, w), dtype=x.dtype)
    # Occluded copies are enumerated image-major: copy q is image q // P under window q % P.
    for q0 in range(0, n * n_windows, batch_size):
        q = np.arange(q0, min(q0 + batch_size, n * n_windows))
        img, p = q // n_windows, q % n_windows
        in_rows = (rows >= win_row[p, None]) & (rows < win_row[p, None] + kh)  # (copies, h)
        in_cols = (cols >= win_col[p, None]) & (cols < win_col[p, None] + kw)  # (copies, w)
        if plan is None:
            hidden = in_rows[:, :, None] & in_cols[:, None, :]  # (copies, h, w)
            y = apply(chain, np.where(hidden[..., None], base, x[img]))  # the occluded copies (copies, h, w, c)
        else:
            y = _patched_outputs(chain, plan, x, base, img, p, in_rows, in_cols, cols_start.size)
        drop = out0[img] - y.reshape(q.size, -1)[np.arange(q.size), t[img]]
        share = (drop[:, None] * in_rows)[:, :, None] * in_cols[:, None, :]  # (copies, h, w)
        first = np.flatnonzero(np.r_[True, img[1:] != img[:-1]])  # where each image's run starts
        credit[img[first]] += np.add.reduceat(share, first, axis=0)
    # How many windows covered each pixel: (windows over its row) x (windows over its column).
    row_count = np.sum((rows >= rows_start[:, None]) & (rows < rows_start[:, None] + kh), axis=0)
    col_count = np.sum((cols >= cols_start[:, None]) & (cols < cols_start[:, None] + kw), axis=0)
    count = (row_count[:, None] * col_count[None, :]).astype(x.dtype)  # (h, w)
    np.divide(credit, count, out=credit, where=count > 0)
    return fresh(np.repeat(credit[..., None], c, axis=3))
