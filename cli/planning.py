"""Planning a ``funcnn train`` run: from settings and data to the model, optimizer, splits and ``config.json``.

Shared by ``funcnn train`` and ``funcnn sweep`` (whose trials are ordinary
runs): :func:`load_run_data` reads ``--data`` (a built-in set with its
generator options, a file, or a folder of class-per-subfolder images), and
:func:`plan_run` resolves everything a run needs, including transfer learning
(``--init-from``, ``--freeze``, ``--unfreeze``): the grafted initial params
and a :func:`funcnn.partition` optimizer. Nothing here writes a file, so a
refused plan leaves nothing behind.

Only the standard library is imported with this module (``funcnn --help`` reads
the command modules); numpy and funcnn are imported where they are used.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .errors import usage_error

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy as np
    from numpy.typing import NDArray

    from funcnn.datasets import Dataset, Schema
    from funcnn.datasets.inputs import Preparation
    from funcnn.heads import LossName
    from funcnn.io.checkpoint import RunIdentity
    from funcnn.layers.base import Layer
    from funcnn.losses import Loss
    from funcnn.optim import Optimizer
    from funcnn.schedules import Schedule
    from funcnn.training import TrainState
    from funcnn.tree import FrozenTree

    from .settings import TrainSettings

__all__ = [
    "Plan",
    "RunData",
    "Split",
    "inherit_freeze",
    "initial_state",
    "is_image_folder",
    "load_run_data",
    "mlp",
    "parse_init_from",
    "plan_run",
    "run_identity",
    "run_split",
    "with_identity",
]


class Split(NamedTuple):
    """Sorted sample indices of a run's parts (``validation``/``test`` None when the run has none)."""

    train: NDArray[np.int64]
    validation: NDArray[np.int64] | None
    test: NDArray[np.int64] | None


class RunData(NamedTuple):
    """The data set ``--data`` names and, for an image folder with its own splits, those splits."""

    ds: Dataset
    fixed: Split | None = None


# --- the data --------------------------------------------------------------------------------


def is_image_folder(path: str | Path) -> bool:
    """True for a folder whose subfolders hold image files (a class-per-subfolder tree).

    A folder of MNIST IDX files is not one (it holds files, not class folders).
    """
    from funcnn.datasets.images import IMAGE_SUFFIXES

    p = Path(path)
    if not p.is_dir():
        return False
    for sub in p.iterdir():
        if sub.is_dir() and not sub.name.startswith("."):
            if any(f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES for f in sub.rglob("*")):
                return True
    return False


def _generator_options(settings: TrainSettings) -> dict[str, int | float]:
    chosen: dict[str, int | float | None] = {
        "samples": settings.samples,
        "noise": settings.noise,
        "classes": settings.classes,
    }
    return {k: v for k, v in chosen.items() if v is not None}


def run_task(settings: TrainSettings) -> Any:
    """The task asked for: ``--task``, or regression for ``--loss mse``; None lets the data decide."""
    if settings.task != "auto":
        return settings.task
    return "regression" if settings.loss == "mse" else None


