"""What the units of a trained network respond to: activations, top patches, gradient ascent.

* :func:`activations`: every layer's output for a batch, keyed by layer path;
* :func:`top_activations`: the ``k`` strongest activations of one channel over
  a whole data set (scanned in bounded batches), with the input patches under
  their receptive fields and their deconvnet projections;
* :func:`maximize`: an input grown by gradient ascent from a grey image to
  excite one channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic

import attrs
import numpy as np
from numpy.typing import ArrayLike

from funcnn._typing import Array, FloatT, IntArray, Shape
from funcnn.errors import ExplainError
from funcnn.explain._trace import (
    Leaf,
    apply,
    as_input,
    check_channel,
    check_rules,
    find_layer,
    leaves,
    pullback,
    receptive_field,
    run,
)
from funcnn.layers import Layer
from funcnn.layers.base import fresh
from funcnn.rng import Key, fold_in, generator
from funcnn.tree import FrozenTree, freeze, tree_dtype

__all__ = ["TopActivations", "activations", "maximize", "top_activations"]

def activations(model: Layer, params: FrozenTree[FloatT], x: Array[FloatT] | object) -> FrozenTree[FloatT]:
    """Every layer's output on ``x`` (inference mode), keyed by layer path.

    Nested stacks nest in the tree, so ``tree_get(acts, "head/dense_0")`` is
    the output of the layer ``dense_0`` inside the stack ``head``.

    Args:
        model: a ``Sequential`` of funcnn layers (any layer with a forward works).
        params: its params.
        x: ``(batch, *in_shape)`` inputs.

    Returns:
        A FrozenTree of read-only ``(batch, *out_shape)`` arrays, one per layer.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Sequential(fn.Dense(2), name="head"))
    >>> params = fn.init(model, fn.key(0), in_shape=(3,))
    >>> fn.tree_paths(activations(model, params, np.ones((5, 3))))
    ['dense_0', 'head/dense_0', 'relu_0']
    """
    trace = run(leaves(model, params), as_input(params, x))
    nested: dict[str, object] = {}
    for leaf, y in zip(trace.leaves, trace.outputs, strict=True):
        *groups, name = leaf.path.split("/")
        node = nested
        for g in groups:
            node = node.setdefault(g, {})  # type: ignore[assignment]
        node[name] = y
    return freeze(nested)


@attrs.frozen
class TopActivations(Generic[FloatT]):
    """The ``k`` strongest activations of one channel over a data set, strongest first.

    Attributes:
        index: ``(k,)`` sample indices into the data.
        position: ``(k, 2)`` ``(row, column)`` in the layer's output map, or
            ``(k, 0)`` for a layer without spatial axes.
        value: ``(k,)`` the activations.
        field: ``(k, 4)`` ``(top, left, bottom, right)`` of each receptive
            field in input pixels (bottom/right exclusive; may reach outside
            the image where the convolutions pad), or the whole image.
        patches: ``(k, fh, fw, c)`` the input under each field (zeros outside
            the image); ``(k, *in_shape)`` for inputs that are not images.
        projections: the deconvnet projection of each activation alone,
            cropped like ``patches``.
    """

    index: IntArray
    position: IntArray
    value: Array[FloatT]
    field: IntArray
    patches: Array[FloatT]
    projections: Array[FloatT]


def top_activations(
    model: Layer,
    params: FrozenTree[FloatT],
    data: ArrayLike,
    layer: str,
    channel: int,
    *,
    k: int = 9,
    batch_size: int = 256,
) -> TopActivations[FloatT]:
    """Scan ``data`` in batches for the ``k`` strongest activations of ``channel`` in ``layer``.

    Ties go to the earlier sample, then the earlier position (row-major). Only
    the layers up to ``layer`` are run, ``batch_size`` samples at a time.

    Args:
        model: a ``Sequential`` of funcnn layers.
        params: its params.
        data: ``(n, *in_shape)`` samples (a memory-mapped array works: only
            one batch is read at a time).
        layer: the layer path (see :func:`activations`).
        channel: the channel (last axis) of that layer's output.
        k: how many activations to return (fewer if the data has fewer).
        batch_size: samples per forward pass.

    Returns:
        A :class:`TopActivations`.

    Raises:
        ExplainError: an unknown layer path, a channel out of range, ``k`` or
            ``batch_size`` below 1, or a layer kind with no deconvnet rule
            (needed for the projections).
    """
    for name, value in (("k", k), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ExplainError(f"top_activations: {name} must be an int >= 1, got {name}={value!r}")
    chain = leaves(model, params)
    chain = chain[: find_layer(chain, layer) + 1]
    arr = np.asarray(data)  # no copy for an array (a memmap stays on disk)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ExplainError(f"top_activations: expected a data set (n, *in_shape) with n >= 1, got shape {arr.shape}")
    best_val: Array[FloatT] = np.zeros(0, dtype=tree_dtype(params))
    best_idx = np.zeros(0, dtype=np.int64)
    best_pos = np.zeros(0, dtype=np.int64)
    c, map_shape = 0, ()
    for i in range(0, arr.shape[0], batch_size):
        a = apply(chain, as_input(params, arr[i : i + batch_size]))  # a forward only: no caches kept
        c, map_shape = check_channel(chain[-1].path, a, channel), a.shape[1:-1]
        amap = a[..., c].reshape(-1)  # (batch * positions,), sample-major
        flat = np.argsort(-amap, kind="stable")[:k]  # stable: ties keep (sample, position) order
        positions = max(1, amap.size // a.shape[0])
        vals = np.concatenate([best_val, amap[flat]])
        idx = np.concatenate([best_idx, i + flat // positions])
        pos = np.concatenate([best_pos, flat % positions])
        keep = np.argsort(-vals, kind="stable")[:k]  # earlier batches come first: ties go to them
        best_val, best_idx, best_pos = vals[keep], idx[keep], pos[keep]
    position = (np.stack(np.unravel_index(best_pos, map_shape), axis=1).astype(np.int64) if map_shape
                else np.zeros((best_pos.size, 0), dtype=np.int64))
    x = as_input(params, arr[best_idx])
    proj = _project_each(chain, x, position, c, best_val)
    field, patches, projections = _crop(chain, x, proj, position)
    return TopActivations(_ints(best_idx), _ints(position), fresh(best_val), _ints(field), patches, projections)


def _ints(a: IntArray) -> IntArray:
    a.flags.writeable = False
    return a


def _project_each(
    chain: Sequence[Leaf[FloatT]], x: Array[FloatT], position: IntArray, channel: int, value: Array[FloatT]
) -> Array[FloatT]:
    """The deconvnet projection of activation ``(position[m], channel) = value[m]`` of sample ``x[m]`` alone."""
    check_rules(chain, "deconvnet")
    trace = run(chain, x)
    dy = np.zeros(trace.y.shape, dtype=trace.y.dtype)
    dy[(np.arange(x.shape[0]), *position.T, np.full(x.shape[0], channel))] = value
    return pullback(trace, dy, "deconvnet")


def _crop(
    chain: Sequence[Leaf[FloatT]], x: Array[FloatT], proj: Array[FloatT], position: IntArray
) -> tuple[IntArray, Array[FloatT], Array[FloatT]]:
    """Receptive-field boxes and the input and projection under each (zero outside the image)."""
    if x.ndim != 4:  # not images: the "patch" is the whole input
        return np.zeros((x.shape[0], 0), dtype=np.int64), x, proj
    m, h, w, c = x.shape
    rf = receptive_field(chain, (h, w)) if position.shape[1] == 2 else None
    if rf is None:
        box = np.tile(np.array([0, 0, h, w], dtype=np.int64), (m, 1))
        return box, x, proj
    jh, jw, oh, ow, rh, rw = rf
    top, left = position[:, 0] * jh + oh, position[:, 1] * jw + ow
    box = np.stack([top, left, top + rh, left + rw], axis=1)
    # Pad by the field's reach past each border, then every field is an in-bounds slice.
    pad_t, pad_l = max(0, -int(top.min())), max(0, -int(left.min()))
    pad_b, pad_r = max(0, int(top.max()) + rh - h), max(0, int(left.max()) + rw - w)
    widths = ((0, 0), (pad_t, pad_b), (pad_l, pad_r), (0, 0))
    xp, pp = np.pad(x, widths), np.pad(proj, widths)
    rows = (top + pad_t)[:, None] + np.arange(rh)  # (m, rh)
    cols = (left + pad_l)[:, None] + np.arange(rw)  # (m, rw)
    sel = (np.arange(m)[:, None, None], rows[:, :, None], cols[:, None, :])
    return box, fresh(xp[sel]), fresh(pp[sel])


def maximize(
    model: Layer,
    params: FrozenTree[FloatT],
    layer: str,
    channel: int | Sequence[int],
    key: Key,
    *,
    in_shape: Shape,
    steps: int,
    lr: float,
    l2: float = 1e-3,
    jitter: int = 0,
    grey: float = 0.0,
    noise: float = 0.1,
) -> Array[FloatT]:
    """Gradient ascent on the input to excite ``channel`` of ``layer``, from a grey image plus noise.

    The objective is the channel's mean activation (over positions, for a
    feature map) minus ``l2 · ||x||²``; each step is ``x += lr · gradient``.
    With ``jitter > 0`` the image is shifted (rolled) by a random offset of up
    to ``jitter`` pixels per axis before each gradient is taken, and the
    gradient shifted back: it discourages pixel-level noise patterns. The start
    noise and the offsets come from ``key`` only, so a key gives bit-identical
    images.

    Args:
        model: a ``Sequential`` of funcnn layers.
        params: its params; their dtype is the images'.
        layer: the layer path (see :func:`activations`); the last layer for a class.
        channel: the channel (last axis) to excite, or several (one image each,
            optimised together in one batch).
        key: the randomness of the start noise and the jitter.
        in_shape: the input shape without the batch axis, e.g. ``(28, 28, 1)``.
        steps: how many gradient steps.
        lr: the step size.
        l2: weight of the ``||x||²`` penalty that keeps the image bounded.
        jitter: the largest random shift in pixels (images only).
        grey: the start value of every pixel (0 is the mean of standardised images).
        noise: the standard deviation of the start noise.

    Returns:
        ``(steps + 1, *in_shape)`` images from start to end for an int
        ``channel``; ``(steps + 1, len(channel), *in_shape)`` for a sequence.

    Raises:
        ExplainError: an unknown layer path, a channel out of range, a bad
            ``steps``, ``lr``, ``l2`` or ``jitter``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ExplainError(f"maximize: steps must be an int >= 0, got steps={steps!r}")
    if isinstance(jitter, bool) or not isinstance(jitter, int) or jitter < 0:
        raise ExplainError(f"maximize: jitter must be an int >= 0, got jitter={jitter!r}")
    if not lr > 0 or not l2 >= 0 or not noise >= 0:
        raise ExplainError(f"maximize: expected lr > 0, l2 >= 0 and noise >= 0, got lr={lr}, l2={l2}, noise={noise}")
    in_shape = tuple(int(d) for d in in_shape)
    if jitter and len(in_shape) != 3:
        raise ExplainError(f"maximize: jitter shifts images (height, width, channels), got in_shape={in_shape}")
    channels = [channel] if isinstance(channel, int | np.integer) else list(channel)
    chain = leaves(model, params)
    chain = chain[: find_layer(chain, layer) + 1]
    dtype = tree_dtype(params).type
    m = len(channels)
    x = grey + float(noise) * generator(fold_in(key, "start")).standard_normal((m, *in_shape), dtype=dtype)
    x = x.astype(dtype, copy=False)
    shifts = generator(fold_in(key, "jitter")).integers(-jitter, jitter + 1, size=(steps, 2)) if jitter else None
    images = [x]
    dy: Array[FloatT] | None = None
    for t in range(steps):
        shift = (int(shifts[t, 0]), int(shifts[t, 1])) if shifts is not None else (0, 0)
        xs = np.roll(x, shift, axis=(1, 2)) if shifts is not None else x
        trace = run(chain, xs)
        if dy is None:
            a = trace.y
            cs = [check_channel(chain[-1].path, a, c) for c in channels]
            dy = np.zeros(a.shape, dtype=a.dtype)
            per_map = 1.0 / (a[0, ..., 0].size or 1)  # the mean over a feature map's positions
            dy[np.arange(m), ..., cs] = per_map
        dx = pullback(trace, dy, "gradient")
        if shifts is not None:
            dx = np.roll(dx, (-shift[0], -shift[1]), axis=(1, 2))
        x = x + lr * (dx - (2.0 * l2) * x)
        images.append(x)
    if dy is None:  # no steps: still check the channel
        a = run(chain, x).y
        for c in channels:
            check_channel(chain[-1].path, a, c)
    out = np.stack(images)
    return fresh(out[:, 0] if isinstance(channel, int | np.integer) else out)
