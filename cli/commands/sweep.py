"""``funcnn sweep``: run a grid or a random search of ``funcnn train`` settings, here or on a Dask cluster.

A sweep file (TOML) names the base options and the axes::

    monitor = "val_accuracy"        # optional: the metric that picks the best trial
    cv = 4                          # optional: k-fold cross-validation inside every trial

    [train]                         # any option of funcnn train, as in config.json or spelt like the option
    hidden = "64"
    epochs = 30

    [grid]                          # every combination of these values
    lr = [0.001, 0.01, 0.1]
    epochs = [10, 50, 200]

or, instead of ``[grid]``, ``[random]`` with ``trials = N`` and axes such as
``lr = {log_uniform = [1e-4, 0.1]}`` (see :func:`funcnn.tune.parse_space`).

Every trial is an ordinary run folder ``OUT/trial-NNNN`` (with ``cv``:
``OUT/trial-NNNN/fold-K``), the run ``funcnn train`` would write with the
trial's settings: ``evaluate``, ``replay`` and ``inspect`` work on it. Its
randomness comes from its ``seed`` setting, as for ``funcnn train``. The sweep
folder also holds ``sweep.json`` (what was asked, to refuse a changed sweep
file), ``results.json`` and ``results.csv`` (rewritten as each trial ends, so
Ctrl-C keeps the finished ones) and, with matplotlib, ``sweep.png``. Rerunning
the same command skips finished trials and runs unfinished and failed ones.

Only the standard library and Typer are imported with this module; the work is
done in :mod:`funcnn.tune`, imported when the command runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from ..errors import echo_err, fail, handle_errors, usage_error
from ..options import PluginOption
from ..signals import exit_code

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from funcnn.rng import Key
    from funcnn.training import TrainState
    from funcnn.tune import SweepResults, TrialConfig, TrialOutput, TrialResult

    from ..planning import Plan, RunData
    from ..settings import TrainSettings

__all__ = ["sweep"]

SWEEP_FILE = "sweep.json"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
PLOT = "sweep.png"
_TOP_LEVEL = ("train", "grid", "random", "trials", "cv", "monitor")
# Settings that shape the data: the data are loaded once per sweep, so these cannot vary per trial.
_DATA_SETTINGS = (
    "data",
    "label_column",
    "drop",
    "delimiter",
    "header",
    "prefix",
    "task",
    "samples",
    "noise",
    "classes",
    "image_size",
    "color",
)
# Settings holding a path, read relative to the sweep file.
_PATH_SETTINGS = ("model_file", "init_from", "data")


def sweep(
    sweep_file: Annotated[
        Path,
        typer.Argument(
            metavar="SWEEP.toml", exists=True, dir_okay=False, help="The sweep file: \\[train] options and axes."
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="The data of every trial, as for 'funcnn train --data'. Default: the sweep file's \\[train] data.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Trials run at once in local worker processes (1: one after another here)."),
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Run the trials on a running Dask scheduler, e.g. tcp://HOST:8786 (its workers need funcnn "
            "installed; pip install 'funcnn[cluster]').",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the --scheduler before giving up.")
    ] = 10.0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The sweep folder. Default: sweeps/<name of the sweep file>. Rerunning with the same folder "
            "continues the sweep.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display; only the summary.")] = False,
    plot: Annotated[bool, typer.Option(help="Write sweep.png (needs matplotlib).")] = True,
    plugin: PluginOption = None,
) -> None:
    """Run every trial of a sweep file as a 'funcnn train' run and tabulate the results.

    Each trial is a run folder under the sweep folder; results.csv and
    results.json list every trial (best first), the summary names the best,
    and sweep.png shows the monitored metric over two axes (a heat map) or
    one (a line with error bars). Ctrl-C keeps the finished trials; the same
    command continues the sweep.

    \b
    Examples:
      funcnn sweep lr_epochs.toml --data digits
      funcnn sweep lr_epochs.toml --data digits --workers 2 --out sweeps/study
      funcnn sweep lr_epochs.toml --data digits --scheduler tcp://10.0.0.5:8786
    """
    from ..plugins import load_plugins

    with handle_errors():
        load_plugins(plugin)
        if scheduler is not None and workers != 1:
            raise usage_error("--workers", "the Dask scheduler's workers run the trials; leave --workers out")
        _Sweep(sweep_file, data, workers, scheduler, timeout, out, quiet, plot).run()


# --- the sweep file ------------------------------------------------------------------------------


class SweepSpec(NamedTuple):
    """A sweep file, read and checked: base settings (stored form), axes, and how trials are scored."""

    train: dict[str, Any]
    grid: dict[str, list[Any]] | None
    random: dict[str, Any] | None
    trials: int | None
    cv: int | None
    monitor: str | None

    def to_json(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in self._asdict().items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _fields() -> dict[str, Any]:
    """Every name a setting may have in a sweep file: its field name and its option spelling."""
    import attrs

    from ..settings import TrainSettings, option_name

    out: dict[str, Any] = {}
    for field in attrs.fields(TrainSettings):
        out[field.name] = field
        out[option_name(field).removeprefix("--").replace("-", "_")] = field
        out[option_name(field).removeprefix("--")] = field
    return out


def _stored(where: str, name: str, value: Any, base: Path) -> tuple[str, Any]:
    """``(field name, value as config.json stores it)`` of a setting in the sweep file."""
    import typer as _typer

    from funcnn.errors import ConfigError

    from ..settings import OptionInfo

    fields = _fields()
    field = fields.get(name)
    if field is None:
        known = sorted({f.name for f in fields.values()})
        raise ConfigError(f"{where}: unknown option {name!r}; the options of funcnn train are: {', '.join(known)}")
    info: OptionInfo = field.metadata["option"]
    if field.name in _PATH_SETTINGS and isinstance(value, str):
        candidate = base / value.split(":")[0] if field.name == "init_from" else base / value
        if not Path(value).is_absolute() and candidate.exists():
            value = str(base / value)
    try:
        if isinstance(value, str) and info.parse is not None:
            value = info.parse(value)
        if isinstance(value, list):
            value = tuple(value)
        if field.converter is not None and callable(field.converter):
            value = field.converter(value)
        if field.validator is not None:
            field.validator(None, field, value)
    except _typer.BadParameter as e:
        raise ConfigError(f"{where}: {name} = {value!r}: {e.message}") from None
    return field.name, value


def read_sweep_file(path: Path) -> SweepSpec:
    """The checked content of a sweep file.

    Raises:
        ConfigError: not TOML, an unknown table or option (the valid names are
            listed), an empty axis, a value an option refuses, or a data
            setting used as an axis.
    """
    import tomllib

    from funcnn.errors import ConfigError

    where = str(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where}: not a TOML file: {e}") from None
    unknown = sorted(set(table) - set(_TOP_LEVEL))
    if unknown:
        raise ConfigError(f"{where}: unknown entry {unknown[0]!r}; a sweep file has {', '.join(_TOP_LEVEL)}")
    base = path.resolve().parent
    raw_train = table.get("train", {})
    if not isinstance(raw_train, dict):
        raise ConfigError(f"{where}: [train] must be a table of funcnn train options")
    train = dict(_stored(f"{where} [train]", k, v, base) for k, v in raw_train.items())
    grid_table, random_table = table.get("grid"), table.get("random")
    if (grid_table is None) == (random_table is None):
        raise ConfigError(f"{where}: give the axes in a [grid] table or in a [random] table (one of them)")
    axes_table = grid_table if grid_table is not None else random_table
    if not isinstance(axes_table, dict) or not axes_table:
        raise ConfigError(f"{where}: the axes table is empty; add an axis such as lr = [0.001, 0.01]")
    fields = _fields()
    grid: dict[str, list[Any]] | None = None
    random: dict[str, Any] | None = None
    trials = table.get("trials")
    if grid_table is not None:
        if trials is not None:
            raise ConfigError(f"{where}: trials = N is the size of a [random] search; a [grid] has every combination")
        grid = {}
        for name, values in grid_table.items():
            if not isinstance(values, list):
                raise ConfigError(f"{where} [grid]: axis {name!r} must be a list of values, e.g. {name} = [{values!r}]")
            if not values:
                raise ConfigError(f"{where} [grid]: axis {name!r} is empty; give it at least one value or remove it")
            key = _axis_name(where, name, fields)
            for v in values:
                _stored(f"{where} [grid]", name, v, base)  # each value checked by its option
            grid[key] = values
    else:
        assert random_table is not None
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ConfigError(f"{where}: a [random] search needs trials = N (a whole number >= 1), got {trials!r}")
        random = {_axis_name(where, name, fields): v for name, v in random_table.items()}
        for name, v in random.items():
            if isinstance(v, list) and not v:
                raise ConfigError(f"{where} [random]: axis {name!r} is empty; give it at least one value")
    cv = table.get("cv")
    if cv is not None and (isinstance(cv, bool) or not isinstance(cv, int) or cv < 2):
        raise ConfigError(f"{where}: cv = K needs a whole number K >= 2 (K-fold cross-validation), got {cv!r}")
    monitor = table.get("monitor")
    if monitor is not None and (not isinstance(monitor, str) or not monitor):
        raise ConfigError(f"{where}: monitor must be a metric name such as 'val_accuracy', got {monitor!r}")
    return SweepSpec(train, grid, random, trials, cv, monitor)


def _axis_name(where: str, name: str, fields: Mapping[str, Any]) -> str:
    from funcnn.errors import ConfigError

    field = fields.get(name)
    if field is None:
        known = sorted({f.name for f in fields.values()} - set(_DATA_SETTINGS))
        raise ConfigError(f"{where}: unknown axis {name!r}; axes can be: {', '.join(known)}")
    if field.name in _DATA_SETTINGS:
        raise ConfigError(
            f"{where}: {name!r} cannot be an axis: the data are loaded once for the whole sweep; "
            "set it in [train] (or --data) and run one sweep per data set"
        )
    return str(field.name)


# --- one trial (runs on a worker) ---------------------------------------------------------------


class SweepData(NamedTuple):
    """What every trial shares; shipped once per worker."""

    spec: str
    source: str
    base: dict[str, Any]
    data: RunData
    data_seed: int
    synthetic: bool
    out: str
    cv: int | None
    sweep_file: str


def trial_settings(base: Mapping[str, Any], config: Mapping[str, Any], sweep_file: str) -> TrainSettings:
    """The complete settings of one trial: the sweep file's [train], then the trial's axis values."""
    from ..planning import inherit_freeze
    from ..settings import resolve

    where = f"{sweep_file} trial"
    given = dict(base)
    folder = Path(sweep_file).resolve().parent
    for name, value in config.items():
        key, stored = _stored(where, name, list(value) if isinstance(value, tuple) else value, folder)
        given[key] = stored
    settings = resolve(given)
    return inherit_freeze(settings, given)


def _trial(config: TrialConfig, key: Key, shared: SweepData) -> TrialOutput:
    """Train one trial's run folder (or one per fold with ``cv``) and report its metrics."""
    import attrs

    from funcnn.tune import TrialOutput

    from ..planning import load_run_data

    try:
        settings = trial_settings(shared.base, config, shared.sweep_file)
        data = shared.data
        if shared.synthetic and settings.seed != shared.data_seed:
            data = load_run_data(shared.spec, settings)  # synthetic data are drawn from the trial's seed
        folder = Path(shared.out) / f"trial-{config.index:04d}"
        if shared.cv is None:
            final = _train_run(_plan(settings, data, shared.source), folder)
            return attrs.evolve(TrialOutput.of(final), state=None)
        return _cross_validated(settings, data, shared, folder)
    except KeyboardInterrupt:
        import multiprocessing
        import os

        if multiprocessing.parent_process() is not None:
            # A local worker process: Ctrl-C reached the whole process group and the sweep is stopping.
            # Leave at once, rather than start the trials the pool has already queued.
            os._exit(130)
        raise


