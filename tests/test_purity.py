"""Purity: inputs never change, arrays handed out are read-only, same key → same bits."""

from __future__ import annotations

import numpy as np
import pytest
from cases import CASES, Case, case_id, make_input, training_pass

import funcnn as fn
from funcnn._typing import FloatT
from funcnn.rng import generator


def snapshot(tree: fn.FrozenTree[FloatT]) -> dict[str, np.ndarray]:
    return {path: a.copy() for path, a in fn.tree_flatten(tree).items()}


def assert_unchanged(tree: fn.FrozenTree[FloatT], before: dict[str, np.ndarray]) -> None:
    after = fn.tree_flatten(tree)
    assert list(after) == list(before)
    for path, a in after.items():
        assert a.dtype == before[path].dtype
        np.testing.assert_array_equal(a, before[path], err_msg=path)


def assert_read_only(tree: fn.FrozenTree[FloatT]) -> None:
    for path, a in fn.tree_flatten(tree).items():
        assert not a.flags.writeable, path


# --- every layer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_layer_calls_leave_their_inputs_unchanged(case: Case, key: fn.Key) -> None:
    k_init, k_x, k_drop = fn.split(key, 3)
    params = fn.init(case.spec, k_init, in_shape=case.in_shape)
    x = make_input(case, k_x, 3)  # writeable, as a user's array would be
    x_before, p_before = x.copy(), snapshot(params)
    y, cache = fn.forward(case.spec, params, x, key=k_drop, train=True)
    dy = generator(k_x).standard_normal(y.shape)
    dy_before, c_before = dy.copy(), snapshot(cache)
    grads, dx = fn.backward(case.spec, params, cache, dy)
    g_before = snapshot(grads)
    fn.predict(case.spec, params, x)
    fn.check_gradients(case.spec, params, x[:1], np.zeros((1, *y.shape[1:])), fn.MSE(), key=k_drop)
    fn.sgd_step(params, grads, lr=0.1)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)
    for tree, before in [(params, p_before), (cache, c_before), (grads, g_before)]:
        assert_unchanged(tree, before)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_params_caches_grads_and_outputs_are_read_only(case: Case, key: fn.Key) -> None:
    run = training_pass(case, key, 2)
    for tree in (run.params, run.cache, run.grads):
        assert_read_only(tree)
    for out in (run.y, run.dx, fn.predict(case.spec, run.params, run.x)):
        assert not out.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            out[...] = 0.0
    np.testing.assert_array_equal(run.x, make_input(case, key, 2))
    assert run.x.flags.writeable  # the caller's own array keeps its flags


def test_writing_into_params_raises(key: fn.Key) -> None:
    params = fn.init(fn.Sequential(fn.Dense(3), fn.Dense(1)), key, in_shape=(2,))
    with pytest.raises(ValueError, match="read-only"):
        params.subtree("dense_0").leaf("w")[...] -= 1
    with pytest.raises(ValueError, match="read-only"):
        params["dense_0"]["w"][...] -= 1  # type: ignore[call-overload,index,operator]  # (a leaf or a subtree)
    with pytest.raises(ValueError, match="read-only"):
        fn.tree_get(params, "dense_1/b")[0] = 5.0
    with pytest.raises(TypeError):
        params["dense_0"] = params["dense_1"]  # type: ignore[index]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_same_key_gives_bit_identical_params_and_outputs(case: Case, seed: int) -> None:
    x = make_input(case, fn.key(seed), 4)

    def run(k: fn.Key) -> tuple[fn.FrozenTree[np.float64], np.ndarray, fn.FrozenTree[np.float64], np.ndarray]:
        params = fn.init(case.spec, fn.fold_in(k, "init"), in_shape=case.in_shape)
        y, cache = fn.forward(case.spec, params, x, key=fn.fold_in(k, "dropout"), train=True)
        grads, dx = fn.backward(case.spec, params, cache, np.ones_like(y))
        return params, y, grads, dx

    p1, y1, g1, dx1 = run(fn.key(seed))
    p2, y2, g2, dx2 = run(fn.key(seed))
    assert fn.tree_equal(p1, p2) and fn.tree_equal(g1, g2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(dx1, dx2)
    # another key: other params (if any) and other dropout masks (if any), so another output
    p3, y3, _, _ = run(fn.key(seed + 1))
    if fn.tree_size(p1) > 0:
        assert not fn.tree_equal(p1, p3)
    if fn.tree_size(p1) > 0 or case.needs_key:
        assert not np.array_equal(y1, y3)


# --- losses, sgd_step, train ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "t"),
    [
        (fn.MSE(), np.full((3, 2), 0.25)),
        (fn.BinaryCrossEntropy(), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])),
        (fn.BinaryCrossEntropy(from_logits=True), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])),
        (fn.CategoricalCrossEntropy(), np.array([0, 1, 1])),
        (fn.CategoricalCrossEntropy(from_logits=True), np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])),
    ],
    ids=repr,
)
def test_loss_leaves_predictions_and_targets_unchanged(spec: fn.Loss, t: np.ndarray) -> None:
    y = np.array([[0.2, 0.7], [0.9, 0.4], [0.5, 0.5]])
    y_before, t_before = y.copy(), t.copy()
    _, dy = fn.loss(spec, y, t)
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(t, t_before)
    assert dy is not y and not np.shares_memory(dy, y) and not np.shares_memory(dy, t)


def test_sgd_step_returns_a_new_read_only_tree_and_keeps_its_inputs(key: fn.Key) -> None:
    params = fn.init(fn.Sequential(fn.Dense(3), fn.Dense(1)), key, in_shape=(2,))
    grads = fn.tree_map(lambda a: np.ones_like(a), params)
    p_before, g_before = snapshot(params), snapshot(grads)
    new = fn.sgd_step(params, grads, lr=0.5)
    assert_unchanged(params, p_before)
    assert_unchanged(grads, g_before)
    assert_read_only(new)
    for path, a in fn.tree_flatten(new).items():
        np.testing.assert_array_equal(a, p_before[path] - 0.5)


def _train(key: fn.Key, x: np.ndarray, y: np.ndarray) -> fn.TrainState[np.float64]:
    model = fn.Sequential(fn.Dense(6), fn.Tanh(), fn.Dropout(0.2), fn.Dense(1))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=(2,))
    return fn.train(model, params, x, y, loss=fn.MSE(), lr=0.05, epochs=3, key=key, batch_size=4)


def test_train_is_reproducible_and_leaves_its_inputs_unchanged(key: fn.Key) -> None:
    rng = generator(fn.fold_in(key, "data"))
    x, y = rng.standard_normal((10, 2)), rng.standard_normal((10, 1))
    x_before, y_before = x.copy(), y.copy()
    model = fn.Sequential(fn.Dense(6), fn.Tanh(), fn.Dropout(0.2), fn.Dense(1))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=(2,))
    p_before = snapshot(params)
    first = fn.train(model, params, x, y, loss=fn.MSE(), lr=0.05, epochs=3, key=key, batch_size=4)
    assert_unchanged(params, p_before)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)
    assert_read_only(first.params)

    second = _train(key, x, y)
    assert fn.tree_equal(first.params, second.params)  # same key: bit-identical trained result
    np.testing.assert_array_equal(first.history.cost, second.history.cost)
    other = _train(fn.key(key.seed + 1), x, y)
    assert not fn.tree_equal(first.params, other.params)
    assert not fn.tree_equal(first.params, params)  # and training did move the params
