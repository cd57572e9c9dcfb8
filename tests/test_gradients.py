"""Gradient checks in float64: the core of the suite.

1. Directional checks (vector-Jacobian products): for a random cotangent ``u``
   on the output and random tangents ``t`` on the input and every param,
   ``<backward(u), t>`` must equal the central difference of ``<forward, u>``
   along ``t``. Run per registry case, per loss, and end to end through
   ``Sequential`` + loss, over shapes drawn by hypothesis.
2. Element-wise central differences on tiny shapes with the public
   ``fn.check_gradients``, which names the worst leaf by path (and is itself
   tested on a deliberately wrong layer).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np
import pytest
from cases import CASES, Case, case_id, make_input
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn._typing import FloatT
from funcnn.layers import Layer
from funcnn.rng import generator

F64 = NDArray[np.float64]
EPS = 1e-6
RTOL = 1e-6
seeds = st.integers(0, 2**32 - 1)


def tree_vdot(a: fn.FrozenTree[np.float64], b: fn.FrozenTree[np.float64]) -> float:
    fn.assert_same_structure(a, b)
    return sum(
        float(np.vdot(a_leaf, b_leaf)) for a_leaf, b_leaf in zip(fn.tree_leaves(a), fn.tree_leaves(b), strict=True)
    )


def random_like(rng: np.random.Generator, tree: fn.FrozenTree[np.float64]) -> fn.FrozenTree[np.float64]:
    return fn.tree_map(lambda a: rng.standard_normal(a.shape), tree)


def central_difference(f: Callable[[float], float], eps: float = EPS) -> float:
    return (f(eps) - f(-eps)) / (2 * eps)


def assert_close(numeric: float, analytic: float, scale: float) -> None:
    """``numeric`` within ``RTOL`` of ``analytic`` (plus round-off of order ``scale * 1e-9``)."""
    assert numeric == pytest.approx(analytic, rel=RTOL, abs=1e-9 * max(scale, 1.0))


def check_layer_vjp(
    spec: Layer, params: fn.FrozenTree[np.float64], x: F64, *, layer_key: fn.Key | None, rng: np.random.Generator
) -> None:
    """The directional check of one layer's backward against its forward."""
    train = layer_key is not None
    y, cache = spec.forward(params, x, key=layer_key, train=train)
    u = rng.standard_normal(y.shape)
    grads, dx = spec.backward(params, cache, u)
    fn.assert_same_structure(params, grads)
    assert dx.shape == x.shape
    tp, tx = random_like(rng, params), rng.standard_normal(x.shape)
    analytic = tree_vdot(grads, tp) + float(np.vdot(dx, tx))

    def along(s: float) -> float:
        p = fn.tree_map(lambda a, t: a + s * t, params, tp)
        ys, _ = spec.forward(p, x + s * tx, key=layer_key, train=train)
        return float(np.vdot(ys, u))

    assert_close(central_difference(along), analytic, scale=float(np.abs(y).sum() * np.abs(u).max()))


# --- 1. directional checks per layer ---------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
@given(batch=st.integers(1, 5), seed=seeds)
def test_layer_vjp_matches_finite_differences(case: Case, batch: int, seed: int) -> None:
    k_init, k_x, k_drop, k_dir = fn.split(fn.key(seed), 4)
    params = fn.init(case.spec, k_init, in_shape=case.in_shape)
    x = make_input(case, k_x, batch)
    layer_key = k_drop if case.needs_key else None
    check_layer_vjp(case.spec, params, x, layer_key=layer_key, rng=generator(k_dir))


@given(in_dim=st.integers(1, 6), out_dim=st.integers(1, 6), batch=st.integers(1, 6), seed=seeds)
def test_dense_vjp_over_widths(in_dim: int, out_dim: int, batch: int, seed: int) -> None:
    k_init, k_x, k_dir = fn.split(fn.key(seed), 3)
    spec = fn.Dense(out_dim, b_init=fn.Normal(1.0))
    params = fn.init(spec, k_init, in_shape=(in_dim,))
    x = generator(k_x).standard_normal((batch, in_dim))
    check_layer_vjp(spec, params, x, layer_key=None, rng=generator(k_dir))


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.3, 1.5])
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4)), seed=seeds)
def test_leaky_relu_vjp_over_alphas(alpha: float, shape: tuple[int, int], seed: int) -> None:
    case = Case(fn.LeakyReLU(alpha), shape[1:], kinks=True)
    k_x, k_dir = fn.split(fn.key(seed))
    x = make_input(case, k_x, shape[0])
    check_layer_vjp(case.spec, fn.FrozenTree(), x, layer_key=None, rng=generator(k_dir))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
@given(width=st.integers(1, 8), seed=seeds)
def test_dropout_vjp_uses_the_cached_mask(rate: float, width: int, seed: int) -> None:
    k_x, k_drop, k_dir = fn.split(fn.key(seed), 3)
    x = generator(k_x).standard_normal((3, width))
    check_layer_vjp(fn.Dropout(rate), fn.FrozenTree(), x, layer_key=k_drop, rng=generator(k_dir))