def _plan(settings: TrainSettings, data: RunData, source: str) -> Plan:
    from ..planning import plan_run

    return plan_run(settings, data, source, None, None)


def _cross_validated(settings: TrainSettings, data: RunData, shared: SweepData, folder: Path) -> TrialOutput:
    """One run per fold (``fold-1`` ...); the metrics' mean over the folds, and ``<name>_std``."""
    import numpy as np

    from funcnn.rng import fold_in
    from funcnn.tune import TrialOutput, kfold

    from ..common import run_keys
    from ..planning import RunData, Split

    assert shared.cv is not None
    ds = data.ds
    labels: Any = ds.y if ds.task == "classification" else ds.n_samples
    folds = kfold(
        fold_in(run_keys(settings.seed).split, "cv"), labels, shared.cv, stratified=ds.task == "classification"
    )
    outputs = []
    for i, fold in enumerate(folds, start=1):
        plan = _plan(settings, RunData(ds, Split(fold.train, fold.validation, None)), shared.source)
        plan.config["split"].update({"fold": i, "folds": shared.cv})
        outputs.append(TrialOutput.of(_train_run(plan, folder / f"fold-{i}")))
    metrics: dict[str, float] = {}
    for name in outputs[0].metrics:
        values = np.array([o.metrics[name] for o in outputs])
        metrics[name] = float(values.mean())
        metrics[f"{name}_std"] = float(values.std(ddof=1))
    return TrialOutput(metrics, max(o.epochs or 0 for o in outputs))


