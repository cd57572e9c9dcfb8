"""A softmax classifier on a 3-class spiral: ReLU hidden layers, cross-entropy, SGD with a decaying rate.

What it teaches:

* softmax turns the last layer's scores ``z`` into probabilities
  ``p_k = e^{z_k} / Σ_j e^{z_j}``; the categorical cross-entropy of the true
  class ``c`` is ``-log p_c``. Backward through both gives the simple
  ``dC/dz = (p - onehot(c)) / n``: computed here both ways (the ``Softmax``
  layer's backward after the loss's ``-t/p``, and the fused loss on logits);
* ReLU hidden layers bend the plane so that three interleaved arms become
  separable; a straight-line (softmax regression) classifier cannot do it;
* SGD with momentum 0.9 and learning-rate decay ``lr(t) = lr0 / (1 + decay t)``
  (``t`` counts the steps): large steps first, then smaller ones to settle.

Protocol: ``datasets.spiral`` (100 points per class, noise 0.2), training set
from key ``fold_in(key(seed), "train data")``, a fresh test spiral from
``"test data"``; network 2-64-64-3, He initialisation; full batch, lr0 0.3,
decay 1e-3, momentum 0.9, 2,000 epochs (60 with ``--quick``).

Usage::

    python examples/spiral_softmax.py [--quick] [--seed 0] [--plot spiral.png]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from _common import parser, pyplot, save_figure
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets
from funcnn.metrics import accuracy
from funcnn.optim import sgd
from funcnn.schedules import inverse_time_schedule

F64 = NDArray[np.float64]
LOGITS = fn.Sequential(fn.Dense(64, w_init=fn.HeNormal()), fn.ReLU(), fn.Dense(64, w_init=fn.HeNormal()), fn.ReLU(),
                       fn.Dense(3))  # fmt: skip
MODEL = fn.Sequential(*LOGITS.layers, fn.Softmax())  # the same params: Softmax has none
LINEAR = fn.Sequential(fn.Dense(3), fn.Softmax())
SCHEDULE = inverse_time_schedule(0.3, decay=1e-3)


@attrs.frozen
class Result:
    train_accuracy: float
    test_accuracy: float
    linear_test_accuracy: float  # softmax regression, no hidden layer
    first_cost: float
    final_cost: float
    fused_gradient_matches: bool


def plot(path: Path, params: fn.FrozenTree[np.float64], x: F64, labels: NDArray[np.int64]) -> None:
    plt = pyplot()
    if plt is None:
        return
    grid = np.linspace(-1.3, 1.3, 261)
    gx, gy = np.meshgrid(grid, grid)
    classes = fn.predict(MODEL, params, np.column_stack([gx.ravel(), gy.ravel()])).argmax(axis=1)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(gx, gy, classes.reshape(gx.shape), levels=[-0.5, 0.5, 1.5, 2.5], alpha=0.3, cmap="brg")
    ax.scatter(x[:, 0], x[:, 1], c=labels, s=12, cmap="brg", edgecolors="k", linewidths=0.3)
    ax.set(title="spiral: decision regions of the 2-64-64-3 network", aspect="equal")
    save_figure(plt, fig, path)


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    epochs = 60 if args.quick else 2000
    root = fn.key(args.seed)
    x, y = datasets.spiral(fn.fold_in(root, "train data"))
    x_test, y_test = datasets.spiral(fn.fold_in(root, "test data"))
    print(f"spiral: {len(y)} training points, {len(y_test)} test points, 3 classes (seed {args.seed})")

    params0 = fn.init(MODEL, fn.fold_in(root, "init"), in_shape=(2,))
    # dC/dz two ways: through the Softmax layer, and fused on the logits.
    z, _ = fn.forward(LOGITS, params0, x)  # (300, 3) scores
    p, softmax_cache = fn.forward(fn.Softmax(), fn.FrozenTree(), z)  # (300, 3) probabilities
    _, dp = fn.loss(fn.CategoricalCrossEntropy(), p, y)  # dC/dp = -t / p / n
    _, dz = fn.backward(fn.Softmax(), fn.FrozenTree(), softmax_cache, dp)  # dz = p (dp - Σ_k dp_k p_k)
    _, dz_fused = fn.loss(fn.CategoricalCrossEntropy(from_logits=True), z, y)  # (p - t) / n
    fused = bool(np.allclose(dz, dz_fused, rtol=1e-9, atol=1e-15))
    print(f"dC/dz through Softmax's backward equals the fused (p - t)/n: {fused}")

    optimizer = sgd(SCHEDULE, momentum=0.9)
    state = fn.train(MODEL, params0, x, y, loss=fn.CategoricalCrossEntropy(), optimizer=optimizer, epochs=epochs,
                     key=fn.fold_in(root, "train"))  # fmt: skip
    for e in sorted({1, 10, 100, epochs // 2, epochs} & set(range(1, epochs + 1))):
        print(f"  epoch {e:5d}  lr {SCHEDULE(e - 1):.4f}  cost {state.history.cost[e - 1]:.4f}")
    train_acc = accuracy(fn.predict(MODEL, state.params, x), y)
    test_acc = accuracy(fn.predict(MODEL, state.params, x_test), y_test)

    linear0 = fn.init(LINEAR, fn.fold_in(root, "init"), in_shape=(2,))
    linear = fn.train(LINEAR, linear0, x, y, loss=fn.CategoricalCrossEntropy(), optimizer=optimizer, epochs=epochs,
                      key=fn.fold_in(root, "train"))  # fmt: skip
    linear_acc = accuracy(fn.predict(LINEAR, linear.params, x_test), y_test)
    print(f"2-64-64-3 ReLU network: train accuracy {train_acc:.2%}, test accuracy {test_acc:.2%}")
    print(f"softmax regression (no hidden layer), same training: test accuracy {linear_acc:.2%}")
    if args.plot is not None:
        plot(args.plot, state.params, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64))
    return Result(train_acc, test_acc, linear_acc, float(state.history.cost[0]), float(state.history.cost[-1]), fused)


if __name__ == "__main__":
    main()
