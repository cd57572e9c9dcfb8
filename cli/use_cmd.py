"""``funcnn evaluate``, ``predict``, ``inspect``, ``replay`` and ``datasets``: use what ``train`` wrote.

Inputs are prepared exactly as in training (the run folder's ``preprocess.npz``);
every figure comes from the library (:mod:`funcnn.metrics`, :mod:`funcnn.replaying`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from cli import plots
from cli.common import (
    check_data_option,
    class_names,
    layers_text,
    load_dataset,
    percent,
    run_keys,
    samples_text,
    shape_text,
    split_of,
)
from cli.errors import echo_err, handle_errors, usage_error
from funcnn.checkpoint import checkpoint_info, list_states, load, load_params
from funcnn.config import from_config
from funcnn.datasets import Dataset, describe_builtins
from funcnn.errors import DataError, ShapeError
from funcnn.layers.base import Layer
from funcnn.losses import Loss
from funcnn.metrics import evaluate
from funcnn.network import predict
from funcnn.replaying import replay
from funcnn.runs import (
    Preparation,
    Run,
    atomic_write,
    choose_layout,
    fingerprint,
    load_inputs,
    loss_for_model,
    open_run,
    params_dtype,
    predicted_labels,
    probabilities,
)
from funcnn.training import TrainState
from funcnn.tree import FrozenTree, tree_flatten, tree_size

__all__ = ["run_datasets", "run_evaluate", "run_inspect", "run_predict", "run_replay"]

_CLASSIFIERS = ("categorical_cross_entropy", "binary_cross_entropy")


@attrs.frozen(eq=False)
class _Model:
    """A loaded checkpoint: the model, its params and loss (None: not stored), and the run around it."""

    run: Run
    model: Layer
    params: FrozenTree[Any]
    loss: Loss | None
    state: TrainState[Any] | None
    in_shape: tuple[int, ...]

    @property
    def dtype(self) -> Any:
        """``np.float32`` or ``np.float64``: the params' scalar type."""
        return params_dtype(self.params)


def _load(path: Path) -> _Model:
    run = open_run(path)
    info = checkpoint_info(run.checkpoint)
    if info.content == "train_state":
        state = load(run.checkpoint)
        return _Model(run, state.model, state.params, state.loss, state, info.in_shape)
    model, params = load_params(run.checkpoint)
    loss = None
    if run.config is not None and isinstance(run.config.get("loss"), dict):
        loss = from_config(run.config["loss"])
    return _Model(run, model, params, loss, None, info.in_shape)  # type: ignore[arg-type]


def _loss_for(m: _Model, ds: Dataset) -> Loss:
    """The checkpoint's loss, or for a params-only file the one that fits the model and the data."""
    if m.loss is not None:
        return m.loss
    n_outputs = int(ds.y.shape[1]) if ds.task == "regression" else 1
    loss, _ = loss_for_model(m.model, m.in_shape, ds.task, n_classes=ds.n_classes, n_outputs=n_outputs)
    return loss


def _preparation(m: _Model, raw_shape: tuple[int, ...]) -> Preparation:
    if m.run.preparation is not None:
        return m.run.preparation
    echo_err(f"note: no preprocess.npz beside {m.run.checkpoint}: the inputs are used as they are (not scaled)")
    layout, _ = choose_layout(m.model, raw_shape)
    return Preparation(raw_shape, layout, None)


def _prepared(m: _Model, x: NDArray[Any]) -> NDArray[Any]:
    prep = _preparation(m, tuple(int(d) for d in x.shape[1:]))
    xs = prep.apply(x, m.dtype)
    if tuple(xs.shape[1:]) != m.in_shape:
        raise ShapeError(
            f"the data have samples of shape {tuple(x.shape[1:])}, but the model takes samples of shape "
            f"{m.in_shape}; give data with the same features as the training data"
        )
    return xs


