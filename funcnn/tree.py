"""Immutable trees of read-only arrays: params, grads, caches, optimizer buffers.

A :class:`FrozenTree` is a ``Mapping[str, array | FrozenTree]``. Keys are
Python identifiers; a *path* joins them with ``/`` (``"dense_0/w"``). Trees are
built once and never changed: updates return new trees that share untouched
branches. Arrays inside are read-only (``flags.writeable`` is False).

Structures are compared by their sorted set of paths (plus shapes and dtypes),
never by container type or insertion order. Trees have no value ``==``: use
:func:`tree_equal` or :func:`tree_allclose`.

>>> import numpy as np
>>> t = freeze({"dense_0": {"w": np.zeros((2, 3)), "b": np.zeros(3)}})
>>> tree_paths(t)
['dense_0/b', 'dense_0/w']
>>> t2 = tree_set(t, "dense_0/b", np.ones(3))
>>> float(tree_get(t, "dense_0/b").sum()), float(tree_get(t2, "dense_0/b").sum())
(0.0, 3.0)
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any, Generic, TypeAlias, Union, cast

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import FloatT
from funcnn.errors import TreeStructureError

__all__ = [
    "FrozenTree",
    "LeafSpec",
    "TreeDiff",
    "assert_same_structure",
    "freeze",
    "leaf_specs",
    "map_mirrored",
    "thaw",
    "tree_allclose",
    "tree_diff",
    "tree_dtype",
    "tree_equal",
    "tree_flatten",
    "tree_get",
    "tree_leaves",
    "tree_map",
    "tree_paths",
    "tree_set",
    "tree_size",
    "tree_unflatten",
]

Node: TypeAlias = Union[NDArray[FloatT], "FrozenTree[FloatT]"]


def _own(a: NDArray[FloatT]) -> NDArray[FloatT]:
    """Mark an array the library has just created read-only (no copy)."""
    a.flags.writeable = False
    return a


class FrozenTree(Mapping[str, Node[FloatT]], Generic[FloatT]):
    """An immutable mapping from identifier keys to read-only arrays or subtrees."""

    __slots__ = ("_data",)
    _data: dict[str, Node[FloatT]]

    def __init__(self, data: Mapping[str, Node[FloatT]] | None = None) -> None:
        # Trusted constructor: values must already be read-only arrays or
        # FrozenTrees. Use :func:`freeze` for anything that comes from outside.
        object.__setattr__(self, "_data", dict(data) if data else {})

    def __getitem__(self, name: str) -> Node[FloatT]:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # The Mapping mixins go through __getitem__ in Python; the dict's own
    # methods are much faster in the training loop, and their views are read-only.
    def __contains__(self, name: object) -> bool:
        return name in self._data

    def keys(self) -> KeysView[str]:
        return self._data.keys()

    def values(self) -> ValuesView[Node[FloatT]]:
        return self._data.values()

    def items(self) -> ItemsView[str, Node[FloatT]]:
        return self._data.items()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FrozenTree is immutable; use tree_set or tree_map to make a new tree")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("FrozenTree is immutable")

    __hash__ = None  # type: ignore[assignment]  # no value hash: arrays make it ambiguous

    def __eq__(self, other: object) -> bool:
        raise TypeError("FrozenTree has no ==; use funcnn.tree_equal or funcnn.tree_allclose")

    def __ne__(self, other: object) -> bool:
        raise TypeError("FrozenTree has no !=; use funcnn.tree_equal or funcnn.tree_allclose")

    def __reduce__(
        self,
    ) -> tuple[Callable[[dict[str, Node[FloatT]]], FrozenTree[FloatT]], tuple[dict[str, Node[FloatT]]]]:
        # Unpickled arrays come back writeable: _unpickle makes them read-only again.
        return (_unpickle, (self._data,))

    def __repr__(self) -> str:
        if not self._data:
            return "FrozenTree({})"
        parts = [f"{path}: {a.dtype}{list(a.shape)}" for path, a in tree_flatten(self).items()]
        return "FrozenTree({" + ", ".join(parts) + "})"

    def leaf(self, name: str) -> NDArray[FloatT]:
        """The array stored under ``name`` (raises if it is missing or a subtree)."""
        node = self._data.get(name)
        if not isinstance(node, np.ndarray):  # missing or a subtree (cheaper than an ABC isinstance)
            raise TreeStructureError(
                f"expected an array at {name!r}, got {_describe(node)}; keys are {sorted(self._data)}"
            )
        return node

    def subtree(self, name: str) -> FrozenTree[FloatT]:
        """The subtree under ``name``; an empty tree if absent (param-free layers)."""
        node = self._data.get(name)
        if node is None:
            return _EMPTY
        if not isinstance(node, FrozenTree):
            raise TreeStructureError(f"expected a subtree at {name!r}, got an array of shape {node.shape}")
        return node


_EMPTY: FrozenTree[Any] = FrozenTree()  # immutable, so one shared instance serves every param-free layer


def _unpickle(data: dict[str, Node[FloatT]]) -> FrozenTree[FloatT]:
    for node in data.values():
        if not isinstance(node, FrozenTree):
            node.flags.writeable = False  # a fresh copy made by unpickling: freeze in place
    return FrozenTree(data)


def _describe(node: object) -> str:
    return "nothing" if node is None else "a subtree"


def _check_key(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise TreeStructureError(f"tree keys must be Python identifiers, got {name!r} at {where or '<root>'}")
    return name


def freeze(obj: Mapping[str, object], _where: str = "") -> FrozenTree[FloatT]:
    """A FrozenTree from any nested mapping of arrays.

    Already-frozen subtrees are reused as they are (zero copy); read-only arrays
    are shared; a writeable array is copied once and the copy made read-only, so
    later writes by the caller to their array cannot reach the tree.
    """
    if isinstance(obj, FrozenTree):
        return cast(FrozenTree[FloatT], obj)
    if not isinstance(obj, Mapping):
        raise TreeStructureError(f"freeze expects a mapping, got {type(obj).__name__}")
    out: dict[str, Node[FloatT]] = {}
    for name, value in obj.items():
        path = f"{_where}/{name}" if _where else str(name)
        _check_key(name, path)
        if isinstance(value, Mapping):
            out[name] = freeze(value, path)
        elif isinstance(value, np.ndarray):
            a = value if not value.flags.writeable else _own(value.copy())
            out[name] = cast(NDArray[FloatT], a)
        else:
            raise TreeStructureError(f"tree leaves must be numpy arrays, got {type(value).__name__} at {path}")
    return FrozenTree(out)


def thaw(tree: Mapping[str, object]) -> dict[str, object]:
    """Nested plain dicts holding writeable copies of every array (escape hatch)."""
    out: dict[str, object] = {}
    for name, value in tree.items():
        out[name] = thaw(value) if isinstance(value, Mapping) else np.array(value, copy=True)
    return out


def tree_flatten(tree: FrozenTree[FloatT], prefix: str = "") -> dict[str, NDArray[FloatT]]:
    """``{path: array}`` for every leaf, in sorted path order."""
    out: dict[str, NDArray[FloatT]] = {}
    for name in sorted(tree):
        node = tree[name]
        path = f"{prefix}/{name}" if prefix else name
        if isinstance(node, FrozenTree):
            out.update(tree_flatten(node, path))
        else:
            out[path] = node
    return out


def tree_unflatten(flat: Mapping[str, NDArray[FloatT]], *, empty: Iterable[str] = ()) -> FrozenTree[FloatT]:
    """The inverse of :func:`tree_flatten` (arrays are frozen like :func:`freeze`).

    ``empty`` lists paths of empty subtrees to keep (a flat mapping cannot hold them).
    This is the one nested-insert routine of funcnn (checkpoints decode trees with it).
    """
    nested: dict[str, object] = {}
    items: list[tuple[str, object]] = [*flat.items(), *((path, {}) for path in empty)]
    for path, value in items:
        keys = path.split("/")
        node = nested
        for k in keys[:-1]:
            child = node.setdefault(k, {})
            if not isinstance(child, dict):
                raise TreeStructureError(f"path {path!r} passes through a leaf at {k!r}")
            node = child
        if keys[-1] in node:
            raise TreeStructureError(f"path {path!r} is both a leaf and a subtree")
        node[keys[-1]] = value
    return freeze(nested)


def tree_paths(tree: FrozenTree[FloatT]) -> list[str]:
    """Every leaf path, sorted."""
    return list(tree_flatten(tree))


def tree_leaves(tree: FrozenTree[FloatT]) -> list[NDArray[FloatT]]:
    """Every leaf array, in sorted path order."""
    return list(tree_flatten(tree).values())


def tree_size(tree: FrozenTree[FloatT]) -> int:
    """The total number of scalars in the tree (e.g. a model's parameter count)."""
    return sum(int(a.size) for a in tree_leaves(tree))


def tree_get(tree: FrozenTree[FloatT], path: str) -> NDArray[FloatT]:
    """The leaf at ``path`` (``"dense_0/w"``)."""
    node: Node[FloatT] = tree
    for k in path.split("/"):
        if not isinstance(node, FrozenTree) or k not in node:
            raise TreeStructureError(f"no leaf at path {path!r}; paths are {tree_paths(tree)}")
        node = node[k]
    if isinstance(node, FrozenTree):
        raise TreeStructureError(f"path {path!r} is a subtree, not a leaf")
    return node


def tree_set(tree: FrozenTree[FloatT], path: str, value: NDArray[FloatT]) -> FrozenTree[FloatT]:
    """A new tree equal to ``tree`` but with ``value`` at ``path``.

    Untouched branches are shared. The path must exist and the new value must
    have the old shape and dtype.
    """
    old = tree_get(tree, path)
    if value.shape != old.shape or value.dtype != old.dtype:
        raise TreeStructureError(
            f"tree_set at {path!r}: expected {old.dtype}{list(old.shape)}, got {value.dtype}{list(value.shape)}"
        )
    new = value if not value.flags.writeable else _own(value.copy())
    return _replace(tree, path.split("/"), new)


def _replace(tree: FrozenTree[FloatT], keys: list[str], value: NDArray[FloatT]) -> FrozenTree[FloatT]:
    data = dict(tree)
    if len(keys) == 1:
        data[keys[0]] = value
    else:
        data[keys[0]] = _replace(tree.subtree(keys[0]), keys[1:], value)
    return FrozenTree(data)


LeafSpec: TypeAlias = tuple[tuple[int, ...], np.dtype[Any]]


def leaf_specs(tree: FrozenTree[FloatT]) -> dict[str, LeafSpec]:
    """``{path: (shape, dtype)}`` of every leaf: a tree's structure without its values."""
    return {path: (a.shape, a.dtype) for path, a in tree_flatten(tree).items()}


@attrs.frozen
class TreeDiff:
    """How ``other`` differs from ``ref`` (see :func:`tree_diff`); empty when they match."""

    missing: tuple[str, ...]  # paths of ref that other lacks
    extra: tuple[str, ...]  # paths of other that ref lacks
    shape: tuple[str, ...]  # common paths whose shapes differ
    dtype: tuple[str, ...]  # common paths with the same shape but another dtype

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.shape or self.dtype)

    def mismatches(self, ref: Mapping[str, LeafSpec], other: Mapping[str, LeafSpec], prefix: str = "") -> list[str]:
        """``"<prefix/path>: expected shape (2, 3), got (2, 4)"`` (or dtype) for each common path that differs."""
        lines = []
        for path in sorted((*self.shape, *self.dtype)):
            i, what = (0, "shape") if path in self.shape else (1, "dtype")
            where = f"{prefix}/{path}" if prefix else path
            lines.append(f"{where}: expected {what} {ref[path][i]}, got {other[path][i]}")
        return lines


