"""The IDX format of MNIST: read, write, and pair images with labels.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian 32-bit size per dimension, then the values in
C order, big-endian. MNIST images use magic ``2051 = 0x00000803`` (uint8, 3-D)
and labels ``2049 = 0x00000801`` (uint8, 1-D). Files may be gzip-compressed;
byte offsets in error messages count in the decompressed data.

>>> import tempfile, pathlib
>>> import numpy as np
>>> with tempfile.TemporaryDirectory() as d:
...     path = pathlib.Path(d) / "toy-images-idx3-ubyte.gz"
...     save_idx(path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
...     a = load_idx(path)
>>> a.shape, a.dtype, int(a[1, 2, 3])
((2, 3, 4), dtype('uint8'), 23)
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from funcnn.datasets._io import read_bytes, write_bytes_atomic
from funcnn.datasets.dataset import Dataset
from funcnn.errors import DataError

__all__ = [
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "find_idx_pairs",
    "load_idx",
    "load_idx_pair",
    "load_mnist",
    "save_idx",
]

IDX_IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # 2049: uint8, 1 dimension

# type code -> big-endian dtype of the payload
_CODES: dict[int, np.dtype[np.number]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {np.dtype(d.newbyteorder("=")).name: code for code, d in _CODES.items()}
_CODE_NAMES = ", ".join(f"0x{c:02X} {np.dtype(d.newbyteorder('=')).name}" for c, d in _CODES.items())

MNIST_SOURCE = (
    'Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits" (IDX files read from disk)'
)


def _describe_magic(magic: int) -> str:
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    kind = _CODES[code].newbyteorder("=").name if code in _CODES else f"unknown type 0x{code:02X}"
    return f"{magic} (0x{magic:08X}: {kind}, {ndim}-D)"


def parse_idx(data: bytes, name: str, *, magic: int | None = None) -> NDArray[np.number]:
    """The array stored in the IDX bytes ``data`` (``name`` is used in errors)."""
    size = len(data)
    if size < 4:
        raise DataError(f"{name}, byte offset 0: got {size} bytes, too short for the 4-byte IDX magic number")
    found = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{name}, byte offset 0: bad IDX magic number 0x{found:08X}; it must start with two zero bytes "
            f"(MNIST images use {_describe_magic(IDX_IMAGES_MAGIC)}, labels {_describe_magic(IDX_LABELS_MAGIC)})"
        )
    if data[2] not in _CODES:
        raise DataError(
            f"{name}, byte offset 2: bad IDX magic number 0x{found:08X}: unknown type code 0x{data[2]:02X}; "
            f"expected one of {_CODE_NAMES}"
        )
    if data[3] == 0:
        raise DataError(f"{name}, byte offset 3: bad IDX magic number 0x{found:08X}: 0 dimensions")
    if magic is not None and found != magic:
        raise DataError(
            f"{name}, byte offset 0: expected IDX magic number {_describe_magic(magic)}, got {_describe_magic(found)}"
        )
    dtype, ndim = _CODES[data[2]], data[3]
    header = 4 + 4 * ndim
    if size < header:
        raise DataError(
            f"{name}, byte offset {size}: truncated header: {ndim} dimension sizes need {header} bytes, got {size}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    need = math.prod(shape) * dtype.itemsize
    have = size - header
    if have < need:
        raise DataError(
            f"{name}, byte offset {size}: truncated payload: shape {shape} of {dtype.newbyteorder('=').name} "
            f"needs {need} bytes after the {header}-byte header, got {have} ({need - have} missing)"
        )
    if have > need:
        raise DataError(
            f"{name}, byte offset {header + need}: {have - need} unexpected bytes after the payload of shape {shape}"
        )
    a: NDArray[np.number] = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header).reshape(shape)
    if dtype.byteorder == ">":
        a = a.astype(dtype.newbyteorder("="))  # native byte order for fast arithmetic
        a.flags.writeable = False
    return a


def load_idx(path: str | Path, *, magic: int | None = None) -> NDArray[np.number]:
    """The read-only array stored in the IDX file ``path`` (raw or gzip).

    Args:
        path: an IDX file, e.g. ``t10k-images-idx3-ubyte.gz``.
        magic: if given, the magic number the file must have (e.g. ``IDX_IMAGES_MAGIC``).

    Returns:
        An array with the header's shape and dtype (uint8 for MNIST), in native byte order.

    Raises:
        DataError: missing file, bad gzip, wrong magic number, truncated header or
            payload, or trailing bytes; the message names the file and the byte offset.
    """
    p = Path(path)
    return parse_idx(read_bytes(p), str(p), magic=magic)


def idx_bytes(array: NDArray[np.number]) -> bytes:
    """The IDX encoding of ``array`` (header and big-endian payload)."""
    a = np.asarray(array)
    code = _CODE_OF.get(a.dtype.name)
    if code is None:
        raise DataError(f"save_idx: IDX cannot store dtype {a.dtype}; supported: {_CODE_NAMES}")
    if not 1 <= a.ndim <= 255:
        raise DataError(f"save_idx: IDX needs 1 to 255 dimensions, got shape {a.shape}")
    if any(d >= 2**32 for d in a.shape):
        raise DataError(f"save_idx: every dimension must be < 2**32, got shape {a.shape}")
    header = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(a, dtype=_CODES[code]).tobytes()


def save_idx(path: str | Path, array: NDArray[np.number]) -> None:
    """Write ``array`` as an IDX file (gzip when ``path`` ends in ``.gz``), atomically.

    Args:
        path: the file to write; an existing file is replaced.
        array: uint8, int8, int16, int32, float32 or float64, with 1 to 255 dimensions.
    """
    write_bytes_atomic(Path(path), idx_bytes(array))


_IMAGES_RE = re.compile(r"^(?P<prefix>.+?)-images[-.]idx3-ubyte(?P<gz>\.gz)?$")
_LABELS_RE = re.compile(r"^(?P<prefix>.+?)-labels[-.]idx1-ubyte(?P<gz>\.gz)?$")


def labels_path_for(images: Path) -> Path | None:
    """The labels file beside an ``<prefix>-images-idx3-ubyte[.gz]`` file, if there is one."""
    m = _IMAGES_RE.match(images.name)
    if m is None:
        return None
    pair = find_idx_pairs(images.parent).get(m["prefix"])
    return None if pair is None else pair[1]


def find_idx_pairs(folder: str | Path) -> dict[str, tuple[Path, Path]]:
    """``{prefix: (images, labels)}`` for every ``<prefix>-images-idx3-ubyte[.gz]`` with matching labels.

    Uncompressed files are preferred when both forms exist.
    """
    images: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    # Sorted so that "x" (uncompressed) comes before "x.gz" and is kept.
    for p in sorted(Path(folder).iterdir()):
        for regex, found in ((_IMAGES_RE, images), (_LABELS_RE, labels)):
            m = regex.match(p.name)
            if m is not None and p.is_file():
                found.setdefault(m["prefix"], p)
    return {prefix: (images[prefix], labels[prefix]) for prefix in sorted(images) if prefix in labels}


def load_idx_pair(images: str | Path, labels: str | Path, *, name: str | None = None) -> Dataset:
    """A classification data set from an IDX images file and an IDX labels file.

    Args:
        images: IDX file of shape ``(n, ...)`` (uint8 for MNIST: ``(n, 28, 28)``).
        labels: IDX file of shape ``(n,)`` holding integer labels >= 0.
        name: the data set's name (default: the images file's prefix).

    Raises:
        DataError: a bad file (see :func:`load_idx`), or image and label counts differ.
    """
    pi, pl = Path(images), Path(labels)
    m = _IMAGES_RE.match(pi.name)
    return _pair(pi, load_idx(pi), pl, load_idx(pl), name or (m["prefix"] if m else pi.name), None, str(pi))


def _pair(
    pi: Path,
    x: NDArray[np.number],
    pl: Path,
    y: NDArray[np.number],
    name: str,
    class_names: tuple[str, ...] | None,
    source: str,
) -> Dataset:
    if x.ndim < 2:
        raise DataError(f"{pi}: expected images of shape (n, height, width), got {x.shape}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{pl}: expected 1-D integer labels, got {y.dtype}{y.shape}")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{pi} holds {x.shape[0]} images but {pl} holds {y.shape[0]} labels; the counts must match")
    if y.size and int(y.min()) < 0:
        i = int(np.argmin(y))
        raise DataError(f"{pl}, byte offset {_label_offset(y, i)}: label {int(y[i])} of sample {i} is negative")
    if class_names is not None and y.size and int(y.max()) >= len(class_names):
        i = int(np.argmax(y))
        raise DataError(
            f"{pl}, byte offset {_label_offset(y, i)}: label {int(y[i])} of sample {i} "
            f"is not in 0..{len(class_names) - 1}"
        )
    labels = np.asarray(y, dtype=np.int64)
    labels.flags.writeable = False
    return Dataset(x, labels, name=name, task="classification", class_names=class_names, source=source)


def _label_offset(y: NDArray[np.number], i: int) -> int:
    return 4 + 4 * y.ndim + i * y.dtype.itemsize


def load_mnist(folder: str | Path, *, prefix: str | None = None) -> Dataset:
    """MNIST-style images and labels from the IDX files in ``folder`` (nothing is downloaded).

    Looks for ``<prefix>-images-idx3-ubyte[.gz]`` and ``<prefix>-labels-idx1-ubyte[.gz]``
    (``-images.idx3-ubyte`` also works). Images must have magic 2051 (uint8, 3-D)
    and labels magic 2049 (uint8, 1-D) with values 0-9.

    Args:
        folder: the directory holding the files.
        prefix: which pair to load (``"train"``, ``"t10k"``); needed only when
            the folder holds more than one pair.

    Returns:
        A data set with ``x: (n, 28, 28)`` uint8 images, ``y: (n,)`` int64 labels
        and ``class_names = ("0", ..., "9")``.

    Raises:
        DataError: no folder, no pair or several pairs without ``prefix``, a bad
            file, a count mismatch, or a label outside 0-9.
    """
    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"{d}: no such folder (expected a folder of MNIST IDX files)")
    pairs = find_idx_pairs(d)
    if prefix is not None:
        if prefix not in pairs:
            raise DataError(f"{d}: no IDX pair with prefix {prefix!r}; found {sorted(pairs) or 'none'}")
        chosen = prefix
    elif len(pairs) == 1:
        (chosen,) = pairs
    elif not pairs:
        raise DataError(
            f"{d}: found no '<prefix>-images-idx3-ubyte[.gz]' file with a matching "
            "'<prefix>-labels-idx1-ubyte[.gz]' file"
        )
    else:
        raise DataError(f"{d}: holds several IDX pairs {sorted(pairs)}; choose one with prefix=...")
    pi, pl = pairs[chosen]
    x = load_idx(pi, magic=IDX_IMAGES_MAGIC)
    y = load_idx(pl, magic=IDX_LABELS_MAGIC)
    name = d.name if len(pairs) == 1 else f"{d.name}-{chosen}"
    digits = tuple(str(i) for i in range(10))
    return _pair(pi, x, pl, y, name, digits, f"{MNIST_SOURCE}: {pi}")