def _data(m: _Model, data: str | None, label_column: str | None, seed: int | None, split: str) -> Dataset:
    """The data set to score: ``--data`` or the run's own, optionally one split of the run's data."""
    cfg = m.run.config
    settings = (cfg or {}).get("settings", {})
    if data is None:
        if cfg is None:
            raise usage_error("--data", f"{m.run.checkpoint} has no config.json beside it naming its data; give --data")
        spec = cfg["data"]["source"]
        label_column = label_column if label_column is not None else settings.get("label_column")
    else:
        check_data_option(data)
        spec = data
    ds = load_dataset(spec, seed=seed if seed is not None else int(settings.get("seed", 0)), label_column=label_column)
    if split == "all":
        return ds
    if cfg is None:
        raise usage_error("--split", "needs the run's config.json; use --split all")
    if fingerprint(ds.x, ds.y) != cfg["data"]["fingerprint"]:
        raise usage_error(
            "--split",
            f"the run's {split} split is part of its own data ({cfg['data']['name']}, "
            f"seed {settings.get('seed')}); these data differ, so use --split all",
        )
    indices = split_of(ds, int(settings["seed"]), float(settings["val_split"]))
    if indices is None:
        raise usage_error("--split", "the run has no validation split (it was trained with --val-split 0)")
    return ds.take(indices[0] if split == "train" else indices[1])


def _check_task(loss: Loss, ds: Dataset) -> None:
    if loss.kind in _CLASSIFIERS and ds.task != "classification":
        raise DataError(f"the model is a classifier ({loss!r}), but the data {ds.name!r} have real-valued targets")
    if loss.kind not in _CLASSIFIERS and ds.task == "classification":
        raise DataError(f"the model predicts real values ({loss!r}), but the data {ds.name!r} hold class labels")


def _errstate() -> Any:
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")


# --- evaluate ------------------------------------------------------------------------------------


def run_evaluate(
    run: Path, *, data: str | None, label_column: str | None, seed: int | None, split: str, as_json: bool
) -> None:
    """The ``evaluate`` command."""
    with handle_errors():
        m = _load(run)
        ds = _data(m, data, label_column, seed, split)
        loss = _loss_for(m, ds)
        _check_task(loss, ds)
        with _errstate():
            report = evaluate(m.model, m.params, _prepared(m, ds.x), ds.y, loss=loss)
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


# --- predict -------------------------------------------------------------------------------------


def run_predict(
    run: Path, input_path: str, *, output: Path | None, proba: bool, label_column: str | None, seed: int | None
) -> None:
    """The ``predict`` command."""
    with handle_errors():
        m = _load(run)
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
        is_cls = loss.kind in _CLASSIFIERS
        if proba and not is_cls:
            raise usage_error("--proba", "the model predicts real values, not classes; leave --proba out")
        with _errstate():
            y = predict(m.model, m.params, _prepared(m, x))
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


# --- inspect -------------------------------------------------------------------------------------


