"""PyTorch round trip: a funcnn model as an equivalent ``torch.nn.Sequential``, and back.

The torch model is made of PyTorch's own modules, laid out as PyTorch expects:
images are channels-first there, so it takes ``x.transpose(0, 3, 1, 2)`` where
funcnn takes ``x: (batch, h, w, c)``, and its image outputs are channels-first.
Children are named by funcnn's layer names (``dense_0``, ``head``), so the torch
``state_dict`` keys read like funcnn's paths (``head.dense_0.weight``).

Weights are copied exactly: a Dense ``w: (in, out)`` is Linear's ``weight.T``; a
Conv2D kernel ``(kh, kw, c_in, c_out)`` is Conv2d's ``weight.permute(2, 3, 1, 0)``.
funcnn flattens an image channels-last and torch channels-first, so the rows of
the first Dense after a Flatten of an image are permuted to match (and back in
:func:`from_torch`). ``from_torch(to_torch(...))`` returns bit-identical params.

``torch`` is imported only inside these functions; it is never a dependency of
funcnn (install it by hand, CPU-only: see the docs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from funcnn._typing import FloatT, Shape
from funcnn.errors import ExportError
from funcnn.export._common import (
    Site,
    check_model,
    flatten_order,
    no_rule,
    params_dtype,
    sublayers,
)
from funcnn.export._from_torch import from_torch
from funcnn.layers import AvgPool2D, Conv2D, Dense, Dropout, LeakyReLU, MaxPool2D
from funcnn.layers.base import Layer
from funcnn.layers.conv import conv_padding
from funcnn.tree import FrozenTree

if TYPE_CHECKING:
    import torch

__all__ = ["TORCH_RULES", "TorchRule", "from_torch", "to_torch"]

# ``order`` is the pending flatten permutation (see flatten_order), or None.
Order = NDArray[np.intp] | None


class TorchRule(Protocol):
    """Convert one layer: ``(site, order) -> ([(name, module), ...], order)``.

    ``order`` is the permutation pending from a Flatten of an image (None if
    none): a rule for an element-wise layer passes it on; a rule that mixes
    features must use it (as Dense does) and return None.
    """

    def __call__(self, site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]: ...


def _name(site: Site) -> str:
    # The model itself, when it is not a Sequential, gets the name it would have inside one.
    return site.path.rsplit("/", 1)[-1] or site.layer.name or f"{site.layer.kind}_0"


def _tensor(a: NDArray[np.floating]) -> torch.Tensor:
    import torch

    # A writeable C-ordered copy: torch may write to it, and wants contiguous weights.
    return torch.from_numpy(np.array(a, copy=True, order="C"))


def _convert(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    rule = rules.get(site.layer.kind)
    if rule is None:
        raise no_rule(site, "PyTorch", list(rules))
    return rule(site, order, rules)


def _sequential(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    import torch

    children: list[tuple[str, torch.nn.Module]] = []
    for sub in sublayers(site):
        modules, order = _convert(sub, order, rules)
        children += modules
    return [(_name(site), torch.nn.Sequential(OrderedDict(children)))], order


def _simple(make: str) -> TorchRule:
    def rule(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
            list[tuple[str, torch.nn.Module]], Order]:
        import torch

        return [(_name(site), getattr(torch.nn, make)())], order

    return rule


def _leaky_relu(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    import torch

    assert isinstance(site.layer, LeakyReLU)
    return [(_name(site), torch.nn.LeakyReLU(site.layer.alpha))], order


def _dropout(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    import torch

    assert isinstance(site.layer, Dropout)
    return [(_name(site), torch.nn.Dropout(site.layer.rate))], order


def _softmax(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    import torch

    # funcnn's softmax runs over the channels (last) axis: dim 1 of a channels-first image.
    return [(_name(site), torch.nn.Softmax(dim=1 if len(site.in_shape) == 3 else -1))], order


def _flatten(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    import torch

    if len(site.in_shape) == 3:  # an image: torch flattens it channels-first
        order = flatten_order(site.in_shape)
    return [(_name(site), torch.nn.Flatten())], order


def _dense(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    import torch

    assert isinstance(site.layer, Dense)
    w, b = site.params.leaf("w"), site.params.leaf("b")
    if order is not None:
        w = w[order]  # row j of the torch-ordered features is funcnn's row order[j]
    linear = torch.nn.utils.skip_init(  # type: ignore[no-untyped-call,unused-ignore]  # skip_init: no RNG used
        torch.nn.Linear, w.shape[0], w.shape[1], dtype=_dtype(w))
    linear.weight = torch.nn.Parameter(_tensor(w.T))
    linear.bias = torch.nn.Parameter(_tensor(b))
    return [(_name(site), linear)], None


def _conv2d(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    import torch

    layer = site.layer
    assert isinstance(layer, Conv2D)
    w, b = site.params.leaf("w"), site.params.leaf("b")
    kh, kw, c_in, c_out = w.shape
    (sh, sw), name = layer.stride, _name(site)
    pad_h = conv_padding(site.in_shape[0], kh, sh, layer.padding)
    pad_w = conv_padding(site.in_shape[1], kw, sw, layer.padding)
    modules: list[tuple[str, torch.nn.Module]] = []
    if layer.padding == "same" and (layer.stride != (1, 1) or pad_h[0] != pad_h[1] or pad_w[0] != pad_w[1]):
        # torch's padding="same" needs stride 1 (and warns for even kernels): pad explicitly.
        modules.append((f"{name}_pad", torch.nn.ZeroPad2d((pad_w[0], pad_w[1], pad_h[0], pad_h[1]))))
        padding: str | tuple[int, int] = (0, 0)
    else:
        padding = "same" if layer.padding == "same" else (pad_h[0], pad_w[0])
    conv = torch.nn.utils.skip_init(  # type: ignore[no-untyped-call,unused-ignore]
        torch.nn.Conv2d, c_in, c_out, (kh, kw), stride=(sh, sw), padding=padding, dtype=_dtype(w))
    conv.weight = torch.nn.Parameter(_tensor(w.transpose(3, 2, 0, 1)))  # (c_out, c_in, kh, kw)
    conv.bias = torch.nn.Parameter(_tensor(b))
    modules.append((name, conv))
    return modules, order


def _pool(site: Site, order: Order, rules: Mapping[str, TorchRule]) -> tuple[
        list[tuple[str, torch.nn.Module]], Order]:
    import torch

    layer = site.layer
    assert isinstance(layer, MaxPool2D | AvgPool2D)
    cls = torch.nn.MaxPool2d if isinstance(layer, MaxPool2D) else torch.nn.AvgPool2d
    return [(_name(site), cls(layer.size, stride=layer.strides))], order


def _dtype(a: NDArray[np.floating]) -> torch.dtype:
    import torch

    return torch.float32 if a.dtype == np.float32 else torch.float64


TORCH_RULES: Mapping[str, TorchRule] = {
    "sequential": _sequential,
    "dense": _dense,
    "identity": _simple("Identity"),
    "relu": _simple("ReLU"),
    "sigmoid": _simple("Sigmoid"),
    "tanh": _simple("Tanh"),
    "leaky_relu": _leaky_relu,
    "softmax": _softmax,
    "dropout": _dropout,
    "flatten": _flatten,
    "conv2d": _conv2d,
    "max_pool2d": _pool,
    "avg_pool2d": _pool,
}
"""The PyTorch rule of every built-in layer kind (read-only; extend with ``to_torch(..., rules=...)``)."""


def to_torch(
    model: Layer, params: FrozenTree[FloatT], in_shape: Shape, *, rules: Mapping[str, TorchRule] | None = None
) -> torch.nn.Sequential:
    """An equivalent ``torch.nn.Sequential`` holding copies of ``params``, in eval mode.

    Images go in (and come out) channels-first, as torch layers want them:
    ``torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2)))`` equals
    ``fn.predict(model, params, x)`` (transposed back for image outputs).

    Args:
        model: the model (its top level becomes the returned Sequential).
        params: its params (float32 or float64; the torch model has the same dtype).
        in_shape: one sample's shape, without the batch axis (channels-last).
        rules: conversion rules for extra layer kinds, merged over :data:`TORCH_RULES`.

    Raises:
        ImportError: torch is not installed.
        ShapeError, TreeStructureError: ``model`` does not fit ``in_shape`` or ``params``.
        ExportError: a layer kind has no rule, or the model ends with a
            flattened image (its features would come out in another order).
    """
    try:
        import torch
    except ModuleNotFoundError:
        raise ImportError("to_torch needs PyTorch, which funcnn never installs: "
                          "pip install torch --index-url https://download.pytorch.org/whl/cpu") from None
    shape = tuple(int(d) for d in in_shape)
    check_model(model, params, shape, "to_torch")
    params_dtype(params)
    modules, order = _convert(Site("", model, params, shape), None, {**TORCH_RULES, **(rules or {})})
    if order is not None:
        raise ExportError(
            f"to_torch: {model!r} ends with a flattened image, which funcnn flattens channels-last and torch "
            "channels-first; end the model with a Dense layer (or export it to ONNX, which keeps funcnn's order)")
    [(_, module)] = modules
    if not isinstance(module, torch.nn.Sequential):
        module = torch.nn.Sequential(OrderedDict(modules))
    return module.eval()
