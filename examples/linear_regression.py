"""One neuron learns a straight line ``y = m x + b`` by gradient descent.

What it teaches:

* a neuron without an activation computes ``y = x w + b``. With the mean
  squared error ``C = mean((y - t)²)`` over ``n`` samples, the gradients are
  ``dC/dw = 2/n Σ (y - t) x`` and ``dC/db = 2/n Σ (y - t)``. The first steps
  are taken by hand (forward, loss, backward, step) and printed next to the
  formulas;
* gradient descent arrives at the closed-form least-squares answer;
* the learning rate × epochs study: a small rate is slow, a good one is fast,
  and one that is too large diverges.

And what funcnn adds: the steps taken by hand are bit for bit the first epochs
of ``train``; the initial params are still intact after training (immutable
trees); the same seed gives a bit-identical run.

Usage::

    python examples/linear_regression.py [--quick] [--seed 0] [--plot linear_regression.png]
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
from funcnn.metrics import mse
from funcnn.optim import sgd
from funcnn.training import TrainState, train_epochs

F64 = NDArray[np.float64]
MODEL = fn.Sequential(fn.Dense(1))  # one neuron, no activation: y = x w + b
LR = 0.1
LEARNING_RATES = (0.001, 0.01, 0.1, 0.5, 0.9, 1.1)


@attrs.frozen
class Result:
    """What the example found (the tests check these)."""

    slope: float
    intercept: float
    ls_slope: float  # least squares, closed form
    ls_intercept: float
    mse: float
    ls_mse: float
    by_hand_is_train: bool  # the hand-made steps equal train's first epochs, bit for bit
    params_untouched: bool  # the initial params are unchanged after training
    replay_identical: bool  # the same seed gives a bit-identical run
    epoch_counts: tuple[int, ...]
    study: tuple[tuple[float, tuple[float, ...]], ...]  # (learning rate, MSE after each epoch count)


def make_data(seed: int) -> tuple[F64, F64]:
    """100 points on ``y = 2x + 1`` with Gaussian noise of 0.1, ``x ~ U(-1, 1)``."""
    x, t = datasets.line(fn.fold_in(fn.key(seed), "data"), n=100, slope=2.0, intercept=1.0, noise=0.1)
    return np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)


def least_squares(x: F64, t: F64) -> tuple[float, float]:
    """The closed-form answer: minimise ``||[x 1] (m, b) - t||²`` (numpy's lstsq)."""
    design = np.hstack([x, np.ones_like(x)])  # (n, 2)
    (m, b), *_ = np.linalg.lstsq(design, t[:, 0], rcond=None)
    return float(m), float(b)


def initial_params(seed: int) -> fn.FrozenTree[np.float64]:
    """``w`` and ``b`` of the neuron, drawn from the seed (``init`` is pure: the same seed, the same params)."""
    return fn.init(MODEL, fn.fold_in(fn.key(seed), "init"), in_shape=(1,))


def fit(seed: int, epochs: int) -> tuple[TrainState[np.float64], fn.FrozenTree[np.float64]]:
    """Everything from the seed: data, initial params, then ``epochs`` epochs of full-batch gradient descent."""
    x, t = make_data(seed)
    params0 = initial_params(seed)
    state = fn.train(
        MODEL, params0, x, t, loss=fn.MSE(), lr=LR, epochs=epochs, key=fn.fold_in(fn.key(seed), "train"), shuffle=False
    )
    return state, params0


def by_hand(x: F64, t: F64, params: fn.FrozenTree[np.float64], steps: int) -> fn.FrozenTree[np.float64]:
    """``steps`` steps of gradient descent written out: forward, loss, backward, step."""
    n = x.shape[0]
    rows = []
    for step in range(steps):
        y, cache = fn.forward(MODEL, params, x)  # y = x w + b: (n, 1)
        cost, dy = fn.loss(fn.MSE(), y, t)  # dy = 2 (y - t) / n: (n, 1)
        grads, _ = fn.backward(MODEL, params, cache, dy)  # dw = xᵀ dy, db = Σ dy
        dw_formula = 2.0 / n * float(np.sum((y - t) * x))
        db_formula = 2.0 / n * float(np.sum(y - t))
        w, b = fn.tree_get(params, "dense_0/w"), fn.tree_get(params, "dense_0/b")
        dw, db = fn.tree_get(grads, "dense_0/w"), fn.tree_get(grads, "dense_0/b")
        rows.append(
            (step, f"{cost:.5f}", f"{w[0, 0]:+.5f}", f"{b[0]:+.5f}", f"{dw[0, 0]:+.5f}", f"{dw_formula:+.5f}",
             f"{db[0]:+.5f}", f"{db_formula:+.5f}")
        )  # fmt: skip
        params = fn.sgd_step(params, grads, lr=LR)  # w <- w - lr dw, b <- b - lr db
    print(table(("step", "cost", "w", "b", "dw", "2/n Σ(y-t)x", "db", "2/n Σ(y-t)"), rows))
    return params


def study(
    x: F64, t: F64, params0: fn.FrozenTree[np.float64], epoch_counts: tuple[int, ...], seed: int
) -> tuple[tuple[tuple[float, tuple[float, ...]], ...], dict[float, F64]]:
    """MSE after each epoch count for every learning rate (one run per rate, read off as it goes)."""
    rows: list[tuple[float, tuple[float, ...]]] = []
    curves: dict[float, F64] = {}
    for lr in LEARNING_RATES:
        start = TrainState.create(
            MODEL, params0, loss=fn.MSE(), optimizer=sgd(lr), key=fn.fold_in(fn.key(seed), "study"), shuffle=False
        )
        errors: dict[int, float] = {}
        curve = []
        for state in train_epochs(start, x, t, epochs=max(epoch_counts)):  # a stream: one state per epoch
            error = mse(fn.predict(MODEL, state.params, x), t)
            curve.append(error)
            if state.epoch in epoch_counts:
                errors[state.epoch] = error
        rows.append((lr, tuple(errors[e] for e in epoch_counts)))
        curves[lr] = np.array(curve)
    return tuple(rows), curves


def plot(path: Path, epoch_counts: tuple[int, ...], curves: dict[float, F64], ls_mse: float) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, max(epoch_counts) + 1)
    for lr, curve in curves.items():
        ax.semilogy(epochs, curve, label=f"lr {lr:g}")
    ax.axhline(ls_mse, color="black", linestyle=":", label="least squares")
    ax.set(xlabel="epoch", ylabel="mean squared error", title="y = m x + b: learning rate × epochs", ylim=(1e-3, 1e3))
    ax.legend()
    save_figure(plt, fig, path)


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    epochs = 300 if args.quick else 500
    epoch_counts = (1, 10, 100) if args.quick else (1, 10, 100, 1000)
    x, t = make_data(args.seed)
    ls_m, ls_b = least_squares(x, t)
    ls_mse = mse(x * ls_m + ls_b, t)
    print(f"data: 100 points on y = 2x + 1 + noise (seed {args.seed}); least squares: m = {ls_m:.6f}, b = {ls_b:.6f}")

    params0 = initial_params(args.seed)
    print(f"\nthree steps by hand, learning rate {LR}:")
    hand = by_hand(x, t, params0, 3)
    first3, _ = fit(args.seed, 3)
    by_hand_is_train = fn.tree_equal(hand, first3.params)
    print(f"the same three steps inside fn.train: bit-identical params: {by_hand_is_train}")

    state, _ = fit(args.seed, epochs)
    w, b = fn.tree_get(state.params, "dense_0/w"), fn.tree_get(state.params, "dense_0/b")
    m, c = float(w[0, 0]), float(b[0])
    error = mse(fn.predict(MODEL, state.params, x), t)
    print(f"\nafter {epochs} epochs of gradient descent (lr {LR}): m = {m:.6f}, b = {c:.6f}, MSE {error:.6f}")
    print(f"least squares:                                m = {ls_m:.6f}, b = {ls_b:.6f}, MSE {ls_mse:.6f}")
    print(f"difference: |Δm| = {abs(m - ls_m):.1e}, |Δb| = {abs(c - ls_b):.1e}")

    again, _ = fit(args.seed, epochs)
    identical = fn.tree_equal(again.params, state.params) and np.array_equal(again.history.cost, state.history.cost)
    print(f"the same seed again gives the same run, bit for bit: {identical}")

    print(f"\nMSE on the training data after E epochs, for each learning rate (least squares: {ls_mse:.5f}):")
    rows, curves = study(x, t, params0, epoch_counts, args.seed)
    print(table(("lr", *(f"E = {e}" for e in epoch_counts)), [(f"{lr:g}", *(f"{v:.4g}" for v in r)) for lr, r in rows]))
    print("lr 0.001 is still far off after 100 epochs; 0.1 to 0.9 reach least squares; 1.1 overshoots and diverges.")
    untouched = fn.tree_equal(params0, initial_params(args.seed))  # after 3 steps by hand and 6 training runs
    print(f"params0, used by every run above, is unchanged: {untouched}")
    if args.plot is not None:
        plot(args.plot, epoch_counts, curves, ls_mse)
    return Result(m, c, ls_m, ls_b, error, ls_mse, by_hand_is_train, untouched, identical, epoch_counts, rows)


if __name__ == "__main__":
    main()
