"""ONNX export: a funcnn model and its params as an ``onnx.ModelProto``.

The graph is built with the ``onnx`` package's own helpers (``onnx.helper``,
``onnx.numpy_helper``) and checked with ``onnx.checker.check_model``. It has one
input ``x: (batch, *in_shape)`` with a dynamic batch axis and one output ``y``,
both channels-last as everywhere in funcnn, in the params' dtype (float32 or
float64).

Each layer kind is exported by a *rule* from a registry keyed by the layer's
``kind`` (:data:`ONNX_RULES`); a custom layer gets one through ``rules=``. A rule
receives the :class:`OnnxGraph` being built, the layer's :class:`Site` and its
input :class:`OnnxValue`, adds nodes, and returns the output value.

ONNX's ``Conv`` and pooling operators want channels-first tensors. Every value
carries its layout, and a ``Transpose`` is added only where an operator needs the
other one: a run of convolutions, activations and pools stays channels-first, so
two transposes that would cancel are never written. ``Flatten`` goes back to
channels-last first, so features come out in funcnn's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import FloatT, Shape
from funcnn._version import __version__
from funcnn.datasets.prepare import MinMaxScaler, Standardizer
from funcnn.errors import ShapeError
from funcnn.export._common import Site, check_model, missing_extra, no_rule, sublayers
from funcnn.io.atomic import atomic_write
from funcnn.layers import AvgPool2D, Conv2D, Dense, LeakyReLU, MaxPool2D
from funcnn.layers.base import Layer
from funcnn.layers.conv import conv_padding
from funcnn.tree import FrozenTree, tree_leaves

if TYPE_CHECKING:
    import onnx

__all__ = ["ONNX_RULES", "OnnxGraph", "OnnxRule", "OnnxValue", "save_onnx", "to_onnx"]

# The default opset: supported by onnxruntime >= 1.14 and every current runtime.
DEFAULT_OPSET = 17
_MIN_OPSET = 13  # Softmax with a single-axis ``axis`` attribute

_NCHW = (0, 3, 1, 2)  # channels-last -> channels-first
_NHWC = (0, 2, 3, 1)  # channels-first -> channels-last


@attrs.frozen
class OnnxValue:
    """A tensor in the graph: its name, and whether it is an image in channels-first layout."""

    name: str
    channels_first: bool = False


class OnnxRule(Protocol):
    """Export one layer: add its nodes to ``graph`` and return its output value."""

    def __call__(self, graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue: ...


class OnnxGraph:
    """The graph under construction during one :func:`to_onnx` call (rules add to it).

    Names are the layers' paths (``"head/dense_0/w"``), made unique with a suffix.
    """

    def __init__(self, dtype: np.dtype[np.floating], rules: Mapping[str, OnnxRule]) -> None:
        import onnx

        self.dtype = dtype
        self.elem_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
        self.rules = rules
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = {"x", "y"}

    def fresh_name(self, hint: str) -> str:
        """``hint``, or ``hint_1``, ``hint_2``, ... if taken."""
        name, i = hint, 0
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def constant(self, hint: str, value: NDArray[np.floating]) -> str:
        """Add ``value`` (cast to the graph's dtype) as an initializer; return its name."""
        from onnx import numpy_helper

        name = self.fresh_name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=self.dtype), name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], hint: str, **attributes: object) -> str:
        """Add one node with one output (named from ``hint``); return the output's name."""
        from onnx import helper

        out = self.fresh_name(hint)
        node = helper.make_node(op_type, list(inputs), [out], name=out)
        node.attribute.extend(helper.make_attribute(k, v) for k, v in attributes.items())
        self.nodes.append(node)
        return out

    def channels_first(self, x: OnnxValue, hint: str) -> str:
        """``x`` as a channels-first image (a Transpose is added only if it is channels-last)."""
        return x.name if x.channels_first else self.node("Transpose", [x.name], f"{hint}/to_nchw", perm=_NCHW)

    def channels_last(self, x: OnnxValue, hint: str) -> str:
        """``x`` in funcnn's channels-last layout (a Transpose is added only if needed)."""
        return self.node("Transpose", [x.name], f"{hint}/to_nhwc", perm=_NHWC) if x.channels_first else x.name

    def layer(self, site: Site, x: OnnxValue) -> OnnxValue:
        """Export ``site`` with the rule for its kind."""
        rule = self.rules.get(site.layer.kind)
        if rule is None:
            raise no_rule(site, "ONNX", list(self.rules))
        return rule(self, site, x)


