"""ONNX export: onnxruntime (or onnx's reference evaluator) agrees with ``fn.predict``.

onnxruntime's CPU provider has no float64 ``Conv`` or ``AveragePool`` kernel;
those graphs keep the standard operators and are checked with
``onnx.reference.ReferenceEvaluator`` instead, at the same tolerance.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, ClassVar

import attrs
import numpy as np
import pytest
from cases import CASES, Case, case_id, make_input
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn.errors import ExportError
from funcnn.export import OnnxGraph, OnnxValue, Site, save_onnx, to_onnx
from funcnn.layers.base import fresh
from funcnn.layers.conv import conv_output_size
from funcnn.tree import FrozenTree

if TYPE_CHECKING:
    import onnx
else:
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install 'funcnn[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install 'funcnn[onnx]'")
from onnx.reference import ReferenceEvaluator  # noqa: E402

# Relative to the output's largest magnitude (values near 0 make element-wise ratios meaningless).
RTOL = {np.float32: 1e-5, np.float64: 1e-10}
NO_ORT_FLOAT64 = {"Conv", "AveragePool"}  # onnxruntime CPU kernels exist for float32 only


def run(proto: onnx.ModelProto, x: NDArray[np.floating]) -> NDArray[np.floating]:
    """The model's output ``y`` on ``x``: onnxruntime, or the reference evaluator where it has no kernel."""
    ops = {n.op_type for n in proto.graph.node}
    if x.dtype == np.float64 and ops & NO_ORT_FLOAT64:
        y = ReferenceEvaluator(proto).run(None, {"x": x})[0]  # type: ignore[index]
    else:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        y = session.run(["y"], {"x": x})[0]
    assert isinstance(y, np.ndarray)
    return y


def relative_error(got: NDArray[np.floating], want: NDArray[np.float32] | NDArray[np.float64]) -> float:
    assert got.shape == want.shape and got.dtype == want.dtype
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))


def check(model: fn.Layer, in_shape: tuple[int, ...], dtype: type[np.floating], key: fn.Key,
          batch: int = 5) -> float:
    params = fn.init(model, fn.fold_in(key, "params"), in_shape=in_shape, dtype=dtype)
    x = make_input(Case(model, in_shape), fn.fold_in(key, "x"), batch, dtype)
    proto = to_onnx(model, params, in_shape, dtype=dtype)
    err = relative_error(run(proto, x), fn.predict(model, params, x))
    assert err <= RTOL[dtype], f"{model!r} {dtype.__name__}: relative error {err:.3g}"
    return err


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_case_matches_predict(case: Case, dtype: type[np.floating], key: fn.Key) -> None:
    check(case.spec, case.in_shape, dtype, key)


