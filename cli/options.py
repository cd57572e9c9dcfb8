"""Choices, defaults and small parsers of the command line (standard library only: imported at start-up).

Every ``train`` option that shapes a run defaults to ``None`` on the command
line, meaning "not given": a new run fills in :data:`DEFAULTS`, a resumed run
takes the value from its ``config.json``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import typer

__all__ = [
    "DEFAULTS",
    "DEFAULT_LR",
    "Activation",
    "DType",
    "LossChoice",
    "OptimizerName",
    "PlotScale",
    "ScaleChoice",
    "SplitChoice",
    "TrainArgs",
    "parse_batch_size",
    "parse_hidden",
]


class OptimizerName(StrEnum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    rmsprop = "rmsprop"


class Activation(StrEnum):
    relu = "relu"
    tanh = "tanh"
    sigmoid = "sigmoid"
    leaky_relu = "leaky_relu"


class LossChoice(StrEnum):
    auto = "auto"
    cross_entropy = "cross-entropy"
    binary_cross_entropy = "binary-cross-entropy"
    mse = "mse"


class DType(StrEnum):
    float32 = "float32"
    float64 = "float64"


class ScaleChoice(StrEnum):
    auto = "auto"
    standard = "standard"
    minmax = "minmax"
    none = "none"


class PlotScale(StrEnum):
    log = "log"
    linear = "linear"


class SplitChoice(StrEnum):
    all = "all"
    train = "train"
    val = "val"


# The resolved value of every setting a new run does not give (lr: see DEFAULT_LR).
DEFAULTS: dict[str, object] = {
    "data": "spiral",
    "label_column": None,
    "seed": 0,
    "val_split": 0.2,
    "scale": "auto",
    "model_file": None,
    "hidden": [64],
    "activation": "relu",
    "dropout": 0.0,
    "loss": "auto",
    "optimizer": "adam",
    "lr": None,
    "lr_decay": 0.0,
    "l2": 0.0,
    "epochs": 200,
    "batch_size": 32,
    "early_stopping": None,
    "dtype": "float32",
    "checkpoint_every": None,
}

# A learning rate that works for the built-in data sets, per optimizer.
DEFAULT_LR: dict[str, float] = {"sgd": 0.1, "momentum": 0.05, "adam": 0.01, "rmsprop": 0.005}


class TrainArgs(NamedTuple):
    """The ``train`` command's options as parsed (None: not given)."""

    data: str | None
    label_column: str | None
    val_split: float | None
    scale: ScaleChoice | None
    seed: int | None
    model_file: Path | None
    hidden: str | None
    activation: Activation | None
    dropout: float | None
    loss: LossChoice | None
    optimizer: OptimizerName | None
    lr: float | None
    lr_decay: float | None
    l2: float | None
    epochs: int | None
    batch_size: str | None
    early_stopping: int | None
    dtype: DType | None
    out: Path | None
    force: bool
    resume: Path | None
    checkpoint_every: int | None
    quiet: bool
    plot: bool
    plot_scale: PlotScale


def parse_hidden(text: str) -> list[int]:
    """``"64,32"`` -> ``[64, 32]``; ``"none"`` (or an empty string) -> ``[]`` (no hidden layer).

    Raises:
        typer.BadParameter: not a comma-separated list of whole numbers >= 1.
    """
    cleaned = text.strip().lower()
    if cleaned in ("", "none", "0"):
        return []
    sizes: list[int] = []
    for part in cleaned.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise typer.BadParameter(
                f"expected layer widths like 64,32 (whole numbers >= 1) or 'none', got {text!r}",
                param_hint="'--hidden'",
            )
        sizes.append(int(part))
    return sizes


def parse_batch_size(text: str) -> int | None:
    """``"full"`` -> None (full-batch gradient descent); ``"32"`` -> 32.

    Raises:
        typer.BadParameter: neither ``full`` nor a whole number >= 1.
    """
    cleaned = text.strip().lower()
    if cleaned == "full":
        return None
    if not cleaned.isdigit() or int(cleaned) < 1:
        raise typer.BadParameter(
            f"expected 'full' or a whole number >= 1 (1 = stochastic), got {text!r}", param_hint="'--batch-size'"
        )
    return int(cleaned)
