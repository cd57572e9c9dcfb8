"""``funcnn predict``: Predictions for new samples, as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import handle_errors
from ..options import (
    DelimiterOption,
    HeaderOption,
    LabelColumnOption,
    MaxParamsOption,
    PluginOption,
    PrefixOption,
    RunPath,
    SeedOption,
    ThreadsOption,
)
from ..plugins import load_plugins

if TYPE_CHECKING:
    from ..loading import DataChoice

__all__ = ["predict"]


def predict(
    run: RunPath,
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="Samples in any form training reads: a CSV file (columns matched to the training data's by "
            "header name; a label column is ignored), an .npz file with an array x, IDX images or a folder of "
            "IDX files, or a built-in data set.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="Write the CSV here instead of to stdout.", show_default=False
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --output file if it exists (never a run's own file).")
    ] = False,
    proba: Annotated[bool, typer.Option("--proba", help="Class probabilities instead of class labels.")] = False,
    label_column: LabelColumnOption = None,
    header: HeaderOption = None,
    delimiter: DelimiterOption = None,
    prefix: PrefixOption = None,
    seed: SeedOption = None,
    max_params: MaxParamsOption = None,
    threads: ThreadsOption = None,
    plugin: PluginOption = None,
) -> None:
    """Predict for new samples: class labels, class probabilities (--proba), or values, as CSV.

    Inputs are read through the run's schema: CSV columns by header name, in
    any order (a file without a header must hold the features, or the
    training file's columns). Class names and regression units are the
    training data's.

    \b
    Examples:
      funcnn predict runs/spiral-20240601-120000 points.csv
      funcnn predict runs/spiral-20240601-120000 points.csv --proba --output proba.csv
      funcnn predict runs/digits-20240601-120000 digits
      funcnn predict runs/mnist-20240601-120000 mnist/ --prefix t10k
    """
    with handle_errors():
        load_plugins(plugin)
        if output is not None:
            from ..rundir import check_output

            check_output(output, "--output", force=force)
        from ..common import thread_limit
        from ..errors import echo_err
        from ..loading import DataChoice

        choice = DataChoice(input_path, label_column, seed, None, header, delimiter, prefix)
        with thread_limit(threads, echo_err):
            _predict(run, choice, output=output, proba=proba, max_params=max_params)


def _predict(
    run: Path, choice: DataChoice, *, output: Path | None, proba: bool, max_params: int | None = None
) -> None:
    """Predict for ``choice.data`` (the INPUT argument), read through the run's schema, as CSV."""
    import csv
    import io
    import sys

    import attrs
    import numpy as np

    from funcnn.datasets import Schema
    from funcnn.datasets.inputs import load_inputs
    from funcnn.heads import loss_for_model
    from funcnn.io.atomic import atomic_write
    from funcnn.losses import is_classifier
    from funcnn.metrics import predicted_labels, probabilities
    from funcnn.network import predict

    from ..common import check_data_option, class_names, run_keys
    from ..errors import echo_err, usage_error
    from ..loading import load_model, prepared, quiet_errstate

    assert choice.data is not None
    m = load_model(run, max_params=max_params)
    cfg = m.run.config or {}
    check_data_option(choice.data, "INPUT")
    schema = m.run.schema
    if schema is None:  # a lone checkpoint: all it knows is the sample shape
        raw_shape = m.run.preparation.raw_shape if m.run.preparation is not None else m.in_shape
        schema = Schema(features=None, feature_shape=raw_shape, task="regression")
    if choice.label_column is not None:
        schema = attrs.evolve(schema, target=choice.label_column)
    used_seed = choice.seed if choice.seed is not None else int(cfg.get("settings", {}).get("seed", 0))
    x = load_inputs(choice.data, schema, key=run_keys(used_seed).data, **choice.read())
    loss = m.loss
    if loss is None:
        loss, _ = loss_for_model(
            m.model,
            m.in_shape,
            schema.task if m.run.schema is not None else cfg.get("data", {}).get("task", "classification"),
            n_classes=schema.n_classes or cfg.get("data", {}).get("classes") or 2,
            n_outputs=int(schema.outputs or cfg.get("data", {}).get("outputs") or 1),
        )
    is_cls = is_classifier(loss)
    if proba and not is_cls:
        raise usage_error("--proba", "the model predicts real values, not classes; leave --proba out")
    with quiet_errstate():
        y = predict(m.model, m.params, prepared(m, x))
    rows: list[list[str]]
    names = list(schema.class_names) if schema.class_names is not None else None
    if is_cls and proba:
        p = probabilities(loss, y)
        shown = names if names is not None and len(names) == p.shape[1] else class_names(cfg, p.shape[1])
        header = [f"p_{n}" for n in shown]
        rows = [[str(v) for v in row] for row in p]  # numpy's shortest digits that give back the same float32
    elif is_cls:
        labels = predicted_labels(loss, y)
        named = names is not None and names != [str(i) for i in range(len(names))]
        if named and names is not None and int(labels.max(initial=0)) < len(names):
            header = ["label", "class"]
            rows = [[str(int(c)), names[int(c)]] for c in labels]
        else:
            header = ["label"]
            rows = [[str(int(c))] for c in labels]
    else:
        values = np.asarray(y)
        if schema.target_scale is not None:  # trained on standardised targets: back to the original units
            values = schema.target_scale.unscale(values.astype(np.float64))
        target = schema.target if schema.target is not None and values.shape[1] == 1 else None
        header = [target or "y"] if values.shape[1] == 1 else [f"y{i}" for i in range(values.shape[1])]
        rows = [[str(v) for v in row] for row in values]  # shortest digits that give back the value in its dtype
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write(output, buffer.getvalue().encode("utf-8"))
        echo_err(f"wrote {len(rows)} predictions to {output}")
