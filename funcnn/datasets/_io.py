"""Reading and writing local files: plain or gzip, with errors that name the file."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from funcnn.errors import DataError
from funcnn.io.atomic import atomic_write

__all__ = ["GZIP_MAGIC", "is_gzip_name", "read_bytes", "strip_suffixes", "write_bytes_atomic"]

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path, *, label: str | None = None) -> bytes:
    """The content of ``path``, decompressed if it starts with the gzip magic bytes.

    ``label`` is the name used in error messages (default: the path).
    """
    name = label or str(path)
    if not path.exists():
        raise DataError(f"{name}: no such file")
    if path.is_dir():
        raise DataError(f"{name}: is a directory, expected a file")
    if not path.is_file():  # a FIFO would block forever, a device (/dev/zero) never end
        raise DataError(f"{name}: not a regular file (a pipe, a device or a socket); give a data file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{name}: cannot read the file ({e.strerror or e})") from e
    return decompress(raw, name)


def decompress(raw: bytes, name: str) -> bytes:
    """``raw`` itself, or its gzip decompression if it starts with the gzip magic bytes."""
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{name}: corrupt or truncated gzip data ({e})") from e


def is_gzip_name(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def strip_suffixes(path: Path) -> str:
    """The file name without ``.gz`` and one more suffix: ``data.csv.gz`` -> ``data``."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with the one atomic writer, gzip if the name ends in ``.gz``.

    The gzip header has no time stamp, so the same data gives the same bytes.
    """
    if is_gzip_name(path):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    atomic_write(path, data)
