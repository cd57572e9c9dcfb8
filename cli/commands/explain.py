"""``funcnn explain``: Look inside a trained network: saliency, deconvnet, guided backprop, occlusion, filters."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import handle_errors
from ..options import DataOption, LabelColumnOption, MaxParamsOption, PluginOption, RunPath, SeedOption
from ..plugins import load_plugins

__all__ = ["explain"]

MAPS = "Maps"


class Method(StrEnum):
    saliency = "saliency"
    deconvnet = "deconvnet"
    guided = "guided"
    occlusion = "occlusion"


def explain(
    run: RunPath,
    data: DataOption = None,
    samples: Annotated[
        str, typer.Option(help="Comma-separated indices of the samples to explain.", rich_help_panel=MAPS)
    ] = "0,1,2,3",
    method: Annotated[
        list[Method] | None,
        typer.Option(help="saliency, deconvnet, guided (guided backprop) or occlusion; repeat for several. "
                     "Default: saliency, unless --filters or --top is given.", show_default=False,
                     rich_help_panel=MAPS),
    ] = None,
    target: Annotated[
        int | None,
        typer.Option(min=0, help="The output (class) to explain. Default: each sample's predicted class.",
                     show_default=False, rich_help_panel=MAPS),
    ] = None,
    window: Annotated[int, typer.Option(min=1, help="Occlusion: the side of the grey square.",
                                        rich_help_panel=MAPS)] = 4,
    stride: Annotated[int, typer.Option(min=1, help="Occlusion: the step between squares.",
                                        rich_help_panel=MAPS)] = 2,
    filters: Annotated[
        bool, typer.Option("--filters", help="Draw the first layer's filters and every layer's feature maps of the "
                           "first sample.")
    ] = False,
    top: Annotated[
        str | None,
        typer.Option(metavar="LAYER:CHANNEL", help="Draw the data's k strongest activations of one channel "
                     "(e.g. relu_1:3): their input patches and deconvnet projections.", show_default=False),
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="How many activations --top shows.")] = 9,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", file_okay=False, help="Folder for the PNG figures and .npz arrays. "
                     "Default: RUN/explain.", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace figures and arrays already in --out.")] = False,
    label_column: LabelColumnOption = None,
    seed: SeedOption = None,
    max_params: MaxParamsOption = None,
    plugin: PluginOption = None,
) -> None:
    """Explain a trained model's outputs: saliency, deconvnet, guided-backprop and occlusion maps, filters, top patches.

    Each method writes METHOD.png (per sample: the input, the map, the map over
    the input) and METHOD.npz (the inputs as the model sees them, the maps,
    the targets). Without matplotlib only the .npz files are written.

    \b
    Examples:
      funcnn explain runs/mnist-cnn --samples 0,1,2 --method saliency --method occlusion
      funcnn explain runs/mnist-cnn --data mnist/ --method guided --target 3 --out figures
      funcnn explain runs/mnist-cnn --filters
      funcnn explain runs/mnist-cnn --top relu_1:3 -k 16
    """
    with handle_errors():
        load_plugins(plugin)
        methods = list(dict.fromkeys(method or ([] if filters or top else [Method.saliency])))
        _explain(run, data=data, samples=samples, methods=methods, target=target, window=window, stride=stride,
                 filters=filters, top=top, k=k, out=out, label_column=label_column, seed=seed,
                 max_params=max_params, force=force)


def _indices(samples: str, n: int) -> list[int]:
    from ..errors import usage_error

    try:
        idx = [int(s) for s in samples.split(",") if s.strip()]
    except ValueError:
        raise usage_error("--samples", f"expected comma-separated integers such as 0,1,2, got {samples!r}") from None
    bad = [i for i in idx if not 0 <= i < n]
    if not idx or bad:
        raise usage_error("--samples", f"expected indices in [0, {n}) (the data has {n} samples), got {samples!r}")
    return idx


def _explain(run: Path, *, data: str | None, samples: str, methods: list[Method], target: int | None, window: int,
             stride: int, filters: bool, top: str | None, k: int, out: Path | None, label_column: str | None,
             seed: int | None, max_params: int | None = None, force: bool = False) -> None:
    import numpy as np

    from funcnn import explain as ex
    from funcnn.network import predict
    from funcnn.tree import tree_flatten

    from .. import plots
    from ..errors import echo_err, usage_error
    from ..loading import data_to_score, load_model, prepared, quiet_errstate
    from ..rundir import check_output

    m = load_model(run, max_params=max_params)
    folder = out if out is not None else (m.run.folder or m.run.checkpoint.parent) / "explain"
    layer, channel = "", 0
    if top is not None:
        layer, _, ch = top.rpartition(":")
        if not layer or not ch.isdigit():
            raise usage_error("--top", f"expected LAYER:CHANNEL such as relu_1:3, got {top!r}")
        channel = int(ch)
    ds = data_to_score(m, data, label_column, seed, "all")
    idx = _indices(samples, ds.n_samples)
    draw = plots.available()
    stem = f"top_{layer.replace('/', '-')}_{channel}"
    for path in _planned(folder, [str(name) for name in methods], filters, stem if top is not None else None, draw):
        check_output(path, "--out", force=force)  # before anything is computed or written
    if not draw:
        echo_err(plots.INSTALL_HINT)
    written: list[Path] = []
    with quiet_errstate():
        x = prepared(m, ds.x[idx])
        if target is None:
            targets = np.argmax(predict(m.model, m.params, x).reshape(len(idx), -1), axis=1)
        else:
            targets = np.full(len(idx), target)
        for name in methods:
            if name is Method.occlusion:
                maps = ex.occlusion(m.model, m.params, x, targets, window=window, stride=stride)
            else:
                fn_ = {Method.saliency: ex.saliency, Method.deconvnet: ex.deconvnet, Method.guided: ex.guided_backprop}
                maps = fn_[name](m.model, m.params, x, targets)
            written.append(_npz(folder / f"{name}.npz", x=x, map=maps, target=targets, samples=np.array(idx)))
            if draw:
                written.append(_maps_png(folder / f"{name}.png", x, maps, idx, targets, str(name)))
        if filters:
            acts = ex.activations(m.model, m.params, x[:1])
            written.append(_npz(folder / "activations.npz", **tree_flatten(acts)))
            if draw:
                written += _filters_png(folder, m.params, acts, idx[0])
        if top is not None:
            found = ex.top_activations(m.model, m.params, prepared(m, ds.x), layer, channel, k=k)
            written.append(_npz(folder / f"{stem}.npz", index=found.index, position=found.position,
                                value=found.value, field=found.field, patches=found.patches,
                                projections=found.projections))
            if draw:
                written.append(_top_png(folder / f"{stem}.png", found, top))
    for path in written:
        print(path)


def _planned(folder: Path, methods: list[str], filters: bool, top_stem: str | None, draw: bool) -> list[Path]:
    """The files an explain command writes (each method's .npz and .png, the filters', the top activations')."""
    exts = ("npz", "png") if draw else ("npz",)
    names = [f"{name}.{ext}" for name in methods for ext in exts]
    if filters:
        names += ["activations.npz"] + (["filters.png", "feature_maps.png"] if draw else [])
    if top_stem is not None:
        names += [f"{top_stem}.{ext}" for ext in exts]
    return [folder / name for name in names]


def _npz(path: Path, **arrays: Any) -> Path:
    import io

    import numpy as np

    from funcnn.io.atomic import atomic_write

    buffer = io.BytesIO()
    np.savez(buffer, **{name.replace("/", "."): a for name, a in arrays.items()})
    return atomic_write(path, buffer.getvalue())


def _image(a: Any) -> Any:
    """One sample as a 2-D picture: channels averaged; a square feature vector folded into a square."""
    import math

    import numpy as np

    if a.ndim == 3:
        return a.mean(axis=2)
    if a.ndim == 1 and math.isqrt(a.size) ** 2 == a.size:
        return a.reshape(math.isqrt(a.size), -1)
    return np.atleast_2d(a.reshape(a.shape[0], -1) if a.ndim > 1 else a)


def _png(fig: Any, path: Path) -> Path:
    import io

    from funcnn.io.atomic import atomic_write

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)  # drawn in memory, then written with the one atomic writer
    return atomic_write(path, buffer.getvalue())


