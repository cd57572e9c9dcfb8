"""Batch, stochastic and mini-batch gradient descent on ``y = 5 + 7x + noise``, against the closed forms.

What it teaches:

* the closed forms: the normal equation ``θ = (XᵀX)⁻¹ Xᵀ y`` and the
  pseudo-inverse ``θ = X⁺ y`` (``X`` has a column of ones for the intercept);
* the gradient of the mean squared error is ``2/n Xᵀ (X θ - y)``: one step by
  hand shows that funcnn's backward computes exactly that;
* three ways to follow it: the whole batch per step (``batch_size=None``), one
  sample per step (``batch_size=1``) with the decaying learning rate
  ``t0 / (t + t1)`` (``t`` counts the steps), and mini-batches of 20. All three
  end near the closed form; the stochastic ones take far more (cheaper) steps
  and wander around the minimum rather than settle on it.

``--plot PATH`` draws the material's three figures: the data with the fitted
line; the lines of the first 20 stochastic steps over the data; and the paths
of batch, stochastic and mini-batch descent in ``(θ0, θ1)`` over the contours
of the cost (recorded step by step with ``funcnn.trajectory.trajectory``).

Usage::

    python examples/gradient_descent_variants.py [--quick] [--seed 0] [--plot gd_variants.png]
"""

from __future__ import annotations

import time
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
from funcnn.schedules import Schedule, learning_schedule
from funcnn.training import TrainState
from funcnn.trajectory import Trajectory, trajectory

F64 = NDArray[np.float64]
MODEL = fn.Sequential(fn.Dense(1))


@attrs.frozen
class Method:
    """One way of finding ``θ = (intercept, slope)``."""

    name: str
    intercept: float
    slope: float
    steps: int  # parameter updates (0 for a closed form)
    mse: float  # on the training data


@attrs.frozen
class Result:
    methods: tuple[Method, ...]  # normal equation, pseudo-inverse, batch, stochastic, mini-batch
    gradient_matches_formula: bool


def theta(params: fn.FrozenTree[np.float64]) -> tuple[float, float]:
    """``(intercept, slope)`` of the neuron ``y = x w + b``."""
    return float(fn.tree_get(params, "dense_0/b")[0]), float(fn.tree_get(params, "dense_0/w")[0, 0])


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    root = fn.key(args.seed)
    x, t = datasets.line(fn.fold_in(root, "data"), n=100, slope=7.0, intercept=5.0, noise=1.0, low=0.0, high=2.0)
    x, t = np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    n = x.shape[0]
    design = np.hstack([np.ones_like(x), x])  # X: (n, 2), a column of ones for the intercept
    print(f"data: {n} points, y = 5 + 7x + N(0, 1), x ~ U(0, 2) (seed {args.seed})")

    methods: list[Method] = []

    def closed_form(name: str, th: F64) -> None:
        methods.append(Method(name, float(th[0]), float(th[1]), 0, mse(design @ th, t[:, 0])))

    closed_form("normal equation", np.linalg.inv(design.T @ design) @ design.T @ t[:, 0])
    closed_form("pseudo-inverse", np.linalg.pinv(design) @ t[:, 0])

    # One step by hand: funcnn's gradient is the textbook 2/n Xᵀ (X θ - y).
    params0 = fn.init(MODEL, fn.fold_in(root, "init"), in_shape=(1,))
    y, cache = fn.forward(MODEL, params0, x)
    _, dy = fn.loss(fn.MSE(), y, t)
    grads, _ = fn.backward(MODEL, params0, cache, dy)
    formula = 2.0 / n * design.T @ (y - t)[:, 0]  # (d intercept, d slope)
    matches = bool(np.allclose(theta(grads), formula, rtol=1e-12))
    db, dw = theta(grads)
    print(f"gradient at the initial θ: backward gives (db, dw) = ({db:.6f}, {dw:.6f}); "
          f"2/n Xᵀ(Xθ - y) = ({formula[0]:.6f}, {formula[1]:.6f})")

    epochs_batch, epochs_sgd = (300, 20) if args.quick else (1000, 50)
    runs = (
        # name, learning rate or schedule, batch size, epochs
        ("batch GD, lr 0.1", 0.1, None, epochs_batch),
        ("stochastic GD, 5/(t+50)", learning_schedule(5.0, 50.0), 1, epochs_sgd),
        ("mini-batch GD (20), 20/(t+100)", learning_schedule(20.0, 100.0), 20, epochs_sgd),
    )
    for name, lr, batch, epochs in runs:
        start = time.perf_counter()
        state = fn.train(
            MODEL, params0, x, t, loss=fn.MSE(), optimizer=sgd(lr), batch_size=batch, epochs=epochs,
            key=fn.fold_in(root, name),
        )  # fmt: skip
        seconds = time.perf_counter() - start
        b, w = theta(state.params)
        methods.append(Method(name, b, w, state.step, mse(fn.predict(MODEL, state.params, x), t)))
        print(f"{name}: {epochs} epochs, {state.step} steps in {seconds:.2f} s")

    exact = np.array([methods[0].intercept, methods[0].slope])
    rows = [
        (m.name, f"{m.intercept:.4f}", f"{m.slope:.4f}", f"{np.linalg.norm([m.intercept, m.slope] - exact):.1e}",
         m.steps, f"{m.mse:.5f}")
        for m in methods
    ]  # fmt: skip
    print(table(("method", "intercept", "slope", "|θ - θ_normal|", "steps", "training MSE"), rows))
    if args.plot is not None:
        paths = {
            name: trajectory(start_state(params0, lr, batch, fn.fold_in(root, name)), x, t, epochs=min(epochs, 20),
                             paths=["dense_0/b", "dense_0/w"])
            for name, lr, batch, epochs in runs
        }  # fmt: skip
        plot(args.plot, np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64), exact, paths)
    return Result(tuple(methods), matches)


