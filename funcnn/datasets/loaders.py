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
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.datasets._csv import parse_csv, parse_with_schema
from funcnn.datasets._csv_cells import choose_task
from funcnn.datasets._csv_grid import decode_text
from funcnn.datasets._io import read_bytes, strip_suffixes, write_bytes_atomic
from funcnn.datasets.builtin import builtin_names, load_builtin
from funcnn.datasets.dataset import TASKS, Dataset, Task
from funcnn.datasets.idx import labels_path_for, load_idx_pair, load_mnist
from funcnn.datasets.schema import Schema
from funcnn.errors import DataError
from funcnn.rng import Key

__all__ = [
    "check_against",
    "describe_task",
    "load_csv",
    "load_csv_features",
    "load_data",
    "load_idx_file",
    "load_npz",
    "save_npz",
    "with_task",
]


def _check_task(task: Task | None, where: str) -> None:
    if task is not None and task not in TASKS:
        raise DataError(f"{where}: task must be one of {TASKS} or None, got task={task!r}")


def _default_delimiter(p: Path) -> str:
    return "\t" if p.name.lower().removesuffix(".gz").endswith(".tsv") else ","


def load_csv(
    path: str | Path,
    *,
    label_column: int | str | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    task: Task | None = None,
    classes: Sequence[str] | None = None,
    drop: Sequence[int | str] = (),
    schema: Schema | None = None,
    name: str | None = None,
) -> Dataset:
    """A data set from a CSV file (plain or gzip): one sample per record, one label column.

    The file is read with the standard library's :mod:`csv` module (quoted
    cells, a delimiter inside quotes, a byte-order mark and CRLF line ends
    are fine). Columns are counted from 1, in arguments and in messages.

    Args:
        path: the file (``.csv``, ``.csv.gz``, ``.tsv``...).
        label_column: the label's column: a header name, or a position counted
            from 1 (negative counts from the end; a string of digits is a position
            unless it is a header name). Default: the last column.
        header: whether the first record holds column names; ``None`` detects it
            (a header has a non-numeric cell where the next record is numeric).
        delimiter: the cell separator; default: the first of ``,`` tab ``;`` ``|``
            that splits the first rows evenly, else tab for ``.tsv`` and comma.
        task: ``"classification"``, ``"regression"``, or ``None`` to choose:
            text labels are classes; integers >= 0 are classes when there are at most
            20 distinct values or they are exactly ``0..k-1``; other numbers are
            regression targets (see :func:`describe_task`).
        classes: pin the class names in label order, e.g. ``("setosa",
            "versicolor", "virginica")``: labels are mapped by name and an unknown
            label is an error; default: the sorted names found in this file.
        drop: columns to ignore (names or positions from 1), e.g. an ID column.
        schema: read the file as a model trained on ``schema`` expects it (see
            :class:`Schema`): columns matched by header name and reordered, labels
            mapped by class name; ``label_column``, ``task``, ``classes`` and ``drop``
            come from the schema then.
        name: the data set's name (default: the file name without suffixes).

    Returns:
        ``x: (n, features)`` float64; ``y: (n,)`` int64 labels or ``(n, 1)`` float64
        targets. The data set's :attr:`~Dataset.schema` records the column names.

    Raises:
        DataError: missing file, no rows, a ragged row, a non-numeric, empty,
            NaN or infinite cell, a missing column, an unknown class; the message
            names the file, the line and the column (from 1).
    """
    p = Path(path)
    _check_task(task, str(p))
    text = decode_text(read_bytes(p), str(p))
    if schema is not None:
        sep = _default_delimiter(p)
        x, y = parse_with_schema(
            text, str(p), schema, labels=True, header=header, delimiter=delimiter, default_delimiter=sep
        )
        assert y is not None
        x = x.reshape(x.shape[0], *schema.feature_shape)
        return Dataset.from_schema(x, y, schema, name=name or strip_suffixes(p), source=str(p))
    table = parse_csv(
        text,
        str(p),
        label_column=label_column,
        header=header,
        delimiter=delimiter,
        default_delimiter=_default_delimiter(p),
        task=task,
        classes=classes,
        drop=drop,
    )
    return Dataset(
        table.x,
        table.y,
        name=name or strip_suffixes(p),
        task=table.task,
        class_names=table.class_names,
        source=str(p),
        feature_names=table.feature_names,
        target=table.target,
        target_position=table.target_position,
        dropped=table.dropped,
        dropped_positions=table.dropped_positions,
    )


