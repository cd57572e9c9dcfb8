"""CSV text to arrays through the standard library's :mod:`csv` module, with errors naming file, line and column.

Quoting, escaped delimiters, a byte-order mark and CRLF line ends are the
``csv`` module's job. Columns are counted from 1 everywhere, in arguments
(``label_column=1`` is the first column, ``-1`` the last) and in messages,
like the line numbers.

Speed: a clean, all-numeric table is converted by numpy's C parser in one call
(quoted numbers included); only when that fails is the text read row by row
with :func:`csv.reader`, to read text labels or to name the first bad cell.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.datasets.dataset import Task
from funcnn.errors import DataError, ShapeError

if TYPE_CHECKING:
    from funcnn.datasets.schema import Schema

__all__ = [
    "DELIMITERS",
    "Grid",
    "Table",
    "choose_task",
    "column_index",
    "decode_text",
    "parse_csv",
    "parse_with_schema",
    "read_grid",
    "read_numbers",
    "text_rows",
    "to_float",
    "where",
]

# Delimiters tried, in this order, when none is given.
DELIMITERS = (",", "\t", ";", "|")
# Integer targets with more distinct values than this (and not the classes 0..k-1) suggest regression.
MAX_AUTO_CLASSES = 20
# Numbers beyond the float32 range become inf when a model trains on them (and overflow statistics
# such as a column's variance even in float64): refused when read, naming the cell.
MAX_MAGNITUDE = float(np.finfo(np.float32).max)
_INT_TEXT = re.compile(r"^[+-]?\d+$")
# Characters read to find the delimiter and the header (the whole text if a record is longer).
_SAMPLE = 1 << 16


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


@attrs.frozen(eq=False)
class Grid:
    """The cells of a CSV file as text, before any conversion.

    ``columns`` is the header (None without one), ``ncols`` the number of
    cells per row, ``lines`` the file line of each data row (1-based) and
    ``text_rows`` the data rows as :func:`csv.reader` read them (None until the
    slow path needs them). ``data_text`` is the text after the header.
    """

    name: str
    delimiter: str
    columns: tuple[str, ...] | None
    ncols: int
    header_line: int
    data_text: str
    data_first_line: int


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


def _records(text: str, delimiter: str, limit: int | None = None) -> tuple[list[list[str]], list[int]]:
    """Non-blank records and the file line each starts on (relative, 1-based); at most ``limit`` records."""
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    start = 1
    try:
        for row in reader:
            first, start = start, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows.append(row)
            lines.append(first)
            if limit is not None and len(rows) >= limit:
                break
    except csv.Error as e:
        raise DataError(f"line {reader.line_num}: {e}") from None
    return rows, lines


def sniff_delimiter(text: str) -> str | None:
    """The first of :data:`DELIMITERS` that splits the first rows into the same number (>= 2) of cells."""
    sample = "\n".join(text[:_SAMPLE].splitlines()[:20])
    for d in DELIMITERS:
        try:
            rows, _ = _records(sample, d)
        except DataError:
            continue
        widths = {len(r) for r in rows}
        if rows and len(widths) == 1 and widths.pop() >= 2:
            return d
    return None


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A first row is a header if it has a non-numeric cell where the second row is numeric.

    With a single row: if no cell is numeric. Cells are compared after the ``csv``
    module removed their quotes, so a fully quoted header is found too.
    """
    first = rows[0]
    if len(rows) == 1:
        return not any(_is_number(c) for c in first)
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, rows[1], strict=False))


def _shorten(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} columns)" if len(names) > limit else "")


def where(name: str, line: int | None, columns: tuple[str, ...] | None, col: int) -> str:
    """``file, line 4, column 3 ('radius')`` (columns counted from 1)."""
    at = f"{name}, line {line}, " if line is not None else f"{name}, "
    return at + f"column {col + 1}" + (f" ({columns[col]!r})" if columns is not None else "")


def read_grid(
    text: str, name: str, *, delimiter: str | None, header: bool | None, default_delimiter: str, first_line: int = 1
) -> Grid:
    """Find the delimiter (given, else sniffed, else ``default_delimiter``), the header and the column count.

    ``first_line`` is the file line of the text's first line (for messages).

    Raises:
        DataError: no data rows, a header without data, or duplicate header names.
    """
    if delimiter is not None and (len(delimiter) != 1 or delimiter in "\r\n\"'"):
        raise DataError(
            f"{name}: the delimiter must be one character other than a quote or line break, got {delimiter!r}"
        )
    sep = delimiter or sniff_delimiter(text) or default_delimiter
    try:
        first, lines = _records(text[:_SAMPLE], sep, limit=3)
        if len(first) < 3 and len(text) > _SAMPLE:
            first, lines = _records(text, sep, limit=3)
        first, lines = first[:2], lines[:2]
    except DataError as e:
        raise DataError(f"{name}, {e}") from None
    if not first:
        raise DataError(f"{name}: no data rows (the file is empty)")
    has_header = _looks_like_header(first) if header is None else header
    columns: tuple[str, ...] | None = None
    header_line = lines[0]
    if has_header:
        columns = tuple(c.strip() for c in first[0])
        seen: set[str] = set()
        twice = [c for c in columns if c in seen or seen.add(c)]  # type: ignore[func-returns-value]
        if twice:
            raise DataError(
                f"{name}, line {header_line}: the header names {_shorten(sorted(set(twice)))} more than once; "
                "give every column its own name"
            )
        # The data start after the header's last line (a quoted name may span lines).
        header_end = (lines[1] - 1) if len(lines) > 1 else header_line  # the header may span lines
        offset = 0
        for _ in range(header_end):  # past the header's line ends (CRLF ends in LF too)
            offset = text.find("\n", offset) + 1 or len(text)
        data_text = text[offset:]
        data_first_line = header_end + first_line
        if len(first) < 2:
            raise DataError(f"{name}: a header on line {header_line} but no data rows")
    else:
        data_text, data_first_line = text, first_line
    header_line += first_line - 1
    ncols = len(columns) if columns is not None else len(first[1 if has_header else 0])
    return Grid(name, sep, columns, ncols, header_line, data_text, data_first_line)


