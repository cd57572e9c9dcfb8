"""Run trials serially, on a local process pool, or on a Dask cluster.

:func:`sweep` calls ``trial(config, key, data)`` once per configuration, with
``key = fold_in(sweep_key, config.index)``. A trial is a pure function of its
arguments, so its result is the same, bit for bit, whichever executor ran it: every
trial runs with the caller's ``np.seterr`` policy and a fixed number of BLAS
threads (``blas_threads=1``; OpenBLAS rounds differently with other counts).

How work travels: the trial function, one configuration and one key go with
each trial (a few hundred bytes); the data go to each worker once.

* ``executor=None`` runs in this process, in trial order.
* A Dask executor (``client.get_executor()``): the data are scattered to every
  worker (``broadcast``); each trial carries a reference to them. If crashes
  lose every copy, the next submission scatters them again (trials in flight
  at that moment count the loss as a lost worker).
* Any other ``concurrent.futures.Executor`` (``ProcessPoolExecutor``, loky,
  threads): the data are pickled once to a private temporary file; a worker
  process loads it on its first trial and keeps it for the next ones (one data
  set per process). Thread pools share the data without copying.

Failures are data: an exception raised by a trial is caught on the worker and
recorded (``status="failed"``, its type and message). A trial whose worker
was lost (a crashed process, a Dask ``KilledWorker``) is submitted again
``retries`` times (default once) and then recorded as failed; the sweep goes
on. A ``ProcessPoolExecutor`` cannot recover from a crashed worker (the pool
is broken for every trial still queued): use Dask when trials may crash.

The worker-side memo of the data is the only state here; it never changes a
result, only how often the data travel.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Generic, TypeAlias, TypeVar

import attrs
import numpy as np

from funcnn.errors import ConfigError
from funcnn.rng import Key, fold_in
from funcnn.thread_policy import threads
from funcnn.tune.results import Mode, SweepResults, TrialOutput, TrialResult, TrialReturn
from funcnn.tune.space import TrialConfig

__all__ = ["CLUSTER_HINT", "Trial", "cluster_executor", "sweep"]

D = TypeVar("D")
Trial: TypeAlias = Callable[[TrialConfig, Key, D], TrialReturn]
CLUSTER_HINT = "pip install 'funcnn[cluster]'"

# token -> data, in a worker process: the data of the latest sweep only.
_WORKER_DATA: dict[str, object] = {}


class _Spilled(Generic[D]):
    """The sweep's data, pickled once to ``path``; it travels as ``(path, token)``."""

    def __init__(self, data: D, path: str, token: str) -> None:
        self.data, self.path, self.token = data, path, token

    def __reduce__(self) -> tuple[Callable[[str, str], object], tuple[str, str]]:
        return _load_spilled, (self.path, self.token)


def _load_spilled(path: str, token: str) -> object:
    """Unpickling a :class:`_Spilled` in a worker process gives the data (read once per process)."""
    if token not in _WORKER_DATA:
        _WORKER_DATA.clear()
        with open(path, "rb") as f:
            _WORKER_DATA[token] = pickle.load(f)
    return _WORKER_DATA[token]


@contextlib.contextmanager
def _blas_threads(n: int | None) -> Iterator[None]:
    """``n`` BLAS threads inside (:func:`funcnn.thread_policy.threads`); None keeps funcnn's default policy."""
    if n is None:
        yield
        return
    with threads(n):
        yield


def _run_trial(
    trial: Trial[D],
    config: TrialConfig,
    key: Key,
    data: D | _Spilled[D],
    errstate: Mapping[str, str],
    blas_threads: int | None = None,
) -> TrialResult:
    """Run one trial on a worker; its exceptions become a failed result."""
    own: D = data.data if isinstance(data, _Spilled) else data
    start = time.perf_counter()
    try:
        # The caller's floating-point policy and BLAS thread count on every worker: the same numbers anywhere.
        with np.errstate(**errstate), _blas_threads(blas_threads):  # type: ignore[arg-type]
            out = TrialOutput.of(trial(config, key, own))
    except Exception as e:  # noqa: BLE001  # failures are data: the sweep goes on
        return TrialResult(config, "failed", seconds=time.perf_counter() - start, message=_describe(e))
    return TrialResult(config, "ok", out.metrics, out.epochs, time.perf_counter() - start, state=out.state)


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def _as_configs(configs: Iterable[TrialConfig | Mapping[str, object]]) -> list[TrialConfig]:
    out = [c if isinstance(c, TrialConfig) else TrialConfig(i, c) for i, c in enumerate(configs)]
    seen: dict[int, TrialConfig] = {}
    for c in out:
        if c.index in seen:
            raise ConfigError(f"sweep: trial index {c.index} appears twice: {seen[c.index]!r} and {c!r}")
        seen[c.index] = c
    return out


