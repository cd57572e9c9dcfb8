"""XOR with a 2-3-1 tanh network and the mean squared error: sample by sample, then full batch.

What it teaches:

* XOR is not linearly separable: a single neuron cannot learn it, but one
  hidden layer of three tanh units can;
* the classic loop, sample by sample: for each of the four samples, forward,
  error ``E = (y - t)²``, its gradient ``dE/dy = 2 (y - t)``, backward through
  ``tanh`` (``dz = dy (1 - y²)``) and the dense layers (``dw = xᵀ dz``,
  ``dx = dz wᵀ``), then ``w <- w - lr dw`` at once;
* the same network trained full-batch: one step per epoch on the mean
  gradient of all four samples.

And what funcnn adds: the loop written by hand gives bit for bit the params
of ``fn.train(..., batch_size=1, shuffle=False)``, and the initial params are
untouched by both.

Usage::

    python examples/xor.py [--quick] [--seed 0]
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
from _common import parser
from numpy.typing import NDArray

import funcnn as fn

F64 = NDArray[np.float64]
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
T = np.array([[0.0], [1.0], [1.0], [0.0]])
MODEL = fn.Sequential(fn.Dense(3), fn.Tanh(), fn.Dense(1), fn.Tanh())
LR_SAMPLE, LR_BATCH = 0.1, 0.5


@attrs.frozen
class Result:
    sample_by_sample: tuple[float, ...]  # the four outputs
    full_batch: tuple[float, ...]
    hand_loop_is_train: bool
    params_untouched: bool
    final_error: float  # mean squared error of the sample-by-sample network


def sample_by_sample(params: fn.FrozenTree[np.float64], epochs: int) -> fn.FrozenTree[np.float64]:
    """The classic loop: one gradient step per sample, samples in order."""
    for epoch in range(epochs):
        error = 0.0
        for j in range(4):
            x, t = X[j : j + 1], T[j : j + 1]  # one sample: (1, 2) and (1, 1)
            y, cache = fn.forward(MODEL, params, x)  # dense -> tanh -> dense -> tanh
            e, dy = fn.loss(fn.MSE(), y, t)  # e = (y - t)², dy = 2 (y - t)
            grads, _ = fn.backward(MODEL, params, cache, dy, need_dx=False)  # back through tanh' = 1 - y², ...
            params = fn.sgd_step(params, grads, lr=LR_SAMPLE)
            error += e
        if epoch in (0, 9, 99) or epoch == epochs - 1:
            print(f"  epoch {epoch + 1:4d}/{epochs}  mean error {error / 4:.6f}")
    return params


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0], plot=False).parse_args(argv)
    epochs_sample, epochs_batch = (300, 600) if args.quick else (1000, 2000)
    params0 = fn.init(MODEL, fn.fold_in(fn.key(args.seed), "init"), in_shape=(2,))
    copy0: fn.FrozenTree[np.float64] = fn.freeze(fn.thaw(params0))  # plain copies, to compare at the end

    print(f"2-3-1 tanh network, MSE, {fn.tree_size(params0)} params (seed {args.seed})")
    print(f"sample by sample, lr {LR_SAMPLE}:")
    hand = sample_by_sample(params0, epochs_sample)
    state = fn.train(
        MODEL, params0, X, T, loss=fn.MSE(), lr=LR_SAMPLE, epochs=epochs_sample, batch_size=1, shuffle=False,
        key=fn.fold_in(fn.key(args.seed), "train"),
    )  # fmt: skip
    same = fn.tree_equal(hand, state.params)
    print(f"fn.train(batch_size=1, shuffle=False) gives bit-identical params: {same}")

    batch = fn.train(
        MODEL, params0, X, T, loss=fn.MSE(), lr=LR_BATCH, epochs=epochs_batch, batch_size=None,
        key=fn.fold_in(fn.key(args.seed), "train"),
    )  # fmt: skip
    print(f"full batch, lr {LR_BATCH}, {epochs_batch} epochs: mean error {batch.history.cost[0]:.4f} -> "
          f"{batch.history.cost[-1]:.6f}")  # fmt: skip

    y_sample = fn.predict(MODEL, hand, X)[:, 0]
    y_batch = fn.predict(MODEL, batch.params, X)[:, 0]
    print("\n   x1  x2  target  sample by sample  full batch")
    for (a, b), t, ys, yb in zip(X, T[:, 0], y_sample, y_batch, strict=True):
        print(f"  {a:3.0f} {b:3.0f} {t:7.0f} {ys:17.4f} {yb:11.4f}")
    untouched = fn.tree_equal(params0, copy0)
    print(f"initial params untouched: {untouched}")
    return Result(
        tuple(float(v) for v in y_sample),
        tuple(float(v) for v in y_batch),
        same,
        untouched,
        float(np.mean((y_sample - T[:, 0]) ** 2)),
    )


if __name__ == "__main__":
    main()