def tree_diff(ref: Mapping[str, LeafSpec], other: Mapping[str, LeafSpec], *, check_dtype: bool = True) -> TreeDiff:
    """Compare two structures ``{path: (shape, dtype)}`` (from :func:`leaf_specs` or a template).

    The one structure comparison of funcnn: by sorted paths, shapes and dtypes,
    never by container type or order. Templates need no arrays.

    >>> import numpy as np
    >>> a = {"w": ((2, 3), np.dtype("float32")), "b": ((3,), np.dtype("float32"))}
    >>> tree_diff(a, {"w": ((2, 4), np.dtype("float32")), "c": ((1,), np.dtype("float32"))})
    TreeDiff(missing=('b',), extra=('c',), shape=('w',), dtype=())
    """
    common = sorted(set(ref) & set(other))
    shape = tuple(p for p in common if tuple(ref[p][0]) != tuple(other[p][0]))
    dtype = tuple(p for p in common if check_dtype and p not in shape and ref[p][1] != other[p][1])
    return TreeDiff(tuple(sorted(set(ref) - set(other))), tuple(sorted(set(other) - set(ref))), shape, dtype)


def _structure_problems(
    ref: FrozenTree[FloatT], other: FrozenTree[FloatT], *, check_dtype: bool = True
) -> list[str]:
    a, b = leaf_specs(ref), leaf_specs(other)
    diff: TreeDiff = tree_diff(a, b, check_dtype=check_dtype)
    problems = []
    if diff.missing:
        problems.append("missing paths: " + ", ".join(diff.missing))
    if diff.extra:
        problems.append("extra paths: " + ", ".join(diff.extra))
    return problems + diff.mismatches(a, b)


