"""Checkpoints: training states and trained params on disk, exact and safe.

A checkpoint is one ``.npz`` file (a zip of ``.npy`` members, readable with
``np.load(path, allow_pickle=False)``):

* ``manifest.json``: JSON text with the format tag and version, the funcnn
  version, the dtype, the input shape, every spec as a config (model, loss,
  optimizer, schedules), the key, epoch, step and other plain fields, and for
  every array its shape, dtype and SHA-256;
* one ``.npy`` member per array, named by tree path: ``params/dense_0/w``,
  ``opt_state/mu/dense_0/w``, ``history/cost``, ...

The state is written generically, field by field, whatever fields
:class:`~funcnn.training.TrainState` has: specs become configs, keys their seed
and path, :class:`~funcnn.tree.FrozenTree` fields arrays named
``<field>/<path>``, an :class:`~funcnn.optim.OptState` its ``count`` plus its
buffers as ``opt_state/<path>``, plain numbers stay in the manifest, and other
records (``History``) are written field by field the same way.

Files are written atomically (a temporary file in the same folder, flushed and
fsynced, then ``os.replace``): a crash never leaves a half-written checkpoint
in place of a good one. Loading never unpickles anything, checks every array's
shape, dtype and SHA-256, rebuilds the model from its stored config and checks
the params and optimizer buffers against a template made by ``init``, and
reports every problem at once as a :class:`~funcnn.errors.CheckpointError`.

A run folder holds ``epoch-0005.npz``-style states (see :func:`save_every`)
and ``checkpoint.npz``, the latest one; :func:`load` accepts the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeAlias, TypeGuard, overload

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import FloatT, Shape
from funcnn._version import __version__
from funcnn.config import (
    JSON,
    SPEC_MODULES,
    _hint_name,
    _matches,
    _type_hints,
    attrs_classes,
    from_config,
    is_spec,
    to_config,
)
from funcnn.errors import CheckpointError, ConfigError, ShapeError
from funcnn.layers.base import Layer
from funcnn.network import init
from funcnn.optim import OptState
from funcnn.rng import Key
from funcnn.training import TrainState
from funcnn.tree import FrozenTree, freeze, tree_flatten

__all__ = [
    "FORMAT_VERSION",
    "LATEST",
    "CheckpointInfo",
    "checkpoint_info",
    "epoch_path",
    "list_states",
    "load",
    "load_params",
    "save",
    "save_every",
    "save_params",
]

FORMAT = "funcnn-checkpoint"
FORMAT_VERSION = 1  # bump when the layout changes; load refuses newer versions
MANIFEST = "manifest.json"
LATEST = "checkpoint.npz"  # the latest state in a run folder
_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.npz$")
_RECORD_MODULES = (*SPEC_MODULES, "funcnn.training", "funcnn.rng")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same state gives the same bytes
_ARRAY_KINDS = "biuf"  # bool, ints, floats: never objects, strings or structured dtypes

PathLike: TypeAlias = str | os.PathLike[str]
_Arrays: TypeAlias = dict[str, NDArray[Any]]


# --- encoding --------------------------------------------------------------------------------


def _init_fields(cls: type) -> list[attrs.Attribute[object]]:
    return [f for f in attrs.fields(cls) if f.init]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _put(arrays: _Arrays, name: str, a: NDArray[Any]) -> None:
    if a.dtype.kind not in _ARRAY_KINDS:
        raise CheckpointError(f"save: {name}: only numeric arrays can be stored, got dtype {a.dtype}")
    if name in arrays or name == MANIFEST:
        raise CheckpointError(f"save: two arrays would be stored under the name {name!r}")
    arrays[name] = a


def _empty_subtrees(tree: FrozenTree[Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for name in sorted(tree):
        node = tree[name]
        if isinstance(node, FrozenTree):
            path = _join(prefix, name)
            out.extend(_empty_subtrees(node, path) if len(node) else [path])
    return out


class _Sink:
    """Where encoding puts arrays, and the trees already written (stored once, referenced after)."""

    __slots__ = ("arrays", "trees")

    def __init__(self) -> None:
        self.arrays: _Arrays = {}
        self.trees: dict[int, tuple[str, FrozenTree[Any]]] = {}


def _encode(value: object, where: str, sink: _Sink) -> JSON:
    """The manifest node of ``value``; its arrays go to ``sink`` under ``where``."""
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass, and its type must survive
        if value.dtype.kind not in _ARRAY_KINDS:
            raise CheckpointError(f"save: {where}: cannot store a numpy scalar of dtype {value.dtype}")
        return {"type": "scalar", "dtype": str(value.dtype), "value": value.item()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, FrozenTree):
        seen = sink.trees.get(id(value))
        if seen is not None and len(value):  # e.g. best_params is params: store it once
            return {"type": "tree", "same_as": seen[0]}
        sink.trees[id(value)] = (where, value)  # the tree is kept alive, so its id stays unique
        flat = tree_flatten(value)
        for path, a in flat.items():
            _put(sink.arrays, _join(where, path), a)
        return {"type": "tree", "leaves": list(flat), "empty": list(_empty_subtrees(value))}
    if isinstance(value, np.ndarray):
        _put(sink.arrays, where, value)
        return {"type": "array"}
    if isinstance(value, Key):
        return {"type": "key", "seed": value.seed, "path": list(value.path)}
    if is_spec(value):
        try:
            return {"type": "spec", "config": to_config(value)}
        except ConfigError as e:
            raise CheckpointError(f"save: {where}: {e}") from None
    if attrs.has(type(value)):
        return _encode_record(value, where, sink)
    if isinstance(value, tuple | list):
        items = [_encode(v, _join(where, str(i)), sink) for i, v in enumerate(value)]
        return {"type": "tuple" if isinstance(value, tuple) else "list", "items": items}
    if isinstance(value, Mapping):
        for k in value:
            if not isinstance(k, str) or not k.isidentifier():
                raise CheckpointError(f"save: {where}: mapping keys must be identifiers, got {k!r}")
        return {"type": "dict", "items": {k: _encode(v, _join(where, k), sink) for k, v in value.items()}}
    raise CheckpointError(
        f"save: {where or 'state'}: cannot store a value of type {type(value).__name__} ({value!r}); "
        "checkpoints hold specs, keys, trees, arrays and plain numbers only"
    )


def _encode_record(value: object, where: str, sink: _Sink) -> JSON:
    cls: type = type(value)
    fields: dict[str, JSON] = {}
    for field in _init_fields(cls):  # fields with init=False are derived from the others
        # An optimizer state's buffers are stored right under its own prefix:
        # opt_state/velocity/dense_0/w rather than opt_state/buffers/velocity/...
        child = where if (cls is OptState and field.name == "buffers") else _join(where, field.name)
        fields[field.alias or field.name] = _encode(getattr(value, field.name), child, sink)
    return {"type": "record", "class": cls.__qualname__, "fields": fields}


def _sha256(a: NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _manifest(content: str, dtype: np.dtype[Any], in_shape: Shape, arrays: _Arrays) -> dict[str, JSON]:

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "funcnn_version": __version__,
        "content": content,
        "dtype": str(dtype),
        "in_shape": list(in_shape),
        "arrays": {
            name: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": _sha256(a)}
            for name, a in sorted(arrays.items())
        },
    }


# --- writing ---------------------------------------------------------------------------------


def _zipinfo(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.external_attr = 0o644 << 16  # rw-r--r-- when unzipped
    return info


# A list of integers that json.dumps spread over lines (JSON strings never hold raw newlines).
_INT_LIST = re.compile(r"\[\n\s*(-?\d+(?:,\n\s*-?\d+)*)\n\s*\]")


def _dumps(manifest: dict[str, JSON]) -> bytes:
    text = json.dumps(manifest, indent=1)
    text = _INT_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    return text.encode("utf-8")


def _write_npz(f: IO[bytes], manifest: dict[str, JSON], arrays: _Arrays) -> None:
    text = _dumps(manifest)
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_zipinfo(MANIFEST), text)
        for name in sorted(arrays):
            with zf.open(_zipinfo(name + ".npy"), "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, then ``os.replace`` it.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible everywhere)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _check_in_shape(model: Layer, params: FrozenTree[Any], in_shape: Shape, dtype: np.dtype[Any]) -> None:
    problems = _template_problems(model, params, in_shape, dtype, "params")
    if problems:
        raise ShapeError(
            f"save: the params do not fit {model!r} on inputs of shape {in_shape}: "
            + "; ".join(problems)
            + "; is in_shape right?"
        )


def _resolve_in_shape(state: object, in_shape: Shape | None) -> Shape:
    if in_shape is None:
        in_shape = getattr(state, "in_shape", None)
        if in_shape is None:
            raise ValueError(
                "save: in_shape=... is needed (the input shape without the batch axis, e.g. x.shape[1:]) "
                "so that load can rebuild the model and check the params"
            )
    shape = tuple(int(d) for d in in_shape)
    if any(d <= 0 for d in shape):
        raise ShapeError(f"save: in_shape must hold positive sizes, got in_shape={shape}")
    return shape


def save(path: PathLike, state: TrainState[FloatT], *, in_shape: Shape | None = None) -> Path:
    """Write ``state`` to ``path`` (one ``.npz`` with a JSON manifest), atomically.

    Args:
        path: the file to write (its folder is created if needed).
        state: the training state to store, every field of it.
        in_shape: the model's input shape without the batch axis (``x.shape[1:]``);
            needed to rebuild the model's template on load. May be omitted if
            the state has an ``in_shape`` field.

    Returns:
        The path written.

    Raises:
        ShapeError: the params do not fit the model on ``in_shape``.
        CheckpointError: a field holds something that cannot be stored (e.g. a lambda).
    """
    shape = _resolve_in_shape(state, in_shape)
    _check_in_shape(state.model, state.params, shape, state.dtype)
    sink = _Sink()
    encoded = _encode(state, "", sink)
    arrays = sink.arrays
    manifest = _manifest("train_state", state.dtype, shape, arrays)
    manifest["state"] = encoded
    manifest["arrays"] = manifest.pop("arrays")  # the long table last, for readers of the JSON
    target = Path(path)
    _atomic_write(target, lambda f: _write_npz(f, manifest, arrays))
    return target


def save_params(path: PathLike, model: Layer, params: FrozenTree[FloatT], *, in_shape: Shape) -> Path:
    """Write a trained model (its spec and params only) to ``path``, atomically.

    Share the file; :func:`load_params` gives back ``(model, params)``.

    Raises:
        ShapeError: the params do not fit ``model`` on ``in_shape``.
    """
    shape = _resolve_in_shape(None, in_shape)
    dtype = _params_dtype(params)
    _check_in_shape(model, params, shape, dtype)
    sink = _Sink()
    encoded = _encode(params, "params", sink)
    arrays = sink.arrays
    manifest = _manifest("params", dtype, shape, arrays)
    try:
        manifest["model"] = to_config(model)
    except ConfigError as e:
        raise CheckpointError(f"save_params: {e}") from None
    manifest["params"] = encoded
    manifest["arrays"] = manifest.pop("arrays")
    target = Path(path)
    _atomic_write(target, lambda f: _write_npz(f, manifest, arrays))
    return target


def _params_dtype(params: FrozenTree[Any]) -> np.dtype[Any]:
    dtypes = {a.dtype for a in tree_flatten(params).values()}
    if len(dtypes) > 1:
        raise CheckpointError(f"save: params mix dtypes {sorted(map(str, dtypes))}")
    return dtypes.pop() if dtypes else np.dtype(np.float64)


# --- reading ---------------------------------------------------------------------------------


def _resolve_file(path: PathLike) -> Path:
    p = Path(path)
    if p.is_dir():
        latest = p / LATEST
        if not latest.is_file():
            found = ", ".join(q.name for q in list_states(p)[-3:]) or "none"
            raise CheckpointError(f"{p}: a folder without {LATEST} (epoch states found: {found})")
        return latest
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    return p


def _fail(file: Path, problems: list[str]) -> CheckpointError:
    if len(problems) == 1:
        return CheckpointError(f"{file}: {problems[0]}")
    return CheckpointError(f"{file}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems))


def _read_manifest(file: Path, npz: Any) -> dict[str, Any]:
    if MANIFEST not in npz:
        raise _fail(file, [f"not a funcnn checkpoint: the .npz has no {MANIFEST} (a plain numpy archive?)"])
    raw = npz[MANIFEST]
    if not isinstance(raw, bytes):
        raise _fail(file, [f"not a funcnn checkpoint: {MANIFEST} is not JSON text"])
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _fail(file, [f"the manifest is not valid JSON: {e}"]) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _fail(file, [f"not a funcnn checkpoint: the manifest has no format tag {FORMAT!r}"])
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail(file, [f"the manifest has an invalid format_version {version!r}"])
    if version > FORMAT_VERSION:
        raise _fail(
            file,
            [
                f"written in checkpoint format version {version} by funcnn {manifest.get('funcnn_version')}, "
                f"but this funcnn reads format versions up to {FORMAT_VERSION}; upgrade funcnn to load it"
            ],
        )
    return manifest


def _read_arrays(file: Path, npz: Any, manifest: dict[str, Any]) -> _Arrays:
    listed = manifest.get("arrays")
    if not isinstance(listed, dict):
        raise _fail(file, ["the manifest has no 'arrays' table"])
    members = set(npz.files) - {MANIFEST}
    problems: list[str] = []
    missing = sorted(set(listed) - members)
    extra = sorted(members - set(listed))
    if missing:
        problems.append("arrays listed in the manifest but missing from the file: " + ", ".join(missing))
    if extra:
        problems.append("unexpected entries not listed in the manifest (not read): " + ", ".join(extra))
    arrays: _Arrays = {}
    for name in sorted(set(listed) & members):
        meta = listed[name]
        try:
            a = npz[name]
        except ValueError as e:
            if "pickle" in str(e).lower() or "object" in str(e).lower():
                problems.append(f"{name}: holds a pickled Python object; refused (nothing was unpickled)")
            else:
                problems.append(f"{name}: cannot be read: {e}")
            continue
        except (OSError, EOFError, zipfile.BadZipFile) as e:
            problems.append(f"{name}: cannot be read (truncated or corrupt): {e}")
            continue
        if not isinstance(a, np.ndarray) or a.dtype.kind not in _ARRAY_KINDS:
            problems.append(f"{name}: not a numeric .npy array")
            continue
        if not isinstance(meta, dict):
            problems.append(f"{name}: no shape/dtype/sha256 in the manifest")
            continue
        if list(a.shape) != meta.get("shape"):
            problems.append(f"{name}: the manifest says shape {meta.get('shape')}, the file holds {list(a.shape)}")
        elif str(a.dtype) != meta.get("dtype"):
            problems.append(f"{name}: the manifest says dtype {meta.get('dtype')}, the file holds {a.dtype}")
        elif _sha256(a) != meta.get("sha256"):
            problems.append(f"{name}: SHA-256 mismatch: the data changed since it was written (corrupt file?)")
        a.flags.writeable = False  # loaded arrays are owned here: freeze in place, no copy
        arrays[name] = a
    if problems:
        raise _fail(file, problems)
    return arrays


def _open(path: PathLike, *, with_arrays: bool = True) -> tuple[Path, dict[str, Any], _Arrays]:
    """The file, its checked manifest and (optionally) its verified arrays."""
    file = _resolve_file(path)
    try:
        # Our own file object: closed on every path, even when numpy fails to open the archive.
        with open(file, "rb") as f:
            head = f.read(6)
            if head[:2] != b"PK":
                what = "a single .npy array" if head == b"\x93NUMPY" else "something else"
                raise _fail(file, [f"not a funcnn checkpoint: not a zip/.npz archive ({what})"])
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                manifest = _read_manifest(file, npz)
                arrays = _read_arrays(file, npz, manifest) if with_arrays else {}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as e:
        raise _fail(file, [f"truncated or corrupt archive: {e}"]) from None
    for key in ("content", "dtype", "in_shape"):
        if key not in manifest:
            raise _fail(file, [f"the manifest has no {key!r}"])
    return file, manifest, arrays


# --- decoding --------------------------------------------------------------------------------


@attrs.frozen
class _Decoder:
    file: Path
    arrays: _Arrays
    records: Mapping[str, type]
    trees: dict[str, FrozenTree[Any]] = attrs.field(factory=dict)  # decoded trees, for "same_as"

    def fail(self, where: str, problem: str) -> CheckpointError:
        return _fail(self.file, [f"{where or 'state'}: {problem}"])

    def decode(self, node: object, where: str) -> object:
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
            nested: dict[str, Any] = {}
            for path in node["leaves"]:
                _insert(nested, path, self.array(_join(where, path)))
            for path in node.get("empty", []):
                _insert(nested, path, {})
            tree: FrozenTree[Any] = freeze(nested)
            self.trees[where] = tree
            return tree
        if kind == "array":
            return self.array(where)
        if kind == "scalar":
            dtype = np.dtype(node["dtype"])
            if dtype.kind not in _ARRAY_KINDS:
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
            items = [self.decode(v, _join(where, str(i))) for i, v in enumerate(node["items"])]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {str(k): self.decode(v, _join(where, str(k))) for k, v in node["items"].items()}
        if kind == "record":
            return self._record(node, where)
        raise self.fail(where, f"unknown entry type {kind!r} (written by a newer funcnn?)")

    def _record(self, node: dict[str, Any], where: str) -> object:
        name = node["class"]
        cls = self.records.get(name)
        if cls is None:
            raise self.fail(where, f"unknown record class {name!r}; funcnn knows {', '.join(sorted(self.records))}")
        fields = {f.alias or f.name: f for f in _init_fields(cls)}
        hints = _type_hints(cls)  # the record's annotations: checked like spec fields are
        kwargs: dict[str, object] = {}
        for key, value in node["fields"].items():
            field = fields.get(key)
            if field is None:
                raise self.fail(where, f"{name} has no field {key!r} (written by another funcnn version?)")
            child = where if (cls is OptState and field.name == "buffers") else _join(where, field.name)
            kwargs[key] = self.decode(value, child)
            hint = hints.get(field.name)
            if hint is not None and not _matches(kwargs[key], hint):
                raise self.fail(child, f"expected {_hint_name(hint)}, got {str(kwargs[key])[:60]!r}")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise self.fail(where, f"cannot rebuild {name}: {e}") from None


def _insert(nested: dict[str, Any], path: str, value: object) -> None:
    keys = path.split("/")
    node = nested
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value


def _records() -> dict[str, type]:
    out: dict[str, type] = {}
    for cls in attrs_classes(_RECORD_MODULES):
        if getattr(cls, "kind", None) is None:
            out.setdefault(cls.__qualname__, cls)
    return out


def _dtype_of(file: Path, manifest: dict[str, Any]) -> np.dtype[Any]:
    name = manifest.get("dtype")
    if name == "float32":
        return np.dtype(np.float32)
    if name == "float64":
        return np.dtype(np.float64)
    raise _fail(file, [f"the manifest has an unsupported dtype {name!r}"])


def _in_shape_of(file: Path, manifest: dict[str, Any]) -> Shape:
    shape = manifest.get("in_shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise _fail(file, [f"the manifest has an invalid in_shape {shape!r}"])
    return tuple(shape)


def _desc(a: NDArray[Any]) -> str:
    return f"{a.dtype}{list(a.shape)}"


def _tree_problems(template: FrozenTree[Any], got: FrozenTree[Any], prefix: str) -> list[str]:
    a, b = tree_flatten(template), tree_flatten(got)
    problems = [f"{_join(prefix, p)}: missing (the model has {_desc(a[p])})" for p in sorted(a.keys() - b)]
    problems += [f"{_join(prefix, p)}: not in the model (stored {_desc(b[p])})" for p in sorted(b.keys() - a)]
    for p in sorted(set(a) & set(b)):
        if a[p].shape != b[p].shape:
            problems.append(f"{_join(prefix, p)}: expected shape {a[p].shape}, got {b[p].shape}")
        elif a[p].dtype != b[p].dtype:
            problems.append(f"{_join(prefix, p)}: expected dtype {a[p].dtype}, got {b[p].dtype}")
    return problems


def _template(model: Layer, in_shape: Shape, dtype: np.dtype[Any]) -> FrozenTree[Any]:
    # Only paths, shapes and dtypes of the template matter; any key will do.
    params: FrozenTree[Any] = init(model, Key(0), in_shape=in_shape, dtype=dtype.type)
    return params


def _template_problems(
    model: Layer, params: FrozenTree[Any], in_shape: Shape, dtype: np.dtype[Any], prefix: str
) -> list[str]:
    try:
        template = _template(model, in_shape, dtype)
    except (ShapeError, ValueError, TypeError) as e:
        return [f"the model cannot be built on inputs of shape {in_shape}: {e}"]
    return _tree_problems(template, params, prefix)


def _check_dtype(file: Path, stored: np.dtype[Any], asked: type[np.generic] | None) -> None:
    if asked is not None and np.dtype(asked) != stored:
        raise _fail(
            file, [f"holds {stored} arrays, but dtype={np.dtype(asked).name} was asked for; pass dtype=np.{stored}"]
        )


def _model_problem(stored: Layer, asked: Layer | None) -> list[str]:
    if asked is None or asked == stored:
        return []
    return [f"a checkpoint of another architecture: it holds {stored!r}, but {asked!r} was asked for"]


def _load_state(path: PathLike, *, model: Layer | None, dtype: type[np.generic] | None) -> TrainState[Any]:
    file, manifest, arrays = _open(path)
    if manifest["content"] != "train_state":
        raise _fail(file, [f"holds {manifest['content']!r}, not a training state; use load_params"])
    stored_dtype = _dtype_of(file, manifest)
    _check_dtype(file, stored_dtype, dtype)
    in_shape = _in_shape_of(file, manifest)
    state = _Decoder(file, arrays, _records()).decode(manifest.get("state"), "")
    if not isinstance(state, TrainState):
        raise _fail(file, [f"the manifest's state is a {type(state).__name__}, not a TrainState"])
    roles = {"model": ("init", "forward", "backward"), "loss": ("value_and_grad",), "optimizer": ("init", "update")}
    for field, methods in roles.items():
        spec = getattr(state, field)
        if not all(callable(getattr(spec, m, None)) for m in methods):
            raise _fail(file, [f"{field}: {spec!r} is not a {field} (it lacks {', '.join(methods)})"])
    problems = _model_problem(state.model, model)
    target = model if model is not None else state.model
    try:
        template = _template(target, in_shape, stored_dtype)
    except (ShapeError, ValueError, TypeError) as e:
        raise _fail(file, [*problems, f"the model cannot be built on inputs of shape {in_shape}: {e}"]) from None
    problems += _tree_problems(template, state.params, "params")
    try:
        opt_template = state.optimizer.init(template)
    except (ValueError, TypeError) as e:
        problems.append(f"opt_state: the optimizer cannot be initialised on the model: {e}")
    else:
        if not isinstance(state.opt_state, OptState):
            problems.append(f"opt_state: expected an OptState, got {type(state.opt_state).__name__}")
        else:
            problems += _tree_problems(opt_template.buffers, state.opt_state.buffers, "opt_state")
    problems += _other_tree_problems(state, template)
    if problems:
        raise _fail(file, problems)
    return state


def _other_tree_problems(state: TrainState[Any], template: FrozenTree[Any]) -> list[str]:
    """Params-shaped trees elsewhere in the state (e.g. the best params so far) must fit too."""
    problems: list[str] = []
    for field in attrs.fields(type(state)):
        value = getattr(state, field.name)
        if value is not state.params and isinstance(value, FrozenTree) and field.name.endswith("params"):
            problems += _tree_problems(template, value, field.name)
    return problems


@overload
def load(path: PathLike, *, dtype: type[FloatT], model: Layer | None = None) -> TrainState[FloatT]: ...
@overload
def load(
    path: PathLike, *, dtype: None = None, model: Layer | None = None
) -> TrainState[np.float32] | TrainState[np.float64]: ...
def load(
    path: PathLike, *, dtype: type[FloatT] | None = None, model: Layer | None = None
) -> TrainState[FloatT] | TrainState[np.float32] | TrainState[np.float64]:
    """Read a training state written by :func:`save` (or a run folder's latest).

    Nothing is unpickled and nothing is returned unless everything checks out:
    the format and its version, every array's shape, dtype and SHA-256, the
    specs, and the params and optimizer buffers against a template that
    ``init`` builds from the stored model config.

    Args:
        path: a checkpoint file, or a run folder (its ``checkpoint.npz`` is read).
        dtype: the dtype you expect (``np.float32`` or ``np.float64``); gives a
            precisely typed result. None accepts what is stored.
        model: the architecture you expect; a checkpoint of another one is refused.

    Raises:
        CheckpointError: naming the file and every problem found.
    """
    return _load_state(path, model=model, dtype=dtype)


@overload
def load_params(
    path: PathLike, *, dtype: type[FloatT], model: Layer | None = None
) -> tuple[Layer, FrozenTree[FloatT]]: ...
@overload
def load_params(
    path: PathLike, *, dtype: None = None, model: Layer | None = None
) -> tuple[Layer, FrozenTree[np.float32] | FrozenTree[np.float64]]: ...
def load_params(
    path: PathLike, *, dtype: type[FloatT] | None = None, model: Layer | None = None
) -> tuple[Layer, FrozenTree[FloatT] | FrozenTree[np.float32] | FrozenTree[np.float64]]:
    """``(model, params)`` from a file of :func:`save_params` (or the params of a :func:`save` file).

    Checked like :func:`load`: a checkpoint for another architecture than
    ``model`` (when given) is refused.

    >>> import tempfile, numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(3), fn.ReLU(), fn.Dense(1))
    >>> params = fn.init(model, fn.key(0), in_shape=(2,))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_params(f"{folder}/mlp.npz", model, params, in_shape=(2,))
    ...     model2, params2 = load_params(path, dtype=np.float64)
    >>> model2 == model, fn.tree_equal(params2, params)
    (True, True)
    """
    file, manifest, arrays = _open(path)
    stored_dtype = _dtype_of(file, manifest)
    _check_dtype(file, stored_dtype, dtype)
    in_shape = _in_shape_of(file, manifest)
    if manifest["content"] == "train_state":
        state = _load_state(file, model=model, dtype=dtype)
        return state.model, state.params
    if manifest["content"] != "params":
        raise _fail(file, [f"unknown content {manifest['content']!r}"])
    decoder = _Decoder(file, arrays, _records())
    stored_model = decoder.decode({"type": "spec", "config": manifest.get("model")}, "model")
    if not _is_layer(stored_model):
        raise _fail(file, [f"model: not a layer: {stored_model!r}"])
    params = decoder.decode(manifest.get("params"), "params")
    if not isinstance(params, FrozenTree):
        raise _fail(file, ["params: not a tree in the manifest"])
    problems = _model_problem(stored_model, model)
    target = model if model is not None else stored_model
    problems += _template_problems(target, params, in_shape, stored_dtype, "params")
    if problems:
        raise _fail(file, problems)
    return target, params


def _is_layer(value: object) -> TypeGuard[Layer]:
    return is_spec(value) and all(hasattr(value, n) for n in ("init", "forward", "backward"))


# --- inspection and run folders --------------------------------------------------------------


@attrs.frozen
class CheckpointInfo:
    """What a checkpoint holds, read from its manifest alone (arrays are not read)."""

    path: Path
    content: str  # "train_state" (from save) or "params" (from save_params)
    format_version: int
    funcnn_version: str
    dtype: str
    in_shape: Shape
    model: Layer
    epoch: int | None = None
    step: int | None = None


def checkpoint_info(path: PathLike) -> CheckpointInfo:
    """A quick look at a checkpoint (or a run folder's latest): model, dtype, epoch, step.

    Raises:
        CheckpointError: the file is not a readable funcnn checkpoint.
    """
    file, manifest, _ = _open(path, with_arrays=False)
    fields: dict[str, Any] = {}
    if manifest["content"] == "train_state":
        state = manifest.get("state")
        fields = state.get("fields", {}) if isinstance(state, dict) else {}
        model_node = fields.get("model")
    else:
        model_node = {"type": "spec", "config": manifest.get("model")}
    model = _Decoder(file, {}, {}).decode(model_node, "model")
    if not _is_layer(model):
        raise _fail(file, [f"model: not a layer: {model!r}"])
    epoch, step = fields.get("epoch"), fields.get("step")
    return CheckpointInfo(
        path=file,
        content=str(manifest["content"]),
        format_version=int(manifest["format_version"]),
        funcnn_version=str(manifest.get("funcnn_version")),
        dtype=str(_dtype_of(file, manifest)),
        in_shape=_in_shape_of(file, manifest),
        model=model,
        epoch=epoch if isinstance(epoch, int) else None,
        step=step if isinstance(step, int) else None,
    )


def epoch_path(run_dir: PathLike, epoch: int) -> Path:
    """The file of epoch ``epoch`` in a run folder: ``run_dir/epoch-0005.npz``.

    >>> epoch_path("runs/a", 5).name, epoch_path("runs/a", 12345).name
    ('epoch-0005.npz', 'epoch-12345.npz')
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch_path: epoch must be an int >= 0, got epoch={epoch!r}")
    return Path(run_dir) / f"epoch-{epoch:04d}.npz"


def list_states(run_dir: PathLike) -> list[Path]:
    """The ``epoch-NNNN.npz`` files of a run folder, in epoch order (other files are ignored)."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such run folder")
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _EPOCH_FILE.match(p.name)) and p.is_file()]
    return [p for _, p in sorted(found)]


def _copy_into(src: Path) -> Callable[[IO[bytes]], None]:
    def write(f: IO[bytes]) -> None:
        with open(src, "rb") as g:
            while chunk := g.read(1 << 20):
                f.write(chunk)

    return write


def save_every(
    states: Iterator[TrainState[FloatT]], run_dir: PathLike, *, every: int, in_shape: Shape
) -> Iterator[TrainState[FloatT]]:
    """Pass a stream of states through, keeping one every ``every`` epochs in ``run_dir``.

    A state whose epoch is a multiple of ``every`` is saved as
    ``run_dir/epoch-NNNN.npz`` and copied to ``run_dir/checkpoint.npz`` (the
    latest); when the stream ends, its last state is saved too. Resuming into
    the same folder continues the numbering.

    >>> import tempfile, numpy as np, funcnn as fn
    >>> from funcnn.training import TrainState, train_epochs, last_state
    >>> model = fn.Sequential(fn.Dense(1))
    >>> start = TrainState.create(model, fn.init(model, fn.key(0), in_shape=(2,)), loss=fn.MSE(),
    ...                           optimizer=fn.sgd(0.1), key=fn.key(1))
    >>> x, y = np.ones((4, 2)), np.zeros((4, 1))
    >>> with tempfile.TemporaryDirectory() as run:
    ...     final = last_state(save_every(train_epochs(start, x, y, epochs=5), run, every=2, in_shape=(2,)))
    ...     names = [p.name for p in list_states(run)]
    ...     resumed = load(run, dtype=np.float64)
    >>> names, resumed.epoch, fn.tree_equal(resumed.params, final.params)
    (['epoch-0002.npz', 'epoch-0004.npz', 'epoch-0005.npz'], 5, True)
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"save_every: every must be an int >= 1, got every={every!r}")
    folder = Path(run_dir)
    last: TrainState[FloatT] | None = None
    saved = -1
    for state in states:
        if state.epoch % every == 0:
            _save_in_run(folder, state, in_shape)
            saved = state.epoch
        last = state
        yield state
    if last is not None and saved != last.epoch:
        _save_in_run(folder, last, in_shape)


def _save_in_run(folder: Path, state: TrainState[FloatT], in_shape: Shape) -> None:
    written = save(epoch_path(folder, state.epoch), state, in_shape=in_shape)
    _atomic_write(folder / LATEST, _copy_into(written))