def load_csv_features(
    path: str | Path, schema: Schema, *, header: bool | None = None, delimiter: str | None = None
) -> NDArray[np.float64]:
    """The features ``(n, *schema.feature_shape)`` of a CSV file for a model trained on ``schema``.

    Columns are matched by header name (a label column is ignored); a file
    without a header must hold exactly the features, or the training file's
    columns.

    Raises:
        DataError: missing or unexpected columns, a wrong column count, a bad cell.
    """
    p = Path(path)
    text = decode_text(read_bytes(p), str(p))
    x, _ = parse_with_schema(
        text, str(p), schema, labels=False, header=header, delimiter=delimiter, default_delimiter=_default_delimiter(p)
    )
    return x.reshape(x.shape[0], *schema.feature_shape)


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


def with_task(ds: Dataset, task: Task | None) -> Dataset:
    """``ds`` with task ``task`` (None: as it is): integer class labels become float targets ``(n, 1)``.

    Raises:
        DataError: regression asked for named classes (text labels), or
            classification for targets that are not integers >= 0.
    """
    if task is None or task == ds.task:
        return ds
    _check_task(task, ds.name)
    if task == "regression":
        names = ds.class_names
        if names is not None and not all(n.strip().lstrip("+-").isdigit() for n in names):
            raise DataError(
                f"{ds.name}: task regression needs numeric targets, but the labels are named classes "
                f"({', '.join(repr(n) for n in names[:5])}{', ...' if len(names) > 5 else ''}); leave --task out "
                "or use classification"
            )
        values = ds.labels.astype(np.float64) if names is None else np.asarray(names, dtype=np.float64)[ds.labels]
        return attrs.evolve(ds, y=values.reshape(-1, 1), task="regression", class_names=None)
    y = np.asarray(ds.y, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != 1 or not np.all((y >= 0) & (y == np.floor(y))):
        raise DataError(
            f"{ds.name}: task classification needs one integer label >= 0 per sample, got targets "
            f"{ds.y.dtype}{ds.y.shape}; leave --task out for real-valued targets"
        )
    return attrs.evolve(ds, y=y.reshape(-1).astype(np.int64), task="classification")


def describe_task(ds: Dataset) -> str:
    """Why ``ds`` has its task, in a few words (the CLI prints it in its setup summary).

    >>> import numpy as np
    >>> describe_task(Dataset(np.zeros((3, 1)), np.array([0, 2, 1])))
    'classification: integer labels 0..2 (3 classes)'
    """
    if ds.task == "classification":
        names = ds.class_names
        if names is not None and not all(n.strip().isdigit() for n in names):
            return f"classification: text labels ({len(names)} classes)"
        y = ds.labels
        low, high = (int(y.min()), int(y.max())) if y.size else (0, -1)
        return f"classification: integer labels {low}..{high} ({ds.n_classes} classes)"
    targets = np.asarray(ds.y, dtype=np.float64)
    if targets.ndim == 2 and targets.shape[1] == 1 and targets.size:
        found, why = choose_task(targets.reshape(-1))
        if found == "classification":  # integers the caller asked to treat as quantities
            return "regression: numeric targets (as asked)"
        return f"regression: {why}"
    return f"regression: real-valued targets ({int(np.prod(targets.shape[1:]))} outputs)"


def load_data(
    spec: str | Path,
    *,
    key: Key | None = None,
    label_column: int | str | None = None,
    task: Task | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    drop: Sequence[int | str] = (),
    prefix: str | None = None,
    schema: Schema | None = None,
    options: Mapping[str, int | float] | None = None,
) -> Dataset:
    """The data set named by ``spec``: what the CLI's ``--data`` option accepts.

    ``spec`` is one of:

    * a built-in name (:func:`builtin_names`; synthetic ones need ``key`` and
      take generator ``options``, see :func:`load_builtin`);
    * a ``.csv``/``.tsv`` file, optionally gzipped (label in the last column, or
      ``label_column``; see :func:`load_csv` for ``header``, ``delimiter``, ``drop``);
    * an ``.npz`` file with arrays ``x`` and ``y``;
    * an IDX images file ``<prefix>-images-idx3-ubyte[.gz]`` (its labels file must sit beside it);
    * a folder holding an MNIST-style IDX pair (``prefix`` chooses one when it holds several).

    ``task`` overrides the automatic choice (see :func:`with_task`). With
    ``schema``, a CSV is read as a model trained on it expects (:func:`load_csv`),
    and any other source must agree with the schema's task and classes.

    A bare built-in name wins over a file of the same name in the working
    directory; write ``./digits`` to mean the file.

    Raises:
        DataError: unknown name or missing file (the message lists the built-in
            names), an unknown file type, CSV options for a non-CSV source,
            or any loader error.
        MissingRngError: a synthetic built-in without ``key``.
    """
    names = builtin_names()
    csv_options = [o for o, v in (("label_column", label_column), ("header", header), ("delimiter", delimiter),
                                  ("drop", tuple(drop) or None)) if v is not None]
    p = Path(spec)
    is_csv = not (isinstance(spec, str) and spec in names) and p.name.lower().removesuffix(".gz").endswith(
        (".csv", ".tsv", ".txt")
    )
    if csv_options and not is_csv:
        raise DataError(f"{spec}: {', '.join(csv_options)} applies to CSV files only")
    if prefix is not None and not p.is_dir():
        raise DataError(f"{spec}: prefix applies to folders of IDX files only")
    if options and not (isinstance(spec, str) and spec in names):
        raise DataError(f"{spec}: generator options ({', '.join(options)}) apply to synthetic built-in data sets only")
    if isinstance(spec, str) and spec in names:
        ds = load_builtin(spec, key=key, options=options)
    elif not p.exists():
        raise DataError(
            f"{spec}: no such file or folder, and not a built-in data set; built-in names: {', '.join(names)}"
        )
    elif p.is_dir():
        ds = load_mnist(p, prefix=prefix)
    elif is_csv:
        return load_csv(
            p, label_column=label_column, header=header, delimiter=delimiter, task=task, drop=drop, schema=schema
        )
    elif p.name.lower().removesuffix(".gz").endswith(".npz"):
        ds = load_npz(p)
    else:
        ds = load_idx_file(p)
    ds = with_task(ds, schema.task if schema is not None else task)
    if schema is not None:
        check_against(ds, schema)
    return ds


def load_idx_file(p: Path) -> Dataset:
    """The IDX pair of an images file ``<prefix>-images-idx3-ubyte[.gz]`` (the labels file sits beside it)."""
    labels = labels_path_for(p)
    if labels is not None:
        return load_idx_pair(p, labels)
    lower = p.name.lower()
    if "-images" in lower and "idx" in lower:
        raise DataError(f"{p}: found no matching '<prefix>-labels-idx1-ubyte[.gz]' file beside this IDX images file")
    raise DataError(
        f"{p}: unknown data file type; expected .csv/.tsv (optionally .gz), .npz, an IDX "
        f"'<prefix>-images-idx3-ubyte[.gz]' file or a folder of IDX files; built-in names: {', '.join(builtin_names())}"
    )


def check_against(ds: Dataset, schema: Schema) -> None:
    """A data set read for a model must have its sample shape, task and (named) classes.

    Raises:
        DataError: they differ (the message names both).
    """
    if ds.feature_shape != schema.feature_shape and math.prod(ds.feature_shape) != schema.n_features:
        raise DataError(
            f"{ds.name}: samples of shape {ds.feature_shape}, but the model was trained on {schema.feature_shape}"
        )
    if ds.task != schema.task:
        raise DataError(f"{ds.name}: the data are for {ds.task}, but the model does {schema.task}")
    if schema.class_names is not None and ds.class_names is not None and ds.class_names != schema.class_names:
        raise DataError(
            f"{ds.name}: class names {list(ds.class_names)[:10]} differ from the model's "
            f"{list(schema.class_names)[:10]}"
        )
    k = schema.n_classes
    if k is not None and ds.task == "classification" and ds.y.size and int(ds.labels.max()) >= k:
        raise DataError(f"{ds.name}: label {int(ds.labels.max())} is not one of the model's classes 0..{k - 1}")
