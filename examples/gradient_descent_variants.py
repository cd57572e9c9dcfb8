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

Usage::

    python examples/gradient_descent_variants.py [--quick] [--seed 0]
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import attrs
import numpy as np
from _common import parser, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets
from funcnn.metrics import mse
from funcnn.optim import sgd
from funcnn.schedules import learning_schedule

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
    args = parser(__doc__.splitlines()[0], plot=False).parse_args(argv)
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
    return Result(tuple(methods), matches)


if __name__ == "__main__":
    main()