def assert_same_structure(
    ref: FrozenTree[FloatT],
    other: FrozenTree[FloatT],
    *,
    names: tuple[str, str] = ("params", "grads"),
    check_dtype: bool = True,
) -> None:
    """Raise :class:`TreeStructureError` unless both trees have the same paths and shapes.

    The message lists every missing path, extra path and shape (or dtype)
    mismatch at once, from the point of view of ``ref``.
    """
    problems = _structure_problems(ref, other, check_dtype=check_dtype)
    if problems:
        raise TreeStructureError(f"{names[1]} do not mirror {names[0]}: " + "; ".join(problems))


def tree_map(
    f: Callable[..., NDArray[FloatT]], tree: FrozenTree[FloatT], *rest: FrozenTree[FloatT]
) -> FrozenTree[FloatT]:
    """Apply ``f`` leaf by leaf to ``tree`` and the trees in ``rest`` (same structure).

    The arrays ``f`` returns are frozen in place (they are assumed to be new).
    """
    for other in rest:
        if tree_paths(other) != tree_paths(tree):
            assert_same_structure(tree, other, names=("first tree", "other tree"), check_dtype=False)
    return _map(f, tree, rest)


def _map(
    f: Callable[..., NDArray[FloatT]], tree: FrozenTree[FloatT], rest: tuple[FrozenTree[FloatT], ...]
) -> FrozenTree[FloatT]:
    out: dict[str, Node[FloatT]] = {}
    for name, node in tree.items():
        others = [o[name] for o in rest]
        if isinstance(node, FrozenTree):
            out[name] = _map(f, node, cast(tuple[FrozenTree[FloatT], ...], tuple(others)))
        else:
            result = f(node, *others)
            if result.flags.writeable:
                # A fresh array is frozen in place; a writeable view of someone
                # else's data is copied first so the tree never aliases it.
                result = _own(result if result.base is None else result.copy())
            out[name] = result
    return FrozenTree(out)


