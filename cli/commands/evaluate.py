"""``funcnn evaluate``: Score a trained model on data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import handle_errors
from ..options import (
    DataOption,
    JsonOption,
    LabelColumnOption,
    PluginOption,
    RunPath,
    SeedOption,
    SplitChoice,
    SplitOption,
)
from ..plugins import load_plugins

__all__ = ["evaluate"]


def evaluate(
    run: RunPath,
    data: DataOption = None,
    label_column: LabelColumnOption = None,
    seed: SeedOption = None,
    split: SplitOption = SplitChoice.all,
    json_output: JsonOption = False,
    plugin: PluginOption = None,
) -> None:
    """Score a trained model on data: cost, accuracy, confusion matrix and per-class precision/recall/F1.

    For real-valued targets: cost, MSE, RMSE, MAE and R². The inputs are
    prepared (flattened, scaled) exactly as in training.

    \b
    Examples:
      funcnn evaluate runs/spiral-20240601-120000
      funcnn evaluate runs/spiral-20240601-120000 --split val
      funcnn evaluate runs/spiral-20240601-120000 --data spiral --seed 7
      funcnn evaluate runs/cells/epoch-0050.npz --data cells_test.csv --json
    """
    with handle_errors():
        load_plugins(plugin)
        _evaluate(run, data=data, label_column=label_column, seed=seed, split=split.value, as_json=json_output)


def _evaluate(
    run: Path, *, data: str | None, label_column: str | None, seed: int | None, split: str, as_json: bool
) -> None:
    import json

    from funcnn.metrics import evaluate

    from ..common import class_names, percent
    from ..loading import check_task, data_to_score, load_model, loss_for, prepared, quiet_errstate

    m = load_model(run)
    ds = data_to_score(m, data, label_column, seed, split)
    loss = loss_for(m, ds)
    check_task(loss, ds)
    with quiet_errstate():
        report = evaluate(m.model, m.params, prepared(m, ds.x), ds.y, loss=loss)
    names = class_names(m.run.config, report.classes.confusion.shape[0]) if report.classes is not None else []
    header = {
        "checkpoint": str(m.run.checkpoint),
        "epoch": m.state.epoch if m.state is not None else None,
        "data": ds.name,
        "split": split,
    }
    if as_json:
        out = {**header, **report.to_dict()}
        if names:
            out["class_names"] = names
        print(json.dumps(out, indent=2))
        return
    lines = [
        f"checkpoint  {m.run.checkpoint}" + (f" (epoch {m.state.epoch})" if m.state is not None else ""),
        f"data        {ds.name}" + ("" if split == "all" else f", {split} split") + f": {report.samples} samples",
        f"cost        {report.cost:.4f} ({loss.kind.replace('_', ' ')})",
    ]
    for name, value in report.metrics.items():
        shown = percent(value) if name == "accuracy" else f"{value:.4f}"
        lines.append(f"{name.replace('_', ' '):<11} {shown}")
    if report.classes is not None:
        lines += ["", *_class_tables(report.classes, names)]
    print("\n".join(lines))


def _class_tables(classes: Any, names: list[str]) -> list[str]:
    cm = classes.confusion.tolist()
    width = max(6, *(len(n) + 1 for n in names), *(len(str(v)) + 1 for row in cm for v in row))
    label = max(9, *(len(n) for n in names))
    lines = ["confusion matrix (rows: true class, columns: predicted class)"]
    lines.append(" " * label + "".join(f"{n:>{width}}" for n in names))
    lines += [f"{names[i]:<{label}}" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(cm)]
    lines += ["", f"{'class':<{label}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}"]
    p, r, f, s = classes.precision, classes.recall, classes.f1, classes.support
    lines += [f"{names[i]:<{label}} {p[i]:>9.4f} {r[i]:>9.4f} {f[i]:>9.4f} {s[i]:>9}" for i in range(len(names))]
    total = int(s.sum())
    for title, avg in (("macro avg", classes.macro), ("micro avg", classes.micro)):
        lines.append(f"{title:<{label}} {avg['precision']:>9.4f} {avg['recall']:>9.4f} {avg['f1']:>9.4f} {total:>9}")
    return lines