def _train_run(plan: Plan, folder: Path) -> TrainState[Any]:
    """Write ``folder`` as ``funcnn train`` writes a run folder, training to ``--epochs``; the final state.

    The folder is claimed (:func:`funcnn.io.lock.claim`) while it is written, as ``funcnn train`` claims
    its ``--out``; a lock left by a trial that was killed is taken over, one held by a live process is refused.
    """
    from funcnn.io.lock import claim

    with claim(folder, take_stale=True):
        return _write_run(plan, folder)


def _write_run(plan: Plan, folder: Path) -> TrainState[Any]:
    import time

    import numpy as np

    from funcnn import training
    from funcnn.errors import NonFiniteLossError
    from funcnn.io.checkpoint import save
    from funcnn.io.layout import CONFIG, HISTORY, LATEST, PREPROCESS, SCHEMA, epoch_path
    from funcnn.schedules import learning_rate

    from ..planning import initial_state, run_identity, with_identity
    from ..rundir import HistoryLog, history_columns, history_row, run_files, write_json

    plan = with_identity(plan, None)  # the identity funcnn train gives the same run
    identity, schema = run_identity(plan), plan.schema
    settings, in_shape, every = plan.settings, plan.prep.in_shape, plan.settings.checkpoint_every
    state = initial_state(plan)
    for old in run_files(folder):  # what an interrupted or failed attempt left
        old.unlink()

    def keep(s: TrainState[Any], *, final: bool = False) -> None:
        if every is not None and (s.epoch % every == 0 or final):
            save(epoch_path(folder, s.epoch), s, in_shape=in_shape, run=identity, schema=schema)
        save(folder / LATEST, s, in_shape=in_shape, run=identity, schema=schema)

    write_json(folder / CONFIG, plan.config)
    if schema is not None:
        write_json(folder / SCHEMA, schema.to_json())
    plan.prep.save(folder / PREPROCESS)
    keep(state)
    last = state
    columns = history_columns(plan.metrics, validation=plan.validation is not None)
    tick = time.perf_counter()
    with (
        HistoryLog.create(folder / HISTORY, columns) as log,
        np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"),
    ):
        for new in training.train_epochs(
            state, plan.x_train, plan.y_train, epochs=settings.epochs, validation=plan.validation, on_nonfinite="stop"
        ):
            now = time.perf_counter()
            seconds, tick = now - tick, now
            if new.stop_reason == "non_finite":
                keep(last, final=True)
                raise NonFiniteLossError(
                    f"the cost became NaN or infinite during epoch {last.epoch + 1} (lr {settings.lr:g}); "
                    f"the last finite state (epoch {last.epoch}) is in {folder / LATEST}"
                )
            last = new
            log.append(history_row(new, lr=learning_rate(plan.lr, max(new.step - 1, 0)), seconds=seconds))
            if every is not None and new.epoch % every == 0:
                keep(new)
    final = last.restore_best() if last.stop_reason == "early_stopping" else last
    keep(final, final=True)
    return final


