"""The learning rate × epochs study as a sweep: one neuron fitting a line, then a small classifier.

What it teaches:

* the first document's study, made systematic: for every learning rate and
  number of epochs, train from the same start and record the error. Too
  small a rate is slow, a good one is fast, too large a one diverges; more
  epochs help only while the rate is stable;
* ``funcnn.tune``: ``grid`` builds the trials, ``sweep`` runs them (serially,
  or on ``--workers N`` local processes with the same results bit for bit),
  and a run that blows up is a *result* (``status="failed"`` with its error
  message), not a crash: its cell in the table says ``diverged``;
* the same study on a classifier (a 2-32-3 ReLU network on the spiral, plain
  SGD) scored on a held-out quarter of the data: accuracy over the grid.

Protocol: line ``y = 2x + 1 + 0.1 N(0, 1)``, 100 points; one neuron
``Dense(1)``, full-batch gradient descent, MSE; every trial starts from the
same params (drawn from ``--seed``). Spiral: 3 classes × 100 points, batch
32, validation fraction 0.25, plain SGD. ``--quick`` uses fewer epochs.

Usage::

    python examples/lr_epochs_study.py [--quick] [--seed 0] [--workers 2] [--plot lr_epochs.png]
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from _common import parser, pyplot, save_figure, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets, tune
from funcnn.training import TrainState

F64 = NDArray[np.float64]
NEURON = fn.Sequential(fn.Dense(1))
CLASSIFIER = fn.Sequential(fn.Dense(32, w_init=fn.HeNormal()), fn.ReLU(), fn.Dense(3))
LineData = tuple[F64, F64, fn.FrozenTree[np.float64]]
SpiralData = tuple[F64, NDArray[np.int64], fn.FrozenTree[np.float64]]


@attrs.frozen
class Study:
    """A metric over learning rates (rows) × epochs (columns); NaN where the run diverged."""

    learning_rates: tuple[float, ...]
    epochs: tuple[int, ...]
    values: tuple[tuple[float, ...], ...]
    failed: tuple[str, ...]  # the messages of the failed trials


@attrs.frozen
class Result:
    neuron: Study  # training MSE
    classifier: Study  # validation accuracy
    best_neuron: tuple[float, int]  # (lr, epochs) of the lowest MSE
    best_classifier: tuple[float, int]  # (lr, epochs) of the best accuracy


def neuron_trial(config: tune.TrialConfig, key: fn.Key, data: LineData) -> TrainState[np.float64]:
    """One neuron, full batch: the trial's settings are the only difference between trials."""
    x, t, params0 = data
    lr, epochs = config["lr"], config["epochs"]
    assert isinstance(lr, float) and isinstance(epochs, int)
    return fn.train(NEURON, params0, x, t, loss=fn.MSE(), lr=lr, epochs=epochs, key=key, shuffle=False,
                    metrics=("mse",))  # fmt: skip


def classifier_trial(config: tune.TrialConfig, key: fn.Key, data: SpiralData) -> TrainState[np.float64]:
    x, y, params0 = data
    lr, epochs = config["lr"], config["epochs"]
    assert isinstance(lr, float) and isinstance(epochs, int)
    return fn.train(
        CLASSIFIER, params0, x, y, loss=fn.CategoricalCrossEntropy(from_logits=True), lr=lr, epochs=epochs,
        key=key, batch_size=32, validation_fraction=0.25, metrics=("accuracy",),
    )  # fmt: skip


def study(results: tune.SweepResults, metric: str) -> Study:
    rows, cols, values = results.pivot("lr", "epochs", metric)
    return Study(
        tuple(float(r) for r in rows if isinstance(r, float)),
        tuple(int(c) for c in cols if isinstance(c, int)),
        tuple(tuple(float(v) for v in row) for row in values),
        tuple(f"lr {r.config['lr']:g}, {r.config['epochs']} epochs: {r.message}" for r in results.failed),
    )


def show(s: Study, fmt: str) -> str:
    rows = [(f"{lr:g}", *("diverged" if math.isnan(v) else format(v, fmt) for v in row))
            for lr, row in zip(s.learning_rates, s.values, strict=True)]  # fmt: skip
    return table(("lr", *(f"E = {e}" for e in s.epochs)), rows)


