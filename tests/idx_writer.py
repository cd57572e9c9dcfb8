"""Test helper: write IDX files byte by byte, independently of ``funcnn.datasets.save_idx``.

``idx_bytes`` follows the format description (magic ``0, 0, type code, ndim``,
big-endian uint32 sizes, big-endian values) with ``struct``, so the package's
reader and writer are checked against a second implementation. ``write_fake_mnist``
writes a tiny MNIST-style folder for tests of code that loads MNIST.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from funcnn.rng import generator, key

# struct format character and IDX type code of each supported dtype
TYPE_CODES: dict[str, tuple[int, str]] = {
    "uint8": (0x08, "B"),
    "int8": (0x09, "b"),
    "int16": (0x0B, "h"),
    "int32": (0x0C, "i"),
    "float32": (0x0D, "f"),
    "float64": (0x0E, "d"),
}


def idx_bytes(array: NDArray[np.generic]) -> bytes:
    """The IDX encoding of ``array``, built with ``struct`` (big-endian)."""
    code, char = TYPE_CODES[array.dtype.name]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    values = array.reshape(-1).tolist()
    return header + struct.pack(f">{len(values)}{char}", *values)


def write_idx(path: Path, array: NDArray[np.generic]) -> Path:
    """Write ``array`` to ``path`` as IDX; gzip-compressed if the name ends in ``.gz``."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def write_fake_mnist(
    folder: Path, *, n: int = 20, prefix: str = "t10k", seed: int = 0, gz: bool = True
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Write ``<prefix>-images-idx3-ubyte[.gz]`` (n, 28, 28) and ``<prefix>-labels-idx1-ubyte[.gz]`` (n,).

    Labels cycle through 0..9; pixels are random bytes. Returns ``(images, labels)``.
    """
    g = generator(key(seed))
    images = g.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels
