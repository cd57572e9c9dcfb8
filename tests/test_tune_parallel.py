"""funcnn.tune on other processes: a process pool and a real two-worker Dask LocalCluster.

Every trial's result (final params bit for bit, metrics, epochs) is the same
whichever executor ran it. Lost workers: on Dask a trial whose worker dies is
run again once, then recorded as failed; a process pool cannot recover, but
the sweep still ends with every trial recorded. Workers are started and closed
inside the tests.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
from distributed import Client, LocalCluster
from numpy.typing import NDArray

import funcnn as fn
from funcnn import tune
from funcnn.training import TrainState

Data = tuple[NDArray[np.float32], NDArray[np.int64]]


def digits(n: int = 1000) -> Data:
    ds = fn.load_builtin("digits")
    x = (fn.flatten_images(ds.x)[:n] / 16.0).astype(np.float32)
    return x, np.asarray(ds.y[:n], dtype=np.int64)


def mlp_trial(config: tune.TrialConfig, key: fn.Key, data: Data) -> TrainState[np.float32]:
    """A small float32 MLP with dropout, mini-batches and Adam: every source of randomness is in play."""
    x, y = data
    hidden, lr = config["hidden"], config["lr"]
    assert isinstance(hidden, int) and isinstance(lr, float)
    model = fn.Sequential(fn.Dense(hidden), fn.ReLU(), fn.Dropout(0.1), fn.Dense(10))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=(64,), dtype=np.float32)
    return fn.train(
        model, params, x, y, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=fn.adam(lr),
        batch_size=32, epochs=3, key=fn.fold_in(key, "train"), validation_fraction=0.25, metrics=("accuracy",),
    )  # fmt: skip


def dying_trial(config: tune.TrialConfig, key: fn.Key, data: tuple[Data, str]) -> TrainState[np.float32]:
    """Kills its own worker process: ``die="always"``, or only on the first attempt (``"once"``)."""
    arrays, folder = data
    marker = Path(folder) / f"died-{config.index}"
    if config["die"] == "always" or (config["die"] == "once" and not marker.exists()):
        marker.touch()
        os._exit(1)
    return mlp_trial(config, key, arrays)


def where_trial(config: tune.TrialConfig, key: fn.Key, data: Data) -> dict[str, float]:
    """Which process ran the trial, and which copy of the data it saw."""
    return {"pid": float(os.getpid()), "data_id": float(id(data)), "rows": float(data[0].shape[0])}


def assert_data_shipped_once_per_process(table: tune.SweepResults) -> None:
    copies: dict[float, set[float]] = {}
    for r in table:
        assert r.status == "ok" and r.metrics["rows"] == 1000, r.message
        copies.setdefault(r.metrics["pid"], set()).add(r.metrics["data_id"])
    assert all(len(ids) == 1 for ids in copies.values()), copies  # one copy of the data per worker process


# 256 hidden units on 1000 samples: matrices big enough for OpenBLAS to use several threads in this
# process (and round differently than with one), which sweep's fixed BLAS thread count makes irrelevant.
CONFIGS = tune.grid(lr=[1e-3, 1e-2], hidden=[8, 256])


@pytest.fixture(scope="module")
def serial() -> tune.SweepResults:
    return tune.sweep(mlp_trial, CONFIGS, key=fn.key(5), data=digits(), monitor="val_accuracy")


def assert_same_results(a: tune.SweepResults, b: tune.SweepResults) -> None:
    assert len(a) == len(b) == len(CONFIGS)
    for r in a:
        other = b.by_index(r.index)
        assert r.status == other.status == "ok", (r.message, other.message)
        assert dict(r.config) == dict(other.config) and r.metrics == other.metrics and r.epochs == other.epochs
        assert r.state is not None and other.state is not None
        params: fn.FrozenTree[Any] = r.state.params
        buffers: fn.FrozenTree[Any] = r.state.opt_state.buffers
        assert fn.tree_equal(params, other.state.params)  # bit for bit
        assert fn.tree_equal(buffers, other.state.opt_state.buffers)
    assert [r.index for r in a] == [r.index for r in b]  # same order


def test_a_process_pool_gives_the_serial_results_bit_for_bit(serial: tune.SweepResults) -> None:
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled = tune.sweep(mlp_trial, CONFIGS, key=fn.key(5), data=digits(), executor=pool, monitor="val_accuracy")
        where = tune.sweep(where_trial, tune.grid(i=list(range(12))), key=fn.key(5), data=digits(), executor=pool)
    assert_same_results(serial, pooled)
    assert {r.attempts for r in pooled} == {1}
    assert_data_shipped_once_per_process(where)


def test_a_crashed_pool_worker_fails_its_trials_but_the_sweep_ends(tmp_path: Path) -> None:
    configs = [tune.TrialConfig(0, {"die": "always", "lr": 1e-3, "hidden": 8})]
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        table = tune.sweep(dying_trial, configs, key=fn.key(5), data=(digits(), str(tmp_path)), executor=pool)
    (row,) = table.rows
    assert row.status == "failed" and row.attempts == 2
    assert row.message.startswith("worker lost after 2 attempts: BrokenProcessPool")


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[cf.Executor]:
    # allowed-failures 0: Dask reports a lost worker at once, and sweep's own retry is the only one;
    # worker-saturation 1.0: a worker holds only the trial it runs, so a crash takes no bystander with it.
    settings = {"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}
    with (
        dask.config.set(settings),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client.get_executor()


def test_a_dask_cluster_gives_the_serial_results_bit_for_bit(
    serial: tune.SweepResults, dask_executor: cf.Executor
) -> None:
    on_dask = tune.sweep(
        mlp_trial, CONFIGS, key=fn.key(5), data=digits(), executor=dask_executor, monitor="val_accuracy"
    )
    assert_same_results(serial, on_dask)
    where = tune.sweep(where_trial, tune.grid(i=list(range(12))), key=fn.key(5), data=digits(), executor=dask_executor)
    assert_data_shipped_once_per_process(where)


def test_a_dask_trial_whose_worker_dies_runs_again_once_then_fails(dask_executor: cf.Executor, tmp_path: Path) -> None:
    data = (digits(), str(tmp_path))
    configs = tune.grid(die=["never", "once"], lr=[1e-2], hidden=[8])
    table = tune.sweep(dying_trial, configs, key=fn.key(5), data=data, executor=dask_executor)
    never, once = table.by_index(0), table.by_index(1)
    assert (never.status, never.attempts) == ("ok", 1)
    assert (once.status, once.attempts) == ("ok", 2)
    # the rerun is the same trial: same key, so the same result as a first-time run
    fresh = tune.sweep(mlp_trial, [once.config], key=fn.key(5), data=digits())
    assert fresh.rows[0].state is not None and once.state is not None
    rerun: fn.FrozenTree[Any] = once.state.params
    assert fn.tree_equal(fresh.rows[0].state.params, rerun)
    # a trial that kills every worker it runs on: run twice, then recorded as failed; the sweep ends
    always = tune.TrialConfig(2, {"die": "always", "lr": 1e-2, "hidden": 8})
    (row,) = tune.sweep(dying_trial, [always], key=fn.key(5), data=data, executor=dask_executor).rows
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.message.startswith("worker lost after 2 attempts: KilledWorker")


def worker_malloc_env() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_cluster_executor_runs_a_local_cluster_and_reports_an_unreachable_scheduler() -> None:
    before = dict(os.environ)
    with tune.cluster_executor(workers=1) as executor:
        table = tune.sweep(mlp_trial, CONFIGS[:1], key=fn.key(5), data=digits(), executor=executor)
        # The workers keep glibc's dynamic heap thresholds (Dask's nanny would fix the trim threshold at 64 KiB).
        assert executor.submit(worker_malloc_env).result() == before.get("MALLOC_TRIM_THRESHOLD_")
    assert table.rows[0].status == "ok"
    assert dict(os.environ) == before  # what the nanny wrote into this process's environment is undone
    with pytest.raises(ConnectionError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s"):
        with tune.cluster_executor("tcp://127.0.0.1:9", timeout=1.0):
            pass  # pragma: no cover
