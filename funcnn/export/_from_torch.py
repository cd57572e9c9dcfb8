"""``from_torch``: a ``torch.nn.Sequential`` of supported modules as a funcnn model and params."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import Shape
from funcnn.errors import ExportError, ShapeError
from funcnn.export._common import Params, check_model, flatten_order
from funcnn.layers import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from funcnn.layers.base import Layer
from funcnn.layers.conv import conv_padding
from funcnn.network import Sequential, output_shape
from funcnn.rng import Key
from funcnn.tree import FrozenTree, freeze

if TYPE_CHECKING:
    import torch

__all__ = ["SUPPORTED", "from_torch"]

SUPPORTED = ("Sequential", "Linear", "Conv2d", "ZeroPad2d (before a Conv2d)", "MaxPool2d", "AvgPool2d", "ReLU",
             "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Identity", "Dropout", "Flatten")


@attrs.frozen
class _State:
    """What the walk carries from one module to the next."""

    shape: Shape  # funcnn's shape of the current value (channels-last), without the batch axis
    order: NDArray[np.intp] | None = attrs.field(default=None, eq=False)  # pending flatten permutation


def _array(t: torch.Tensor) -> NDArray[np.floating]:
    a: NDArray[np.floating] = t.detach().cpu().numpy().copy()
    return a


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _unsupported(module: torch.nn.Module) -> str | None:
    """Why a supported module class has unsupported settings (None if it is fine)."""
    import torch

    if isinstance(module, torch.nn.Conv2d):
        if module.groups != 1 or module.dilation != (1, 1) or module.padding_mode != "zeros":
            return "groups, dilation and non-zero padding modes have no funcnn equivalent"
        if not isinstance(module.padding, str) and module.padding[0] != module.padding[1]:
            return f"padding={module.padding} differs by axis (funcnn pads every side alike)"
    if isinstance(module, torch.nn.MaxPool2d | torch.nn.AvgPool2d):
        if module.padding not in (0, (0, 0)) or module.ceil_mode:
            return "pooling padding and ceil_mode have no funcnn equivalent"
        if isinstance(module, torch.nn.MaxPool2d) and (module.dilation not in (1, (1, 1)) or module.return_indices):
            return "dilation and return_indices have no funcnn equivalent"
        if isinstance(module, torch.nn.AvgPool2d) and module.divisor_override is not None:
            return "divisor_override has no funcnn equivalent"
    if isinstance(module, torch.nn.Flatten) and (module.start_dim != 1 or module.end_dim != -1):
        return "only Flatten(start_dim=1, end_dim=-1) flattens like funcnn"
    if isinstance(module, torch.nn.Softmax) and module.dim not in (1, -1):
        return f"Softmax(dim={module.dim}): funcnn's softmax runs over the channels (last) axis"
    return None


def _problems(seq: torch.nn.Sequential, prefix: str) -> list[str]:
    """Every unsupported module in ``seq`` (recursively), with its position."""
    import torch

    known = (torch.nn.Sequential, torch.nn.Linear, torch.nn.Conv2d, torch.nn.ZeroPad2d, torch.nn.MaxPool2d,
             torch.nn.AvgPool2d, torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.Sigmoid, torch.nn.Tanh,
             torch.nn.Softmax, torch.nn.Identity, torch.nn.Dropout, torch.nn.Flatten)
    problems: list[str] = []
    children = list(seq.named_children())
    for i, (name, module) in enumerate(children):
        where = f"position {i} ({prefix}{name})"
        if type(module) not in known:
            problems.append(f"{where}: {type(module).__name__} is not supported")
        elif isinstance(module, torch.nn.Sequential):
            problems += _problems(module, f"{prefix}{name}.")
        elif isinstance(module, torch.nn.ZeroPad2d):
            after = children[i + 1][1] if i + 1 < len(children) else None
            if not isinstance(after, torch.nn.Conv2d) or after.padding not in ((0, 0), "valid"):
                problems.append(f"{where}: ZeroPad2d is supported only right before a Conv2d without padding")
        elif (why := _unsupported(module)) is not None:
            problems.append(f"{where}: {type(module).__name__}: {why}")
    return problems


def _conv(conv: torch.nn.Conv2d, pad: torch.nn.ZeroPad2d | None, state: _State, name: str | None) -> tuple[
        Layer, dict[str, NDArray[np.floating]]]:
    w = _array(conv.weight).transpose(2, 3, 1, 0).copy()  # (c_out, c_in, kh, kw) -> (kh, kw, c_in, c_out)
    kh, kw, _, c_out = w.shape
    b = _array(conv.bias) if conv.bias is not None else np.zeros(c_out, dtype=w.dtype)
    stride = (int(conv.stride[0]), int(conv.stride[1]))
    padding: str | int
    if pad is not None:
        left, right, top, bottom = pad.padding
        h, w_in = state.shape[0], state.shape[1]
        if (top, bottom) == conv_padding(h, kh, stride[0], "same") and (left, right) == conv_padding(
                w_in, kw, stride[1], "same"):
            padding = "same"
        elif len({left, right, top, bottom}) == 1:
            padding = left
        else:
            raise ExportError(f"from_torch: ZeroPad2d{pad.padding} before {conv} is neither 'same' padding "
                              "nor the same on every side")
    elif isinstance(conv.padding, str):
        padding = conv.padding
    else:
        padding = int(conv.padding[0]) or "valid"
    layer = Conv2D(c_out, (kh, kw), stride=stride, padding=padding, name=name)
    return layer, {"w": w, "b": b}


def _layer(module: torch.nn.Module, state: _State, name: str | None) -> tuple[
        Layer, dict[str, NDArray[np.floating]], NDArray[np.intp] | None]:
    """One param-free or Dense/pool module as a funcnn layer, its params and the new pending order."""
    import torch

    order = state.order
    simple: dict[type, Callable[[], Layer]] = {torch.nn.ReLU: ReLU, torch.nn.Sigmoid: Sigmoid, torch.nn.Tanh: Tanh,
                                               torch.nn.Identity: Identity, torch.nn.Softmax: Softmax}
    if type(module) in simple:
        return simple[type(module)](), {}, order
    if isinstance(module, torch.nn.LeakyReLU):
        return LeakyReLU(module.negative_slope, name=name), {}, order
    if isinstance(module, torch.nn.Dropout):
        return Dropout(module.p, name=name), {}, order
    if isinstance(module, torch.nn.Flatten):
        return Flatten(name=name), {}, flatten_order(state.shape) if len(state.shape) == 3 else order
    if isinstance(module, torch.nn.MaxPool2d | torch.nn.AvgPool2d):
        cls = MaxPool2D if isinstance(module, torch.nn.MaxPool2d) else AvgPool2D
        size, stride = _pair(module.kernel_size), _pair(module.stride)
        return cls(size, stride=None if stride == size else stride, name=name), {}, order
    assert isinstance(module, torch.nn.Linear)
    weight = _array(module.weight)  # (out, in), inputs in torch's order
    w = np.empty_like(weight.T)
    w[order if order is not None else slice(None)] = weight.T  # back to funcnn's row order
    b = _array(module.bias) if module.bias is not None else np.zeros(weight.shape[0], dtype=weight.dtype)
    return Dense(int(weight.shape[0]), name=name), {"w": w, "b": b}, None


def _named(layer: Layer, name: str) -> Layer:
    if isinstance(layer, Sequential):
        return Sequential(*layer.layers, name=name)
    named: Layer = attrs.evolve(layer, name=name)  # type: ignore[misc]  # every layer built here is an attrs class
    return named


def _check_weights(layer: Layer, arrays: dict[str, object], in_shape: Shape) -> None:
    """A Linear's or Conv2d's weights must fit the input they get (its features or channels)."""
    if isinstance(layer, Sequential) or not arrays:
        return
    _, template = layer.init(Key(0), in_shape, np.float64)
    for name, a in arrays.items():
        assert isinstance(a, np.ndarray)
        want = template.leaf(name).shape
        if a.shape != want:
            raise ShapeError(f"on inputs of shape {in_shape}, expected {name} of shape {want}, got {a.shape}")


def _sequential(seq: torch.nn.Sequential, state: _State, name: str | None) -> tuple[
        Sequential, dict[str, object], _State]:
    import torch

    layers: list[Layer] = []
    params: dict[str, object] = {}
    counts: dict[str, int] = {}
    children = list(seq.named_children())
    for i, (child_name, module) in enumerate(children):
        if isinstance(module, torch.nn.ZeroPad2d):
            continue  # folded into the Conv2d after it
        p: dict[str, object]
        if isinstance(module, torch.nn.Sequential):
            sub, p, state_after = _sequential(module, state, None)
            layer: Layer = sub
        elif isinstance(module, torch.nn.Conv2d):
            before = children[i - 1][1] if i else None
            pad = before if isinstance(before, torch.nn.ZeroPad2d) else None
            layer, arrays = _conv(module, pad, state, None)
            p, state_after = dict(arrays), state
        else:
            layer, arrays, order = _layer(module, state, None)
            p, state_after = dict(arrays), attrs.evolve(state, order=order)
        # Keep the torch child's name unless funcnn would give the layer that name anyway.
        auto = f"{layer.kind}_{counts.get(layer.kind, 0)}"
        if child_name != auto and child_name.isidentifier():
            layer = _named(layer, child_name)
            key = child_name
        else:
            counts[layer.kind] = counts.get(layer.kind, 0) + 1
            key = auto
        try:
            shape = output_shape(layer, state.shape)
            _check_weights(layer, p, state.shape)
        except ShapeError as e:
            raise ShapeError(f"from_torch: position {i} ({child_name}) {module}: {e}") from None
        layers.append(layer)
        if p:
            params[key] = p
        state = attrs.evolve(state_after, shape=shape)
    try:
        model = Sequential(*layers, name=name)
    except ValueError as e:
        raise ExportError(f"from_torch: {e}") from None
    return model, params, state


def from_torch(module: torch.nn.Sequential, in_shape: Shape) -> tuple[Sequential, Params]:
    """``(model, params)`` for a ``torch.nn.Sequential`` of supported modules (nesting allowed).

    The inverse of :func:`~funcnn.export.to_torch`: ``in_shape`` is funcnn's
    channels-last sample shape (``(h, w, c)`` for images that torch sees as
    ``(c, h, w)``). Child names that are identifiers become layer names (unless
    they are the automatic ``kind_N`` anyway). Params keep the torch dtype.

    Raises:
        ImportError: torch is not installed.
        ExportError: unsupported modules or settings (each named with its
            position), mixed dtypes, or a model ending with a flattened image.
        ShapeError: the modules do not fit ``in_shape``.
    """
    try:
        import torch
    except ModuleNotFoundError:
        raise ImportError("from_torch needs PyTorch: pip install torch --index-url "
                          "https://download.pytorch.org/whl/cpu") from None
    if not isinstance(module, torch.nn.Sequential):
        raise ExportError(f"from_torch: expected a torch.nn.Sequential, got {type(module).__name__}; wrap it in one")
    problems = _problems(module, "")
    dtypes = sorted({str(p.dtype) for p in module.parameters()})
    if len(dtypes) > 1 or (dtypes and dtypes[0] not in ("torch.float32", "torch.float64")):
        problems.append(f"parameters of dtype {', '.join(dtypes)}: funcnn needs all float32 or all float64")
    if problems:
        raise ExportError("from_torch: " + "; ".join(problems) + f". Supported modules: {', '.join(SUPPORTED)}")
    shape = tuple(int(d) for d in in_shape)
    model, nested, state = _sequential(module, _State(shape), None)
    if state.order is not None:
        raise ExportError("from_torch: the module ends with a flattened image (torch flattens channels-first, "
                          "funcnn channels-last); end it with a Linear layer")
    if dtypes == ["torch.float32"]:
        params32: FrozenTree[np.float32] = freeze(nested)
        check_model(model, params32, shape, "from_torch")
        return model, params32
    params64: FrozenTree[np.float64] = freeze(nested)
    check_model(model, params64, shape, "from_torch")
    return model, params64
