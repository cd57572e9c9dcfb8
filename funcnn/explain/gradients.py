"""Backward-pass maps: saliency, deconvnet, guided backprop and deconvnet projections.

Each is one forward pass and one backward pass of the whole batch through the
layers' own backward methods; only the rule at ``ReLU`` differs (see
:mod:`funcnn.explain._trace`). The result has the shape and dtype of the
(cast) input ``x``; ``x`` itself is never changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from funcnn._typing import Array, FloatT, IntArray
from funcnn.errors import ExplainError
from funcnn.explain._trace import Rule, as_input, check_channel, check_rules, find_layer, leaves, pullback, run, seed
from funcnn.layers import Layer
from funcnn.layers.base import fresh
from funcnn.tree import FrozenTree

__all__ = ["deconvnet", "guided_backprop", "project", "saliency"]

Target = int | Sequence[int] | IntArray


def _backprop(
    model: Layer, params: FrozenTree[FloatT], x: Array[FloatT] | object, target: Target, rule: Rule
) -> Array[FloatT]:
    chain = leaves(model, params)
    check_rules(chain, rule)  # before any work
    trace = run(chain, as_input(params, x))
    return pullback(trace, seed(trace.y, target), rule)


def saliency(
    model: Layer, params: FrozenTree[FloatT], x: Array[FloatT] | object, target: Target, *, abs: bool = True
) -> Array[FloatT]:
    """The gradient of the model's output at ``target`` with respect to the input.

    The output is taken as the model computes it, whatever its last layer is
    (logits, or probabilities if it ends in ``Softmax``). Dropout is in
    inference mode.

    Args:
        model: a ``Sequential`` (or a single layer) of funcnn layers.
        params: its params; their dtype is the result's.
        x: ``(batch, *in_shape)`` inputs.
        target: the output index: an int for every sample, or one int per
            sample; for an output with more than one axis per sample, an index
            into the flattened output.
        abs: return ``|gradient|`` (the saliency map) rather than the signed gradient.

    Returns:
        ``(batch, *in_shape)``: ``d y[n, target[n]] / d x[n]``, or its absolute value.

    Raises:
        ExplainError: a target out of range.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(1, w_init=fn.Constant(2.0)))
    >>> params = fn.init(model, fn.key(0), in_shape=(3,))
    >>> saliency(model, params, np.ones((1, 3)), 0, abs=False)
    array([[2., 2., 2.]])
    """
    dx = _backprop(model, params, x, target, "gradient")
    return fresh(np.abs(dx)) if abs else dx


def deconvnet(model: Layer, params: FrozenTree[FloatT], x: Array[FloatT] | object, target: Target) -> Array[FloatT]:
    """Zeiler & Fergus's deconvnet map of the output at ``target`` in input space.

    The backward pass of :func:`saliency` (signed) except that every ``ReLU``
    passes ``max(dy, 0)`` regardless of its forward input. Max-pooling routes
    through the switches recorded in the forward pass; convolutions apply their
    transposed filters. Captum's ``Deconvolution`` computes the same.

    Args:
        model: a ``Sequential`` of funcnn layers.
        params: its params.
        x: ``(batch, *in_shape)`` inputs.
        target: an int, or one int per sample (see :func:`saliency`).

    Returns:
        ``(batch, *in_shape)`` reconstructions, in the params' dtype.

    Raises:
        ExplainError: a target out of range, or a layer kind with no deconvnet
            rule (defined outside funcnn); the message names it.
    """
    return _backprop(model, params, x, target, "deconvnet")


def guided_backprop(
    model: Layer, params: FrozenTree[FloatT], x: Array[FloatT] | object, target: Target
) -> Array[FloatT]:
    """Guided backpropagation: ReLUs pass ``dy * [x > 0] * [dy > 0]``.

    The gradient's gate of the forward pass and the deconvnet's gate of the
    backward signal together (Springenberg et al.; Captum's ``GuidedBackprop``).

    Args:
        model: a ``Sequential`` of funcnn layers.
        params: its params.
        x: ``(batch, *in_shape)`` inputs.
        target: an int, or one int per sample (see :func:`saliency`).

    Returns:
        ``(batch, *in_shape)`` maps, in the params' dtype.

    Raises:
        ExplainError: as for :func:`deconvnet`.
    """
    return _backprop(model, params, x, target, "guided")


def project(
    model: Layer, params: FrozenTree[FloatT], x: Array[FloatT] | object, layer: str, channel: int, *, top: int = 1
) -> Array[FloatT]:
    """Project the strongest activations of one channel back to pixel space (the original deconvnet use).

    For each sample, the ``top`` largest activations of ``channel`` in the
    output of ``layer`` are kept with their values, every other activation of
    that layer (all positions, all channels) is set to zero, and the result is
    sent back to the input with the deconvnet rules. Ties go to the first
    position in row-major order.

    Args:
        model: a ``Sequential`` of funcnn layers.
        params: its params.
        x: ``(batch, *in_shape)`` inputs.
        layer: the layer path, as in :func:`activations` (``"conv2d_1"``,
            ``"head/dense_0"``); a nested stack's path means its last layer.
        channel: the channel (last axis) of that layer's output.
        top: how many activations to keep per sample (at most the map's size).

    Returns:
        ``(batch, *in_shape)`` projections; zeros where the kept activations are zero.

    Raises:
        ExplainError: an unknown layer path, a channel out of range, ``top < 1``,
            or a layer kind with no deconvnet rule.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Conv2D(2, 3, padding="same"), fn.ReLU(), fn.MaxPool2D(2))
    >>> params = fn.init(model, fn.key(0), in_shape=(8, 8, 1))
    >>> project(model, params, np.ones((2, 8, 8, 1)), "relu_0", 1, top=3).shape
    (2, 8, 8, 1)
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ExplainError(f"project: top must be an int >= 1, got top={top!r}")
    chain = leaves(model, params)
    stop = find_layer(chain, layer) + 1
    check_rules(chain[:stop], "deconvnet")
    trace = run(chain[:stop], as_input(params, x))
    a = trace.y
    c = check_channel(chain[stop - 1].path, a, channel)
    amap = a[..., c].reshape(a.shape[0], -1)  # (batch, positions)
    keep = np.argsort(-amap, axis=1, kind="stable")[:, :top]  # stable: ties to the first position
    rows = np.arange(a.shape[0])[:, None]
    dmap = np.zeros(amap.shape, dtype=a.dtype)
    dmap[rows, keep] = amap[rows, keep]
    dy = np.zeros(a.shape, dtype=a.dtype)
    dy[..., c] = dmap.reshape(a.shape[:-1])
    return pullback(trace, dy, "deconvnet")
