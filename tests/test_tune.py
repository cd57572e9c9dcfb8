"""funcnn.tune in this process: folds, grids, random search, cross-validation, sweeps, failures, resume."""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn import tune
from funcnn.errors import ConfigError, DataError
from funcnn.rng import generator
from funcnn.training import TrainState

CCE = fn.CategoricalCrossEntropy(from_logits=True)


def blobs(n: int = 90, seed: int = 4) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    g = generator(fn.key(seed))
    labels = np.arange(n) % 3
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[labels] + g.normal(0.0, 0.6, size=(n, 2)), labels


def make_classifier(hidden: int, lr: float, key: fn.Key) -> TrainState[np.float64]:
    model = fn.Sequential(fn.Dense(hidden), fn.ReLU(), fn.Dense(3))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=(2,))
    return TrainState.create(
        model, params, loss=CCE, optimizer=fn.sgd(lr), key=fn.fold_in(key, "train"), batch_size=16,
        metrics=("accuracy",), validation_fraction=0.25,
    )  # fmt: skip


Data = tuple[NDArray[np.float64], NDArray[np.int64]]


def train_trial(config: tune.TrialConfig, key: fn.Key, data: Data) -> TrainState[np.float64]:
    x, y = data
    hidden, lr, epochs = config["hidden"], config["lr"], config.get("epochs", 5)
    assert isinstance(hidden, int) and isinstance(lr, float) and isinstance(epochs, int)
    return fn.fit(make_classifier(hidden, lr, key), x, y, epochs=epochs)


# -- kfold ------------------------------------------------------------------------


