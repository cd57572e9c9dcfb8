"""The training loop: optimizers, validation, metrics, early stopping, non-finite costs, resumption."""

from __future__ import annotations

import re
from typing import Any, TypeAlias

import attrs
import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn.metrics import accuracy
from funcnn.optim import OptState, adam, sgd
from funcnn.rng import generator
from funcnn.schedules import inverse_time_schedule
from funcnn.training import History, TrainState, fit, split_validation, train_epochs
from funcnn.transforms import chain, clip_by_global_norm, l2
from funcnn.tree import FrozenTree, tree_leaves

CCE = fn.CategoricalCrossEntropy(from_logits=True)
Tree: TypeAlias = FrozenTree[Any]
State: TypeAlias = TrainState[np.float64]


def blobs(n: int = 60, seed: int = 4) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    g = generator(fn.key(seed))
    labels = np.arange(n) % 3
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[labels] + g.normal(0.0, 0.8, size=(n, 2)), labels


def classifier(dtype: Any = np.float64) -> tuple[fn.Sequential, Tree]:
    model = fn.Sequential(fn.Dense(16), fn.ReLU(), fn.Dropout(0.2), fn.Dense(3))
    params: Tree = fn.init(model, fn.key(0), in_shape=(2,), dtype=dtype)
    return model, params


def same_state(a: TrainState[np.float64], b: TrainState[np.float64]) -> None:
    """Every field of two states, compared exactly (trees and arrays bit for bit)."""
    for field in attrs.fields(TrainState):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, FrozenTree):
            assert isinstance(y, FrozenTree) and fn.tree_equal(x, y), field.name
        elif isinstance(x, OptState):
            assert x.count == y.count and fn.tree_equal(x.buffers, y.buffers), field.name
        elif isinstance(x, History):
            assert np.array_equal(x.cost, y.cost) and np.array_equal(x.val_cost, y.val_cost), field.name
            assert fn.tree_equal(x.metrics, y.metrics), field.name
        else:
            assert x == y, field.name


def overfitting_problem() -> tuple[NDArray[np.float64], ...]:
    """12 noisy samples of sin(3x) and a clean validation curve: a wide MLP overfits."""
    g = generator(fn.key(3))
    x = g.uniform(-1.0, 1.0, size=(12, 1))
    y = np.sin(3 * x) + g.normal(0.0, 0.3, size=x.shape)
    xv = np.linspace(-1.0, 1.0, 100)[:, None]
    return x, y, xv, np.sin(3 * xv)


def wide_mlp() -> tuple[fn.Sequential, Tree]:
    model = fn.Sequential(fn.Dense(64), fn.Tanh(), fn.Dense(64), fn.Tanh(), fn.Dense(1))
    return model, fn.init(model, fn.key(0), in_shape=(1,))


# -- basics, purity, determinism ----------------------------------------------------------------


def test_train_with_any_optimizer_lowers_the_cost() -> None:
    x, y = blobs()
    model, params = classifier()
    for opt in (sgd(0.1, momentum=0.9), adam(0.01), chain(clip_by_global_norm(1.0), l2(1e-3), adam(0.01))):
        state = fn.train(model, params, x, y, loss=CCE, epochs=30, key=fn.key(1), optimizer=opt, batch_size=16)
        assert len(state.history) == 30 and state.epoch == 30 and state.step == 30 * 4
        assert state.history.cost[-1] < 0.5 * state.history.cost[0]
        assert state.opt_state.count == state.step
        assert len(state.history.val_cost) == 0 and len(state.history.metrics) == 0


def test_same_key_same_run_bit_for_bit_and_inputs_untouched() -> None:
    x, y = blobs()
    model, params = classifier()
    x0, y0, p0 = x.copy(), y.copy(), fn.thaw(params)
    kwargs = dict(loss=CCE, epochs=8, optimizer=adam(0.01), batch_size=8, validation_fraction=0.25,
                  metrics=["accuracy"], patience=50)
    a = fn.train(model, params, x, y, key=fn.key(1), **kwargs)  # type: ignore[arg-type]
    b = fn.train(model, params, x, y, key=fn.key(1), **kwargs)  # type: ignore[arg-type]
    c = fn.train(model, params, x, y, key=fn.key(2), **kwargs)  # type: ignore[arg-type]
    same_state(a, b)
    assert not fn.tree_equal(a.params, c.params)
    restored: Tree = fn.freeze(p0)
    assert np.array_equal(x, x0) and np.array_equal(y, y0) and fn.tree_equal(params, restored)


