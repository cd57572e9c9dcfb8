"""Early stopping as the report runs it: a degree-90 polynomial, one sample per step, the best epoch kept.

What it teaches:

* the recipe: 100 points of ``y = 2 + x + 0.5 x² + N(0, 1)`` with ``x`` in
  [-3, 3], half for training and half for validation; the 90 powers
  ``x .. x⁹⁰`` (``datasets.polynomial_features``), standardised on the
  training half; one linear neuron from zero; stochastic gradient descent,
  one sample per step, constant learning rate 0.0005, 500 epochs; after each
  epoch the validation error is measured and the epoch with the lowest one
  is kept. The validation error first falls, then climbs as the polynomial
  bends to the training noise: the best epoch is where to stop;
* the learning rate only means what the text means once the loss does:
  scikit-learn's ``SGDRegressor`` (which the recipe uses) descends
  ``½ (y - t)²``, whose gradient is ``(y - t)``; funcnn's default ``MSE()``
  descends ``(y - t)²`` with gradient ``2 (y - t)``. ``MSE(half=True)``
  is the recipe's loss. The default at lr 0.0005 is, bit for bit, the
  recipe at lr 0.001: it takes steps twice as long, and its curve and best
  epoch are not the report's;
* ``patience`` stops a run once the validation error has not improved for
  that many epochs, and keeps the best epoch's params (``restore_best``).

Protocol (``--seed``, default 0): the data from ``datasets.polynomial`` with
noise 1.0; the split, the epoch orders and the init from their own keys.
``--quick`` runs 60 epochs.

Usage::

    python examples/early_stopping.py [--quick] [--seed 0] [--plot early_stopping.png]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from _common import parser, pyplot, save_figure, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets
from funcnn.training import TrainState

F64 = NDArray[np.float64]
DEGREE, LR, N = 90, 0.0005, 100
MODEL = fn.Sequential(fn.Dense(1, w_init=fn.Zeros()))


@attrs.frozen
class Curve:
    name: str
    val_mse: tuple[float, ...]  # validation mean squared error after each epoch
    best_epoch: int
    best_mse: float
    diverged: bool


@attrs.frozen
class Result:
    recipe: Curve  # MSE(half=True) at lr 0.0005: the report's loss
    default: Curve  # MSE() at lr 0.0005: twice the step
    default_is_half_at_double_lr: bool  # MSE() at lr is bit for bit MSE(half=True) at 2 lr
    patience_epoch: int  # where patience=20 stopped
    patience_best: int  # and the best epoch it kept
    patience_params_are_best: bool


def make_data(seed: int) -> tuple[F64, F64, F64, F64]:
    """Standardised degree-90 features and targets: ``(x_train, t_train, x_val, t_val)``, 50 each."""
    root = fn.key(seed)
    data = datasets.polynomial(fn.fold_in(root, "data"), n=N, coefficients=(2.0, 1.0, 0.5), noise=1.0)
    train_idx, val_idx = datasets.split_indices(fn.fold_in(root, "split"), N, test_fraction=0.5)
    features = datasets.polynomial_features(data.x, DEGREE)
    scaler = datasets.Standardizer.fit(features[train_idx])
    x = np.asarray(scaler.apply(features), dtype=np.float64)
    t = np.asarray(data.y, dtype=np.float64).reshape(-1, 1)
    return x[train_idx], t[train_idx], x[val_idx], t[val_idx]


def start(seed: int, loss: fn.MSE, lr: float, patience: int | None = None) -> TrainState[np.float64]:
    params = fn.init(MODEL, fn.key(seed), in_shape=(DEGREE,))
    return TrainState.create(MODEL, params, loss=loss, optimizer=fn.sgd(lr), key=fn.fold_in(fn.key(seed), "train"),
                             batch_size=1, patience=patience)  # fmt: skip


def curve(name: str, state: TrainState[np.float64], factor: float) -> Curve:
    """The validation MSE per epoch (``factor`` turns the monitored loss into the plain mean squared error)."""
    val = np.asarray(state.history.val_cost) * factor
    best = int(np.argmin(val)) if len(val) else -1
    return Curve(name, tuple(float(v) for v in val), best + 1, float(val[best]) if len(val) else np.inf,
                 state.stop_reason == "non_finite")  # fmt: skip


def plot(path: Path, curves: Sequence[Curve]) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for c in curves:
        ax.plot(np.arange(1, len(c.val_mse) + 1), np.sqrt(c.val_mse), label=f"{c.name}: best epoch {c.best_epoch}")
        ax.axvline(c.best_epoch, ls=":", color=ax.lines[-1].get_color())
    ax.set(xlabel="epoch", ylabel="validation RMSE", yscale="log", title="early stopping, degree-90 polynomial")
    ax.legend()
    save_figure(plt, fig, path)


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    epochs = 60 if args.quick else 500
    x, t, xv, tv = make_data(args.seed)
    val = (xv, tv)
    runs = {}
    losses = (("MSE(half=True), the recipe", fn.MSE(half=True), 2.0), ("MSE(), default", fn.MSE(), 1.0))
    for name, loss, factor in losses:
        state = fn.fit(start(args.seed, loss, LR), x, t, epochs=epochs, validation=val, on_nonfinite="stop")
        runs[name] = curve(name, state, factor)
    recipe, default = runs.values()
    doubled = fn.fit(start(args.seed, fn.MSE(half=True), 2 * LR), x, t, epochs=3, validation=val)
    same = fn.fit(start(args.seed, fn.MSE(), LR), x, t, epochs=3, validation=val)
    bitwise = fn.tree_equal(doubled.params, same.params)

    print(f"{len(t)} training / {len(tv)} validation points, {DEGREE} standardised powers, batch 1, lr {LR}, "
          f"{epochs} epochs")  # fmt: skip
    print(table(["loss", "diverged", "best epoch", "best val MSE", "val MSE at the end"],
                [[c.name, c.diverged, c.best_epoch, f"{c.best_mse:.4f}", f"{c.val_mse[-1]:.4f}"]
                 for c in (recipe, default)]))  # fmt: skip
    print(f"MSE() at lr {LR} == MSE(half=True) at lr {2 * LR}, bit for bit (3 epochs): {bitwise}")

    stopped = fn.fit(start(args.seed, fn.MSE(half=True), LR, patience=20), x, t, epochs=epochs, validation=val)
    best = stopped.best_epoch if stopped.best_epoch is not None else 0
    kept = fn.predict(MODEL, stopped.params, xv)
    kept_mse = float(np.mean((kept - tv) ** 2))
    print(f"with patience 20: stopped after epoch {stopped.epoch}, kept epoch {best} "
          f"(val MSE {kept_mse:.4f}; the full run's best epoch is {recipe.best_epoch})")  # fmt: skip
    if args.plot is not None:
        plot(args.plot, [recipe, default])
    return Result(recipe, default, bitwise, stopped.epoch, best,
                  abs(kept_mse - recipe.val_mse[best - 1]) < 1e-12 if best else False)  # fmt: skip


if __name__ == "__main__":
    main()
