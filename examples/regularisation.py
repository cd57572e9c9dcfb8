"""Over-fitting and four ways to tame it: ridge, lasso, elastic net and early stopping; learning curves.

What it teaches:

* a polynomial of degree 10 fitted to 30 noisy points of ``y = 0.5x² + x + 2``
  follows the noise: its training error drops below the noise level (1.0)
  while its error on new data grows;
* a penalty on the weights adds its gradient to the loss's gradient before
  the optimizer step (``funcnn.transforms``): ridge ``+ alpha w``
  (``alpha/2 Σ w²``), lasso ``+ alpha sign(w)`` (``alpha Σ |w|``, which pushes
  useless weights to zero), elastic net a mix of both; early stopping keeps
  the params of the epoch with the lowest validation error;
* the ridge solution has a closed form, ``w = (XcᵀXc + n alpha/2 I)⁻¹ Xcᵀ yc``
  on centred data: gradient descent with the ``l2`` transform arrives there;
* learning curves: training and validation error against the training-set
  size. A straight line under-fits (both errors stay high, close together);
  the degree-10 polynomial over-fits small sets (a wide gap) and the gap
  closes as data grows.

The features are Legendre polynomials ``P_1 .. P_10`` of ``x/3`` rather than
raw powers ``x, x², ..., x¹⁰``: the same functions, but nearly orthogonal
columns, so gradient descent reaches the over-fitting least-squares answer in
a few thousand steps (with raw powers it crawls, which is early stopping in
disguise).

Lasso's zeros: the subgradient ``alpha sign(w)`` makes weights hover around
zero without ever reaching it, so the table counts "non-zero" with a
threshold (``|w| > 0.01``). ``l1(alpha, proximal=True)`` (soft-thresholding
after each plain gradient step) lands weights on exactly 0: the "lasso
(proximal)" row counts them without any threshold. ``--plot`` adds the
material's figure of ridge and lasso paths in the plane of two weights, over
the contours of the data cost and of the penalty: ridge shrinks both weights
smoothly, lasso drives one onto its axis and holds it there.

Protocol (``--seed``, default 0): training pool of 160 points (the first 30
form the training set), 200 validation points, 1,000 test points, all from
``datasets.polynomial`` with noise 1.0 and their own keys; full-batch Adam,
lr 0.05, 3,000 epochs (1,500 with ``--quick``).

Usage::

    python examples/regularisation.py [--quick] [--seed 0] [--plot regularisation.png]
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
from funcnn.optim import Optimizer, adam, sgd
from funcnn.rng import generator
from funcnn.training import TrainState
from funcnn.trajectory import Trajectory, trajectory
from funcnn.transforms import chain, elastic_net, l1, l2

F64 = NDArray[np.float64]
DEGREE = 10
N_TRAIN = 30
ALPHA = 0.1
LR = 0.05


@attrs.frozen
class Fit:
    method: str
    train_mse: float
    validation_mse: float
    test_mse: float
    nonzero_weights: int  # |w| > 0.01
    epochs: int
    exact_zeros: int = 0  # weights that are exactly 0.0 (no threshold)


@attrs.frozen
class Result:
    fits: tuple[Fit, ...]  # no penalty, ridge, lasso, elastic net, early stopping
    ridge_vs_closed_form: float  # max |w_gd - w_closed|
    sizes: tuple[int, ...]
    line_curve: tuple[tuple[float, float], ...]  # (train, validation) MSE per size, degree 1
    poly_curve: tuple[tuple[float, float], ...]  # the same for degree 10
    path_zero_step: int | None = None  # the 2-weight lasso path: first step with w2 exactly 0 (None: never)
    path_zero_held: bool = False  # and w2 stays exactly 0 from there on

    def fit(self, method: str) -> Fit:
        return next(f for f in self.fits if f.method == method)


def features(x: F64, degree: int) -> F64:
    """``(n, 1)`` inputs in [-3, 3] -> ``(n, degree)``: Legendre polynomials ``P_1 .. P_degree`` of ``x/3``."""
    return np.asarray(np.polynomial.legendre.legvander(x[:, 0] / 3.0, degree)[:, 1:], dtype=np.float64)


def make_data(seed: int) -> dict[str, tuple[F64, F64]]:
    root = fn.key(seed)
    out = {}
    for name, n in (("pool", 160), ("validation", 200), ("test", 1000)):
        x, y = datasets.polynomial(fn.fold_in(root, name), n=n, noise=1.0)
        out[name] = (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return out


def train(
    x: F64, y: F64, optimizer: Optimizer, epochs: int, seed: int, validation: tuple[F64, F64] | None = None
) -> TrainState[np.float64]:
    model = fn.Sequential(fn.Dense(1))
    params = fn.init(model, fn.fold_in(fn.key(seed), "init"), in_shape=(x.shape[1],))
    patience = None if validation is None else 100  # early stopping needs validation data
    return fn.train(model, params, x, y, loss=fn.MSE(), optimizer=optimizer, epochs=epochs,
                    key=fn.fold_in(fn.key(seed), "train"), validation=validation, patience=patience)  # fmt: skip


def penalty_paths(seed: int, steps: int) -> tuple[F64, F64, dict[str, Trajectory]]:
    """Ridge and lasso (proximal) on two centred features, full-batch SGD from (-1, 3): their weight paths.

    Returns the data ``(x, y)`` and ``{"ridge": ..., "lasso": ...}`` trajectories of ``dense_0/w``.
    """
    rng = generator(fn.fold_in(fn.key(seed), "paths"))
    x = rng.normal(size=(100, 2)) @ np.array([[1.0, 0.3], [0.0, 0.6]])
    x -= x.mean(axis=0)
    y = x @ np.array([[2.0], [0.5]]) + 0.3 * rng.normal(size=(100, 1))
    y -= y.mean()
    model = fn.Sequential(fn.Dense(1))
    params = fn.freeze({"dense_0": {"w": np.array([[-1.0], [3.0]]), "b": np.zeros(1)}})
    out = {}
    for name, optimizer in (("ridge", chain(l2(1.0), sgd(0.05))), ("lasso", chain(l1(1.0, proximal=True), sgd(0.05)))):
        start = TrainState.create(model, params, loss=fn.MSE(), optimizer=optimizer, key=fn.key(seed))
        out[name] = trajectory(start, x, y, epochs=steps, paths=["dense_0/w"])
    return x, y, out


def plot_paths(axes: Sequence[object], x: F64, y: F64, paths: dict[str, Trajectory]) -> None:
    """Each path over the contours of the data cost (grey) and of its penalty (dotted)."""
    g1, g2 = np.meshgrid(np.linspace(-1.5, 3.5, 200), np.linspace(-1.5, 3.5, 200))
    w = np.stack([g1.ravel(), g2.ravel()])  # (2, g)
    cost = np.mean((x @ w - y) ** 2, axis=0).reshape(g1.shape)
    penalties = {"ridge": 0.5 * (g1**2 + g2**2), "lasso": np.abs(g1) + np.abs(g2)}
    for ax, (name, path) in zip(axes, paths.items(), strict=True):
        ax.contour(g1, g2, cost, levels=np.geomspace(cost.min() + 1e-2, cost.max(), 12), cmap="Greys")  # type: ignore[attr-defined]
        ax.contour(g1, g2, penalties[name], levels=8, linestyles=":", colors="C0")  # type: ignore[attr-defined]
        ws = path.params["dense_0/w"][:, :, 0]
        ax.plot(ws[:, 0], ws[:, 1], "C3.-", ms=3, lw=1, label=f"{name} path")  # type: ignore[attr-defined]
        ax.axhline(0, color="k", lw=0.5)  # type: ignore[attr-defined]
        ax.axvline(0, color="k", lw=0.5)  # type: ignore[attr-defined]
        ax.set(xlabel="w1", ylabel="w2", title=f"{name}: data cost (grey), penalty (dotted)")  # type: ignore[attr-defined]
        ax.legend(fontsize=8)  # type: ignore[attr-defined]


def ridge_closed_form(x: F64, y: F64, alpha: float) -> F64:
    """Minimiser of ``mean((x w + b - y)²) + alpha/2 |w|²`` (the bias is not penalised): ``w``, ``(d,)``."""
    xc, yc = x - x.mean(axis=0), y[:, 0] - y.mean()
    n, d = x.shape
    return np.linalg.solve(xc.T @ xc + (n * alpha / 2.0) * np.eye(d), xc.T @ yc)


def learning_curves(
    data: dict[str, tuple[F64, F64]], sizes: tuple[int, ...], degree: int, epochs: int, seed: int
) -> tuple[tuple[float, float], ...]:
    """Training and validation MSE of an unpenalised fit on the first ``k`` pool points, for each size ``k``."""
    (x_pool, y_pool), (x_val, y_val) = data["pool"], data["validation"]
    rows = []
    for k in sizes:
        x, y = features(x_pool[:k], degree), y_pool[:k]
        state = train(x, y, adam(LR), epochs, seed)
        model = fn.Sequential(fn.Dense(1))
        train_mse = mse(fn.predict(model, state.params, x), y)
        rows.append((train_mse, mse(fn.predict(model, state.params, features(x_val, degree)), y_val)))
    return tuple(rows)


Curve = tuple[tuple[float, float], ...]


def plot(
    path: Path, data: dict[str, tuple[F64, F64]], states: dict[str, TrainState[np.float64]], sizes: tuple[int, ...],
    line: Curve, poly: Curve, paths: tuple[F64, F64, dict[str, Trajectory]],
) -> None:  # fmt: skip
    plt = pyplot()
    if plt is None:
        return
    x_pool, y_pool = data["pool"]
    fig, ((left, right), (bottom_left, bottom_right)) = plt.subplots(2, 2, figsize=(11, 9))
    plot_paths((bottom_left, bottom_right), *paths)
    grid = np.linspace(-3, 3, 300)[:, None]
    left.scatter(x_pool[:N_TRAIN, 0], y_pool[:N_TRAIN, 0], s=14, color="black", label="training points")
    left.plot(grid[:, 0], 0.5 * grid[:, 0] ** 2 + grid[:, 0] + 2, "k:", label="truth")
    for name, state in states.items():
        left.plot(grid[:, 0], fn.predict(fn.Sequential(fn.Dense(1)), state.params, features(grid, DEGREE)), label=name)
    left.set(ylim=(-2, 12), xlabel="x", ylabel="y", title=f"degree {DEGREE} on {N_TRAIN} points")
    left.legend(fontsize=8)
    for curve, name, style in ((line, "degree 1", "--"), (poly, f"degree {DEGREE}", "-")):
        right.plot(sizes, [t for t, _ in curve], "o" + style, label=f"{name}: training")
        right.plot(sizes, [v for _, v in curve], "s" + style, label=f"{name}: validation")
    right.set(xscale="log", yscale="log", xlabel="training-set size", ylabel="MSE", title="learning curves")
    right.legend(fontsize=8)
    save_figure(plt, fig, path)


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    epochs = 1500 if args.quick else 3000
    data = make_data(args.seed)
    (x_pool, y_pool), (x_val, y_val), (x_test, y_test) = data["pool"], data["validation"], data["test"]
    x, y = features(x_pool[:N_TRAIN], DEGREE), y_pool[:N_TRAIN]
    xv, xt = features(x_val, DEGREE), features(x_test, DEGREE)
    print(f"{N_TRAIN} training points, y = 0.5x² + x + 2 + N(0, 1), degree-{DEGREE} features (seed {args.seed}); "
          f"Adam lr {LR}, {epochs} epochs, alpha {ALPHA}")  # fmt: skip

    methods: tuple[tuple[str, Optimizer, bool], ...] = (
        ("no penalty", adam(LR), False),
        ("ridge (l2)", chain(l2(ALPHA), adam(LR)), False),
        ("lasso (l1)", chain(l1(ALPHA), adam(LR)), False),
        ("elastic net", chain(elastic_net(ALPHA, 0.5), adam(LR)), False),
        ("early stopping", adam(LR), True),
        ("lasso (proximal)", chain(l1(ALPHA, proximal=True), sgd(proximal_lr(x))), False),
    )
    model = fn.Sequential(fn.Dense(1))
    fits, states = [], {}
    for name, optimizer, early in methods:
        state = train(x, y, optimizer, epochs, args.seed, validation=(xv, y_val) if early else None)
        states[name] = state
        w = fn.tree_get(state.params, "dense_0/w")[:, 0]
        fits.append(Fit(
            name, mse(fn.predict(model, state.params, x), y), mse(fn.predict(model, state.params, xv), y_val),
            mse(fn.predict(model, state.params, xt), y_test), int(np.sum(np.abs(w) > 0.01)),
            state.best_epoch if early and state.best_epoch is not None else state.epoch, int(np.sum(w == 0.0)),
        ))  # fmt: skip
    rows = [(f.method, f"{f.train_mse:.3f}", f"{f.validation_mse:.3f}", f"{f.test_mse:.3f}",
             f"{f.nonzero_weights} of {DEGREE}", f.exact_zeros, f.epochs) for f in fits]  # fmt: skip
    print(table(("method", "train MSE", "validation MSE", "test MSE", "|w| > 0.01", "w == 0", "epochs"), rows))
    print("(the noise alone gives an MSE of about 1.0: below that on the training set is fitting noise)")

    closed = ridge_closed_form(x, y, ALPHA)
    gap = float(np.max(np.abs(fn.tree_get(states["ridge (l2)"].params, "dense_0/w")[:, 0] - closed)))
    print(f"ridge by gradient descent vs the closed form (XcᵀXc + n alpha/2 I)⁻¹ Xcᵀ yc: max |Δw| = {gap:.1e}")

    sizes = (10, 40, 160) if args.quick else (10, 20, 40, 80, 160)
    curve_epochs = epochs // 2
    line = learning_curves(data, sizes, 1, curve_epochs, args.seed)
    poly = learning_curves(data, sizes, DEGREE, curve_epochs, args.seed)
    print(f"\nlearning curves ({curve_epochs} epochs each, no penalty): MSE against the training-set size")
    print(table(
        ("size", "line: train", "line: validation", f"degree {DEGREE}: train", f"degree {DEGREE}: validation"),
        [(k, f"{a:.3f}", f"{b:.3f}", f"{c:.3f}", f"{d:.3f}")
         for k, (a, b), (c, d) in zip(sizes, line, poly, strict=True)],
    ))  # fmt: skip
    paths = penalty_paths(args.seed, 150)
    w2 = paths[2]["lasso"].params["dense_0/w"][:, 1, 0]
    zero_at = int(np.argmax(w2 == 0.0)) if np.any(w2 == 0.0) else None
    held = zero_at is not None and bool(np.all(w2[zero_at:] == 0.0))
    ridge_end = paths[2]["ridge"].params["dense_0/w"][-1, :, 0]
    lasso_end = paths[2]["lasso"].params["dense_0/w"][-1, :, 0]
    print(f"\ntwo weights from (-1, 3): the proximal lasso path puts w2 on exactly 0 at step {zero_at} "
          f"(held there: {held}), ending at w = {np.round(lasso_end, 4).tolist()}; "
          f"ridge ends at {np.round(ridge_end, 4).tolist()}")  # fmt: skip
    if args.plot is not None:
        plot(args.plot, data, states, sizes, line, poly, paths)
    return Result(tuple(fits), gap, sizes, line, poly, zero_at, held)


def proximal_lr(x: F64) -> float:
    """``1 / L`` for the mean squared error on ``x`` and a bias: ``L = 2 λ_max(AᵀA / n)`` with ``A = [x, 1]``."""
    design = np.hstack([x, np.ones((len(x), 1))])
    return float(1.0 / (2.0 * np.linalg.eigvalsh(design.T @ design / len(x)).max()))


if __name__ == "__main__":
    main()
