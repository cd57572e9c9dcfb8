"""Replay: the curve of cost (and metrics) against epoch, rebuilt from saved states.

:func:`replay` walks the states a run kept (``epoch-0005.npz``, ... see
:func:`funcnn.io.runs.save_every`) in epoch order, loads each one (fully
checked, one at a time) and evaluates it in inference mode on the data you
give: the classic "error against epochs" picture, reproduced from the saved
parameters rather than from logs. Evaluate twice, on training and on held-out
data, to see over-fitting set in.

Each row also carries ``train_cost``: the mean training cost of that epoch as
recorded in the state's history while it trained. The two differ in general
(the recorded cost is a running mean over the epoch's mini-batches, with
dropout on, while the params were still moving), but for full-batch training
without dropout or shuffling the cost of the state saved after epoch ``k`` is
exactly the cost recorded during epoch ``k + 1``.
"""

from __future__ import annotations

import math
import os
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.errors import CheckpointError
from funcnn.io.checkpoint import load
from funcnn.io.container import PathLike
from funcnn.io.layout import list_states
from funcnn.layers.base import Layer
from funcnn.metrics import metric, metric_names
from funcnn.network import predict
from funcnn.training import TrainState

__all__ = ["Curve", "replay"]


def _frozen(values: Sequence[float] | Sequence[int], dtype: type[np.generic]) -> NDArray[Any]:
    a = np.array(values, dtype=dtype).reshape(-1)
    a.flags.writeable = False
    return a


def _frozen_columns(value: Mapping[str, NDArray[np.float64]]) -> Mapping[str, NDArray[np.float64]]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(eq=False)
class Curve:
    """One row per saved state, in epoch order; every column is a read-only array.

    Attributes:
        epoch: ``(n,)`` the epoch count of each state (0 = before training).
        step: ``(n,)`` the optimizer steps taken by then.
        cost: ``(n,)`` the state's loss on the given data, in inference mode.
        train_cost: ``(n,)`` the mean training cost recorded during that epoch
            (NaN for epoch 0).
        metrics: ``{name: (n,)}`` the requested metrics on the given data.
        paths: the state files, in the same order.
    """

    epoch: NDArray[np.int64]
    step: NDArray[np.int64]
    cost: NDArray[np.float64]
    train_cost: NDArray[np.float64]
    metrics: Mapping[str, NDArray[np.float64]] = attrs.field(converter=_frozen_columns)
    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return int(self.epoch.shape[0])

    def to_dict(self) -> dict[str, object]:
        """Plain lists, JSON-able (NaN for a missing training cost)."""
        out: dict[str, object] = {
            "epoch": self.epoch.tolist(),
            "step": self.step.tolist(),
            "cost": self.cost.tolist(),
            "train_cost": self.train_cost.tolist(),
        }
        out.update({name: values.tolist() for name, values in self.metrics.items()})
        out["paths"] = [str(p) for p in self.paths]
        return out


def _recorded_cost(state: TrainState[Any]) -> float:
    history = state.history.cost
    if 1 <= state.epoch <= history.shape[0]:
        return float(history[state.epoch - 1])
    return math.nan


def replay(
    run: PathLike | Sequence[PathLike],
    x: object,
    y: object,
    *,
    metrics: Sequence[str] = (),
    model: Layer | None = None,
    batch_size: int | None = None,
) -> Curve:
    """Evaluate every saved state of a run on ``(x, y)``, in epoch order.

    Args:
        run: a run folder (its ``epoch-NNNN.npz`` files are used) or a list of
            checkpoint files (sorted by their epoch).
        x: ``(n, *in_shape)`` inputs.
        y: ``(n, *out_shape)`` targets, or ``(n,)`` labels for classification.
        metrics: metric names from :mod:`funcnn.metrics` (``"accuracy"``, ``"rmse"``, ...).
        model: the architecture expected; by default the first state's, and
            every later state must have the same one.
        batch_size: rows per inference pass (None: chosen by a memory budget,
            see :func:`~funcnn.network.predict`).

    Returns:
        A :class:`Curve` with one row per state.

    Raises:
        CheckpointError: no states, a bad file, or states of different architectures.

    >>> import tempfile, numpy as np, funcnn as fn
    >>> from funcnn.io.runs import save_every
    >>> from funcnn.training import TrainState, last_state, train_epochs
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = 2.0 * x + 1.0
    >>> model = fn.Sequential(fn.Dense(1))
    >>> start = TrainState.create(model, fn.init(model, fn.key(0), in_shape=(1,)), loss=fn.MSE(),
    ...                           optimizer=fn.sgd(0.05), key=fn.key(1))
    >>> with tempfile.TemporaryDirectory() as run:
    ...     _ = last_state(save_every(train_epochs(start, x, y, epochs=30), run, every=10, in_shape=(1,)))
    ...     curve = replay(run, x, y)
    >>> curve.epoch.tolist(), bool(np.all(np.diff(curve.cost) < 0))
    ([10, 20, 30], True)
    """
    if isinstance(run, str | os.PathLike):
        paths = list_states(run)
        if not paths:
            raise CheckpointError(f"{run}: no epoch-NNNN.npz states in this run folder")
    else:
        paths = [Path(p) for p in run]
        if not paths:
            raise CheckpointError("replay: no checkpoint files given")
    names = metric_names(tuple(metrics)) if metrics else ()
    rows: list[tuple[int, int, float, float, list[float], Path]] = []
    expected = model
    targets = np.asarray(y)
    for path in paths:
        state: TrainState[Any] = load(path, model=expected)
        expected = state.model
        y_pred = predict(state.model, state.params, x, batch_size=batch_size)
        cost, _ = state.loss.value_and_grad(y_pred, state.loss.check_targets(y_pred, targets))
        from_logits = bool(getattr(state.loss, "from_logits", False))
        values = [metric(n, y_pred, targets, from_logits=from_logits) for n in names]
        rows.append((state.epoch, state.step, float(cost), _recorded_cost(state), values, path))
    rows.sort(key=lambda r: r[0])
    return Curve(
        epoch=_frozen([r[0] for r in rows], np.int64),
        step=_frozen([r[1] for r in rows], np.int64),
        cost=_frozen([r[2] for r in rows], np.float64),
        train_cost=_frozen([r[3] for r in rows], np.float64),
        metrics={n: _frozen([r[4][i] for r in rows], np.float64) for i, n in enumerate(names)},
        paths=tuple(r[5] for r in rows),
    )
