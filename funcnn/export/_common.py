"""Pieces shared by the exporters: checking a model against its params, the layer
sites a walk visits, the flatten permutation between layouts, missing extras.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import FloatT, Shape
from funcnn.errors import ExportError, ShapeError, TreeStructureError
from funcnn.layers.base import Layer
from funcnn.network import Sequential, init, output_shape
from funcnn.rng import Key
from funcnn.tree import FrozenTree, assert_same_structure, tree_dtype

__all__ = ["Params", "Site", "check_model", "flatten_order", "missing_extra", "no_rule", "params_dtype", "sublayers"]

# A model's params: one float dtype for the whole tree.
Params: TypeAlias = FrozenTree[np.float32] | FrozenTree[np.float64]


@attrs.frozen
class Site:
    """One layer where an export walk visits it.

    Attributes:
        path: the layer's path in the model (``"head/dense_0"``; ``""`` for the model itself).
        layer: the layer spec.
        params: the layer's own params (an empty tree for param-free layers).
        in_shape: the shape of the layer's input, without the batch axis (channels-last).
    """

    path: str
    layer: Layer
    params: Params
    in_shape: Shape

    def where(self) -> str:
        """``path Layer(...)`` for error messages."""
        return f"{self.path or '<model>'} {self.layer!r}"


def missing_extra(what: str, package: str, extra: str) -> ImportError:
    """The error raised when an optional package is absent: names the pip command."""
    return ImportError(f"{what} needs the optional package {package!r}: pip install 'funcnn[{extra}]'")


def check_model(model: Layer, params: FrozenTree[FloatT], in_shape: Shape, where: str) -> Shape:
    """Check that ``params`` are ``model``'s params on inputs of ``in_shape``; return the output shape.

    Raises:
        ShapeError: ``model`` cannot take inputs of ``in_shape``.
        TreeStructureError: ``params`` do not mirror the params ``init`` builds (paths, shapes, dtypes).
    """
    shape = tuple(int(d) for d in in_shape)
    dtype = tree_dtype(params)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{where}: params must be float32 or float64, got {dtype}")
    try:
        template = init(model, Key(0), in_shape=shape, dtype=dtype.type)
    except ShapeError as e:
        raise ShapeError(f"{where}: the model does not fit in_shape={shape}: {e}") from None
    try:
        assert_same_structure(template, params, names=(f"the model's params on in_shape={shape}", "params"))
    except TreeStructureError as e:
        raise TreeStructureError(f"{where}: {e}") from None
    return output_shape(model, shape)


def params_dtype(params: FrozenTree[FloatT]) -> np.dtype[FloatT]:
    """The params' dtype (float64 for a model without params)."""
    return tree_dtype(params)


def sublayers(site: Site) -> list[Site]:
    """The sites of a Sequential's layers, in order, with their input shapes."""
    layer = site.layer
    assert isinstance(layer, Sequential)
    sites: list[Site] = []
    shape = site.in_shape
    for name, sub in layer.named_layers():
        path = f"{site.path}/{name}" if site.path else name
        sites.append(Site(path, sub, site.params.subtree(name), shape))
        shape = output_shape(sub, shape)
    return sites


def flatten_order(image_shape: Shape) -> NDArray[np.intp]:
    """For an image ``(h, w, c)``: ``order[j]`` is funcnn's flat index of channels-first feature ``j``.

    funcnn flattens channels-last (``(i·w + j)·c + k``); PyTorch and ONNX flatten
    channels-first (``(k·h + i)·w + j``). A Dense layer after the flatten takes
    rows ``w[order]`` in channels-first order.

    >>> flatten_order((1, 2, 3)).tolist()
    [0, 3, 1, 4, 2, 5]
    """
    h, w, c = image_shape
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def no_rule(site: Site, target: str, known: list[str]) -> ExportError:
    """The error for a layer kind without an export rule: names it and how to add one."""
    kind = site.layer.kind
    return ExportError(
        f"{site.where()}: no {target} export rule for layer kind {kind!r}; rules exist for "
        f"{', '.join(sorted(known))}. Pass rules={{{kind!r}: rule}} (see funcnn.export's docs "
        f"on writing a rule), or build the model from layers that have rules"
    )
