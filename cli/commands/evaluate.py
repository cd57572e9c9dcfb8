"""``funcnn evaluate``: Score a trained model on data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    RunPath,
    SeedOption,
    SplitOption,
    ThreadsOption,
)
from ..plugins import load_plugins

if TYPE_CHECKING:
    from ..loading import DataChoice

__all__ = ["evaluate"]


def evaluate(
    run: RunPath,
    data: DataOption = None,
    label_column: LabelColumnOption = None,
    header: HeaderOption = None,
    delimiter: DelimiterOption = None,
    prefix: PrefixOption = None,
    seed: SeedOption = None,
    split: SplitOption = None,
    json_output: JsonOption = False,
    threads: ThreadsOption = None,
    max_params: MaxParamsOption = None,
    plugin: PluginOption = None,
) -> None:
    """Score a trained model on data: cost, accuracy, confusion matrix and per-class precision/recall/F1.

    For real-valued targets: cost, MSE, RMSE, MAE and R² (in the targets' own
    units). By default the run's validation part is scored, as 'replay' does.
    Other data are read through the run's schema: CSV columns are matched by
    header name, labels by class name. The inputs are prepared (flattened,
    scaled) exactly as in training.

    \b
    Examples:
      funcnn evaluate runs/spiral-20240601-120000
      funcnn evaluate runs/spiral-20240601-120000 --split all
      funcnn evaluate runs/spiral-20240601-120000 --data spiral --seed 7
      funcnn evaluate runs/cells/epoch-0050.npz --data cells_test.csv --json
    """
    with handle_errors():
        load_plugins(plugin)
        from ..common import thread_limit
        from ..errors import echo_err
        from ..loading import DataChoice

        choice = DataChoice(data, label_column, seed, None if split is None else split.value, header, delimiter, prefix)
        with thread_limit(threads, echo_err):
            _evaluate(run, choice, as_json=json_output, max_params=max_params)


def _evaluate(run: Path, choice: DataChoice, *, as_json: bool, max_params: int | None = None) -> None:
    import numpy as np

    from funcnn.evaluation import Report, evaluate
    from funcnn.losses import is_classifier
    from funcnn.metrics import metric

    from ..common import json_text, percent
    from ..loading import load_scoring, prepared, quiet_errstate

    m, ds, loss, split = load_scoring(run, choice, max_params=max_params)
    schema = m.run.schema
    names: list[str] = []
    with quiet_errstate():
        x = prepared(m, ds.x)
        scale = schema.target_scale if schema is not None else None
        if scale is not None:  # trained on standardised targets: score in the targets' own units
            y_scaled = scale.scale(np.asarray(ds.y, dtype=np.float64))
            scaled = evaluate(m.model, m.params, x, y_scaled, loss=loss)
            from funcnn.network import predict

            y_pred = scale.unscale(np.asarray(predict(m.model, m.params, x), dtype=np.float64))
            values = {n: metric(n, y_pred, ds.y) for n in scaled.metrics}
            report = Report(scaled.samples, scaled.loss, scaled.cost, values, None)
        else:
            if is_classifier(loss):
                k = schema.n_classes if schema is not None else None
                names = _class_names(m, ds, k)
            report = evaluate(m.model, m.params, x, ds.y, loss=loss, class_names=names or None)
    header = {
        "checkpoint": str(m.run.checkpoint),
        "epoch": m.state.epoch if m.state is not None else None,
        "data": ds.name,
        "split": split,
    }
    if as_json:
        print(json_text({**header, **report.to_dict()}))
        return
    lines = [
        f"checkpoint  {m.run.checkpoint}" + (f" (epoch {m.state.epoch})" if m.state is not None else ""),
        f"data        {ds.name}" + ("" if split == "all" else f", {split} split") + f": {report.samples} samples",
        f"cost        {report.cost:.4f} ({loss.kind.replace('_', ' ')}"
        + (", on standardised targets)" if scale is not None else ")"),
    ]
    for name, value in report.metrics.items():
        shown = percent(value) if name == "accuracy" else f"{value:.4f}"
        lines.append(f"{name.replace('_', ' '):<11} {shown}")
    if report.classes is not None:
        lines += ["", str(report.classes)]
    print("\n".join(lines))


def _class_names(m: Any, ds: Any, k: int | None) -> list[str]:
    """The model's class names (the run's schema, else the data's), one per class the model knows."""
    from ..common import class_names

    schema = m.run.schema
    if schema is not None and schema.class_names is not None:
        return list(schema.class_names)
    n = k if k is not None else (ds.n_classes or 0)
    if ds.class_names is not None and len(ds.class_names) == n:
        return list(ds.class_names)
    return class_names(m.run.config, n) if n else []
