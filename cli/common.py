"""Helpers shared by the commands: keys from the seed, loading ``--data``, splits, text formatting.

Imported only when a command runs (it imports numpy and funcnn).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from funcnn.datasets import Dataset, builtin_names, load_data, split_indices
from funcnn.errors import DataError
from funcnn.layers.base import Layer
from funcnn.network import Sequential
from funcnn.rng import Key, fold_in, key

from .errors import usage_error

__all__ = [
    "RunKeys",
    "check_data_option",
    "data_source",
    "layers_text",
    "load_dataset",
    "percent",
    "run_keys",
    "split_of",
]


class RunKeys(NamedTuple):
    """The keys of a run, derived by meaning from ``--seed``."""

    data: Key
    split: Key
    init: Key
    train: Key


def run_keys(seed: int) -> RunKeys:
    """``fold_in(key(seed), "data")`` for synthetic data, ``"split"``, ``"init"`` and ``"train"``."""
    root = key(seed)
    return RunKeys(*(fold_in(root, name) for name in ("data", "split", "init", "train")))


def check_data_option(spec: str, option: str = "--data") -> None:
    """A usage error (exit 2) if ``spec`` is neither a built-in name nor an existing path."""
    if spec in builtin_names() or Path(spec).exists():
        return
    raise usage_error(
        option,
        f"{spec!r} is neither a built-in data set nor an existing file or folder; "
        f"built-in: {', '.join(builtin_names())}",
    )


def data_source(spec: str) -> str:
    """What to store in ``config.json`` to find the data again: a built-in name or an absolute path."""
    return spec if spec in builtin_names() else str(Path(spec).resolve())


def load_dataset(spec: str, *, seed: int, label_column: str | None) -> Dataset:
    """The data set ``--data`` names; synthetic ones are drawn from the seed's data key."""
    column: int | str | None = label_column
    if isinstance(label_column, str) and label_column.lstrip("-").isdigit():
        column = int(label_column)
    if spec in builtin_names() and label_column is not None:
        raise usage_error("--label-column", "applies to CSV files only, not to built-in data sets")
    return load_data(spec, key=run_keys(seed).data, label_column=column)


def split_of(ds: Dataset, seed: int, val_split: float) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """The run's ``(train, validation)`` indices (stratified by class), or None without validation."""
    if val_split <= 0:
        return None
    labels: Any = ds.y if ds.task == "classification" else ds.n_samples
    try:
        train, val = split_indices(run_keys(seed).split, labels, test_fraction=val_split)
    except DataError as e:
        raise DataError(f"--val-split {val_split}: {e}; use a smaller --val-split, or 0") from None
    return np.sort(train), np.sort(val)


def layers_text(model: Layer) -> str:
    """``Dense(out_dim=64) -> ReLU() -> Dense(out_dim=3)`` for a Sequential, else the spec's repr."""
    if isinstance(model, Sequential):
        return " → ".join(repr(layer) for layer in model.layers)
    return repr(model)


def percent(value: float) -> str:
    """``0.98333`` -> ``'98.33%'``."""
    return f"{100 * value:.2f}%"


def shape_text(shape: Sequence[int]) -> str:
    """``(8, 8)`` -> ``'8x8'``."""
    return "x".join(str(d) for d in shape) or "scalar"


def samples_text(n: int, shape: Sequence[int]) -> str:
    """``300 samples of 2 features`` or ``1797 samples of 8x8 values``."""
    if len(shape) == 1:
        return f"{n} samples of {shape[0]} feature{'s' * (shape[0] != 1)}"
    return f"{n} samples of {shape_text(shape)} values"


def class_names(config: Mapping[str, Any] | None, n: int) -> list[str]:
    """The class names recorded in a run's config, else ``'0'``, ``'1'``, ..."""
    names = (config or {}).get("data", {}).get("class_names")
    if isinstance(names, list) and len(names) == n:
        return [str(s) for s in names]
    return [str(i) for i in range(n)]