def text_rows(grid: Grid) -> tuple[NDArray[np.str_], NDArray[np.int64]]:
    """Every data row as text ``(n, ncols)`` and its file line, checking that no row is ragged."""
    try:
        rows, rel = _records(grid.data_text, grid.delimiter)
    except DataError as e:
        raise DataError(f"{grid.name}, {e}") from None
    if not rows:
        raise DataError(f"{grid.name}: a header on line {grid.header_line} but no data rows")
    lines = np.asarray(rel, dtype=np.int64) + (grid.data_first_line - 1)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    ragged = np.flatnonzero(lengths != grid.ncols)
    if ragged.size:
        i = int(ragged[0])
        like = f"the header on line {grid.header_line}" if grid.columns is not None else f"line {lines[0]}"
        hint = _delimiter_hint(grid) if int(lengths[i]) == 1 or grid.ncols == 1 else ""
        raise DataError(
            f"{grid.name}, line {lines[i]}: expected {grid.ncols} cells (like {like}), got {lengths[i]} "
            f"(ragged row){hint}"
        )
    return np.array(rows, dtype=np.str_).reshape(len(rows), grid.ncols), lines


def _delimiter_hint(grid: Grid) -> str:
    others = [d for d in DELIMITERS if d != grid.delimiter and d in grid.data_text[:2000]]
    if not others:
        return ""
    return f"; the delimiter is {grid.delimiter!r}: is it {others[0]!r}? give --delimiter"


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
                if not _is_number(cell):
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


def column_index(column: int | str, grid: Grid, what: str) -> int:
    """The 0-based position of ``column``: a header name, or a position counted from 1 (negative: from the end).

    Raises:
        DataError: no such column (the message lists the columns).
    """
    name, ncols, columns = grid.name, grid.ncols, grid.columns
    if isinstance(column, str):
        if columns is not None and column in columns:
            return columns.index(column)
        if not _INT_TEXT.match(column.strip()):
            if columns is None:
                raise DataError(
                    f"{name}: {what} {column!r} is a name, but the file has no header row; give its position "
                    f"instead (1..{ncols}, -1 = last)"
                )
            raise DataError(
                f"{name}, line {grid.header_line}: {what} {column!r} not found; columns are {_shorten(columns)}"
            )
        index = int(column)
    elif isinstance(column, bool) or not isinstance(column, int | np.integer):
        raise DataError(f"{name}: {what} must be a column name or position, got {column!r}")
    else:
        index = int(column)
    if index == 0:
        raise DataError(f"{name}: {what} 0: columns are counted from 1 (1 = first, -1 = last), as in messages")
    if not -ncols <= index <= ncols:
        raise DataError(f"{name}: {what} {index} does not exist; the file has {ncols} columns (1..{ncols}, -1 = last)")
    return index - 1 if index > 0 else ncols + index


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
            f"{_delimiter_hint(grid) or '; give the right one with --delimiter'}"
        )
    label = grid.ncols - 1 if label_column is None else column_index(label_column, grid, "label column")
    dropped = sorted({column_index(d, grid, "dropped column") for d in drop})
    if label in dropped:
        raise DataError(f"{name}: column {label + 1} is the label column; it cannot be dropped too")
    feature_cols = [c for c in range(grid.ncols) if c != label and c not in dropped]
    if not feature_cols:
        shown = _shorten([_column_name(grid, c) for c in dropped])
        raise DataError(f"{name}: no feature columns are left after dropping {shown}; keep at least one feature")
    values = read_numbers(grid)
    target_name = grid.columns[label] if grid.columns is not None else None
    feature_names = tuple(grid.columns[c] for c in feature_cols) if grid.columns is not None else None
    dropped_names = tuple(_column_name(grid, c) for c in dropped)
    positions = tuple(c + 1 for c in dropped)
    if values is not None and classes is None:
        y_values = values[:, label]
        x = np.ascontiguousarray(values[:, feature_cols])
        y, found, names = _numeric_target(y_values, task, grid, label, None)
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


def _numeric_target(
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
            bad = next(i for i, c in enumerate(stripped) if not _is_number(str(c)))
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
    targets, found, none = _numeric_target(values, task, grid, col, lines)
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
            f"the known classes are {_shorten(classes, 20)}; fix the label or train on data that holds it"
        )
    return order[pos_safe].astype(np.int64)


def _are_class_labels(values: NDArray[np.float64]) -> bool:
    """Every value is a finite integer >= 0."""
    finite = np.isfinite(values)
    if not finite.all():
        return False
    return bool(np.all(values >= 0) and np.all(values == np.floor(values)))


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
        parts.append(f"missing column{'s' * (len(missing) > 1)} {_shorten(missing)}")
    if unexpected:
        parts.append(f"unexpected column{'s' * (len(unexpected) > 1)} {_shorten(unexpected)}")
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
        y, _, _ = _numeric_target(values[:, label], schema.task, grid, label, None)
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
