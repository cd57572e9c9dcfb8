"""A trained model loaded for ``evaluate``, ``predict``, ``inspect`` and ``replay``, and the data it scores.

Inputs are prepared exactly as in training (the run folder's ``preprocess.npz``).
Imported only when one of those commands runs (it imports numpy and funcnn).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.config import from_config
from funcnn.datasets import Dataset
from funcnn.datasets.inputs import Preparation, choose_layout, fingerprint
from funcnn.errors import DataError, ShapeError
from funcnn.heads import loss_for_model
from funcnn.io.checkpoint import MAX_PARAMS, checkpoint_info, load, load_params
from funcnn.io.runs import Run, open_run
from funcnn.layers.base import Layer
from funcnn.losses import Loss
from funcnn.training import TrainState
from funcnn.tree import FrozenTree, tree_dtype

from .common import check_data_option, load_dataset
from .errors import echo_err, usage_error
from .settings import TrainSettings

__all__ = [
    "CLASSIFIERS",
    "DataChoice",
    "LoadedModel",
    "Scoring",
    "check_task",
    "data_to_score",
    "default_split",
    "load_model",
    "load_scoring",
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


def load_model(path: Path, *, max_params: int | None = None) -> LoadedModel:
    """The checkpoint of a run folder (or a checkpoint file), refused above ``max_params`` parameters."""
    limit = MAX_PARAMS if max_params is None else max_params
    run = open_run(path)
    info = checkpoint_info(run.checkpoint)
    if info.content == "train_state":
        state = load(run.checkpoint, max_params=limit)
        return LoadedModel(run, state.model, state.params, state.loss, state, info.in_shape)
    model, params = load_params(run.checkpoint, max_params=limit)
    loss = None
    if run.config is not None and isinstance(run.config.get("loss"), dict):
        loss = from_config(run.config["loss"])
    return LoadedModel(run, model, params, loss, None, info.in_shape)  # type: ignore[arg-type]


class DataChoice(NamedTuple):
    """The data a command reads, as its options give them: ``--data``, ``--label-column``, ``--seed``,
    ``--split`` and how files are read (``--header``, ``--delimiter`` as typed, ``--prefix``)."""

    data: str | None = None
    label_column: str | None = None
    seed: int | None = None
    split: str | None = None
    header: bool | None = None
    delimiter: str | None = None
    prefix: str | None = None

    def read(self) -> dict[str, Any]:
        """The keyword arguments of the data readers: ``header``, ``delimiter`` (one character) and ``prefix``.

        Raises:
            typer.BadParameter: a ``--delimiter`` that is not one character (or a name such as ``tab``).
        """
        from .settings import parse_delimiter

        sep = None if self.delimiter is None else parse_delimiter(self.delimiter)
        return {"header": self.header, "delimiter": sep, "prefix": self.prefix}


class Scoring(NamedTuple):
    """A run's checkpoint and the data it is scored on, with the loss that scores them and the split used."""

    model: LoadedModel
    ds: Dataset
    loss: Loss
    split: str


def load_scoring(run: Path, choice: DataChoice, *, max_params: int | None = None) -> Scoring:
    """Load ``run`` (refused above ``max_params``) and the data ``choice`` names (by default the run's
    validation part, see :func:`default_split`), checked to suit the model's loss.

    Raises:
        CheckpointError: the run cannot be read.
        DataError: the data cannot be read, or hold labels for a regression model (or values for a classifier).
        typer.BadParameter: a bad ``--split``, ``--data`` or ``--delimiter``.
    """
    m = load_model(run, max_params=max_params)
    split = choice.split or default_split(m, choice.data)
    ds = data_to_score(m, choice.data, choice.label_column, choice.seed, split, **choice.read())
    loss = loss_for(m, ds)
    check_task(loss, ds)
    return Scoring(m, ds, loss, split)


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


def default_split(m: LoadedModel, data: str | None) -> str:
    """``val`` when the run has a validation part and its own data are scored, else ``all``."""
    cfg = m.run.config or {}
    has_val = bool(cfg.get("split", {}).get("validation"))
    return "val" if has_val and data is None else "all"


def data_to_score(
    m: LoadedModel,
    data: str | None,
    label_column: str | None,
    seed: int | None,
    split: str,
    *,
    header: bool | None = None,
    delimiter: str | None = None,
    prefix: str | None = None,
) -> Dataset:
    """The data set to score: ``--data`` or the run's own, optionally one part of the run's own data.

    The run's own data are read as training read them; other data through the
    run's schema (columns matched by name, labels by class name), so labels
    always mean what they meant in training.
    """
    from .planning import RunData, load_run_data, run_split
    from .settings import from_json

    cfg = m.run.config
    stored = (cfg or {}).get("settings", {})
    used_seed = seed if seed is not None else int(stored.get("seed", 0))
    settings: TrainSettings | None
    if data is None:
        if cfg is None:
            raise usage_error("--data", f"{m.run.checkpoint} has no config.json beside it naming its data; give --data")
        settings = attrs.evolve(from_json(stored), seed=used_seed)
        if label_column is not None:
            settings = attrs.evolve(settings, label_column=label_column)
        run_data = load_run_data(str(cfg["data"]["source"]), settings)
    else:
        check_data_option(data)
        schema = m.run.schema
        if schema is not None and label_column is not None:
            schema = attrs.evolve(schema, target=label_column)
        ds = load_dataset(
            data,
            seed=used_seed,
            label_column=None if schema is not None else label_column,
            header=header,
            delimiter=delimiter,
            prefix=prefix,
            schema=schema,
        )
        run_data = RunData(ds)
        settings = from_json(stored) if cfg is not None else None
    ds = run_data.ds
    if split == "all":
        return ds
    if cfg is None or settings is None:
        raise usage_error("--split", "needs the run's config.json; use --split all")
    if fingerprint(ds.x, ds.y) != cfg["data"]["fingerprint"]:
        raise usage_error(
            "--split",
            f"the run's {split} split is part of its own data ({cfg['data']['name']}, "
            f"seed {stored.get('seed')}); these data differ, so use --split all",
        )
    parts = run_split(run_data, settings)
    chosen = {"train": parts.train, "val": parts.validation, "test": parts.test}[split]
    if chosen is None:
        why = {"val": "a validation part (it was trained with --val-split 0)", "test": "a test part (--test-split)"}
        raise usage_error("--split", f"the run has no {why[split]}; use --split train or all")
    return ds.take(chosen)


def check_task(loss: Loss, ds: Dataset) -> None:
    if loss.kind in CLASSIFIERS and ds.task != "classification":
        raise DataError(f"the model is a classifier ({loss!r}), but the data {ds.name!r} have real-valued targets")
    if loss.kind not in CLASSIFIERS and ds.task == "classification":
        raise DataError(f"the model predicts real values ({loss!r}), but the data {ds.name!r} hold class labels")


def quiet_errstate() -> Any:
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
