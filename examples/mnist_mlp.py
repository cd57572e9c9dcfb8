"""MNIST with fully connected networks: the classic tanh/MSE network, then a modern ReLU/softmax/Adam one.

What it teaches:

* the classic from-scratch network: 784-100-50-10 with tanh everywhere, the
  mean squared error against one-hot targets and plain SGD. It works, but
  the squared error gives the output layer small gradients just when it is
  most wrong (``tanh'`` is flat there);
* the modern recipe: 784-256-128-10 with ReLU hidden layers and He
  initialisation, the softmax cross-entropy computed on the logits (its
  gradient is simply ``(softmax(z) - t) / n``), and Adam. Fewer epochs, higher
  accuracy;
* how to report a result: the mean and standard deviation over several seeds
  (each seed draws its own initial params and batch order), on a fixed split.

Protocol ("mnist10k"): the 10,000 images of an MNIST IDX folder (e.g. the
``t10k`` files); the first 8,000 train, the last 2,000 test; pixels / 255 as
float32, flattened to 784. Classic: batch 32, lr 1.0, 10 epochs (seed = the
first seed). Modern: Adam 1e-3, batch 128, 20 epochs, one run per seed.

Usage::

    python examples/mnist_mlp.py PATH_TO_IDX_FOLDER [--seeds 0 1 2] [--epochs 20] [--dropout 0.2] [--quick]

``--dropout`` defaults to 0.2 (0 turns it off).

``--quick`` (1 epoch each, 256 training and 64 test images, seed 0) runs the
same code in seconds; ``--train``/``--test`` change the split sizes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets
from funcnn.metrics import accuracy
from funcnn.optim import Optimizer, adam, sgd
from funcnn.training import TrainState, train_epochs

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]

CLASSIC = fn.Sequential(fn.Dense(100), fn.Tanh(), fn.Dense(50), fn.Tanh(), fn.Dense(10), fn.Tanh())
CLASSIC_BATCH, CLASSIC_LR, CLASSIC_EPOCHS = 32, 1.0, 10
MODERN_BATCH, MODERN_LR, MODERN_EPOCHS = 128, 1e-3, 20


@attrs.frozen
class Result:
    n_train: int
    n_test: int
    classic_accuracy: float
    modern_accuracies: tuple[float, ...]  # one per seed
    modern_mean: float
    modern_std: float  # sample standard deviation over seeds (0 for one seed)
    modern_costs: tuple[float, ...]  # the first seed's training cost per epoch


def modern_network(dropout: float = 0.0) -> fn.Sequential:
    """784-256-128-10, ReLU, He initialisation; the output is logits (the softmax is fused into the loss)."""
    he = fn.HeNormal()
    drop: list[fn.Layer] = [fn.Dropout(dropout)] if dropout > 0 else []
    return fn.Sequential(fn.Dense(256, w_init=he), fn.ReLU(), *drop, fn.Dense(128, w_init=he), fn.ReLU(), *drop,
                         fn.Dense(10, w_init=he))  # fmt: skip


def load_split(folder: Path, n_train: int, n_test: int) -> tuple[F32, I64, F32, I64]:
    """The first ``n_train`` images train, the last ``n_test`` test; pixels / 255, flattened."""
    data = datasets.load_mnist(folder)
    n = data.n_samples
    if n_train + n_test > n:
        raise SystemExit(f"{folder}: {n} images, fewer than --train {n_train} + --test {n_test}")
    x = datasets.MinMaxScaler.from_range(0, 255).apply(datasets.flatten_images(data.x), dtype=np.float32)
    x32 = np.asarray(x, dtype=np.float32)
    return x32[:n_train], data.labels[:n_train], x32[n - n_test :], data.labels[n - n_test :]


def run(
    name: str, model: fn.Sequential, loss: fn.Loss, optimizer: Optimizer, batch: int, epochs: int, seed: int,
    x: F32, t: NDArray[np.generic], x_test: F32, y_test: I64,
) -> TrainState[np.float32]:  # fmt: skip
    """Train from ``seed`` for ``epochs`` epochs, printing the cost and test accuracy after each one."""
    root = fn.key(seed)
    params = fn.init(model, fn.fold_in(root, "init"), in_shape=(784,), dtype=np.float32)
    start = TrainState.create(model, params, loss=loss, optimizer=optimizer, key=fn.fold_in(root, "train"),
                              batch_size=batch)  # fmt: skip
    clock = time.perf_counter()
    state = start
    for state in train_epochs(start, x, t, epochs=epochs):
        acc = accuracy(fn.predict(model, state.params, x_test), y_test)
        print(f"  {name} seed {seed} epoch {state.epoch:2d}/{epochs}: training cost {state.history.cost[-1]:.4f}, "
              f"test accuracy {acc:.2%} ({time.perf_counter() - clock:.1f} s)", flush=True)  # fmt: skip
    return state


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="folder holding one MNIST IDX images/labels pair (raw or .gz)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds of the modern network (default 0 1 2)")
    p.add_argument("--epochs", type=int, default=None, help=f"epochs of the modern network (default {MODERN_EPOCHS})")
    p.add_argument("--train", type=int, default=None, help="training images, from the start (default 8000)")
    p.add_argument("--test", type=int, default=None, help="test images, from the end (default 2000)")
    p.add_argument(
        "--dropout", type=float, default=0.2, help="dropout after each hidden layer (default 0.2; 0 for none)"
    )
    p.add_argument("--quick", action="store_true", help="1 epoch each, 256 train / 64 test images, seed 0")
    args = p.parse_args(argv)
    defaults = (1, [0], 256, 64) if args.quick else (MODERN_EPOCHS, [0, 1, 2], 8000, 2000)
    for name, default in zip(("epochs", "seeds", "train", "test"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.epochs < 1 or args.train < 1 or args.test < 1:
        p.error("--epochs, --train and --test must be >= 1")
    if not 0.0 <= args.dropout < 1.0:
        p.error("--dropout must be in [0, 1)")
    return args


def main(argv: Sequence[str] | None = None) -> Result:
    args = parse_args(argv)
    x, y, x_test, y_test = load_split(args.folder, args.train, args.test)
    print(f"MNIST: {len(y)} train / {len(y_test)} test images (first / last of {args.folder}), float32")

    classic_epochs = 1 if args.quick else CLASSIC_EPOCHS
    print(f"\nclassic: 784-100-50-10 tanh, MSE on one-hot targets, SGD lr {CLASSIC_LR}, batch {CLASSIC_BATCH}")
    one_hot = datasets.one_hot(y, 10, dtype=np.float32)  # (n, 10) targets for the squared error
    classic = run("classic", CLASSIC, fn.MSE(), sgd(CLASSIC_LR), CLASSIC_BATCH, classic_epochs, args.seeds[0],
                  x, one_hot, x_test, y_test)  # fmt: skip
    classic_acc = accuracy(fn.predict(CLASSIC, classic.params, x_test), y_test)

    modern = modern_network(args.dropout)
    with_dropout = f", dropout {args.dropout}" if args.dropout else ""
    print(f"\nmodern: 784-256-128-10 ReLU (He init{with_dropout}), softmax cross-entropy on logits, Adam {MODERN_LR}, "
          f"batch {MODERN_BATCH}, {args.epochs} epochs")  # fmt: skip
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    accs: list[float] = []
    costs: tuple[float, ...] = ()
    for seed in args.seeds:
        state = run("modern", modern, loss, adam(MODERN_LR), MODERN_BATCH, args.epochs, seed, x, y, x_test, y_test)
        accs.append(accuracy(fn.predict(modern, state.params, x_test), y_test))
        costs = costs or tuple(float(c) for c in state.history.cost)
    mean = statistics.mean(accs)
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    print(f"\nclassic tanh/MSE network, seed {args.seeds[0]}, {classic_epochs} epochs: test accuracy {classic_acc:.2%}")
    print(f"modern ReLU/softmax/Adam network, seeds {args.seeds}: " + ", ".join(f"{a:.2%}" for a in accs))
    print(f"modern test accuracy over {len(accs)} seed(s): {100 * mean:.2f}% ± {100 * std:.2f}%")
    return Result(len(y), len(y_test), classic_acc, tuple(accs), mean, std, costs)


if __name__ == "__main__":
    main()
