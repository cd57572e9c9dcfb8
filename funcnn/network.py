"""``Sequential`` and the public functions ``init``, ``forward``, ``backward``, ``predict``.

Params of a ``Sequential`` are ``{layer_name: layer_params}``, one level per
container. Layer names are ``spec.name`` if given, else the layer's ``kind``
plus a per-kind counter in layer order (``dense_0``, ``relu_0``, ``dense_1``),
so adding an activation never renames a dense layer. Param-free layers have no
entry in params; every layer has one in the cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, overload

import attrs
import numpy as np

from funcnn._typing import Array, FloatT, Shape
from funcnn.errors import MissingRngError, ShapeError, TreeStructureError
from funcnn.layers.base import Layer
from funcnn.rng import Key, fold_in
from funcnn.tree import FrozenTree, tree_dtype, tree_leaves

__all__ = ["Sequential", "backward", "forward", "init", "output_shape", "predict"]


def _layer_names(layers: tuple[Layer, ...]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    names: list[str] = []
    for layer in layers:
        if layer.name is not None:
            name = layer.name
            if not name.isidentifier():
                raise ValueError(f"layer names must be Python identifiers, got name={name!r}")
        else:
            n = counts.get(layer.kind, 0)
            counts[layer.kind] = n + 1
            name = f"{layer.kind}_{n}"
        if name in names:
            raise ValueError(f"Sequential: two layers are named {name!r}; give them distinct name=... values")
        names.append(name)
    return tuple(names)


@attrs.frozen(init=False)
class Sequential:
    """A stack of layers applied in order; itself a layer, so stacks nest.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Dense(2))
    >>> model.names
    ('dense_0', 'relu_0', 'dense_1')
    >>> params = fn.init(model, fn.key(0), in_shape=(3,))
    >>> fn.forward(model, params, np.ones((5, 3)))[0].shape
    (5, 2)
    """

    kind: ClassVar[str] = "sequential"
    layers: tuple[Layer, ...]
    name: str | None
    names: tuple[str, ...] = attrs.field(eq=False, repr=False)
    uses_key: bool = attrs.field(eq=False, repr=False)

    def __init__(self, *layers: Layer, name: str | None = None) -> None:
        for i, layer in enumerate(layers):
            if not (hasattr(layer, "init") and hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(f"Sequential: argument {i} is not a layer spec, got {layer!r}")
        self.__attrs_init__(
            tuple(layers), name, _layer_names(tuple(layers)), any(layer.uses_key for layer in layers)
        )

    def named_layers(self) -> Iterator[tuple[str, Layer]]:
        """``(name, layer)`` pairs in order."""
        return zip(self.names, self.layers, strict=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        params: dict[str, FrozenTree[FloatT]] = {}
        shape = in_shape
        for name, layer in self.named_layers():
            try:
                shape, p = layer.init(fold_in(key, name), shape, dtype)
            except ShapeError as e:
                raise ShapeError(_where(name, layer, e)) from None
            if len(p):
                params[name] = p
        return shape, FrozenTree(params)

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        caches: dict[str, FrozenTree[FloatT]] = {}
        pass_key = key is not None and self.uses_key
        for name, layer in self.named_layers():
            layer_key = fold_in(key, name) if pass_key and layer.uses_key and key is not None else None
            try:
                x, caches[name] = layer.forward(params.subtree(name), x, key=layer_key, train=train)
            except (ShapeError, TreeStructureError, MissingRngError) as e:
                raise type(e)(_where(name, layer, e)) from None
        return x, FrozenTree(caches)

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        grads: dict[str, FrozenTree[FloatT]] = {}
        layers = tuple(self.named_layers())
        # Without need_dx, stop at the first layer that has params: nothing
        # before it has anything to learn, and its own dx is not needed.
        first = 0 if need_dx else next((i for i, (n, _) in enumerate(layers) if n in params), 0)
        for i in range(len(layers) - 1, first - 1, -1):
            name, layer = layers[i]
            try:
                g, dy = layer.backward(
                    params.subtree(name), cache.subtree(name), dy, need_dx=need_dx or i > first
                )
            except (ShapeError, TreeStructureError) as e:
                raise type(e)(_where(name, layer, e)) from None
            if len(g):
                grads[name] = g
        return FrozenTree(grads), dy


def _where(name: str, layer: Layer, error: Exception) -> str:
    # Prefix an error with the layer's name; nested containers join into a path
    # ("encoder/dense_0 Dense(out_dim=3): ...").
    return f"{name}{'/' if isinstance(layer, Sequential) else ' '}{error}"


def _as_input(params: FrozenTree[FloatT], x: object) -> Array[FloatT]:
    """Cast the input once at the entry to the params' dtype.

    A model without params keeps a float32 or float64 input's dtype (anything
    else becomes float64), so param-free stacks preserve float32 too.
    """
    if not tree_leaves(params) and isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64):
        arr = np.asarray(x)
    else:
        arr = np.asarray(x, dtype=tree_dtype(params))
    if arr.ndim == 0:
        raise ShapeError(f"expected an input with a batch axis (batch, ...), got a scalar {arr!r}")
    return arr


@overload
def init(model: Layer, key: Key, *, in_shape: Shape) -> FrozenTree[np.float64]: ...


@overload
def init(model: Layer, key: Key, *, in_shape: Shape, dtype: type[FloatT]) -> FrozenTree[FloatT]: ...


# Overloads: without ``dtype`` the params are typed float64 (a bare TypeVar
# default would make mypy pick float32, the first constraint).
def init(
    model: Layer, key: Key, *, in_shape: Shape, dtype: type[FloatT] = np.float64  # type: ignore[assignment]
) -> FrozenTree[FloatT]:
    """Fresh params for ``model`` on inputs of shape ``(batch, *in_shape)``.

    Pure: the same key gives bit-identical params. ``dtype`` is ``np.float64``
    by default or ``np.float32``; everything downstream keeps it.
    """
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"init: dtype must be np.float32 or np.float64, got dtype={dtype!r}")
    in_shape = tuple(int(d) for d in in_shape)
    if any(d <= 0 for d in in_shape):
        raise ShapeError(f"init: in_shape must hold positive sizes, got in_shape={in_shape}")
    _, params = model.init(key, in_shape, dtype)
    return params


def output_shape(model: Layer, in_shape: Shape) -> Shape:
    """The output shape (without the batch axis) for inputs of ``in_shape``, without data."""
    shape, _ = model.init(Key(0), tuple(in_shape), np.float64)
    return shape


def forward(
    model: Layer,
    params: FrozenTree[FloatT],
    x: Array[FloatT] | object,
    *,
    key: Key | None = None,
    train: bool = False,
) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
    """Run ``model``: ``x: (batch, *in_shape) -> (y, cache)``.

    ``x`` is cast once to the params' dtype. ``train=True`` turns on training
    behaviour (dropout), which then needs ``key``. The cache is what
    :func:`backward` needs.
    """
    return model.forward(params, _as_input(params, x), key=key, train=train)


def backward(
    model: Layer,
    params: FrozenTree[FloatT],
    cache: FrozenTree[FloatT],
    dy: Array[FloatT],
    *,
    need_dx: bool = True,
) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
    """Backpropagate ``dy = dcost/dy``: returns ``(grads, dx)``; grads mirror params.

    With ``need_dx=False`` the input gradient is not computed (``dx`` is then
    an empty array), which saves the first layer's largest matrix product.
    """
    return model.backward(params, cache, _as_input(params, dy), need_dx=need_dx)


def predict(model: Layer, params: FrozenTree[FloatT], x: Array[FloatT] | object) -> Array[FloatT]:
    """``model``'s output in inference mode (no dropout, no cache kept)."""
    y, _ = model.forward(params, _as_input(params, x), train=False)
    return y
