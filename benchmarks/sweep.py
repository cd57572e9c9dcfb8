"""A 16-trial sweep on the digits: serially, on 2 local worker processes, and on a 2-worker Dask LocalCluster.

Each trial trains a small float32 MLP (64-H-10 ReLU, Adam, batch 32, 30
epochs) on the 1,438-image training split of the shipped digits and scores it
on a held-out quarter; the grid is learning rate (4) x hidden units (4). The
three runs are timed once each, one after the other, in one process; every
worker (and this process) uses one BLAS thread. The script checks that the
three tables agree bit for bit and prints:

* wall time of each run and the ratio to the serial run (target on 2 cores:
  2 workers <= 0.6 x serial);
* Dask overhead per trial: ``(wall x workers - sum of trial times) / trials``
  (target <= 0.2 s), which counts scheduling, transfer and idle workers;
* what travels: bytes per trial (function, settings, key) and per worker (the data).

Usage::

    python benchmarks/sweep.py [--trials 16] [--epochs 30] [--workers 2] [--skip-dask]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: one BLAS thread here and in every worker

import argparse  # noqa: E402
import concurrent.futures as cf  # noqa: E402
import multiprocessing  # noqa: E402
import pickle  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

import funcnn as fn  # noqa: E402
from funcnn import datasets, tune  # noqa: E402
from funcnn.training import TrainState  # noqa: E402

Data = tuple[NDArray[np.float32], NDArray[np.int64], int]
LOSS = fn.CategoricalCrossEntropy(from_logits=True)


def load() -> Data:
    train, _ = datasets.split_dataset(fn.key(0), datasets.load_builtin("digits"), test_fraction=0.2)
    x = (datasets.flatten_images(train.x) / 16.0).astype(np.float32)
    return x, np.asarray(train.labels, dtype=np.int64), 30


def trial(config: tune.TrialConfig, key: fn.Key, data: Data) -> TrainState[np.float32]:
    x, y, epochs = data
    hidden, lr = config["hidden"], config["lr"]
    assert isinstance(hidden, int) and isinstance(lr, float)
    model = fn.Sequential(fn.Dense(hidden, w_init=fn.HeNormal()), fn.ReLU(), fn.Dense(10))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=(64,), dtype=np.float32)
    return fn.train(
        model, params, x, y, loss=LOSS, optimizer=fn.adam(lr), batch_size=32, epochs=epochs,
        key=fn.fold_in(key, "train"), validation_fraction=0.25, metrics=("accuracy",),
    )  # fmt: skip


def configs(n: int) -> tuple[tune.TrialConfig, ...]:
    lrs = [1e-3, 3e-3, 1e-2, 3e-2]
    hidden = [16, 32, 64, 128]
    return tune.grid(lr=lrs, hidden=hidden)[:n]


def run(label: str, data: Data, n: int, executor: cf.Executor | None) -> tuple[float, tune.SweepResults]:
    start = time.perf_counter()
    table = tune.sweep(trial, configs(n), key=fn.key(1), data=data, executor=executor, monitor="val_accuracy")
    wall = time.perf_counter() - start
    busy = sum(r.seconds for r in table)
    print(f"{label:<28} {wall:7.2f} s wall, {busy:7.2f} s in trials, best val_accuracy "
          f"{table.best.metrics['val_accuracy']:.4f} (trial {table.best.index})", flush=True)  # fmt: skip
    return wall, table


def same(a: tune.SweepResults, b: tune.SweepResults) -> bool:
    return all(
        r.metrics == b.by_index(r.index).metrics
        and r.state is not None
        and (other := b.by_index(r.index).state) is not None
        and fn.tree_equal(r.state.params, other.params)  # type: ignore[misc]  # one dtype, float32
        for r in a
    )


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--skip-dask", action="store_true", help="no LocalCluster run")
    args = p.parse_args(argv)
    x, y, _ = load()
    data: Data = (x, y, args.epochs)
    one = configs(1)[0]
    print(f"{args.trials} trials: 64-H-10 MLPs, Adam, batch 32, {args.epochs} epochs on {len(y)} digits; "
          f"{os.cpu_count()} cores; one BLAS thread per process")  # fmt: skip
    per_trial = len(pickle.dumps((trial, one, fn.key(1), dict(np.geterr()))))
    print(f"shipped per trial: {per_trial} bytes (function by reference, settings, key); "
          f"per worker: {len(pickle.dumps(data))} bytes (the data)")  # fmt: skip
    serial_wall, serial = run("serial", data, args.trials, None)
    spawn = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(args.workers, mp_context=spawn) as pool:
        pool.submit(int).result()  # start the workers before the clock (a real pool is reused)
        pool_wall, pooled = run(f"process pool, {args.workers} workers", data, args.trials, pool)
    print(f"  {pool_wall / serial_wall:.2f} x serial (target <= 0.6); identical to serial: {same(serial, pooled)}")
    if args.skip_dask:
        return
    from distributed import Client, LocalCluster

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        dask_wall, on_dask = run(f"Dask LocalCluster, {args.workers} workers", data, args.trials, client.get_executor())
    busy = sum(r.seconds for r in on_dask)
    overhead = (dask_wall * args.workers - busy) / args.trials
    print(f"  {dask_wall / serial_wall:.2f} x serial; overhead {overhead:.3f} s per trial (target <= 0.2); "
          f"identical to serial: {same(serial, on_dask)}")  # fmt: skip


if __name__ == "__main__":
    main()
