"""CSV text to arrays: features and targets (:func:`parse_csv`), or columns matched to a :class:`Schema`.

Built on :mod:`funcnn.datasets._csv_grid` (the ``csv`` module, delimiter,
header and columns) and :mod:`funcnn.datasets._csv_cells` (cells to numbers,
numpy's fast path, targets); errors name file, line and column, counted from 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.datasets._csv_cells import labels_of, numeric_target, read_mixed, read_numbers, to_float
from funcnn.datasets._csv_grid import Grid, column_index, delimiter_hint, read_grid, shorten, text_rows, where
from funcnn.datasets.dataset import Task
from funcnn.errors import DataError, ShapeError

if TYPE_CHECKING:
    from funcnn.datasets.schema import Schema

__all__ = [
    "Table",
    "parse_csv",
    "parse_with_schema",
]


@attrs.frozen(eq=False)
class Table:
    """A parsed CSV: float64 features ``(n, features)``, labels or targets, and what the columns are."""

    x: NDArray[np.float64]
    y: NDArray[np.int64] | NDArray[np.float64]
    task: Task
    class_names: tuple[str, ...] | None
    feature_names: tuple[str, ...] | None
    target: str | None
    target_position: int
    dropped: tuple[str, ...]
    dropped_positions: tuple[int, ...]
    delimiter: str


def _column_name(grid: Grid, col: int) -> str:
    return grid.columns[col] if grid.columns is not None else str(col + 1)


def parse_csv(
    text: str,
    name: str,
    *,
    label_column: int | str | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    default_delimiter: str = ",",
    task: Task | None = None,
    classes: Sequence[str] | None = None,
    drop: Sequence[int | str] = (),
    first_line: int = 1,
) -> Table:
    """Parse CSV ``text`` into features and labels (see :func:`funcnn.datasets.load_csv`).

    ``first_line`` is the file line of the text's first line (for messages).
    """
    grid = read_grid(
        text, name, delimiter=delimiter, header=header, default_delimiter=default_delimiter, first_line=first_line
    )
    if grid.ncols < 2:
        raise DataError(
            f"{name}: need at least 2 columns (features and a label), got 1 with the delimiter {grid.delimiter!r}"
            f"{delimiter_hint(grid) or '; give the right one with --delimiter'}"
        )
    label = grid.ncols - 1 if label_column is None else column_index(label_column, grid, "label column")
    dropped = sorted({column_index(d, grid, "dropped column") for d in drop})
    if label in dropped:
        raise DataError(f"{name}: column {label + 1} is the label column; it cannot be dropped too")
    feature_cols = [c for c in range(grid.ncols) if c != label and c not in dropped]
    if not feature_cols:
        shown = shorten([_column_name(grid, c) for c in dropped])
        raise DataError(f"{name}: no feature columns are left after dropping {shown}; keep at least one feature")
    values = read_numbers(grid)
    target_name = grid.columns[label] if grid.columns is not None else None
    feature_names = tuple(grid.columns[c] for c in feature_cols) if grid.columns is not None else None
    dropped_names = tuple(_column_name(grid, c) for c in dropped)
    positions = tuple(c + 1 for c in dropped)
    if values is not None and classes is None:
        y_values = values[:, label]
        x = np.ascontiguousarray(values[:, feature_cols])
        y, found, names = numeric_target(y_values, task, grid, label, None)
        if y is not None and found is not None:
            return Table(
                x, y, found, names, feature_names, target_name, label + 1, dropped_names, positions, grid.delimiter
            )
    mixed = read_mixed(grid, feature_cols, label)
    if mixed is not None:  # numeric features, text labels: still numpy's parser
        try:
            y, found, names = labels_of(mixed[1], label, np.zeros(mixed[1].shape[0], np.int64), grid, task, classes)
        except DataError:
            pass  # read row by row below, to name the line
        else:
            x, at, sep = mixed[0], label + 1, grid.delimiter
            return Table(x, y, found, names, feature_names, target_name, at, dropped_names, positions, sep)
    cells, lines = text_rows(grid)
    x = to_float(cells[:, feature_cols], feature_cols, lines, grid)
    y, found, names = labels_of(cells[:, label], label, lines, grid, task, classes)
    return Table(x, y, found, names, feature_names, target_name, label + 1, dropped_names, positions, grid.delimiter)


def _missing_extra(grid: Grid, expected: Sequence[str], extra_ok: Sequence[str]) -> None:
    assert grid.columns is not None
    have = set(grid.columns)
    missing = [c for c in expected if c not in have]
    known = set(expected) | set(extra_ok)
    unexpected = [c for c in grid.columns if c not in known]
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"missing column{'s' * (len(missing) > 1)} {shorten(missing)}")
    if unexpected:
        parts.append(f"unexpected column{'s' * (len(unexpected) > 1)} {shorten(unexpected)}")
    hint = "rename the columns to the training data's names" if missing and unexpected else (
        "give every column the model was trained on" if missing else (
            f"remove {'it' if len(unexpected) == 1 else 'them'}, or drop such columns when training (--drop)"
        )
    )
    raise DataError(f"{grid.name}, line {grid.header_line}: {' and '.join(parts)}; {hint}")


def parse_with_schema(
    text: str,
    name: str,
    schema: Schema,
    *,
    labels: bool | None,
    header: bool | None = None,
    delimiter: str | None = None,
    default_delimiter: str = ",",
) -> tuple[NDArray[np.float64], NDArray[np.int64] | NDArray[np.float64] | None]:
    """Features ``(n, n_features)`` in the schema's order and, if present, targets encoded by the schema.

    ``labels``: True (the label column must be there), False (features only:
    a label column is ignored if the header names it) or None (either).
    With a header, columns are matched by name and reordered; without one,
    the file must have the training file's columns or exactly the features.

    Raises:
        DataError: missing, unexpected or renamed columns, a wrong column
            count, an unknown class, or any bad cell (naming line and column).
    """
    grid = read_grid(text, name, delimiter=delimiter, header=header, default_delimiter=default_delimiter)
    label: int | None
    if grid.columns is not None and schema.features is not None:
        extra = [*schema.dropped] + ([schema.target] if schema.target is not None and labels is not True else [])
        expected = [*schema.features] + ([schema.target] if labels is True and schema.target is not None else [])
        _missing_extra(grid, expected, extra)
        feature_cols = [grid.columns.index(f) for f in schema.features]
        label = grid.columns.index(schema.target) if labels is not False and schema.target in grid.columns else None
        if labels is True and label is None:
            raise DataError(f"{name}: the file has no label column; the model was trained with labels in a column")
    else:
        label, feature_cols = _positions(grid, schema, labels)
    values = read_numbers(grid) if schema.class_names is None or label is None else None
    if values is not None:
        x = np.ascontiguousarray(values[:, feature_cols])
        if label is None:
            return x, None
        y, _, _ = numeric_target(values[:, label], schema.task, grid, label, None)
        if y is not None:
            _check_classes(y, schema, grid, label, None)
            return x, y
    mixed = None if label is None or schema.class_names is None else read_mixed(grid, feature_cols, label)
    if mixed is not None and label is not None:  # numeric features, class names: still numpy's parser
        try:
            zeros = np.zeros(mixed[1].shape[0], np.int64)
            y, _, _ = labels_of(mixed[1], label, zeros, grid, schema.task, schema.class_names)
        except DataError:
            pass  # read row by row below, to name the line
        else:
            return mixed[0], y
    cells, lines = text_rows(grid)
    x = to_float(cells[:, feature_cols], feature_cols, lines, grid)
    if label is None:
        return x, None
    y, _, _ = labels_of(cells[:, label], label, lines, grid, schema.task, schema.class_names)
    _check_classes(y, schema, grid, label, lines)
    return x, y


def _check_classes(
    y: NDArray[np.int64] | NDArray[np.float64], schema: Schema, grid: Grid, col: int, lines: NDArray[np.int64] | None
) -> None:
    """Integer labels must be classes the model knows (``0..classes-1``)."""
    k = schema.n_classes
    if schema.task != "classification" or k is None or schema.class_names is not None:
        return
    bad = np.flatnonzero(np.asarray(y) >= k)
    if bad.size:
        i = int(bad[0])
        line = None if lines is None else int(lines[i])
        raise DataError(
            f"{where(grid.name, line, grid.columns, col)}: unknown class {int(y[i])}; the model knows the classes "
            f"0..{k - 1}"
        )


def _positions(grid: Grid, schema: Schema, labels: bool | None) -> tuple[int | None, list[int]]:
    """The label column (None: not read) and feature columns of a file matched to ``schema`` by position."""
    n = schema.n_features
    total = n + (1 if schema.target_position is not None else 0) + len(schema.dropped)
    if grid.ncols == total and total > n:  # the training file's columns
        label = None if schema.target_position is None else schema.target_position - 1
        if grid.columns is not None:
            skip = {grid.columns.index(d) for d in schema.dropped if d in grid.columns}
        else:
            skip = {i - 1 for i in schema.dropped_positions}
        features = [c for c in range(grid.ncols) if c != label and c not in skip]
        if len(features) == n:
            return (None if labels is False else label), features
    if grid.ncols == n and labels is not True:
        return None, list(range(n))
    if grid.ncols == n + 1 and schema.target_position is None and not schema.dropped:
        return (None if labels is False else n), list(range(n))
    layout = f"{n} features" + (f", or {total} columns like the training file" if total > n else "")
    if labels is True and total > n:
        layout = f"{total} columns like the training file ({n} features and the label)"
    raise ShapeError(
        f"{grid.name}: rows have {grid.ncols} cells, but the model takes {layout}; give a file with the "
        "training file's columns (with a header naming them, they may come in any order)"
    )