# --- 1b. directional checks per loss ---------------------------------------------------------------

Sampler = Callable[[np.random.Generator, int, int], tuple[F64, F64]]


def _onehot(rng: np.random.Generator, batch: int, classes: int) -> F64:
    return np.eye(classes)[rng.integers(0, classes, size=batch)]


LOSS_CASES: dict[str, tuple[fn.Loss, Sampler]] = {
    "mse": (fn.MSE(), lambda r, b, c: (r.standard_normal((b, c)), r.standard_normal((b, c)))),
    # probabilities stay away from the clip at 0 and 1
    "bce": (fn.BinaryCrossEntropy(), lambda r, b, c: (r.uniform(0.05, 0.95, (b, c)), r.uniform(0, 1, (b, c)))),
    "bce_logits": (
        fn.BinaryCrossEntropy(from_logits=True),
        lambda r, b, c: (3 * r.standard_normal((b, c)), r.integers(0, 2, (b, c)).astype(np.float64)),
    ),
    "cce_onehot": (fn.CategoricalCrossEntropy(), lambda r, b, c: (r.uniform(0.05, 1.0, (b, c)), _onehot(r, b, c))),
    "cce_soft": (
        fn.CategoricalCrossEntropy(),
        lambda r, b, c: (r.uniform(0.05, 1.0, (b, c)), r.dirichlet(np.ones(c), size=b)),
    ),
    "cce_logits_onehot": (
        fn.CategoricalCrossEntropy(from_logits=True),
        lambda r, b, c: (3 * r.standard_normal((b, c)), _onehot(r, b, c)),
    ),
    # rows that do not sum to 1: the gradient is softmax(z) * sum(t) - t, not softmax(z) - t
    "cce_logits_unnormalised": (
        fn.CategoricalCrossEntropy(from_logits=True),
        lambda r, b, c: (3 * r.standard_normal((b, c)), r.uniform(0, 1, (b, c))),
    ),
}


@pytest.mark.parametrize("name", sorted(LOSS_CASES))
@given(batch=st.integers(1, 6), width=st.integers(1, 5), seed=seeds)
def test_loss_gradient_matches_finite_differences(name: str, batch: int, width: int, seed: int) -> None:
    spec, sample = LOSS_CASES[name]
    rng = generator(fn.key(seed))
    y, t = sample(rng, batch, width)
    cost, dy = fn.loss(spec, y, t)
    assert dy.shape == y.shape
    ty = rng.standard_normal(y.shape)
    numeric = central_difference(lambda s: fn.loss(spec, y + s * ty, t)[0])
    assert_close(numeric, float(np.vdot(dy, ty)), scale=abs(cost))


@given(batch=st.integers(1, 6), classes=st.integers(2, 5), seed=seeds)
def test_cce_integer_labels_give_the_one_hot_gradient(batch: int, classes: int, seed: int) -> None:
    rng = generator(fn.key(seed))
    labels = rng.integers(0, classes, size=batch)
    for spec in (fn.CategoricalCrossEntropy(), fn.CategoricalCrossEntropy(from_logits=True)):
        y = rng.uniform(0.05, 1.0, (batch, classes))
        cost_l, dy_l = fn.loss(spec, y, labels)
        cost_h, dy_h = fn.loss(spec, y, np.eye(classes)[labels])
        assert cost_l == cost_h
        np.testing.assert_array_equal(dy_l, dy_h)


# --- 1c. end to end: Sequential + loss -------------------------------------------------------------

ACTIVATIONS: dict[str, Callable[[], Layer]] = {
    "tanh": fn.Tanh,
    "sigmoid": fn.Sigmoid,
    "relu": fn.ReLU,
    "leaky_relu": lambda: fn.LeakyReLU(0.1),
    "identity": fn.Identity,
}

# head name -> (output layers after the last Dense, loss, whether targets are class labels)
HEADS: dict[str, tuple[tuple[Layer, ...], fn.Loss, str]] = {
    "mse": ((), fn.MSE(), "real"),
    "sigmoid_bce": ((fn.Sigmoid(),), fn.BinaryCrossEntropy(), "binary"),
    "bce_logits": ((), fn.BinaryCrossEntropy(from_logits=True), "binary"),
    "softmax_cce": ((fn.Softmax(),), fn.CategoricalCrossEntropy(), "labels"),
    "cce_logits": ((), fn.CategoricalCrossEntropy(from_logits=True), "labels"),
}


def _targets(kind: str, rng: np.random.Generator, batch: int, out_dim: int) -> F64:
    if kind == "real":
        return rng.standard_normal((batch, out_dim))
    if kind == "binary":
        return rng.integers(0, 2, (batch, out_dim)).astype(np.float64)
    return rng.integers(0, out_dim, size=batch).astype(np.float64)