def load_run_data(spec: str, settings: TrainSettings) -> RunData:
    """The data of a run: ``spec`` as ``--data`` gives it, drawn or split with ``settings``.

    A folder of class-per-subfolder images is read with
    :func:`funcnn.datasets.image_splits`: one with ``train/``, ``val/`` and
    ``test/`` subfolders keeps those splits; any other is split by the run
    (``--val-split``, ``--test-split``). Built-in synthetic data sets take
    ``--samples``, ``--noise`` and ``--classes``.

    Raises:
        typer.BadParameter: generator options for data that are not synthetic.
        DataError: see :func:`funcnn.datasets.load_data` and :func:`funcnn.datasets.load_image_folder`.
    """
    import numpy as np

    from funcnn.datasets import Dataset, builtin_names, load_builtin, with_task
    from funcnn.datasets.images import image_splits, load_image_folder

    from .common import load_dataset, run_keys

    options = _generator_options(settings)
    if options and spec not in builtin_names():
        flag = "--" + next(iter(options))
        raise usage_error(flag, f"applies to the built-in synthetic data sets only, not to {spec!r}")
    if options:
        if settings.label_column is not None:
            raise usage_error("--label-column", "applies to CSV files only, not to built-in data sets")
        drawn = load_builtin(spec, key=run_keys(settings.seed).data, options=options)
        return RunData(with_task(drawn, run_task(settings)))
    if not is_image_folder(spec):
        if settings.image_size is not None or settings.color != "rgb":
            option = "--image-size" if settings.image_size is not None else "--color"
            raise usage_error(option, f"applies to folders of class-per-subfolder images only, not to {spec!r}")
        return RunData(
            load_dataset(
                spec,
                seed=settings.seed,
                label_column=settings.label_column,
                task=run_task(settings),
                header=settings.header,
                delimiter=settings.delimiter,
                drop=settings.drop,
                prefix=settings.prefix,
            )
        )
    if settings.label_column is not None:
        raise usage_error("--label-column", "applies to CSV files only, not to image folders")
    folder = Path(spec)
    has_splits = (folder / "train").is_dir() and (folder / "test").is_dir()
    color: Literal["rgb", "gray"] = "gray" if settings.color == "gray" else "rgb"
    if not has_splits:
        return RunData(load_image_folder(folder, size=settings.image_size, color=color))
    parts = image_splits(folder, size=settings.image_size, color=color)
    pieces = [p for p in (parts.train, parts.validation, parts.test) if p is not None]
    files = [f for p in pieces for f in (p.files or ())]
    ds = Dataset(
        np.concatenate([p.x for p in pieces]),
        np.concatenate([p.y for p in pieces]),
        name=folder.resolve().name,
        class_names=parts.train.class_names,
        source=str(folder),
        files=tuple(files) if len(files) == sum(p.n_samples for p in pieces) else None,
    )
    n_train = parts.train.n_samples
    n_val = 0 if parts.validation is None else parts.validation.n_samples
    ends = np.cumsum([0, n_train, n_val, parts.test.n_samples])
    validation = None if n_val == 0 else np.arange(ends[1], ends[2])
    return RunData(ds, Split(np.arange(ends[0], ends[1]), validation, np.arange(ends[2], ends[3])))


def run_split(data: RunData, settings: TrainSettings) -> Split:
    """The run's train/validation/test indices: an image folder's own splits, else drawn from ``--seed``.

    The test part (``--test-split``, stratified for classes) is drawn first
    from ``fold_in(split_key, "test")``; the validation part (``--val-split``)
    then from the rest, as a run without a test part draws it from all samples.
    """
    import numpy as np

    from funcnn.datasets import split_indices
    from funcnn.errors import DataError
    from funcnn.rng import fold_in

    from .common import run_keys, split_of

    ds = data.ds
    if data.fixed is not None:
        return data.fixed
    if settings.test_split <= 0:
        split = split_of(ds, settings.seed, settings.val_split)
        if split is None:
            return Split(np.arange(ds.n_samples), None, None)
        return Split(split[0], split[1], None)
    labels: Any = ds.y if ds.task == "classification" else ds.n_samples
    try:
        key = fold_in(run_keys(settings.seed).split, "test")
        rest, test = split_indices(key, labels, test_fraction=settings.test_split)
    except DataError as e:
        raise DataError(f"--test-split {settings.test_split}: {e}; use a smaller --test-split") from None
    rest, test = np.sort(rest), np.sort(test)
    inner = split_of(ds.take(rest), settings.seed, settings.val_split)
    if inner is None:
        return Split(rest, None, test)
    return Split(rest[inner[0]], rest[inner[1]], test)


# --- the model and the optimizer ---------------------------------------------------------------


def mlp(hidden: tuple[int, ...], activation: str, dropout: float, out_dim: int) -> Layer:
    """Dense layers with an activation (and dropout) after each hidden one; He init before ReLUs."""
    from funcnn.initializers import HeNormal
    from funcnn.layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
    from funcnn.network import Sequential

    activations: dict[str, type[Layer]] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "leaky_relu": LeakyReLU}
    layers: list[Layer] = []
    relu_like = activation in ("relu", "leaky_relu")
    for width in hidden:
        layers.append(Dense(width, w_init=HeNormal()) if relu_like else Dense(width))
        layers.append(activations[activation]())
        if dropout > 0:
            layers.append(Dropout(dropout))
    layers.append(Dense(out_dim))  # logits: the loss applies softmax or sigmoid
    return Sequential(*layers)


