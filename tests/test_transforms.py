"""Gradient transforms and chain: penalties, clipping, closed forms and composition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import attrs
import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn.optim import Optimizer, OptState, adam, apply_updates, rmsprop, sgd
from funcnn.rng import generator
from funcnn.schedules import inverse_time_schedule
from funcnn.transforms import (
    Chain,
    chain,
    clip_by_global_norm,
    elastic_net,
    global_norm,
    l1,
    l2,
)
from funcnn.tree import FrozenTree, assert_same_structure, tree_flatten, tree_get, tree_leaves

Tree: TypeAlias = FrozenTree[Any]

PENALTIES: list[Optimizer] = [l2(0.3), l1(0.3), elastic_net(0.3, 0.25), l2(0.3, include_bias=True)]
TRANSFORMS: list[Optimizer] = [*PENALTIES, clip_by_global_norm(0.5)]


def params_and_grads(dtype: type[np.floating] = np.float64) -> tuple[Tree, Tree]:
    g = generator(fn.key(11))
    params: Tree = fn.freeze(
        {
            "dense_0": {"w": g.normal(size=(3, 2)).astype(dtype), "b": g.normal(size=2).astype(dtype)},
            "norm": {"gamma": g.normal(size=2).astype(dtype), "beta": g.normal(size=2).astype(dtype)},
        }
    )
    grads = fn.tree_map(lambda p: g.normal(size=p.shape).astype(p.dtype), params)
    return params, grads


# -- each transform on its own ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_output_mirrors_params_and_keeps_dtype(transform: Optimizer, dtype: type[np.floating]) -> None:
    params, grads = params_and_grads(dtype)
    state = transform.init(params)
    assert state.count == 0 and len(state.buffers) == 0  # stateless: nothing to mirror
    for step in range(3):
        out, state = transform.update(grads, state, params)
        assert_same_structure(params, out, names=("params", "transformed grads"))
        assert state.count == step + 1 and len(state.buffers) == 0
        assert all(a.dtype == dtype and not a.flags.writeable for a in tree_leaves(out))


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_transforms_are_pure(transform: Optimizer) -> None:
    params, grads = params_and_grads()
    before = [a.copy() for a in tree_leaves(params) + tree_leaves(grads)]
    first, _ = transform.update(grads, transform.init(params), params)
    second, _ = transform.update(grads, transform.init(params), params)
    assert fn.tree_equal(first, second)
    assert all(np.array_equal(a, b) for a, b in zip(before, tree_leaves(params) + tree_leaves(grads), strict=True))


def test_penalties_add_alpha_times_their_derivative_to_weights_only() -> None:
    params, grads = params_and_grads()
    p, g = tree_flatten(params), tree_flatten(grads)
    cases: list[tuple[Optimizer, Callable[[NDArray[np.float64]], NDArray[np.float64]], bool]] = [
        (l2(0.3), lambda w: 0.3 * w, False),
        (l1(0.3), lambda w: 0.3 * np.sign(w), False),
        (elastic_net(0.3, 0.25), lambda w: 0.3 * (0.25 * np.sign(w) + 0.75 * w), False),
        (l2(0.3, include_bias=True), lambda w: 0.3 * w, True),
    ]
    for transform, derivative, include_bias in cases:
        out = tree_flatten(transform.update(grads, transform.init(params), params)[0])
        for path in p:
            is_bias = path.rsplit("/", 1)[-1] in ("b", "beta")
            expected = g[path] if is_bias and not include_bias else g[path] + derivative(p[path])
            np.testing.assert_allclose(out[path], expected, rtol=1e-14, err_msg=f"{transform!r} at {path}")


@pytest.mark.parametrize("transform", PENALTIES, ids=repr)
def test_penalty_gradient_matches_finite_differences(transform: Optimizer) -> None:
    params, _ = params_and_grads()
    zero = fn.tree_map(np.zeros_like, params)
    added = tree_flatten(transform.update(zero, transform.init(params), params)[0])
    penalty = transform.penalty  # type: ignore[attr-defined]
    eps = 1e-6
    for path, a in tree_flatten(params).items():
        for i in np.ndindex(a.shape):
            hi, lo = a.copy(), a.copy()
            hi[i] += eps
            lo[i] -= eps
            numeric = (penalty(fn.tree_set(params, path, hi)) - penalty(fn.tree_set(params, path, lo))) / (2 * eps)
            assert added[path][i] == pytest.approx(numeric, rel=1e-6, abs=1e-8), f"{transform!r} {path}{i}"


def test_elastic_net_endpoints_are_ridge_and_lasso() -> None:
    params, grads = params_and_grads()
    state = OptState(0)
    ridge, _ = l2(0.7).update(grads, state, params)
    lasso, _ = l1(0.7).update(grads, state, params)
    assert fn.tree_allclose(elastic_net(0.7, 0.0).update(grads, state, params)[0], ridge, rtol=1e-15)
    assert fn.tree_allclose(elastic_net(0.7, 1.0).update(grads, state, params)[0], lasso, rtol=1e-15)


def test_clip_by_global_norm_caps_the_length_and_keeps_the_direction() -> None:
    params, grads = params_and_grads()
    norm = float(np.sqrt(sum(float(np.sum(a * a)) for a in tree_leaves(grads))))
    assert global_norm(grads) == pytest.approx(norm, rel=1e-14)
    clipped, _ = clip_by_global_norm(norm / 4).update(grads, OptState(0), params)
    assert global_norm(clipped) == pytest.approx(norm / 4, rel=1e-12)
    assert fn.tree_allclose(clipped, fn.tree_map(lambda g: g / 4, grads), rtol=1e-12)
    untouched, _ = clip_by_global_norm(norm * 2).update(grads, OptState(0), params)
    assert fn.tree_equal(untouched, grads)


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: l2(-1.0), r"alpha=-1\.0"),
        (lambda: l1(float("nan")), r"alpha=nan"),
        (lambda: elastic_net(0.1, 1.5), r"r=1\.5"),
        (lambda: clip_by_global_norm(0.0), r"max_norm=0\.0"),
    ],
)
def test_bad_hyperparameters_name_the_value(build: Callable[[], Optimizer], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        build()


# -- chain ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chain_state_is_an_optstate_mirroring_params(dtype: type[np.floating]) -> None:
    params, grads = params_and_grads(dtype)
    opt = chain(clip_by_global_norm(1.0), l2(1e-2), adam(1e-2))
    state = opt.init(params)
    assert isinstance(state, OptState) and state.count == 0
    assert sorted(state.buffers) == ["t2"]  # only adam has buffers
    for name in ("mu", "nu"):
        assert_same_structure(params, state.buffers.subtree("t2").subtree(name), names=("params", name))
    paths = sorted(tree_flatten(state.buffers))
    for step in range(3):
        updates, state = opt.update(grads, state, params)
        params = apply_updates(params, updates)
        assert state.count == step + 1 and sorted(tree_flatten(state.buffers)) == paths
    assert all(a.dtype == dtype for a in tree_leaves(params) + tree_leaves(state.buffers))


def test_chain_equals_running_its_members_by_hand() -> None:
    params, grads = params_and_grads()
    opt = chain(clip_by_global_norm(0.5), l2(0.1), sgd(0.2, momentum=0.9))
    state = opt.init(params)
    inner = sgd(0.2, momentum=0.9)
    inner_state = inner.init(params)
    p_chain, p_hand = params, params
    for _ in range(3):
        updates, state = opt.update(grads, state, p_chain)
        p_chain = apply_updates(p_chain, updates)
        g, _ = clip_by_global_norm(0.5).update(grads, OptState(0), p_hand)
        g, _ = l2(0.1).update(g, OptState(0), p_hand)
        u, inner_state = inner.update(g, inner_state, p_hand)
        p_hand = apply_updates(p_hand, u)
    assert fn.tree_equal(p_chain, p_hand)
    assert fn.tree_equal(state.buffers.subtree("t2"), inner_state.buffers)


def test_chain_with_zero_penalty_is_the_optimizer_bit_for_bit() -> None:
    params, grads = params_and_grads()
    for opt in (sgd(0.1), adam(0.01), rmsprop(0.01)):
        u1, _ = opt.update(grads, opt.init(params), params)
        u2, _ = chain(l2(0.0), opt).update(grads, chain(l2(0.0), opt).init(params), params)
        assert fn.tree_equal(u1, u2)


@pytest.mark.parametrize(
    ("members", "pattern"),
    [
        ((l2(0.1),), "exactly one optimizer"),
        ((sgd(0.1), adam(0.1)), "exactly one optimizer"),
        ((sgd(0.1), l2(0.1)), "penalties must come before the optimizer"),
        ((), "exactly one optimizer"),
    ],
)
def test_chain_rejects_nonsense(members: tuple[Optimizer, ...], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        chain(*members)


def test_chain_members_must_be_transforms() -> None:
    with pytest.raises(TypeError, match="member 1"):
        chain(sgd(0.1), "clip")  # type: ignore[arg-type]


def test_clipping_may_follow_the_optimizer_and_chains_nest() -> None:
    opt = chain(chain(l2(0.1), adam(0.1)), clip_by_global_norm(0.01))
    params, grads = params_and_grads()
    updates, state = opt.update(grads, opt.init(params), params)
    assert global_norm(updates) <= 0.01 * (1 + 1e-12)
    assert sorted(state.buffers) == ["t0"] and sorted(state.buffers.subtree("t0")) == ["t1"]
    assert isinstance(opt, Chain) and opt == chain(chain(l2(0.1), adam(0.1)), clip_by_global_norm(0.01))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        opt.transforms = ()  # type: ignore[misc]


# -- closed forms ------------------------------------------------------------------------------

A = np.array([1.0, 4.0, 2.0])
C = np.array([3.0, -2.0, 0.1])
C_BIAS = 0.7


def quadratic_grad(params: Tree) -> Tree:
    """Gradient of ½ Σ a (w - c)² + ½ (b - c_b)² for the leaves ``layer/w`` and ``layer/b``."""
    w, b = tree_get(params, "layer/w"), tree_get(params, "layer/b")
    return fn.freeze({"layer": {"w": A * (w - C), "b": b - C_BIAS}})


def minimise(opt: Optimizer, steps: int) -> Tree:
    params: Tree = fn.freeze({"layer": {"w": np.array([-1.0, 1.0, 1.0]), "b": np.array([5.0])}})
    state = opt.init(params)
    for _ in range(steps):
        updates, state = opt.update(quadratic_grad(params), state, params)
        params = apply_updates(params, updates)
    return params


def soft(z: NDArray[np.float64], tau: float | NDArray[np.float64]) -> NDArray[np.float64]:
    return np.sign(z) * np.maximum(np.abs(z) - tau, 0.0)


@pytest.mark.parametrize(
    ("transform", "optimum", "steps", "tol"),
    [
        (l2(0.5), A * C / (A + 0.5), 400, 1e-10),
        (l1(0.5), soft(C, 0.5 / A), 3000, 2e-3),  # subgradient: settles within ~lr*alpha of the kink
        (elastic_net(0.5, 0.4), soft(A * C, 0.5 * 0.4) / (A + 0.5 * 0.6), 3000, 2e-3),
        (clip_by_global_norm(0.5), C, 400, 1e-10),
    ],
    ids=["l2", "l1", "elastic_net", "clip_by_global_norm"],
)
def test_converges_to_the_regularised_optimum(
    transform: Optimizer, optimum: NDArray[np.float64], steps: int, tol: float
) -> None:
    lr = inverse_time_schedule(0.2, 0.01) if transform.kind in ("l1", "elastic_net") else 0.2
    final = minimise(chain(transform, sgd(lr)), steps)
    np.testing.assert_allclose(tree_get(final, "layer/w"), optimum, atol=tol)
    np.testing.assert_allclose(tree_get(final, "layer/b"), [C_BIAS], atol=tol)  # biases are not penalised


def test_ridge_matches_the_closed_form_on_a_linear_model() -> None:
    """Full-batch training of Dense(1) with MSE + l2 reaches (XᵀX + αI)⁻¹Xᵀy.

    With the mean over n samples the cost is ``||Xw + b - y||²/n + alpha'/2 ||w||²``,
    so ``alpha' = 2 alpha / n`` gives the textbook ridge solution. Centred data
    make the (unpenalised) bias optimum 0, decoupling it from w.
    """
    g = generator(fn.key(5))
    n, d, alpha = 40, 3, 5.0
    x = g.normal(size=(n, d))
    y = x @ np.array([1.5, -2.0, 0.5]) + g.normal(0.0, 0.5, size=n)
    xc, yc = x - x.mean(axis=0), y - y.mean()
    closed = np.linalg.solve(xc.T @ xc + alpha * np.eye(d), xc.T @ yc)
    model = fn.Sequential(fn.Dense(1))
    params = fn.init(model, fn.key(0), in_shape=(d,))
    opt = chain(l2(2 * alpha / n), sgd(0.2, momentum=0.5))
    state = fn.train(model, params, xc, yc[:, None], loss=fn.MSE(), epochs=300, key=fn.key(1), optimizer=opt)
    np.testing.assert_allclose(tree_get(state.params, "dense_0/w")[:, 0], closed, atol=1e-4)
    np.testing.assert_allclose(tree_get(state.params, "dense_0/b"), [0.0], atol=1e-4)
    ols = np.linalg.lstsq(xc, yc, rcond=None)[0]
    assert np.abs(closed - ols).max() > 1e-2  # the penalty really changed the answer

    # include_bias=True penalises b too: the closed form on the design matrix [X, 1].
    xa = np.hstack([x, np.ones((n, 1))])
    closed_a = np.linalg.solve(xa.T @ xa + alpha * np.eye(d + 1), xa.T @ (y + 3.0))
    opt_b = chain(l2(2 * alpha / n, include_bias=True), sgd(0.2, momentum=0.5))
    state = fn.train(model, params, x, (y + 3.0)[:, None], loss=fn.MSE(), epochs=300, key=fn.key(1), optimizer=opt_b)
    np.testing.assert_allclose(tree_get(state.params, "dense_0/w")[:, 0], closed_a[:d], atol=1e-4)
    np.testing.assert_allclose(tree_get(state.params, "dense_0/b"), closed_a[d:], atol=1e-4)


def lasso_by_coordinate_descent(x: NDArray[np.float64], y: NDArray[np.float64], alpha: float) -> NDArray[np.float64]:
    """Minimise ``||y - Xw||²/n + alpha ||w||₁`` exactly (centred data, no intercept)."""
    n, d = x.shape
    w = np.zeros(d)
    for _ in range(100):
        for j in range(d):
            rho = x[:, j] @ (y - x @ w + x[:, j] * w[j])
            w[j] = soft(np.array(rho), alpha * n / 2)[()] / (x[:, j] @ x[:, j])
    return w


def test_lasso_drives_irrelevant_weights_to_zero() -> None:
    g = generator(fn.key(6))
    n, d, alpha = 200, 10, 0.1
    x = g.normal(size=(n, d))
    w_true = np.zeros(d)
    w_true[[0, 3, 7]] = [2.0, -3.0, 1.5]
    y = x @ w_true + g.normal(0.0, 0.1, size=n)
    x, y = x - x.mean(axis=0), y - y.mean()
    exact = lasso_by_coordinate_descent(x, y, alpha)
    irrelevant = w_true == 0
    assert np.all(exact[irrelevant] == 0.0) and np.all(np.abs(exact[~irrelevant]) > 1.0)

    model = fn.Sequential(fn.Dense(1))
    params = fn.init(model, fn.key(0), in_shape=(d,))
    lr = inverse_time_schedule(0.1, 0.01)
    fitted = {}
    for name, opt, epochs in (("plain", sgd(lr), 300), ("lasso", chain(l1(alpha), sgd(lr)), 2000)):
        state = fn.train(model, params, x, y[:, None], loss=fn.MSE(), epochs=epochs, key=fn.key(1), optimizer=opt)
        fitted[name] = tree_get(state.params, "dense_0/w")[:, 0]
    np.testing.assert_allclose(fitted["lasso"], exact, atol=1e-3)
    assert np.abs(fitted["lasso"][irrelevant]).max() < 1e-3
    assert np.abs(fitted["plain"][irrelevant]).max() > 5 * np.abs(fitted["lasso"][irrelevant]).max()