@given(
    in_dim=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    out_dim=st.integers(1, 4),
    batch=st.integers(1, 5),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    head=st.sampled_from(sorted(HEADS)),
    dropout=st.booleans(),
    seed=seeds,
)
def test_sequential_plus_loss_gradient(
    in_dim: int, hidden: list[int], out_dim: int, batch: int, activation: str, head: str, dropout: bool, seed: int
) -> None:
    head_layers, loss_spec, target_kind = HEADS[head]
    layers: list[Layer] = []
    for width in hidden:
        layers += [fn.Dense(width, b_init=fn.Normal(0.3)), ACTIVATIONS[activation]()]
        if dropout:
            layers.append(fn.Dropout(0.3))
    model = fn.Sequential(*layers, fn.Dense(out_dim, b_init=fn.Normal(0.3)), *head_layers)
    k_init, k_data, k_drop, k_dir = fn.split(fn.key(seed), 4)
    params = fn.init(model, k_init, in_shape=(in_dim,))
    rng = generator(k_data)
    x = rng.standard_normal((batch, in_dim))
    t = _targets(target_kind, rng, batch, out_dim)
    drop_key = k_drop if dropout else None

    y, cache = fn.forward(model, params, x, key=drop_key, train=True)
    cost, dy = fn.loss(loss_spec, y, t)
    grads, dx = fn.backward(model, params, cache, dy)
    fn.assert_same_structure(params, grads)

    rng = generator(k_dir)
    tp, tx = random_like(rng, params), rng.standard_normal(x.shape)

    def along(s: float) -> float:
        p = fn.tree_map(lambda a, d: a + s * d, params, tp)
        ys, _ = fn.forward(model, p, x + s * tx, key=drop_key, train=True)
        return fn.loss(loss_spec, ys, t)[0]

    analytic = tree_vdot(grads, tp) + float(np.vdot(dx, tx))
    assert_close(central_difference(along), analytic, scale=cost)

    # need_dx=False skips the input gradient but gives bit-identical param grads
    grads_no_dx, no_dx = fn.backward(model, params, cache, dy, need_dx=False)
    assert fn.tree_equal(grads, grads_no_dx)
    assert no_dx.size == 0


# --- 2. element-wise central differences (fn.check_gradients) ---------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_gradients_per_leaf(case: Case, key: fn.Key) -> None:
    k_init, k_x, k_t, k_drop = fn.split(key, 4)
    params = fn.init(case.spec, k_init, in_shape=case.in_shape)
    x = make_input(case, k_x, 2)
    out_shape = fn.output_shape(case.spec, case.in_shape)
    t = generator(k_t).standard_normal((2, *out_shape))
    report = fn.check_gradients(case.spec, params, x, t, fn.MSE(), key=k_drop if case.needs_key else None)
    assert set(report.errors) == {*fn.tree_paths(params), "x"}
    assert report.ok(1e-6), str(report)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_check_gradients_through_each_head(head: str, key: fn.Key) -> None:
    head_layers, loss_spec, target_kind = HEADS[head]
    model = fn.Sequential(fn.Dense(3, b_init=fn.Normal(0.3)), fn.Tanh(), fn.Dropout(0.2), fn.Dense(3), *head_layers)
    k_init, k_data, k_drop = fn.split(key, 3)
    params = fn.init(model, k_init, in_shape=(2,))
    rng = generator(k_data)
    x = rng.standard_normal((4, 2))
    report = fn.check_gradients(model, params, x, _targets(target_kind, rng, 4, 3), loss_spec, key=k_drop)
    assert report.ok(1e-6), str(report)


def test_check_gradients_accepts_float32_params(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(2), fn.Sigmoid())
    params = fn.init(model, key, in_shape=(3,), dtype=np.float32)
    report = fn.check_gradients(model, params, np.ones((2, 3), np.float32), np.zeros((2, 2)), fn.MSE())
    assert report.ok(1e-6), str(report)


@attrs.frozen(repr=False)
class _WrongBiasDense(fn.Dense):
    """A Dense whose bias gradient is deliberately doubled."""

    def backward(
        self, params: fn.FrozenTree[FloatT], cache: fn.FrozenTree[FloatT], dy: NDArray[FloatT], *, need_dx: bool = True
    ) -> tuple[fn.FrozenTree[FloatT], NDArray[FloatT]]:
        grads, dx = super().backward(params, cache, dy, need_dx=need_dx)
        return fn.tree_set(grads, "b", 2 * grads.leaf("b")), dx


def test_check_gradients_names_the_wrong_leaf(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(3), fn.Tanh(), _WrongBiasDense(2), fn.Dense(1))
    params = fn.init(model, key, in_shape=(2,))
    report = fn.check_gradients(model, params, np.ones((3, 2)), np.ones((3, 1)), fn.MSE())
    assert not report.ok()
    assert report.worst_path == "dense_1/b"
    assert report.errors["dense_1/b"] > 0.1
    # every other leaf (and x) is still right: the wrong layer's dx is untouched
    assert all(err < 1e-6 for path, err in report.errors.items() if path != "dense_1/b"), str(report)
    assert "dense_1/b" in str(report)
