"""dtype policy: float64 by default; float32 stays float32 end to end."""

from __future__ import annotations

import numpy as np
import pytest
from cases import CASES, Case, case_id, make_input

import funcnn as fn
from funcnn._typing import FloatT

DTYPES = [np.float32, np.float64]


def assert_tree_dtype(tree: fn.FrozenTree[FloatT], dtype: type[np.floating]) -> None:
    for path, a in fn.tree_flatten(tree).items():
        assert a.dtype == dtype, path


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_layers_keep_the_dtype_through_forward_and_backward(case: Case, dtype: type[np.floating], key: fn.Key) -> None:
    params = fn.init(case.spec, key, in_shape=case.in_shape, dtype=dtype)
    assert_tree_dtype(params, dtype)
    x = make_input(case, key, 3, dtype)
    for train in (False, True):
        y, cache = fn.forward(case.spec, params, x, key=key, train=train)
        assert y.dtype == dtype
        assert_tree_dtype(cache, dtype)
        grads, dx = fn.backward(case.spec, params, cache, np.ones_like(y))
        assert_tree_dtype(grads, dtype)
        assert dx.dtype == dtype
    assert fn.predict(case.spec, params, x).dtype == dtype


def test_float64_is_the_default(key: fn.Key) -> None:
    params = fn.init(fn.Dense(2), key, in_shape=(3,))
    assert_tree_dtype(params, np.float64)
    assert fn.predict(fn.Dense(2), params, np.ones((1, 3), np.float32)).dtype == np.float64


def test_inputs_are_cast_to_float32_params(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(3), fn.Sigmoid())
    params = fn.init(model, key, in_shape=(2,), dtype=np.float32)
    for x in (np.ones((2, 2)), [[1, 2], [3, 4]], np.ones((2, 2), np.int64)):
        y, cache = fn.forward(model, params, x)
        assert y.dtype == np.float32
        grads, _ = fn.backward(model, params, cache, np.ones((2, 3)))  # type: ignore[misc]  # float64 dy: cast too
        assert_tree_dtype(grads, np.float32)


@pytest.mark.parametrize(
    ("spec", "t"),
    [
        (fn.MSE(), np.full((4, 3), 0.5)),
        (fn.BinaryCrossEntropy(), np.ones((4, 3))),
        (fn.BinaryCrossEntropy(from_logits=True), np.ones((4, 3))),
        (fn.CategoricalCrossEntropy(), np.array([0, 2, 1, 1])),
        (fn.CategoricalCrossEntropy(from_logits=True), np.eye(3)[[0, 2, 1, 1]]),
    ],
    ids=repr,
)
def test_losses_keep_float32(spec: fn.Loss, t: np.ndarray) -> None:
    y = np.linspace(0.1, 0.9, 12, dtype=np.float32).reshape(4, 3)
    cost64, dy64 = fn.loss(spec, y.astype(np.float64), t)
    cost, dy = fn.loss(spec, y, t)  # float64 targets must not upcast
    assert type(cost) is float
    assert dy.dtype == np.float32
    assert cost == pytest.approx(cost64, rel=1e-5)
    np.testing.assert_allclose(dy, dy64, rtol=1e-5)


def test_float32_losses_stay_finite_at_the_clip() -> None:
    y = np.array([[0.0, 1.0, 1.0]], dtype=np.float32)
    cost, dy = fn.loss(fn.BinaryCrossEntropy(), y, np.array([[1.0, 0.0, 1.0]]))
    assert np.isfinite(cost) and dy.dtype == np.float32 and np.all(np.isfinite(dy))
    cost, dy = fn.loss(fn.CategoricalCrossEntropy(), y[:, :2], np.array([1]))
    assert np.isfinite(cost) and dy.dtype == np.float32 and np.all(np.isfinite(dy))
    z = np.array([[100.0, -100.0]], dtype=np.float32)
    for spec in (fn.BinaryCrossEntropy(from_logits=True), fn.CategoricalCrossEntropy(from_logits=True)):
        cost, dy = fn.loss(spec, z, np.array([[0.0, 1.0]]))
        assert np.isfinite(cost) and dy.dtype == np.float32


def test_sgd_step_keeps_float32(key: fn.Key) -> None:
    params = fn.init(fn.Dense(2), key, in_shape=(3,), dtype=np.float32)
    grads = fn.tree_map(lambda a: np.ones_like(a), params)
    new = fn.sgd_step(params, grads, lr=0.1)
    assert_tree_dtype(new, np.float32)
    np.testing.assert_array_equal(new.leaf("b"), np.full(2, -0.1, dtype=np.float32))


def test_train_keeps_float32_end_to_end(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Dropout(0.25), fn.Dense(3))
    params = fn.init(model, key, in_shape=(2,), dtype=np.float32)
    x = np.linspace(-1, 1, 20).reshape(10, 2)  # float64 data
    labels = np.arange(10) % 3
    for batch_size in (None, 4, 1):
        state = fn.train(
            model,
            params,
            x,
            labels,
            loss=fn.CategoricalCrossEntropy(from_logits=True),
            lr=0.1,
            epochs=2,
            key=key,
            batch_size=batch_size,
        )
        assert_tree_dtype(state.params, np.float32)
        assert state.history.cost.shape == (2,) and np.all(np.isfinite(state.history.cost))
        assert fn.predict(model, state.params, x).dtype == np.float32


def test_param_free_models_keep_float32_inputs() -> None:
    model = fn.Sequential(fn.Flatten(), fn.Tanh(), fn.Softmax())
    params = fn.init(model, fn.key(0), in_shape=(2, 2), dtype=np.float32)
    x = np.ones((3, 2, 2), np.float32)
    y, cache = fn.forward(model, params, x)
    assert y.dtype == np.float32
    _, dx = fn.backward(model, params, cache, np.ones((3, 4), np.float32))
    assert dx.dtype == np.float32
    assert fn.predict(model, params, [[[1, 2], [3, 4]]]).dtype == np.float64  # non-float input: float64
