"""Helpers shared by the commands: keys from the seed, loading ``--data``, splits, text formatting.

Imported only when a command runs (it imports numpy and funcnn).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from funcnn.datasets import Dataset, Schema, builtin_names, load_data, split_indices
from funcnn.errors import DataError
from funcnn.layers.base import Layer
from funcnn.network import Sequential
from funcnn.rng import Key, fold_in, key

from .errors import usage_error

__all__ = [
    "RunKeys",
    "check_data_option",
    "data_source",
    "json_text",
    "layers_text",
    "load_dataset",
    "percent",
    "run_keys",
    "split_of",
    "thread_limit",
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
    """A usage error (exit 2) if ``spec`` is neither a built-in name nor an existing file or folder.

    Only regular files and folders are accepted: a FIFO would block forever, a device such as
    ``/dev/zero`` never end.
    """
    path = Path(spec)
    if spec in builtin_names() or path.is_file() or path.is_dir():
        return
    if path.exists():
        raise usage_error(option, f"{spec!r} is not a regular file or a folder (a pipe, a device or a socket?)")
    raise usage_error(
        option,
        f"{spec!r} is neither a built-in data set nor an existing file or folder; "
        f"built-in: {', '.join(builtin_names())}",
    )


def data_source(spec: str) -> str:
    """What to store in ``config.json`` to find the data again: a built-in name or an absolute path."""
    return spec if spec in builtin_names() else str(Path(spec).resolve())


def load_dataset(
    spec: str,
    *,
    seed: int,
    label_column: str | None,
    task: str | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    drop: Sequence[str] | None = None,
    prefix: str | None = None,
    schema: Schema | None = None,
) -> Dataset:
    """The data set ``--data`` names; synthetic ones are drawn from the seed's data key.

    ``task`` is ``"classification"``, ``"regression"`` or None/``"auto"``; with
    ``schema`` (a trained run's), files are read as that run's data were.
    """
    is_csv = spec not in builtin_names() and Path(spec).name.lower().removesuffix(".gz").endswith(
        (".csv", ".tsv", ".txt")
    )
    for option, value in (("--label-column", label_column), ("--delimiter", delimiter), ("--drop", drop),
                          ("--header/--no-header", header)):
        if value is not None and not is_csv:
            raise usage_error(option, f"applies to CSV files only, not to {spec!r}")
    if prefix is not None and not Path(spec).is_dir():
        raise usage_error("--prefix", f"chooses an IDX pair in a folder; {spec!r} is not a folder")
    chosen: Any = None if task in (None, "auto") else task
    return load_data(
        spec,
        key=run_keys(seed).data,
        label_column=label_column,
        task=chosen,
        header=header,
        delimiter=delimiter,
        drop=tuple(drop or ()),
        prefix=prefix,
        schema=schema,
    )


def _strict(value: object) -> object:
    if isinstance(value, np.ndarray):
        return _strict(value.tolist())
    if isinstance(value, np.generic):
        return _strict(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def json_text(data: object) -> str:
    """Strict, indented JSON any parser accepts: NaN and infinities become ``null``, numpy values plain ones.

    >>> print(json_text({"cost": float("nan"), "n": np.int64(3)}))
    {
      "cost": null,
      "n": 3
    }
    """
    return json.dumps(_strict(data), indent=2, allow_nan=False)


def task_text(ds: Dataset, settings: Any) -> str:
    """The setup summary's task line: the task, why, and how to change it."""
    from funcnn.datasets import describe_task

    why = describe_task(ds)
    if settings.task != "auto":
        return f"{why} (--task {settings.task})"
    if settings.loss == "mse":
        return f"{why} (--loss mse)"
    other = "regression" if ds.task == "classification" else "classification"
    scaled = "; targets standardised (--scale-target)" if getattr(settings, "scale_target", False) else ""
    return f"{why}{scaled}; --task {other} to change"


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


@contextlib.contextmanager
def thread_limit(threads: int | None, note: Callable[[str], None]) -> Iterator[None]:
    """The block under ``--threads``: None keeps funcnn's policy (1 thread), 0 the BLAS default, N limits to N.

    ``note`` receives one line when a limit was asked for but cannot be applied (no threadpoolctl).
    """
    from funcnn.thread_policy import threads as blas_threads

    if threads is None:
        yield
        return
    with blas_threads(threads or None) as limits:
        if threads and not limits.applied:
            note(f"note: --threads {threads} has no effect: {limits.note}")
        yield