# --- the command --------------------------------------------------------------------------------


class _Sweep:
    def __init__(
        self,
        sweep_file: Path,
        data: str | None,
        workers: int,
        scheduler: str | None,
        timeout: float,
        out: Path | None,
        quiet: bool,
        plot: bool,
    ) -> None:
        self.sweep_file, self.data, self.workers, self.scheduler = sweep_file, data, workers, scheduler
        self.timeout, self.quiet, self.plot = timeout, quiet, plot
        self.out = out if out is not None else Path("sweeps") / sweep_file.stem

    def info(self, text: str) -> None:
        if not self.quiet:
            echo_err(text)

    def run(self) -> None:
        from funcnn.datasets import builtin_names, describe_builtins
        from funcnn.datasets.inputs import fingerprint
        from funcnn.rng import fold_in, key
        from funcnn.tune import grid, parse_space, random_search

        from ..common import check_data_option, data_source
        from ..planning import load_run_data
        from ..settings import resolve

        spec = read_sweep_file(self.sweep_file)
        if self.data is not None:
            check_data_option(self.data)
        data_spec = self.data if self.data is not None else str(spec.train.get("data", "spiral"))
        base = {**spec.train, "data": data_spec}
        base_settings = resolve(base)
        data = load_run_data(data_spec, base_settings)
        if spec.grid is not None:
            configs = grid(**spec.grid)
        else:
            assert spec.random is not None and spec.trials is not None
            configs = random_search(fold_in(key(base_settings.seed), "search"), parse_space(spec.random), spec.trials)
        settings = [trial_settings(base, c, str(self.sweep_file)) for c in configs]  # every trial checked first
        task = data.ds.task
        metric = "accuracy" if task == "classification" else "rmse"
        validated = spec.cv is not None or any(s.val_split > 0 for s in settings)
        names = ["cost", metric] + (["val_cost", f"val_{metric}"] if validated else [])
        monitor = spec.monitor or (f"val_{metric}" if validated else metric)
        if monitor not in names:
            from funcnn.errors import ConfigError

            raise ConfigError(
                f"{self.sweep_file}: monitor {monitor!r} is not a metric of these trials: {', '.join(names)}"
            )
        synthetic = data_spec in builtin_names() and any(
            i.synthetic for i in describe_builtins() if i.name == data_spec
        )
        record = {
            "sweep": spec.to_json(),
            "data": {"source": data_source(data_spec), "fingerprint": fingerprint(data.ds.x, data.ds.y)},
            "monitor": monitor,
        }
        done = self._check_folder(record)
        # Connect to the scheduler before anything is written; hold the folder against a second sweep in it.
        with self._executor() as executor, self._claimed(record):
            shared = SweepData(
                data_spec, data_source(data_spec), base, data, base_settings.seed, synthetic,
                str(self.out.resolve()), spec.cv, str(self.sweep_file.resolve()),
            )  # fmt: skip
            results = self._run(configs, shared, executor, monitor, done, key(base_settings.seed))
        self._finish(results, list(spec.grid or spec.random or {}), spec.cv)

    # -- the sweep folder ------------------------------------------------------------------------

    def _check_folder(self, record: Mapping[str, Any]) -> list[TrialResult]:
        """The finished trials of an earlier run of this sweep in ``--out`` (nothing if it is new).

        Refuses a folder that holds another sweep (the differences are shown) or other files.
        """
        from funcnn.io.runs import read_json
        from funcnn.tune import TrialResult

        out = self.out
        if out.exists() and not out.is_dir():
            raise usage_error("--out", f"{str(out)!r} is a file; give a folder")
        if not (out / SWEEP_FILE).is_file():
            if out.is_dir() and any(out.iterdir()):
                raise usage_error("--out", f"{str(out)!r} is not empty and holds no sweep; choose another folder")
            return []
        prior = read_json(out / SWEEP_FILE)
        differ = _differences(prior, record)
        if differ:
            fail(
                f"{out} holds a sweep with other settings: {'; '.join(differ)}",
                "rerun with the sweep file it was started with, or choose another --out",
            )
        if not (out / RESULTS_JSON).is_file():
            return []
        stored = read_json(out / RESULTS_JSON).get("trials", [])
        return [TrialResult.from_dict(t) for t in stored if isinstance(t, dict)]

    def _claimed(self, record: Mapping[str, Any]) -> Any:
        """Claim ``--out`` for this process (a lock left by a process that died is taken over) and write sweep.json."""
        import contextlib

        from funcnn.io.lock import claim

        from ..rundir import write_json

        @contextlib.contextmanager
        def held() -> Iterator[None]:
            with claim(self.out, take_stale=True):
                write_json(self.out / SWEEP_FILE, record)
                yield

        return held()

    def _executor(self) -> Any:
        import concurrent.futures as cf
        import contextlib
        import multiprocessing

        from funcnn.tune import cluster_executor

        @contextlib.contextmanager
        def pool() -> Iterator[cf.Executor | None]:
            if self.workers == 1:
                yield None
                return
            executor = cf.ProcessPoolExecutor(self.workers)
            try:
                yield executor
            except BaseException:
                # Ctrl-C, SIGTERM or an error: drop the queued trials and stop the running ones (their
                # run folders are redone when the sweep is continued); the workers are this pool's only children.
                _quiet_broken_pool()
                executor.shutdown(wait=False, cancel_futures=True)
                for child in multiprocessing.active_children():
                    child.terminate()
                raise
            executor.shutdown(wait=True)

        @contextlib.contextmanager
        def cluster() -> Iterator[cf.Executor]:
            assert self.scheduler is not None
            try:
                manager = cluster_executor(self.scheduler, timeout=self.timeout)
                executor = manager.__enter__()
            except ConnectionError as e:
                fail(str(e), "check the address and that the scheduler runs; nothing was written")
            except ImportError as e:
                fail(str(e))
            try:
                yield executor
            except BaseException as e:
                manager.__exit__(type(e), e, e.__traceback__)
                raise
            manager.__exit__(None, None, None)

        return pool() if self.scheduler is None else cluster()

    def _run(
        self,
        configs: Sequence[TrialConfig],
        shared: SweepData,
        executor: Any,
        monitor: str,
        done: Sequence[TrialResult],
        sweep_key: Key,
    ) -> SweepResults:
        from funcnn import tune

        planned = {c.index for c in configs}
        kept = {r.index: r for r in done if r.status == "ok" and r.index in planned}
        where = (
            f" on {self.scheduler}" if self.scheduler else f" with {self.workers} workers" if self.workers > 1 else ""
        )
        again = f", {len(kept)} finished before" if kept else ""
        self.info(f"sweep      {len(configs)} trials{again}{where}; monitor {monitor}; folder {self.out}")
        progress = _Progress(len(configs), len(kept), monitor, tune.infer_mode(monitor), quiet=self.quiet)
        results_now: dict[int, TrialResult] = dict(kept)

        def on_result(result: TrialResult) -> None:
            results_now[result.index] = result
            self._write_results(tune.SweepResults.build(list(results_now.values()), monitor))
            progress.update(result, self.workers if self.scheduler is None else None)

        try:
            with progress:
                results = tune.sweep(
                    _trial, configs, key=sweep_key, data=shared, executor=executor, monitor=monitor, done=done,
                    on_result=on_result,
                )  # fmt: skip
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM (see cli.signals)
            finished = sum(1 for r in results_now.values() if r.status == "ok")
            echo_err(f"interrupted: {finished} of {len(configs)} trials finished and kept in {self.out}")
            echo_err("continue with the same command")
            raise typer.Exit(exit_code(e)) from None
        self._write_results(results)
        return results

    def _write_results(self, results: SweepResults) -> None:
        import csv
        import io
        import json

        from funcnn.io.atomic import atomic_write

        table = results.to_dict()
        table["best"] = results.best.index if results.ok and _finite(results.rows[0], results.monitor) else None
        atomic_write(self.out / RESULTS_JSON, (json.dumps(table, indent=2, allow_nan=False) + "\n").encode("utf-8"))
        records = results.records()
        columns: dict[str, None] = {}
        for row in records:
            columns.update(dict.fromkeys(row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in records:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        atomic_write(self.out / RESULTS_CSV, buffer.getvalue().encode("utf-8"))

    # -- the summary and the plot ----------------------------------------------------------------

    def _finish(self, results: SweepResults, axes: Sequence[str], cv: int | None) -> None:
        failed = results.failed
        lines = [str(results), ""]
        ok = len(results) - len(failed)
        lines.append(f"trials      {len(results)} ({ok} finished, {len(failed)} failed)")
        if results.ok and _finite(results.rows[0], results.monitor):
            best = results.best
            shown = ", ".join(f"{k}={v}" for k, v in best.config.items())
            value = best.metrics[results.monitor]
            spread = (
                f" ± {best.metrics[results.monitor + '_std']:.4g}" if f"{results.monitor}_std" in best.metrics else ""
            )
            lines.append(f"best        trial {best.index} ({shown}): {results.monitor} {value:.4g}{spread}")
            lines.append(f"best run    {self.out / f'trial-{best.index:04d}'}")
        else:
            lines.append(f"best        none: no trial finished with a finite {results.monitor}")
        lines.append(f"results     {self.out / RESULTS_CSV}, {self.out / RESULTS_JSON}")
        print("\n".join(lines), flush=True)
        for r in failed:
            echo_err(f"trial {r.index} failed: {r.message}")
        if self.plot:
            self._plot(results, axes, cv)

    def _plot(self, results: SweepResults, axes: Sequence[str], cv: int | None) -> None:
        from .. import plots

        varying = [a for a in axes if len({r.config.get(a) for r in results}) > 1]
        if not varying:
            return
        if not plots.available():
            self.info(f"note: {plots.INSTALL_HINT} (results.csv and results.json are written)")
            return
        try:
            if len(varying) >= 2:
                rows, cols, table = results.pivot(varying[0], varying[1])
                plots.sweep_heatmap(self.out / PLOT, varying[0], varying[1], rows, cols, table, results.monitor)
            else:
                xs, ys, errs = _line(results, varying[0])
                label = f"{results.monitor} (± std over {cv} folds)" if cv else results.monitor
                plots.sweep_line(self.out / PLOT, varying[0], xs, ys, errs, label)
        except Exception as e:  # a plot is never worth failing a finished sweep for
            self.info(f"note: sweep.png skipped: {type(e).__name__}: {e}")


def _quiet_broken_pool() -> None:
    """Silence CPython 3.11's report of an ``InvalidStateError`` when a stopped pool with cancelled trials breaks.

    (Its manager thread sets an exception on futures already cancelled; Python 3.12 ignores that.)
    The command is ending anyway.
    """
    import concurrent.futures as cf
    import threading

    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if not isinstance(args.exc_value, cf.InvalidStateError):
            previous(args)

    threading.excepthook = hook


def _finite(row: TrialResult, monitor: str) -> bool:
    return row.status == "ok" and math.isfinite(row.metrics.get(monitor, math.nan))


def _cell(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return "" if value is None else value


def _line(results: SweepResults, axis: str) -> tuple[list[object], list[float], list[float]]:
    """Per value of ``axis``: the monitored metric's mean, and its spread (fold std, or std over trials)."""
    import numpy as np

    monitor = results.monitor
    groups: dict[object, list[TrialResult]] = {}
    for r in sorted(results, key=lambda r: r.index):
        groups.setdefault(r.config.get(axis), []).append(r)
    xs: list[object] = []
    ys: list[float] = []
    errs: list[float] = []
    for value, rows in groups.items():
        scores = [r.metrics[monitor] for r in rows if _finite(r, monitor)]
        xs.append(value)
        ys.append(float(np.mean(scores)) if scores else math.nan)
        fold_std = [r.metrics.get(f"{monitor}_std", math.nan) for r in rows if _finite(r, monitor)]
        if len(scores) == 1 and fold_std and math.isfinite(fold_std[0]):
            errs.append(fold_std[0])
        else:
            errs.append(float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0)
    return xs, ys, errs


def _differences(prior: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between the ``sweep.json`` in the folder and this sweep, as ``path: new (folder: old)``."""
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        elif a != b:
            out.append(f"{path} = {b!r} (the sweep folder has {a!r})")

    walk(dict(prior), dict(new), "")
    return out


class _Progress:
    """Trials done/running/failed and the best so far: a Rich bar on a terminal, else one line per trial."""

    def __init__(self, total: int, done: int, monitor: str, mode: str, *, quiet: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self.plain = not quiet and not console.is_terminal
        self.total, self.done, self.failed = total, done, 0
        self.monitor, self.mode = monitor, mode
        self.best: tuple[float, int] | None = None
        self._progress = Progress(
            TextColumn("trials"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=quiet or self.plain,
        )
        self._task = self._progress.add_task("sweep", total=total, completed=done, info="")

    def update(self, result: TrialResult, workers: int | None) -> None:
        self.done += 1
        value = result.metrics.get(self.monitor, math.nan)
        if result.status != "ok":
            self.failed += 1
        elif math.isfinite(value):
            better = self.best is None or (value < self.best[0] if self.mode == "min" else value > self.best[0])
            if better:
                self.best = (value, result.index)
        left = self.total - self.done
        running = left if workers is None else min(left, workers)
        best = f"best {self.monitor} {self.best[0]:.4g} (trial {self.best[1]})" if self.best else "best -"
        info = f"running {running}, failed {self.failed}, {best}"
        self._progress.update(self._task, completed=self.done, info=info)
        if self.plain:
            shown = ", ".join(f"{k}={v}" for k, v in result.config.items())
            what = f"{self.monitor} {value:.4g}" if result.status == "ok" else f"failed: {result.message}"
            echo_err(f"trial {result.index} ({shown}): {what}  [{self.done}/{self.total} done, {info}]")

    def __enter__(self) -> _Progress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()