def heat_maps(path: Path, neuron: Study, classifier: Study) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = ((neuron, "one neuron: training MSE (log10)", True), (classifier, "spiral: validation accuracy", False))
    for ax, (s, title, log) in zip(axes, panels, strict=True):
        grid_ = np.array(s.values)
        shown = np.log10(grid_) if log else grid_
        # errors above 10 (diverging runs) all get the darkest colour, so the good region keeps its contrast
        image = ax.imshow(np.ma.masked_invalid(shown), cmap="viridis_r" if log else "viridis", aspect="auto",
                          vmax=1.0 if log else None)  # fmt: skip
        fig.colorbar(image, ax=ax)
        for (i, j), v in np.ndenumerate(grid_):
            ax.text(j, i, "diverged" if math.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=8,
                    color="red" if math.isnan(v) else "black")  # fmt: skip
        ax.set(xticks=range(len(s.epochs)), xticklabels=[str(e) for e in s.epochs], xlabel="epochs",
               yticks=range(len(s.learning_rates)), yticklabels=[f"{lr:g}" for lr in s.learning_rates],
               ylabel="learning rate", title=title)  # fmt: skip
    save_figure(plt, fig, path)


def best(results: tune.SweepResults) -> tuple[float, int]:
    lr, epochs = results.best.config["lr"], results.best.config["epochs"]
    assert isinstance(lr, float) and isinstance(epochs, int)
    return lr, epochs


def main(argv: Sequence[str] | None = None) -> Result:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=0, help="run the trials on N local processes (default: serially)")
    args = p.parse_args(argv)
    root = fn.key(args.seed)
    line = datasets.line(fn.fold_in(root, "line"), n=100, slope=2.0, intercept=1.0, noise=0.1)
    line_data: LineData = (
        np.asarray(line.x, dtype=np.float64), np.asarray(line.y, dtype=np.float64),
        fn.init(NEURON, fn.fold_in(root, "neuron"), in_shape=(1,)),
    )  # fmt: skip
    spiral = datasets.load_builtin("spiral", key=fn.fold_in(root, "spiral"))
    spiral_data: SpiralData = (
        np.asarray(spiral.x, dtype=np.float64), spiral.labels,
        fn.init(CLASSIFIER, fn.fold_in(root, "classifier"), in_shape=(2,)),
    )  # fmt: skip
    neuron_grid = tune.grid(
        lr=[0.001, 0.01, 0.1, 0.5, 0.9, 1.1, 1.5], epochs=[1, 10, 100] if args.quick else [1, 10, 100, 1000]
    )
    spiral_grid = tune.grid(lr=[0.01, 0.1, 1.0], epochs=[5, 20] if args.quick else [10, 100, 300])

    pool = (
        cf.ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) if args.workers else None
    )
    try:
        where = f"{args.workers} worker processes" if pool else "serially"
        print(f"{len(neuron_grid)} + {len(spiral_grid)} trials, {where}; trial i's key is fold_in(root, i)\n")
        # Overflow raises (on every worker too: sweep hands the caller's policy to them), so a run
        # that blows up ends with an error, which the sweep records as a failed trial.
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            neuron = tune.sweep(neuron_trial, neuron_grid, key=fn.fold_in(root, "sweep"), data=line_data,
                                executor=pool, monitor="mse")  # fmt: skip
            classifier = tune.sweep(classifier_trial, spiral_grid, key=fn.fold_in(root, "sweep"), data=spiral_data,
                                    executor=pool, monitor="val_accuracy")  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown()

    n_study, c_study = study(neuron, "mse"), study(classifier, "val_accuracy")
    print("one neuron on y = 2x + 1: training MSE after E epochs of full-batch gradient descent")
    print(show(n_study, ".4g"))
    for message in n_study.failed:
        print(f"  failed, recorded: {message}")
    print(f"best: lr {best(neuron)[0]:g} for {best(neuron)[1]} epochs; 1.1 and 1.5 overshoot further at every step.\n")
    print("2-32-3 ReLU network on the spiral: validation accuracy after E epochs of SGD (batch 32)")
    print(show(c_study, ".3f"))
    print(f"best: lr {best(classifier)[0]:g} for {best(classifier)[1]} epochs")
    if args.plot is not None:
        heat_maps(args.plot, n_study, c_study)
    return Result(n_study, c_study, best(neuron), best(classifier))


if __name__ == "__main__":
    main()
