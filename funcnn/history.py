"""The per-epoch records of a training run: a frozen value of read-only float64 series.

:class:`History` is part of every :class:`~funcnn.training.TrainState` (and
so of every checkpoint); appending an epoch returns a new history.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.tree import FrozenTree

__all__ = ["History"]


def _frozen_floats(values: object) -> NDArray[np.float64]:
    a = np.array(values, dtype=np.float64).reshape(-1)
    a.flags.writeable = False
    return a


def _frozen_series(values: Mapping[str, object]) -> FrozenTree[np.float64]:
    return FrozenTree({name: _frozen_floats(v) for name, v in values.items()})


@attrs.frozen
class History:
    """Per-epoch records of a run; every series is a read-only float64 array, one entry per epoch.

    ``cost`` is each epoch's mean training cost (the running mean over its
    batches, weighted by batch size); ``val_cost`` the validation cost after
    each epoch (empty if the run has no validation data); ``metrics`` maps
    each requested metric to its series, ``"accuracy"`` on the training data
    and ``"val_accuracy"`` on the validation data.
    """

    cost: NDArray[np.float64] = attrs.field(factory=lambda: _frozen_floats([]), converter=_frozen_floats, eq=False)
    val_cost: NDArray[np.float64] = attrs.field(
        factory=lambda: _frozen_floats([]), converter=_frozen_floats, eq=False
    )
    metrics: FrozenTree[np.float64] = attrs.field(factory=FrozenTree, converter=_frozen_series, eq=False)

    def append(
        self, *, cost: float, val_cost: float | None = None, metrics: Mapping[str, float] | None = None
    ) -> History:
        """A new history with one more epoch."""
        series = dict(self.metrics)
        for name, value in (metrics or {}).items():
            old = series.get(name)
            series[name] = np.append(old if old is not None else _frozen_floats([]), value)  # type: ignore[arg-type]
        return History(
            cost=np.append(self.cost, cost),
            val_cost=self.val_cost if val_cost is None else np.append(self.val_cost, val_cost),
            metrics=series,
        )

    def __len__(self) -> int:
        return int(self.cost.shape[0])