def test_lr_may_be_a_schedule() -> None:
    x, y = blobs()
    model, params = classifier()
    schedule = inverse_time_schedule(0.5, 0.1)
    a = fn.train(model, params, x, y, loss=CCE, epochs=5, key=fn.key(1), lr=schedule, batch_size=20)
    b = fn.train(model, params, x, y, loss=CCE, epochs=5, key=fn.key(1), optimizer=sgd(schedule), batch_size=20)
    same_state(a, b)


def test_float32_runs_stay_float32() -> None:
    x, y = blobs()
    model, params = classifier(np.float32)
    state = fn.train(model, params, x, y, loss=CCE, epochs=4, key=fn.key(1), optimizer=adam(0.01), batch_size=16,
                     validation_fraction=0.2, metrics=["accuracy"], patience=10)
    trees = [state.params, state.opt_state.buffers, state.best_params]
    assert {a.dtype for t in trees if t is not None for a in tree_leaves(t)} == {np.dtype(np.float32)}
    assert state.history.cost.dtype == np.float64 and state.history.val_cost.dtype == np.float64


def test_state_fields_are_checkpointable_types() -> None:
    """Only specs, keys, trees, optimizer states, histories and plain values (the checkpoint contract)."""
    x, y = blobs()
    model, params = classifier()
    state = fn.train(model, params, x, y, loss=CCE, epochs=3, key=fn.key(1), optimizer=adam(0.01),
                     validation_fraction=0.2, metrics=["accuracy", "f1"], patience=5)
    plain = (int, float, bool, str, type(None), fn.Key, FrozenTree, OptState, History)
    for field in attrs.fields(TrainState):
        value = getattr(state, field.name)
        ok = isinstance(value, plain) or hasattr(type(value), "kind") or (
            isinstance(value, tuple) and all(isinstance(v, int | float | bool | str) for v in value)
        )
        assert ok, f"{field.name}: {type(value).__name__}"
    for series in (state.history.cost, state.history.val_cost, *state.history.metrics.values()):
        assert isinstance(series, np.ndarray) and not series.flags.writeable and len(series) == 3
    text = repr(state)  # readable, and never compares trees
    assert "OptState(count=" in text and "dense_0/w: float64[2, 16]" in text


# -- observer, generator ---------------------------------------------------------------------------


