"""Run folders: what ``funcnn train`` writes beside its checkpoints, and how to read it back.

A run folder holds:

==================== =================================================================
``config.json``      the resolved configuration (every default filled in)
``checkpoint.npz``   the latest training state (:mod:`funcnn.checkpoint`)
``epoch-NNNN.npz``   states kept every N epochs
``preprocess.npz``   the input preparation fitted on the training split (:class:`Preparation`)
``history.csv``      one row per epoch: costs, metrics, learning rate, seconds (:class:`HistoryLog`)
``*.png``            plots, when matplotlib is installed
==================== =================================================================

This module holds the policy the command line applies, as plain functions the
tests (and other programs) can call: how raw inputs are laid out and scaled
(:func:`choose_layout`, :func:`fit_preparation`), which output layer and loss
fit the data (:func:`choose_head`, :func:`loss_for_model`), class
probabilities from a model's outputs (:func:`probabilities`), and the grid of
a 2-D decision-boundary plot (:func:`decision_grid`). Files are written
atomically (a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import secrets
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn._typing import FloatT, Shape
from funcnn.checkpoint import LATEST
from funcnn.datasets import MinMaxScaler, Standardizer, builtin_names, load_csv, load_data
from funcnn.datasets._csv import decode_text, parse_csv
from funcnn.datasets._io import read_bytes
from funcnn.errors import CheckpointError, ConfigError, DataError, ShapeError
from funcnn.layers.activations import sigmoid, softmax
from funcnn.layers.base import Layer
from funcnn.losses import MSE, BinaryCrossEntropy, CategoricalCrossEntropy, Loss
from funcnn.metrics import to_labels
from funcnn.network import Sequential, output_shape, predict
from funcnn.rng import Key
from funcnn.tree import FrozenTree, tree_dtype

__all__ = [
    "CONFIG",
    "atomic_write",
    "HISTORY",
    "PREPROCESS",
    "Head",
    "Preparation",
    "Run",
    "choose_head",
    "choose_layout",
    "decision_grid",
    "fingerprint",
    "fit_preparation",
    "load_inputs",
    "loss_for_model",
    "open_run",
    "predicted_labels",
    "probabilities",
    "read_json",
]

CONFIG = "config.json"
PREPROCESS = "preprocess.npz"
HISTORY = "history.csv"

Layout: TypeAlias = Literal["as_is", "flat", "channels"]
Scale: TypeAlias = Literal["standard", "minmax", "none"]
LossName: TypeAlias = Literal["cross_entropy", "binary_cross_entropy", "mse"]
Task: TypeAlias = Literal["classification", "regression"]
LAYOUTS: tuple[Layout, ...] = ("as_is", "flat", "channels")
SCALES: tuple[Scale, ...] = ("standard", "minmax", "none")


# --- files -----------------------------------------------------------------------------------


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON object from ``path``.

    Raises:
        CheckpointError: the file is missing, unreadable or not a JSON object.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{p}: not a readable JSON file ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{p}: expected a JSON object, got {type(data).__name__}")
    return data


def fingerprint(x: NDArray[Any], y: NDArray[Any]) -> str:
    """``"sha256:<hex>"`` of two arrays' dtypes, shapes and bytes: equal data, equal fingerprint."""
    h = hashlib.sha256()
    for a in (x, y):
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return "sha256:" + h.hexdigest()


# --- input preparation -----------------------------------------------------------------------


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


