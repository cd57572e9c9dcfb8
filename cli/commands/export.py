"""``funcnn export``: a run's model as ONNX, safetensors or PyTorch, for use without funcnn."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import handle_errors
from ..options import MaxParamsOption, PluginOption, RunPath
from ..plugins import load_plugins

__all__ = ["export"]

CHECK_SAMPLES = 16  # samples of the run's data that --check runs through the exported model


class ExportFormat(StrEnum):
    onnx = "onnx"
    safetensors = "safetensors"
    torch = "torch"


def export(
    run: RunPath,
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="onnx (a model for onnxruntime and other runtimes), safetensors (the "
                     "params only, named by tree path) or torch (a torch.export program; needs PyTorch)."),
    ] = ExportFormat.onnx,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False, show_default=False,
                     help="The file to write. Default: model.onnx, params.safetensors or model.pt2 in the run folder."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help=f"Run the exported model on {CHECK_SAMPLES} samples of the run's data and "
                     "report the largest difference from funcnn's own prediction (exit 1 if too large)."),
    ] = False,
    preprocessing: Annotated[
        bool,
        typer.Option("--preprocessing/--no-preprocessing", help="onnx: fold the run's input scaling into the graph, "
                     "so the exported model takes unscaled features."),
    ] = True,
    max_params: MaxParamsOption = None,
    plugin: PluginOption = None,
) -> None:
    """Export a trained model to use it where funcnn is not installed.

    \b
    Examples:
      funcnn export runs/digits-20240601-120000 --out digits.onnx --check
      funcnn export runs/digits-20240601-120000 --format safetensors --out params.safetensors
      funcnn export runs/mnist --format torch --out mnist.pt2 --force
    """
    with handle_errors():
        load_plugins(plugin)
        _export(run, fmt, out, force=force, check=check, preprocessing=preprocessing, max_params=max_params)


def _export(
    run: Path,
    fmt: ExportFormat,
    out: Path | None,
    *,
    force: bool,
    check: bool,
    preprocessing: bool,
    max_params: int | None = None,
) -> None:
    import numpy as np

    from funcnn.network import output_shape

    from ..errors import echo_err, fail
    from ..loading import load_model
    from ..rundir import check_output

    m = load_model(run, max_params=max_params)
    folder = m.run.checkpoint.parent
    target = out if out is not None else folder / {"onnx": "model.onnx", "safetensors": "params.safetensors",
                                                    "torch": "model.pt2"}[fmt.value]
    check_output(target, "--out", force=force)
    prep = m.run.preparation
    scaler = prep.scaler if prep is not None and preprocessing and fmt is ExportFormat.onnx else None
    dtype = np.dtype(m.dtype).name
    shape_in = ", ".join(["batch", *map(str, m.in_shape)])
    shape_out = ", ".join(["batch", *map(str, output_shape(m.model, m.in_shape))])
    if fmt is ExportFormat.onnx:
        from funcnn.export import save_onnx

        save_onnx(target, m.model, m.params, m.in_shape, include_preprocessing=scaler)
        scaled = f"; the run's {prep.scale} scaling is folded in: give unscaled features" if scaler is not None and \
            prep is not None else ""
        typer.echo(f"wrote {target} (ONNX): input x ({shape_in}) {dtype} -> output y ({shape_out}) {dtype}{scaled}")
    elif fmt is ExportFormat.safetensors:
        import json

        from funcnn.config import to_config
        from funcnn.export import save_safetensors

        save_safetensors(target, m.params, metadata={"funcnn_model": json.dumps(to_config(m.model)),
                                                     "in_shape": json.dumps(list(m.in_shape))})
        typer.echo(f"wrote {target} (safetensors): {len(_paths(m.params))} tensors named by path "
                   f"({', '.join(_paths(m.params)[:4])}{', ...' if len(_paths(m.params)) > 4 else ''}), {dtype}")
    else:
        _save_torch(target, m)
        chw = _channels_first(m.in_shape)
        typer.echo(f"wrote {target} (torch.export program; torch.export.load(path).module()): input "
                   f"({', '.join(['batch', *map(str, chw)])}) {dtype} (images channels-first) -> "
                   f"output ({shape_out}) {dtype}")
    if not check:
        return
    difference, tolerance = _check(target, fmt, m, scaler)
    line = f"check: largest difference from funcnn's prediction on {CHECK_SAMPLES} samples: {difference:.3g}"
    if difference > tolerance:
        fail(line, f"more than the tolerance {tolerance:g} for {dtype}")
    echo_err(line + " (ok)")


def _paths(params: Any) -> list[str]:
    from funcnn.tree import tree_paths

    return tree_paths(params)


def _channels_first(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


def _save_torch(target: Path, m: Any) -> None:
    import numpy as np

    from funcnn.export import to_torch
    from funcnn.io.atomic import atomic_write

    from ..errors import fail

    try:
        import torch
    except ModuleNotFoundError:
        fail("--format torch needs PyTorch, which funcnn never installs",
             "pip install torch --index-url https://download.pytorch.org/whl/cpu")
    net = to_torch(m.model, m.params, m.in_shape)
    example = torch.from_numpy(np.zeros((2, *_channels_first(m.in_shape)), dtype=m.dtype))
    program = torch.export.export(net, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    atomic_write(target, lambda f: torch.export.save(program, f))


def _check(target: Path, fmt: ExportFormat, m: Any, scaler: Any) -> tuple[float, float]:
    """``(largest difference, tolerance)`` between the exported model and fn.predict on the run's data."""
    import numpy as np

    from funcnn.datasets.inputs import Preparation
    from funcnn.network import predict

    from ..loading import data_to_score, prepared, quiet_errstate

    if fmt is ExportFormat.safetensors:
        from funcnn.export import load_safetensors
        from funcnn.tree import tree_equal

        same = tree_equal(load_safetensors(target, like=m.params), m.params)
        return (0.0 if same else float("inf")), 0.0
    ds = data_to_score(m, None, None, None, "all")
    raw = ds.x[:CHECK_SAMPLES]
    with quiet_errstate():
        want = np.asarray(predict(m.model, m.params, prepared(m, raw)))
    if scaler is not None:  # the graph scales: give it the laid-out but unscaled samples
        prep = m.run.preparation
        x = Preparation(prep.raw_shape, prep.layout, None).apply(raw, m.dtype)
    else:
        x = prepared(m, raw)
    if fmt is ExportFormat.onnx:
        got = _run_onnx(target, x)
    else:
        import torch

        program = torch.export.load(str(target))
        xt = np.array(x.transpose(0, 3, 1, 2) if x.ndim == 4 else x, order="C")  # a writeable copy for torch
        with torch.inference_mode():
            y = program.module()(torch.from_numpy(xt)).numpy()
        got = y.transpose(0, 2, 3, 1) if y.ndim == 4 else y
    scale = max(float(np.max(np.abs(want))), 1.0)
    tolerance = (1e-4 if m.dtype == np.float32 else 1e-9) * scale
    return float(np.max(np.abs(got - want))), tolerance


def _run_onnx(target: Path, x: Any) -> Any:
    import numpy as np
    import onnx
    import onnxruntime as ort  # type: ignore[import-untyped]

    proto = onnx.load(str(target))
    if x.dtype == np.float64 and {n.op_type for n in proto.graph.node} & {"Conv", "AveragePool"}:
        from onnx.reference import ReferenceEvaluator  # onnxruntime's CPU provider lacks these float64 kernels

        return ReferenceEvaluator(proto).run(None, {"x": x})[0]  # type: ignore[index]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]
