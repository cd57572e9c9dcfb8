"""funcnn.explain backward-pass maps: saliency, deconvnet, guided backprop, project, activations.

Checked against central finite differences (float64) and against reference
implementations written here as plain loops over one sample: the ReLU rules,
max-pooling's switch routing, and the transposed-filter pass of ``Conv2D``
with stride and padding.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest
from cases import CASES, Case, case_id, make_input
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn import explain
from funcnn.errors import ExplainError
from funcnn.rng import generator

F64 = NDArray[np.float64]


def _contains(model: fn.Layer, kinds: tuple[type, ...]) -> bool:
    if isinstance(model, fn.Sequential):
        return any(_contains(layer, kinds) for layer in model.layers)
    return isinstance(model, kinds)


def _random_params(model: fn.Layer, key: fn.Key, in_shape: tuple[int, ...]) -> fn.FrozenTree[np.float64]:
    """Params with random (non-zero) biases too, so no unit sits at a ReLU kink by construction."""
    params = fn.init(model, key, in_shape=in_shape)
    return fn.tree_map(lambda a: a + 0.1 * generator(fn.fold_in(key, a.size)).standard_normal(a.shape), params)


def finite_difference_saliency(model: fn.Layer, params: fn.FrozenTree[np.float64], x: F64, target: NDArray[np.int64],
                               eps: float = 1e-6) -> F64:
    """Central differences of ``y[n, target[n]]`` for every input element, all in one batch."""
    n, d = x.shape[0], x[0].size
    grads = np.zeros((n, d))
    for i in range(n):
        steps = np.eye(d).reshape(d, *x.shape[1:]) * eps
        plus = fn.predict(model, params, x[i] + steps).reshape(d, -1)[:, target[i]]
        minus = fn.predict(model, params, x[i] - steps).reshape(d, -1)[:, target[i]]
        grads[i] = (plus - minus) / (2 * eps)
    return grads.reshape(x.shape)


CNN = fn.Sequential(
    fn.Conv2D(3, 3, padding="same"), fn.ReLU(), fn.MaxPool2D(2),
    fn.Conv2D(4, 2, stride=2, padding=1), fn.ReLU(), fn.Flatten(), fn.Dense(5), fn.ReLU(), fn.Dense(3),
)  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_saliency_equals_central_differences(case: Case, key: fn.Key) -> None:
    params = _random_params(case.spec, fn.fold_in(key, "params"), case.in_shape)
    x = make_input(case, fn.fold_in(key, "x"), 3)
    size = int(np.prod(fn.output_shape(case.spec, case.in_shape)))
    target = np.arange(3) % size
    got = explain.saliency(case.spec, params, x, target, abs=False)
    np.testing.assert_allclose(got, finite_difference_saliency(case.spec, params, x, target), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(explain.saliency(case.spec, params, x, target), np.abs(got))


def test_saliency_of_a_cnn_equals_central_differences(key: fn.Key) -> None:
    params = _random_params(CNN, key, (8, 8, 2))
    x = generator(fn.fold_in(key, "x")).standard_normal((2, 8, 8, 2))
    target = np.array([0, 2])
    np.testing.assert_allclose(explain.saliency(CNN, params, x, target, abs=False),
                               finite_difference_saliency(CNN, params, x, target), rtol=1e-5, atol=1e-8)


@given(batch=st.integers(1, 4), width=st.integers(1, 6), n_in=st.integers(1, 5), n_out=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_saliency_of_any_mlp_shape_equals_central_differences(batch: int, width: int, n_in: int, n_out: int,
                                                              seed: int) -> None:
    model = fn.Sequential(fn.Dense(width), fn.Tanh(), fn.Dense(n_out), fn.Softmax())
    k = fn.key(seed)
    params = _random_params(model, k, (n_in,))
    x = generator(fn.fold_in(k, "x")).standard_normal((batch, n_in))
    target = np.arange(batch) % n_out
    np.testing.assert_allclose(explain.saliency(model, params, x, target, abs=False),
                               finite_difference_saliency(model, params, x, target), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "case", [c for c in CASES if not _contains(c.spec, (fn.ReLU, fn.MaxPool2D))], ids=case_id
)
def test_without_relu_and_max_pool_deconvnet_and_guided_equal_the_gradient(case: Case, key: fn.Key) -> None:
    params = _random_params(case.spec, key, case.in_shape)
    x = make_input(case, fn.fold_in(key, "x"), 2)
    grad = explain.saliency(case.spec, params, x, 0, abs=False)
    np.testing.assert_array_equal(explain.deconvnet(case.spec, params, x, 0), grad)
    np.testing.assert_array_equal(explain.guided_backprop(case.spec, params, x, 0), grad)


# --- reference implementations: plain loops over one sample -------------------------------------------------


def ref_relu(rule: str, x: F64, dy: F64) -> F64:
    out = np.zeros_like(dy)
    for i in np.ndindex(dy.shape):
        if rule == "gradient":
            out[i] = dy[i] if x[i] > 0 else 0.0
        elif rule == "deconvnet":
            out[i] = dy[i] if dy[i] > 0 else 0.0
        else:
            out[i] = dy[i] if (x[i] > 0 and dy[i] > 0) else 0.0
    return out


def ref_maxpool_back(x: F64, dy: F64, size: int, stride: int) -> F64:
    """Route each dy to the first arg-max (row-major) of its window; x: (h, w, c)."""
    dx = np.zeros_like(x)
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            for c in range(x.shape[2]):
                best = None
                for a in range(size):
                    for b in range(size):
                        v = x[i * stride + a, j * stride + b, c]
                        if best is None or v > best[0]:
                            best = (v, i * stride + a, j * stride + b)
                assert best is not None
                dx[best[1], best[2], c] += dy[i, j, c]
    return dx


def ref_conv_forward(x: F64, w: F64, b: F64, stride: int, pads: tuple[int, int, int, int]) -> F64:
    top, bottom, left, right = pads
    xp = np.zeros((x.shape[0] + top + bottom, x.shape[1] + left + right, x.shape[2]))
    xp[top : top + x.shape[0], left : left + x.shape[1]] = x
    kh, kw, _, c_out = w.shape
    oh, ow = (xp.shape[0] - kh) // stride + 1, (xp.shape[1] - kw) // stride + 1
    y = np.zeros((oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            for o in range(c_out):
                y[i, j, o] = b[o] + np.sum(xp[i * stride : i * stride + kh, j * stride : j * stride + kw] * w[..., o])
    return y


def ref_conv_transpose(dy: F64, w: F64, stride: int, pads: tuple[int, int, int, int], in_hw: tuple[int, int]) -> F64:
    """dx = the transposed filters applied to dy: each dy[i, j, o] spreads w[..., o] over its field."""
    top, bottom, left, right = pads
    kh, kw, c_in, _ = w.shape
    dxp = np.zeros((in_hw[0] + top + bottom, in_hw[1] + left + right, c_in))
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            for o in range(dy.shape[2]):
                for a in range(kh):
                    for b_ in range(kw):
                        for c in range(c_in):
                            dxp[i * stride + a, j * stride + b_, c] += w[a, b_, c, o] * dy[i, j, o]
    return dxp[top : top + in_hw[0], left : left + in_hw[1]]


@pytest.mark.parametrize("rule", ["gradient", "deconvnet", "guided"])
def test_relu_rules_match_the_reference(rule: str, key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(7), fn.ReLU(), fn.Dense(3))
    params = _random_params(model, key, (4,))
    x = generator(fn.fold_in(key, "x")).standard_normal((5, 4))
    method = {"gradient": lambda *a: explain.saliency(*a, abs=False), "deconvnet": explain.deconvnet,
              "guided": explain.guided_backprop}[rule]
    got = method(model, params, x, [0, 1, 2, 0, 1])
    w1, b1, w2 = (fn.tree_get(params, p) for p in ("dense_0/w", "dense_0/b", "dense_1/w"))
    for n, t in enumerate([0, 1, 2, 0, 1]):
        z = np.array([sum(x[n, i] * w1[i, j] for i in range(4)) + b1[j] for j in range(7)])
        dh = np.array([w2[j, t] for j in range(7)])  # d y_t / d relu output
        dz = ref_relu(rule, z, dh)
        dx = np.array([sum(w1[i, j] * dz[j] for j in range(7)) for i in range(4)])
        np.testing.assert_allclose(got[n], dx, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("size", "stride", "hw"), [(2, 2, (6, 4)), (3, 2, (7, 7)), (2, 1, (4, 5)), (2, 2, (5, 5))])
def test_max_pool_routes_through_its_switches(size: int, stride: int, hw: tuple[int, int], key: fn.Key) -> None:
    model = fn.Sequential(fn.MaxPool2D(size, stride=stride), fn.Flatten(), fn.Dense(3))
    params = _random_params(model, key, (*hw, 2))
    x = generator(fn.fold_in(key, "x")).standard_normal((3, *hw, 2))
    x[0, :2, :2, 0] = 1.5  # a tie inside a window: the first maximum takes it all
    oh, ow = (hw[0] - size) // stride + 1, (hw[1] - size) // stride + 1
    w = fn.tree_get(params, "dense_0/w")
    for method in (explain.deconvnet, explain.guided_backprop):
        got = method(model, params, x, 1)
        for n in range(3):
            dy = w[:, 1].reshape(oh, ow, 2)
            np.testing.assert_allclose(got[n], ref_maxpool_back(x[n], dy, size, stride), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "hw", "pads"),
    [(3, 2, 1, (7, 6), (1, 1, 1, 1)), (3, 1, "valid", (5, 5), (0, 0, 0, 0)), (2, 2, "same", (5, 7), (0, 1, 0, 1)),
     (4, 3, 2, (9, 8), (2, 2, 2, 2)), (3, 2, "same", (6, 6), (0, 1, 0, 1))],
)
def test_conv_deconvnet_applies_the_transposed_filters(kernel: int, stride: int, padding: str | int,
                                                       hw: tuple[int, int], pads: tuple[int, int, int, int],
                                                       key: fn.Key) -> None:
    model = fn.Sequential(fn.Conv2D(3, kernel, stride=stride, padding=padding), fn.ReLU(), fn.Flatten(), fn.Dense(2))
    params = _random_params(model, key, (*hw, 2))
    x = generator(fn.fold_in(key, "x")).standard_normal((2, *hw, 2))
    w, b = fn.tree_get(params, "conv2d_0/w"), fn.tree_get(params, "conv2d_0/b")
    dense = fn.tree_get(params, "dense_0/w")
    got = explain.deconvnet(model, params, x, 1)
    guided = explain.guided_backprop(model, params, x, 1)
    for n in range(2):
        z = ref_conv_forward(x[n], w, b, stride, pads)
        conv_out = fn.tree_get(explain.activations(model, params, x[n : n + 1]), "conv2d_0")[0]
        np.testing.assert_allclose(conv_out, z, rtol=1e-12, atol=1e-12)  # the reference geometry is the layer's
        dz = dense[:, 1].reshape(z.shape)
        np.testing.assert_allclose(got[n], ref_conv_transpose(ref_relu("deconvnet", z, dz), w, stride, pads, hw),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(guided[n], ref_conv_transpose(ref_relu("guided", z, dz), w, stride, pads, hw),
                                   rtol=1e-10, atol=1e-12)


def test_cnn_deconvnet_composes_the_references(key: fn.Key) -> None:
    model = fn.Sequential(fn.Conv2D(2, 3, padding=1), fn.ReLU(), fn.MaxPool2D(2), fn.Flatten(), fn.Dense(3))
    params = _random_params(model, key, (6, 6, 1))
    x = generator(fn.fold_in(key, "x")).standard_normal((2, 6, 6, 1))
    w, b = fn.tree_get(params, "conv2d_0/w"), fn.tree_get(params, "conv2d_0/b")
    dense = fn.tree_get(params, "dense_0/w")
    for rule, method in (("deconvnet", explain.deconvnet), ("guided", explain.guided_backprop)):
        got = method(model, params, x, 2)
        for n in range(2):
            z = ref_conv_forward(x[n], w, b, 1, (1, 1, 1, 1))
            r = np.maximum(z, 0.0)
            d_pool = dense[:, 2].reshape(3, 3, 2)
            d_r = ref_maxpool_back(r, d_pool, 2, 2)
            expected = ref_conv_transpose(ref_relu(rule, z, d_r), w, 1, (1, 1, 1, 1), (6, 6))
            np.testing.assert_allclose(got[n], expected, rtol=1e-10, atol=1e-12)


# --- project and activations ------------------------------------------------------------------------------


def test_project_of_a_channel_that_is_zero_everywhere_returns_zeros(key: fn.Key) -> None:
    model = fn.Sequential(fn.Conv2D(3, 3), fn.ReLU(), fn.MaxPool2D(2), fn.Flatten(), fn.Dense(2))
    params = fn.init(model, key, in_shape=(8, 8, 1))
    w = np.array(fn.tree_get(params, "conv2d_0/w"))
    w[..., 1] = 0.0
    params = fn.tree_set(params, "conv2d_0/w", w)  # channel 1 is zero before and after the ReLU
    x = generator(fn.fold_in(key, "x")).standard_normal((3, 8, 8, 1))
    for layer in ("conv2d_0", "relu_0", "max_pool2d_0"):
        out = explain.project(model, params, x, layer, 1, top=4)
        assert out.shape == x.shape and not np.any(out)
    assert np.any(explain.project(model, params, x, "relu_0", 0))


def test_project_keeps_the_top_activations_and_uses_the_deconvnet_rules(key: fn.Key) -> None:
    params = _random_params(CNN, key, (8, 8, 1))
    x = generator(fn.fold_in(key, "x")).standard_normal((3, 8, 8, 1))
    acts = explain.activations(CNN, params, x)
    a = fn.tree_get(acts, "relu_1")  # (3, 2, 2, 4) after the second conv
    for top in (1, 3):
        got = explain.project(CNN, params, x, "relu_1", 2, top=top)
        prefix = fn.Sequential(*CNN.layers[:5])
        sub = fn.freeze({name: params[name] for name in ("conv2d_0", "conv2d_1")})
        for n in range(3):
            flat = a[n, ..., 2].reshape(-1)
            keep = sorted(range(flat.size), key=lambda i: (-flat[i], i))[:top]
            dy = np.zeros((1, *a.shape[1:]))
            for i in keep:
                r, c = np.unravel_index(i, a.shape[1:3])
                dy[0, int(r), int(c), 2] = flat[i]
            # the deconvnet of the prefix seeded with dy, through a linear head that outputs dy·features
            head = fn.Sequential(*prefix.layers, fn.Flatten(), fn.Dense(1, w_init=fn.Constant(0.0), name="probe"))
            hp = fn.freeze({**sub, "probe": {"w": dy.reshape(-1, 1), "b": np.zeros(1)}})
            expected = explain.deconvnet(head, hp, x[n : n + 1], 0)
            np.testing.assert_allclose(got[n : n + 1], expected, rtol=1e-12, atol=1e-14)


def test_activations_are_every_layer_output_keyed_by_path(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Sequential(fn.Dense(3), fn.Tanh(), name="head"), fn.Dense(2))
    params = fn.init(model, key, in_shape=(5,))
    x = generator(fn.fold_in(key, "x")).standard_normal((6, 5))
    acts = explain.activations(model, params, x)
    assert sorted(fn.tree_paths(acts)) == ["dense_0", "dense_1", "head/dense_0", "head/tanh_0", "relu_0"]
    h = np.maximum(x @ fn.tree_get(params, "dense_0/w") + fn.tree_get(params, "dense_0/b"), 0)
    np.testing.assert_allclose(fn.tree_get(acts, "relu_0"), h)
    np.testing.assert_array_equal(fn.tree_get(acts, "dense_1"), fn.predict(model, params, x))
    assert not fn.tree_get(acts, "relu_0").flags.writeable


# --- errors --------------------------------------------------------------------------------------------------


@attrs.frozen
class Square:
    """A layer defined outside funcnn: ``y = x²``."""

    kind: ClassVar[str] = "square"
    uses_key: ClassVar[bool] = False
    name: str | None = None

    def init(self, key: fn.Key, in_shape: tuple[int, ...], dtype: Any) -> tuple[tuple[int, ...], fn.FrozenTree[Any]]:
        return in_shape, fn.FrozenTree()

    def forward(self, params: Any, x: Any, *, key: Any = None, train: bool = False) -> tuple[Any, Any]:
        y = x * x
        y.flags.writeable = False
        return y, fn.freeze({"x": x})

    def backward(self, params: Any, cache: Any, dy: Any, *, need_dx: bool = True) -> tuple[Any, Any]:
        return fn.FrozenTree(), 2 * cache["x"] * dy


def test_a_layer_kind_without_a_rule_is_named(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(3), Square(), fn.Dense(2))
    params = fn.init(model, key, in_shape=(4,))
    x = np.ones((2, 4))
    for method in (explain.deconvnet, explain.guided_backprop):
        with pytest.raises(ExplainError, match=r"square_0 Square\(name=None\).*layer kind 'square'.*use saliency"):
            method(model, params, x, 0)
    with pytest.raises(ExplainError, match="square_0"):
        explain.project(model, params, x, "dense_1", 0)
    assert explain.saliency(model, params, x, 1).shape == (2, 4)  # the plain gradient needs only backward
    assert explain.project(model, params, x, "dense_0", 0).shape == (2, 4)  # the prefix has rules


def test_bad_layer_channel_and_target_are_reported(key: fn.Key) -> None:
    params = fn.init(CNN, key, in_shape=(8, 8, 1))
    x = np.zeros((2, 8, 8, 1))
    with pytest.raises(ExplainError, match=r"layer='conv9'.*'conv2d_0', 'relu_0'"):
        explain.project(CNN, params, x, "conv9", 0)
    with pytest.raises(ExplainError, match=r"conv2d_1: expected a channel in \[0, 4\).*got channel=4"):
        explain.project(CNN, params, x, "conv2d_1", 4)
    with pytest.raises(ExplainError, match=r"target: expected indices in \[0, 3\)"):
        explain.saliency(CNN, params, x, 3)
    with pytest.raises(ExplainError, match=r"one int per sample \(2\), got 3 targets"):
        explain.deconvnet(CNN, params, x, [0, 1, 2])
    with pytest.raises(fn.ShapeError, match="conv2d_0"):
        explain.saliency(CNN, params, np.zeros((2, 8, 8, 3)), 0)


# --- purity and dtype ------------------------------------------------------------------------------------------


def test_maps_are_pure_and_keep_float32(key: fn.Key) -> None:
    params = fn.init(CNN, key, in_shape=(8, 8, 1), dtype=np.float32)
    x = generator(fn.fold_in(key, "x")).standard_normal((3, 8, 8, 1)).astype(np.float32)
    x_before, params_before = x.copy(), copy.deepcopy(fn.thaw(params))
    outs = [
        explain.saliency(CNN, params, x, [0, 1, 2]),
        explain.saliency(CNN, params, x, 1, abs=False),
        explain.deconvnet(CNN, params, x, 1),
        explain.guided_backprop(CNN, params, x, 1),
        explain.project(CNN, params, x, "relu_0", 2, top=3),
    ]
    outs += fn.tree_leaves(explain.activations(CNN, params, x))
    for out in outs:
        assert out.dtype == np.float32 and not out.flags.writeable
    np.testing.assert_array_equal(x, x_before)
    assert fn.tree_equal(params, fn.freeze(params_before))
    again = explain.guided_backprop(CNN, params, x, 1)
    np.testing.assert_array_equal(again, outs[3])  # no hidden state
