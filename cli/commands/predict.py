"""``funcnn predict``: Predictions for new samples, as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import handle_errors
from ..options import LabelColumnOption, PluginOption, RunPath, SeedOption
from ..plugins import load_plugins

__all__ = ["predict"]


def predict(
    run: RunPath,
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="A CSV file of samples (features only, or with the label column, which is ignored), an .npz "
            "file with an array x, or a built-in data set.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="Write the CSV here instead of to stdout.", show_default=False
        ),
    ] = None,
    proba: Annotated[bool, typer.Option("--proba", help="Class probabilities instead of class labels.")] = False,
    label_column: LabelColumnOption = None,
    seed: SeedOption = None,
    plugin: PluginOption = None,
) -> None:
    """Predict for new samples: class labels, class probabilities (--proba), or values, as CSV.

    \b
    Examples:
      funcnn predict runs/spiral-20240601-120000 points.csv
      funcnn predict runs/spiral-20240601-120000 points.csv --proba --output proba.csv
      funcnn predict runs/digits-20240601-120000 digits
    """
    with handle_errors():
        load_plugins(plugin)
        _predict(run, input_path, output=output, proba=proba, label_column=label_column, seed=seed)


def _predict(
    run: Path, input_path: str, *, output: Path | None, proba: bool, label_column: str | None, seed: int | None
) -> None:
    import csv
    import io
    import sys

    from funcnn.datasets.inputs import load_inputs
    from funcnn.heads import loss_for_model
    from funcnn.io.atomic import atomic_write
    from funcnn.metrics import predicted_labels, probabilities
    from funcnn.network import predict

    from ..common import class_names, run_keys
    from ..errors import echo_err, usage_error
    from ..loading import CLASSIFIERS, load_model, prepared, quiet_errstate

    m = load_model(run)
    cfg = m.run.config or {}
    raw_shape = tuple(cfg.get("data", {}).get("feature_shape") or ()) or None
    if raw_shape is None:
        raw_shape = m.run.preparation.raw_shape if m.run.preparation is not None else m.in_shape
    column: int | str | None = label_column
    if label_column is not None and label_column.lstrip("-").isdigit():
        column = int(label_column)
    used_seed = seed if seed is not None else int(cfg.get("settings", {}).get("seed", 0))
    x = load_inputs(input_path, tuple(raw_shape), key=run_keys(used_seed).data, label_column=column)
    loss = m.loss
    if loss is None:
        task = cfg.get("data", {}).get("task", "classification")
        loss, _ = loss_for_model(
            m.model,
            m.in_shape,
            task,
            n_classes=cfg.get("data", {}).get("classes") or 2,
            n_outputs=int(cfg.get("data", {}).get("outputs") or 1),
        )
    is_cls = loss.kind in CLASSIFIERS
    if proba and not is_cls:
        raise usage_error("--proba", "the model predicts real values, not classes; leave --proba out")
    with quiet_errstate():
        y = predict(m.model, m.params, prepared(m, x))
    rows: list[list[str]]
    if is_cls and proba:
        p = probabilities(loss, y)
        names = class_names(cfg, p.shape[1])
        header = [f"p_{n}" for n in names]
        rows = [[str(v) for v in row] for row in p]
    elif is_cls:
        labels = predicted_labels(loss, y)
        stored = cfg.get("data", {}).get("class_names")
        named = isinstance(stored, list) and stored != [str(i) for i in range(len(stored))]
        if named and isinstance(stored, list) and int(labels.max(initial=0)) < len(stored):
            header = ["label", "class"]
            rows = [[str(int(c)), str(stored[int(c)])] for c in labels]
        else:
            header = ["label"]
            rows = [[str(int(c))] for c in labels]
    else:
        header = ["y"] if y.shape[1] == 1 else [f"y{i}" for i in range(y.shape[1])]
        rows = [[str(v) for v in row] for row in y]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write(output, buffer.getvalue().encode("utf-8"))
        echo_err(f"wrote {len(rows)} predictions to {output}")