_DEFAULT_DTYPE: np.dtype[Any] = np.dtype(np.float64)


def tree_dtype(tree: FrozenTree[FloatT]) -> np.dtype[FloatT]:
    """The dtype of the tree's leaves (float64 for an empty tree)."""
    for leaf in tree_leaves(tree):
        return leaf.dtype
    return _DEFAULT_DTYPE


def tree_equal(a: FrozenTree[FloatT], b: FrozenTree[FloatT]) -> bool:
    """True if both trees have the same paths and bit-identical arrays (and dtypes)."""
    fa, fb = tree_flatten(a), tree_flatten(b)
    return fa.keys() == fb.keys() and all(
        fa[p].dtype == fb[p].dtype and np.array_equal(fa[p], fb[p]) for p in fa
    )


def tree_allclose(a: FrozenTree[FloatT], b: FrozenTree[FloatT], *, rtol: float = 1e-7, atol: float = 0.0) -> bool:
    """True if both trees have the same paths and element-wise close arrays."""
    fa, fb = tree_flatten(a), tree_flatten(b)
    return fa.keys() == fb.keys() and all(
        fa[p].shape == fb[p].shape and np.allclose(fa[p], fb[p], rtol=rtol, atol=atol) for p in fa
    )


# --- a structure-checked, multi-output map over mirrored trees (the optimizers' hot path) ---


