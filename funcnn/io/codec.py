"""Values to manifest nodes plus named arrays, and back: the checkpoint's value codec.

A value is written generically, field by field: specs become configs (see
:mod:`funcnn.config`; only registered kinds), keys their seed and path,
:class:`~funcnn.tree.FrozenTree` values arrays named ``<where>/<path>``, an
:class:`~funcnn.optim.OptState` its ``count`` plus its buffers stored right
under its own prefix (``opt_state/velocity/dense_0/w``), plain numbers stay in
the manifest, and the records of :data:`RECORDS` (``TrainState``, ``History``,
``OptState``) are written field by field the same way. A tree met twice (the
best params are often the params) is stored once and referenced.

Decoding rebuilds the same value, checking each record field against its
annotation; every problem is a :class:`~funcnn.errors.CheckpointError` naming
the file and the place in the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.config import JSON, field_hints, from_config, hint_name, is_spec, matches_hint, to_config
from funcnn.errors import CheckpointError, ConfigError
from funcnn.io.container import ARRAY_KINDS, MANIFEST, Arrays, fail
from funcnn.optim import OptState
from funcnn.rng import Key
from funcnn.training import History, TrainState
from funcnn.tree import FrozenTree, tree_flatten, tree_unflatten

__all__ = ["RECORDS", "Decoder", "encode"]

# The non-spec attrs classes a checkpoint may hold, by the name written in the manifest.
RECORDS: Mapping[str, type] = {cls.__qualname__: cls for cls in (TrainState, History, OptState)}


def _init_fields(cls: type) -> list[attrs.Attribute[object]]:
    return [f for f in attrs.fields(cls) if f.init]


def join(prefix: str, name: str) -> str:
    """``prefix/name``, or ``name`` at the top."""
    return f"{prefix}/{name}" if prefix else name


def _child(cls: type, field: attrs.Attribute[object], where: str) -> str:
    # An optimizer state's buffers are stored right under its own prefix:
    # opt_state/velocity/dense_0/w rather than opt_state/buffers/velocity/...
    return where if (cls is OptState and field.name == "buffers") else join(where, field.name)


def _put(arrays: Arrays, name: str, a: NDArray[Any]) -> None:
    if a.dtype.kind not in ARRAY_KINDS:
        raise CheckpointError(f"save: {name}: only numeric arrays can be stored, got dtype {a.dtype}")
    if name in arrays or name == MANIFEST:
        raise CheckpointError(f"save: two arrays would be stored under the name {name!r}")
    arrays[name] = a


def _empty_subtrees(tree: FrozenTree[Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for name in sorted(tree):
        node = tree[name]
        if isinstance(node, FrozenTree):
            path = join(prefix, name)
            out.extend(_empty_subtrees(node, path) if len(node) else [path])
    return out


def encode(value: object, where: str) -> tuple[JSON, Arrays]:
    """The manifest node of ``value`` and its arrays, named under ``where``.

    Raises:
        CheckpointError: a field holds something that cannot be stored (a lambda,
            an unregistered spec kind, an object array), naming where it is.
    """
    sink = _Sink()
    return sink.encode(value, where), sink.arrays


class _Sink:
    """Where encoding puts arrays, and the trees already written (stored once, referenced after)."""

    __slots__ = ("arrays", "trees")

    def __init__(self) -> None:
        self.arrays: Arrays = {}
        self.trees: dict[int, tuple[str, FrozenTree[Any]]] = {}

    def encode(self, value: object, where: str) -> JSON:
        if isinstance(value, np.generic):  # before float: np.float64 is a float subclass, and its type must survive
            if value.dtype.kind not in ARRAY_KINDS:
                raise CheckpointError(f"save: {where}: cannot store a numpy scalar of dtype {value.dtype}")
            return {"type": "scalar", "dtype": str(value.dtype), "value": value.item()}
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, FrozenTree):
            return self._tree(value, where)
        if isinstance(value, np.ndarray):
            _put(self.arrays, where, value)
            return {"type": "array"}
        if isinstance(value, Key):
            return {"type": "key", "seed": value.seed, "path": list(value.path)}
        if is_spec(value):
            try:
                return {"type": "spec", "config": to_config(value)}
            except ConfigError as e:
                raise CheckpointError(f"save: {where}: {e}") from None
        if attrs.has(type(value)):
            return self._record(value, where)
        if isinstance(value, tuple | list):
            items = [self.encode(v, join(where, str(i))) for i, v in enumerate(value)]
            return {"type": "tuple" if isinstance(value, tuple) else "list", "items": items}
        if isinstance(value, Mapping):
            for k in value:
                if not isinstance(k, str) or not k.isidentifier():
                    raise CheckpointError(f"save: {where}: mapping keys must be identifiers, got {k!r}")
            return {"type": "dict", "items": {k: self.encode(v, join(where, k)) for k, v in value.items()}}
        raise CheckpointError(
            f"save: {where or 'state'}: cannot store a value of type {type(value).__name__} ({value!r}); "
            "checkpoints hold specs, keys, trees, arrays and plain numbers only"
        )

    def _tree(self, value: FrozenTree[Any], where: str) -> JSON:
        seen = self.trees.get(id(value))
        if seen is not None and len(value):  # e.g. best_params is params: store it once
            return {"type": "tree", "same_as": seen[0]}
        self.trees[id(value)] = (where, value)  # the tree is kept alive, so its id stays unique
        flat = tree_flatten(value)
        for path, a in flat.items():
            _put(self.arrays, join(where, path), a)
        return {"type": "tree", "leaves": list(flat), "empty": list(_empty_subtrees(value))}

    def _record(self, value: object, where: str) -> JSON:
        cls: type = type(value)
        if RECORDS.get(cls.__qualname__) is not cls:
            raise CheckpointError(
                f"save: {where or 'state'}: cannot store a {cls.__qualname__}; checkpoints hold specs (registered "
                f"with fn.register_kind), keys, trees, arrays, plain numbers and {', '.join(sorted(RECORDS))}"
            )
        fields: dict[str, JSON] = {}
        for field in _init_fields(cls):  # fields with init=False are derived from the others
            fields[field.alias or field.name] = self.encode(getattr(value, field.name), _child(cls, field, where))
        return {"type": "record", "class": cls.__qualname__, "fields": fields}


@attrs.frozen
class Decoder:
    """Rebuilds values from manifest nodes and the file's verified arrays."""

    file: Path
    arrays: Arrays
    trees: dict[str, FrozenTree[Any]] = attrs.field(factory=dict)  # decoded trees, for "same_as"

    def fail(self, where: str, problem: str) -> CheckpointError:
        return fail(self.file, [f"{where or 'state'}: {problem}"])

    def decode(self, node: object, where: str) -> object:
        """The value of ``node``, whose arrays are named under ``where``."""
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise self.fail(where, f"malformed manifest entry {str(node)[:60]!r}")
        kind = node["type"]
        try:
            return self._decode(kind, node, where)
        except CheckpointError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            raise self.fail(where, f"malformed manifest entry of type {kind!r}: {e}") from None

    def array(self, name: str) -> NDArray[Any]:
        if name not in self.arrays:
            raise self.fail(name, "the manifest refers to an array that is not in the file")
        return self.arrays[name]

    def _decode(self, kind: str, node: dict[str, Any], where: str) -> object:
        if kind == "tree":
            if "same_as" in node:
                ref = self.trees.get(node["same_as"])
                if ref is None:
                    raise self.fail(where, f"refers to a tree {node['same_as']!r} that comes later or not at all")
                return ref
            leaves = {path: self.array(join(where, path)) for path in node["leaves"]}
            tree: FrozenTree[Any] = tree_unflatten(leaves, empty=node.get("empty", []))
            self.trees[where] = tree
            return tree
        if kind == "array":
            return self.array(where)
        if kind == "scalar":
            dtype = np.dtype(node["dtype"])
            if dtype.kind not in ARRAY_KINDS:
                raise self.fail(where, f"scalar of unsupported dtype {dtype}")
            return dtype.type(node["value"])
        if kind == "key":
            return Key(int(node["seed"]), tuple(int(v) for v in node["path"]))
        if kind == "spec":
            try:
                return from_config(node["config"])
            except ConfigError as e:
                raise self.fail(where, str(e)) from None
        if kind in ("tuple", "list"):
            items = [self.decode(v, join(where, str(i))) for i, v in enumerate(node["items"])]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {str(k): self.decode(v, join(where, str(k))) for k, v in node["items"].items()}
        if kind == "record":
            return self._record(node, where)
        raise self.fail(where, f"unknown entry type {kind!r} (written by a newer funcnn?)")

    def _record(self, node: dict[str, Any], where: str) -> object:
        name = node["class"]
        cls = RECORDS.get(name)
        if cls is None:
            raise self.fail(where, f"unknown record class {name!r}; funcnn knows {', '.join(sorted(RECORDS))}")
        fields = {f.alias or f.name: f for f in _init_fields(cls)}
        hints = field_hints(cls)  # the record's annotations: checked like spec fields are
        kwargs: dict[str, object] = {}
        for key, value in node["fields"].items():
            field = fields.get(key)
            if field is None:
                raise self.fail(where, f"{name} has no field {key!r} (written by another funcnn version?)")
            child = _child(cls, field, where)
            kwargs[key] = self.decode(value, child)
            hint = hints.get(field.name)
            if hint is not None and not matches_hint(kwargs[key], hint):
                raise self.fail(child, f"expected {hint_name(hint)}, got {str(kwargs[key])[:60]!r}")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise self.fail(where, f"cannot rebuild {name}: {e}") from None
