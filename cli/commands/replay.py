"""``funcnn replay``: Every saved state of a run, evaluated in epoch order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import handle_errors
from ..options import DataOption, JsonOption, LabelColumnOption, PluginOption, SeedOption, SplitChoice
from ..plugins import load_plugins
from ..settings import DATA

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
    seed: SeedOption = None,
    split: Annotated[
        SplitChoice | None,
        typer.Option(
            help="Which samples to use: all, or the run's own training or validation split. Default: the "
            "validation split when the run has one and --data is not given, else all.",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ] = None,
    plot: Annotated[bool, typer.Option(help="Write replay.png into the run folder (needs matplotlib).")] = True,
    json_output: JsonOption = False,
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
        _replay(
            run,
            data=data,
            label_column=label_column,
            seed=seed,
            split=None if split is None else split.value,
            plot=plot,
            as_json=json_output,
        )


def _replay(
    run: Path,
    *,
    data: str | None,
    label_column: str | None,
    seed: int | None,
    split: str | None,
    plot: bool,
    as_json: bool,
) -> None:
    import json
    import math

    from funcnn.io.layout import list_states
    from funcnn.replaying import replay

    from .. import plots
    from ..common import percent
    from ..errors import echo_err, usage_error
    from ..loading import CLASSIFIERS, check_task, data_to_score, load_model, loss_for, prepared, quiet_errstate

    if not run.is_dir():
        raise usage_error("RUN_DIR", f"{str(run)!r} is not a run folder")
    m = load_model(run)
    cfg = m.run.config or {}
    if split is None:
        has_val = bool(cfg.get("split", {}).get("validation"))
        split = "val" if has_val and data is None else "all"
    paths = list_states(run)
    if not paths:
        echo_err(
            f"note: {run} keeps no epoch-NNNN.npz states (train with --checkpoint-every N); "
            "replaying its latest checkpoint only"
        )
        paths = [m.run.checkpoint]
    ds = data_to_score(m, data, label_column, seed, split)
    loss = loss_for(m, ds)
    check_task(loss, ds)
    metric = "accuracy" if loss.kind in CLASSIFIERS else "rmse"
    with quiet_errstate():
        curve = replay(paths, prepared(m, ds.x), ds.y, metrics=[metric])
    if as_json:
        print(json.dumps({"data": ds.name, "split": split, **curve.to_dict()}, indent=2))
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
