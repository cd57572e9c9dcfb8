"""A trained model loaded for ``evaluate``, ``predict``, ``inspect`` and ``replay``, and the data it scores.

Inputs are prepared exactly as in training (the run folder's ``preprocess.npz``).
Imported only when one of those commands runs (it imports numpy and funcnn).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.config import from_config
from funcnn.datasets import Dataset
from funcnn.datasets.inputs import Preparation, choose_layout, fingerprint
from funcnn.errors import DataError, ShapeError
from funcnn.heads import loss_for_model
from funcnn.io.checkpoint import checkpoint_info, load, load_params
from funcnn.io.runs import Run, open_run
from funcnn.layers.base import Layer
from funcnn.losses import Loss
from funcnn.training import TrainState
from funcnn.tree import FrozenTree, tree_dtype

from .common import check_data_option, load_dataset, split_of
from .errors import echo_err, usage_error

__all__ = [
    "CLASSIFIERS",
    "LoadedModel",
    "check_task",
    "data_to_score",
    "load_model",
    "loss_for",
    "prepared",
    "quiet_errstate",
]

CLASSIFIERS = ("categorical_cross_entropy", "binary_cross_entropy")


@attrs.frozen(eq=False)
class LoadedModel:
    """A loaded checkpoint: the model, its params and loss (None: not stored), and the run around it."""

    run: Run
    model: Layer
    params: FrozenTree[Any]
    loss: Loss | None
    state: TrainState[Any] | None
    in_shape: tuple[int, ...]

    @property
    def dtype(self) -> Any:
        """``np.float32`` or ``np.float64``: the params' scalar type."""
        return tree_dtype(self.params).type


def load_model(path: Path) -> LoadedModel:
    run = open_run(path)
    info = checkpoint_info(run.checkpoint)
    if info.content == "train_state":
        state = load(run.checkpoint)
        return LoadedModel(run, state.model, state.params, state.loss, state, info.in_shape)
    model, params = load_params(run.checkpoint)
    loss = None
    if run.config is not None and isinstance(run.config.get("loss"), dict):
        loss = from_config(run.config["loss"])
    return LoadedModel(run, model, params, loss, None, info.in_shape)  # type: ignore[arg-type]


def loss_for(m: LoadedModel, ds: Dataset) -> Loss:
    """The checkpoint's loss, or for a params-only file the one that fits the model and the data."""
    if m.loss is not None:
        return m.loss
    n_outputs = int(ds.y.shape[1]) if ds.task == "regression" else 1
    loss, _ = loss_for_model(m.model, m.in_shape, ds.task, n_classes=ds.n_classes, n_outputs=n_outputs)
    return loss


def _preparation(m: LoadedModel, raw_shape: tuple[int, ...]) -> Preparation:
    if m.run.preparation is not None:
        return m.run.preparation
    echo_err(f"note: no preprocess.npz beside {m.run.checkpoint}: the inputs are used as they are (not scaled)")
    layout, _ = choose_layout(m.model, raw_shape)
    return Preparation(raw_shape, layout, None)


def prepared(m: LoadedModel, x: NDArray[Any]) -> NDArray[Any]:
    prep = _preparation(m, tuple(int(d) for d in x.shape[1:]))
    xs = prep.apply(x, m.dtype)
    if tuple(xs.shape[1:]) != m.in_shape:
        raise ShapeError(
            f"the data have samples of shape {tuple(x.shape[1:])}, but the model takes samples of shape "
            f"{m.in_shape}; give data with the same features as the training data"
        )
    return xs


def data_to_score(m: LoadedModel, data: str | None, label_column: str | None, seed: int | None, split: str) -> Dataset:
    """The data set to score: ``--data`` or the run's own, optionally one split of the run's data."""
    cfg = m.run.config
    settings = (cfg or {}).get("settings", {})
    if data is None:
        if cfg is None:
            raise usage_error("--data", f"{m.run.checkpoint} has no config.json beside it naming its data; give --data")
        spec = cfg["data"]["source"]
        label_column = label_column if label_column is not None else settings.get("label_column")
    else:
        check_data_option(data)
        spec = data
    ds = load_dataset(spec, seed=seed if seed is not None else int(settings.get("seed", 0)), label_column=label_column)
    if split == "all":
        return ds
    if cfg is None:
        raise usage_error("--split", "needs the run's config.json; use --split all")
    if fingerprint(ds.x, ds.y) != cfg["data"]["fingerprint"]:
        raise usage_error(
            "--split",
            f"the run's {split} split is part of its own data ({cfg['data']['name']}, "
            f"seed {settings.get('seed')}); these data differ, so use --split all",
        )
    indices = split_of(ds, int(settings["seed"]), float(settings["val_split"]))
    if indices is None:
        raise usage_error("--split", "the run has no validation split (it was trained with --val-split 0)")
    return ds.take(indices[0] if split == "train" else indices[1])


def check_task(loss: Loss, ds: Dataset) -> None:
    if loss.kind in CLASSIFIERS and ds.task != "classification":
        raise DataError(f"the model is a classifier ({loss!r}), but the data {ds.name!r} have real-valued targets")
    if loss.kind not in CLASSIFIERS and ds.task == "classification":
        raise DataError(f"the model predicts real values ({loss!r}), but the data {ds.name!r} hold class labels")


def quiet_errstate() -> Any:
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
