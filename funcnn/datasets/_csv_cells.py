"""CSV cells to numbers: numpy's fast parser for numeric tables, conversion that names the bad cell, and targets.

Speed: a clean, all-numeric table is converted by numpy's C parser in one call
(quoted numbers included); only when that fails is the text read row by row
(:func:`funcnn.datasets._csv_grid.text_rows`), to read text labels or to name
the first bad cell.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from funcnn.datasets._csv_grid import Grid, is_number, shorten, where
from funcnn.datasets.dataset import Task
from funcnn.errors import DataError

__all__ = [
    "MAX_AUTO_CLASSES",
    "MAX_MAGNITUDE",
    "choose_task",
    "labels_of",
    "numeric_target",
    "read_mixed",
    "read_numbers",
    "to_float",
]

# Integer targets with more distinct values than this (and not the classes 0..k-1) suggest regression.
MAX_AUTO_CLASSES = 20
# Numbers beyond the float32 range become inf when a model trains on them (and overflow statistics
# such as a column's variance even in float64): refused when read, naming the cell.
MAX_MAGNITUDE = float(np.finfo(np.float32).max)


def read_numbers(grid: Grid) -> NDArray[np.float64] | None:
    """numpy's C parser over an all-numeric, finite table ``(n, ncols)``; ``None`` means "read it row by row"."""
    try:
        values = np.loadtxt(
            io.StringIO(grid.data_text, newline=""),
            delimiter=grid.delimiter,
            quotechar='"',
            dtype=np.float64,
            comments=None,
            ndmin=2,
        )
    except ValueError:
        return None
    if values.shape[0] == 0 or values.shape[1] != grid.ncols or not np.all(np.abs(values) <= MAX_MAGNITUDE):
        return None  # (a NaN fails the comparison too)
    return values


def read_mixed(grid: Grid, cols: Sequence[int], text_col: int) -> tuple[NDArray[np.float64], NDArray[np.str_]] | None:
    """numpy's C parser for numeric columns ``cols`` and one text column (e.g. class names); ``None``: "row by row".

    Only for text without quotes, whose rows can be checked for raggedness
    line by line (numpy's parser does not look at columns it is not asked for).
    """
    if '"' in grid.data_text:
        return None
    widths = {line.count(grid.delimiter) for line in grid.data_text.splitlines() if line.strip()}
    if widths != {grid.ncols - 1}:
        return None
    try:
        source = io.StringIO(grid.data_text, newline="")
        x = np.loadtxt(source, delimiter=grid.delimiter, dtype=np.float64, comments=None, ndmin=2, usecols=cols)
        source = io.StringIO(grid.data_text, newline="")
        texts = np.loadtxt(source, delimiter=grid.delimiter, dtype=np.str_, comments=None, ndmin=1, usecols=[text_col])
    except ValueError:
        return None
    if x.shape[0] == 0 or x.shape != (texts.shape[0], len(cols)) or not np.all(np.abs(x) <= MAX_MAGNITUDE):
        return None
    return x, texts


def to_float(cells: NDArray[np.str_], cols: Sequence[int], lines: NDArray[np.int64], grid: Grid) -> NDArray[np.float64]:
    """Convert ``cells: (n, len(cols))`` (the file's columns ``cols``) to finite float64, naming the first bad cell."""
    try:
        values = np.char.strip(cells).astype(np.float64)
    except ValueError:
        for r in range(cells.shape[0]):
            for c in range(cells.shape[1]):
                cell = str(cells[r, c])
                if not is_number(cell):
                    problem = "empty cell (a missing value)" if not cell.strip() else f"non-numeric cell {cell!r}"
                    raise DataError(
                        f"{where(grid.name, int(lines[r]), grid.columns, cols[c])}: {problem}; "
                        "fill it in, or leave the row or column out (--drop)"
                    ) from None
        raise DataError(f"{grid.name}: cannot convert the cells to numbers") from None  # pragma: no cover
    usable = np.abs(values) <= MAX_MAGNITUDE
    if not usable.all():
        r, c = (int(i) for i in np.argwhere(~usable)[0])
        raise DataError(
            f"{where(grid.name, int(lines[r]), grid.columns, cols[c])}: {_unusable(str(cells[r, c]).strip())}"
        )
    return values


def _unusable(cell: str) -> str:
    """Why a number cell cannot be used: not finite, or beyond :data:`MAX_MAGNITUDE`."""
    if math.isfinite(float(cell)):
        return (
            f"{cell} is too large in magnitude: values must lie within ±{MAX_MAGNITUDE:.3g} (the float32 range "
            "a model trains in); rescale the column, e.g. to other units"
        )
    return f"{cell} is not a finite number (NaN and inf are not allowed); fill it in or leave the row out"


