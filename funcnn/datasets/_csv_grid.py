"""CSV text to a grid of text cells: the standard library's :mod:`csv` module, the delimiter and the header.

Quoting, escaped delimiters, a byte-order mark and CRLF line ends are the
``csv`` module's job. Columns are counted from 1 everywhere, in arguments
(``label_column=1`` is the first column, ``-1`` the last) and in messages,
like the line numbers. Converting the cells to numbers is
:mod:`funcnn.datasets._csv_cells`'s job.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.errors import DataError

__all__ = [
    "DELIMITERS",
    "Grid",
    "column_index",
    "decode_text",
    "delimiter_hint",
    "is_number",
    "read_grid",
    "shorten",
    "sniff_delimiter",
    "text_rows",
    "where",
]

# Delimiters tried, in this order, when none is given.
DELIMITERS = (",", "\t", ";", "|")
_INT_TEXT = re.compile(r"^[+-]?\d+$")
# Characters read to find the delimiter and the header (the whole text if a record is longer).
_SAMPLE = 1 << 16


@attrs.frozen(eq=False)
class Grid:
    """The cells of a CSV file as text, before any conversion.

    ``columns`` is the header (None without one), ``ncols`` the number of
    cells per row, ``header_line`` the file line of the header (of the first
    row without one), ``data_text`` the text after the header and
    ``data_first_line`` the file line it starts on (1-based). The data rows
    are read from it only when needed (:func:`text_rows`).
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


def is_number(cell: str) -> bool:
    """``float`` reads ``cell`` (surrounding blanks, ``nan`` and ``inf`` included)."""
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
        return not any(is_number(c) for c in first)
    return any(not is_number(a) and is_number(b) for a, b in zip(first, rows[1], strict=False))


def shorten(names: Sequence[str], limit: int = 12) -> str:
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
                f"{name}, line {header_line}: the header names {shorten(sorted(set(twice)))} more than once; "
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
        hint = delimiter_hint(grid) if int(lengths[i]) == 1 or grid.ncols == 1 else ""
        raise DataError(
            f"{grid.name}, line {lines[i]}: expected {grid.ncols} cells (like {like}), got {lengths[i]} "
            f"(ragged row){hint}"
        )
    return np.array(rows, dtype=np.str_).reshape(len(rows), grid.ncols), lines


def delimiter_hint(grid: Grid) -> str:
    others = [d for d in DELIMITERS if d != grid.delimiter and d in grid.data_text[:2000]]
    if not others:
        return ""
    return f"; the delimiter is {grid.delimiter!r}: is it {others[0]!r}? give --delimiter"


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
                f"{name}, line {grid.header_line}: {what} {column!r} not found; columns are {shorten(columns)}"
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