class _Mismatch(Exception):
    """Internal: two trees that must mirror each other do not (reported by the caller)."""


def _walk(
    f: Callable[..., tuple[NDArray[FloatT], ...]],
    n_out: int,
    tree: FrozenTree[FloatT],
    rest: Sequence[FrozenTree[FloatT]],
    leaf_names: bool,
    add_first: bool,
) -> list[FrozenTree[FloatT]]:
    # The hot path of every training step: kept lean (dict-backed items(),
    # ndarray checks rather than the FrozenTree ABC's slower isinstance).
    size = len(tree)
    for other in rest:
        if not isinstance(other, FrozenTree) or len(other) != size:
            raise _Mismatch
    outs: list[dict[str, FrozenTree[FloatT] | NDArray[FloatT]]] = [{} for _ in range(n_out)]
    indexed = tuple(enumerate(outs))
    for name, node in tree.items():
        try:
            others = [o[name] for o in rest]
        except KeyError:
            raise _Mismatch from None
        if not isinstance(node, np.ndarray):  # a subtree; the others are checked at the next level
            subs = _walk(f, n_out, node, others, leaf_names, add_first)  # type: ignore[arg-type]
            for i, out in indexed:
                out[name] = subs[i]
            continue
        shape, dtype = node.shape, node.dtype
        for o in others:
            if not isinstance(o, np.ndarray) or o.shape != shape or o.dtype != dtype:
                raise _Mismatch
        results = f(name, node, *others) if leaf_names else f(node, *others)
        if len(results) != n_out:
            raise ValueError(f"map_mirrored: f returned {len(results)} arrays, expected n_out={n_out}")
        if add_first:
            first = results[0]
            first += node  # ``update + param`` on the fresh update array: the same bits as ``param + update``
        for i, out in indexed:
            result = results[i]
            result.flags.writeable = False  # fresh arrays (or inputs that are read-only already)
            out[name] = result
    return [FrozenTree(out) for out in outs]


def map_mirrored(
    f: Callable[..., tuple[NDArray[FloatT], ...]],
    n_out: int,
    tree: FrozenTree[FloatT],
    *rest: FrozenTree[FloatT],
    names: tuple[str, ...] = ("params", "grads"),
    leaf_names: bool = False,
    add_first: bool = False,
) -> tuple[FrozenTree[FloatT], ...]:
    """Apply ``f`` leaf by leaf to trees that mirror ``tree``; ``f`` returns ``n_out`` new arrays.

    ``f(leaf, *others)`` gets one array per tree (``f(name, leaf, *others)``
    with ``leaf_names=True``, ``name`` being the leaf's key, e.g. ``"b"``).
    With ``add_first=True`` the leaf of ``tree`` is added in place to the
    first array ``f`` returns (which must then be new): an optimizer's fused
    ``update`` + :func:`apply_updates` in one pass (see :func:`apply_step`).

    The structure is checked during the walk (same keys, shapes and dtypes),
    which costs next to nothing; a mismatch raises :class:`TreeStructureError`
    listing every missing or extra path, named by ``names``. The arrays ``f``
    returns must be new (they are made read-only in place) or read-only inputs.
    """
    try:
        return tuple(_walk(f, n_out, tree, rest, leaf_names, add_first))
    except _Mismatch:
        for i, other in enumerate(rest):
            other_name = names[i + 1] if i + 1 < len(names) else f"tree {i + 1}"
            if not isinstance(other, FrozenTree):
                raise TreeStructureError(f"{other_name}: expected a FrozenTree, got {type(other).__name__}") from None
            assert_same_structure(tree, other, names=(names[0], other_name))
        raise TreeStructureError(f"{names[1:]} do not mirror {names[0]}") from None