def _reusable(done: Iterable[TrialResult], configs: Sequence[TrialConfig]) -> dict[int, TrialResult]:
    """Finished trials to keep: status ok, same index and settings as planned now."""
    planned = {c.index: c for c in configs}
    kept: dict[int, TrialResult] = {}
    for r in sorted(done, key=lambda r: r.index):
        now = planned.get(r.index)
        if now is None:
            continue
        if dict(now) != dict(r.config):
            raise ConfigError(
                f"sweep: finished trial {r.index} had {dict(r.config)}, but trial {r.index} is now {dict(now)}; "
                "resume with the same configurations or start a new sweep"
            )
        if r.status == "ok":
            kept[r.index] = r
    return kept


def _dask_client(executor: cf.Executor) -> object | None:
    """The Dask client behind ``client.get_executor()``, or None for other executors."""
    if type(executor).__module__.split(".")[0] != "distributed":
        return None
    # ClientExecutor keeps its client as ``_client`` (no public accessor); scatter needs it.
    return getattr(executor, "_client", None)


Submit: TypeAlias = Callable[[TrialConfig, Key], "cf.Future[TrialResult]"]


@contextlib.contextmanager
def _pool_submitter(
    trial: Trial[D], data: D, executor: cf.Executor, errstate: Mapping[str, str], blas: int | None
) -> Iterator[Submit]:
    """Submit to a concurrent.futures executor; the data go through a temporary file, read once per process."""
    run: Callable[..., TrialResult] = _run_trial  # the _Spilled arrives on the worker as the D the trial takes
    if isinstance(executor, cf.ThreadPoolExecutor):  # same process: share the data; sweep limits the threads
        yield lambda config, key: executor.submit(run, trial, config, key, data, errstate)
        return
    fd, path = tempfile.mkstemp(prefix="funcnn-sweep-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
        spilled = _Spilled(data, path, f"{os.getpid()}-{time.time_ns()}-{path}")
        yield lambda config, key: executor.submit(run, trial, config, key, spilled, errstate, blas)
    finally:
        os.unlink(path)


@contextlib.contextmanager
def _dask_submitter(
    trial: Trial[D], data: D, client: object, errstate: Mapping[str, str], blas: int | None
) -> Iterator[Submit]:
    """Submit through the Dask client: the data are scattered to every worker, again if a crash lost them.

    Each Dask future is mirrored by a concurrent.futures one that also settles
    when Dask cancels the task (e.g. its data or result were lost with a worker).
    """
    scattered: list[object] = []
    tasks: list[object] = []

    def reference() -> object:
        if not scattered or getattr(scattered[0], "status", "") != "finished":
            scattered[:] = client.scatter([data], broadcast=True, hash=False)  # type: ignore[attr-defined]
        return scattered[0]

    def submit(config: TrialConfig, key: Key) -> cf.Future[TrialResult]:
        mirror: cf.Future[TrialResult] = cf.Future()
        task = client.submit(_run_trial, trial, config, key, reference(), errstate, blas, pure=False)  # type: ignore[attr-defined]
        tasks.append(task)

        def settle(done: object) -> None:
            try:
                mirror.set_result(done.result())  # type: ignore[attr-defined]
            except BaseException as e:  # noqa: BLE001  # KilledWorker, a cancelled or lost task...
                mirror.set_exception(e)

        task.add_done_callback(settle)
        return mirror

    try:
        yield submit
    finally:  # Ctrl-C or an error: stop the tasks still queued or running, then free the data
        client.cancel([t for t in tasks if not t.done()])  # type: ignore[attr-defined]
        for future in scattered:
            future.release()  # type: ignore[attr-defined]


def _check_picklable(trial: object, executor: cf.Executor) -> None:
    if not isinstance(executor, cf.ProcessPoolExecutor):
        return
    try:
        pickle.dumps(trial)
    except Exception as e:  # noqa: BLE001
        raise TypeError(
            f"sweep: a ProcessPoolExecutor needs a picklable trial function, got {trial!r} ({_describe(e)}); "
            "define it at the top level of a module (not in a function or a lambda)"
        ) from None


def sweep(
    trial: Trial[D],
    configs: Iterable[TrialConfig | Mapping[str, object]],
    *,
    key: Key,
    data: D,
    executor: cf.Executor | None = None,
    monitor: str = "val_cost",
    mode: Mode | None = None,
    done: Iterable[TrialResult] = (),
    on_result: Callable[[TrialResult], None] | None = None,
    retries: int = 1,
    blas_threads: int | None = 1,
) -> SweepResults:
    """Run ``trial(config, fold_in(key, config.index), data)`` for every configuration.

    Args:
        trial: a pure function of a configuration, a key and the data,
            returning a :class:`~funcnn.training.TrainState`, a
            :class:`~funcnn.tune.CrossValidation`, a :class:`TrialOutput` or a
            ``{metric: float}`` mapping. For a process pool it must be
            picklable (defined at the top level of a module).
        configs: from :func:`grid` or :func:`random_search`; plain mappings are
            indexed by their position.
        key: the sweep's key; trial ``i`` gets ``fold_in(key, i)``.
        data: anything the trials share (e.g. ``(x, y)``); shipped once per
            worker, not once per trial.
        executor: ``None`` (serial, in this process), a
            ``concurrent.futures.Executor`` such as ``ProcessPoolExecutor``, or
            a Dask ``client.get_executor()``.
        monitor: the metric the table is sorted by (e.g. ``"val_accuracy"``).
        mode: ``"min"`` or ``"max"``; by default ``"min"`` for costs and
            errors, ``"max"`` otherwise (see :func:`infer_mode`).
        done: results of an earlier run of the same sweep: finished (``ok``)
            trials are kept and not run again; failed ones run again.
        on_result: called in this process with each new result as it
            arrives (to save it, or show progress).
        retries: how many times a trial whose worker was lost is submitted again.
        blas_threads: BLAS threads per trial (with threadpoolctl installed,
            ``pip install 'funcnn[threads]'``). OpenBLAS rounds differently
            with different thread counts, so a fixed count is what makes a
            trial's numbers the same on every executor; 1 also keeps parallel
            workers from competing for cores. None leaves BLAS as it is.

    Returns:
        the frozen results table, sorted by ``monitor`` (best first), failed trials last.

    Raises:
        ConfigError: two configurations share an index, or ``done`` disagrees with them.

    >>> import funcnn as fn
    >>> def trial(config, key, data):
    ...     return {"val_cost": (config["x"] - data) ** 2}
    >>> from funcnn.tune import grid
    >>> table = sweep(trial, grid(x=[1.0, 2.0, 3.0]), key=fn.key(0), data=2.2)
    >>> [r.config["x"] for r in table], table.best.index
    ([2.0, 3.0, 1.0], 1)
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"sweep: retries must be an int >= 0, got retries={retries!r}")
    planned = _as_configs(configs)
    results = _reusable(done, planned)
    todo = [c for c in planned if c.index not in results]
    errstate = {k: str(v) for k, v in np.geterr().items()}

    def record(r: TrialResult) -> None:
        results[r.index] = r
        if on_result is not None:
            on_result(r)

    if blas_threads is not None and (isinstance(blas_threads, bool) or blas_threads < 1):
        raise ValueError(f"sweep: blas_threads must be None or an int >= 1, got blas_threads={blas_threads!r}")
    if executor is None:
        with _blas_threads(blas_threads):
            for config in todo:
                record(_run_trial(trial, config, fold_in(key, config.index), data, errstate))
    elif todo:
        _check_picklable(trial, executor)
        client = _dask_client(executor)
        in_process = isinstance(executor, cf.ThreadPoolExecutor)
        submitter = (
            _pool_submitter(trial, data, executor, errstate, blas_threads)
            if client is None
            else _dask_submitter(trial, data, client, errstate, blas_threads)
        )
        with _blas_threads(blas_threads if in_process else None), submitter as submit:
            _run_parallel(submit, todo, key, retries, record)
    return SweepResults.build([results[c.index] for c in planned], monitor, mode)


def _run_parallel(
    submit_trial: Submit,
    todo: Sequence[TrialConfig],
    key: Key,
    retries: int,
    record: Callable[[TrialResult], None],
) -> None:
    """Submit every trial, then collect results as they arrive, resubmitting trials whose worker was lost."""
    pending: dict[cf.Future[TrialResult], tuple[TrialConfig, int]] = {}

    def submit(config: TrialConfig, attempt: int) -> None:
        try:
            pending[submit_trial(config, fold_in(key, config.index))] = (config, attempt)
        except Exception as e:  # noqa: BLE001  # e.g. a broken process pool refuses new work
            record(_lost(config, attempt, e))

    try:
        for config in todo:
            submit(config, 1)
        while pending:
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                config, attempt = pending.pop(future)
                try:
                    result = future.result()
                except Exception as e:  # noqa: BLE001  # the worker, not the trial, failed
                    if attempt <= retries:
                        submit(config, attempt + 1)
                    else:
                        record(_lost(config, attempt, e))
                    continue
                record(attrs.evolve(result, attempts=attempt))
    finally:
        for future in pending:  # Ctrl-C or an error in on_result: stop what has not started
            future.cancel()


def _lost(config: TrialConfig, attempt: int, e: BaseException) -> TrialResult:
    return TrialResult(
        config, "failed", seconds=0.0, attempts=attempt,
        message=f"worker lost after {attempt} attempt{'s' if attempt > 1 else ''}: {_describe(e)}",
    )  # fmt: skip


def _restore_environ(saved: dict[str, str]) -> None:
    """Put ``os.environ`` back to ``saved``: drop the variables added since, reset the ones changed."""
    for name in [name for name in os.environ if name not in saved]:
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


@contextlib.contextmanager
def cluster_executor(address: str | None = None, *, workers: int = 2, timeout: float = 10.0) -> Iterator[cf.Executor]:
    """A Dask executor for :func:`sweep`: on the scheduler at ``address``, or on a local cluster.

    With ``address`` (``"tcp://host:8786"``) it connects to a running
    scheduler (``dask scheduler`` / ``dask worker``; every worker needs
    funcnn installed) and fails within ``timeout`` seconds if it cannot. Without
    it, it starts a ``LocalCluster`` of ``workers`` single-threaded worker
    processes and closes it on exit. Its workers keep glibc's own heap
    thresholds: Dask's nanny would set ``MALLOC_TRIM_THRESHOLD_=65536`` in them,
    which gives every freed array back to the kernel and makes each training
    step fault its pages in again (see :mod:`funcnn.thread_policy`); and the
    variables the nanny writes into this process's environment are put back as
    they were on exit.

    Raises:
        ImportError: Dask is not installed (``pip install 'funcnn[cluster]'``).
        ConnectionError: the scheduler cannot be reached within ``timeout``.
    """
    try:
        import distributed
    except ImportError:
        raise ImportError(f"a Dask cluster needs the optional package 'distributed': {CLUSTER_HINT}") from None
    with contextlib.ExitStack() as stack:
        if address is None:
            import dask

            stack.callback(_restore_environ, dict(os.environ))  # the nanny updates os.environ before spawning
            spawn_env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}))
            spawn_env.pop("MALLOC_TRIM_THRESHOLD_", None)
            with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}):
                cluster = stack.enter_context(
                    distributed.LocalCluster(  # type: ignore[no-untyped-call]
                        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
                    )
                )
            client = stack.enter_context(distributed.Client(cluster))  # type: ignore[no-untyped-call]
        else:
            try:
                client = stack.enter_context(distributed.Client(address, timeout=timeout))  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError) as e:
                raise ConnectionError(
                    f"sweep: cannot reach the Dask scheduler at {address} within {timeout:g} s ({_describe(e)}); "
                    "start it with `dask scheduler` and workers with `dask worker ADDRESS`"
                ) from None
        yield client.get_executor()
