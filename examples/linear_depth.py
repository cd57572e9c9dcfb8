"""Stacked linear layers are still one linear map, and cannot learn XOR; one nonlinearity can.

What it teaches:

* three ``Dense`` layers with no activation between them compute
  ``((x W1 + b1) W2 + b2) W3 + b3 = x (W1 W2 W3) + (b1 W2 W3 + b2 W3 + b3)``:
  one affine map. The network's output equals that single map's output to
  rounding, before and after training;
* so depth alone adds nothing: trained on XOR with the squared error, the
  linear stack ends where the best affine map does, predicting 0.5 for all
  four points (squared error 0.25, the least-squares value);
* one ``Tanh`` between two layers is enough: the same data, the same loss and
  optimizer, and the four outputs are right (squared error near 0).

``--plot PATH`` draws both trained networks' outputs over the square: the
linear stack is a tilted plane (here flat at 0.5), the tanh network bends.

Usage::

    python examples/linear_depth.py [--quick] [--seed 0] [--plot linear_depth.png]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from _common import parser, pyplot, save_figure, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn.metrics import mse
from funcnn.optim import adam
from funcnn.rng import generator

F64 = NDArray[np.float64]
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
T = np.array([[0.0], [1.0], [1.0], [0.0]])
LINEAR = fn.Sequential(fn.Dense(8), fn.Dense(8), fn.Dense(1))
NONLINEAR = fn.Sequential(fn.Dense(8), fn.Tanh(), fn.Dense(1))


@attrs.frozen
class Result:
    collapse_error: float  # max |stack(x) - (x W + b)| over random inputs, after training
    linear_mse: float  # the linear stack on XOR
    least_squares_mse: float  # the best affine map on XOR (0.25)
    linear_outputs: tuple[float, ...]
    nonlinear_mse: float
    nonlinear_outputs: tuple[float, ...]


def collapse(params: fn.FrozenTree[np.float64]) -> tuple[F64, F64]:
    """The single ``(W, b)`` of a stack of dense layers: ``W = W1 W2 W3``, ``b = (b1 W2 + b2) W3 + b3``."""
    w, b = np.eye(2), np.zeros(2)
    for i in range(3):
        wi, bi = fn.tree_get(params, f"dense_{i}/w"), fn.tree_get(params, f"dense_{i}/b")
        w, b = w @ wi, b @ wi + bi
    return w, b


def plot(path: Path, nets: dict[str, tuple[fn.Sequential, fn.FrozenTree[np.float64]]]) -> None:
    """Each network's output over [-0.5, 1.5]², with the four XOR points."""
    plt = pyplot()
    if plt is None:
        return
    g0, g1 = np.meshgrid(np.linspace(-0.5, 1.5, 101), np.linspace(-0.5, 1.5, 101))
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1)
    fig, axes = plt.subplots(1, len(nets), figsize=(5 * len(nets), 4.2))
    for ax, (name, (model, params)) in zip(axes, nets.items(), strict=True):
        out = fn.predict(model, params, grid).reshape(g0.shape)
        filled = ax.contourf(g0, g1, out, levels=np.linspace(-0.25, 1.25, 13), cmap="coolwarm", extend="both")
        ax.scatter(X[:, 0], X[:, 1], c=T[:, 0], cmap="coolwarm", edgecolors="k", s=80, vmin=-0.25, vmax=1.25)
        ax.set(xlabel="x1", ylabel="x2", title=f"{name}: output over the plane")
        fig.colorbar(filled, ax=ax)
    save_figure(plt, fig, path)


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    epochs = 500 if args.quick else 3000
    root = fn.key(args.seed)
    probe = generator(fn.fold_in(root, "probe")).normal(size=(1000, 2))

    params = fn.init(LINEAR, fn.fold_in(root, "linear"), in_shape=(2,))
    w, b = collapse(params)
    before = float(np.max(np.abs(fn.predict(LINEAR, params, probe) - (probe @ w + b))))
    state = fn.train(LINEAR, params, X, T, loss=fn.MSE(), optimizer=adam(0.01), epochs=epochs, key=root)
    w, b = collapse(state.params)
    after = float(np.max(np.abs(fn.predict(LINEAR, state.params, probe) - (probe @ w + b))))
    print(f"linear stack 2-8-8-1 as one map: W = W1 W2 W3 = {np.round(w[:, 0], 4).tolist()}, b = {b[0]:.4f}")
    print(f"max |stack(x) - (x W + b)| on 1,000 random inputs: {before:.1e} before training, {after:.1e} after")

    design = np.hstack([np.ones((4, 1)), X])
    theta = np.linalg.lstsq(design, T, rcond=None)[0]
    ls_mse = mse(design @ theta, T)
    y_lin = fn.predict(LINEAR, state.params, X)
    lin_mse = mse(y_lin, T)

    nl = fn.train(NONLINEAR, fn.init(NONLINEAR, fn.fold_in(root, "tanh"), in_shape=(2,)), X, T, loss=fn.MSE(),
                  optimizer=adam(0.01), epochs=epochs, key=root)  # fmt: skip
    y_nl = fn.predict(NONLINEAR, nl.params, X)
    nl_mse = mse(y_nl, T)
    print(f"\nXOR after {epochs} epochs of full-batch Adam 0.01 on the squared error:")
    rows = [[f"{x0:.0f} {x1:.0f}", f"{t:.0f}", f"{a:+.4f}", f"{c:+.4f}"]
            for (x0, x1), t, a, c in zip(X, T[:, 0], y_lin[:, 0], y_nl[:, 0], strict=True)]  # fmt: skip
    print(table(["x", "target", "2-8-8-1 linear", "2-8-1 tanh"], rows))
    print(f"squared error: linear stack {lin_mse:.6f} (best affine map {ls_mse:.6f}), one tanh layer {nl_mse:.2e}")
    if args.plot is not None:
        plot(args.plot, {"2-8-8-1 linear": (LINEAR, state.params), "2-8-1 tanh": (NONLINEAR, nl.params)})
    return Result(after, lin_mse, ls_mse, tuple(float(v) for v in y_lin[:, 0]), nl_mse,
                  tuple(float(v) for v in y_nl[:, 0]))  # fmt: skip


if __name__ == "__main__":
    main()
