"""The classic material's instruments: Uniform init, sampling with replacement, proximal lasso, tol, train_steps.

Each test checks real behaviour against something computed independently:
moments of the uniform law, the birthday-style statistics of draws with
replacement, the closed-form soft-threshold solution of lasso on an
orthonormal design and a coordinate-descent solver written here, gradient
norms computed from the least-squares formula, and the epoch-level loop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn.batching import epoch_batches, full_gradient
from funcnn.config import from_config, to_config
from funcnn.datasets import polynomial_feature_names, polynomial_features
from funcnn.errors import ShapeError, TreeStructureError
from funcnn.initializers import Uniform
from funcnn.optim import sgd
from funcnn.rng import generator
from funcnn.schedules import inverse_time_schedule
from funcnn.training import TrainState, fit, train_epochs, train_steps
from funcnn.trajectory import trajectory
from funcnn.transforms import chain, l1

F64 = NDArray[np.float64]

# --- Uniform -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), [(-0.5, 0.5), (0.0, 0.01), (2.0, 3.0)])
def test_uniform_moments_and_bounds(low: float, high: float, key: fn.Key) -> None:
    w = Uniform(low, high)(key, (400, 500), np.float64)
    n, var = w.size, (high - low) ** 2 / 12
    assert w.min() >= low and w.max() < high
    assert abs(w.mean() - (low + high) / 2) < 5 * math.sqrt(var / n)  # 5 standard errors
    assert w.var() == pytest.approx(var, rel=0.01)
    assert abs(w.min() - low) < (high - low) * 1e-3 and abs(w.max() - high) < (high - low) * 1e-3  # fills the range


def test_uniform_is_float32_deterministic_and_keyed(key: fn.Key) -> None:
    init = Uniform(-0.5, 0.5)
    a, b = init(key, (3, 4), np.float32), init(key, (3, 4), np.float32)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, init(fn.fold_in(key, 1), (3, 4), np.float32))
    assert np.all(np.abs(a) <= 0.5)


def test_uniform_is_saved_in_configs() -> None:
    model = fn.Sequential(fn.Dense(3, w_init=Uniform(-0.5, 0.5)), fn.Tanh())
    config = to_config(model)
    assert config["layers"][0]["w_init"] == {"kind": "uniform", "low": -0.5, "high": 0.5}  # type: ignore[index, call-overload]
    back = from_config(config)
    assert back == model
    assert fn.tree_equal(fn.init(back, fn.key(0), in_shape=(2,)), fn.init(model, fn.key(0), in_shape=(2,)))


@pytest.mark.parametrize(("low", "high"), [(0.5, 0.5), (1.0, -1.0), (0.0, math.inf), (math.nan, 1.0)])
def test_uniform_refuses_bad_bounds(low: float, high: float) -> None:
    with pytest.raises(ValueError, match=r"low < high"):
        Uniform(low, high)


# --- sampling with replacement -------------------------------------------------------------------


def test_with_replacement_draws_are_uniform_and_repeat(key: fn.Key) -> None:
    n, epochs = 10, 3000
    counts = np.zeros(n)
    distinct = []
    for e in range(epochs):
        batches = epoch_batches(key, n, 3, e, sampling="with_replacement")
        assert batches is not None and [len(b) for b in batches] == [3, 3, 3, 1]
        drawn = np.concatenate(batches)
        counts += np.bincount(drawn, minlength=n)
        distinct.append(len(np.unique(drawn)))
    expected = epochs  # n draws per epoch over n samples: each expected once per epoch
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert chi2 < 27.88  # the 0.999 quantile of chi-square with 9 degrees of freedom
    # the expected number of distinct samples among n draws: n (1 - (1 - 1/n)^n) = 6.513 for n = 10
    assert np.mean(distinct) == pytest.approx(n * (1 - (1 - 1 / n) ** n), abs=0.05)
    assert min(distinct) < n  # some epoch repeats a sample (a permutation never does)


def test_with_replacement_is_derived_by_meaning(key: fn.Key) -> None:
    a = epoch_batches(key, 20, 4, 7, sampling="with_replacement")
    b = epoch_batches(key, 20, 4, 7, sampling="with_replacement")
    c = epoch_batches(key, 20, 4, 8, sampling="with_replacement")
    perm = epoch_batches(key, 20, 4, 7)
    assert a is not None and b is not None and c is not None and perm is not None
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(np.concatenate(a), np.concatenate(c))
    assert sorted(np.concatenate(perm).tolist()) == list(range(20))
    full = epoch_batches(key, 20, None, 0, sampling="with_replacement")  # full batch: a bootstrap sample
    assert full is not None and len(full) == 1 and len(full[0]) == 20


def _line_data() -> tuple[F64, F64]:
    rng = generator(fn.key(42))
    x = rng.uniform(-1, 1, size=(24, 1))
    return x, 3 * x - 1 + 0.1 * rng.normal(size=x.shape)


def test_with_replacement_training_resumes_exactly(key: fn.Key) -> None:
    x, y = _line_data()
    model = fn.Sequential(fn.Dense(1))
    params = fn.init(model, key, in_shape=(1,))
    start = TrainState.create(
        model, params, loss=fn.MSE(), optimizer=sgd(0.05), key=key, batch_size=1, sampling="with_replacement"
    )
    whole = fit(start, x, y, epochs=6)
    half = fit(start, x, y, epochs=3)
    resumed = fit(half, x, y, epochs=6)
    assert whole.step == resumed.step == 6 * 24
    assert fn.tree_equal(whole.params, resumed.params)
    np.testing.assert_array_equal(whole.history.cost, resumed.history.cost)
    permuted = fn.train(model, params, x, y, loss=fn.MSE(), lr=0.05, epochs=6, key=key, batch_size=1)
    assert not fn.tree_equal(permuted.params, whole.params)  # a different sampling: a different run
    assert abs(float(fn.tree_get(whole.params, "dense_0/w")[0, 0]) - 3) < 0.2  # and it still learns the line


def test_with_replacement_refuses_shuffle_false(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(1))
    with pytest.raises(ValueError, match="shuffle=False"):
        fn.train(
            model,
            fn.init(model, key, in_shape=(1,)),
            *_line_data(),
            loss=fn.MSE(),
            lr=0.1,
            epochs=1,
            key=key,
            shuffle=False,
            sampling="with_replacement",
        )
    with pytest.raises(ValueError, match="sampling"):
        TrainState.create(
            model, fn.init(model, key, in_shape=(1,)), loss=fn.MSE(), optimizer=sgd(0.1), key=key, sampling="bootstrap"
        )


# --- proximal L1 ---------------------------------------------------------------------------------


def _soft(z: F64, a: float) -> F64:
    return np.sign(z) * np.maximum(np.abs(z) - a, 0.0)


def _centred_problem(n: int, d: int, seed: int, *, orthonormal: bool) -> tuple[F64, F64, F64]:
    rng = generator(fn.key(seed))
    a = rng.normal(size=(n, d))
    a -= a.mean(axis=0)  # centred columns: the (unpenalised) bias stays at 0
    x = math.sqrt(n) * np.linalg.qr(a)[0] if orthonormal else a  # QR of centred columns stays centred
    w_true = np.array([3.0, -2.0, 0.05, 0.0, 1.0, -0.1][:d])
    y = x @ w_true + 0.05 * rng.normal(size=n)
    y -= y.mean()
    return x, y[:, np.newaxis], w_true


def _lasso_by_prox(x: F64, y: F64, alpha: float, lr: float, epochs: int) -> tuple[F64, float]:
    model = fn.Sequential(fn.Dense(1, w_init=fn.Zeros()))
    params = fn.init(model, fn.key(0), in_shape=(x.shape[1],))
    opt = chain(l1(alpha, proximal=True), sgd(lr))
    state = fn.train(model, params, x, y, loss=fn.MSE(half=True), optimizer=opt, epochs=epochs, key=fn.key(1))
    return np.asarray(fn.tree_get(state.params, "dense_0/w"))[:, 0], float(fn.tree_get(state.params, "dense_0/b")[0])


def test_proximal_l1_reaches_the_soft_threshold_solution_on_an_orthonormal_design() -> None:
    n, alpha = 60, 0.3
    x, y, _ = _centred_problem(n, 5, 7, orthonormal=True)
    np.testing.assert_allclose(x.T @ x / n, np.eye(5), atol=1e-12)
    # min (1/2n)||Xw - y||² + alpha ||w||₁ with XᵀX = n I is solved coordinate by coordinate:
    exact = _soft(x.T @ y[:, 0] / n, alpha)
    assert np.count_nonzero(exact == 0) == 2  # the two small true weights
    w, b = _lasso_by_prox(x, y, alpha, lr=0.5, epochs=80)
    zero = exact == 0
    assert np.all(w[zero] == 0.0)  # exact zeros, no threshold
    np.testing.assert_allclose(w[~zero], exact[~zero], rtol=1e-10)
    assert abs(b) < 1e-12


def _lasso_by_coordinate_descent(x: F64, y: F64, alpha: float, sweeps: int) -> F64:
    n, d = x.shape
    w = np.zeros(d)
    col_sq = np.sum(x * x, axis=0) / n
    for _ in range(sweeps):
        for j in range(d):
            r = y - x @ w + x[:, j] * w[j]  # the residual without coordinate j
            w[j] = _soft(np.array(x[:, j] @ r / n), alpha) / col_sq[j]
    return w


def test_proximal_l1_agrees_with_coordinate_descent() -> None:
    x, y, _ = _centred_problem(40, 6, 3, orthonormal=False)
    alpha = 0.2
    cd = _lasso_by_coordinate_descent(x, y[:, 0], alpha, sweeps=2000)
    lipschitz = float(np.linalg.eigvalsh(x.T @ x / len(x)).max())
    w, _ = _lasso_by_prox(x, y, alpha, lr=1 / lipschitz, epochs=4000)
    np.testing.assert_allclose(w, cd, atol=1e-8)
    assert np.array_equal(w == 0, cd == 0) and np.any(cd == 0)


def test_proximal_l1_alpha_relates_to_scikit_learn_lasso() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model", reason="scikit-learn is not installed")
    rng = generator(fn.key(8))
    x = rng.normal(size=(50, 4)) + 1.0  # not centred: both fit an unpenalised intercept
    y = x @ np.array([[1.5], [0.0], [-0.7], [0.05]]) + 0.1 * rng.normal(size=(50, 1)) + 2.0
    a = 0.1  # sklearn: ||Xw + b - y||²/(2n) + a |w|₁, which is MSE() / 2 + a |w|₁: l1(2 a) with MSE()
    ref = linear_model.Lasso(alpha=a, tol=1e-12, max_iter=100_000).fit(x, y[:, 0])
    model = fn.Sequential(fn.Dense(1, w_init=fn.Zeros()))
    design = np.hstack([x, np.ones((len(x), 1))])  # the bias is a weight too: the curvature is 2 AᵀA / n
    lipschitz = 2 * float(np.linalg.eigvalsh(design.T @ design / len(x)).max())
    opt = chain(l1(2 * a, proximal=True), sgd(1 / lipschitz))
    state = fn.train(model, fn.init(model, fn.key(0), in_shape=(4,)), x, y, loss=fn.MSE(), optimizer=opt,
                     epochs=20_000, key=fn.key(1))  # fmt: skip
    np.testing.assert_allclose(fn.tree_get(state.params, "dense_0/w")[:, 0], ref.coef_, atol=1e-6)
    assert float(fn.tree_get(state.params, "dense_0/b")[0]) == pytest.approx(float(ref.intercept_), abs=1e-5)
    assert np.array_equal(fn.tree_get(state.params, "dense_0/w")[:, 0] == 0, ref.coef_ == 0)


def test_subgradient_l1_never_reaches_zero_but_proximal_does() -> None:
    x, y, _ = _centred_problem(60, 5, 7, orthonormal=True)
    model = fn.Sequential(fn.Dense(1))
    params = fn.init(model, fn.key(0), in_shape=(5,))
    sub = fn.train(
        model, params, x, y, loss=fn.MSE(half=True), optimizer=chain(l1(0.3), sgd(0.1)), epochs=300, key=fn.key(1)
    )
    prox = fn.train(
        model,
        params,
        x,
        y,
        loss=fn.MSE(half=True),
        optimizer=chain(l1(0.3, proximal=True), sgd(0.1)),
        epochs=300,
        key=fn.key(1),
    )
    assert np.count_nonzero(fn.tree_get(sub.params, "dense_0/w") == 0) == 0
    assert np.count_nonzero(fn.tree_get(prox.params, "dense_0/w") == 0) == 2


def test_proximal_l1_with_a_schedule_uses_the_step_learning_rate() -> None:
    w = fn.freeze({"dense_0": {"w": np.array([[1.0], [0.3]]), "b": np.array([0.5])}})
    zero = fn.tree_map(np.zeros_like, w)
    opt = chain(l1(1.0, proximal=True), sgd(inverse_time_schedule(0.2, 1.0)))  # lr 0.2, then 0.1
    state = opt.init(w)
    new, state = fn.apply_step(opt, zero, state, w)  # threshold 0.2
    np.testing.assert_allclose(fn.tree_get(new, "dense_0/w")[:, 0], [0.8, 0.1])
    new, _ = fn.apply_step(opt, zero, state, new)  # threshold 0.1
    np.testing.assert_allclose(fn.tree_get(new, "dense_0/w")[:, 0], [0.7, 0.0], atol=1e-15)
    assert fn.tree_get(new, "dense_0/w")[1, 0] == 0.0  # exactly
    assert fn.tree_get(new, "dense_0/b")[0] == 0.5  # the bias is not penalised


def test_proximal_l1_config_round_trip_and_repr() -> None:
    opt = chain(l1(0.1, proximal=True), sgd(0.01))
    assert from_config(to_config(opt)) == opt
    assert "proximal=True" in repr(opt)


# --- tol -----------------------------------------------------------------------------------------


def _ls_gradient_norm(x: F64, y: F64, params: fn.FrozenTree[np.float64]) -> float:
    w, b = np.asarray(fn.tree_get(params, "dense_0/w")), np.asarray(fn.tree_get(params, "dense_0/b"))
    r = x @ w + b - y  # MSE over n samples and one output: dC/dw = 2/n Xᵀr, dC/db = 2/n Σr
    return float(np.linalg.norm(np.concatenate([2 * x.T @ r / len(x), 2 * r.sum(axis=0) / len(x)], axis=None)))


def test_tol_stops_at_the_first_epoch_whose_gradient_is_small(key: fn.Key) -> None:
    x, y = _line_data()
    model = fn.Sequential(fn.Dense(1))
    params = fn.init(model, key, in_shape=(1,))
    start = TrainState.create(model, params, loss=fn.MSE(), optimizer=sgd(0.1), key=key)
    norms = [_ls_gradient_norm(x, y, s.params) for s in train_epochs(start, x, y, epochs=200)]
    tol = 1e-3
    expected = next(i + 1 for i, g in enumerate(norms) if g < tol)
    assert 5 < expected < 200
    stopped = fn.train(model, params, x, y, loss=fn.MSE(), lr=0.1, epochs=200, key=key, tol=tol)
    assert stopped.stop_reason == "converged" and stopped.stopped
    assert stopped.epoch == expected and len(stopped.history) == expected
    assert list(train_epochs(stopped, x, y, epochs=300)) == []  # a converged run stays stopped


def test_full_gradient_in_bounded_batches_equals_one_pass(key: fn.Key) -> None:
    x, y = _line_data()
    model = fn.Sequential(fn.Dense(3), fn.Tanh(), fn.Dense(1))
    params = fn.init(model, key, in_shape=(1,))
    for loss in (fn.MSE(), fn.MSE(reduction="sum"), fn.MSE(reduction="batch_mean", half=True)):
        one = full_gradient(model, loss, params, x, y, rows=len(x))
        for rows in (1, 5, 7):
            assert fn.tree_allclose(full_gradient(model, loss, params, x, y, rows=rows), one, rtol=1e-12, atol=1e-15)


def test_tol_unset_never_computes_the_full_gradient(key: fn.Key, monkeypatch: pytest.MonkeyPatch) -> None:
    import funcnn.epoch_loop

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("full_gradient called without tol")

    monkeypatch.setattr(funcnn.epoch_loop, "full_gradient", refuse)
    x, y = _line_data()
    model = fn.Sequential(fn.Dense(1))
    state = fn.train(model, fn.init(model, key, in_shape=(1,)), x, y, loss=fn.MSE(), lr=0.1, epochs=3, key=key)
    assert state.epoch == 3 and state.stop_reason is None


@pytest.mark.parametrize("tol", [0.0, -1.0, math.nan, math.inf, True])
def test_bad_tol_is_refused(tol: float, key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(1))
    with pytest.raises(ValueError, match="tol"):
        TrainState.create(
            model, fn.init(model, key, in_shape=(1,)), loss=fn.MSE(), optimizer=sgd(0.1), key=key, tol=tol
        )


# --- train_steps and trajectory ------------------------------------------------------------------


def test_train_steps_equals_train_epochs_at_epoch_ends(key: fn.Key) -> None:
    rng = generator(fn.key(5))
    x, labels = rng.normal(size=(23, 4)), rng.integers(0, 3, size=23)
    model = fn.Sequential(fn.Dense(8), fn.ReLU(), fn.Dropout(0.3), fn.Dense(3))
    start = TrainState.create(
        model,
        fn.init(model, key, in_shape=(4,)),
        loss=fn.CategoricalCrossEntropy(from_logits=True),
        optimizer=fn.adam(0.01),
        key=key,
        batch_size=5,
        validation_fraction=0.2,
        metrics=["accuracy"],
        patience=50,
    )
    epochs = list(train_epochs(start, x, labels, epochs=4))
    steps = list(train_steps(start, x, labels, epochs=4))
    per_epoch = 4  # 18 training samples (5 held out) in batches of 5
    assert [s.step for s, _ in steps] == list(range(1, 4 * per_epoch + 1))
    ends = [s for s, _ in steps if s.step % per_epoch == 0]
    assert len(ends) == len(epochs) == 4
    for a, b in zip(ends, epochs, strict=True):
        assert a.epoch == b.epoch and a.step == b.step and a.best_epoch == b.best_epoch and a.wait == b.wait
        assert fn.tree_equal(a.params, b.params) and fn.tree_equal(a.opt_state.buffers, b.opt_state.buffers)
        np.testing.assert_array_equal(a.history.cost, b.history.cost)
        np.testing.assert_array_equal(a.history.val_cost, b.history.val_cost)
    mid = [s for s, _ in steps if s.step % per_epoch]
    assert all(s.epoch == (s.step // per_epoch) for s in mid)  # within an epoch the epoch count waits
    assert all(math.isfinite(c) for _, c in steps)


def test_trajectory_keeps_the_path_of_each_step(key: fn.Key) -> None:
    x, y = _line_data()
    model = fn.Sequential(fn.Dense(1))
    start = TrainState.create(
        model, fn.init(model, key, in_shape=(1,)), loss=fn.MSE(), optimizer=sgd(0.05), key=key, batch_size=1
    )
    path = trajectory(start, x, y, epochs=2, paths=["dense_0/b", "dense_0/w"])
    assert path.steps.tolist() == list(range(2 * 24 + 1)) and path.cost.shape == (48,)
    w = path.params["dense_0/w"]
    assert w.shape == (49, 1, 1) and not w.flags.writeable
    np.testing.assert_array_equal(w[0], fn.tree_get(start.params, "dense_0/w"))
    np.testing.assert_array_equal(w[-1], fn.tree_get(fit(start, x, y, epochs=2).params, "dense_0/w"))
    # every step is one SGD step on one sample: the path moves at each step
    assert np.all(np.diff(path.params["dense_0/b"][:, 0]) != 0)
    with pytest.raises(TreeStructureError, match="dense_0/v"):
        trajectory(start, x, y, epochs=1, paths=["dense_0/v"])


# --- polynomial features -------------------------------------------------------------------------


def test_polynomial_features_match_scikit_learn() -> None:
    sk = pytest.importorskip("sklearn.preprocessing", reason="scikit-learn is not installed")
    rng = generator(fn.key(1))
    x = rng.normal(size=(7, 3))
    for degree in (1, 2, 3):
        for bias in (False, True):
            ref = sk.PolynomialFeatures(degree, include_bias=bias).fit(x)
            np.testing.assert_allclose(polynomial_features(x, degree, include_bias=bias), ref.transform(x), rtol=1e-14)
            assert list(polynomial_feature_names(3, degree, include_bias=bias)) == list(ref.get_feature_names_out())


def test_polynomial_features_keep_float32_and_check_arguments() -> None:
    x = np.array([1.0, 2.0], dtype=np.float32)
    out = polynomial_features(x, 2)
    assert out.dtype == np.float32 and out.tolist() == [[1.0, 1.0], [2.0, 4.0]]
    assert polynomial_features(np.array([1, 2]), 1).dtype == np.float64
    assert not np.shares_memory(polynomial_features(x, 1), x)
    with pytest.raises(ValueError, match="degree"):
        polynomial_features(x, 0)
    with pytest.raises(ShapeError, match=r"\(n,\) or \(n, d\)"):
        polynomial_features(np.ones((2, 2, 2)), 2)
    with pytest.raises(ShapeError, match="expected 2 names"):
        polynomial_feature_names(2, 2, names=["a"])
