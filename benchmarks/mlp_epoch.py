"""One training epoch of a 784-256-128-10 ReLU/softmax MLP: funcnn vs straight numpy.

60,000 synthetic samples of MNIST shape, batch 128, float32 by default. The
straight-numpy version is the yardstick: the same maths written out by hand
with in-place updates, in the same process, interleaved run by run. The ratio
of medians is what we quote (the machine is shared and noisy).

    python benchmarks/mlp_epoch.py                      # SGD, float32, 1 thread
    python benchmarks/mlp_epoch.py --optimizer adam
    python benchmarks/mlp_epoch.py --dtype float64 --threads 2 --batch-size 512
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blas_threads, peak_rss_mb, summary, time_once  # noqa: E402

import funcnn as fn  # noqa: E402
from funcnn import rng  # noqa: E402
from funcnn.train import last_state  # noqa: E402

SIZES = (784, 256, 128, 10)


def synthetic_data(n: int, dtype: type[np.floating]) -> tuple[NDArray[np.floating], NDArray[np.int64]]:
    g = rng.generator(fn.key(123))
    x = g.random((n, SIZES[0]), dtype=np.float32).astype(dtype)
    y = g.integers(0, SIZES[-1], size=n)
    return x, y


def numpy_epoch(
    ws: list[NDArray[np.floating]], bs: list[NDArray[np.floating]], x: NDArray[np.floating],
    onehot: NDArray[np.floating], batch: int, lr: float, epoch: int, optimizer: str,
    moments: list[list[NDArray[np.floating]]], step: list[int],
) -> float:
    """The same epoch written out by hand (in-place updates), returning the mean cost."""
    n = x.shape[0]
    order = rng.generator(fn.fold_in(fn.key(1), epoch)).permutation(n)
    total = 0.0
    b1, b2, eps = 0.9, 0.999, 1e-8
    for start in range(0, n, batch):
        idx = order[start : start + batch]
        xb, tb = x[idx], onehot[idx]
        h1 = np.maximum(xb @ ws[0] + bs[0], 0)
        h2 = np.maximum(h1 @ ws[1] + bs[1], 0)
        z = h2 @ ws[2] + bs[2]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        total -= float(np.vdot(tb, z - np.log(s)))
        g = e / s
        g -= tb
        g /= xb.shape[0]
        dw3, db3 = h2.T @ g, g.sum(0)
        d2 = (g @ ws[2].T) * (h2 > 0)
        dw2, db2 = h1.T @ d2, d2.sum(0)
        d1 = (d2 @ ws[1].T) * (h1 > 0)
        dw1, db1 = xb.T @ d1, d1.sum(0)
        grads = [dw1, db1, dw2, db2, dw3, db3]
        params = [ws[0], bs[0], ws[1], bs[1], ws[2], bs[2]]
        step[0] += 1
        if optimizer == "sgd":
            for p, d in zip(params, grads, strict=True):
                p -= lr * d
        else:
            t = step[0]
            scale = lr * (1 - b2**t) ** 0.5 / (1 - b1**t)
            for p, d, m, v in zip(params, grads, moments[0], moments[1], strict=True):
                m *= b1
                m += (1 - b1) * d
                v *= b2
                v += (1 - b2) * d * d
                p -= scale * m / (np.sqrt(v) + eps)
    return total / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    dtype = np.float32 if args.dtype == "float32" else np.float64
    lr = 0.01 if args.optimizer == "sgd" else 1e-3

    x, y = synthetic_data(args.samples, dtype)
    onehot = np.eye(SIZES[-1], dtype=dtype)[y]
    model = fn.Sequential(fn.Dense(256), fn.ReLU(), fn.Dense(128), fn.ReLU(), fn.Dense(10))
    params = fn.init(model, fn.key(0), in_shape=(784,), dtype=dtype)
    if args.optimizer == "sgd":
        optimizer: fn.Optimizer = fn.sgd(lr)
    else:
        from funcnn.optim import adam  # type: ignore[attr-defined]

        optimizer = adam(lr)
    state = fn.TrainState.create(
        model, params, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=optimizer,
        key=fn.key(1), batch_size=args.batch_size,
    )
    flat = fn.thaw(params)
    ws = [np.array(flat[f"dense_{i}"]["w"]) for i in range(3)]  # type: ignore[index]
    bs = [np.array(flat[f"dense_{i}"]["b"]) for i in range(3)]  # type: ignore[index]
    moments = [[np.zeros_like(p) for p in (ws[0], bs[0], ws[1], bs[1], ws[2], bs[2])] for _ in range(2)]
    step = [0]

    funcnn_times: list[float] = []
    numpy_times: list[float] = []
    with blas_threads(args.threads) as note:
        print(f"{note}; {args.optimizer}, {args.dtype}, batch {args.batch_size}, {args.samples} samples")
        for run in range(args.runs):
            numpy_times.append(
                time_once(lambda r=run: numpy_epoch(ws, bs, x, onehot, args.batch_size, lr, r, args.optimizer,
                                                    moments, step))
            )

            def one_funcnn_epoch(r: int = run) -> None:
                nonlocal state
                state = last_state(fn.train_epochs(state, x, y, epochs=r + 1))

            funcnn_times.append(time_once(one_funcnn_epoch))
    ratio = statistics.median(funcnn_times) / statistics.median(numpy_times)
    print(f"funcnn        {summary(funcnn_times)}")
    print(f"straight numpy {summary(numpy_times)}")
    print(f"ratio funcnn / numpy (medians): {ratio:.3f}")
    print(f"final funcnn cost {state.history.cost[-1]:.4f}; peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
