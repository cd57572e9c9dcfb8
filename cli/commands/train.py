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

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from .. import signals
from ..errors import EXIT_INTERRUPTED, deferred_interrupt, echo_err, fail, handle_errors, usage_error
from ..options import MaxParamsOption, PlotScale, PluginOption, with_settings_options
from ..plugins import load_plugins
from ..settings import OUTPUT, TrainSettings, differences, from_json, given_settings, resolve

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from funcnn.datasets import Schema
    from funcnn.io.checkpoint import RunIdentity
    from funcnn.io.lock import RunLock
    from funcnn.training import TrainState

    from ..planning import Plan as _Plan
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
    max_params: MaxParamsOption = None,
    plugin: PluginOption = None,
    **options: Any,
) -> None:
    """Train a network and write a run folder (no options: a classifier on the built-in spiral).

    Prints the data, model and loss it chose, a progress bar, then the final
    training and validation cost and accuracy. The run folder holds
    config.json, checkpoint.npz, preprocess.npz, history.csv and, with
    matplotlib, history.png. Ctrl-C (or SIGTERM) stops after saving the last finished epoch
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
        how = _How(
            out=out,
            force=force,
            resume=resume,
            quiet=quiet,
            plot=plot,
            log_scale=plot_scale.value == "log",
            max_params=max_params,
        )
        _Trainer(how).run(given_settings(options))


class _How(NamedTuple):
    """The options that say where and how to run, not what the run is (they are not in config.json)."""

    out: Path | None
    force: bool
    resume: Path | None
    quiet: bool
    plot: bool
    log_scale: bool
    max_params: int | None = None


# --- the command ---------------------------------------------------------------------------------


class _Trainer:
    def __init__(self, how: _How) -> None:
        self.how = how
        self.quiet = how.quiet
        self.locks: list[RunLock] = []
        self.identity: RunIdentity | None = None
        self.schema: Schema | None = None  # the data schema every checkpoint embeds (also in schema.json)
        self.exit_code = EXIT_INTERRUPTED  # 143 after SIGTERM

    def info(self, text: str) -> None:
        if not self.quiet:
            echo_err(text)

    def run(self, given: Mapping[str, Any]) -> None:
        try:
            self._run(given)
        finally:
            for lock in self.locks:
                lock.release()

    def _run(self, given: Mapping[str, Any]) -> None:
        from funcnn.io.layout import CONFIG, LATEST
        from funcnn.io.runs import read_json

        from ..common import check_data_option, data_source
        from ..planning import inherit_freeze, load_run_data, plan_run, with_identity
        from ..rundir import check_run_config, run_files

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
            if not (folder / LATEST).is_file() and run_files(folder):
                fail(
                    f"--resume {folder}: an incomplete run folder: it has no {LATEST} (the run that created it "
                    "stopped before saving its first epoch), so there is nothing to continue",
                    f"start it afresh with: funcnn train --out {folder} --force (its files are replaced)",
                )
            if not (folder / CONFIG).is_file() or not (folder / LATEST).is_file():
                raise usage_error("--resume", f"{str(folder)!r} is not a run folder (it needs {CONFIG} and {LATEST})")
            self._claim(folder, "--resume", take_stale=True)
            prior = check_run_config(read_json(folder / CONFIG), folder / CONFIG)
        elif how.out is not None:
            if how.out.exists() and not how.out.is_dir():
                raise usage_error("--out", f"{str(how.out)!r} is a file; give a folder")
            self._claim(how.out, "--out", take_stale=how.force)
            if run_files(how.out) and not how.force:
                complete = (how.out / LATEST).is_file()
                raise usage_error(
                    "--out",
                    f"{str(how.out)!r} already holds a run; continue it with --resume {how.out}, replace it with "
                    "--force, or choose another folder"
                    if complete
                    else f"{str(how.out)!r} holds an incomplete run (no {LATEST}: it stopped before its first save); "
                    "start it afresh with --force, or choose another folder",
                )
        if "data" in given:
            check_data_option(str(given["data"]))
        prior_settings = None if prior is None or folder is None else from_json(prior["settings"], str(folder / CONFIG))
        settings = resolve(given, prior_settings)
        if prior is None:
            settings = inherit_freeze(settings, given)
        spec = str(given.get("data") or (prior["data"]["source"] if prior is not None else settings.data))
        plan = plan_run(
            settings, load_run_data(spec, settings), data_source(spec), prior, folder, max_params=how.max_params
        )
        if prior is not None and folder is not None:
            differ = differences(prior, plan.config)
            if differ:
                fail(
                    f"--resume {folder}: this run differs from its {CONFIG}: {'; '.join(differ)}",
                    "leave those options out to keep the run's values, or start a new run without --resume",
                )
            self.train(with_identity(plan, prior), folder, resumed=True)
        else:
            self.train(with_identity(plan, None), self._new_folder(plan), resumed=False)

    def _claim(self, folder: Path, option: str, *, take_stale: bool) -> None:
        """Hold ``folder`` for this process until the command ends (released in :meth:`run`)."""
        from funcnn.errors import RunLockedError
        from funcnn.io.lock import claim

        try:
            lock = claim(folder, take_stale=take_stale)
        except RunLockedError as e:
            if not e.stale:
                fail(str(e), "two processes must not write one run folder; choose another --out")
            fail(
                f"{e}; the run folder may be incomplete",
                f"continue it with --resume {folder}, or start it afresh with --out {folder} --force",
            )
        self.locks.append(lock)
        if lock.replaced is not None:
            self.info(f"note: {option} {folder}: took over the lock left by {lock.replaced.describe()}, "
                      "which is no longer running")

    def _new_folder(self, plan: _Plan) -> Path:
        from datetime import datetime

        from ..rundir import new_run_dir, run_files

        out = self.how.out
        if out is None:
            folder = new_run_dir("runs", plan.ds.name, now=datetime.now())
            self._claim(folder, "--out", take_stale=False)
            return folder
        for old in run_files(out):  # only with --force (checked, and the folder claimed, before anything was loaded)
            old.unlink()
        out.mkdir(parents=True, exist_ok=True)
        return out

    # -- training ------------------------------------------------------------------------------

    def _start_state(self, plan: _Plan, folder: Path, resumed: bool) -> TrainState[Any]:
        import numpy as np

        from funcnn.errors import CheckpointError
        from funcnn.io.checkpoint import MAX_PARAMS, load
        from funcnn.io.layout import CONFIG, LATEST

        from ..planning import initial_state, run_identity

        settings = plan.settings
        dtype = np.float32 if settings.dtype == "float32" else np.float64
        if resumed:
            _check_identity(folder / LATEST, run_identity(plan), plan.config["data"]["fingerprint"])
            limit = MAX_PARAMS if self.how.max_params is None else self.how.max_params
            state = load(folder / LATEST, dtype=dtype, model=plan.model, max_params=limit)
            if state.loss != plan.loss or state.optimizer != plan.optimizer:
                raise CheckpointError(f"{folder / LATEST}: its loss or optimizer is not the one in {CONFIG}")
            return state
        return initial_state(plan)  # the plan holds the new run's one init (grafted with --init-from)

    def describe(self, plan: _Plan, state: TrainState[Any], folder: Path, resumed: bool) -> None:
        from funcnn.tree import tree_size

        from ..common import layers_text, samples_text, task_text

        c, settings = plan.config, plan.settings
        d, s = c["data"], c["split"]
        what = f"{d['classes']} classes" if d["task"] == "classification" else f"{d['outputs']} target(s)"
        held = f"; {s['train']} for training, {s['validation']} for validation" if s["validation"] else ""
        self.info(f"data       {d['name']}: {samples_text(d['samples'], d['feature_shape'])}, {what}{held}")
        self.info(f"task       {task_text(plan.ds, settings)}")
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

        from funcnn.io.layout import CONFIG, HISTORY, LATEST, PREPROCESS, SCHEMA

        from ..planning import run_identity
        from ..rundir import HistoryLog, history_columns, write_json

        settings = plan.settings
        target = settings.epochs
        in_shape = plan.prep.in_shape
        self.identity, self.schema = run_identity(plan), plan.schema
        state = self._start_state(plan, folder, resumed)
        if resumed:
            if state.stopped:
                why = {
                    "early_stopping": "early stopping",
                    "converged": "it converged: the gradient norm fell below --tol",
                }.get(str(state.stop_reason), "the cost became NaN or infinite")
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
            if plan.schema is not None and not (resumed and (folder / SCHEMA).is_file()):
                write_json(folder / SCHEMA, plan.schema.to_json())
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
            raise typer.Exit(self.exit_code)
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
            save(epoch_path(folder, state.epoch), state, in_shape=in_shape, run=self.identity, schema=self.schema)
        save(folder / LATEST, state, in_shape=in_shape, run=self.identity, schema=self.schema)

    def _loop(
        self, plan: _Plan, state: TrainState[Any], target: int, log: HistoryLog, folder: Path, every: int | None
    ) -> tuple[TrainState[Any], str]:
        import math
        import time

        import numpy as np

        from funcnn import training
        from funcnn.schedules import learning_rate

        from ..common import thread_limit
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
                thread_limit(plan.settings.threads, self.info),
                EpochProgress(target, state.epoch, quiet=self.quiet) as bar,
            ):
                for new in states:
                    now = time.perf_counter()
                    seconds, tick = now - tick, now
                    if new.stop_reason == "non_finite":
                        return new, "non_finite"
                    # The state, its history row and the note that it is logged change together: an interrupt
                    # between them would log an epoch twice (or not at all) before the final save.
                    with deferred_interrupt():
                        last = new
                        log.append(history_row(new, lr=learning_rate(plan.lr, max(new.step - 1, 0)), seconds=seconds))
                        logged = new.epoch
                    if every is not None and new.epoch % every == 0:
                        with deferred_interrupt():
                            self._save(folder, new, in_shape, every)
                    bar.update(new.epoch, _bar_text(new, is_cls))
        except KeyboardInterrupt as e:
            self.exit_code = signals.exit_code(e)
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
        if final.stop_reason == "converged":
            epochs = (
                f"epochs      {final.epoch} of {target} ({elapsed:.1f} s): converged, the full-data gradient norm "
                f"fell below --tol {plan.settings.tol:g}"
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


def _check_identity(file: Path, expected: RunIdentity | None, data: str) -> None:
    """Refuse to resume from a checkpoint of another run (copied in from elsewhere), naming both runs."""
    from funcnn.io.checkpoint import checkpoint_info
    from funcnn.io.layout import CONFIG

    found = checkpoint_info(file).run
    if expected is None:  # a run folder from before run ids: the data can still be compared
        if found is not None and found.data != data:
            fail(
                f"--resume: {file} was saved by run {found.id} trained on data {_short(found.data)}, but the "
                f"{CONFIG} beside it describes data {_short(data)}",
                "a checkpoint belongs to the run folder that wrote it; resume that run's own folder",
            )
        return
    if found is None or found != expected:
        saved_by = "an unknown run (no run id in the file)" if found is None else (
            f"run {found.id} (data {_short(found.data)})"
        )
        fail(
            f"--resume: {file} was saved by {saved_by}, but this folder is run {expected.id} "
            f"(data {_short(expected.data)}) according to its {CONFIG}; the checkpoint was copied from another run",
            "resume the folder the checkpoint came from, or restore this run's own checkpoint (its epoch-NNNN.npz "
            "files carry the same id)",
        )


def _short(fingerprint: str) -> str:
    """``sha256:0123456789ab...`` -> ``0123456789ab``: enough to tell two data sets apart in a message."""
    return fingerprint.rpartition(":")[2][:12]
