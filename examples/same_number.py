"""One neuron trained on the same number five times: the error vanishes, but m and b are not learned.

What it teaches (the first document's remark that a neuron "trained on the
same number five times" gets better at it):

* a neuron ``y = m x + b`` is shown one sample ``(x, t)`` again and again.
  The squared error ``½ (y - t)²`` has the gradient ``(y - t) (x, 1)`` in
  ``(m, b)``: every step moves along the same direction ``(x, 1)``. The error
  shrinks geometrically, by the factor ``1 - lr (x² + 1)`` per step;
* so the neuron fits that one number, but ``(m, b)`` only slides along the
  line ``m x + b = t``: where it lands depends on where it started. Two
  starts give two different neurons that both answer ``t`` at ``x`` and
  disagree everywhere else. One distinct input cannot pin down two unknowns;
* a second, different input does: the same training on two points finds
  the one line through both, whatever the start.

The loss is ``MSE(reduction="sum", half=True)``, the textbook ``½ Σ (y - t)²``
whose gradient is the bare residual, so the steps printed are the textbook's.

``--plot PATH`` draws the paths of ``(m, b)`` from the three starts: straight
lines onto the line ``m x + b = t``, each landing somewhere else on it, and
the two-point runs all meeting at ``(3, -1)``.

Usage::

    python examples/same_number.py [--quick] [--seed 0] [--plot same_number.png]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from _common import parser, pyplot, save_figure, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn.initializers import Uniform
from funcnn.optim import sgd
from funcnn.training import TrainState, train_steps

MODEL = fn.Sequential(fn.Dense(1, w_init=Uniform(-1.0, 1.0), b_init=Uniform(-1.0, 1.0)))
LOSS = fn.MSE(reduction="sum", half=True)  # ½ (y - t)²: the gradient is (y - t) (x, 1)
X, T, LR, REPEATS = 2.0, 5.0, 0.1, 5


@attrs.frozen
class Result:
    errors: tuple[float, ...]  # |y - t| at x before each of the five steps, then after the last
    shrink: float  # the predicted factor 1 - lr (x² + 1) per step
    ends: tuple[tuple[float, float], ...]  # (m, b) after training, for each start
    on_the_line: bool  # every end satisfies m x + b = t (to 1e-12 after many steps)
    predictions_at_zero: tuple[float, ...]  # what each neuron says at x = 0: they disagree
    two_points: tuple[tuple[float, float], ...]  # (m, b) from two distinct inputs, for each start


def mb(params: fn.FrozenTree[np.float64]) -> tuple[float, float]:
    return float(fn.tree_get(params, "dense_0/w")[0, 0]), float(fn.tree_get(params, "dense_0/b")[0])


def repeat(
    seed: int, x: NDArray[np.float64], t: NDArray[np.float64], steps: int
) -> tuple[list[tuple[float, float, float]], TrainState[np.float64]]:
    """Train on ``(x, t)`` for ``steps`` epochs of batch 1; ``[(m, b, cost)]`` per step and the final state."""
    params = fn.init(MODEL, fn.key(seed), in_shape=(1,))
    start = TrainState.create(MODEL, params, loss=LOSS, optimizer=sgd(LR), key=fn.key(seed), batch_size=1,
                              shuffle=False)  # fmt: skip
    rows, state = [], start
    for state, cost in train_steps(start, x, t, epochs=steps):
        rows.append((*mb(state.params), cost))
    return rows, state


def plot(path: Path, paths: list[tuple[list[tuple[float, float]], list[tuple[float, float]]]]) -> None:
    """The ``(m, b)`` plane: the line ``m x + b = t``, the one-sample and the two-sample paths."""
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 5))
    m = np.linspace(-1.5, 3.5, 2)
    ax.plot(m, T - X * m, "k-", lw=1, label=f"m·{X:g} + b = {T:g}: every fit of the one sample")
    for i, (one, both) in enumerate(paths):
        ax.plot(*np.array(one).T, ".-", color=f"C{i}", ms=3, label=f"start {i}: the same sample again and again")
        ax.plot(*np.array(both).T, ":", color=f"C{i}", label=f"start {i}: two distinct samples")
    ax.plot(3.0, -1.0, "r*", ms=12, label="the line through both samples")
    ax.set(xlabel="m", ylabel="b", title="one input cannot pin down both m and b")
    ax.legend(fontsize=7)
    save_figure(plt, fig, path)


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    x, t = np.array([[X]]), np.array([[T]])
    rows, _ = repeat(args.seed, x, t, REPEATS)
    m0, b0 = mb(fn.init(MODEL, fn.key(args.seed), in_shape=(1,)))
    print(f"one neuron y = m x + b, start m = {m0:+.4f}, b = {b0:+.4f}; the sample x = {X}, t = {T}, lr {LR}")
    errors = [abs(r[2] * 2) ** 0.5 for r in rows]  # cost = ½ (y - t)² before each step
    final_y = rows[-1][0] * X + rows[-1][1]
    errors.append(abs(final_y - T))
    pairs = zip(rows, errors[:-1], strict=True)
    print(table(["step", "m", "b", "|y - t| before"],
                [[i + 1, f"{m:+.4f}", f"{b:+.4f}", f"{e:.4f}"] for i, ((m, b, _), e) in enumerate(pairs)]))  # fmt: skip
    shrink = 1 - LR * (X * X + 1)
    print(f"|y - t| after the 5th step: {errors[-1]:.5f}; each step multiplies it by 1 - lr (x² + 1) = {shrink:.2f}")
    moves = np.diff(np.array([(m0, b0)] + [(m, b) for m, b, _ in rows]), axis=0)
    print(
        f"every step moves (m, b) along (x, 1) = ({X}, 1): slopes db/dm = "
        + ", ".join(f"{d[1] / d[0]:.4f}" for d in moves)
    )

    steps = 40 if args.quick else 200
    ends, at_zero, two, paths = [], [], [], []
    x2, t2 = np.array([[X], [-1.0]]), np.array([[T], [T - 3.0 * (X + 1.0)]])  # the line with m = 3 through (X, T)
    for seed in (args.seed, args.seed + 1, args.seed + 2):
        one, state = repeat(seed, x, t, steps)
        ends.append(mb(state.params))
        at_zero.append(ends[-1][1])
        both, state2 = repeat(seed, x2, t2, steps * 5)
        two.append(mb(state2.params))
        start = mb(fn.init(MODEL, fn.key(seed), in_shape=(1,)))
        paths.append(([start] + [(m, b) for m, b, _ in one], [start] + [(m, b) for m, b, _ in both]))
    print(f"\nafter {steps} steps from three different starts:")
    print(table(["start", "m", "b", "m x + b at x=2", "y at x=0", "two points: m", "two points: b"],
                [[s, f"{m:+.6f}", f"{b:+.6f}", f"{m * X + b:.6f}", f"{b:+.4f}", f"{m2:+.6f}", f"{b2:+.6f}"]
                 for s, (m, b), (m2, b2) in zip(range(3), ends, two, strict=True)]))  # fmt: skip
    print(
        "all three fit the number; they disagree at every other x. With a second input (x = -1) the line is pinned:"
        " m = 3, b = -1 from every start."
    )
    on_line = all(abs(m * X + b - T) < 1e-9 for m, b in ends)
    if args.plot is not None:
        plot(args.plot, paths)
    return Result(tuple(errors), shrink, tuple(ends), on_line, tuple(at_zero), tuple(two))


if __name__ == "__main__":
    main()
