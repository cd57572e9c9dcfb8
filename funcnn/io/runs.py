"""Run folders: the states kept while training, and the files beside them.

A run folder (file names in :mod:`funcnn.io.layout`) holds ``epoch-NNNN.npz``
states and ``checkpoint.npz``, the latest (:func:`save_every`), the
``config.json`` of ``funcnn train`` (:func:`write_json`, :func:`read_json`) and
the input preparation fitted on the training split (``preprocess.npz``,
:func:`save_preparation`, :func:`load_preparation`) and the data schema
(``schema.json``, :func:`write_schema`, :func:`read_schema`). :func:`open_run` reads
them back. Every file is written with the one atomic writer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import attrs
import numpy as np

from funcnn._typing import FloatT, Shape
from funcnn.datasets.inputs import Preparation
from funcnn.datasets.schema import Schema
from funcnn.errors import CheckpointError, DataError
from funcnn.io import bounded
from funcnn.io.atomic import atomic_write
from funcnn.io.checkpoint import checkpoint_info, save
from funcnn.io.container import PathLike
from funcnn.io.layout import CONFIG, LATEST, PREPROCESS, SCHEMA, epoch_path
from funcnn.training import TrainState

__all__ = [
    "MAX_JSON_BYTES",
    "Run",
    "load_preparation",
    "open_run",
    "read_json",
    "read_schema",
    "save_every",
    "save_preparation",
    "write_json",
    "write_schema",
]

MAX_JSON_BYTES = 16 << 20  # config.json describes a run; it holds no data


# --- states ----------------------------------------------------------------------------------


def _copy_of(src: Path) -> Any:
    def write(f: IO[bytes]) -> None:
        with open(src, "rb") as g:
            shutil.copyfileobj(g, f, 1 << 20)

    return write


def _save_in_run(folder: Path, state: TrainState[FloatT], in_shape: Shape) -> None:
    written = save(epoch_path(folder, state.epoch), state, in_shape=in_shape)
    atomic_write(folder / LATEST, _copy_of(written))


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
    ...     names = [p.name for p in fn.list_states(run)]
    ...     resumed = fn.load(run, dtype=np.float64)
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


# --- reading a run ---------------------------------------------------------------------------


@attrs.frozen
class Run:
    """A checkpoint and, when it sits in a run folder, the folder's config and preparation."""

    checkpoint: Path
    folder: Path | None
    config: Mapping[str, Any] | None
    preparation: Preparation | None
    schema: Schema | None = None


def open_run(path: str | os.PathLike[str]) -> Run:
    """Find the checkpoint of a run folder (``checkpoint.npz``) or take a checkpoint file,
    and read ``config.json``, ``preprocess.npz`` and ``schema.json`` beside it when present.

    The data schema comes from ``schema.json``, else (a run from before it existed)
    from ``config.json``, else from the checkpoint's manifest (``save(..., schema=)``).

    Raises:
        CheckpointError: no such file or folder, a folder without ``checkpoint.npz``,
            or a damaged ``config.json`` or ``preprocess.npz``.
    """
    p = Path(path)
    if p.is_dir():
        ckpt = p / LATEST
        if not ckpt.is_file():
            raise CheckpointError(f"{p}: not a run folder (it has no {LATEST}); give a run folder or a checkpoint file")
        folder = p
    elif p.is_file():
        ckpt, folder = p, p.parent
    else:
        raise CheckpointError(f"{p}: no such run folder or checkpoint file")
    config = read_json(folder / CONFIG) if (folder / CONFIG).is_file() else None
    if config is not None and not all(isinstance(config.get(k), dict) for k in ("settings", "data")):
        raise CheckpointError(f"{folder / CONFIG}: not written by 'funcnn train' (no 'settings' and 'data' tables)")
    prep = load_preparation(folder / PREPROCESS) if (folder / PREPROCESS).is_file() else None
    if config is None and prep is None and not p.is_dir():
        return Run(ckpt, None, None, None, checkpoint_info(ckpt).schema)  # a lone checkpoint file (save(schema=))
    schema = read_schema(folder / SCHEMA) if (folder / SCHEMA).is_file() else None
    if schema is None and config is not None:  # a run written before schema.json existed
        schema = Schema.from_run_config(config)
    if schema is None:
        schema = checkpoint_info(ckpt).schema
    return Run(ckpt, folder, config, prep, schema)


def write_schema(path: PathLike, schema: Schema) -> Path:
    """Write a run's data :class:`~funcnn.datasets.Schema` as JSON (``schema.json``), atomically."""
    return write_json(path, schema.to_json())


def read_schema(path: PathLike) -> Schema:
    """The inverse of :func:`write_schema`.

    Raises:
        CheckpointError: the file is missing, not JSON, or not a schema this funcnn reads.
    """
    try:
        return Schema.from_json(read_json(path), str(path))
    except DataError as e:
        raise CheckpointError(str(e)) from None


# --- JSON and the preprocessing file ---------------------------------------------------------


def write_json(path: PathLike, data: Mapping[str, object]) -> Path:
    """Write ``data`` as indented JSON (with a final newline), atomically."""
    return atomic_write(Path(path), (json.dumps(data, indent=2) + "\n").encode("utf-8"))


@contextlib.contextmanager
def _reading(p: Path, what: str, errors: tuple[type[BaseException], ...]) -> Iterator[None]:
    """Read the run file ``p`` in the block; a folder, a missing file or one of ``errors`` is a CheckpointError."""
    if p.exists() and not p.is_file():
        raise CheckpointError(f"{p}: not a regular file")
    try:
        yield
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such file") from None
    except CheckpointError:
        raise
    except errors as e:
        raise CheckpointError(f"{p}: not a readable {what} ({e})") from None


def read_json(path: PathLike) -> dict[str, Any]:
    """A JSON object from ``path``.

    Raises:
        CheckpointError: the file is missing, unreadable, too big or not a JSON object.
    """
    p = Path(path)
    with _reading(p, "JSON file", (OSError, UnicodeDecodeError, ValueError)):
        if p.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(f"{p}: {p.stat().st_size} bytes, more than a run's JSON file may hold")
        data = bounded.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise CheckpointError(f"{p}: expected a JSON object, got {type(data).__name__}")
    return data


def save_preparation(path: PathLike, prep: Preparation) -> Path:
    """Write a :class:`~funcnn.datasets.inputs.Preparation` (with its scaler's arrays) as ``.npz``, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **prep.to_arrays())  # type: ignore[arg-type]
    return atomic_write(Path(path), buffer.getvalue())


def load_preparation(path: PathLike) -> Preparation:
    """The inverse of :func:`save_preparation`.

    Raises:
        CheckpointError: the file is missing, damaged or not a preparation file.
    """
    p = Path(path)
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError, TypeError)  # e.g. a lone .npy
    with _reading(p, "preprocessing file", unreadable), np.load(p, allow_pickle=False) as npz:
        packed = [i.filename for i in npz.zip.infolist() if i.compress_type != zipfile.ZIP_STORED]
        if packed:  # written uncompressed: a compressed member could inflate without bound
            raise CheckpointError(f"{p}: compressed member(s) {', '.join(packed[:3])}; not written by funcnn, "
                                  "nothing was read")
        arrays = {name: npz[name] for name in npz.files}
    try:
        return Preparation.from_arrays(arrays)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{p}: a damaged preprocessing file ({e}); restore it or train again") from None