def start_state(
    params: fn.FrozenTree[np.float64], lr: float | Schedule, batch: int | None, key: fn.Key
) -> TrainState[np.float64]:
    """The start :func:`funcnn.train` builds for these settings (so the recorded paths are the runs above)."""
    return TrainState.create(MODEL, params, loss=fn.MSE(), optimizer=sgd(lr), key=key, batch_size=batch)


def plot(path: Path, x: F64, t: F64, exact: F64, paths: dict[str, Trajectory]) -> None:
    """Three panels: the fit, the first 20 stochastic steps as lines, the three paths over the cost contours."""
    plt = pyplot()
    if plt is None:
        return
    fig, (ax_fit, ax_steps, ax_paths) = plt.subplots(1, 3, figsize=(15, 4.5))
    grid = np.array([0.0, 2.0])
    for ax in (ax_fit, ax_steps):
        ax.scatter(x[:, 0], t[:, 0], s=8, color="0.6")
        ax.set(xlabel="x", ylabel="y")
    ax_fit.plot(grid, exact[0] + exact[1] * grid, color="C3", label=f"y = {exact[0]:.2f} + {exact[1]:.2f} x")
    ax_fit.set_title("the data and the least-squares line")
    ax_fit.legend()
    sgd_path = next(p for name, p in paths.items() if name.startswith("stochastic"))
    b, w = sgd_path.params["dense_0/b"][:, 0], sgd_path.params["dense_0/w"][:, 0, 0]
    for i in range(min(21, len(b))):
        ax_steps.plot(grid, b[i] + w[i] * grid, color=plt.cm.viridis(i / 20), lw=1)
    ax_steps.set_title("the first 20 stochastic steps (dark: first)")
    design = np.hstack([np.ones_like(x), x])
    all_b = np.concatenate([p.params["dense_0/b"][:, 0] for p in paths.values()])
    all_w = np.concatenate([p.params["dense_0/w"][:, 0, 0] for p in paths.values()])
    b_grid, w_grid = np.meshgrid(np.linspace(all_b.min() - 0.5, all_b.max() + 0.5, 120),
                                 np.linspace(all_w.min() - 0.5, all_w.max() + 0.5, 120))  # fmt: skip
    theta_grid = np.stack([b_grid.ravel(), w_grid.ravel()])  # (2, g)
    cost = np.mean((design @ theta_grid - t) ** 2, axis=0).reshape(b_grid.shape)
    ax_paths.contour(b_grid, w_grid, cost, levels=np.geomspace(cost.min() + 1e-3, cost.max(), 15), cmap="Greys")
    for name, p in paths.items():
        ax_paths.plot(p.params["dense_0/b"][:, 0], p.params["dense_0/w"][:, 0, 0], marker=".", ms=3, lw=1,
                      label=f"{name.split(',')[0]} ({len(p.steps) - 1} steps)")  # fmt: skip
    ax_paths.plot(*exact, "r*", ms=12, label="normal equation")
    ax_paths.set(xlabel="θ0 (intercept)", ylabel="θ1 (slope)", title="paths over the cost contours (first 20 epochs)")
    ax_paths.legend(fontsize=8)
    save_figure(plt, fig, path)


if __name__ == "__main__":
    main()