@given(
    n_per=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    k=st.integers(2, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_kfold_is_disjoint_covering_balanced_and_stratified(n_per: list[int], k: int, seed: int) -> None:
    y = np.repeat(np.arange(len(n_per)), n_per)
    y = y[generator(fn.key(seed)).permutation(y.size)]
    if y.size < k:
        k = y.size if y.size >= 2 else 2
        if y.size < 2:
            with pytest.raises(ValueError, match="k must be"):
                tune.kfold(fn.key(seed), y, k)
            return
    folds = tune.kfold(fn.key(seed), y, k)
    assert len(folds) == k
    validation = np.concatenate([f.validation for f in folds])
    assert np.array_equal(np.sort(validation), np.arange(y.size))  # disjoint and covering
    sizes = [f.validation.size for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for f in folds:
        assert np.array_equal(np.sort(np.concatenate([f.train, f.validation])), np.arange(y.size))
        assert np.all(np.diff(f.train) > 0) and np.all(np.diff(f.validation) > 0)  # sorted
        assert not f.train.flags.writeable and not f.validation.flags.writeable
    for c in range(len(n_per)):
        counts = [int(np.count_nonzero(y[f.validation] == c)) for f in folds]
        assert max(counts) - min(counts) <= 1, (c, counts)


def test_kfold_is_a_function_of_the_key(key: fn.Key) -> None:
    y = np.arange(40) % 4
    a, b = tune.kfold(key, y, 4), tune.kfold(key, y, 4)
    other = tune.kfold(fn.fold_in(key, 1), y, 4)
    assert all(np.array_equal(f.validation, g.validation) for f, g in zip(a, b, strict=True))
    assert not all(np.array_equal(f.validation, g.validation) for f, g in zip(a, other, strict=True))


def test_kfold_plain_and_one_hot(key: fn.Key) -> None:
    folds = tune.kfold(key, 10, 3, stratified=False)
    assert sorted(f.validation.size for f in folds) == [3, 3, 4]
    y = np.array([0, 1, 2] * 4)
    one_hot = fn.one_hot(y, 3)
    a, b = tune.kfold(key, y, 4), tune.kfold(key, one_hot, 4)
    assert all(np.array_equal(f.validation, g.validation) for f, g in zip(a, b, strict=True))
    regression = np.linspace(0.0, 1.0, 12).reshape(-1, 1)
    assert len(tune.kfold(key, regression, 3, stratified=False)) == 3


def test_kfold_errors(key: fn.Key) -> None:
    with pytest.raises(DataError, match="stratified=False for regression"):
        tune.kfold(key, np.linspace(0.0, 1.0, 12), 3)
    with pytest.raises(DataError, match="only a sample count"):
        tune.kfold(key, 12, 3)
    with pytest.raises(ValueError, match=r"2 <= k <= n = 5"):
        tune.kfold(key, np.arange(5), 6)
    with pytest.raises(ValueError, match="k must be"):
        tune.kfold(key, np.arange(5), 1)


# -- grid and random search ---------------------------------------------------------


def test_grid_order_indices_and_values() -> None:
    configs = tune.grid(lr=[0.1, 0.01, 0.001], hidden=["64", "128,64"], batch=[None])
    assert len(configs) == 6 and [c.index for c in configs] == list(range(6))
    assert [(c["lr"], c["hidden"]) for c in configs[:3]] == [(0.1, "64"), (0.1, "128,64"), (0.01, "64")]
    assert configs == tune.grid(lr=[0.1, 0.01, 0.001], hidden=["64", "128,64"], batch=[None])
    assert tune.grid() == (tune.TrialConfig(0, {}),)
    c = configs[0]
    assert dict(c) == {"lr": 0.1, "hidden": "64", "batch": None}
    with pytest.raises(TypeError):
        c.settings["lr"] = 1.0  # type: ignore[index]
    with pytest.raises(KeyError, match="has no setting 'epochs'"):
        c["epochs"]


def test_grid_errors() -> None:
    with pytest.raises(ConfigError, match="axis 'lr' is empty"):
        tune.grid(lr=[])
    with pytest.raises(ConfigError, match=r"axis 'hidden' must be a list.*hidden=\['64'\]"):
        tune.grid(hidden="64")
    with pytest.raises(ConfigError, match="repeats 0.1"):
        tune.grid(lr=[0.1, 0.2, 0.1])
    with pytest.raises(ConfigError, match="expected a str, int, float"):
        tune.grid(lr=[{"a": 1}])  # type: ignore[list-item]


def test_random_search_is_deterministic_and_prefix_stable(key: fn.Key) -> None:
    space: dict[str, tune.Axis] = {
        "lr": tune.log_uniform(1e-4, 1e-1),
        "momentum": tune.uniform(0.5, 0.99),
        "hidden": tune.choice(8, 16),
    }
    a = tune.random_search(key, space, 200)
    assert a == tune.random_search(key, space, 200)
    assert a[:20] == tune.random_search(key, space, 20)
    assert a != tune.random_search(fn.fold_in(key, 1), space, 200)
    # trial i's value on an axis depends on neither n nor the other axes
    assert [c["lr"] for c in a] == [c["lr"] for c in tune.random_search(key, {"lr": space["lr"]}, 200)]
    lrs = np.array([c["lr"] for c in a])
    assert lrs.min() >= 1e-4 and lrs.max() < 1e-1
    # log-uniform: about a third of the draws in each decade
    decades = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1])[0]
    assert decades.min() > 40, decades
    assert {c["hidden"] for c in a} == {8, 16}
    assert all(0.5 <= c["momentum"] < 0.99 for c in a)  # type: ignore[operator]


def test_random_search_errors_and_parse_space(key: fn.Key) -> None:
    with pytest.raises(ConfigError, match="0 < low"):
        tune.log_uniform(0.0, 1.0)
    with pytest.raises(ConfigError, match="low < high"):
        tune.uniform(1.0, 1.0)
    with pytest.raises(ConfigError, match="at least one value"):
        tune.choice()
    with pytest.raises(ValueError, match="n must be"):
        tune.random_search(key, {"lr": tune.uniform(0, 1)}, 0)
    with pytest.raises(ConfigError, match="axis 'lr' must be uniform"):
        tune.random_search(key, {"lr": [0.1, 0.2]}, 3)  # type: ignore[dict-item]
    space = tune.parse_space({"lr": {"log_uniform": [1e-3, 1.0]}, "hidden": ["64", "32"], "p": {"uniform": [0, 1]}})
    assert space == {
        "lr": tune.LogUniform(1e-3, 1.0),
        "hidden": tune.Choice(("64", "32")),
        "p": tune.Uniform(0.0, 1.0),
    }
    with pytest.raises(ConfigError, match="unknown kind"):
        tune.parse_space({"lr": {"normal": [0, 1]}})


# -- cross-validation -------------------------------------------------------------------


def test_cross_validate_matches_a_hand_written_loop(key: fn.Key) -> None:
    x, y = blobs()
    folds = tune.kfold(fn.fold_in(key, "folds"), y, 3)
    root = fn.fold_in(key, "cv")

    def make(k: fn.Key) -> TrainState[np.float64]:
        return make_classifier(8, 0.3, k)

    cv = tune.cross_validate(make, x, y, folds, key=root, epochs=4, metrics=("accuracy", "macro_f1"))
    assert len(cv.reports) == len(cv.states) == 3
    for i, (train_idx, val_idx) in enumerate(folds):
        state = fn.fit(make(fn.fold_in(root, i)), x[train_idx], y[train_idx], epochs=4)
        fold_params: fn.FrozenTree[Any] = cv.states[i].params
        assert fn.tree_equal(state.params, fold_params)
        report = fn.evaluate(state.model, state.params, x[val_idx], y[val_idx], loss=CCE, metrics=("accuracy",))
        assert cv.reports[i].metrics["accuracy"] == report.metrics["accuracy"]
        assert cv.reports[i].samples == val_idx.size
    accs = [r.metrics["accuracy"] for r in cv.reports]
    assert cv.mean("accuracy") == pytest.approx(np.mean(accs))
    assert cv.std("accuracy") == pytest.approx(np.std(accs, ddof=1))
    assert set(cv.scores()) == {"cost", "accuracy", "macro_f1"} and cv.epochs == 4
    assert cv.mean("accuracy") > 0.8
    assert "± " in str(cv)
    with pytest.raises(KeyError, match="no metric 'r2'"):
        cv.mean("r2")
    with pytest.raises(ValueError, match="no folds"):
        tune.cross_validate(make, x, y, (), key=root, epochs=1)
    with pytest.raises(fn.ShapeError, match="fold 0"):
        tune.cross_validate(make, x[:10], y[:10], folds, key=root, epochs=1)


# -- sweep, serially ------------------------------------------------------------------------


def key_trial(config: tune.TrialConfig, key: fn.Key, data: None) -> dict[str, float]:
    return {"draw": float(generator(key).random())}


def test_each_trial_gets_fold_in_of_the_sweep_key(key: fn.Key) -> None:
    configs = [tune.TrialConfig(7, {"a": 1}), tune.TrialConfig(3, {"a": 2})]
    table = tune.sweep(key_trial, configs, key=key, data=None, monitor="draw")
    for index in (7, 3):
        assert table.by_index(index).metrics["draw"] == generator(fn.fold_in(key, index)).random()
    # plain mappings are indexed by position
    plain = tune.sweep(key_trial, [{"a": 1}, {"a": 2}], key=key, data=None, monitor="draw")
    assert sorted(r.index for r in plain) == [0, 1]
    with pytest.raises(ConfigError, match="index 3 appears twice"):
        tune.sweep(key_trial, [*configs, tune.TrialConfig(3, {})], key=key, data=None)


def flaky_trial(config: tune.TrialConfig, key: fn.Key, data: Data) -> TrainState[np.float64] | Mapping[str, float]:
    if config["lr"] == 0.2 and config["hidden"] == 4:
        raise ValueError("hidden=4 is too small for lr=0.2")
    lr = config["lr"]
    if isinstance(lr, float) and lr > 1.0:  # a linear fit that diverges: a non-finite cost
        x, y = data
        model = fn.Sequential(fn.Dense(1))
        params = fn.init(model, key, in_shape=(2,))
        return fn.train(model, params, x, y[:, None] * 1.0, loss=fn.MSE(), lr=lr, epochs=50, key=key)
    return train_trial(config, key, data)


def test_failures_are_recorded_and_the_table_is_sorted(key: fn.Key) -> None:
    data = blobs()
    configs = tune.grid(lr=[0.05, 0.2, 1e6], hidden=[4, 8])
    seen: list[int] = []
    table = tune.sweep(
        flaky_trial, configs, key=key, data=data, monitor="val_accuracy", on_result=lambda r: seen.append(r.index)
    )
    assert sorted(seen) == list(range(6)) and len(table) == 6 and table.mode == "max"
    failed = {r.index: r for r in table.failed}
    assert set(failed) == {2, 4, 5}  # a raising config, and both huge learning rates
    assert failed[2].message == "ValueError: hidden=4 is too small for lr=0.2"
    assert "NonFiniteLossError" in failed[4].message or "FloatingPointError" in failed[4].message
    assert all(r.status == "failed" and not r.metrics and r.state is None for r in table.failed)
    ok = table.ok
    assert [r.index for r in table.rows[: len(ok)]] == [r.index for r in ok]  # failed trials last
    scores = [r.metrics["val_accuracy"] for r in ok]
    assert scores == sorted(scores, reverse=True)
    assert table.best is ok[0] and table.best.epochs == 5 and table.best.state is not None
    assert table.best.metrics["val_accuracy"] == np.asarray(table.best.state.history.metrics["val_accuracy"])[-1]
    json.dumps(table.to_dict(), allow_nan=False)
    assert "failed: ValueError" in str(table)
    rows, cols, grid_ = table.pivot("lr", "hidden", "val_accuracy")
    assert rows == (0.05, 0.2, 1e6) and cols == (4, 8) and grid_.shape == (3, 2)
    assert math.isnan(grid_[1, 0]) and np.all(np.isnan(grid_[2]))
    assert grid_[0, 1] == table.by_index(1).metrics["val_accuracy"]
    records = table.records()
    assert records[0]["index"] == table.best.index and {"lr", "hidden", "val_accuracy", "seconds"} <= set(records[0])


def test_monitor_modes_and_missing_scores(key: fn.Key) -> None:
    def trial(config: tune.TrialConfig, key: fn.Key, data: None) -> dict[str, float]:
        v = config["v"]
        assert isinstance(v, float)
        return {"val_cost": v} if v >= 0 else {}

    configs = tune.grid(v=[0.5, -1.0, 0.1, math.inf, 0.3])
    low = tune.sweep(trial, configs, key=key, data=None)
    assert low.mode == "min" and [r.config["v"] for r in low] == [0.1, 0.3, 0.5, -1.0, math.inf]
    high = tune.sweep(trial, configs, key=key, data=None, mode="max")
    assert [r.config["v"] for r in high] == [0.5, 0.3, 0.1, -1.0, math.inf]
    assert tune.infer_mode("val_accuracy") == "max" and tune.infer_mode("val_rmse") == "min"
    with pytest.raises(LookupError, match="no trial finished"):
        _ = tune.sweep(trial, tune.grid(v=[-1.0]), key=key, data=None).best


def test_resume_skips_finished_trials_and_reruns_failed_ones(key: fn.Key) -> None:
    data = blobs()
    configs = tune.grid(lr=[0.05, 0.2], hidden=[4, 8])
    first = tune.sweep(flaky_trial, configs, key=key, data=data, monitor="val_accuracy")
    stored = [tune.TrialResult.from_dict(json.loads(json.dumps(r.to_dict()))) for r in first]
    assert [r.to_dict() for r in stored] == [r.to_dict() for r in first]
    ran: list[int] = []
    again = tune.sweep(
        train_trial, configs, key=key, data=data, monitor="val_accuracy", done=stored,
        on_result=lambda r: ran.append(r.index),
    )  # fmt: skip
    assert ran == [2]  # only the trial that failed before
    assert again.by_index(2).status == "ok"
    for r in first.ok:
        assert again.by_index(r.index).metrics == r.metrics
    changed = tune.grid(lr=[0.05, 0.3], hidden=[4, 8])
    with pytest.raises(ConfigError, match="finished trial 2 had"):
        tune.sweep(train_trial, changed, key=key, data=data, done=stored)


def test_trial_outputs_of_every_kind(key: fn.Key) -> None:
    g = generator(fn.key(3))  # 12 noisy samples of sin(3x): a wide network overfits, early stopping fires
    xs = g.uniform(-1.0, 1.0, size=(12, 1))
    ys = np.sin(3 * xs) + g.normal(0.0, 0.3, size=xs.shape)
    xv = np.linspace(-1.0, 1.0, 50)[:, None]
    model = fn.Sequential(fn.Dense(64), fn.Tanh(), fn.Dense(1))
    state = fn.train(
        model, fn.init(model, key, in_shape=(1,)), xs, ys, loss=fn.MSE(), optimizer=fn.adam(0.05), epochs=400,
        key=key, validation=(xv, np.sin(3 * xv)), patience=5, metrics=("rmse",),
    )  # fmt: skip
    assert state.last_params is not None and state.best_epoch is not None and state.best_epoch < state.epoch
    out = tune.TrialOutput.of(state)
    assert out.metrics["val_cost"] == state.best_cost and out.epochs == state.epoch
    assert out.metrics["val_rmse"] == np.asarray(state.history.metrics["val_rmse"])[state.best_epoch - 1]
    x, y = blobs()
    folds = tune.kfold(key, y, 3)
    cv = tune.cross_validate(lambda k: make_classifier(8, 0.3, k), x, y, folds, key=key, epochs=2)
    cv_out = tune.TrialOutput.of(cv)
    assert cv_out.metrics["val_accuracy"] == cv.mean("accuracy")
    assert cv_out.metrics["val_cost_std"] == cv.std("cost") and cv_out.epochs == 2
    assert tune.TrialOutput.of({"a": 1}).metrics == {"a": 1.0}
    with pytest.raises(TypeError, match="'a' must be a number"):
        tune.TrialOutput.of({"a": "high"})  # type: ignore[dict-item]


def test_a_thread_pool_gives_the_serial_results(key: fn.Key) -> None:
    data = blobs()
    configs = tune.grid(lr=[0.05, 0.2], hidden=[4, 8])
    serial = tune.sweep(train_trial, configs, key=key, data=data)
    with cf.ThreadPoolExecutor(2) as pool:
        threaded = tune.sweep(train_trial, configs, key=key, data=data, executor=pool)
    for r in serial:
        t = threaded.by_index(r.index)
        assert t.metrics == r.metrics and t.state is not None and r.state is not None
        threaded_params: fn.FrozenTree[Any] = t.state.params
        assert fn.tree_equal(threaded_params, r.state.params)


def test_a_process_pool_needs_a_picklable_trial(key: fn.Key) -> None:
    with cf.ProcessPoolExecutor(1) as pool, pytest.raises(TypeError, match="picklable trial function"):
        tune.sweep(lambda c, k, d: {"a": 1.0}, tune.grid(a=[1]), key=key, data=None, executor=pool)
