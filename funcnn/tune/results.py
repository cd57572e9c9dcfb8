"""What a trial returns and the frozen results table of a sweep.

A trial function may return a :class:`TrialOutput`, a
:class:`~funcnn.training.TrainState` (its metrics are the history's values at
the epoch whose params it holds, its ``epoch`` the epochs run), a
:class:`~funcnn.tune.CrossValidation` (``val_<name>`` and ``val_<name>_std``
for the held-out cost and every metric) or a plain ``{name: float}``
mapping. :class:`SweepResults` holds one :class:`TrialResult` per trial,
sorted by the monitored metric (best first), failed trials last.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, TypeAlias

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.tune.folds import AnyState, CrossValidation
from funcnn.tune.space import FrozenMap, TrialConfig, Value

__all__ = ["Mode", "Status", "SweepResults", "TrialOutput", "TrialResult", "TrialReturn", "infer_mode"]

Status: TypeAlias = Literal["ok", "failed"]
Mode: TypeAlias = Literal["min", "max"]
_LOWER_IS_BETTER = ("cost", "loss", "mse", "rmse", "mae", "error")


def infer_mode(monitor: str) -> Mode:
    """``"min"`` for costs and errors (a name containing cost, loss, mse, rmse, mae or error), else ``"max"``."""
    return "min" if any(word in monitor for word in _LOWER_IS_BETTER) else "max"


def _float_map(values: Mapping[str, object]) -> Mapping[str, float]:
    out: dict[str, float] = {}
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
            raise TypeError(f"trial metrics: {name!r} must be a number, got {type(v).__name__} {v!r}")
        out[str(name)] = float(v)
    return FrozenMap(out)


@attrs.frozen
class TrialOutput:
    """A trial's metrics, the epochs it ran and (optionally) its final state."""

    metrics: Mapping[str, float] = attrs.field(converter=_float_map)
    epochs: int | None = None
    state: AnyState | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def of(cls, value: TrialReturn) -> TrialOutput:
        """Normalise whatever a trial returned (see the module docstring)."""
        if isinstance(value, TrialOutput):
            return value
        if isinstance(value, CrossValidation):
            metrics: dict[str, float] = {}
            for name, (mean, std) in value.scores().items():
                metrics[f"val_{name}"], metrics[f"val_{name}_std"] = mean, std
            return cls(metrics, value.epochs)
        if isinstance(value, Mapping):
            return cls(value)
        state = value
        h = state.history
        # The params a restored state holds are the best epoch's: report that epoch's values.
        at = (state.best_epoch or state.epoch) - 1 if state.last_params is not None else len(h) - 1
        if at < 0:
            return cls({}, state.epoch, state)
        found: dict[str, float] = {"cost": float(h.cost[at])}
        if len(h.val_cost):
            found["val_cost"] = float(h.val_cost[at])
        found.update({name: float(np.asarray(series)[at]) for name, series in h.metrics.items()})
        return cls(found, state.epoch, state)


TrialReturn: TypeAlias = TrialOutput | AnyState | CrossValidation | Mapping[str, float]