def _one_optimizer(settings: TrainSettings, rate: float) -> tuple[Optimizer, float | Schedule]:
    from funcnn.schedules import inverse_time_schedule
    from funcnn.transforms import chain, l2

    from .optimizers import build_optimizer

    lr: float | Schedule = rate
    if settings.lr_decay > 0:
        lr = inverse_time_schedule(rate, decay=settings.lr_decay)
    opt = build_optimizer(settings.optimizer, lr)
    if settings.l2 > 0:
        opt = chain(l2(settings.l2), opt)
    return opt, lr


def _matching(globs: Sequence[str], paths: Sequence[str], option: str) -> set[str]:
    """The leaf paths the globs claim; a glob that claims none is a usage error listing the paths."""
    from funcnn.transfer import claims

    found: set[str] = set()
    for glob in globs:
        hits = {p for p in paths if claims(glob, p)}
        if not hits:
            raise usage_error(option, f"{glob!r} matches no parameter of the model; its parameters: {', '.join(paths)}")
        found |= hits
    return found


def _grouped_rules(roles: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(glob, role)`` rules claiming each leaf once: a whole layer's name where all its leaves share a role."""
    by_layer: dict[str, list[str]] = {}
    for path in roles:
        by_layer.setdefault(path.split("/")[0], []).append(path)
    rules: list[tuple[str, str]] = []
    for layer, paths in by_layer.items():
        kinds = {roles[p] for p in paths}
        if len(kinds) == 1:
            rules.append((layer, roles[paths[0]]))
        else:
            rules += [(p, roles[p]) for p in paths]
    return rules


def build_optimizer_for(
    settings: TrainSettings, param_paths: Sequence[str]
) -> tuple[Optimizer, float | Schedule, tuple[str, ...]]:
    """The run's optimizer, its learning rate (or schedule) and the frozen leaf paths.

    Without ``--freeze``/``--unfreeze-lr`` it is the optimizer ``--optimizer``
    names. Otherwise a :func:`funcnn.partition`: the leaves ``--freeze`` claims
    (and ``--unfreeze`` does not) are :func:`funcnn.frozen`; those ``--unfreeze``
    claims learn at ``--unfreeze-lr`` (default ``--lr``); the rest at ``--lr``.
    """
    from funcnn.transfer import frozen, partition

    assert settings.lr is not None  # filled in by resolve()
    opt, lr = _one_optimizer(settings, settings.lr)
    freeze = _matching(settings.freeze or (), param_paths, "--freeze")
    thaw = _matching(settings.unfreeze or (), param_paths, "--unfreeze")
    if settings.unfreeze and not settings.freeze:
        raise usage_error("--unfreeze", "unfreezes part of what --freeze freezes; give --freeze too")
    if not freeze and settings.unfreeze_lr is None:
        return opt, lr, ()
    roles = {p: "frozen" if p in freeze - thaw else "unfrozen" if p in thaw else "trained" for p in param_paths}
    if all(r == "frozen" for r in roles.values()):
        raise usage_error("--freeze", "freezes every parameter of the model; leave some to train (e.g. --unfreeze)")
    slow: Optimizer = opt
    if settings.unfreeze_lr is not None:
        slow, _ = _one_optimizer(settings, settings.unfreeze_lr)
    by_role: dict[str, Optimizer] = {"frozen": frozen(), "unfrozen": slow, "trained": opt}
    rules = [(glob, by_role[role]) for glob, role in _grouped_rules(roles)]
    return partition(rules), lr, tuple(sorted(p for p, r in roles.items() if r == "frozen"))


def parse_init_from(text: str) -> tuple[Path, tuple[str, ...]]:
    """``"runs/base:conv*,dense_0"`` -> ``(Path("runs/base"), ("conv*", "dense_0"))``; no globs: every path.

    A text that names an existing folder as a whole is a folder (even with a ``:`` in its name).
    """
    if Path(text).exists():
        return Path(text), ()
    folder, sep, globs = text.rpartition(":")
    if not sep:
        return Path(text), ()
    return Path(folder), tuple(g.strip() for g in globs.split(",") if g.strip())


# --- the plan --------------------------------------------------------------------------------


class Plan(NamedTuple):
    """Everything a run needs, resolved: the config to store and the objects to train with.

    ``params`` are the initial params of a new run (grafted with ``--init-from``), None when resuming.
    """

    settings: TrainSettings
    config: dict[str, Any]
    ds: Dataset
    model: Layer
    loss: Loss
    head: str
    optimizer: Optimizer
    lr: float | Schedule
    prep: Preparation
    x_train: Any
    y_train: Any
    validation: tuple[Any, Any] | None
    metrics: tuple[str, ...]
    params: FrozenTree[Any] | None = None
    schema: Schema | None = None


def _source_run(settings: TrainSettings) -> tuple[Path, tuple[str, ...]]:
    assert settings.init_from is not None
    folder, globs = parse_init_from(settings.init_from)
    return folder, globs


def plan_run(
    settings: TrainSettings,
    data: RunData | Dataset,
    source: str,
    prior: Mapping[str, Any] | None,
    folder: Path | None,
    *,
    max_params: int | None = None,
) -> Plan:
    """Resolve a run: model, loss, splits, preparation, optimizer, initial params and ``config.json``.

    ``prior`` and ``folder`` are the run's ``config.json`` and folder when it is
    resumed (its preparation is read back; no params are built), else None.
    ``max_params`` is the command's ``--max-params``: the largest ``--init-from``
    model read (None: the library's default limit).

    Raises:
        typer.BadParameter: a ``--freeze``/``--unfreeze`` glob that matches no
            parameter, or ``--augment`` for a model that does not take images.
        CheckpointError: the ``--init-from`` run cannot be read.
        TreeStructureError: an ``--init-from`` glob matches nothing in the
            source run, or a grafted path has another shape (all are named).
    """
    import numpy as np

    import funcnn
    from funcnn.config import load_model_file, model_from_config, to_config
    from funcnn.datasets import Dataset
    from funcnn.datasets.inputs import Preparation, choose_layout, fingerprint, fit_preparation
    from funcnn.heads import choose_head, loss_for_model
    from funcnn.io.layout import PREPROCESS
    from funcnn.network import param_shapes

    run_data = RunData(data) if isinstance(data, Dataset) else data
    ds = run_data.ds
    dtype: Any = np.float32 if settings.dtype == "float32" else np.float64
    task = ds.task
    n_outputs = int(ds.y.shape[1]) if task == "regression" else 1
    loss_name: LossName | None = None
    if settings.loss != "auto":
        loss_name = typing.cast("LossName", settings.loss.replace("-", "_"))  # one of LossChoice: validated
    model: Layer
    if settings.model_file is not None:
        if prior is not None and settings.model_file == prior["settings"].get("model_file"):
            model = model_from_config(prior["model"])  # the file may have moved or changed since
        else:
            model = load_model_file(settings.model_file)
        _, in_shape = choose_layout(model, ds.feature_shape)
        loss, head = loss_for_model(model, in_shape, task, n_classes=ds.n_classes, n_outputs=n_outputs, loss=loss_name)
    else:
        assert settings.hidden is not None and settings.activation is not None and settings.dropout is not None
        choice = choose_head(task, n_classes=ds.n_classes, n_outputs=n_outputs, loss=loss_name)
        model = mlp(settings.hidden, settings.activation, settings.dropout, choice.out_dim)
        loss, head = choice.loss, choice.description
    split = run_split(run_data, settings)
    train_idx, val_idx = split.train, split.validation
    source_run = None
    if settings.init_from is not None and prior is None:
        from funcnn.io.runs import open_run

        source_run = open_run(_source_run(settings)[0])
    if folder is not None and prior is not None:
        prep = Preparation.load(folder / PREPROCESS)
    else:
        prep = fit_preparation(ds.x[train_idx], model, scale=settings.scale)  # type: ignore[arg-type]
        if source_run is not None and source_run.preparation is not None:
            if source_run.preparation.in_shape == prep.in_shape:
                prep = source_run.preparation  # the base learnt on inputs prepared this way
    if settings.augment is not None and len(prep.in_shape) != 3:
        raise usage_error(
            "--augment",
            f"augments images (height, width, channels), but the model takes {prep.in_shape}; "
            "give a convolutional model (--model) for image data",
        )
    x_train, y_train = prep.apply(ds.x[train_idx], dtype), ds.y[train_idx]
    validation = None if val_idx is None else (prep.apply(ds.x[val_idx], dtype), ds.y[val_idx])
    schema = ds.schema
    if settings.scale_target:
        if task != "regression":
            raise usage_error("--scale-target", "standardises regression targets; these data hold class labels")
        import attrs

        from funcnn.datasets import TargetScale

        target_scale = TargetScale.fit(y_train)
        schema = attrs.evolve(schema, target_scale=target_scale)
        y_train = target_scale.scale(y_train)
        if validation is not None:
            validation = (validation[0], target_scale.scale(validation[1]))
    paths = list(param_shapes(model, prep.in_shape))
    optimizer, lr, frozen_paths = build_optimizer_for(settings, paths)
    params = None
    transfer: dict[str, Any] | None = None
    if prior is None:
        from funcnn.network import init

        from .common import run_keys

        params = init(model, run_keys(settings.seed).init, in_shape=prep.in_shape, dtype=dtype)
        if source_run is not None:
            params, transfer = _grafted(settings, params, source_run, dtype, prep, max_params)
    elif isinstance(prior.get("transfer"), dict):
        transfer = dict(prior["transfer"])
    if frozen_paths and transfer is None:
        transfer = {}
    if transfer is not None:
        transfer["frozen"] = list(frozen_paths)
    metrics = ("accuracy",) if task == "classification" else ("rmse",)
    split_table: dict[str, Any] = {
        "train": int(train_idx.shape[0]),
        "validation": 0 if val_idx is None else int(val_idx.shape[0]),
        "stratified": task == "classification",
    }
    if split.test is not None:
        split_table["test"] = int(split.test.shape[0])
        split_table["fixed"] = run_data.fixed is not None
    config: dict[str, Any] = {
        "funcnn_version": funcnn.__version__,
        "settings": _settings_json(settings),
        "data": {
            "source": source,
            "name": ds.name,
            "task": task,
            "samples": ds.n_samples,
            "feature_shape": list(ds.feature_shape),
            "dtype": str(ds.x.dtype),
            "classes": ds.n_classes,
            "class_names": list(ds.class_names) if ds.class_names is not None else None,
            "outputs": n_outputs if task == "regression" else None,
            "fingerprint": fingerprint(ds.x, ds.y),
        },
        "split": split_table,
        "preprocess": prep.describe(),
        "model": to_config(model),
        "in_shape": list(prep.in_shape),
        "output": head,
        "loss": to_config(loss),
        "optimizer": to_config(optimizer),
        "metrics": list(metrics),
    }
    if transfer is not None:
        config["transfer"] = transfer
    return Plan(
        settings, config, ds, model, loss, head, optimizer, lr, prep, x_train, y_train, validation, metrics, params,
        schema,
    )  # fmt: skip


def _settings_json(settings: TrainSettings) -> dict[str, object]:
    from .settings import to_json

    return to_json(settings)


def _grafted(
    settings: TrainSettings,
    params: FrozenTree[Any],
    source_run: Any,
    dtype: Any,
    prep: Preparation,
    max_params: int | None,
) -> tuple[FrozenTree[Any], dict[str, Any]]:
    """``params`` with the ``--init-from`` run's leaves copied in, and the ``transfer`` table of config.json."""
    from funcnn.errors import TreeStructureError
    from funcnn.io.checkpoint import MAX_PARAMS, load_params
    from funcnn.transfer import claims, graft
    from funcnn.tree import tree_flatten

    folder, globs = _source_run(settings)
    limit = MAX_PARAMS if max_params is None else max_params
    _, source_params = load_params(source_run.checkpoint, dtype=dtype, max_params=limit)
    chosen = list(globs) or ["*"]
    try:
        grafted = graft(params, source_params, chosen)
    except TreeStructureError as e:
        raise TreeStructureError(f"--init-from {settings.init_from}: {e}") from None
    copied = sorted(p for p in tree_flatten(source_params) if any(claims(g, p) for g in chosen))
    table: dict[str, Any] = {
        "init_from": str(folder.resolve()),
        "grafted": copied,
        "preprocess": "the source run's"
        if source_run.preparation is not None and source_run.preparation is prep
        else "fitted on this run's training split",
    }
    return grafted, table


# --- the run's identity -----------------------------------------------------------------------


def with_identity(plan: Plan, prior: Mapping[str, Any] | None) -> Plan:
    """The plan with the run's identity in its config: a new run's id, or the stored one when resuming.

    ``prior`` is the resumed run's ``config.json`` (None for a new run).
    """
    if prior is not None:
        stored = prior.get("run")
        return plan if stored is None else plan._replace(config={**plan.config, "run": stored})
    return plan._replace(config={**plan.config, "run": {"id": _run_id(plan.config)}})


def _run_id(config: Mapping[str, Any]) -> str:
    """A digest of everything that decides a run's results: its data, model, split, and the settings
    --resume may not change (the seed among them). Two runs with one id compute the same states, so
    a checkpoint may move between them; from any other run it is refused. Being derived, not drawn,
    the id keeps a resumed run's files byte-identical to those of a run never interrupted.
    """
    import hashlib
    import json

    import attrs

    from .settings import TrainSettings

    fixed = {f.name for f in attrs.fields(TrainSettings) if not f.metadata["option"].resumable}
    basis = {k: v for k, v in config.items() if k not in ("funcnn_version", "run", "settings")}
    basis["settings"] = {k: v for k, v in config["settings"].items() if k in fixed}
    text = json.dumps(basis, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def run_identity(plan: Plan) -> RunIdentity | None:
    """The identity its checkpoints carry (run id, data fingerprint); None for a run folder from before run ids."""
    from funcnn.io.checkpoint import RunIdentity

    run = plan.config.get("run")
    if not isinstance(run, dict) or not isinstance(run.get("id"), str):
        return None
    return RunIdentity(run["id"], str(plan.config["data"]["fingerprint"]))


# --- the first state --------------------------------------------------------------------------


def initial_state(plan: Plan) -> TrainState[Any]:
    """The state of a new run at epoch 0: the plan's params, loss, optimizer and training settings."""
    from funcnn.augment import Compose
    from funcnn.training import TrainState

    from .common import run_keys

    settings = plan.settings
    assert plan.params is not None  # a new run's plan holds its initial params
    batch = settings.batch_size
    return TrainState.create(
        plan.model,
        plan.params,
        loss=plan.loss,
        optimizer=plan.optimizer,
        key=run_keys(settings.seed).train,
        batch_size=None if batch == "full" else int(batch),
        metrics=plan.metrics,
        patience=settings.early_stopping,
        tol=settings.tol,
        augment=None if settings.augment is None else Compose.from_text(settings.augment),
    )


def inherit_freeze(settings: TrainSettings, given: Mapping[str, Any]) -> TrainSettings:
    """A new ``--init-from`` run keeps its source run's ``--freeze`` unless ``--freeze`` is given.

    So a fine-tuning stage reads ``--init-from STAGE1 --unfreeze conv2d_1 --unfreeze-lr 1e-4``.
    """
    import attrs

    from funcnn.io.layout import CONFIG
    from funcnn.io.runs import read_json

    if settings.init_from is None or "freeze" in given:
        return settings
    config = Path(_source_run(settings)[0]) / CONFIG
    if not config.is_file():
        return settings
    stored = read_json(config).get("settings", {})
    freeze = stored.get("freeze") if isinstance(stored, dict) else None
    if isinstance(freeze, list) and freeze and all(isinstance(g, str) for g in freeze):
        return attrs.evolve(settings, freeze=tuple(freeze))
    return settings
