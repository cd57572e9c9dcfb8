"""``funcnn inspect``: What a checkpoint holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import handle_errors
from ..options import JsonOption, MaxParamsOption, PluginOption, RunPath
from ..plugins import load_plugins

__all__ = ["inspect"]


def inspect(
    run: RunPath, json_output: JsonOption = False, max_params: MaxParamsOption = None, plugin: PluginOption = None
) -> None:
    """Show what a checkpoint holds: model, every parameter's path, shape and dtype, epoch, optimizer, costs.

    \b
    Examples:
      funcnn inspect runs/spiral-20240601-120000
      funcnn inspect runs/spiral-20240601-120000/epoch-0050.npz --json
    """
    with handle_errors():
        load_plugins(plugin)
        _inspect(run, as_json=json_output, max_params=max_params)


def _inspect(run: Path, *, as_json: bool, max_params: int | None = None) -> None:

    from funcnn.io.checkpoint import checkpoint_info
    from funcnn.tree import tree_flatten, tree_size

    from ..common import layers_text, samples_text, shape_text
    from ..loading import load_model

    m = load_model(run, max_params=max_params)
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
    if m.run.schema is not None:
        out["schema"] = m.run.schema.to_json()
    if as_json:
        from ..common import json_text

        print(json_text(out))
        return
    lines = [
        f"checkpoint  {out['checkpoint']} ({info.content}, funcnn {info.funcnn_version}, format {info.format_version})",
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
