"""``funcnn replay``: Every saved state of a run, evaluated in epoch order."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import handle_errors
from ..options import (
    DataOption,
    DelimiterOption,
    HeaderOption,
    JsonOption,
    LabelColumnOption,
    MaxParamsOption,
    PluginOption,
    PrefixOption,
    SeedOption,
    SplitChoice,
    ThreadsOption,
)
from ..plugins import load_plugins
from ..settings import DATA

if TYPE_CHECKING:
    from ..loading import DataChoice

__all__ = ["replay"]


def replay(
    run: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR",
            exists=True,
            file_okay=False,
            help="A run folder trained with --checkpoint-every N.",
            show_default=False,
        ),
    ],
    data: DataOption = None,
    label_column: LabelColumnOption = None,
    header: HeaderOption = None,
    delimiter: DelimiterOption = None,
    prefix: PrefixOption = None,
    seed: SeedOption = None,
    split: Annotated[
        SplitChoice | None,
        typer.Option(
            help="Which samples to use: all, or the run's own train, val or test part. Default: the "
            "validation part when the run has one and --data is not given, else all (as 'evaluate').",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ] = None,
    plot: Annotated[bool, typer.Option(help="Write replay.png into the run folder (needs matplotlib).")] = True,
    json_output: JsonOption = False,
    max_params: MaxParamsOption = None,
    threads: ThreadsOption = None,
    plugin: PluginOption = None,
) -> None:
    """Evaluate every saved state of a run in epoch order: cost and accuracy against epoch.

    The curve is rebuilt from the saved weights (epoch-NNNN.npz), not from
    logs; the recorded training cost of each epoch is shown beside it. By
    default the run's validation split is used.

    \b
    Examples:
      funcnn replay runs/spiral-20240601-120000
      funcnn replay runs/spiral-20240601-120000 --data spiral --seed 1 --split all
    """
    with handle_errors():
        load_plugins(plugin)
        from ..common import thread_limit
        from ..errors import echo_err
        from ..loading import DataChoice

        choice = DataChoice(data, label_column, seed, None if split is None else split.value, header, delimiter, prefix)
        with thread_limit(threads, echo_err):
            _replay(run, choice, plot=plot, as_json=json_output, max_params=max_params)


def _replay(run: Path, choice: DataChoice, *, plot: bool, as_json: bool, max_params: int | None = None) -> None:
    import math

    import numpy as np

    from funcnn.io.layout import list_states
    from funcnn.replaying import replay

    from .. import plots
    from ..common import json_text, percent
    from ..errors import echo_err, usage_error
    from ..loading import CLASSIFIERS, load_scoring, prepared, quiet_errstate

    if not run.is_dir():
        raise usage_error("RUN_DIR", f"{str(run)!r} is not a run folder")
    m, ds, loss, split = load_scoring(run, choice, max_params=max_params)
    paths = list_states(run)
    if not paths:
        echo_err(
            f"note: {run} keeps no epoch-NNNN.npz states (train with --checkpoint-every N); "
            "replaying its latest checkpoint only"
        )
        paths = [m.run.checkpoint]
    metric = "accuracy" if loss.kind in CLASSIFIERS else "rmse"
    y = ds.y
    scale = m.run.schema.target_scale if m.run.schema is not None else None
    if scale is not None:  # the states predict standardised targets: the curve is in those units
        y = scale.scale(np.asarray(y, dtype=np.float64))
        echo_err("note: the run standardised its targets (--scale-target); costs and RMSE are in those units")
    with quiet_errstate():
        curve = replay(paths, prepared(m, ds.x), y, metrics=[metric])
    if as_json:
        print(json_text({"data": ds.name, "split": split, **curve.to_dict()}))
    else:
        where = "" if split == "all" else f", {split} split"
        lines = [
            f"replaying {len(curve)} states of {run} on {ds.name}{where} ({ds.n_samples} samples)",
            f"{'epoch':>6} {'step':>7} {'train cost':>11} {'cost':>9} {metric:>9}",
        ]
        for i in range(len(curve)):
            value = float(curve.metrics[metric][i])
            shown = percent(value) if metric == "accuracy" else f"{value:.4f}"
            recorded = float(curve.train_cost[i])
            rec = "-" if math.isnan(recorded) else f"{recorded:.4f}"
            lines.append(
                f"{int(curve.epoch[i]):>6} {int(curve.step[i]):>7} {rec:>11} {float(curve.cost[i]):>9.4f} {shown:>9}"
            )
        print("\n".join(lines))
    if plot:
        if not plots.available():
            echo_err(f"note: {plots.INSTALL_HINT}")
            return
        try:
            series = {
                "cost": curve.cost.tolist(),
                "train_cost": curve.train_cost.tolist(),
                metric: curve.metrics[metric].tolist(),
            }
            label = f"replayed on {ds.name}" + ("" if split == "all" else f" ({split} split)")
            path = plots.replay_curve(run / "replay.png", curve.epoch.tolist(), series, log_scale=True, label=label)
            echo_err(f"wrote {path}")
        except Exception as e:  # a plot is never worth failing for
            echo_err(f"note: plot skipped: {type(e).__name__}: {e}")
