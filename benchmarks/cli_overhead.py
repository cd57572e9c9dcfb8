"""What the command line adds to a training epoch: ``funcnn train`` vs the library loop, same work.

The MLP benchmark's network (784-256-128-10 ReLU, softmax cross-entropy,
SGD lr 0.01, batch 128, float32) on synthetic MNIST-shaped uint8 images
(60,000 by default). Three variants run in fresh processes, interleaved:

* ``cli``: ``funcnn train`` with its progress bar drawn on a pseudo-terminal
  (so Rich really renders it), history.csv written every epoch;
* ``cli --quiet``: the same without the bar;
* ``library``: ``funcnn.training.train_epochs`` on the same prepared data, same
  state (keys, metrics), timed the same way (wall time between two epochs).

The CLI's epoch times come from its history.csv (``seconds``: the wall time
from one epoch's end to the next, so the CLI's own per-epoch work is
included). The first epoch of every run is dropped (warm-up). BLAS is limited
to one thread in every process.

On a shared machine the wall times of separate processes differ by far more
than the CLI's overhead, so the script also measures that overhead directly,
in one process: ``funcnn train`` runs with its progress bar on a
pseudo-terminal while the library's epoch generator is timed from inside, so
each epoch splits into the library's time (computing the epoch) and the
command's time (everything it does between two epochs: history.csv, the
progress bar, the loop). Their ratio is the overhead we quote.

    python benchmarks/cli_overhead.py                    # 60,000 samples, 3 epochs, 3 rounds
    python benchmarks/cli_overhead.py --samples 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pty
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import funcnn_script  # noqa: E402

THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CLI_ARGS = ["--hidden", "256,128", "--optimizer", "sgd", "--lr", "0.01", "--batch-size", "128", "--val-split", "0",
            "--no-plot"]


def make_data(path: Path, n: int) -> None:
    import numpy as np

    import funcnn as fn
    from funcnn import rng

    g = rng.generator(fn.key(123))
    x = g.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = g.integers(0, 10, size=n).astype(np.int64)
    np.savez(path, x=x, y=y)


def run_cli(data: Path, out: Path, epochs: int, *, quiet: bool) -> tuple[list[float], float]:
    command = [funcnn_script(), "train", "--data", str(data), "--epochs", str(epochs), "--out", str(out), *CLI_ARGS]
    env = {**os.environ, **THREADS, "COLUMNS": "120"}
    if quiet:
        subprocess.run([*command, "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        master, slave = pty.openpty()  # stderr is a terminal: the progress bar is drawn for real
        drained: list[int] = []

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                drained.append(len(chunk))

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        reader.join(timeout=5)
        os.close(master)
        if sum(drained) == 0:
            raise SystemExit("the progress bar drew nothing on the pseudo-terminal")
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    shutil.rmtree(out)
    return [float(row["seconds"]) for row in rows[1:]], float(rows[-1]["cost"])


LIBRARY_WORKER = """
import json, sys, time
import numpy as np
from funcnn.config import to_config
from funcnn.datasets import load_npz
from funcnn.initializers import HeNormal
from funcnn.layers import Dense, ReLU
from funcnn.losses import CategoricalCrossEntropy
from funcnn.network import Sequential, init
from funcnn.optim import sgd
from funcnn.rng import fold_in, key
from funcnn.datasets.inputs import fit_preparation
from funcnn.training import TrainState, train_epochs

data, epochs = sys.argv[1], int(sys.argv[2])
ds = load_npz(data)
model = Sequential(Dense(256, w_init=HeNormal()), ReLU(), Dense(128, w_init=HeNormal()), ReLU(), Dense(10))
prep = fit_preparation(ds.x, model)
x = prep.apply(ds.x, np.float32)
root = key(0)
params = init(model, fold_in(root, "init"), in_shape=prep.in_shape, dtype=np.float32)
state = TrainState.create(model, params, loss=CategoricalCrossEntropy(from_logits=True), optimizer=sgd(0.01),
                          key=fold_in(root, "train"), batch_size=128, metrics=("accuracy",))