def run_inspect(run: Path, *, as_json: bool) -> None:
    """The ``inspect`` command."""
    with handle_errors():
        m = _load(run)
        info = checkpoint_info(m.run.checkpoint)
        flat = tree_flatten(m.params)
        params = [{"path": p, "shape": list(a.shape), "dtype": str(a.dtype)} for p, a in flat.items()]
        out: dict[str, Any] = {
            "checkpoint": str(m.run.checkpoint),
            "content": info.content,
            "funcnn_version": info.funcnn_version,
            "format_version": info.format_version,
            "model": repr(m.model),
            "in_shape": list(m.in_shape),
            "dtype": info.dtype,
            "parameter_count": tree_size(m.params),
            "parameters": params,
            "loss": repr(m.loss) if m.loss is not None else None,
        }
        s = m.state
        if s is not None:
            h = s.history
            last = {
                "cost": float(h.cost[-1]) if len(h) else None,
                "val_cost": float(h.val_cost[-1]) if len(h.val_cost) else None,
            }
            last.update({k: float(h.metrics.leaf(k)[-1]) for k in h.metrics if len(h.metrics.leaf(k))})
            out.update(
                epoch=s.epoch,
                step=s.step,
                batch_size=s.batch_size,
                optimizer=repr(s.optimizer),
                optimizer_state={"count": s.opt_state.count, "buffers": len(tree_flatten(s.opt_state.buffers))},
                stop_reason=s.stop_reason,
                best_epoch=s.best_epoch,
                last=last,
            )
        if m.run.config is not None:
            out["output"] = m.run.config.get("output")
            out["data"] = {k: m.run.config.get("data", {}).get(k) for k in ("name", "source", "samples", "classes")}
        if as_json:
            print(json.dumps(out, indent=2))
            return
        lines = [
            f"checkpoint  {out['checkpoint']} ({info.content}, funcnn {info.funcnn_version}, "
            f"format {info.format_version})",
            f"model       {layers_text(m.model)}",
            f"input       {samples_text(1, m.in_shape).removeprefix('1 samples of ')} per sample, {info.dtype}",
        ]
        if "output" in out:
            lines.append(f"output      {out['output']}")
        if m.loss is not None:
            lines.append(f"loss        {m.loss!r}")
        if s is not None:
            lines.append(
                f"optimizer   {s.optimizer!r} (state: count {s.opt_state.count}, "
                f"{out['optimizer_state']['buffers']} buffer arrays)"
            )
            lines.append(
                f"progress    epoch {s.epoch}, step {s.step}, batch size {s.batch_size or 'full'}"
                + (f", stopped: {s.stop_reason}" if s.stop_reason else "")
            )
            costs = "  ".join(f"{k} {v:.4f}" for k, v in out["last"].items() if v is not None)
            lines.append(f"last epoch  {costs}")
        if "data" in out:
            d = out["data"]
            origin = "" if d["source"] == d["name"] else f" from {d['source']}"
            lines.append(f"trained on  {d['name']} ({d['samples']} samples){origin}")
        width = max(len(p["path"]) for p in params) if params else 4
        lines.append(f"parameters  {out['parameter_count']} in {len(params)} arrays")
        lines += [f"  {p['path']:<{width}}  {shape_text(p['shape']):>10}  {p['dtype']}" for p in params]
        print("\n".join(lines))


# --- replay --------------------------------------------------------------------------------------


def run_replay(
    run: Path,
    *,
    data: str | None,
    label_column: str | None,
    seed: int | None,
    split: str | None,
    plot: bool,
    as_json: bool,
) -> None:
    """The ``replay`` command."""
    with handle_errors():
        if not run.is_dir():
            raise usage_error("RUN_DIR", f"{str(run)!r} is not a run folder")
        m = _load(run)
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
        ds = _data(m, data, label_column, seed, split)
        loss = _loss_for(m, ds)
        _check_task(loss, ds)
        metric = "accuracy" if loss.kind in _CLASSIFIERS else "rmse"
        with _errstate():
            curve = replay(paths, _prepared(m, ds.x), ds.y, metrics=[metric])
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
                    f"{int(curve.epoch[i]):>6} {int(curve.step[i]):>7} {rec:>11} "
                    f"{float(curve.cost[i]):>9.4f} {shown:>9}"
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


# --- datasets ------------------------------------------------------------------------------------


def run_datasets(*, as_json: bool) -> None:
    """The ``datasets`` command."""
    with handle_errors():
        infos = describe_builtins()
        if as_json:
            print(json.dumps([{**attrs.asdict(i), "shape": list(i.shape)} for i in infos], indent=2))
            return
        lines = [f"{'name':<14} {'samples':>7}  {'sample':<7} {'task':<14} {'classes':>7}  description"]
        for i in infos:
            classes = str(i.n_classes) if i.n_classes is not None else "-"
            lines.append(
                f"{i.name:<14} {i.shape[0]:>7}  {shape_text(i.shape[1:]):<7} {i.task:<14} {classes:>7}  {i.description}"
            )
        lines += ["", "sources:"]
        synthetic = [i.name for i in infos if i.synthetic]
        lines += [f"  {i.name}: {i.source}" for i in infos if not i.synthetic]
        lines.append(f"  {', '.join(synthetic)}: synthetic, drawn from --seed (funcnn.datasets.synthetic)")
        lines.append("use one with: funcnn train --data NAME")
        print("\n".join(lines))
