"""Optimizers: state structure, dtype, purity, hand-computed steps and convergence.

Expected values are computed here by hand from the published update rules
(plain Python floats), never read back from the code under test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn.optim import (
    SGD,
    Adagrad,
    Adam,
    Optimizer,
    OptState,
    RMSProp,
    adagrad,
    adam,
    apply_updates,
    momentum,
    rmsprop,
    sgd,
    sgd_step,
)
from funcnn.schedules import inverse_time_schedule, step_schedule
from funcnn.tree import FrozenTree, assert_same_structure, tree_flatten, tree_get, tree_leaves

Tree: TypeAlias = FrozenTree[Any]

OPTIMIZERS: list[Optimizer] = [
    sgd(0.1),
    sgd(0.1, momentum=0.9),
    sgd(0.1, momentum=0.9, nesterov=True),
    momentum(0.05, 0.5),
    adam(0.01),
    rmsprop(0.01),
    adagrad(0.1),
    sgd(step_schedule(0.1, every=2)),
    adam(inverse_time_schedule(0.01, 0.1)),
]
# The buffers each optimizer keeps, each mirroring params.
BUFFERS: dict[str, tuple[str, ...]] = {"adam": ("mu", "nu"), "rmsprop": ("nu",), "adagrad": ("sum_sq",)}


def expected_buffers(opt: Optimizer) -> tuple[str, ...]:
    if isinstance(opt, SGD):
        return ("velocity",) if opt.momentum > 0 else ()
    return BUFFERS[opt.kind]


def make_params(dtype: type[np.floating] = np.float64) -> Tree:
    g = np.random.default_rng(7)
    return fn.freeze(
        {
            "dense_0": {"w": g.normal(size=(3, 4)).astype(dtype), "b": g.normal(size=4).astype(dtype)},
            "dense_1": {"w": g.normal(size=(4, 2)).astype(dtype), "b": g.normal(size=2).astype(dtype)},
        }
    )


def grads_like(params: Tree, seed: int) -> Tree:
    g = np.random.default_rng(seed)
    return fn.tree_map(lambda p: g.normal(size=p.shape).astype(p.dtype), params)


def signature(tree: Tree) -> dict[str, tuple[tuple[int, ...], np.dtype[np.generic]]]:
    return {path: (a.shape, a.dtype) for path, a in tree_flatten(tree).items()}


def run(opt: Optimizer, params: Tree, steps: int, grad: Callable[[Tree], Tree]) -> tuple[Tree, OptState[Any]]:
    state = opt.init(params)
    for _ in range(steps):
        updates, state = opt.update(grad(params), state, params)
        params = apply_updates(params, updates)
    return params, state


# -- structure, dtype, purity -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
def test_state_mirrors_params_and_keeps_structure_and_dtype(opt: Optimizer, dtype: type[np.floating]) -> None:
    params = make_params(dtype)
    state = opt.init(params)
    assert isinstance(state, OptState) and state.count == 0
    assert sorted(state.buffers) == sorted(expected_buffers(opt))
    for name in expected_buffers(opt):
        buffer = state.buffers[name]
        assert isinstance(buffer, FrozenTree)
        assert_same_structure(params, buffer, names=("params", name))  # paths, shapes and dtypes
        assert all(float(np.abs(a).sum()) == 0.0 for a in tree_leaves(buffer))
    first = signature(state.buffers)
    for step in range(3):
        updates, state = opt.update(grads_like(params, step), state, params)
        assert_same_structure(params, updates, names=("params", "updates"))
        params = apply_updates(params, updates)
        assert state.count == step + 1
        assert signature(state.buffers) == first
    assert all(a.dtype == dtype for a in tree_leaves(params))
    assert all(not a.flags.writeable for a in tree_leaves(state.buffers) + tree_leaves(updates) + tree_leaves(params))


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
def test_update_is_pure_and_deterministic(opt: Optimizer) -> None:
    params = make_params()
    state = opt.init(params)
    _, state = opt.update(grads_like(params, 0), state, params)  # non-zero buffers
    grads = grads_like(params, 1)
    before = [a.copy() for a in tree_leaves(params) + tree_leaves(grads) + tree_leaves(state.buffers)]
    u1, s1 = opt.update(grads, state, params)
    u2, s2 = opt.update(grads, state, params)
    after = tree_leaves(params) + tree_leaves(grads) + tree_leaves(state.buffers)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert fn.tree_equal(u1, u2) and fn.tree_equal(s1.buffers, s2.buffers) and s1.count == s2.count
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s1.count = 5  # type: ignore[misc]


@given(
    widths=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    opt=st.sampled_from(OPTIMIZERS),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_any_mlp_shaped_tree(widths: list[int], opt: Optimizer, dtype: type[np.floating]) -> None:
    model = fn.Sequential(*[fn.Dense(w) for w in widths[1:]])
    params = fn.init(model, fn.key(0), in_shape=(widths[0],), dtype=dtype)
    state = opt.init(params)
    for step in range(2):
        updates, state = opt.update(grads_like(params, step), state, params)
        params = apply_updates(params, updates)
    for name in expected_buffers(opt):
        assert_same_structure(params, state.buffers.subtree(name), names=("params", name))
    assert all(a.dtype == dtype for a in tree_leaves(params) + tree_leaves(state.buffers))


def test_mismatched_grads_name_the_paths() -> None:
    params = make_params()
    grads = fn.freeze({"dense_0": grads_like(params, 0).subtree("dense_0")})
    for opt in (sgd(0.1), adam(0.1)):
        with pytest.raises(fn.TreeStructureError, match="dense_1/w"):
            opt.update(grads, opt.init(params), params)
    wrong_shape = fn.tree_set(grads_like(params, 0), "dense_0/b", np.zeros(4))
    wrong_shape = fn.freeze({**fn.thaw(wrong_shape), "dense_0": {"w": np.zeros((3, 4)), "b": np.zeros(5)}})
    with pytest.raises(fn.TreeStructureError, match="dense_0/b"):
        sgd(0.1).update(wrong_shape, OptState(0), params)
    f32 = fn.tree_map(lambda a: a.astype(np.float32), grads_like(params, 0))
    with pytest.raises(fn.TreeStructureError, match="dtype"):
        adam(0.1).update(f32, adam(0.1).init(params), params)


def test_state_from_another_optimizer_is_rejected() -> None:
    params = make_params()
    with pytest.raises(fn.TreeStructureError, match="'mu'"):
        adam(0.1).update(grads_like(params, 0), sgd(0.1, momentum=0.9).init(params), params)


# -- hyperparameter validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: sgd(-0.1), r"lr=-0\.1"),
        (lambda: sgd(0.0), r"lr=0\.0"),
        (lambda: adam(float("nan")), r"lr=nan"),
        (lambda: adam(-1), r"lr=-1\.0"),
        (lambda: rmsprop(0), r"lr=0\.0"),
        (lambda: adagrad(-2.0), r"lr=-2\.0"),
        (lambda: sgd(0.1, momentum=1.0), r"momentum=1\.0"),
        (lambda: sgd(0.1, momentum=-0.5), r"momentum=-0\.5"),
        (lambda: sgd(0.1, nesterov=True), r"nesterov=True needs momentum > 0"),
        (lambda: adam(0.1, b1=1.0), r"b1=1\.0"),
        (lambda: adam(0.1, b2=1.5), r"b2=1\.5"),
        (lambda: adam(0.1, eps=0.0), r"eps=0\.0"),
        (lambda: rmsprop(0.1, decay=1.0), r"decay=1\.0"),
        (lambda: adagrad(0.1, initial_accumulator=-1.0), r"initial_accumulator=-1\.0"),
    ],
)
def test_bad_hyperparameters_are_rejected_when_built(build: Callable[[], Optimizer], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        build()


def test_lr_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="lr"):
        sgd("0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lr"):
        adam(True)


def test_numbers_become_python_floats() -> None:
    opt = adam(np.float64(0.01), b1=np.float32(0.5))  # type: ignore[arg-type]
    assert type(opt.lr) is float and type(opt.b1) is float
    assert sgd(1).lr == 1.0 and type(sgd(1).lr) is float


# -- hand-computed steps -----------------------------------------------------------------

W0 = [1.0, -2.0, 0.5]
G1 = [0.5, -1.0, 2.0]
G2 = [-0.25, 3.0, 1.0]


def tree(values: list[float], dtype: type[np.floating] = np.float64) -> Tree:
    return fn.freeze({"layer": {"w": np.array(values, dtype=dtype)}})


def updates_of(opt: Optimizer, grads: list[list[float]]) -> list[NDArray[np.float64]]:
    params, out = tree(W0), []
    state = opt.init(params)
    for g in grads:
        updates, state = opt.update(tree(g), state, params)
        out.append(tree_get(updates, "layer/w"))
        params = apply_updates(params, updates)
    return out


def test_sgd_by_hand() -> None:
    (u,) = updates_of(sgd(0.1), [G1])
    np.testing.assert_allclose(u, [-0.05, 0.1, -0.2], rtol=1e-15)
    params = apply_updates(tree(W0), tree(list(u)))
    np.testing.assert_allclose(tree_get(params, "layer/w"), [0.95, -1.9, 0.3], rtol=1e-15)


def test_momentum_by_hand() -> None:
    lr, m = 0.1, 0.9
    u1, u2 = updates_of(sgd(lr, momentum=m), [G1, G2])
    # v1 = g1, v2 = m g1 + g2; update = -lr v
    np.testing.assert_allclose(u1, [-lr * g for g in G1], rtol=1e-15)
    np.testing.assert_allclose(u2, [-lr * (m * a + b) for a, b in zip(G1, G2, strict=True)], rtol=1e-14)
    n1, n2 = updates_of(sgd(lr, momentum=m, nesterov=True), [G1, G2])
    # Nesterov: update = -lr (g + m v_new)
    np.testing.assert_allclose(n1, [-lr * (g + m * g) for g in G1], rtol=1e-14)
    np.testing.assert_allclose(n2, [-lr * (b + m * (m * a + b)) for a, b in zip(G1, G2, strict=True)], rtol=1e-14)


def test_adam_by_hand() -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    u1, u2 = updates_of(adam(lr, b1=b1, b2=b2, eps=eps), [G1, G2])
    # Step 1: mu_hat = g and nu_hat = g², so the update is -lr g / (|g| + eps).
    np.testing.assert_allclose(u1, [-lr * g / (abs(g) + eps) for g in G1], rtol=1e-12)
    expected = []
    for a, b in zip(G1, G2, strict=True):
        mu = b1 * (1 - b1) * a + (1 - b1) * b
        nu = b2 * (1 - b2) * a * a + (1 - b2) * b * b
        expected.append(-lr * (mu / (1 - b1**2)) / (math.sqrt(nu / (1 - b2**2)) + eps))
    np.testing.assert_allclose(u2, expected, rtol=1e-12)


def test_rmsprop_and_adagrad_by_hand() -> None:
    lr, d, eps = 0.01, 0.9, 1e-8
    r1, r2 = updates_of(rmsprop(lr, decay=d, eps=eps), [G1, G2])
    np.testing.assert_allclose(r1, [-lr * g / (math.sqrt((1 - d) * g * g) + eps) for g in G1], rtol=1e-12)
    nu2 = [d * (1 - d) * a * a + (1 - d) * b * b for a, b in zip(G1, G2, strict=True)]
    np.testing.assert_allclose(r2, [-lr * b / (math.sqrt(n) + eps) for b, n in zip(G2, nu2, strict=True)], rtol=1e-12)
    a1, a2 = updates_of(adagrad(0.5, eps=eps), [G1, G2])
    np.testing.assert_allclose(a1, [-0.5 * g / (abs(g) + eps) for g in G1], rtol=1e-12)
    s2 = [a * a + b * b for a, b in zip(G1, G2, strict=True)]
    np.testing.assert_allclose(a2, [-0.5 * b / (math.sqrt(s) + eps) for b, s in zip(G2, s2, strict=True)], rtol=1e-12)


def test_schedule_is_read_at_the_state_count() -> None:
    updates = updates_of(sgd(inverse_time_schedule(1.0, 0.5)), [G1, G1, G1])
    for t, u in enumerate(updates):
        np.testing.assert_allclose(u, [-(1.0 / (1 + 0.5 * t)) * g for g in G1], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_step_is_sgd_without_momentum_bit_for_bit(dtype: type[np.floating]) -> None:
    params = make_params(dtype)
    grads = grads_like(params, 3)
    for lr, step in ((0.1, 0), (0.037, 0), (step_schedule(0.3, every=2), 5)):
        opt = sgd(lr)
        updates, _ = opt.update(grads, OptState(step), params)
        assert fn.tree_equal(sgd_step(params, grads, lr=lr, step=step), apply_updates(params, updates))
    with pytest.raises(ValueError, match=r"lr=-1"):
        sgd_step(params, grads, lr=-1.0)


def test_float32_adam_keeps_float32_everywhere() -> None:
    params = tree(W0, np.float32)
    opt = adam(0.1)
    state = opt.init(params)
    for g in (G1, G2, G1):
        updates, state = opt.update(tree(g, np.float32), state, params)
        params = apply_updates(params, updates)
    leaves = tree_leaves(params) + tree_leaves(updates) + tree_leaves(state.buffers)
    assert {a.dtype for a in leaves} == {np.dtype(np.float32)}


# -- convergence ---------------------------------------------------------------------------

A = np.array([1.0, 10.0])
C = np.array([3.0, -2.0])


def quadratic_grad(params: Tree) -> Tree:
    """Gradient of ½ (w - c)ᵀ diag(A) (w - c) + ½ |B - 0.5|² (condition number 10)."""
    w, b = tree_get(params, "w"), tree_get(params, "sub/b")
    dtype = w.dtype
    return fn.freeze({"w": (A * (w - C)).astype(dtype), "sub": {"b": (b - 0.5).astype(dtype)}})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "opt",
    [sgd(0.1), sgd(0.05, momentum=0.9), sgd(0.05, momentum=0.9, nesterov=True), adam(0.1), rmsprop(0.01), adagrad(1.0)],
    ids=repr,
)
def test_converges_on_a_convex_quadratic(opt: Optimizer, dtype: type[np.floating]) -> None:
    params = fn.freeze({"w": np.zeros(2, dtype=dtype), "sub": {"b": np.ones((2, 2), dtype=dtype)}})
    final, _ = run(opt, params, 500, quadratic_grad)
    tol = 1e-4 if dtype == np.float32 else 1e-6
    np.testing.assert_allclose(tree_get(final, "w"), C, atol=tol)
    np.testing.assert_allclose(tree_get(final, "sub/b"), 0.5, atol=tol)
    assert tree_get(final, "w").dtype == dtype


def rosenbrock_grad(params: Tree) -> Tree:
    """Gradient of (1 - x)² + 100 (y - x²)², minimum at (1, 1)."""
    x, y = (float(v) for v in tree_get(params, "v"))
    return fn.freeze({"v": np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])})


@pytest.mark.parametrize(
    ("opt", "steps"),
    [(adam(0.01), 5000), (sgd(1e-3, momentum=0.9), 5000), (sgd(1e-3, momentum=0.9, nesterov=True), 5000)],
    ids=repr,
)
def test_adam_and_momentum_solve_rosenbrock(opt: Optimizer, steps: int) -> None:
    start = fn.freeze({"v": np.array([-1.5, 2.0])})
    final, state = run(opt, start, steps, rosenbrock_grad)
    np.testing.assert_allclose(tree_get(final, "v"), [1.0, 1.0], atol=1e-4)
    assert state.count == steps


def test_plain_sgd_is_slow_on_rosenbrock() -> None:
    """The contrast that motivates momentum: same lr and steps, plain SGD is still far off."""
    start = fn.freeze({"v": np.array([-1.5, 2.0])})
    plain, _ = run(sgd(1e-3), start, 5000, rosenbrock_grad)
    assert float(np.abs(tree_get(plain, "v") - 1.0).max()) > 1e-2


def test_optimizer_specs_are_frozen_values() -> None:
    assert adam(0.01) == Adam(0.01) and hash(adam(0.01)) == hash(Adam(0.01))
    assert repr(sgd(0.1, momentum=0.9)) == "SGD(lr=0.1, momentum=0.9)"
    assert repr(rmsprop()) == "RMSProp()" and repr(adagrad()) == "Adagrad()"
    assert isinstance(rmsprop(), RMSProp) and isinstance(adagrad(), Adagrad)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        adam().lr = 0.5  # type: ignore[misc]