@attrs.frozen
class TrialResult:
    """One row of the results table.

    ``status`` is ``"ok"`` or ``"failed"`` (then ``message`` holds the error:
    its type and text, or why the worker was lost); ``seconds`` is the trial's
    wall time on its worker; ``attempts`` is 2 when a lost worker made the
    sweep run it again. ``state`` is the final training state if the trial
    returned one (not part of ``to_dict``).
    """

    config: TrialConfig
    status: Status
    metrics: Mapping[str, float] = attrs.field(factory=dict, converter=_float_map)
    epochs: int | None = None
    seconds: float = 0.0
    message: str = ""
    attempts: int = 1
    state: AnyState | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def index(self) -> int:
        return self.config.index

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict (non-finite metrics become None)."""
        return {
            "index": self.index,
            "config": self.config.to_dict(),
            "status": self.status,
            "metrics": {k: v if math.isfinite(v) else None for k, v in self.metrics.items()},
            "epochs": self.epochs,
            "seconds": self.seconds,
            "message": self.message,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TrialResult:
        """The inverse of :meth:`to_dict` (``state`` is None)."""
        raw_config = data["config"]
        raw_metrics = data.get("metrics") or {}
        status = data["status"]
        index, epochs = data["index"], data.get("epochs")
        seconds, attempts = data.get("seconds", 0.0), data.get("attempts", 1)
        if (
            not isinstance(raw_config, Mapping)
            or not isinstance(raw_metrics, Mapping)
            or status not in ("ok", "failed")
            or not isinstance(index, int)
            or not isinstance(attempts, int)
            or not isinstance(seconds, int | float)
        ):
            raise ValueError(f"TrialResult.from_dict: malformed record {dict(data)!r}")
        if epochs is not None and not isinstance(epochs, int):
            raise ValueError(f"TrialResult.from_dict: epochs must be an int or null, got {epochs!r}")
        metrics = {str(k): math.nan if v is None else v for k, v in raw_metrics.items()}
        return cls(
            TrialConfig(index, raw_config), status, metrics, epochs, float(seconds), str(data.get("message", "")),
            attempts,
        )  # fmt: skip


def _sort_key(row: TrialResult, monitor: str, mode: Mode) -> tuple[int, float, int]:
    if row.status != "ok":
        return (2, 0.0, row.index)
    value = row.metrics.get(monitor, math.nan)
    if not math.isfinite(value):
        return (1, 0.0, row.index)
    return (0, value if mode == "min" else -value, row.index)


@attrs.frozen(repr=False)
class SweepResults:
    """The frozen results table: rows sorted by ``monitor`` (best first), failed trials last.

    Rows without a finite monitored value come after the scored ones; ties
    and failed trials keep the trial order.
    """

    rows: tuple[TrialResult, ...]
    monitor: str
    mode: Mode

    @classmethod
    def build(cls, rows: Sequence[TrialResult], monitor: str, mode: Mode | None = None) -> SweepResults:
        m: Mode = infer_mode(monitor) if mode is None else mode
        if m not in ("min", "max"):
            raise ValueError(f"sweep: mode must be 'min' or 'max', got mode={m!r}")
        return cls(tuple(sorted(rows, key=lambda r: _sort_key(r, monitor, m))), monitor, m)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> TrialResult:
        return self.rows[i]

    def __iter__(self) -> Iterator[TrialResult]:
        return iter(self.rows)

    @property
    def ok(self) -> tuple[TrialResult, ...]:
        return tuple(r for r in self.rows if r.status == "ok")

    @property
    def failed(self) -> tuple[TrialResult, ...]:
        return tuple(r for r in self.rows if r.status != "ok")

    @property
    def best(self) -> TrialResult:
        """The best trial by the monitored metric."""
        if not self.rows or _sort_key(self.rows[0], self.monitor, self.mode)[0] != 0:
            raise LookupError(f"sweep: no trial finished with a finite {self.monitor!r} ({len(self.failed)} failed)")
        return self.rows[0]

    def by_index(self, index: int) -> TrialResult:
        for r in self.rows:
            if r.index == index:
                return r
        raise KeyError(f"sweep: no trial {index}; trials are {sorted(r.index for r in self.rows)}")

    def axes(self) -> tuple[str, ...]:
        """The setting names, in the order they first appear (by trial index)."""
        names: dict[str, None] = {}
        for r in sorted(self.rows, key=lambda r: r.index):
            names.update(dict.fromkeys(r.config))
        return tuple(names)

    def records(self) -> list[dict[str, object]]:
        """One flat dict per row (settings, metrics, epochs, seconds, status...), e.g. for a CSV."""
        metric_names: dict[str, None] = {}
        for r in self.rows:
            metric_names.update(dict.fromkeys(r.metrics))
        out = []
        for r in self.rows:
            row: dict[str, object] = {"index": r.index, "status": r.status}
            row.update(r.config.to_dict())
            row.update({m: r.metrics.get(m) for m in metric_names})
            row.update({"epochs": r.epochs, "seconds": r.seconds, "attempts": r.attempts, "message": r.message})
            out.append(row)
        return out

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict: monitor, mode and every row's :meth:`TrialResult.to_dict`."""
        return {"monitor": self.monitor, "mode": self.mode, "trials": [r.to_dict() for r in self.rows]}

    def pivot(
        self, rows: str, columns: str, metric: str | None = None
    ) -> tuple[tuple[Value, ...], tuple[Value, ...], NDArray[np.float64]]:
        """A 2-D table of ``metric`` (default: the monitored one) over two settings, e.g. for a heat map.

        Returns ``(row_values, column_values, table)`` with ``table[i, j]`` the
        metric of the trial with ``rows == row_values[i]`` and ``columns ==
        column_values[j]`` (values in trial order; NaN where a trial failed or is
        missing). If several trials share a cell (a third setting varies), their
        mean is shown.
        """
        name = self.monitor if metric is None else metric
        for axis in (rows, columns):
            if axis not in self.axes():
                raise KeyError(f"sweep: no setting {axis!r}; settings are {list(self.axes())}")
        ordered = sorted(self.rows, key=lambda r: r.index)
        row_values = tuple(dict.fromkeys(r.config[rows] for r in ordered if rows in r.config))
        col_values = tuple(dict.fromkeys(r.config[columns] for r in ordered if columns in r.config))
        sums = np.zeros((len(row_values), len(col_values)))
        counts = np.zeros_like(sums)
        for r in ordered:
            value = r.metrics.get(name, math.nan) if r.status == "ok" else math.nan
            if rows in r.config and columns in r.config and math.isfinite(value):
                i, j = row_values.index(r.config[rows]), col_values.index(r.config[columns])
                sums[i, j] += value
                counts[i, j] += 1
        table = np.full_like(sums, math.nan)
        np.divide(sums, counts, out=table, where=counts > 0)
        table.flags.writeable = False
        return row_values, col_values, table

    def __str__(self) -> str:
        axes = self.axes()
        metric_names = list(dict.fromkeys(m for r in self.rows for m in r.metrics))
        header = ["trial", *axes, *metric_names, "epochs", "seconds", "status"]
        lines = [header]
        for r in self.rows:
            cells = [str(r.index), *(str(r.config.get(a, "")) for a in axes)]
            cells += [f"{r.metrics[m]:.4g}" if m in r.metrics else "" for m in metric_names]
            cells += ["" if r.epochs is None else str(r.epochs), f"{r.seconds:.2f}"]
            cells.append(r.status if r.status == "ok" else f"failed: {r.message}")
            lines.append(cells)
        widths = [max(len(row[i]) for row in lines) for i in range(len(header) - 1)]
        return "\n".join(
            "  ".join([*(c.rjust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]]) for row in lines
        )

    def __repr__(self) -> str:
        best = f", best=trial {self.rows[0].index}" if self.rows and self.rows[0].status == "ok" else ""
        return (
            f"SweepResults(trials={len(self.rows)}, failed={len(self.failed)}, "
            f"monitor={self.monitor!r}, mode={self.mode!r}{best})"
        )
