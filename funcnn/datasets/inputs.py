"""Inputs for a model: how raw samples are laid out and scaled, and raw samples to predict for.

* :func:`choose_layout`: feed samples as they are, flattened, or with a channel axis,
  whichever the model accepts (found by shape inference, no weights built);
* :class:`Preparation`: a layout plus a fitted scaler, fitted by :func:`fit_preparation`
  on the training split and applied to every split and to new inputs (stored in a
  run folder's ``preprocess.npz``, see :mod:`funcnn.io.runs`);
* :func:`load_inputs`: raw samples from a built-in name, an ``.npz`` with ``x``, or a
  CSV with or without a label column (:func:`load_features_csv` reads the latter);
* :func:`fingerprint`: equal data, equal fingerprint (to check a resumed run's data).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn._typing import FloatT, Shape
from funcnn.datasets._csv_cells import read_numbers, to_float
from funcnn.datasets._csv_grid import decode_text, read_grid, text_rows
from funcnn.datasets._io import read_bytes
from funcnn.datasets.builtin import builtin_names
from funcnn.datasets.images import is_image_source, load_images
from funcnn.datasets.loaders import load_csv_features, load_data
from funcnn.datasets.prepare import MinMaxScaler, Standardizer
from funcnn.datasets.schema import Schema
from funcnn.errors import DataError, ShapeError
from funcnn.layers.base import Layer
from funcnn.network import output_shape
from funcnn.rng import Key

__all__ = [
    "LAYOUTS",
    "SCALES",
    "Layout",
    "Preparation",
    "Scale",
    "choose_layout",
    "fingerprint",
    "fit_preparation",
    "load_features_csv",
    "load_inputs",
]

Layout: TypeAlias = Literal["as_is", "flat", "channels"]
Scale: TypeAlias = Literal["standard", "minmax", "none"]
LAYOUTS: tuple[Layout, ...] = ("as_is", "flat", "channels")
SCALES: tuple[Scale, ...] = ("standard", "minmax", "none")
Scaler: TypeAlias = Standardizer | MinMaxScaler | None


def fingerprint(x: NDArray[Any], y: NDArray[Any]) -> str:
    """``"sha256:<hex>"`` of two arrays' dtypes, shapes and bytes: equal data, equal fingerprint."""
    h = hashlib.sha256()
    for a in (x, y):
        h.update(f"{a.dtype.str}{a.shape};".encode())
        flat = np.ascontiguousarray(a).reshape(-1)
        step = max(1, (8 * 2**20) // max(1, flat.itemsize))  # hashed 8 MiB at a time: no copy of all the bytes
        for first in range(0, flat.size, step):
            h.update(flat[first : first + step].tobytes())
    return "sha256:" + h.hexdigest()


# --- layout and scaling ----------------------------------------------------------------------


def _laid_out(shape: Shape, layout: Layout) -> Shape:
    if layout == "flat":
        return (math.prod(shape),)
    if layout == "channels":
        return (*shape, 1)
    return shape


def choose_layout(model: Layer, raw_shape: Shape) -> tuple[Layout, Shape]:
    """How to feed samples of ``raw_shape`` to ``model``: as they are, flattened, or with a channel axis.

    The first layout the model accepts wins, in the order as-is, channels
    (``(h, w)`` images for a convolution), flat (images for a ``Dense`` stack).

    Raises:
        ShapeError: the model accepts none of them (the message shows the first error).
    """
    candidates: list[Layout] = ["as_is"]
    if len(raw_shape) == 2:
        candidates.append("channels")
    if len(raw_shape) >= 2:
        candidates.append("flat")
    first: Exception | None = None
    for layout in candidates:
        try:
            output_shape(model, _laid_out(raw_shape, layout))
        except (ShapeError, ValueError) as e:
            first = first or e
            continue
        return layout, _laid_out(raw_shape, layout)
    raise ShapeError(f"the model cannot take samples of shape {raw_shape}: {first}")


@attrs.frozen(eq=False)
class Preparation:
    """How raw samples become model inputs: a layout change, then an optional scaler.

    ``raw_shape`` is the shape of one raw sample (``x.shape[1:]`` of the data
    set), ``layout`` one of ``"as_is"``, ``"flat"`` (``(n, h, w) -> (n, h*w)``)
    or ``"channels"`` (``(n, h, w) -> (n, h, w, 1)``), and ``scaler`` a fitted
    :class:`~funcnn.datasets.Standardizer` or :class:`~funcnn.datasets.MinMaxScaler` (or None).
    """

    raw_shape: Shape
    layout: Layout = attrs.field(validator=attrs.validators.in_(LAYOUTS))
    scaler: Scaler = None

    @property
    def in_shape(self) -> Shape:
        """The shape of one prepared sample (the model's ``in_shape``)."""
        return _laid_out(self.raw_shape, self.layout)

    @property
    def scale(self) -> Scale:
        """``"standard"``, ``"minmax"`` or ``"none"``."""
        if isinstance(self.scaler, Standardizer):
            return "standard"
        return "minmax" if isinstance(self.scaler, MinMaxScaler) else "none"

    def apply(self, x: ArrayLike, dtype: type[FloatT]) -> NDArray[FloatT]:
        """Prepared inputs ``(n, *in_shape)`` of ``dtype`` from raw samples ``x: (n, *raw_shape)``.

        Raises:
            ShapeError: the samples do not have ``raw_shape``.
        """
        a = np.asarray(x)
        if a.ndim < 1 or tuple(a.shape[1:]) != self.raw_shape:
            got = tuple(a.shape[1:]) if a.ndim >= 1 else "a scalar"
            raise ShapeError(
                f"the data have samples of shape {got}, but the model was trained on samples of shape "
                f"{self.raw_shape}; give data with the same features"
            )
        a = a.reshape(a.shape[0], *self.in_shape)
        if self.scaler is None:
            return a.astype(dtype)
        return np.asarray(self.scaler.apply(a, dtype=dtype), dtype=dtype)

    def describe(self) -> dict[str, object]:
        """A JSON-able summary (for ``config.json``): layout, scale, shapes."""
        return {
            "layout": self.layout,
            "scale": self.scale,
            "raw_shape": list(self.raw_shape),
            "in_shape": list(self.in_shape),
        }

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The preparation as named arrays (layout, scale, raw shape, the scaler's fitted arrays)."""
        arrays: dict[str, NDArray[Any]] = {
            "layout": np.array(self.layout),
            "scale": np.array(self.scale),
            "raw_shape": np.array(self.raw_shape, dtype=np.int64),
        }
        if self.scaler is not None:
            arrays.update(self.scaler.to_arrays())
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[Any]]) -> Preparation:
        """The inverse of :meth:`to_arrays`.

        Raises:
            KeyError, ValueError, TypeError: the arrays do not describe a preparation.
        """
        layout, scale = str(arrays["layout"]), str(arrays["scale"])
        raw_shape = tuple(int(d) for d in arrays["raw_shape"])
        if layout not in LAYOUTS or scale not in SCALES:
            raise ValueError(f"unknown layout {layout!r} or scale {scale!r}")
        scaler: Scaler = None
        if scale == "standard":
            scaler = Standardizer.from_arrays(arrays)
        elif scale == "minmax":
            scaler = MinMaxScaler.from_arrays(arrays)
        return cls(raw_shape, layout, scaler)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the preparation to an ``.npz`` file, atomically (see :func:`funcnn.io.runs.save_preparation`)."""
        from funcnn.io.runs import save_preparation  # noqa: PLC0415 - funcnn.io builds on this package

        save_preparation(path, self)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Preparation:
        """The inverse of :meth:`save` (see :func:`funcnn.io.runs.load_preparation`).

        Raises:
            CheckpointError: the file is missing, damaged or not a preparation file.
        """
        from funcnn.io.runs import load_preparation  # noqa: PLC0415 - funcnn.io builds on this package

        return load_preparation(path)


def fit_preparation(x_train: ArrayLike, model: Layer, *, scale: Scale | Literal["auto"] = "auto") -> Preparation:
    """A :class:`Preparation` for ``model`` fitted on the training inputs ``x_train: (n, *raw_shape)``.

    The layout comes from :func:`choose_layout`. ``scale="auto"`` picks
    ``"minmax"`` for integer data (pixels: one range for all values, e.g.
    ``0..255`` maps to ``[0, 1]``) and ``"standard"`` (per-feature mean and
    standard deviation) for float data.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(3))
    >>> prep = fit_preparation(np.array([[[0, 8], [16, 4]]], dtype=np.uint8), model)
    >>> prep.layout, prep.scale, prep.in_shape
    ('flat', 'minmax', (4,))
    >>> prep.apply(np.array([[[0, 8], [16, 4]]], dtype=np.uint8), np.float32).tolist()
    [[0.0, 0.5, 1.0, 0.25]]
    """
    a = np.asarray(x_train)
    layout, _ = choose_layout(model, tuple(int(d) for d in a.shape[1:]))
    if scale == "auto":
        scale = "minmax" if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_ else "standard"
    raw_shape = tuple(int(d) for d in a.shape[1:])
    laid = a.reshape(a.shape[0], *_laid_out(raw_shape, layout))
    scaler: Scaler = None
    if scale == "standard":
        scaler = Standardizer.fit(laid)
    elif scale == "minmax":
        scaler = MinMaxScaler.fit(laid, per_feature=not np.issubdtype(a.dtype, np.integer))
    elif scale != "none":
        raise ValueError(f"fit_preparation: scale must be 'auto', 'standard', 'minmax' or 'none', got {scale!r}")
    return Preparation(raw_shape, layout, scaler)


# --- inputs for prediction -------------------------------------------------------------------


def load_features_csv(
    path: str | os.PathLike[str], *, header: bool | None = None, delimiter: str | None = None
) -> NDArray[np.float64]:
    """``(n, columns)`` float64 features from a CSV (or ``.tsv``, optionally gzipped) whose every column is a feature.

    Raises:
        DataError: a missing file, a ragged row, or a bad cell (naming the line and column).
    """
    p = Path(path)
    text = decode_text(read_bytes(p), str(p))
    grid = read_grid(text, str(p), delimiter=delimiter, header=header, default_delimiter=_delimiter(p))
    values = read_numbers(grid)
    if values is not None:
        return values
    cells, lines = text_rows(grid)
    return to_float(cells, list(range(grid.ncols)), lines, grid)


def _delimiter(p: Path) -> str:
    return "\t" if p.name.lower().removesuffix(".gz").endswith(".tsv") else ","


def _npz_inputs(p: Path) -> NDArray[Any]:
    try:
        with np.load(io.BytesIO(read_bytes(p)), allow_pickle=False) as npz:
            if "x" not in npz.files:
                raise DataError(f"{p}: no array named 'x'; the file holds {list(npz.files)}")
            x = npz["x"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, AttributeError) as e:
        raise DataError(f"{p}: not a readable .npz archive with an array 'x' ({e})") from None
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or x.ndim < 1:
        raise DataError(f"{p}: array 'x' must be numeric with a leading sample axis, got {x.dtype}{x.shape}")
    if np.issubdtype(x.dtype, np.inexact) and not np.all(np.isfinite(x)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise DataError(f"{p}: x{list(index)} is {x[index]}, not a finite number")
    out: NDArray[Any] = x
    return out


def _schema_of(shape_or_schema: Shape | Schema) -> Schema:
    if isinstance(shape_or_schema, Schema):
        return shape_or_schema
    return Schema(features=None, feature_shape=tuple(shape_or_schema), task="regression")


def load_inputs(
    spec: str | os.PathLike[str],
    schema: Shape | Schema,
    *,
    key: Key | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    prefix: str | None = None,
) -> NDArray[Any]:
    """Raw samples ``(n, *feature_shape)`` to predict for, read the way the model's training data were.

    ``spec`` is anything :func:`~funcnn.datasets.load_data` reads (a built-in
    name, a CSV, an ``.npz`` file, an IDX images file or a folder of IDX files,
    ``prefix`` choosing a pair), an ``.npz`` file with just an array ``x``, or,
    for a model trained on images ``(h, w, 1 or 3)``, an image file or a folder
    of images (see :func:`~funcnn.datasets.images.load_images`), read at that size.
    A CSV is read through ``schema`` (a :class:`~funcnn.datasets.Schema`, or just
    the sample shape): with a header, columns are matched by name and a label
    column is ignored; without one, the rows hold exactly the features or the
    training file's columns. Flat rows are reshaped to the sample shape (e.g. 64
    pixels to ``8 x 8``).

    Raises:
        DataError: a missing or malformed file, missing or unexpected columns
            (naming the file, line and columns).
        ShapeError: the samples do not have the model's sample shape.
    """
    s = _schema_of(schema)
    name = str(spec)
    raw_shape = s.feature_shape
    p = Path(spec)
    lower = p.name.lower().removesuffix(".gz")
    if name not in builtin_names() and p.is_file() and lower.endswith((".csv", ".tsv", ".txt")):
        x: NDArray[Any] = load_csv_features(p, s, header=header, delimiter=delimiter)
    elif name not in builtin_names() and p.is_file() and lower.endswith(".npz"):
        x = _npz_inputs(p)
    elif name not in builtin_names() and len(raw_shape) == 3 and raw_shape[2] in (1, 3) and is_image_source(p):
        # Image files for a model trained on images: read at its size and channel count.
        x = load_images(p, size=(raw_shape[0], raw_shape[1]), color="gray" if raw_shape[2] == 1 else "rgb")[0]
    else:
        x = load_data(spec if isinstance(spec, str) else Path(spec), key=key, prefix=prefix).x
    n_features = math.prod(raw_shape)
    if tuple(x.shape[1:]) != tuple(raw_shape) and x.ndim >= 2 and math.prod(x.shape[1:]) == n_features:
        x = x.reshape(x.shape[0], *raw_shape)
    if tuple(x.shape[1:]) != tuple(raw_shape):
        raise ShapeError(
            f"{name}: samples of shape {tuple(x.shape[1:])}, but the model was trained on samples of shape "
            f"{tuple(raw_shape)}; give inputs with the same features"
        )
    return x
