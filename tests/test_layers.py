"""Layers and initialisers: hand-computed values, shape agreement, dropout statistics.

Expected values are worked out by hand or in closed form in the comments,
never taken from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from cases import CASES, Case, case_id, make_input, training_pass
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.initializers import Initializer
from funcnn.rng import generator

EMPTY: fn.FrozenTree[np.float64] = fn.FrozenTree()


# --- shape agreement over the registry -------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
@given(batch=st.integers(1, 7))
def test_init_output_shape_agrees_with_forward(case: Case, batch: int) -> None:
    key = fn.key(batch)
    out_shape = fn.output_shape(case.spec, case.in_shape)
    params = fn.init(case.spec, key, in_shape=case.in_shape)
    x = make_input(case, key, batch)
    for train in (False, True):
        y, _ = fn.forward(case.spec, params, x, key=key, train=train)
        assert y.shape == (batch, *out_shape)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_backward_returns_grads_mirroring_params_and_dx_like_x(case: Case, key: fn.Key) -> None:
    run = training_pass(case, key, 3)
    fn.assert_same_structure(run.params, run.grads)
    assert run.dx.shape == run.x.shape


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_param_free_layers_have_no_entry_in_params(case: Case, key: fn.Key) -> None:
    params = fn.init(case.spec, key, in_shape=case.in_shape)
    assert not _empty_subtrees(params)
    if isinstance(case.spec, fn.Sequential):
        assert set(params) <= set(case.spec.names)


def _empty_subtrees(tree: fn.FrozenTree[np.float64], prefix: str = "") -> list[str]:
    found = []
    for name, node in tree.items():
        if isinstance(node, fn.FrozenTree):
            found += [prefix + name] if len(node) == 0 else _empty_subtrees(node, prefix + name + "/")
    return found


# --- Dense ---------------------------------------------------------------------------------------


def test_dense_params_layout_and_hand_values() -> None:
    spec = fn.Dense(2, w_init=fn.Constant(0.5), b_init=fn.Constant(1.0))
    params = fn.init(spec, fn.key(0), in_shape=(3,))
    assert sorted(params) == ["b", "w"]
    assert params.leaf("w").shape == (3, 2)  # (in_dim, out_dim)
    assert params.leaf("b").shape == (2,)  # never (1, out_dim)
    x = np.array([[1.0, 2.0, 3.0], [0.0, -2.0, 0.0]])
    y, cache = fn.forward(spec, params, x)
    # row 0: 0.5 * (1 + 2 + 3) + 1 = 4;  row 1: 0.5 * -2 + 1 = 0
    np.testing.assert_array_equal(y, [[4.0, 4.0], [0.0, 0.0]])
    dy = np.array([[1.0, 2.0], [3.0, -1.0]])
    grads, dx = fn.backward(spec, params, cache, dy)
    # dw = xᵀ dy: row i is x[0, i] * dy[0] + x[1, i] * dy[1]
    np.testing.assert_array_equal(grads.leaf("w"), [[1.0, 2.0], [2.0 - 6.0, 4.0 + 2.0], [3.0, 6.0]])
    # db sums dy over the batch (layers sum; the 1/batch lives in the loss)
    np.testing.assert_array_equal(grads.leaf("b"), [4.0, 1.0])
    # dx = dy wᵀ: every entry of w is 0.5, so each row is 0.5 * (dy0 + dy1) repeated
    np.testing.assert_array_equal(dx, [[1.5, 1.5, 1.5], [1.0, 1.0, 1.0]])


def test_dense_with_explicit_weights() -> None:
    spec = fn.Dense(2)
    params = fn.freeze({"w": np.array([[1.0, -1.0], [2.0, 0.5]]), "b": np.array([0.25, -0.5])})
    y, _ = fn.forward(spec, params, np.array([[3.0, 4.0]]))
    # [3*1 + 4*2 + 0.25, 3*-1 + 4*0.5 - 0.5] = [11.25, -1.5]
    np.testing.assert_array_equal(y, [[11.25, -1.5]])


def test_dense_need_dx_false_returns_an_empty_dx() -> None:
    spec = fn.Dense(2, w_init=fn.Constant(1.0))
    params = fn.init(spec, fn.key(0), in_shape=(3,))
    y, cache = fn.forward(spec, params, np.ones((4, 3)))
    grads, dx = fn.backward(spec, params, cache, np.ones_like(y), need_dx=False)
    assert dx.size == 0
    np.testing.assert_array_equal(grads.leaf("w"), np.full((3, 2), 4.0))


# --- activations ---------------------------------------------------------------------------------


def _run(spec: fn.Layer, x: list[float], dy: list[float]) -> tuple[np.ndarray, np.ndarray]:
    xa = np.array([x])
    y, cache = fn.forward(spec, EMPTY, xa)
    grads, dx = fn.backward(spec, EMPTY, cache, np.array([dy]))
    assert len(grads) == 0
    return y[0], dx[0]


def test_identity() -> None:
    y, dx = _run(fn.Identity(), [-1.0, 0.0, 2.5], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [-1.0, 0.0, 2.5])
    np.testing.assert_array_equal(dx, [1.0, 2.0, 3.0])


def test_relu_values_and_kink_gets_zero_gradient() -> None:
    y, dx = _run(fn.ReLU(), [-2.0, 0.0, 3.0], [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(y, [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(dx, [0.0, 0.0, 5.0])


def test_leaky_relu_values() -> None:
    y, dx = _run(fn.LeakyReLU(0.1), [-2.0, 0.5, 4.0], [1.0, 1.0, -2.0])
    np.testing.assert_allclose(y, [-0.2, 0.5, 4.0], rtol=1e-15)
    np.testing.assert_allclose(dx, [0.1, 1.0, -2.0], rtol=1e-15)


def test_leaky_relu_default_alpha_is_one_hundredth() -> None:
    y, _ = _run(fn.LeakyReLU(), [-3.0], [1.0])
    np.testing.assert_allclose(y, [-0.03], rtol=1e-15)


def test_sigmoid_closed_forms() -> None:
    # σ(0) = 1/2; σ(ln 3) = 3/4; σ(-ln 3) = 1/4; σ'(x) = σ(1-σ): 1/4, 3/16, 3/16
    y, dx = _run(fn.Sigmoid(), [0.0, math.log(3.0), -math.log(3.0)], [1.0, 1.0, 2.0])
    np.testing.assert_allclose(y, [0.5, 0.75, 0.25], rtol=1e-14)
    np.testing.assert_allclose(dx, [0.25, 3 / 16, 6 / 16], rtol=1e-14)


def test_sigmoid_is_stable_for_huge_inputs() -> None:
    # np.seterr(over="raise") is on: a naive 1/(1+exp(-x)) would raise here
    y, dx = _run(fn.Sigmoid(), [-1000.0, 1000.0, -40.0], [1.0, 1.0, 1.0])
    assert y[0] == 0.0 and y[1] == 1.0
    np.testing.assert_allclose(y[2], math.exp(-40.0) / (1 + math.exp(-40.0)), rtol=1e-14)
    np.testing.assert_array_equal(dx[:2], [0.0, 0.0])


def test_tanh_closed_forms() -> None:
    # tanh(ln 2) = (4 - 1) / (4 + 1) = 0.6; derivative 1 - 0.36 = 0.64
    y, dx = _run(fn.Tanh(), [math.log(2.0), 0.0, -math.log(2.0)], [1.0, 3.0, 2.0])
    np.testing.assert_allclose(y, [0.6, 0.0, -0.6], rtol=1e-14, atol=0)
    np.testing.assert_allclose(dx, [0.64, 3.0, 1.28], rtol=1e-14)


def test_softmax_closed_form_and_shift_invariance() -> None:
    # exp of [0, ln 2, ln 3] is [1, 2, 3]: softmax = [1, 2, 3] / 6
    x = [0.0, math.log(2.0), math.log(3.0)]
    y, _ = _run(fn.Softmax(), x, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(y, [1 / 6, 2 / 6, 3 / 6], rtol=1e-14)
    y_shifted, _ = _run(fn.Softmax(), [v + 1000.0 for v in x], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(y_shifted, y, rtol=1e-12)


def test_softmax_backward_is_the_jacobian_transpose_product() -> None:
    x = np.array([[0.3, -1.2, 2.0, 0.1], [5.0, 5.0, 5.0, 5.0]])
    dy = np.array([[1.0, -2.0, 0.5, 3.0], [1.0, 0.0, 0.0, 0.0]])
    y, cache = fn.forward(fn.Softmax(), EMPTY, x)
    _, dx = fn.backward(fn.Softmax(), EMPTY, cache, dy)
    for row in range(2):
        p = np.exp(x[row]) / np.exp(x[row]).sum()
        jacobian = np.diag(p) - np.outer(p, p)  # ∂p_i/∂x_j, symmetric
        np.testing.assert_allclose(y[row], p, rtol=1e-14)
        np.testing.assert_allclose(dx[row], jacobian.T @ dy[row], rtol=1e-12, atol=1e-15)
    # a uniform row: J = I/4 - 1/16, so dx = [1/4 - 1/16, -1/16, -1/16, -1/16]
    np.testing.assert_allclose(dx[1], [3 / 16, -1 / 16, -1 / 16, -1 / 16], rtol=1e-14)


def test_softmax_acts_on_the_last_axis() -> None:
    x = np.zeros((2, 3, 4))
    y, _ = fn.forward(fn.Softmax(), EMPTY, x)
    np.testing.assert_allclose(y, np.full((2, 3, 4), 0.25), rtol=1e-15)


# --- Flatten -------------------------------------------------------------------------------------


def test_flatten_is_channels_last_row_major() -> None:
    batch, height, width, channels = 2, 2, 3, 2
    x = np.arange(batch * height * width * channels, dtype=np.float64).reshape(batch, height, width, channels)
    y, cache = fn.forward(fn.Flatten(), EMPTY, x)
    assert y.shape == (2, 12)
    # pixel (h, w) channel c of sample b lands at column (h * width + w) * channels + c
    for b in range(batch):
        for h in range(height):
            for w in range(width):
                for c in range(channels):
                    assert y[b, (h * width + w) * channels + c] == x[b, h, w, c]
    _, dx = fn.backward(fn.Flatten(), EMPTY, cache, y * 2)
    np.testing.assert_array_equal(dx, x * 2)
    assert fn.output_shape(fn.Flatten(), (height, width, channels)) == (12,)


# --- Dropout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_mask_rate_and_rescaling(rate: float, key: fn.Key) -> None:
    n = 200_000
    x = np.ones((1000, n // 1000))
    y, cache = fn.forward(fn.Dropout(rate), EMPTY, x, key=key, train=True)
    kept = y != 0
    # dropped fraction ~ Binomial(n, rate) / n: allow 5 standard deviations
    sd = math.sqrt(rate * (1 - rate) / n)
    assert abs((1 - kept.mean()) - rate) < 5 * sd
    # survivors are scaled by 1 / (1 - rate) so the expectation is unchanged
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-15)
    assert abs(y.mean() - 1.0) < 5 * sd / (1 - rate)
    # backward reuses the mask: the same entries are zeroed, with the same scale
    _, dx = fn.backward(fn.Dropout(rate), EMPTY, cache, np.full_like(x, 3.0))
    np.testing.assert_array_equal(dx, 3.0 * y)


def test_dropout_masks_are_independent_across_positions(key: fn.Key) -> None:
    y, _ = fn.forward(fn.Dropout(0.5), EMPTY, np.ones((400, 500)), key=key, train=True)
    kept = (y != 0).astype(np.float64)
    # neighbouring columns are uncorrelated (|r| < 5 / sqrt(n))
    r = np.corrcoef(kept[:, :-1].ravel(), kept[:, 1:].ravel())[0, 1]
    assert abs(r) < 5 / math.sqrt(kept[:, 1:].size)


def test_dropout_is_the_identity_at_inference_and_at_rate_zero(key: fn.Key) -> None:
    x = generator(key).standard_normal((5, 4))
    y, _ = fn.forward(fn.Dropout(0.5), EMPTY, x, train=False)
    np.testing.assert_array_equal(y, x)
    y, _ = fn.forward(fn.Dropout(0.5), EMPTY, x, key=key, train=False)
    np.testing.assert_array_equal(y, x)
    y, _ = fn.forward(fn.Dropout(0.0), EMPTY, x, key=key, train=True)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(fn.predict(fn.Sequential(fn.Dropout(0.9)), EMPTY, x), x)


def test_dropout_same_key_same_mask_other_key_other_mask(key: fn.Key) -> None:
    x = np.ones((20, 30))
    a, _ = fn.forward(fn.Dropout(0.5), EMPTY, x, key=key, train=True)
    b, _ = fn.forward(fn.Dropout(0.5), EMPTY, x, key=key, train=True)
    c, _ = fn.forward(fn.Dropout(0.5), EMPTY, x, key=fn.split(key)[0], train=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_two_dropout_layers_in_a_stack_draw_different_masks(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dropout(0.5), fn.Identity(), fn.Dropout(0.5))
    _, cache = fn.forward(model, EMPTY, np.ones((50, 40)), key=key, train=True)
    m0, m1 = cache.subtree("dropout_0").leaf("mask"), cache.subtree("dropout_1").leaf("mask")
    assert not np.array_equal(m0, m1)


def test_dropout_without_a_key_in_training_raises() -> None:
    with pytest.raises(fn.MissingRngError, match=r"^Dropout\(rate=0\.5\): training mode needs a key"):
        fn.forward(fn.Dropout(0.5), EMPTY, np.ones((2, 3)), train=True)
    model = fn.Sequential(fn.Dense(3), fn.Dropout(0.5, name="drop"))
    params = fn.init(model, fn.key(0), in_shape=(3,))
    with pytest.raises(fn.MissingRngError, match=r"^drop Dropout\(rate=0\.5, name='drop'\): training mode needs"):
        fn.forward(model, params, np.ones((2, 3)), train=True)


# --- initialisers --------------------------------------------------------------------------------


def _draw(init: Initializer, shape: tuple[int, ...], key: fn.Key) -> np.ndarray:
    return init(key, shape, np.float64)


def test_zeros_and_constant(key: fn.Key) -> None:
    np.testing.assert_array_equal(_draw(fn.Zeros(), (3, 2), key), np.zeros((3, 2)))
    np.testing.assert_array_equal(_draw(fn.Constant(2.5), (4,), key), np.full(4, 2.5))


@pytest.mark.parametrize("std", [0.01, 1.0, 3.0])
def test_normal_has_the_requested_std(std: float, key: fn.Key) -> None:
    a = _draw(fn.Normal(std), (400, 250), key)
    n = a.size
    assert abs(a.mean()) < 5 * std / math.sqrt(n)
    # the sample std of n normals has sd ≈ std / sqrt(2n)
    assert abs(a.std() - std) < 5 * std / math.sqrt(2 * n)


def test_normal_default_std_is_one_hundredth(key: fn.Key) -> None:
    a = _draw(fn.Normal(), (500, 200), key)
    assert abs(a.std() - 0.01) < 5 * 0.01 / math.sqrt(2 * a.size)


# (shape, fan_in, fan_out): a dense weight (in, out) and a conv kernel (kh, kw, c_in, c_out)
FANS = [((300, 200), 300, 200), ((3, 3, 16, 32), 3 * 3 * 16, 3 * 3 * 32)]


@pytest.mark.parametrize(("shape", "fan_in", "fan_out"), FANS)
def test_glorot_and_he_variances_and_limits(shape: tuple[int, ...], fan_in: int, fan_out: int, key: fn.Key) -> None:
    expected: dict[Initializer, tuple[float, float | None]] = {
        fn.GlorotUniform(): (2.0 / (fan_in + fan_out), math.sqrt(6.0 / (fan_in + fan_out))),
        fn.GlorotNormal(): (2.0 / (fan_in + fan_out), None),
        fn.HeNormal(): (2.0 / fan_in, None),
        fn.HeUniform(): (2.0 / fan_in, math.sqrt(6.0 / fan_in)),
    }
    for init, (variance, limit) in expected.items():
        a = _draw(init, shape, key)
        n = a.size
        # var of a normal's sample variance ≈ 2σ⁴/n; of a uniform's ≈ 0.8σ⁴/n: 5 sd either way
        assert abs(a.var() - variance) < 5 * variance * math.sqrt(2 / n), init
        if limit is not None:
            assert np.abs(a).max() <= limit
            assert np.abs(a).max() > 0.99 * limit  # the whole interval is used


@pytest.mark.parametrize("init", [fn.Normal(0.5), fn.GlorotUniform(), fn.GlorotNormal(), fn.HeNormal(), fn.HeUniform()])
def test_random_initialisers_are_pure_functions_of_the_key(init: Initializer, key: fn.Key) -> None:
    a = _draw(init, (5, 4), key)
    np.testing.assert_array_equal(a, _draw(init, (5, 4), key))
    assert not np.array_equal(a, _draw(init, (5, 4), fn.split(key)[1]))
    a32 = init(key, (5, 4), np.float32)
    assert a32.dtype == np.float32
    np.testing.assert_allclose(a32, a, rtol=1e-6)


def test_dense_uses_glorot_uniform_weights_and_zero_bias_by_default(key: fn.Key) -> None:
    params = fn.init(fn.Dense(200), key, in_shape=(300,))
    np.testing.assert_array_equal(params.leaf("b"), np.zeros(200))
    w = params.leaf("w")
    assert np.abs(w).max() <= math.sqrt(6.0 / 500)
    assert abs(w.var() - 2.0 / 500) < 5 * (2.0 / 500) * math.sqrt(2 / w.size)


def test_dense_weight_and_bias_draw_from_different_keys(key: fn.Key) -> None:
    spec = fn.Dense(4, w_init=fn.Normal(1.0), b_init=fn.Normal(1.0))
    params = fn.init(spec, key, in_shape=(1,))
    assert not np.array_equal(params.leaf("w")[0], params.leaf("b"))
