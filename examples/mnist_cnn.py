"""A convolutional network on MNIST, trained with funcnn's pure functions.

Protocol ("mnist10k"): the 10,000 images of an MNIST IDX folder (e.g. the
``t10k`` files); the first 8,000 train, the last 2,000 test. Images are
reshaped to channels-last ``(n, 28, 28, 1)`` float32 and standardised with the
mean and standard deviation of the training pixels.

Network (LeNet-like)::

    conv 5x5 (16) -> ReLU -> max-pool 2 -> conv 5x5 (32) -> ReLU -> max-pool 2
    -> flatten -> dense 128 -> ReLU -> dense 10 (logits)

with the layers' default initialisers (He normal for the convolutions, Glorot
uniform for the dense layers, zero biases). Softmax cross-entropy on the
logits, Adam (lr 1e-3), batch 64, 10 epochs, float32. Each seed draws its own
initial params and batch order; the result is the mean ± sample standard
deviation of the final test accuracy over the seeds.

Usage::

    python examples/mnist_cnn.py PATH_TO_IDX_FOLDER [--seeds 0 1 2] [--epochs 10] [--quick]

``--quick`` (1 epoch on 256 training and 64 test images, one seed) is the smoke
test CI runs on a tiny folder; ``--train``/``--test`` change the split sizes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from funcnn.datasets import load_mnist
from funcnn.layers.conv import Conv2D
from funcnn.layers.pool import MaxPool2D
from funcnn.optim import adam

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]
BATCH_SIZE = 64
LEARNING_RATE = 1e-3


def build_model() -> fn.Sequential:
    """The CNN with the layers' default initialisers (He normal for Conv2D, Glorot uniform for Dense)."""
    return fn.Sequential(
        Conv2D(16, 5), fn.ReLU(), MaxPool2D(2),  # (28, 28, 1) -> (24, 24, 16) -> (12, 12, 16)
        Conv2D(32, 5), fn.ReLU(), MaxPool2D(2),  # -> (8, 8, 32) -> (4, 4, 32)
        fn.Flatten(), fn.Dense(128), fn.ReLU(), fn.Dense(10),  # 512 -> 128 -> 10 logits
    )  # fmt: skip


def load_split(folder: Path, n_train: int, n_test: int) -> tuple[F32, I64, F32, I64]:
    """The first ``n_train`` images for training and the last ``n_test`` for testing."""
    data = load_mnist(folder)
    n = data.n_samples
    if n_train + n_test > n:
        raise SystemExit(f"{folder}: {n} images, fewer than --train {n_train} + --test {n_test}")
    x = np.asarray(data.x, dtype=np.float32).reshape(n, 28, 28, 1)  # channels-last
    x_train, x_test = x[:n_train], x[n - n_test :]
    # Standardise with the training images' pixel mean and std (two scalars; the
    # test images are never looked at): inputs centred near 0 with unit spread.
    mean, std = float(x_train.mean()), float(x_train.std()) or 1.0
    y = data.labels
    return (x_train - mean) / std, y[:n_train], (x_test - mean) / std, y[n - n_test :]


def accuracy(model: fn.Sequential, params: fn.FrozenTree[np.float32], x: F32, y: I64, batch: int = 500) -> float:
    """Fraction of correct arg-max predictions, predicted in batches to bound memory."""
    correct = 0
    for i in range(0, x.shape[0], batch):
        logits = fn.predict(model, params, x[i : i + batch])
        correct += int(np.sum(np.argmax(logits, axis=1) == y[i : i + batch]))
    return correct / int(x.shape[0])


def run_seed(seed: int, epochs: int, x_train: F32, y_train: I64, x_test: F32, y_test: I64) -> float:
    """Train from ``seed`` for ``epochs`` epochs, printing each epoch; return the test accuracy."""
    model = build_model()
    root = fn.key(seed)
    params = fn.init(model, fn.fold_in(root, "init"), in_shape=(28, 28, 1), dtype=np.float32)
    start_state = fn.TrainState.create(
        model,
        params,
        loss=fn.CategoricalCrossEntropy(from_logits=True),
        optimizer=adam(LEARNING_RATE),
        key=fn.fold_in(root, "train"),
        batch_size=BATCH_SIZE,
    )
    start = time.perf_counter()
    state = start_state
    for state in fn.train_epochs(start_state, x_train, y_train, epochs=epochs):
        print(
            f"  seed {seed} epoch {state.epoch:2d}/{epochs}: mean training cost {state.history.cost[-1]:.4f} "
            f"({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    return accuracy(model, state.params, x_test, y_test)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a CNN on MNIST IDX files (first 8,000 train, last 2,000 test).")
    parser.add_argument("folder", type=Path, help="folder holding one MNIST IDX images/labels pair (raw or .gz)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds to run (default 0 1 2)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per seed (default 10)")
    parser.add_argument("--train", type=int, default=None, help="training images, from the start (default 8000)")
    parser.add_argument("--test", type=int, default=None, help="test images, from the end (default 2000)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 epoch, 256 train / 64 test, seed 0")
    args = parser.parse_args(argv)
    defaults = (1, [0], 256, 64) if args.quick else (10, [0, 1, 2], 8000, 2000)
    for name, default in zip(("epochs", "seeds", "train", "test"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.epochs < 1 or args.train < 1 or args.test < 1:
        parser.error("--epochs, --train and --test must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    x_train, y_train, x_test, y_test = load_split(args.folder, args.train, args.test)
    print(f"MNIST CNN: {x_train.shape[0]} train / {x_test.shape[0]} test images, {args.epochs} epochs, "
          f"batch {BATCH_SIZE}, Adam lr {LEARNING_RATE}, float32")
    print(build_model())
    accuracies: list[float] = []
    for seed in args.seeds:
        acc = run_seed(seed, args.epochs, x_train, y_train, x_test, y_test)
        accuracies.append(acc)
        print(f"seed {seed}: test accuracy {100 * acc:.2f}%", flush=True)
    mean = statistics.mean(accuracies)
    std = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0  # sample std over seeds
    print(f"test accuracy over {len(accuracies)} seed(s): {100 * mean:.2f}% ± {100 * std:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
