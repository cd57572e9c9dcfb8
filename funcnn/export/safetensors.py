"""Params trees as safetensors files: one tensor per leaf, named by its tree path.

The file is written and read with the ``safetensors`` package (never by hand).
A tree ``{"dense_0": {"w": ..., "b": ...}}`` becomes tensors ``dense_0/w`` and
``dense_0/b``, so the file reads the same in PyTorch, JAX or Rust. Loading
checks every name, and with ``like=`` every path, shape and dtype against a
template, reporting all problems at once, as :func:`funcnn.load_params` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import overload

import numpy as np
from numpy.typing import NDArray

from funcnn._typing import FloatT
from funcnn.errors import CheckpointError, TreeStructureError
from funcnn.export._common import Params, missing_extra
from funcnn.io.atomic import atomic_write
from funcnn.tree import FrozenTree, assert_same_structure, tree_flatten, tree_unflatten

__all__ = ["load_safetensors", "save_safetensors"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def save_safetensors(
    path: str | os.PathLike[str], params: FrozenTree[FloatT], *, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``params`` to ``path`` (atomically; an existing file is replaced) and return the path.

    Args:
        path: the file to write (``.safetensors`` by convention).
        params: a params tree (float32 or float64 leaves).
        metadata: text to store in the file's header (``{"model": "mlp"}``);
            keys and values must be strings.

    Raises:
        ImportError: the ``safetensors`` package is missing (``pip install 'funcnn[safetensors]'``).
        TypeError: a metadata key or value is not a string.

    >>> import tempfile, numpy as np, funcnn as fn
    >>> params = fn.init(fn.Dense(2), fn.key(0), in_shape=(3,))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_safetensors(f"{folder}/dense.safetensors", params, metadata={"note": "demo"})
    ...     back = load_safetensors(path, like=params)
    >>> fn.tree_equal(back, params)
    True
    """
    try:
        from safetensors.numpy import save
    except ModuleNotFoundError:
        raise missing_extra("save_safetensors", "safetensors", "safetensors") from None
    meta = dict(metadata or {})
    bad = [f"{k!r}: {v!r}" for k, v in meta.items() if not (isinstance(k, str) and isinstance(v, str))]
    if bad:
        raise TypeError(f"save_safetensors: metadata keys and values must be strings, got {', '.join(bad)}")
    tensors = {p: np.ascontiguousarray(a) for p, a in tree_flatten(params).items()}
    return atomic_write(path, save(tensors, metadata=meta or None))


@overload
def load_safetensors(path: str | os.PathLike[str], *, like: FrozenTree[FloatT]) -> FrozenTree[FloatT]: ...
@overload
def load_safetensors(path: str | os.PathLike[str], *, like: None = None) -> Params: ...
def load_safetensors(
    path: str | os.PathLike[str], *, like: FrozenTree[FloatT] | None = None
) -> FrozenTree[FloatT] | Params:
    """The params tree stored in a safetensors file.

    Args:
        path: a file written by :func:`save_safetensors` (or by any tool, with
            tensor names that are ``/``-joined Python identifiers).
        like: a template tree (e.g. ``fn.init(model, key, in_shape=...)``): the
            file must hold exactly its paths, with the same shapes and dtypes.

    Returns:
        A FrozenTree of read-only arrays.

    Raises:
        CheckpointError: the file is unreadable, a tensor name is not a tree
            path, a tensor is not float32/float64 (or dtypes are mixed), or the
            tree does not fit ``like`` (every missing or extra path and every
            shape or dtype mismatch is named).
    """
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load
    except ModuleNotFoundError:
        raise missing_extra("load_safetensors", "safetensors", "safetensors") from None
    file = Path(path)
    try:
        arrays: dict[str, NDArray[np.floating]] = load(file.read_bytes())
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{file}: cannot read a safetensors file: {e}") from None
    problems = [f"{name!r}: not a tree path of identifiers joined by '/'"
                for name in sorted(arrays) if not all(k.isidentifier() for k in name.split("/"))]
    problems += [f"{name}: dtype {a.dtype} (params are float32 or float64)"
                 for name, a in sorted(arrays.items()) if a.dtype not in _FLOATS]
    dtypes = sorted({str(a.dtype) for a in arrays.values()})
    if not problems and len(dtypes) > 1:
        problems.append(f"mixed dtypes {dtypes} (one params tree has one dtype)")
    if problems:
        raise CheckpointError(f"{file}: " + "; ".join(problems))
    for a in arrays.values():
        a.flags.writeable = False  # fresh arrays of ours: the tree shares them without a copy
    try:
        params: Params
        if dtypes == ["float32"]:  # astype(copy=False) returns the same arrays, typed
            params = tree_unflatten({k: a.astype(np.float32, copy=False) for k, a in arrays.items()})
        else:
            params = tree_unflatten({k: a.astype(np.float64, copy=False) for k, a in arrays.items()})
    except TreeStructureError as e:
        raise CheckpointError(f"{file}: {e}") from None
    if like is not None:
        try:
            # The file's dtype is what is being checked, so it may differ from like's: hence the ignore.
            assert_same_structure(like, params, names=("the template (like=)", "the file's params"))  # type: ignore[misc]
        except TreeStructureError as e:
            raise CheckpointError(f"{file}: {e}") from None
    return params