def _figure(rows: int, cols: int) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # type: ignore[import-not-found,unused-ignore]

    fig = Figure(figsize=(1.6 * cols, 1.6 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def _signed(ax: Any, a: Any, title: str = "") -> None:
    lim = float(abs(a).max()) or 1.0
    ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(title, fontsize=7)


def _maps_png(path: Path, x: Any, maps: Any, idx: list[int], targets: Any, method: str) -> Path:
    fig, axes = _figure(len(idx), 3)
    for r, i in enumerate(idx):
        img, mp = _image(x[r]), _image(maps[r])
        axes[r, 0].imshow(img, cmap="gray")
        axes[r, 0].set_title(f"sample {i}, target {int(targets[r])}", fontsize=7)
        _signed(axes[r, 1], mp, method)
        axes[r, 2].imshow(img, cmap="gray")
        lim = float(abs(mp).max()) or 1.0
        axes[r, 2].imshow(mp, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.6)
        axes[r, 2].set_title("overlay", fontsize=7)
    return _png(fig, path)


def _filters_png(folder: Path, params: Any, acts: Any, sample: int) -> list[Path]:
    from funcnn.tree import tree_flatten

    written = []
    weights = [a for p, a in tree_flatten(params).items() if p.endswith("/w")]
    if weights:
        w = weights[0]  # the first layer with weights: (kh, kw, c_in, c_out) or (in, out)
        units = w.shape[-1]
        cols = min(units, 8)
        fig, axes = _figure(-(-units // cols), cols)
        for u in range(units):
            tile = w[..., u].mean(axis=2) if w.ndim == 4 else _image(w[:, u])
            _signed(axes.flat[u], tile, f"filter {u}")
        written.append(_png(fig, folder / "filters.png"))
    maps = {p: a[0] for p, a in tree_flatten(acts).items() if a.ndim == 4}
    if maps:
        fig, axes = _figure(len(maps), 8)
        for r, (p, a) in enumerate(maps.items()):
            for c in range(min(8, a.shape[-1])):
                axes[r, c].imshow(a[:, :, c], cmap="gray")
                axes[r, c].set_title(f"{p}:{c}", fontsize=6)
        fig.suptitle(f"feature maps of sample {sample}", fontsize=8)
        written.append(_png(fig, folder / "feature_maps.png"))
    return written


def _top_png(path: Path, found: Any, top: str) -> Path:
    n = found.value.size
    fig, axes = _figure(2, n)
    for i in range(n):
        axes[0, i].imshow(_image(found.patches[i]), cmap="gray")
        axes[0, i].set_title(f"#{int(found.index[i])}: {float(found.value[i]):.2f}", fontsize=6)
        _signed(axes[1, i], _image(found.projections[i]), "projection")
    fig.suptitle(f"{top}: strongest activations (patch, deconvnet projection)", fontsize=8)
    return _png(fig, path)
