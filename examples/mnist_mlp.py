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

``--recipe classic`` runs the report's network exactly instead: 784-100-50-10,
tanh on every layer, weights and biases drawn from ``U(-0.5, 0.5)``, the
mean squared error against one-hot targets, the first 1,000 images, one
image per step in a fixed order (no shuffling), lr 0.1, 35 epochs. It prints
the training error and the test error rate after every epoch, then a table
of what the default recipe changes. ``--loss half-sum`` takes the squared
error as the textbook derivation of backprop writes it, ``½ Σ_k (y_k - t_k)²``
(``MSE(reduction="sum", half=True)``): its gradient is 5 times the mean's over
10 outputs, so the same lr 0.1 takes steps 5 times as long.

Usage::

    python examples/mnist_mlp.py PATH_TO_IDX_FOLDER [--seeds 0 1 2] [--epochs 20] [--dropout 0.2] [--quick]
    python examples/mnist_mlp.py PATH_TO_IDX_FOLDER --recipe classic [--quick]

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
from _common import table
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets
from funcnn.initializers import Uniform
from funcnn.metrics import accuracy
from funcnn.optim import Optimizer, adam, sgd
from funcnn.training import TrainState, train_epochs

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]

CLASSIC = fn.Sequential(fn.Dense(100), fn.Tanh(), fn.Dense(50), fn.Tanh(), fn.Dense(10), fn.Tanh())
CLASSIC_BATCH, CLASSIC_LR, CLASSIC_EPOCHS = 32, 1.0, 10
MODERN_BATCH, MODERN_LR, MODERN_EPOCHS = 128, 1e-3, 20

# The report's network: every weight and bias from U(-0.5, 0.5), tanh everywhere.
U = Uniform(-0.5, 0.5)
REPORT = fn.Sequential(fn.Dense(100, w_init=U, b_init=U), fn.Tanh(), fn.Dense(50, w_init=U, b_init=U), fn.Tanh(),
                       fn.Dense(10, w_init=U, b_init=U), fn.Tanh())  # fmt: skip
REPORT_LOSSES = {"mean": fn.MSE(), "half-sum": fn.MSE(reduction="sum", half=True)}  # the latter: ½ Σ (y - t)²
REPORT_TRAIN, REPORT_LR, REPORT_EPOCHS = 1000, 0.1, 35


@attrs.frozen
class ClassicResult:
    n_train: int
    n_test: int
    train_error: tuple[float, ...]  # the loss averaged over the training images, per epoch
    test_error_rate: tuple[float, ...]  # share of test images misclassified, per epoch
    final_accuracy: float


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


def run_report(args: argparse.Namespace) -> ClassicResult:
    """The report's recipe, epoch by epoch, then what the default recipe changes."""
    x, y, x_test, y_test = load_split(args.folder, args.train, args.test)
    epochs = 2 if args.quick else REPORT_EPOCHS
    print(f"MNIST: the first {len(y)} images train, the last {len(y_test)} test (of {args.folder}), float32")
    loss = REPORT_LOSSES[args.loss]
    print(f"report's recipe: 784-100-50-10 tanh, U(-0.5, 0.5), {loss!r} on one-hot targets, "
          f"batch 1 in a fixed order, lr {REPORT_LR}, {epochs} epochs (seed {args.seeds[0]})")  # fmt: skip
    root = fn.key(args.seeds[0])
    params = fn.init(REPORT, fn.fold_in(root, "init"), in_shape=(784,), dtype=np.float32)
    start = TrainState.create(REPORT, params, loss=loss, optimizer=sgd(REPORT_LR), key=fn.fold_in(root, "train"),
                              batch_size=1, shuffle=False)  # fmt: skip
    one_hot = datasets.one_hot(y, 10, dtype=np.float32)
    errors, rates = [], []
    clock = time.perf_counter()
    state = start
    for state in train_epochs(start, x, one_hot, epochs=epochs):
        rate = 1.0 - accuracy(fn.predict(REPORT, state.params, x_test), y_test)
        errors.append(float(state.history.cost[-1]))
        rates.append(rate)
        print(f"  epoch {state.epoch:2d}: training error {errors[-1]:.4f}, test error rate {rate:.2%} "
              f"({time.perf_counter() - clock:.1f} s)", flush=True)  # fmt: skip
    print("\nwhat the default recipe (python examples/mnist_mlp.py FOLDER) changes:")
    print(table(["", "report (--recipe classic)", "default (modern)"], [
        ["layers", "784-100-50-10", "784-256-128-10"],
        ["activations", "tanh, output too", "ReLU; logits out"],
        ["initialisation", "U(-0.5, 0.5), biases too", "He normal; biases 0"],
        ["loss", f"{loss!r}, one-hot", "softmax cross-entropy on logits"],
        ["optimizer", f"SGD lr {REPORT_LR}", f"Adam lr {MODERN_LR}"],
        ["batch, order", "1, fixed", f"{MODERN_BATCH}, reshuffled each epoch"],
        ["regularisation", "none", "dropout 0.2"],
        ["training images", f"{REPORT_TRAIN:,}", "8,000"],
        ["epochs", f"{REPORT_EPOCHS}", f"{MODERN_EPOCHS}"],
    ]))  # fmt: skip
    final = 1.0 - rates[-1] if rates else 0.0
    print(f"report's recipe: test accuracy {final:.2%} after {state.epoch} epochs")
    return ClassicResult(len(y), len(y_test), tuple(errors), tuple(rates), final)


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
    p.add_argument(
        "--recipe", choices=("default", "classic"), default="default",
        help="classic: the report's network exactly (1,000 images, batch 1, lr 0.1, 35 epochs)",
    )  # fmt: skip
    p.add_argument("--loss", choices=tuple(REPORT_LOSSES), default="mean",
                   help="the classic recipe's squared error: mean over outputs, or ½ Σ (default mean)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="1 epoch each, 256 train / 64 test images, seed 0")
    args = p.parse_args(argv)
    full_train = REPORT_TRAIN if args.recipe == "classic" else 8000
    defaults = (1, [0], 256, 64) if args.quick else (MODERN_EPOCHS, [0, 1, 2], full_train, 2000)
    for name, default in zip(("epochs", "seeds", "train", "test"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.epochs < 1 or args.train < 1 or args.test < 1:
        p.error("--epochs, --train and --test must be >= 1")
    if not 0.0 <= args.dropout < 1.0:
        p.error("--dropout must be in [0, 1)")
    return args


def main(argv: Sequence[str] | None = None) -> Result | ClassicResult:
    args = parse_args(argv)
    if args.recipe == "classic":
        return run_report(args)
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