seconds, tick = [], time.perf_counter()
for state in train_epochs(state, x, ds.y, epochs=epochs):
    now = time.perf_counter()
    seconds.append(now - tick)
    tick = now
print(json.dumps({"seconds": seconds, "cost": float(state.history.cost[-1])}))
"""


def run_library(data: Path, epochs: int) -> tuple[list[float], float]:
    env = {**os.environ, **THREADS}
    done = subprocess.run([sys.executable, "-c", LIBRARY_WORKER, str(data), str(epochs)], env=env, check=True,
                          capture_output=True, text=True)
    result = json.loads(done.stdout)
    return result["seconds"][1:], result["cost"]


def in_process_overhead(data: Path, out: Path, epochs: int) -> tuple[float, float, int]:
    """``(library seconds, command seconds, epochs)``: time inside the epoch generator vs between epochs."""
    import funcnn.training
    from funcnn_cli.main import app

    real = funcnn.training.train_epochs  # the train command looks it up there when it runs
    inside: list[float] = []
    between: list[float] = []

    def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
        states = real(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                state = next(states)
            except StopIteration:
                return
            inside.append(time.perf_counter() - start)
            start = time.perf_counter()
            yield state
            between.append(time.perf_counter() - start)

    funcnn.training.train_epochs = timed
    master, slave = pty.openpty()
    reader = threading.Thread(target=lambda: _drain(master), daemon=True)
    reader.start()
    saved = sys.stderr
    sys.stderr = os.fdopen(slave, "w")  # the progress bar is drawn on a terminal
    try:
        app(["train", "--data", str(data), "--epochs", str(epochs), "--out", str(out), *CLI_ARGS],
            standalone_mode=False)
    finally:
        sys.stderr.close()
        sys.stderr = saved
        funcnn.training.train_epochs = real
    return sum(inside[1:]), sum(between[1:]), len(inside) - 1


def _drain(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-process-only", action="store_true", help="only the in-process measurement")
    args = parser.parse_args()
    if args.in_process_only:
        os.environ.update(THREADS)  # before numpy is first imported (make_data imports it)
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "mnist_like.npz"
            make_data(data, args.samples)
            library, command, n = in_process_overhead(data, Path(tmp) / "inproc", args.epochs)
        print(f"{args.samples} samples, 784-256-128-10, sgd, batch 128, float32; {n} timed epochs")
        print(f"in one process: library {library / n:.3f} s per epoch, command {1e3 * command / n:.3f} ms per epoch "
              f"between epochs: overhead {100 * command / library:.3f}%")
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mnist_like.npz"
        make_data(data, args.samples)
        times: dict[str, list[float]] = {"cli": [], "cli --quiet": [], "library": []}
        cost = float("nan")
        costs: set[float] = set()
        for r in range(args.rounds):
            start = time.perf_counter()
            seconds, cli_cost = run_cli(data, Path(tmp) / f"cli-{r}", args.epochs, quiet=False)
            times["cli"] += seconds
            seconds, quiet_cost = run_cli(data, Path(tmp) / f"quiet-{r}", args.epochs, quiet=True)
            times["cli --quiet"] += seconds
            library_seconds, cost = run_library(data, args.epochs)
            times["library"] += library_seconds
            costs |= {cli_cost, quiet_cost, cost}
            print(f"round {r + 1}/{args.rounds} done in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{args.samples} samples, 784-256-128-10, sgd, batch 128, float32, 1 BLAS thread; "
          f"{args.rounds} rounds x {args.epochs - 1} timed epochs")
    base = statistics.median(times["library"])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<12} median epoch {median:.3f} s (min {min(samples):.3f}, max {max(samples):.3f}) "
              f"ratio to library {median / base:.4f}")
    same = "the same" if len(costs) == 1 else f"NOT the same ({sorted(costs)})"
    print(f"final cost {cost:.6f}: {same} in every run (the same work was timed)")


if __name__ == "__main__":
    main()
