"""CSV text to arrays, with errors that name the file, the line and the column.

Lines are split in Python (to find ragged rows); the cells are converted to
numbers in one vectorised numpy call, and only when that fails is the bad cell
searched for, row by row.
"""

from __future__ import annotations

import io

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.datasets.dataset import Task
from funcnn.errors import DataError

__all__ = ["Table", "decode_text", "parse_csv", "parse_features_csv"]


@attrs.frozen(eq=False)
class Table:
    """A parsed CSV: float64 features ``(n, columns - 1)`` and labels or targets."""

    x: NDArray[np.float64]
    y: NDArray[np.int64] | NDArray[np.float64]
    task: Task
    class_names: tuple[str, ...] | None
    columns: tuple[str, ...] | None


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{name}, byte offset {e.start}: not UTF-8 text ({e.reason})") from e


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A first row is a header if it has a non-numeric cell where the second row is numeric.

    With a single row: if no cell is numeric.
    """
    first = rows[0]
    if len(rows) == 1:
        return not any(_is_number(c) for c in first)
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, rows[1], strict=False))


def _shorten(names: tuple[str, ...], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} columns)" if len(names) > limit else "")


def _label_index(
    label_column: int | str | None, columns: tuple[str, ...] | None, ncols: int, name: str, header_line: int
) -> int:
    if label_column is None:
        return ncols - 1
    if isinstance(label_column, str):
        if columns is not None and label_column in columns:
            return columns.index(label_column)
        try:
            index = int(label_column)
        except ValueError:
            if columns is None:
                raise DataError(
                    f"{name}: label column {label_column!r} was given by name but the file has no header row; "
                    "give its index instead (0-based, -1 = last)"
                ) from None
            raise DataError(
                f"{name}, line {header_line}: label column {label_column!r} not found; columns are {_shorten(columns)}"
            ) from None
    elif isinstance(label_column, bool) or not isinstance(label_column, int):
        raise DataError(f"{name}: label_column must be a column name or index, got {label_column!r}")
    else:
        index = label_column
    if not -ncols <= index < ncols:
        raise DataError(f"{name}: label column index {index} is out of range for {ncols} columns (0..{ncols - 1})")
    return index % ncols


def _column_label(columns: tuple[str, ...] | None, col: int) -> str:
    """``column 3`` or ``column 3 ('radius')`` (1-based)."""
    return f"column {col + 1}" + (f" ({columns[col]!r})" if columns is not None else "")


def _to_float(
    cells: NDArray[np.str_], cols: list[int], lines: NDArray[np.int64], columns: tuple[str, ...] | None, name: str
) -> NDArray[np.float64]:
    """Convert ``cells: (n, len(cols))`` (the file's columns ``cols``) to float64, naming the first bad cell."""
    try:
        return cells.astype(np.float64)
    except ValueError:
        pass
    for r in range(cells.shape[0]):
        try:
            cells[r].astype(np.float64)
        except ValueError:
            for c in range(cells.shape[1]):
                cell = str(cells[r, c])
                if not _is_number(cell):
                    problem = "empty cell" if not cell.strip() else f"non-numeric cell {cell!r}"
                    raise DataError(f"{name}, line {lines[r]}, {_column_label(columns, cols[c])}: {problem}") from None
    raise DataError(f"{name}: cannot convert the cells to numbers")  # pragma: no cover - numpy and float() disagree


def _check_finite(
    values: NDArray[np.float64], cols: list[int], lines: NDArray[np.int64], columns: tuple[str, ...] | None, name: str
) -> None:
    finite = np.isfinite(values)
    if finite.all():
        return
    r, c = (int(i) for i in np.argwhere(~finite)[0])
    raise DataError(
        f"{name}, line {lines[r]}, {_column_label(columns, cols[c])}: {values[r, c]} is not a finite number "
        "(NaN and inf are not allowed)"
    )


def parse_csv(
    text: str,
    name: str,
    *,
    label_column: int | str | None = None,
    header: bool | None = None,
    delimiter: str = ",",
    task: Task | None = None,
    first_line: int = 1,
) -> Table:
    """Parse CSV ``text`` into features and labels (see :func:`funcnn.datasets.load_csv`).

    ``first_line`` is the file line number of the text's first line (for error messages).
    """
    data, lines, columns, ncols, header_line = _rows(text, name, header, delimiter, first_line)
    if ncols < 2:
        raise DataError(f"{name}: need at least 2 columns (features and a label), got {ncols}")
    label = _label_index(label_column, columns, ncols, name, header_line)
    feature_cols = [c for c in range(ncols) if c != label]
    fast = _fast_parse(data, delimiter, label, feature_cols, task)
    if fast is not None:
        return Table(*fast, columns)
    # Slow path: the whole table as strings, to name the first bad cell (or to read text labels).
    cells = np.array([line.split(delimiter) for line in data], dtype=np.str_)  # (n, ncols)
    x = _to_float(cells[:, feature_cols], feature_cols, lines, columns, name)
    _check_finite(x, feature_cols, lines, columns, name)
    y, found_task, class_names = _labels(cells[:, label], label, lines, columns, name, task)
    return Table(x, y, found_task, class_names, columns)


def _rows(
    text: str, name: str, header: bool | None, delimiter: str, first_line: int
) -> tuple[list[str], NDArray[np.int64], tuple[str, ...] | None, int, int]:
    """The data lines, their line numbers, the header's columns, the column count and the header's line.

    Raises:
        DataError: no data rows, or a ragged row (naming its line).
    """
    data: list[str] = []
    numbers: list[int] = []
    for i, raw in enumerate(text.split("\n")):
        line = raw.rstrip("\r")
        if line.strip():
            data.append(line)
            numbers.append(first_line + i)
    if not data:
        raise DataError(f"{name}: no data rows (the file is empty)")
    if header is None:
        header = _looks_like_header([line.split(delimiter) for line in data[:2]])
    columns = tuple(c.strip() for c in data[0].split(delimiter)) if header else None
    header_line = numbers[0]
    if header:
        data, numbers = data[1:], numbers[1:]
    if not data:
        raise DataError(f"{name}: a header on line {header_line} but no data rows")
    ncols = len(columns) if columns is not None else data[0].count(delimiter) + 1
    shape_from = f"the header on line {header_line}" if columns is not None else f"line {numbers[0]}"
    lines = np.asarray(numbers, dtype=np.int64)
    lengths = np.fromiter((line.count(delimiter) + 1 for line in data), dtype=np.int64, count=len(data))
    ragged = np.flatnonzero(lengths != ncols)
    if ragged.size:
        i = int(ragged[0])
        raise DataError(
            f"{name}, line {lines[i]}: expected {ncols} cells (like {shape_from}), got {lengths[i]} (ragged row)"
        )
    return data, lines, columns, ncols, header_line


def parse_features_csv(
    text: str, name: str, *, header: bool | None = None, delimiter: str = ",", first_line: int = 1
) -> NDArray[np.float64]:
    """Parse CSV ``text`` whose every column is a feature (no label column): ``(n, columns)`` float64.

    Checked like :func:`parse_csv`: ragged rows, empty or non-numeric cells and
    non-finite values raise :class:`DataError` naming the line and column.
    """
    data, lines, columns, ncols, _ = _rows(text, name, header, delimiter, first_line)
    cols = list(range(ncols))
    cells = np.array([line.split(delimiter) for line in data], dtype=np.str_).reshape(len(data), ncols)
    x = _to_float(cells, cols, lines, columns, name)
    _check_finite(x, cols, lines, columns, name)
    return x


def _fast_parse(
    data: list[str], delimiter: str, label: int, feature_cols: list[int], task: Task | None
) -> tuple[NDArray[np.float64], NDArray[np.int64] | NDArray[np.float64], Task, tuple[str, ...] | None] | None:
    """numpy's C parser for the common case of a clean, all-numeric table; ``None`` means "use the slow path"."""
    try:
        values = np.loadtxt(io.StringIO("\n".join(data)), delimiter=delimiter, dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    if values.shape != (len(data), len(feature_cols) + 1) or not np.all(np.isfinite(values)):
        return None
    x = np.ascontiguousarray(values[:, feature_cols])
    y = values[:, label]
    if task == "regression" or (task is None and not _are_class_labels(y)):
        return x, np.ascontiguousarray(y[:, None]), "regression", None
    if not _are_class_labels(y):
        return None  # the slow path names the bad label
    return x, y.astype(np.int64), "classification", None


def _labels(
    cells: NDArray[np.str_],
    col: int,
    lines: NDArray[np.int64],
    columns: tuple[str, ...] | None,
    name: str,
    task: Task | None,
) -> tuple[NDArray[np.int64] | NDArray[np.float64], Task, tuple[str, ...] | None]:
    """Labels of one column: numbers, or class names mapped to ``0..k-1`` in sorted order."""
    where = _column_label(columns, col)
    try:
        values = cells.astype(np.float64)
    except ValueError:
        values = None
    if values is None:
        if task == "regression":
            _to_float(cells[:, None], [col], lines, columns, name)  # raises naming the bad cell
        stripped = np.char.strip(cells)
        empty = np.flatnonzero(np.char.str_len(stripped) == 0)
        if empty.size:
            raise DataError(f"{name}, line {lines[int(empty[0])]}, {where}: empty label cell")
        names, codes = np.unique(stripped, return_inverse=True)
        return codes.astype(np.int64).reshape(-1), "classification", tuple(str(s) for s in names)
    if task == "regression" or (task is None and not _are_class_labels(values)):
        _check_finite(values[:, None], [col], lines, columns, name)
        return values[:, None], "regression", None
    finite = np.isfinite(values)
    safe = np.where(finite, values, 0.0)
    bad = np.flatnonzero(~finite | (safe < 0) | (safe != np.floor(safe)))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{name}, line {lines[i]}, {where}: label {cells[i].strip()!r} is not a class label "
            "(an integer >= 0); use task='regression' for numeric targets"
        )
    return values.astype(np.int64), "classification", None


def _are_class_labels(values: NDArray[np.float64]) -> bool:
    """Every value is a finite integer >= 0."""
    finite = np.isfinite(values)
    if not finite.all():
        return False
    return bool(np.all(values >= 0) and np.all(values == np.floor(values)))
