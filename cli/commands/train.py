"""``funcnn train``: resolve the settings, prepare the data, train with a progress bar, write the run folder.

The options that shape a run come from :class:`cli.settings.TrainSettings` (one
field per option); the ones declared here only say where and how to run.
Every setting a run depends on is written to ``config.json`` with its default
filled in. ``--resume`` takes the settings not given from that file and
refuses settings or data that differ from it, so a resumed run is the same
run: it ends with exactly the parameters an uninterrupted run would have.

Only the standard library, attrs and Typer are imported with this module (it is
read for ``funcnn --help``); numpy and funcnn are imported where they are used.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from ..errors import EXIT_INTERRUPTED, deferred_interrupt, echo_err, fail, handle_errors, usage_error
from ..options import PlotScale, PluginOption, with_settings_options
from ..plugins import load_plugins
from ..settings import OUTPUT, TrainSettings, differences, from_json, given_settings, resolve, to_json

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from funcnn.datasets import Dataset
    from funcnn.datasets.inputs import Preparation
    from funcnn.heads import LossName
    from funcnn.layers.base import Layer
    from funcnn.losses import Loss
    from funcnn.optim import Optimizer
    from funcnn.schedules import Schedule
    from funcnn.training import TrainState

    from ..rundir import HistoryLog

__all__ = ["train"]


@with_settings_options(TrainSettings)
def train(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The run folder to write. Default: a fresh runs/DATA-YYYYmmdd-HHMMSS. A folder holding a run is "
            "refused unless --force (replace it) or --resume.",
            show_default=False,
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the run in --out (its files are deleted first).", rich_help_panel=OUTPUT),
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN_DIR",
            exists=True,
            file_okay=False,
            help="Continue this run from its latest state up to --epochs in total. Options you give must match "
            "its config.json; the others are taken from it.",
            show_default=False,
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress bar and no setup summary; only the final figures.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    plot: Annotated[
        bool,
        typer.Option(
            help="Write history.png and, for 2-D data, decision_boundary.png (needs matplotlib).",
            rich_help_panel=OUTPUT,
        ),
    ] = True,
    plot_scale: Annotated[
        PlotScale,
        typer.Option(help="Cost axis of history.png.", rich_help_panel=OUTPUT),
    ] = PlotScale.log,
    plugin: PluginOption = None,
    **options: Any,
) -> None:
    """Train a network and write a run folder (no options: a classifier on the built-in spiral).

    Prints the data, model and loss it chose, a progress bar, then the final
    training and validation cost and accuracy. The run folder holds
    config.json, checkpoint.npz, preprocess.npz, history.csv and, with
    matplotlib, history.png. Ctrl-C stops after saving the last finished epoch
    and prints the command that resumes it.

    \b
    Examples:
      funcnn train
      funcnn train --data digits --hidden 128,64 --epochs 30 --checkpoint-every 5
      funcnn train --data breast_cancer --optimizer sgd --early-stopping 10
      funcnn train --data cells.csv --label-column diagnosis --out runs/cells
      funcnn train --model cnn.toml --data mnist/ --batch-size 64 --epochs 5
      funcnn train --model custom.toml --plugin my_layers
      funcnn train --resume runs/cells --epochs 400
    """
    with handle_errors():
        load_plugins(plugin)
        how = _How(out=out, force=force, resume=resume, quiet=quiet, plot=plot, log_scale=plot_scale.value == "log")
        _Trainer(how).run(given_settings(options))


class _How(NamedTuple):
    """The options that say where and how to run, not what the run is (they are not in config.json)."""

    out: Path | None
    force: bool
    resume: Path | None
    quiet: bool
    plot: bool
    log_scale: bool


# --- building the run --------------------------------------------------------------------------


def _mlp(hidden: tuple[int, ...], activation: str, dropout: float, out_dim: int) -> Layer:
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


def _optimizer(settings: TrainSettings) -> tuple[Optimizer, float | Schedule]:
    from funcnn.schedules import inverse_time_schedule
    from funcnn.transforms import chain, l2

    from ..optimizers import build_optimizer

    assert settings.lr is not None  # filled in by resolve()
    lr: float | Schedule = settings.lr
    if settings.lr_decay > 0:
        lr = inverse_time_schedule(settings.lr, decay=settings.lr_decay)
    opt = build_optimizer(settings.optimizer, lr)
    if settings.l2 > 0:
        opt = chain(l2(settings.l2), opt)
    return opt, lr


class _Plan(NamedTuple):
    """Everything a run needs, resolved: the config to store and the objects to train with."""

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


def _plan(
    settings: TrainSettings, ds: Dataset, source: str, prior: Mapping[str, Any] | None, folder: Path | None
) -> _Plan:
    import numpy as np

    import funcnn
    from funcnn.config import load_model_file, model_from_config, to_config
    from funcnn.datasets.inputs import Preparation, choose_layout, fingerprint, fit_preparation
    from funcnn.heads import choose_head, loss_for_model
    from funcnn.io.layout import PREPROCESS

    from ..common import split_of

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
        model = _mlp(settings.hidden, settings.activation, settings.dropout, choice.out_dim)
        loss, head = choice.loss, choice.description
    split = split_of(ds, settings.seed, settings.val_split)
    train_idx, val_idx = split if split is not None else (np.arange(ds.n_samples), None)
    if folder is not None and prior is not None:
        prep = Preparation.load(folder / PREPROCESS)
    else:
        prep = fit_preparation(ds.x[train_idx], model, scale=settings.scale)  # type: ignore[arg-type]
    if settings.augment is not None and len(prep.in_shape) != 3:
        raise usage_error(
            "--augment",
            f"augments images (height, width, channels), but the model takes {prep.in_shape}; "
            "give a convolutional model (--model) for image data",
        )
    x_train, y_train = prep.apply(ds.x[train_idx], dtype), ds.y[train_idx]
    validation = None if val_idx is None else (prep.apply(ds.x[val_idx], dtype), ds.y[val_idx])
    optimizer, lr = _optimizer(settings)
    metrics = ("accuracy",) if task == "classification" else ("rmse",)
    config: dict[str, Any] = {
        "funcnn_version": funcnn.__version__,
        "settings": to_json(settings),
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
        "split": {
            "train": int(train_idx.shape[0]),
            "validation": 0 if val_idx is None else int(val_idx.shape[0]),
            "stratified": task == "classification",
        },
        "preprocess": prep.describe(),
        "model": to_config(model),
        "in_shape": list(prep.in_shape),
        "output": head,
        "loss": to_config(loss),
        "optimizer": to_config(optimizer),
        "metrics": list(metrics),
    }
    return _Plan(settings, config, ds, model, loss, head, optimizer, lr, prep, x_train, y_train, validation, metrics)


# --- the command ---------------------------------------------------------------------------------


class _Trainer:
    def __init__(self, how: _How) -> None:
        self.how = how
        self.quiet = how.quiet

    def info(self, text: str) -> None:
        if not self.quiet:
            echo_err(text)

    def run(self, given: Mapping[str, Any]) -> None:
        from funcnn.errors import CheckpointError
        from funcnn.io.layout import CONFIG, LATEST
        from funcnn.io.runs import read_json

        from ..common import check_data_option, data_source, load_dataset
        from ..rundir import run_files

        how = self.how
        prior: dict[str, Any] | None = None
        folder: Path | None = None
        if how.force and how.out is None:
            raise usage_error("--force", "replaces the run in --out; give --out DIR too")
        if how.resume is not None:
            folder = how.resume
            if how.force:
                raise usage_error("--force", "cannot be combined with --resume, which keeps the run")
            if how.out is not None and how.out.resolve() != how.resume.resolve():
                raise usage_error("--out", "a resumed run continues in its own folder; leave --out out")
            if not (folder / CONFIG).is_file() or not (folder / LATEST).is_file():
                raise usage_error("--resume", f"{str(folder)!r} is not a run folder (it needs {CONFIG} and {LATEST})")
            prior = read_json(folder / CONFIG)
            if not isinstance(prior.get("settings"), dict):
                raise CheckpointError(f"{folder / CONFIG}: no 'settings' table; not written by 'funcnn train'")
        elif how.out is not None:
            if how.out.exists() and not how.out.is_dir():
                raise usage_error("--out", f"{str(how.out)!r} is a file; give a folder")
            if run_files(how.out) and not how.force:
                raise usage_error(
                    "--out",
                    f"{str(how.out)!r} already holds a run; continue it with --resume {how.out}, replace it with "
                    "--force, or choose another folder",
                )
        if "data" in given:
            check_data_option(str(given["data"]))
        prior_settings = None if prior is None or folder is None else from_json(prior["settings"], str(folder / CONFIG))
        settings = resolve(given, prior_settings)
        spec = str(given.get("data") or (prior["data"]["source"] if prior is not None else settings.data))
        ds = load_dataset(spec, seed=settings.seed, label_column=settings.label_column)
        plan = _plan(settings, ds, data_source(spec), prior, folder)
        if prior is not None and folder is not None:
            differ = differences(prior, plan.config)
            if differ:
                fail(
                    f"--resume {folder}: this run differs from its {CONFIG}: {'; '.join(differ)}",
                    "leave those options out to keep the run's values, or start a new run without --resume",
                )
            self.train(plan, folder, resumed=True)
        else:
            self.train(plan, self._new_folder(plan), resumed=False)

    def _new_folder(self, plan: _Plan) -> Path:
        from datetime import datetime

        from ..rundir import new_run_dir, run_files

        out = self.how.out
        if out is None:
            return new_run_dir("runs", plan.ds.name, now=datetime.now())
        for old in run_files(out):  # only with --force (checked before anything was loaded)
            old.unlink()
        out.mkdir(parents=True, exist_ok=True)
        return out

    # -- training ------------------------------------------------------------------------------

    def _start_state(self, plan: _Plan, folder: Path, resumed: bool) -> TrainState[Any]:
        import numpy as np

        from funcnn.augment import Compose
        from funcnn.errors import CheckpointError
        from funcnn.io.checkpoint import load
        from funcnn.io.layout import CONFIG, LATEST
        from funcnn.network import init
        from funcnn.training import TrainState

        from ..common import run_keys

        settings = plan.settings
        dtype = np.float32 if settings.dtype == "float32" else np.float64
        if resumed:
            state = load(folder / LATEST, dtype=dtype, model=plan.model)
            if state.loss != plan.loss or state.optimizer != plan.optimizer:
                raise CheckpointError(f"{folder / LATEST}: its loss or optimizer is not the one in {CONFIG}")
            return state
        keys = run_keys(settings.seed)
        params = init(plan.model, keys.init, in_shape=plan.prep.in_shape, dtype=dtype)
        batch = settings.batch_size
        return TrainState.create(
            plan.model,
            params,
            loss=plan.loss,
            optimizer=plan.optimizer,
            key=keys.train,
            batch_size=None if batch == "full" else int(batch),
            metrics=plan.metrics,
            patience=settings.early_stopping,
            augment=None if settings.augment is None else Compose.from_text(settings.augment),
        )

    def describe(self, plan: _Plan, state: TrainState[Any], folder: Path, resumed: bool) -> None:
        from funcnn.tree import tree_size

        from ..common import layers_text, samples_text

        c, settings = plan.config, plan.settings
        d, s = c["data"], c["split"]
        what = f"{d['classes']} classes" if d["task"] == "classification" else f"{d['outputs']} target(s)"
        held = f"; {s['train']} for training, {s['validation']} for validation" if s["validation"] else ""
        self.info(f"data       {d['name']}: {samples_text(d['samples'], d['feature_shape'])}, {what}{held}")
        p = c["preprocess"]
        scale = {
            "standard": "standardised (training mean and std)",
            "minmax": "scaled to [0, 1] (training range)",
            "none": "not scaled",
        }[p["scale"]]
        layout = {
            "flat": f"flattened to {p['in_shape'][0]} features, ",
            "channels": "given a channel axis, ",
            "as_is": "",
        }[p["layout"]]
        self.info(f"inputs     {layout}{scale}")
        self.info(f"model      {layers_text(plan.model)}: {tree_size(state.params)} parameters, {settings.dtype}")
        self.info(f"output     {plan.head}")
        stop = f", early stopping after {settings.early_stopping}" if settings.early_stopping else ""
        self.info(f"optimizer  {plan.optimizer!r}, batch {settings.batch_size}, {settings.epochs} epochs{stop}")
        if resumed:
            self.info(f"resuming   {folder} at epoch {state.epoch}")
        else:
            self.info(f"run folder {folder}")

    def train(self, plan: _Plan, folder: Path, *, resumed: bool) -> None:
        import shlex
        import time

        from funcnn.io.layout import CONFIG, HISTORY, LATEST, PREPROCESS

        from ..rundir import HistoryLog, history_columns, write_json

        settings = plan.settings
        target = settings.epochs
        in_shape = plan.prep.in_shape
        state = self._start_state(plan, folder, resumed)
        if resumed:
            if state.stopped:
                why = "early stopping" if state.stop_reason == "early_stopping" else "the cost became NaN or infinite"
                fail(
                    f"--resume {folder}: the run stopped at epoch {state.epoch} ({why}); there is nothing to continue",
                    "start a new run (with a smaller --lr if the cost diverged)",
                )
            if target <= state.epoch:
                raise usage_error(
                    "--epochs",
                    f"the run already has {state.epoch} epochs; ask for more in total, e.g. --epochs {2 * state.epoch}",
                )
        every = settings.checkpoint_every
        columns = history_columns(plan.metrics, validation=plan.validation is not None)
        with deferred_interrupt():
            write_json(folder / CONFIG, plan.config)
            if not resumed:
                plan.prep.save(folder / PREPROCESS)
                self._save(folder, state, in_shape, every)
            log = (
                HistoryLog.reopen(folder / HISTORY, columns, through_epoch=state.epoch)
                if resumed
                else HistoryLog.create(folder / HISTORY, columns)
            )
        self.describe(plan, state, folder, resumed)
        start_time = time.perf_counter()
        with log:
            last, outcome = self._loop(plan, state, target, log, folder, every)
        final = last.restore_best() if last.stop_reason == "early_stopping" else last
        with deferred_interrupt():
            self._save(folder, final, in_shape, every, final_epoch=True)
        elapsed = time.perf_counter() - start_time
        if outcome == "interrupted":
            command = f"funcnn train --resume {shlex.quote(str(folder))}"
            echo_err(f"interrupted: saved epoch {last.epoch} of {target} in {folder / LATEST}")
            echo_err(f"resume with: {command}")
            raise typer.Exit(EXIT_INTERRUPTED)
        if outcome == "non_finite":
            assert settings.lr is not None
            fail(
                f"the cost became NaN or infinite during epoch {last.epoch + 1}; stopped and kept the last finite "
                f"state (epoch {last.epoch}) in {folder / LATEST}",
                f"try a smaller learning rate, e.g. --lr {settings.lr / 10:g}",
            )
        self.summary(plan, final, folder, elapsed, target)
        if self.how.plot:
            self.plots(plan, final, folder)

    def _save(
        self,
        folder: Path,
        state: TrainState[Any],
        in_shape: tuple[int, ...],
        every: int | None,
        *,
        final_epoch: bool = False,
    ) -> None:
        from funcnn.io.checkpoint import save
        from funcnn.io.layout import LATEST, epoch_path

        if every is not None and (state.epoch % every == 0 or final_epoch):
            save(epoch_path(folder, state.epoch), state, in_shape=in_shape)
        save(folder / LATEST, state, in_shape=in_shape)

    def _loop(
        self, plan: _Plan, state: TrainState[Any], target: int, log: HistoryLog, folder: Path, every: int | None
    ) -> tuple[TrainState[Any], str]:
        import math
        import time

        import numpy as np

        from funcnn import training
        from funcnn.schedules import learning_rate

        from ..progress import EpochProgress
        from ..rundir import history_row

        last, logged = state, state.epoch
        in_shape = plan.prep.in_shape
        is_cls = "accuracy" in plan.metrics
        states: Iterator[TrainState[Any]] = training.train_epochs(
            state, plan.x_train, plan.y_train, epochs=target, validation=plan.validation, on_nonfinite="stop"
        )
        tick = time.perf_counter()
        try:
            # Overflow in a diverging run is reported as a non-finite cost, not as numpy warnings.
            with (
                np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"),
                EpochProgress(target, state.epoch, quiet=self.quiet) as bar,
            ):
                for new in states:
                    now = time.perf_counter()
                    seconds, tick = now - tick, now
                    if new.stop_reason == "non_finite":
                        return new, "non_finite"
                    last = new
                    log.append(history_row(new, lr=learning_rate(plan.lr, max(new.step - 1, 0)), seconds=seconds))
                    logged = new.epoch
                    if every is not None and new.epoch % every == 0:
                        with deferred_interrupt():
                            self._save(folder, new, in_shape, every)
                    bar.update(new.epoch, _bar_text(new, is_cls))
        except KeyboardInterrupt:
            if logged < last.epoch:
                log.append(history_row(last, lr=learning_rate(plan.lr, max(last.step - 1, 0)), seconds=math.nan))
            return last, "interrupted"
        return last, ("early_stopping" if last.stop_reason == "early_stopping" else "done")

    # -- reporting -----------------------------------------------------------------------------

    def summary(self, plan: _Plan, final: TrainState[Any], folder: Path, elapsed: float, target: int) -> None:
        """The final figures, on stdout: those of the last epoch, or of the best one after early stopping."""
        from ..common import percent

        h = final.history
        metric = plan.metrics[0]
        at = len(h) - 1
        epochs = f"epochs      {final.epoch} ({elapsed:.1f} s)"
        if final.stop_reason == "early_stopping" and final.best_epoch is not None:
            at = final.best_epoch - 1
            watched = "validation" if len(h.val_cost) else "training"
            epochs = (
                f"epochs      {final.epoch} of {target} ({elapsed:.1f} s): early stopping, no lower {watched} cost "
                f"for {final.patience} epochs; the weights of epoch {final.best_epoch} are kept"
            )
        show = percent if metric == "accuracy" else (lambda v: f"{v:.4g}")
        lines = [epochs, f"training    cost {h.cost[at]:.4f}  {metric} {show(float(h.metrics.leaf(metric)[at]))}"]
        if len(h.val_cost):
            val = float(h.metrics.leaf("val_" + metric)[at])
            lines.append(f"validation  cost {h.val_cost[at]:.4f}  {metric} {show(val)}")
        lines.append(f"run folder  {folder}")
        print("\n".join(lines), flush=True)

    def plots(self, plan: _Plan, final: TrainState[Any], folder: Path) -> None:
        from funcnn.heads import decision_grid
        from funcnn.io.layout import HISTORY

        from .. import plots
        from ..common import class_names
        from ..rundir import read_history

        if not plots.available():
            self.info(f"note: {plots.INSTALL_HINT}")
            return
        try:
            columns = read_history(folder / HISTORY)
            plots.history(folder / "history.png", columns, metric=plan.metrics[0], log_scale=self.how.log_scale)
            ds = plan.ds
            if ds.feature_shape == (2,) and ds.task == "classification":
                grid = decision_grid(plan.model, final.params, plan.prep, plan.loss, ds.x)
                names = class_names(plan.config, int(ds.n_classes or 0))
                plots.decision_boundary(folder / "decision_boundary.png", grid, ds.x, ds.y, names)
        except Exception as e:  # a plot is never worth failing a finished run for
            self.info(f"note: plots skipped: {type(e).__name__}: {e}")


def _bar_text(state: TrainState[Any], is_cls: bool) -> str:
    from ..common import percent

    h = state.history
    text = f"cost {h.cost[-1]:.4f}"
    if len(h.val_cost):
        text += f" val {h.val_cost[-1]:.4f}"
    if is_cls and "val_accuracy" in h.metrics:
        text += f" val acc {percent(float(h.metrics.leaf('val_accuracy')[-1]))}"
    elif is_cls:
        text += f" acc {percent(float(h.metrics.leaf('accuracy')[-1]))}"
    return text
