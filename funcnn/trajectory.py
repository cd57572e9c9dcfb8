"""The path of chosen parameters through a run, step by step: for figures of small models.

:func:`trajectory` runs :func:`funcnn.training.train_steps` and keeps, for
each requested tree path (``"dense_0/w"``), the value after every optimizer
step, plus the starting value and each step's batch cost. Memory grows with
the number of steps times the size of the kept leaves, so keep small leaves
of small models (the two weights of a line, say).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import FloatT
from funcnn.epoch_loop import OnNonFinite
from funcnn.errors import TreeStructureError
from funcnn.training import TrainState, train_steps
from funcnn.tree import FrozenTree, tree_flatten

__all__ = ["Trajectory", "trajectory"]

T = TypeVar("T", bound=np.generic)


def _read_only(a: NDArray[T]) -> NDArray[T]:
    a.flags.writeable = False
    return a


@attrs.frozen(eq=False)
class Trajectory:
    """Parameter values along a run; read-only arrays.

    Attributes:
        steps: ``(k + 1,)`` int64 step counts: the start state's, then one per step.
        cost: ``(k,)`` float64: the batch cost of each step (before its update).
        params: ``{path: (k + 1, *leaf_shape)}``, row ``i`` the leaf after ``steps[i]`` steps.
        final: the last state yielded (resume from it, as from any epoch-end state).
    """

    steps: NDArray[np.int64]
    cost: NDArray[np.float64]
    params: Mapping[str, NDArray[np.floating]]
    final: TrainState[np.float32] | TrainState[np.float64]


def _pick(params: FrozenTree[FloatT], paths: Sequence[str]) -> list[NDArray[np.floating]]:
    flat = tree_flatten(params)
    missing = [p for p in paths if p not in flat]
    if missing:
        raise TreeStructureError(f"trajectory: no leaf at {missing!r}; the params have {sorted(flat)!r}")
    return [flat[p] for p in paths]


def trajectory(
    state: TrainState[FloatT],
    x: object,
    y: object,
    *,
    epochs: int,
    paths: Sequence[str],
    validation: tuple[object, object] | None = None,
    on_nonfinite: OnNonFinite = "raise",
) -> Trajectory:
    """Train ``state`` on to ``epochs`` epochs, keeping ``paths`` after every step.

    Args:
        state: the start (e.g. ``TrainState.create(...)``).
        x: ``(n, *in_shape)`` inputs.
        y: targets, as for :func:`funcnn.training.train_epochs`.
        epochs: the total number of epochs when done.
        paths: tree paths of the leaves to keep, e.g. ``["dense_0/b", "dense_0/w"]``.
        validation: as for :func:`funcnn.training.train_epochs`.
        on_nonfinite: as for :func:`funcnn.training.train_epochs`.

    Raises:
        TreeStructureError: a path names no leaf of the params.

    >>> import numpy as np, funcnn as fn
    >>> from funcnn.training import TrainState
    >>> model = fn.Sequential(fn.Dense(1))
    >>> start = TrainState.create(model, fn.init(model, fn.key(0), in_shape=(1,)), loss=fn.MSE(),
    ...                           optimizer=fn.sgd(0.1), key=fn.key(1), batch_size=2)
    >>> path = trajectory(start, np.ones((4, 1)), np.ones((4, 1)), epochs=3, paths=["dense_0/b"])
    >>> path.steps.tolist(), path.params["dense_0/b"].shape, path.cost.shape
    ([0, 1, 2, 3, 4, 5, 6], (7, 1), (6,))
    """
    paths = list(paths)
    rows = [_pick(state.live_params, paths)]
    steps, costs = [state.step], []
    final: TrainState[FloatT] = state
    for final, cost in train_steps(state, x, y, epochs=epochs, validation=validation, on_nonfinite=on_nonfinite):
        if final.stop_reason == "non_finite":
            break
        rows.append(_pick(final.live_params, paths))
        steps.append(final.step)
        costs.append(cost)
    kept: dict[str, NDArray[np.floating]] = {p: _read_only(np.stack([r[i] for r in rows])) for i, p in enumerate(paths)}
    return Trajectory(
        steps=_read_only(np.array(steps, dtype=np.int64)),
        cost=_read_only(np.array(costs, dtype=np.float64)),
        params=kept,
        final=final,
    )
