"""The forward trace and the rule-changed backward pass every explain function builds on.

A model is walked as the flat tuple of its leaf layers: nested ``Sequential``
stacks are opened and their names joined into paths (``"head/dense_0"``). The
forward pass runs each leaf in inference mode and keeps its output and its
cache; the backward pass calls each leaf's own hand-written ``backward``,
except at ``ReLU`` where the chosen rule replaces it:

* ``"gradient"``: the layer's own backward, ``dx = dy * [x > 0]``;
* ``"deconvnet"``: ``dx = max(dy, 0)`` whatever the forward input was
  (Zeiler & Fergus's rectification of the reconstruction signal);
* ``"guided"``: ``dx = dy * [x > 0] * [dy > 0]`` (Springenberg et al.).

Max-pooling therefore routes through the switches of its forward pass and
convolutions apply their transposed filters under every rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Generic, Literal

import attrs
import numpy as np

from funcnn._typing import Array, FloatT, IntArray
from funcnn.errors import ExplainError, ShapeError, TreeStructureError
from funcnn.layers import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from funcnn.layers.conv import conv_padding
from funcnn.network import Sequential, forward
from funcnn.tree import FrozenTree

__all__ = [
    "POINTWISE",
    "Leaf",
    "Rule",
    "Trace",
    "apply",
    "as_input",
    "check_channel",
    "check_rules",
    "find_layer",
    "leaves",
    "pullback",
    "receptive_field",
    "run",
    "seed",
    "target_index",
]

Rule = Literal["gradient", "deconvnet", "guided"]

# The layer classes whose backward under the deconvnet and guided rules is
# defined: ReLU's is replaced, every other one is the layer's own backward
# (as in Captum, which overrides only ReLU modules).
_RULED: tuple[type, ...] = (
    AvgPool2D, Conv2D, Dense, Dropout, Flatten, Identity, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh,
)  # fmt: skip


# Layers that map each position to the same position: receptive fields pass through.
POINTWISE: tuple[type, ...] = (Dropout, Identity, LeakyReLU, ReLU, Sigmoid, Tanh)


@attrs.frozen
class Leaf(Generic[FloatT]):
    """One leaf layer of a model: its path, spec and params."""

    path: str
    layer: Layer
    params: FrozenTree[FloatT]


@attrs.frozen
class Trace(Generic[FloatT]):
    """The forward pass of a prefix of a model's leaves: each leaf's input, output and cache."""

    leaves: tuple[Leaf[FloatT], ...]
    inputs: tuple[Array[FloatT], ...]
    outputs: tuple[Array[FloatT], ...]
    caches: tuple[FrozenTree[FloatT], ...]

    @property
    def y(self) -> Array[FloatT]:
        """The output of the last traced leaf."""
        return self.outputs[-1]


def leaves(model: Layer, params: FrozenTree[FloatT]) -> tuple[Leaf[FloatT], ...]:
    """The leaf layers of ``model`` in order, nested stacks opened (a lone layer is its own leaf)."""
    if isinstance(model, Sequential):
        return tuple(_walk(model, params, ""))
    name = model.name if model.name is not None else f"{model.kind}_0"
    return (Leaf(name, model, params),)


def _walk(model: Sequential, params: FrozenTree[FloatT], prefix: str) -> Iterator[Leaf[FloatT]]:
    for name, layer in model.named_layers():
        sub = params.subtree(name)
        if isinstance(layer, Sequential):
            yield from _walk(layer, sub, f"{prefix}{name}/")
        else:
            yield Leaf(f"{prefix}{name}", layer, sub)


def as_input(params: FrozenTree[FloatT], x: object) -> Array[FloatT]:
    """``x`` cast as :func:`funcnn.forward` casts it (to the params' dtype), read-only, never copied needlessly.

    The cast is reached through the public ``forward`` (an ``Identity`` layer
    returns its input), so the rule has one home in ``funcnn.network``.
    """
    y, _ = forward(Identity(), params, x)
    return y


def run(chain: Sequence[Leaf[FloatT]], x: Array[FloatT]) -> Trace[FloatT]:
    """Run ``chain`` (in inference mode) on ``x``, keeping each leaf's input, output and cache."""
    inputs: list[Array[FloatT]] = []
    outputs: list[Array[FloatT]] = []
    caches: list[FrozenTree[FloatT]] = []
    for leaf in chain:
        inputs.append(x)
        try:
            x, cache = leaf.layer.forward(leaf.params, x, train=False)
        except (ShapeError, TreeStructureError) as e:
            raise type(e)(f"{leaf.path} {e}") from None
        outputs.append(x)
        caches.append(cache)
    return Trace(tuple(chain), tuple(inputs), tuple(outputs), tuple(caches))


def apply(chain: Sequence[Leaf[FloatT]], x: Array[FloatT]) -> Array[FloatT]:
    """``chain``'s output on ``x`` (inference mode), keeping no cache: a forward only."""
    for leaf in chain:
        try:
            x, _ = leaf.layer.forward(leaf.params, x, train=False)
        except (ShapeError, TreeStructureError) as e:
            raise type(e)(f"{leaf.path} {e}") from None
    return x


def receptive_field(
    chain: Sequence[Leaf[FloatT]], in_hw: tuple[int, int]
) -> tuple[int, int, int, int, int, int] | None:
    """``(jump_h, jump_w, offset_h, offset_w, size_h, size_w)`` of the last leaf's output positions.

    Output position ``(i, j)`` sees input rows ``[i·jump_h + offset_h,
    i·jump_h + offset_h + size_h)`` and the matching columns; offsets are
    negative where padding lies before the image. ``None`` when a layer mixes
    every position (``Flatten``, ``Dense``, an unknown kind): the field is the
    whole input.
    """
    jh, jw, oh, ow, rh, rw = 1, 1, 0, 0, 1, 1
    h, w = in_hw
    for leaf in chain:
        layer = leaf.layer
        if isinstance(layer, Conv2D):
            (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
            ph, pw = conv_padding(h, kh, sh, layer.padding)[0], conv_padding(w, kw, sw, layer.padding)[0]
        elif isinstance(layer, MaxPool2D | AvgPool2D):
            (kh, kw), (sh, sw), ph, pw = layer.size, layer.strides, 0, 0
        elif isinstance(layer, POINTWISE):
            continue
        else:
            return None
        oh, ow = oh - ph * jh, ow - pw * jw
        rh, rw = rh + (kh - 1) * jh, rw + (kw - 1) * jw
        jh, jw = jh * sh, jw * sw
        h, w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1  # only the top/left pad moves fields
    return jh, jw, oh, ow, rh, rw


def check_rules(chain: Sequence[Leaf[FloatT]], rule: Rule) -> None:
    """Raise :class:`ExplainError` naming the first leaf whose kind has no ``rule`` backward."""
    if rule == "gradient":
        return
    for leaf in chain:
        if not isinstance(leaf.layer, _RULED):
            raise ExplainError(
                f"{leaf.path} {leaf.layer!r}: the {rule} rule is defined for funcnn's own layers "
                f"({', '.join(sorted(c.__name__ for c in _RULED))}), got layer kind {leaf.layer.kind!r}; "
                "use saliency (the plain gradient), which needs only the layer's own backward"
            )


def pullback(trace: Trace[FloatT], dy: Array[FloatT], rule: Rule) -> Array[FloatT]:
    """Send ``dy`` (shaped like ``trace.y``) back to the traced input under ``rule``."""
    check_rules(trace.leaves, rule)
    for leaf, cache in zip(reversed(trace.leaves), reversed(trace.caches), strict=True):
        if rule != "gradient" and isinstance(leaf.layer, ReLU):
            # Both rules pass only the positive part of the signal; guided backprop
            # then also applies ReLU's own gate [x > 0] (its ordinary backward).
            dy = np.maximum(dy, 0.0)
            if rule == "deconvnet":
                continue
        try:
            _, dy = leaf.layer.backward(leaf.params, cache, dy)
        except (ShapeError, TreeStructureError) as e:
            raise type(e)(f"{leaf.path} {e}") from None
    return dy


def find_layer(chain: Sequence[Leaf[FloatT]], layer: str) -> int:
    """The index of the leaf at path ``layer`` (a nested stack's path means its last leaf)."""
    hits = [i for i, leaf in enumerate(chain) if leaf.path == layer or leaf.path.startswith(layer + "/")]
    if not hits:
        raise ExplainError(
            f"layer={layer!r}: no such layer path in the model; the paths are {[leaf.path for leaf in chain]}"
        )
    return hits[-1]


def check_channel(path: str, y: Array[FloatT], channel: int) -> int:
    """``channel`` as an int in ``[0, C)`` for an output ``y: (batch, ..., C)``."""
    if isinstance(channel, bool) or not isinstance(channel, int | np.integer):
        raise ExplainError(f"{path}: channel must be an int, got channel={channel!r}")
    c = y.shape[-1]
    if not 0 <= channel < c:
        raise ExplainError(f"{path}: expected a channel in [0, {c}) (the layer outputs {y.shape[1:]}), "
                           f"got channel={channel}")
    return int(channel)


def target_index(y: Array[FloatT], target: int | Sequence[int] | IntArray) -> IntArray:
    """One flat output index per sample: ``target`` broadcast to ``(batch,)`` and range-checked."""
    n, size = y.shape[0], math.prod(y.shape[1:])
    t = np.asarray(target)
    if t.dtype.kind not in "iu" or t.ndim > 1:
        raise ExplainError(f"target: expected an int or one int per sample, got target={target!r}")
    if t.ndim == 1 and t.shape != (n,):
        raise ExplainError(f"target: expected one int per sample ({n}), got {t.shape[0]} targets")
    if t.size and (t.min() < 0 or t.max() >= size):
        raise ExplainError(f"target: expected indices in [0, {size}) of the model's output {y.shape[1:]}, "
                           f"got target={target!r}")
    return np.broadcast_to(t, (n,)).astype(np.int64)


def seed(y: Array[FloatT], target: int | Sequence[int] | IntArray) -> Array[FloatT]:
    """``dy``: one at each sample's target output, zero elsewhere (shaped like ``y``)."""
    t = target_index(y, target)
    dy = np.zeros((y.shape[0], math.prod(y.shape[1:])), dtype=y.dtype)
    dy[np.arange(y.shape[0]), t] = 1.0
    return dy.reshape(y.shape)