CONVS: list[tuple[fn.Layer, tuple[int, ...]]] = [
    (fn.Conv2D(3, 1), (4, 5, 2)),
    (fn.Conv2D(2, 2, padding="same"), (5, 4, 3)),
    (fn.Conv2D(2, 3, stride=2, padding="same"), (7, 6, 1)),
    (fn.Conv2D(4, (2, 3), stride=(1, 2), padding=1), (6, 7, 2)),
    (fn.Conv2D(2, 3, stride=3, padding=2), (8, 8, 3)),
    (fn.Conv2D(3, (3, 1), stride=(2, 1)), (9, 4, 2)),
    (fn.Conv2D(2, 4, stride=2, padding="same"), (6, 6, 1)),
]
POOLS: list[tuple[fn.Layer, tuple[int, ...]]] = [
    (fn.MaxPool2D(2), (5, 5, 2)),
    (fn.MaxPool2D((2, 3), stride=(1, 2)), (6, 7, 1)),
    (fn.AvgPool2D(3, stride=1), (5, 6, 2)),
    (fn.AvgPool2D((3, 2), stride=2), (7, 7, 3)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("layer", "in_shape"), CONVS + POOLS, ids=lambda v: repr(v))
def test_geometries_match_predict(layer: fn.Layer, in_shape: tuple[int, ...], dtype: type[np.floating],
                                  key: fn.Key) -> None:
    check(layer, in_shape, dtype, key)
    # Inside a CNN too: the layer's output is flattened in funcnn's channels-last order.
    check(fn.Sequential(layer, fn.Tanh(), fn.Flatten(), fn.Dense(3), fn.Softmax()), in_shape, dtype, key)


@given(kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from(["valid", "same", 0, 1, 2]), size=st.tuples(st.integers(3, 9), st.integers(3, 9)),
       channels=st.integers(1, 3), pool=st.integers(1, 2))
def test_drawn_conv_and_pool_geometries(kernel: tuple[int, int], stride: tuple[int, int], padding: str | int,
                                        size: tuple[int, int], channels: int, pool: int) -> None:
    conv = fn.Conv2D(2, kernel, stride=stride, padding=padding)
    out = [conv_output_size(n, k, s, padding) for n, k, s in zip(size, kernel, stride, strict=True)]
    assume(min(out) >= pool)
    model = fn.Sequential(conv, fn.MaxPool2D(pool), fn.Flatten(), fn.Dense(2))
    check(model, (*size, channels), np.float32, fn.key(0), batch=3)


def test_cnn_has_one_transpose_in_and_one_before_flatten(key: fn.Key) -> None:
    model = fn.Sequential(fn.Conv2D(4, 3, padding="same"), fn.ReLU(), fn.MaxPool2D(2), fn.Conv2D(4, 3),
                          fn.LeakyReLU(0.1), fn.Softmax(), fn.Dropout(0.5), fn.AvgPool2D(2), fn.Flatten(),
                          fn.Dense(10))
    params = fn.init(model, key, in_shape=(12, 12, 1), dtype=np.float32)
    ops = [n.op_type for n in to_onnx(model, params, (12, 12, 1)).graph.node]
    assert ops == ["Transpose", "Conv", "Relu", "MaxPool", "Conv", "PRelu", "Softmax", "AveragePool",
                   "Transpose", "Flatten", "Gemm"]


def test_transposes_that_cancel_are_removed(key: fn.Key) -> None:
    # A custom rule that wants channels-last, between two convolutions that want channels-first.
    def channels_last_identity(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
        return OnnxValue(graph.channels_last(x, site.path))

    model = fn.Sequential(fn.Conv2D(2, 3), Square(), fn.Conv2D(2, 3))  # type: ignore[arg-type]
    params = fn.init(model, key, in_shape=(7, 7, 1))
    proto = to_onnx(model, params, (7, 7, 1), rules={"square": channels_last_identity})
    assert [n.op_type for n in proto.graph.node] == ["Transpose", "Conv", "Conv", "Transpose"]
    conv_only = fn.Sequential(fn.Conv2D(2, 3), fn.Conv2D(2, 3))
    x = make_input(Case(conv_only, (7, 7, 1)), key, 3)
    assert relative_error(run(proto, x), fn.predict(conv_only, params, x)) <= 1e-10


def test_image_output_is_channels_last_and_mlp_has_no_transpose(key: fn.Key) -> None:
    conv = fn.Conv2D(3, 3)
    proto = to_onnx(conv, fn.init(conv, key, in_shape=(5, 5, 2)), (5, 5, 2))
    assert [n.op_type for n in proto.graph.node] == ["Transpose", "Conv", "Transpose"]
    dims = [d.dim_value or d.dim_param for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 3, 3]
    mlp = fn.Sequential(fn.Dense(4), fn.Sigmoid(), fn.Dense(2))
    proto = to_onnx(mlp, fn.init(mlp, key, in_shape=(3,)), (3,))
    assert "Transpose" not in {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interface_names_dtypes_and_dynamic_batch(dtype: type[np.float32] | type[np.float64], key: fn.Key) -> None:
    model = fn.Sequential(fn.Flatten(), fn.Dense(3))
    elem = {np.float32: onnx.TensorProto.FLOAT, np.float64: onnx.TensorProto.DOUBLE}[dtype]
    if True:
        params = fn.init(model, key, in_shape=(2, 2, 1), dtype=dtype)
        proto = to_onnx(model, params, (2, 2, 1))  # type: ignore[misc]
        (x,), (y,) = proto.graph.input, proto.graph.output
        assert (x.name, y.name) == ("x", "y")
        assert x.type.tensor_type.elem_type == y.type.tensor_type.elem_type == elem
        assert x.type.tensor_type.shape.dim[0].dim_param == "batch"
        for batch in (1, 7):
            xs = np.ones((batch, 2, 2, 1), dtype=dtype)
            np.testing.assert_allclose(run(proto, xs), fn.predict(model, params, xs), rtol=RTOL[dtype])  # type: ignore[arg-type, misc]


def test_param_free_model_gets_an_identity_node() -> None:
    proto = to_onnx(fn.Dropout(0.5), FrozenTree(), (3,))
    assert [(n.op_type, list(n.input), list(n.output)) for n in proto.graph.node] == [("Identity", ["x"], ["y"])]


@pytest.mark.parametrize("scaler", [
    fn.Standardizer(np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 3.0])),
    fn.MinMaxScaler(np.array([0.0, -1.0, 2.0]), np.array([10.0, 1.0, 2.0])),
    fn.MinMaxScaler.from_range(0.0, 255.0),
], ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_preprocessing_is_folded(scaler: fn.Standardizer | fn.MinMaxScaler, dtype: type[np.floating],
                                 key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(4), fn.Tanh(), fn.Dense(2))
    params = fn.init(model, key, in_shape=(3,), dtype=dtype)
    raw = (fn.rng.generator(key).uniform(-5, 20, (6, 3))).astype(dtype)
    proto = to_onnx(model, params, (3,), include_preprocessing=scaler)
    want = fn.predict(model, params, scaler.apply(raw))
    assert relative_error(run(proto, raw), want) <= RTOL[dtype]


def test_preprocessing_shape_must_fit(key: fn.Key) -> None:
    model = fn.Dense(2)
    params = fn.init(model, key, in_shape=(3,))
    with pytest.raises(fn.ShapeError, match=r"in_shape=\(3,\)"):
        to_onnx(model, params, (3,), include_preprocessing=fn.Standardizer(np.zeros(4), np.ones(4)))


@attrs.frozen
class Square:
    """A custom layer (``y = x²``) with no built-in export rule."""

    kind: ClassVar[str] = "square"
    uses_key: ClassVar[bool] = False
    name: str | None = None

    def init(self, key: fn.Key, in_shape: tuple[int, ...], dtype: type[np.floating]) -> tuple[
            tuple[int, ...], FrozenTree[np.float64]]:
        return in_shape, FrozenTree()

    def forward(self, params: FrozenTree[np.float64], x: NDArray[np.float64], *, key: fn.Key | None = None,
                train: bool = False) -> tuple[NDArray[np.float64], FrozenTree[np.float64]]:
        return fresh(x * x), FrozenTree()

    def backward(self, params: FrozenTree[np.float64], cache: FrozenTree[np.float64], dy: NDArray[np.float64],
                 *, need_dx: bool = True) -> tuple[FrozenTree[np.float64], NDArray[np.float64]]:
        raise NotImplementedError("export needs forward only; this test layer is never trained")


def test_unknown_kind_names_the_layer_and_the_fix(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(3), fn.Sequential(fn.ReLU(), Square(), name="block"))  # type: ignore[arg-type]
    params = fn.init(model, key, in_shape=(2,))
    with pytest.raises(ExportError, match=r"block/square_0 .*'square'.*rules=\{'square': rule\}"):
        to_onnx(model, params, (2,))

    def square(graph: OnnxGraph, site: Site, x: OnnxValue) -> OnnxValue:
        return OnnxValue(graph.node("Mul", [x.name, x.name], site.path), x.channels_first)

    proto = to_onnx(model, params, (2,), rules={"square": square})
    x = np.linspace(-1, 1, 8).reshape(4, 2)
    assert relative_error(run(proto, x), fn.predict(model, params, x)) <= 1e-10


def test_bad_in_shape_params_and_opset(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(3), fn.Dense(2))
    params = fn.init(model, key, in_shape=(4,))
    with pytest.raises(fn.ShapeError, match=r"to_onnx: the model does not fit in_shape=\(4, 4\)"):
        to_onnx(model, params, (4, 4))
    with pytest.raises(fn.TreeStructureError, match=r"dense_0/w: expected shape \(5, 3\), got \(4, 3\)"):
        to_onnx(model, params, (5,))
    with pytest.raises(ValueError, match="opset must be an int"):
        to_onnx(model, params, (4,), opset=9)


def test_missing_extra_names_the_install_command(key: fn.Key, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fn.Dense(2)
    params = fn.init(model, key, in_shape=(3,))
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ModuleNotFoundError
    with pytest.raises(ImportError, match=r"pip install 'funcnn\[onnx\]'"):
        to_onnx(model, params, (3,))


def test_save_onnx_writes_a_checked_model(tmp_path: object, key: fn.Key) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    model = fn.Sequential(fn.Conv2D(2, 3), fn.ReLU(), fn.Flatten(), fn.Dense(2))
    params = fn.init(model, key, in_shape=(5, 5, 1), dtype=np.float32)
    path = save_onnx(tmp_path / "sub" / "model.onnx", model, params, (5, 5, 1))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    x = np.ones((2, 5, 5, 1), dtype=np.float32)
    assert relative_error(run(proto, x), fn.predict(model, params, x)) <= RTOL[np.float32]
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no temporary file left