def choose_task(values: NDArray[np.float64]) -> tuple[Task, str]:
    """Classification or regression for numeric targets ``(n,)``, and why.

    Integers >= 0 are class labels when there are at most 20 distinct values,
    or when they are exactly the classes ``0..k-1`` with ``k`` at most half
    the samples; other integers (prices, counts with many values) and real
    numbers are regression targets.

    >>> choose_task(np.array([0.0, 2.0, 1.0, 1.0]))
    ('classification', 'integer labels 0..2 (3 classes)')
    >>> choose_task(np.arange(100.0, 400.0))[0]
    'regression'
    """
    if values.size == 0 or not _are_class_labels(values):
        return "regression", "real-valued targets"
    distinct = np.unique(values)
    k, low, high = int(distinct.size), int(distinct[0]), int(distinct[-1])
    contiguous = low == 0 and high == k - 1
    if k <= MAX_AUTO_CLASSES or (contiguous and k <= values.size // 2):
        return "classification", f"integer labels {low}..{high} ({high + 1} classes)"
    return "regression", f"{k} distinct integer values ({low}..{high}) look like quantities, not classes"


def numeric_target(
    values: NDArray[np.float64], task: Task | None, grid: Grid, col: int, lines: NDArray[np.int64] | None
) -> tuple[NDArray[np.int64] | NDArray[np.float64] | None, Task | None, tuple[str, ...] | None]:
    """Targets from numeric label cells; ``(None, None, None)``: not class labels (the slow path names the cell)."""
    if task is None:
        task = choose_task(values)[0]
    if task == "regression":
        return np.ascontiguousarray(values[:, None]), "regression", None
    if not _are_class_labels(values):
        if lines is None:
            return None, None, None
        finite = np.isfinite(values)
        safe = np.where(finite, values, 0.0)
        i = int(np.flatnonzero(~finite | (safe < 0) | (safe != np.floor(safe)))[0])
        raise DataError(
            f"{where(grid.name, int(lines[i]), grid.columns, col)}: label {f'{values[i]:g}'!r} is not a class label "
            "(an integer >= 0); use task='regression' (--task regression) for numeric targets"
        )
    return values.astype(np.int64), "classification", None


def labels_of(
    cells: NDArray[np.str_],
    col: int,
    lines: NDArray[np.int64],
    grid: Grid,
    task: Task | None,
    classes: Sequence[str] | None,
) -> tuple[NDArray[np.int64] | NDArray[np.float64], Task, tuple[str, ...] | None]:
    """Labels of one column: mapped by ``classes``, numbers, or class names in sorted order."""
    stripped = np.char.strip(cells)
    empty = np.flatnonzero(np.char.str_len(stripped) == 0)
    if empty.size:
        raise DataError(f"{where(grid.name, int(lines[int(empty[0])]), grid.columns, col)}: empty label cell")
    if classes is not None:
        if task == "regression":
            raise DataError(f"{grid.name}: classes= names classes, but task='regression' was asked for")
        return _mapped(stripped, col, lines, grid, tuple(classes)), "classification", tuple(classes)
    try:
        values = stripped.astype(np.float64)
    except ValueError:
        values = None
    if values is None:
        if task == "regression":
            bad = next(i for i, c in enumerate(stripped) if not is_number(str(c)))
            raise DataError(
                f"{where(grid.name, int(lines[bad]), grid.columns, col)}: non-numeric cell {str(stripped[bad])!r}: "
                "task regression needs numeric targets; leave --task out (or use classification) for named classes"
            )
        names, codes = np.unique(stripped, return_inverse=True)
        return codes.astype(np.int64).reshape(-1), "classification", tuple(str(s) for s in names)
    usable = np.abs(values) <= MAX_MAGNITUDE
    if not usable.all():
        i = int(np.flatnonzero(~usable)[0])
        raise DataError(f"{where(grid.name, int(lines[i]), grid.columns, col)}: {_unusable(str(stripped[i]))}")
    targets, found, none = numeric_target(values, task, grid, col, lines)
    assert targets is not None and found is not None
    return targets, found, none


def _mapped(
    labels: NDArray[np.str_], col: int, lines: NDArray[np.int64], grid: Grid, classes: tuple[str, ...]
) -> NDArray[np.int64]:
    """Each label's index in ``classes``; an unknown label is an error that lists the known classes."""
    order = np.argsort(np.asarray(classes, dtype=np.str_), kind="stable")
    sorted_names = np.asarray(classes, dtype=np.str_)[order]
    pos = np.searchsorted(sorted_names, labels)
    pos_safe = np.minimum(pos, len(classes) - 1)
    known = sorted_names[pos_safe] == labels
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise DataError(
            f"{where(grid.name, int(lines[i]), grid.columns, col)}: unknown class {str(labels[i])!r}; "
            f"the known classes are {shorten(classes, 20)}; fix the label or train on data that holds it"
        )
    return order[pos_safe].astype(np.int64)


def _are_class_labels(values: NDArray[np.float64]) -> bool:
    """Every value is a finite integer >= 0."""
    finite = np.isfinite(values)
    if not finite.all():
        return False
    return bool(np.all(values >= 0) and np.all(values == np.floor(values)))