# --- the rules --------------------------------------------------------------------------------


def _sequential(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
    for sub in sublayers(site):
        x = graph.layer(sub, x)
    return x


def _passthrough(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
    # Identity, and Dropout at inference: no node at all.
    return x


def _elementwise(op_type: str) -> OnnxRule:
    def rule(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
        return OnnxValue(graph.node(op_type, [x.name], site.path or op_type.lower()), x.channels_first)

    return rule


def _leaky_relu(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
    layer = site.layer
    assert isinstance(layer, LeakyReLU)
    # PRelu with the slope as a tensor of the graph's dtype, not LeakyRelu: LeakyRelu's alpha
    # attribute is a float32, which would round a float64 model's alpha (0.1 -> 0.10000000149).
    hint = site.path or "leaky_relu"
    slope = graph.constant(f"{hint}/alpha", np.array([layer.alpha]))
    return OnnxValue(graph.node("PRelu", [x.name, slope], hint), x.channels_first)


def _softmax(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
    # funcnn's softmax runs over the last (channels-last) axis: axis 1 in channels-first layout.
    axis = 1 if x.channels_first else -1
    return OnnxValue(graph.node("Softmax", [x.name], site.path or "softmax", axis=axis), x.channels_first)


def _flatten(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
    hint = site.path or "flatten"
    return OnnxValue(graph.node("Flatten", [graph.channels_last(x, hint)], hint, axis=1))


def _dense(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
    assert isinstance(site.layer, Dense)
    hint = site.path or "dense"
    w = graph.constant(f"{hint}/w", site.params.leaf("w"))
    b = graph.constant(f"{hint}/b", site.params.leaf("b"))
    return OnnxValue(graph.node("Gemm", [x.name, w, b], hint))  # x @ w + b


def _conv2d(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
    layer = site.layer
    assert isinstance(layer, Conv2D)
    hint = site.path or "conv2d"
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    top, bottom = conv_padding(site.in_shape[0], kh, sh, layer.padding)
    left, right = conv_padding(site.in_shape[1], kw, sw, layer.padding)
    # funcnn's kernel is (kh, kw, c_in, c_out); ONNX's is (c_out, c_in, kh, kw).
    w = graph.constant(f"{hint}/w", site.params.leaf("w").transpose(3, 2, 0, 1))
    b = graph.constant(f"{hint}/b", site.params.leaf("b"))
    y = graph.node("Conv", [graph.channels_first(x, hint), w, b], hint, kernel_shape=[kh, kw],
                   strides=[sh, sw], pads=[top, left, bottom, right])
    return OnnxValue(y, channels_first=True)


def _pool(op_type: str) -> OnnxRule:
    def rule(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
        layer = site.layer
        assert isinstance(layer, MaxPool2D | AvgPool2D)
        hint = site.path or op_type.lower()
        y = graph.node(op_type, [graph.channels_first(x, hint)], hint, kernel_shape=list(layer.size),
                       strides=list(layer.strides))  # no padding, floor: as funcnn's pools
        return OnnxValue(y, channels_first=True)

    return rule


ONNX_RULES: Mapping[str, OnnxRule] = {
    "sequential": _sequential,
    "dense": _dense,
    "identity": _passthrough,
    "dropout": _passthrough,
    "relu": _elementwise("Relu"),
    "leaky_relu": _leaky_relu,
    "sigmoid": _elementwise("Sigmoid"),
    "tanh": _elementwise("Tanh"),
    "softmax": _softmax,
    "flatten": _flatten,
    "conv2d": _conv2d,
    "max_pool2d": _pool("MaxPool"),
    "avg_pool2d": _pool("AveragePool"),
}
"""The export rule of every built-in layer kind (read-only; extend with ``to_onnx(..., rules=...)``)."""


# --- the model --------------------------------------------------------------------------------


def _preprocessing(graph: OnnxGraph, scaler: Standardizer | MinMaxScaler, in_shape: Shape) -> OnnxValue:
    """Nodes computing the scaler's ``apply`` on the raw input ``x``, as it does: subtract, then divide."""
    if isinstance(scaler, Standardizer):
        shift, scale = scaler.mean, scaler.std
    elif isinstance(scaler, MinMaxScaler):
        shift, scale = scaler.low, np.where(scaler.high > scaler.low, scaler.high - scaler.low, 1.0)
    else:
        raise TypeError(f"to_onnx: include_preprocessing must be a Standardizer or MinMaxScaler, got {scaler!r}")
    if shift.shape not in ((), in_shape):
        raise ShapeError(f"to_onnx: {scaler!r} scales features of shape {shift.shape}, but in_shape={in_shape}")
    shifted = graph.node("Sub", ["x", graph.constant("preprocessing/shift", shift)], "preprocessing/sub")
    return OnnxValue(graph.node("Div", [shifted, graph.constant("preprocessing/scale", scale)], "preprocessing/div"))


def _cancel_transposes(graph: OnnxGraph, final: str) -> str:
    """Remove each Transpose that undoes the Transpose feeding it; return the (new) name of the final value.

    The built-in rules never produce such pairs (values carry their layout), but a
    custom rule may ask for channels-last right before a layer that wants channels-first.
    """
    from onnx import helper

    def perm(node: onnx.NodeProto) -> list[int]:
        return [int(p) for a in node.attribute if a.name == "perm" for p in helper.get_attribute_value(a)]

    producer: dict[str, onnx.NodeProto] = {}
    renamed: dict[str, str] = {}
    kept: list[onnx.NodeProto] = []
    for node in graph.nodes:
        inputs = [renamed.get(name, name) for name in node.input]
        del node.input[:]
        node.input.extend(inputs)
        before = producer.get(inputs[0]) if node.op_type == "Transpose" else None
        if before is not None and before.op_type == "Transpose":
            p1, p2 = perm(before), perm(node)
            if len(p1) == len(p2) and all(p1[p2[i]] == i for i in range(len(p2))):
                renamed[node.output[0]] = before.input[0]  # the pair is the identity: skip both
                continue
        producer.update((out, node) for out in node.output)
        kept.append(node)
    final = renamed.get(final, final)
    used = {name for node in kept for name in node.input} | {final}
    graph.nodes[:] = [n for n in kept if n.op_type != "Transpose" or n.output[0] in used]
    return final


def _rename_output(graph: OnnxGraph, old: str) -> None:
    """Give the last value the name ``y`` (an Identity node if it is the input itself)."""
    from onnx import helper

    if old == "x":
        graph.nodes.append(helper.make_node("Identity", ["x"], ["y"], name="y"))
        return
    for node in graph.nodes:
        for seq in (node.input, node.output):
            for i, name in enumerate(seq):
                if name == old:
                    seq[i] = "y"


def to_onnx(
    model: Layer,
    params: FrozenTree[FloatT],
    in_shape: Shape,
    *,
    opset: int = DEFAULT_OPSET,
    include_preprocessing: Standardizer | MinMaxScaler | None = None,
    rules: Mapping[str, OnnxRule] | None = None,
    dtype: type[np.float32] | type[np.float64] | None = None,
) -> onnx.ModelProto:
    """``model`` with ``params`` as a checked ONNX model: input ``x``, output ``y``.

    Args:
        model: the model (any layer; usually a :class:`~funcnn.Sequential`).
        params: its params (float32 or float64: the graph computes in that dtype).
        in_shape: one sample's shape, without the batch axis (channels-last images).
        opset: the ONNX opset (13 to the installed onnx package's latest).
        include_preprocessing: a fitted scaler to fold into the graph, so the
            exported model takes raw features (``x: (batch, *in_shape)``) as the
            scaler's ``apply`` would receive them.
        rules: export rules for extra layer kinds (or to replace built-in ones),
            merged over :data:`ONNX_RULES`.
        dtype: the graph's dtype for a model without params (float64 if None);
            a model with params computes in theirs (a different ``dtype`` is an error).

    Returns:
        The model: ``x: (batch, *in_shape) -> y: (batch, *out_shape)``, batch dynamic.

    Raises:
        ImportError: the ``onnx`` package is missing (``pip install 'funcnn[onnx]'``).
        ShapeError: the model does not fit ``in_shape`` (or the scaler's feature shape).
        TreeStructureError: ``params`` are not the model's params on ``in_shape``.
        ExportError: a layer kind has no rule (its path and the fix are named).

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(3), fn.ReLU(), fn.Dense(2))
    >>> params = fn.init(model, fn.key(0), in_shape=(4,), dtype=np.float32)
    >>> proto = to_onnx(model, params, (4,))
    >>> [n.op_type for n in proto.graph.node], proto.graph.output[0].name
    (['Gemm', 'Relu', 'Gemm'], 'y')
    """
    try:
        import onnx
        from onnx import helper
    except ModuleNotFoundError:
        raise missing_extra("to_onnx", "onnx", "onnx") from None
    latest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not _MIN_OPSET <= opset <= latest:
        raise ValueError(f"to_onnx: opset must be an int in {_MIN_OPSET}..{latest}, got opset={opset!r}")
    shape: Shape = tuple(int(d) for d in in_shape)
    out_shape: Shape = check_model(model, params, shape, "to_onnx")
    leaves = tree_leaves(params)
    graph_dtype: np.dtype[np.floating] = np.dtype(leaves[0].dtype if leaves else (dtype or np.float64))
    if dtype is not None and np.dtype(dtype) != graph_dtype:
        raise TypeError(f"to_onnx: the params are {graph_dtype}, but dtype={np.dtype(dtype).name} was asked for")
    graph = OnnxGraph(graph_dtype, {**ONNX_RULES, **(rules or {})})
    x = OnnxValue("x") if include_preprocessing is None else _preprocessing(graph, include_preprocessing, shape)
    y = graph.layer(Site("", model, params, shape), x)
    _rename_output(graph, _cancel_transposes(graph, graph.channels_last(y, "output")))
    elem = graph.elem_type
    x_dims: list[str | int] = ["batch", *shape]
    y_dims: list[str | int] = ["batch", *out_shape]
    proto = helper.make_model(
        helper.make_graph(
            graph.nodes, "funcnn", [helper.make_tensor_value_info("x", elem, x_dims)],
            [helper.make_tensor_value_info("y", elem, y_dims)], graph.initializers,
            doc_string=repr(model)),
        opset_imports=[helper.make_opsetid("", opset)], producer_name="funcnn", producer_version=__version__)
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save_onnx(
    path: str | Path,
    model: Layer,
    params: FrozenTree[FloatT],
    in_shape: Shape,
    *,
    opset: int = DEFAULT_OPSET,
    include_preprocessing: Standardizer | MinMaxScaler | None = None,
    rules: Mapping[str, OnnxRule] | None = None,
    dtype: type[np.float32] | type[np.float64] | None = None,
) -> Path:
    """Write :func:`to_onnx`'s model to ``path`` atomically (an existing file is replaced); return the path."""
    proto = to_onnx(model, params, in_shape, opset=opset, include_preprocessing=include_preprocessing, rules=rules,
                    dtype=dtype)
    return atomic_write(path, proto.SerializeToString())