def test_observer_sees_every_epoch_and_train_never_prints(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = blobs()
    model, params = classifier()
    seen: list[TrainState[np.float64]] = []
    final = fn.train(model, params, x, y, loss=CCE, epochs=5, key=fn.key(1), lr=0.1, observer=seen.append)
    assert [s.epoch for s in seen] == [1, 2, 3, 4, 5]
    same_state(seen[-1], final)
    assert capsys.readouterr() == ("", "")


def test_train_epochs_yields_the_same_states_as_the_observer() -> None:
    x, y = blobs()
    model, params = classifier()
    seen: list[TrainState[np.float64]] = []
    fn.train(model, params, x, y, loss=CCE, epochs=4, key=fn.key(1), lr=0.1, batch_size=16, observer=seen.append)
    start = TrainState.create(model, params, loss=CCE, optimizer=sgd(0.1), key=fn.key(1), batch_size=16)
    for a, b in zip(seen, train_epochs(start, x, y, epochs=4), strict=True):
        same_state(a, b)


# -- validation and metrics ----------------------------------------------------------------------


def test_validation_split_is_reproducible_and_disjoint() -> None:
    tr, va = split_validation(fn.key(9), 50, 0.2)
    tr2, va2 = split_validation(fn.key(9), 50, 0.2)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert len(va) == 10 and sorted([*tr, *va]) == list(range(50))
    assert not np.array_equal(va, split_validation(fn.key(10), 50, 0.2)[1])
    assert len(split_validation(fn.key(9), 3, 0.01)[1]) == 1 and len(split_validation(fn.key(9), 3, 0.99)[0]) == 1


def test_history_val_cost_and_metrics_match_independent_computation() -> None:
    x, y = blobs()
    model, params = classifier()
    seen: list[TrainState[np.float64]] = []
    final = fn.train(model, params, x, y, loss=CCE, epochs=4, key=fn.key(1), optimizer=adam(0.02), batch_size=16,
                     validation_fraction=0.25, metrics=["accuracy", "rmse"], observer=seen.append,
                     train_metrics="end")  # training metrics from one more pass with each epoch's final params
    assert sorted(final.history.metrics) == ["accuracy", "rmse", "val_accuracy", "val_rmse"]
    tr, va = split_validation(fn.key(1), len(x), 0.25)
    onehot = np.eye(3)[y]
    for e, state in enumerate(seen):
        y_val = fn.predict(model, state.params, x[va])
        cost, _ = fn.loss(CCE, y_val, y[va])
        assert final.history.val_cost[e] == cost
        assert final.history.metrics.leaf("val_accuracy")[e] == accuracy(y_val, y[va])
        y_tr = fn.predict(model, state.params, x[tr])
        assert final.history.metrics.leaf("accuracy")[e] == accuracy(y_tr, y[tr])
        assert final.history.metrics.leaf("rmse")[e] == pytest.approx(np.sqrt(np.mean((y_tr - onehot[tr]) ** 2)))
    # the training cost is over the training part only: n=45 samples, batches of 16 -> 3 steps per epoch
    assert final.step == 4 * 3


def test_explicit_validation_data() -> None:
    x, y = blobs()
    xv, yv = blobs(30, seed=8)
    model, params = classifier()
    state = fn.train(model, params, x, y, loss=CCE, epochs=3, key=fn.key(1), lr=0.1, validation=(xv, yv))
    cost, _ = fn.loss(CCE, fn.predict(model, state.params, xv), yv)
    assert state.history.val_cost[-1] == cost and state.step == 3
    with pytest.raises(ValueError, match="not both"):
        fn.train(model, params, x, y, loss=CCE, epochs=3, key=fn.key(1), lr=0.1, validation=(xv, yv),
                 validation_fraction=0.2)
    with pytest.raises(fn.ShapeError, match="validation"):
        fn.train(model, params, x, y, loss=CCE, epochs=3, key=fn.key(1), lr=0.1, validation=(xv, yv[:5]))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"metrics": ["acuracy"]}, "unknown metric"),
        ({"patience": 0}, "patience=0"),
        ({"validation_fraction": 1.5}, "validation_fraction=1.5"),
        ({"min_delta": -1.0}, "min_delta=-1.0"),
        ({"on_nonfinite": "ignore"}, "on_nonfinite='ignore'"),
        ({"epochs": 0}, "epochs=0"),
    ],
)
def test_bad_arguments_name_the_value(kwargs: dict[str, object], pattern: str) -> None:
    x, y = blobs()
    model, params = classifier()
    args: dict[str, object] = {"loss": CCE, "epochs": 3, "key": fn.key(1), "lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        fn.train(model, params, x, y, **args)  # type: ignore[arg-type]


# -- early stopping --------------------------------------------------------------------------------


def overfit(epochs: int, patience: int, *, restore_best: bool = True) -> tuple[State, list[State]]:
    """The wide MLP trained by adam on the overfitting problem, early stopping on: the result and each epoch's state."""
    x, y, xv, yv = overfitting_problem()
    model, params = wide_mlp()
    seen: list[State] = []
    result = fn.train(model, params, x, y, loss=fn.MSE(), epochs=epochs, key=fn.key(1), optimizer=adam(0.01),
                      validation=(xv, yv), patience=patience, restore_best=restore_best, observer=seen.append)
    return result, seen


def test_early_stopping_returns_the_best_validation_epoch() -> None:
    result, seen = overfit(2000, 30)
    _, _, xv, yv = overfitting_problem()
    model, _ = wide_mlp()
    val = result.history.val_cost
    best = int(np.argmin(val))
    assert result.stop_reason == "early_stopping" and result.stopped
    assert result.best_epoch == best + 1 and result.epoch == best + 1 + 30 == len(seen)
    assert val[-1] > 1.5 * val[best]  # it really was overfitting when it stopped
    assert fn.tree_equal(result.params, seen[best].params)
    assert fn.tree_equal(result.last_params, seen[-1].params)  # type: ignore[arg-type]
    cost, _ = fn.loss(fn.MSE(), fn.predict(model, result.params, xv), yv)
    assert cost == val[best] == result.best_cost
    live, _ = overfit(2000, 30, restore_best=False)
    assert fn.tree_equal(live.params, seen[-1].params) and live.last_params is None


def test_best_params_are_returned_when_epochs_run_out_first() -> None:
    result, seen = overfit(300, 1000)
    best = int(np.argmin(result.history.val_cost))
    assert result.stop_reason is None and result.epoch == 300 and best + 1 < 300
    assert result.best_epoch == best + 1 and fn.tree_equal(result.params, seen[best].params)


def test_min_delta_and_training_cost_monitoring() -> None:
    x, y = blobs()
    model, params = classifier()
    # Without validation data the training cost is monitored; a huge min_delta means no epoch improves
    # on the first, so the run stops after exactly `patience` more epochs.
    state = fn.train(model, params, x, y, loss=CCE, epochs=50, key=fn.key(1), lr=0.05, patience=3, min_delta=10.0)
    assert state.best_epoch == 1 and state.epoch == 4 and state.stop_reason == "early_stopping"
    assert state.best_cost == state.history.cost[0]


# -- resuming ---------------------------------------------------------------------------------------


def test_resuming_from_any_yielded_state_is_the_same_run() -> None:
    x, y = blobs()
    model, params = classifier()
    opt = chain(l2(1e-3), adam(0.02))
    start = TrainState.create(model, params, loss=CCE, optimizer=opt, key=fn.key(1), batch_size=8,
                              validation_fraction=0.25, metrics=["accuracy"], patience=50)
    whole = list(train_epochs(start, x, y, epochs=8))
    middle = whole[2]
    rest = list(train_epochs(middle, x, y, epochs=8))
    assert len(rest) == 5
    for a, b in zip(whole[3:], rest, strict=True):
        same_state(a, b)


def test_continuing_a_restored_result_is_the_same_run() -> None:
    x, y, xv, yv = overfitting_problem()
    model, params = wide_mlp()
    kwargs = dict(loss=fn.MSE(), key=fn.key(1), optimizer=adam(0.01), validation=(xv, yv), patience=1000)
    first = fn.train(model, params, x, y, epochs=260, **kwargs)  # type: ignore[arg-type]
    assert first.last_params is not None  # params were swapped for the best; live ones kept
    continued = fit(first, x, y, epochs=300, validation=(xv, yv))
    whole = fn.train(model, params, x, y, epochs=300, **kwargs)  # type: ignore[arg-type]
    same_state(continued, whole)


def test_a_stopped_state_stays_stopped() -> None:
    x, y = blobs()
    model, params = classifier()
    state = fn.train(model, params, x, y, loss=CCE, epochs=50, key=fn.key(1), lr=0.05, patience=2, min_delta=10.0)
    assert state.stopped
    assert fit(state, x, y, epochs=100) is state
    assert list(train_epochs(state, x, y, epochs=100)) == []


def test_resuming_needs_the_same_validation_setting() -> None:
    x, y = blobs()
    xv, yv = blobs(30, seed=8)
    model, params = classifier()
    state = fn.train(model, params, x, y, loss=CCE, epochs=2, key=fn.key(1), lr=0.1, validation=(xv, yv))
    with pytest.raises(ValueError, match="same validation setting"):
        fit(state, x, y, epochs=4)


# -- non-finite costs ----------------------------------------------------------------------------


def diverging_run(on_nonfinite: str) -> TrainState[np.float64]:
    x = np.linspace(-3.0, 3.0, 20)[:, None]
    y = 2.0 * x
    model = fn.Sequential(fn.Dense(1))
    params: Tree = fn.init(model, fn.key(0), in_shape=(1,))
    with np.errstate(over="ignore", invalid="ignore"):  # let the cost reach inf instead of raising in numpy
        return fn.train(model, params, x, y, loss=fn.MSE(), epochs=500, key=fn.key(1), lr=2.0, batch_size=5,
                        on_nonfinite=on_nonfinite)  # type: ignore[arg-type]


def test_a_non_finite_cost_names_epoch_and_step() -> None:
    stopped = diverging_run("stop")
    epoch = stopped.epoch  # the last finite state is the end of the epoch before the failure
    assert stopped.stop_reason == "non_finite" and 0 < epoch < 500
    assert all(np.all(np.isfinite(a)) for a in tree_leaves(stopped.params))
    assert np.all(np.isfinite(stopped.history.cost)) and len(stopped.history) == epoch
    with pytest.raises(fn.NonFiniteLossError, match=rf"at epoch {epoch} \(0-based\), step (\d+)") as info:
        diverging_run("raise")
    match = re.search(r"step (\d+)", str(info.value))
    assert match is not None and epoch * 4 <= int(match.group(1)) < (epoch + 1) * 4  # 4 steps per epoch
