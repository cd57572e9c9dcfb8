"""Plots of a run, drawn with matplotlib when it is installed (the optional ``plot`` extra).

matplotlib is imported only here, only when a plot is drawn, and through its
object-oriented API (a ``Figure`` with the Agg canvas; no pyplot, no global
state, no display needed). Without matplotlib nothing fails: the caller says
once how to install it. Every file is written to a temporary name and then
moved into place.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["INSTALL_HINT", "available", "decision_boundary", "history", "replay_curve", "sweep_heatmap", "sweep_line"]

INSTALL_HINT = "plots skipped: matplotlib is not installed; pip install 'funcnn[plot]' to get them"


def available() -> bool:
    """True if matplotlib can be imported (checked without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def _figure(ncols: int) -> Any:
    from matplotlib.figure import Figure  # type: ignore[import-not-found,unused-ignore]

    return Figure(figsize=(5.0 * ncols, 4.0), layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    import io

    from funcnn.io.atomic import atomic_write

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)  # drawn in memory, then written with the one atomic writer
    return atomic_write(path, buffer.getvalue())


def _finite(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def history(path: Path, columns: Mapping[str, Sequence[float]], *, metric: str, log_scale: bool) -> Path:
    """``history.png``: training (and validation) cost against epoch, and the metric beside it."""
    fig = _figure(2)
    cost_ax, metric_ax = fig.subplots(1, 2)
    epoch = columns["epoch"]
    for name, label in (("cost", "training"), ("val_cost", "validation")):
        if name in columns:
            cost_ax.plot(*_finite(epoch, columns[name]), label=label)
    if log_scale:
        cost_ax.set_yscale("log")
    cost_ax.set(xlabel="epoch", ylabel="cost", title="cost")
    cost_ax.legend()
    for name, label in ((metric, "training"), (f"val_{metric}", "validation")):
        if name in columns:
            metric_ax.plot(*_finite(epoch, columns[name]), label=label)
    metric_ax.set(xlabel="epoch", ylabel=metric, title=metric)
    metric_ax.legend()
    return _save(fig, path)


def decision_boundary(
    path: Path,
    grid: tuple[Any, Any, Any],
    x: Any,
    y: Any,
    class_names: Sequence[str],
) -> Path:
    """``decision_boundary.png``: the predicted class over the plane, with the samples on top."""
    gx, gy, labels = grid
    k = len(class_names)
    fig = _figure(1)
    ax = fig.subplots()
    levels = [c - 0.5 for c in range(k + 1)]
    ax.contourf(gx, gy, labels, levels=levels, cmap="tab10", vmin=0, vmax=9, alpha=0.3)
    for c in range(k):
        members = y == c
        ax.scatter(x[members, 0], x[members, 1], s=10, color=f"C{c}", label=class_names[c], edgecolors="none")
    ax.set(xlabel="x0", ylabel="x1", title="decision boundary")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def replay_curve(
    path: Path, epoch: Sequence[int], series: Mapping[str, Sequence[float]], *, log_scale: bool, label: str
) -> Path:
    """``replay.png``: the replayed cost (and recorded training cost) and the metric against epoch."""
    names = [n for n in series if n not in ("cost", "train_cost")]  # the metrics
    fig = _figure(1 + len(names))
    axes = fig.subplots(1, 1 + len(names), squeeze=False)[0]
    xs = [float(e) for e in epoch]
    axes[0].plot(*_finite(xs, series["cost"]), marker="o", label=label)
    if "train_cost" in series:
        axes[0].plot(*_finite(xs, series["train_cost"]), marker=".", linestyle="--", label="recorded (training)")
    if log_scale:
        axes[0].set_yscale("log")
    axes[0].set(xlabel="epoch", ylabel="cost", title="cost")
    axes[0].legend()
    for ax, name in zip(axes[1:], names, strict=True):
        ax.plot(*_finite(xs, series[name]), marker="o")
        ax.set(xlabel="epoch", ylabel=name, title=name)
    return _save(fig, path)


def _labels(values: Sequence[object]) -> list[str]:
    return [f"{v:g}" if isinstance(v, float) else str(v) for v in values]


def sweep_heatmap(
    path: Path,
    rows: str,
    columns: str,
    row_values: Sequence[object],
    column_values: Sequence[object],
    table: Any,
    metric: str,
) -> Path:
    """``sweep.png``: the metric over two settings of a sweep, one cell per pair of values (NaN cells blank)."""
    fig = _figure(1)
    ax = fig.subplots()
    image = ax.imshow(table, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(column_values)), _labels(column_values))
    ax.set_yticks(range(len(row_values)), _labels(row_values))
    for i in range(len(row_values)):
        for j in range(len(column_values)):
            value = float(table[i, j])
            if math.isfinite(value):
                ax.text(j, i, f"{value:.3g}", ha="center", va="center", color="w", fontsize="small")
    ax.set(xlabel=columns, ylabel=rows, title=metric)
    fig.colorbar(image, ax=ax, label=metric)
    return _save(fig, path)


def sweep_line(
    path: Path, axis: str, values: Sequence[object], means: Sequence[float], errors: Sequence[float], metric: str
) -> Path:
    """``sweep.png``: the metric against one setting of a sweep, with error bars; a log axis for wide ranges."""
    fig = _figure(1)
    ax = fig.subplots()
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    xs: list[float] = [float(v) for v in values] if numeric else [float(i) for i in range(len(values))]  # type: ignore[arg-type]
    ax.errorbar(xs, means, yerr=errors, marker="o", capsize=3)
    if numeric and min(xs) > 0 and max(xs) / min(xs) >= 100:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(xs, _labels(values))
    ax.set(xlabel=axis, ylabel=metric, title=f"{metric} over {axis}")
    return _save(fig, path)
