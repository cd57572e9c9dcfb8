"""Loaders for local files (CSV, ``.npz``, IDX) and the ``--data`` dispatcher.

Everything reads local files only; nothing is downloaded. Every problem is a
:class:`~funcnn.errors.DataError` naming the file, the line (CSV, 1-based) or
byte offset (IDX), and what is wrong.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     path = pathlib.Path(d) / "toy.csv"
...     _ = path.write_text("a,b,label\\n0.5,1,0\\n2,3.5,1\\n")
...     ds = load_csv(path, label_column="label")
>>> ds
Dataset(name='toy', task='classification', x=float64(2, 2), y=int64(2,), classes=2)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from funcnn.datasets._csv import decode_text, parse_csv
from funcnn.datasets._io import read_bytes, strip_suffixes, write_bytes_atomic
from funcnn.datasets.builtin import builtin_names, load_builtin
from funcnn.datasets.dataset import TASKS, Dataset, Task
from funcnn.datasets.idx import labels_path_for, load_idx_pair, load_mnist
from funcnn.errors import DataError
from funcnn.rng import Key

__all__ = ["load_csv", "load_data", "load_npz", "save_npz"]


def _check_task(task: Task | None, where: str) -> None:
    if task is not None and task not in TASKS:
        raise DataError(f"{where}: task must be one of {TASKS} or None, got task={task!r}")


def load_csv(
    path: str | Path,
    *,
    label_column: int | str | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    task: Task | None = None,
    name: str | None = None,
) -> Dataset:
    """A data set from a CSV file (plain or gzip): one sample per line, one label column.

    Args:
        path: the file (``.csv``, ``.csv.gz``, ``.tsv``...).
        label_column: the label's column: a header name, or a 0-based index
            (negative counts from the end; a string of digits is an index unless
            it is a header name). Default: the last column.
        header: whether the first line holds column names; ``None`` detects it
            (a header has a non-numeric cell where the next line is numeric).
        delimiter: the cell separator; default tab for ``.tsv``, else comma.
        task: ``"classification"``, ``"regression"``, or ``None``: labels that are
            all integers >= 0 are classes, other numbers regression targets, and
            text labels are classes named in sorted order.
        name: the data set's name (default: the file name without suffixes).

    Returns:
        ``x: (n, columns - 1)`` float64; ``y: (n,)`` int64 labels or ``(n, 1)`` float64 targets.

    Raises:
        DataError: missing file, no rows, a ragged row, a non-numeric, empty,
            NaN or infinite cell, or a missing label column; the message names the
            file, the 1-based line and the column.
    """
    p = Path(path)
    _check_task(task, str(p))
    sep = delimiter if delimiter is not None else ("\t" if p.name.lower().removesuffix(".gz").endswith(".tsv") else ",")
    text = decode_text(read_bytes(p), str(p))
    table = parse_csv(text, str(p), label_column=label_column, header=header, delimiter=sep, task=task)
    return Dataset(
        table.x, table.y, name=name or strip_suffixes(p), task=table.task, class_names=table.class_names, source=str(p)
    )


def load_npz(
    path: str | Path, *, x_key: str = "x", y_key: str = "y", task: Task | None = None, name: str | None = None
) -> Dataset:
    """A data set from a ``.npz`` file holding arrays ``x`` and ``y`` (no pickles are loaded).

    An optional ``class_names`` entry (strings) and ``task`` entry (as written by
    :func:`save_npz`) are used when present. Without ``task``, integer ``y`` means
    classification and float ``y`` regression (1-D float targets become ``(n, 1)``).

    Raises:
        DataError: missing file, not an npz archive, a missing entry, object
            arrays, different sample counts, or NaN/inf values (with their index).
    """
    p = Path(path)
    _check_task(task, str(p))
    raw = read_bytes(p)
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{p}: not a readable .npz archive ({e})") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{p}: expected an .npz archive with arrays {x_key!r} and {y_key!r}, got a single .npy array")
    with archive:
        entries = list(archive.files)
        arrays: dict[str, NDArray[np.generic]] = {}
        for entry in (x_key, y_key, "class_names", "task"):
            if entry not in entries:
                if entry in (x_key, y_key):
                    raise DataError(f"{p}: no array named {entry!r}; the file holds {entries}")
                continue
            try:
                arrays[entry] = archive[entry]
            except (ValueError, OSError, zipfile.BadZipFile) as e:
                raise DataError(f"{p}: array {entry!r} cannot be read without pickle or is corrupt ({e})") from e
    x, y = arrays[x_key], arrays[y_key]
    if task is None and "task" in arrays:
        stored = str(arrays["task"])
        if stored not in TASKS:
            raise DataError(f"{p}: entry 'task' must be one of {TASKS}, got {stored!r}")
        task = "classification" if stored == "classification" else "regression"
    class_names = None
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or names.dtype.kind != "U":
            raise DataError(f"{p}: entry 'class_names' must be a 1-D array of strings, got {names.dtype}{names.shape}")
        class_names = tuple(str(s) for s in names)
    return _from_arrays(x, y, p, x_key, y_key, task, class_names, name or strip_suffixes(p))


def _from_arrays(
    x: NDArray[np.generic],
    y: NDArray[np.generic],
    p: Path,
    x_key: str,
    y_key: str,
    task: Task | None,
    class_names: tuple[str, ...] | None,
    name: str,
) -> Dataset:
    for entry, a in ((x_key, x), (y_key, y)):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise DataError(f"{p}: array {entry!r} must be numeric, got dtype {a.dtype}")
        if a.ndim == 0:
            raise DataError(f"{p}: array {entry!r} needs a leading sample axis, got a scalar")
        if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise DataError(f"{p}: {entry}{list(index)} is {a[index]}, not a finite number")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{p}: {x_key!r} holds {x.shape[0]} samples but {y_key!r} holds {y.shape[0]}")
    if task is None:
        task = "classification" if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_ else "regression"
    if task == "classification":
        if y.ndim != 1:
            raise DataError(f"{p}: classification labels {y_key!r} must be 1-D, got shape {y.shape}")
        if y.dtype == np.bool_ or np.issubdtype(y.dtype, np.integer):
            bad = np.flatnonzero(y.astype(np.int64) < 0)
        else:
            yf = y.astype(np.float64)
            bad = np.flatnonzero((yf < 0) | (yf != np.floor(yf)))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{p}: {y_key}[{i}] = {y[i]} is not a class label (an integer >= 0)")
        labels: NDArray[np.number] = y.astype(np.int64)
    else:
        labels = y.astype(np.float64).reshape(y.shape[0], -1) if y.ndim == 1 else y.astype(np.float64)
    return Dataset(x, labels, name=name, task=task, class_names=class_names, source=str(p))


def save_npz(path: str | Path, ds: Dataset) -> None:
    """Write ``ds`` as a compressed ``.npz`` (``x``, ``y``, ``task`` and ``class_names``), atomically.

    :func:`load_npz` reads it back to an equal data set (same arrays, task and class names).
    """
    p = Path(path)
    buffer = io.BytesIO()
    task = np.array(ds.task)
    if ds.class_names is None:
        np.savez_compressed(buffer, x=ds.x, y=ds.y, task=task)
    else:
        np.savez_compressed(buffer, x=ds.x, y=ds.y, task=task, class_names=np.array(ds.class_names, dtype=np.str_))
    write_bytes_atomic(p, buffer.getvalue())


def load_data(spec: str | Path, *, key: Key | None = None, label_column: int | str | None = None) -> Dataset:
    """The data set named by ``spec``: what the CLI's ``--data`` option accepts.

    ``spec`` is one of:

    * a built-in name (:func:`builtin_names`; synthetic ones need ``key``);
    * a ``.csv``/``.tsv`` file, optionally gzipped (label in the last column, or ``label_column``);
    * an ``.npz`` file with arrays ``x`` and ``y``;
    * an IDX images file ``<prefix>-images-idx3-ubyte[.gz]`` (its labels file must sit beside it);
    * a folder holding one MNIST-style IDX pair (see :func:`load_mnist`).

    A bare built-in name wins over a file of the same name in the working
    directory; write ``./digits`` to mean the file.

    Raises:
        DataError: unknown name or missing file (the message lists the built-in
            names), an unknown file type, ``label_column`` for a non-CSV source,
            or any loader error.
        MissingRngError: a synthetic built-in without ``key``.
    """
    names = builtin_names()
    if isinstance(spec, str) and spec in names:
        if label_column is not None:
            raise DataError(f"{spec}: label_column applies to CSV files only, not to built-in data sets")
        return load_builtin(spec, key=key)
    p = Path(spec)
    if not p.exists():
        raise DataError(
            f"{spec}: no such file or folder, and not a built-in data set; built-in names: {', '.join(names)}"
        )
    lower = p.name.lower().removesuffix(".gz")
    if p.is_dir() or not lower.endswith((".csv", ".tsv", ".txt")):
        if label_column is not None:
            raise DataError(f"{p}: label_column applies to CSV files only")
    if p.is_dir():
        return load_mnist(p)
    if lower.endswith((".csv", ".tsv", ".txt")):
        return load_csv(p, label_column=label_column)
    if lower.endswith(".npz"):
        return load_npz(p)
    labels = labels_path_for(p)
    if labels is not None:
        return load_idx_pair(p, labels)
    if "-images" in lower and "idx" in lower:
        raise DataError(f"{p}: found no matching '<prefix>-labels-idx1-ubyte[.gz]' file beside this IDX images file")
    raise DataError(
        f"{p}: unknown data file type; expected .csv/.tsv (optionally .gz), .npz, an IDX "
        f"'<prefix>-images-idx3-ubyte[.gz]' file or a folder of IDX files; built-in names: {', '.join(names)}"
    )
