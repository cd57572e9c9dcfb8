"""``Sequential`` and the public functions ``init``, ``forward``, ``backward``, ``predict``.

Shapes come first and need no weights: :func:`output_shape`,
:func:`param_shapes` and :func:`param_count` use each layer's pure shape rule
(its ``shapes(in_shape)`` method, beside ``init``; layers without one are
built once), cached by spec (specs are frozen and hashable).

Params of a ``Sequential`` are ``{layer_name: layer_params}``, one level per
container. Layer names are ``spec.name`` if given, else the layer's ``kind``
plus a per-kind counter in layer order (``dense_0``, ``relu_0``, ``dense_1``),
so adding an activation never renames a dense layer. Param-free layers have no
entry in params; every layer has one in the cache.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Iterator
from typing import ClassVar, overload

import attrs
import numpy as np

from funcnn._typing import Array, FloatT, Shape
from funcnn.errors import MissingRngError, ShapeError, TreeStructureError
from funcnn.layers.base import Layer, no_dx
from funcnn.rng import Key, fold_in
from funcnn.thread_policy import compute_threads
from funcnn.tree import FrozenTree, tree_dtype, tree_flatten, tree_leaves

__all__ = [
    "EVAL_BUDGET_BYTES", "Sequential", "backward", "eval_batch_size", "forward", "init", "output_shape", "param_count",
    "param_shapes", "predict", "shapes",
]


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
        self,
        params: FrozenTree[FloatT],
        cache: FrozenTree[FloatT],
        dy: Array[FloatT],
        *,
        need_dx: bool = True,
        frozen: Collection[str] = (),
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        """``(grads, dx)``; layers named in ``frozen`` get no grads (they are left out of the tree)."""
        grads: dict[str, FrozenTree[FloatT]] = {}
        layers = tuple(self.named_layers())
        # Without need_dx, stop at the first layer that learns (has params and
        # is not frozen): nothing before it has anything to learn, and its own
        # dx is not needed. A frozen base below the head is never visited.
        learns = [i for i, (n, _) in enumerate(layers) if n in params and n not in frozen]
        if not need_dx and not learns:
            return FrozenTree(grads), no_dx(dy)
        first = 0 if need_dx else learns[0]
        for i in range(len(layers) - 1, first - 1, -1):
            name, layer = layers[i]
            try:
                g, dy = layer.backward(
                    params.subtree(name), cache.subtree(name), dy, need_dx=need_dx or i > first
                )
            except (ShapeError, TreeStructureError) as e:
                raise type(e)(_where(name, layer, e)) from None
            if len(g) and name not in frozen:
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


def _layer_shapes(layer: Layer, in_shape: Shape) -> tuple[Shape, dict[str, Shape]]:
    if isinstance(layer, Sequential):
        shape, leaves = in_shape, {}
        for name, sub in layer.named_layers():
            try:
                shape, sub_leaves = shapes(sub, shape)
            except ShapeError as e:
                raise ShapeError(_where(name, sub, e)) from None
            leaves.update({f"{name}/{path}": s for path, s in sub_leaves.items()})
        return shape, leaves
    rule = getattr(layer, "shapes", None)
    if callable(rule):
        out, leaf_shapes = rule(in_shape)
        return tuple(out), {str(k): tuple(v) for k, v in leaf_shapes.items()}
    # A layer without a shape rule (e.g. a user's): build it once; the result is cached.
    out, params = layer.init(Key(0), in_shape, np.float64)
    return tuple(out), {path: a.shape for path, a in tree_flatten(params).items()}


@functools.lru_cache(maxsize=256)
def _cached_shapes(layer: Layer, in_shape: Shape) -> tuple[Shape, tuple[tuple[str, Shape], ...]]:
    out, leaves = _layer_shapes(layer, in_shape)
    return out, tuple(sorted(leaves.items()))


def shapes(model: Layer, in_shape: Shape) -> tuple[Shape, dict[str, Shape]]:
    """``(out_shape, {param path: shape})`` of ``model`` on inputs ``(batch, *in_shape)``; no arrays built.

    Raises:
        ShapeError: the model does not fit ``in_shape`` (the message names the layer).

    >>> import funcnn as fn
    >>> shapes(fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Dense(2)), (3,))
    ((2,), {'dense_0/b': (4,), 'dense_0/w': (3, 4), 'dense_1/b': (2,), 'dense_1/w': (4, 2)})
    """
    shape = tuple(int(d) for d in in_shape)
    try:
        out, leaves = _cached_shapes(model, shape)  # type: ignore[arg-type]  # specs are frozen, so hashable
    except TypeError as e:  # an unhashable user spec: no cache
        if "unhashable" not in str(e):
            raise
        out, found = _layer_shapes(model, shape)
        return out, dict(sorted(found.items()))
    return out, dict(leaves)


def output_shape(model: Layer, in_shape: Shape) -> Shape:
    """The output shape (without the batch axis) for inputs of ``in_shape``, without data or weights."""
    return shapes(model, in_shape)[0]


def param_shapes(model: Layer, in_shape: Shape) -> dict[str, Shape]:
    """``{path: shape}`` of the params :func:`init` would build, sorted by path; no arrays built."""
    return shapes(model, in_shape)[1]


def param_count(model: Layer, in_shape: Shape) -> int:
    """The number of scalars in the params of ``model`` on ``in_shape``; no arrays built.

    >>> import funcnn as fn
    >>> param_count(fn.Sequential(fn.Dense(4), fn.Dense(2)), (3,))
    26
    """
    return sum(math.prod(s) for s in param_shapes(model, in_shape).values())


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


# Bytes of outputs and caches one inference pass may hold (see eval_batch_size): small
# enough that a pass's activations stay in a typical L3 cache. Larger passes are not
# faster: the README's CNN predicts 2x slower at 265 rows (64 MiB) than at 66 (16 MiB).
EVAL_BUDGET_BYTES = 16 * 2**20


def _check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be None (chosen by memory) or an int >= 1, got batch_size={batch_size!r}")


def eval_batch_size(
    model: Layer, params: FrozenTree[FloatT], x: Array[FloatT], *, budget: int = EVAL_BUDGET_BYTES
) -> int:
    """Rows per inference pass so that one pass's outputs and caches fit in ``budget`` bytes.

    One row of ``x`` is run first (inference mode) and the bytes of its output
    and every cache leaf are counted: a measurement, so a user's layer is
    sized like a built-in one. A convolution's receptive-field matrix and the
    activations of the first layers are most of it (about 250 KB per MNIST
    image for the README's CNN, so 66 rows in the default 16 MiB; about 6 KB
    and 2,800 rows for a 784-256-128-10 MLP).

    Args:
        model: the model spec.
        params: its params.
        x: ``(n, *in_shape)`` inputs in the params' dtype (only the first row is run).
        budget: bytes one pass may hold.

    Returns:
        An int in ``[1, n]``.
    """
    n = int(x.shape[0])
    if n <= 1:
        return 1
    y, cache = model.forward(params, x[:1], train=False)
    row = int(y.nbytes) + sum(int(leaf.nbytes) for leaf in tree_leaves(cache))
    return max(1, min(n, budget // max(row, 1)))


def _default_rows(model: Layer, params: FrozenTree[FloatT], x: Array[FloatT]) -> int:
    """:func:`eval_batch_size`, or 256 rows at most if the probe row fails.

    A bad input then fails again in the first pass, whose error message shows
    the input's own shape for inputs of up to 256 rows (not the probe's one row).
    """
    try:
        return eval_batch_size(model, params, x)
    except (ShapeError, TreeStructureError, MissingRngError):
        return min(int(x.shape[0]), 256)


def predict(
    model: Layer, params: FrozenTree[FloatT], x: Array[FloatT] | object, *, batch_size: int | None = None
) -> Array[FloatT]:
    """``model``'s output ``(n, *out_shape)`` in inference mode (no dropout, no cache kept), in bounded batches.

    The rows are run ``batch_size`` at a time (default: as many as fit in
    :data:`EVAL_BUDGET_BYTES` of activations, see :func:`eval_batch_size`), so
    memory grows with the batch, not with ``n``. Each row's output is the same
    computation whatever the batch, but BLAS sums a product in an order that
    depends on the number of rows, so outputs of different batch sizes agree to
    float rounding (a few units in the last place), not bit for bit. Runs with
    funcnn's BLAS thread policy (:mod:`funcnn.thread_policy`).

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(2))
    >>> params = fn.init(model, fn.key(0), in_shape=(3,))
    >>> x = np.ones((5, 3))
    >>> bool(np.allclose(predict(model, params, x, batch_size=2), predict(model, params, x)))
    True
    """
    _check_batch_size(batch_size)
    xs = _as_input(params, x)
    n = xs.shape[0]
    with compute_threads():
        size = batch_size if batch_size is not None else _default_rows(model, params, xs)
        if size >= n:
            y, _ = model.forward(params, xs, train=False)
            return y
        first: Array[FloatT] = model.forward(params, xs[:size], train=False)[0]
        out = np.empty((n, *first.shape[1:]), dtype=first.dtype)
        out[:size] = first
        for start in range(size, n, size):
            out[start : start + size] = model.forward(params, xs[start : start + size], train=False)[0]
        out.flags.writeable = False
        return out