Scaler: TypeAlias = Standardizer | MinMaxScaler | None


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

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the preparation (with the scaler's fitted arrays) to an ``.npz`` file, atomically."""
        arrays: dict[str, NDArray[Any]] = {
            "layout": np.array(self.layout),
            "scale": np.array(self.scale),
            "raw_shape": np.array(self.raw_shape, dtype=np.int64),
        }
        if self.scaler is not None:
            arrays.update(self.scaler.to_arrays())
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        atomic_write(Path(path), buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Preparation:
        """The inverse of :meth:`save`.

        Raises:
            CheckpointError: the file is missing, damaged or not a preparation file.
        """
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except FileNotFoundError:
            raise CheckpointError(f"{p}: no such file") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise CheckpointError(f"{p}: not a readable preprocessing file ({e})") from None
        try:
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
        except (KeyError, ValueError, TypeError) as e:
            raise CheckpointError(f"{p}: a damaged preprocessing file ({e}); restore it or train again") from None


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


# --- output layer and loss -------------------------------------------------------------------


@attrs.frozen
class Head:
    """The output layer width and the loss that fit a data set, and how to describe the choice."""

    out_dim: int
    loss: Loss
    description: str


def _classes_text(n: int) -> str:
    return f"{n} classes"


def _check_classes(n_classes: int | None) -> int:
    if n_classes is None or n_classes < 2:
        raise DataError(
            f"classification needs at least 2 classes, the labels hold {n_classes or 0}; "
            "check the label column (--label-column)"
        )
    return n_classes


def choose_head(task: Task, *, n_classes: int | None = None, n_outputs: int = 1, loss: LossName | None = None) -> Head:
    """The last ``Dense`` width and loss for a data set (``loss=None`` chooses).

    Several classes: ``n_classes`` logits with softmax + cross-entropy; two
    classes: one logit with sigmoid + binary cross-entropy; regression:
    ``n_outputs`` values with the mean squared error. The losses work on
    logits (``from_logits=True``), which is the numerically stable form.

    Raises:
        DataError: the loss does not fit the labels (e.g. cross-entropy on
            real-valued targets); the message names the loss that would.

    >>> choose_head("classification", n_classes=3).description
    'softmax + cross-entropy (3 classes)'
    >>> choose_head("classification", n_classes=2).out_dim
    1
    """
    if task == "regression":
        if loss not in (None, "mse"):
            raise DataError(
                f"the loss {loss.replace('_', '-')} needs class labels, but the targets are real numbers "
                "(a regression data set); use --loss mse"
            )
        return Head(n_outputs, MSE(), f"identity + mean squared error ({n_outputs} output{'s' * (n_outputs > 1)})")
    k = _check_classes(n_classes)
    if loss == "mse":
        raise DataError(
            f"the loss mse needs real-valued targets, but the labels are classes ({_classes_text(k)}); "
            "use --loss cross-entropy"
        )
    if loss == "binary_cross_entropy" or (loss is None and k == 2):
        if k != 2:
            raise DataError(
                f"binary cross-entropy needs labels 0 and 1, but the labels hold {_classes_text(k)}; "
                "use --loss cross-entropy"
            )
        return Head(1, BinaryCrossEntropy(from_logits=True), "sigmoid + binary cross-entropy (2 classes)")
    return Head(k, CategoricalCrossEntropy(from_logits=True), f"softmax + cross-entropy ({_classes_text(k)})")


def _last_layer(model: Layer) -> Layer:
    while isinstance(model, Sequential) and model.layers:
        model = model.layers[-1]
    return model


def loss_for_model(
    model: Layer,
    in_shape: Shape,
    task: Task,
    *,
    n_classes: int | None = None,
    n_outputs: int = 1,
    loss: LossName | None = None,
) -> tuple[Loss, str]:
    """The loss for a given model (e.g. from a model file) and data, with a description.

    A last ``Softmax`` or ``Sigmoid`` layer means the model outputs
    probabilities; otherwise its outputs are read as logits.

    Raises:
        ConfigError: the model's output does not fit the labels (the message
            says which ``out_dim`` the last layer needs).
        DataError: the loss does not fit the labels.
    """
    out = output_shape(model, in_shape)
    last = _last_layer(model).kind
    probs = last in ("softmax", "sigmoid")
    width = out[-1] if out else 1
    if task == "regression":
        head = choose_head(task, n_outputs=n_outputs, loss=loss)
        if out != (n_outputs,):
            raise ConfigError(
                f"the model outputs shape {out} per sample but the targets have {n_outputs} value(s); "
                f"make the last layer's out_dim {n_outputs}"
            )
        return head.loss, head.description
    k = _check_classes(n_classes)
    if loss is None:
        loss = "binary_cross_entropy" if (width == 1 and k == 2) else "cross_entropy"
    head = choose_head(task, n_classes=k, loss=loss)
    if loss == "binary_cross_entropy":
        if out != (1,):
            raise ConfigError(
                f"binary cross-entropy needs one output per sample, but the model outputs shape {out}; "
                "make the last layer's out_dim 1, or use --loss cross-entropy"
            )
        if probs:
            return BinaryCrossEntropy(), "binary cross-entropy on the model's sigmoid output (2 classes)"
        return head.loss, head.description
    if len(out) != 1 or out[0] < k:
        raise ConfigError(
            f"the model outputs shape {out} per sample but the labels hold {_classes_text(k)}; "
            f"make the last layer's out_dim {k}"
        )
    if probs:
        return CategoricalCrossEntropy(), f"cross-entropy on the model's softmax output ({_classes_text(k)})"
    return head.loss, head.description


def _from_logits(loss: Loss) -> bool:
    return bool(getattr(loss, "from_logits", False))


def probabilities(loss: Loss, y: NDArray[FloatT]) -> NDArray[FloatT]:
    """Class probabilities ``(n, classes)`` from a classifier's outputs ``y``.

    Logits go through softmax (several classes) or sigmoid (one output, which
    becomes two columns ``1 - p, p``); probabilities are returned as they are.

    Raises:
        ValueError: ``loss`` is not a classification loss.
    """
    if loss.kind == "categorical_cross_entropy":
        return softmax(y) if _from_logits(loss) else y
    if loss.kind == "binary_cross_entropy":
        p = sigmoid(y) if _from_logits(loss) else y
        p = p.reshape(p.shape[0], -1)
        return np.concatenate([1 - p, p], axis=1)
    raise ValueError(f"probabilities: {loss!r} is not a classification loss")


def predicted_labels(loss: Loss, y: NDArray[FloatT]) -> NDArray[np.int64]:
    """``(n,)`` predicted classes from a classifier's outputs (arg-max, or the 0.5 threshold)."""
    return to_labels(y, from_logits=_from_logits(loss))


def decision_grid(
    model: Layer,
    params: FrozenTree[FloatT],
    prep: Preparation,
    loss: Loss,
    x: ArrayLike,
    *,
    resolution: int = 200,
    margin: float = 0.1,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """The predicted class on a grid covering 2-D raw inputs ``x: (n, 2)`` (for a decision-boundary plot).

    Returns:
        ``(gx, gy, labels)``: ``gx: (resolution,)`` and ``gy: (resolution,)``
        grid coordinates spanning the data plus ``margin`` of its range on each
        side, and ``labels: (resolution, resolution)`` with ``labels[i, j]``
        the class predicted at ``(gx[j], gy[i])``.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ShapeError(f"decision_grid: expected 2-D inputs (n, 2), got {a.shape}")
    low, high = a.min(axis=0), a.max(axis=0)
    pad = np.where(high > low, (high - low) * margin, 1.0)
    gx = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    gy = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    mesh = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    y = predict(model, params, prep.apply(mesh, params_dtype(params)))
    return gx, gy, predicted_labels(loss, y).reshape(resolution, resolution)


def params_dtype(params: FrozenTree[FloatT]) -> type[FloatT]:
    """The scalar type (``np.float32`` or ``np.float64``) of a params tree."""
    return tree_dtype(params).type


# --- reading a run ---------------------------------------------------------------------------


@attrs.frozen
class Run:
    """A checkpoint and, when it sits in a run folder, the folder's config and preparation."""

    checkpoint: Path
    folder: Path | None
    config: Mapping[str, Any] | None
    preparation: Preparation | None


def open_run(path: str | os.PathLike[str]) -> Run:
    """Find the checkpoint of a run folder (``checkpoint.npz``) or take a checkpoint file,
    and read ``config.json`` and ``preprocess.npz`` beside it when present.

    Raises:
        CheckpointError: no such file or folder, a folder without ``checkpoint.npz``,
            or a damaged ``config.json`` or ``preprocess.npz``.
    """
    p = Path(path)
    if p.is_dir():
        ckpt = p / LATEST
        if not ckpt.is_file():
            raise CheckpointError(f"{p}: not a run folder (it has no {LATEST}); give a run folder or a checkpoint file")
        folder = p
    elif p.is_file():
        ckpt, folder = p, p.parent
    else:
        raise CheckpointError(f"{p}: no such run folder or checkpoint file")
    config = read_json(folder / CONFIG) if (folder / CONFIG).is_file() else None
    if config is not None and not all(isinstance(config.get(k), dict) for k in ("settings", "data")):
        raise CheckpointError(f"{folder / CONFIG}: not written by 'funcnn train' (no 'settings' and 'data' tables)")
    prep = Preparation.load(folder / PREPROCESS) if (folder / PREPROCESS).is_file() else None
    if config is None and prep is None and not p.is_dir():
        return Run(ckpt, None, None, None)  # a lone checkpoint file
    return Run(ckpt, folder, config, prep)


# --- inputs for prediction -------------------------------------------------------------------

_RAGGED = re.compile(r"expected (\d+) cells \((like [^)]*)\), got (\d+)")


def _delimiter(p: Path) -> str:
    return "\t" if p.name.lower().removesuffix(".gz").endswith(".tsv") else ","


def _features_only_csv(p: Path) -> NDArray[np.float64]:
    """A CSV holding only features (no label column), checked like :func:`~funcnn.datasets.load_csv`."""
    text = decode_text(read_bytes(p), str(p))
    sep = _delimiter(p)
    # The CSV parser always splits off a label column: give it a dummy one (and fix the cell
    # counts in its messages). A features-only reader in funcnn.datasets would make this unneeded.
    padded = "\n".join(line.rstrip("\r") + sep + "0" if line.strip() else line for line in text.split("\n"))
    try:
        table = parse_csv(padded, str(p), delimiter=sep, task="classification")
    except DataError as e:
        fixed = _RAGGED.sub(lambda m: f"expected {int(m[1]) - 1} cells ({m[2]}), got {int(m[3]) - 1}", str(e))
        raise DataError(fixed) from None
    return table.x


def _first_row_cells(p: Path) -> int:
    text = decode_text(read_bytes(p), str(p))
    first = next((line for line in text.split("\n") if line.strip()), None)
    if first is None:
        raise DataError(f"{p}: no data rows (the file is empty)")
    return first.count(_delimiter(p)) + 1


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


def load_inputs(
    spec: str | os.PathLike[str], raw_shape: Shape, *, key: Key | None = None, label_column: int | str | None = None
) -> NDArray[Any]:
    """Raw samples ``(n, *raw_shape)`` to predict for.

    ``spec`` is a built-in data set name, an ``.npz`` file with an array
    ``x``, or a CSV file whose rows hold either just the features or the
    features and a label column (given by ``label_column``, else the last
    one), which is dropped. Flat CSV rows are reshaped to ``raw_shape``
    (e.g. 64 pixels to ``8 x 8``).

    Raises:
        DataError: a missing or malformed file (naming the file and line).
        ShapeError: the samples do not have ``raw_shape`` (or as many values).
    """
    name = str(spec)
    n_features = math.prod(raw_shape)
    if name in builtin_names():
        x: NDArray[Any] = load_data(name, key=key).x
    else:
        p = Path(spec)
        if not p.is_file():
            names = ", ".join(builtin_names())
            raise DataError(f"{p}: no such file, and not a built-in data set; built-in names: {names}")
        lower = p.name.lower().removesuffix(".gz")
        if lower.endswith(".npz"):
            x = _npz_inputs(p)
        elif lower.endswith((".csv", ".tsv", ".txt")):
            cells = _first_row_cells(p)
            if label_column is not None or cells == n_features + 1:
                x = load_csv(p, label_column=label_column).x
            elif cells == n_features:
                x = _features_only_csv(p)
            else:
                raise ShapeError(
                    f"{p}: rows have {cells} cells, but the model takes {n_features} features per sample "
                    f"(give {n_features} cells, or {n_features + 1} with a label column)"
                )
        else:
            raise DataError(f"{p}: unknown input file type; expected .csv/.tsv (optionally .gz) or .npz")
    if tuple(x.shape[1:]) != tuple(raw_shape) and x.ndim == 2 and x.shape[1] == n_features:
        x = x.reshape(x.shape[0], *raw_shape)
    if tuple(x.shape[1:]) != tuple(raw_shape):
        raise ShapeError(
            f"{name}: samples of shape {tuple(x.shape[1:])}, but the model was trained on samples of shape "
            f"{tuple(raw_shape)}; give inputs with the same features"
        )
    return x
