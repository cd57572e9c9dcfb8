"""Batched evaluation equals one pass over all the data.

``predict``, ``evaluate``, ``replay`` and the validation and metrics of the
training loop run in batches of bounded size. BLAS sums a matrix product in an
order that depends on the number of rows, so outputs and costs of different
batch sizes agree to float rounding; labels, and every label-based metric,
agree exactly (the data here are checked to have no near-ties). The batch
sizes include 1 and sizes that do not divide the data. A recording layer
checks that no pass ever holds more rows than the batch size.
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import Recorder
from numpy.typing import NDArray

import funcnn as fn
from funcnn.batching import epoch_batches
from funcnn.layers.base import Layer
from funcnn.metrics import accuracy, to_labels
from funcnn.network import EVAL_BUDGET_BYTES, eval_batch_size
from funcnn.training import TrainState

N = 53  # a prime: no batch size above 1 divides it
SIZES = (1, 2, 7, 16, N, N + 9, None)
CCE = fn.CategoricalCrossEntropy(from_logits=True)


def row_recorder() -> Recorder[int]:
    """An identity layer that records the rows of every batch it sees (test-only)."""
    return Recorder(lambda x: x.shape[0])


def mlp(dtype: type = np.float64, rows: Recorder[int] | None = None) -> tuple[fn.Sequential, fn.FrozenTree[np.float64]]:
    layers: list[Layer] = [fn.Dense(12), fn.ReLU(), fn.Dense(4)]
    model = fn.Sequential(*([rows] if rows is not None else []), *layers)
    return model, fn.init(model, fn.key(1), in_shape=(5,), dtype=dtype)


def cnn(dtype: type = np.float32) -> tuple[fn.Sequential, fn.FrozenTree[np.float32]]:
    model = fn.Sequential(
        fn.Conv2D(3, 3, padding="same"), fn.ReLU(), fn.MaxPool2D(2), fn.Conv2D(4, 3), fn.ReLU(),
        fn.Flatten(), fn.Dense(3),
    )
    return model, fn.init(model, fn.key(2), in_shape=(8, 8, 2), dtype=dtype)


def data(
    shape: tuple[int, ...], classes: int, dtype: type = np.float64
) -> tuple[NDArray[np.floating], NDArray[np.int64]]:
    g = np.random.default_rng(5)
    return g.standard_normal((N, *shape)).astype(dtype), g.integers(0, classes, size=N)


def no_near_ties(y: NDArray[np.floating]) -> bool:
    top2 = np.sort(y, axis=1)[:, -2:]
    return bool(np.min(top2[:, 1] - top2[:, 0]) > 1e-3)


def tolerance(dtype: np.dtype[np.floating]) -> float:
    return 1e-5 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("batch_size", SIZES)
@pytest.mark.parametrize("which", ["mlp64", "mlp32", "cnn32"])
def test_predict_in_batches_equals_one_pass(which: str, batch_size: int | None) -> None:
    if which.startswith("mlp"):
        model, params = mlp(np.float32 if which == "mlp32" else np.float64)
        x, _ = data((5,), 4)
    else:
        model, params = cnn()  # type: ignore[assignment]
        x, _ = data((8, 8, 2), 3, np.float32)
    whole, _ = fn.forward(model, params, x)
    y = fn.predict(model, params, x, batch_size=batch_size)
    assert y.shape == whole.shape and y.dtype == whole.dtype == fn.tree_dtype(params)
    assert not y.flags.writeable
    np.testing.assert_allclose(y, whole, rtol=tolerance(y.dtype), atol=tolerance(y.dtype))
    assert no_near_ties(whole)
    assert np.array_equal(to_labels(y), to_labels(whole))


@pytest.mark.parametrize("batch_size", [1, 7, 16, N])
def test_no_pass_holds_more_rows_than_the_batch(batch_size: int) -> None:
    rows = row_recorder()
    model, params = mlp(rows=rows)
    x, _ = data((5,), 4)
    fn.predict(model, params, x, batch_size=batch_size)
    assert max(rows.seen) == batch_size and sum(rows.seen) == N
    assert rows.seen == [min(batch_size, N - s) for s in range(0, N, batch_size)]


def test_default_batch_comes_from_the_memory_budget() -> None:
    model, params = cnn()
    x, _ = data((8, 8, 2), 3, np.float32)
    y, cache = fn.forward(model, params, x[:1])
    row = y.nbytes + sum(leaf.nbytes for leaf in fn.tree_leaves(cache))
    assert eval_batch_size(model, params, x, budget=10 * row) == 10
    assert eval_batch_size(model, params, x, budget=1) == 1
    assert eval_batch_size(model, params, x) == min(N, EVAL_BUDGET_BYTES // row)
    assert eval_batch_size(model, params, x[:1]) == 1


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_batch_sizes_are_refused(bad: object) -> None:
    model, params = mlp()
    x, y = data((5,), 4)
    with pytest.raises(ValueError, match="batch_size"):
        fn.predict(model, params, x, batch_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eval_batch_size"):
        fn.train(model, params, x, y, loss=CCE, epochs=1, key=fn.key(0), lr=0.1, eval_batch_size=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [1, 7, 16, None])
def test_evaluate_in_batches(batch_size: int | None) -> None:
    model, params = mlp()
    x, y = data((5,), 4)
    whole = fn.evaluate(model, params, x, y, loss=CCE, batch_size=N)
    report = fn.evaluate(model, params, x, y, loss=CCE, batch_size=batch_size)
    assert report.samples == whole.samples == N
    assert report.cost == pytest.approx(whole.cost, rel=1e-12)
    assert dict(report.metrics) == dict(whole.metrics)  # accuracy and macro F1, from labels: exact
    assert report.classes is not None and whole.classes is not None
    assert np.array_equal(report.classes.confusion, whole.classes.confusion)


def test_evaluate_regression_in_batches() -> None:
    model, params = mlp()
    x, _ = data((5,), 4)
    t = np.random.default_rng(9).standard_normal((N, 4))
    whole = fn.evaluate(model, params, x, t, loss=fn.MSE(), batch_size=N)
    for size in (1, 7):
        report = fn.evaluate(model, params, x, t, loss=fn.MSE(), batch_size=size)
        assert report.cost == pytest.approx(whole.cost, rel=1e-12)
        assert report.metrics.keys() == whole.metrics.keys()
        for name, value in whole.metrics.items():
            assert report.metrics[name] == pytest.approx(value, rel=1e-12), name


@pytest.mark.parametrize("eval_batch", [1, 7, None])
def test_validation_in_batches_leaves_training_unchanged(eval_batch: int | None) -> None:
    model, params = mlp()
    x, y = data((5,), 4)
    run = {"loss": CCE, "epochs": 3, "key": fn.key(3), "optimizer": fn.adam(0.01), "batch_size": 8,
           "validation_fraction": 0.3, "metrics": ["accuracy", "macro_f1"]}
    whole = fn.train(model, params, x, y, eval_batch_size=10_000, **run)  # type: ignore[arg-type]
    state = fn.train(model, params, x, y, eval_batch_size=eval_batch, **run)  # type: ignore[arg-type]
    assert fn.tree_equal(state.params, whole.params)  # validation never touches the training
    assert np.array_equal(state.history.cost, whole.history.cost)
    np.testing.assert_allclose(state.history.val_cost, whole.history.val_cost, rtol=1e-12)
    for name in ("accuracy", "macro_f1", "val_accuracy", "val_macro_f1"):
        assert np.array_equal(state.history.metrics.leaf(name), whole.history.metrics.leaf(name)), name


def test_validation_passes_are_bounded() -> None:
    rows = row_recorder()
    model, params = mlp(rows=rows)
    x, y = data((5,), 4)
    xv, yv = data((5,), 4)
    fn.train(model, params, x, y, loss=CCE, epochs=2, key=fn.key(0), lr=0.1, batch_size=10,
             validation=(xv, yv), metrics=["accuracy"], eval_batch_size=6)
    # training batches of at most 10 rows; validation passes of at most 6 (an explicit size: no probe row)
    assert max(rows.seen) == 10
    assert sorted(set(rows.seen)) == sorted({10, N % 10, 6, N % 6})


def test_running_accuracy_counts_the_epochs_own_passes() -> None:
    model, params = mlp()
    x, y = data((5,), 4)
    start = TrainState.create(model, params, loss=CCE, optimizer=fn.sgd(0.2), key=fn.key(4), batch_size=10,
                              metrics=["accuracy"])
    steps = list(fn.train_steps(start, x, y, epochs=2))
    before = params
    at = 0
    for epoch in range(2):
        correct = 0
        for idx in epoch_batches(fn.key(4), N, 10, epoch) or []:
            yb, _ = fn.forward(model, before, x[idx])
            correct += int(np.count_nonzero(to_labels(yb) == y[idx]))
            before = steps[at][0].params
            at += 1
        end = steps[at - 1][0]
        assert end.epoch == epoch + 1
        assert end.history.metrics.leaf("accuracy")[epoch] == correct / N


def test_full_batch_running_accuracy_is_that_of_the_params_before_the_step() -> None:
    model, params = mlp()
    x, y = data((5,), 4)
    seen: list[TrainState[np.float64]] = []
    final = fn.train(model, params, x, y, loss=CCE, epochs=3, key=fn.key(0), lr=0.3, metrics=["accuracy"],
                     observer=seen.append)
    for epoch, before in enumerate([params, *(s.params for s in seen[:-1])]):
        assert final.history.metrics.leaf("accuracy")[epoch] == accuracy(fn.predict(model, before, x), y)


def test_end_of_epoch_metrics_on_request() -> None:
    model, params = mlp()
    x, y = data((5,), 4)
    seen: list[TrainState[np.float64]] = []
    final = fn.train(model, params, x, y, loss=CCE, epochs=3, key=fn.key(0), lr=0.3, batch_size=9,
                     metrics=["accuracy"], observer=seen.append, train_metrics="end", eval_batch_size=5)
    for epoch, state in enumerate(seen):
        assert final.history.metrics.leaf("accuracy")[epoch] == accuracy(fn.predict(model, state.params, x), y)
    with pytest.raises(ValueError, match="train_metrics"):
        fn.train(model, params, x, y, loss=CCE, epochs=1, key=fn.key(0), lr=0.3, train_metrics="later")  # type: ignore[arg-type]


def test_replay_in_batches(tmp_path: object) -> None:
    from pathlib import Path

    from funcnn.io.runs import save_every
    from funcnn.training import last_state, train_epochs

    folder = Path(str(tmp_path))
    model, params = mlp()
    x, y = data((5,), 4)
    start = TrainState.create(model, params, loss=CCE, optimizer=fn.sgd(0.1), key=fn.key(1), batch_size=16)
    last_state(save_every(train_epochs(start, x, y, epochs=4), folder, every=2, in_shape=(5,)))
    whole = fn.replay(folder, x, y, metrics=("accuracy",), batch_size=N)
    for size in (1, 7, None):
        curve = fn.replay(folder, x, y, metrics=("accuracy",), batch_size=size)
        assert np.array_equal(curve.epoch, whole.epoch)
        np.testing.assert_allclose(curve.cost, whole.cost, rtol=1e-12)
        assert np.array_equal(curve.metrics["accuracy"], whole.metrics["accuracy"])


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_predict_proba_in_batches(batch_size: int | None) -> None:
    model, params = mlp()
    x, _ = data((5,), 4)
    whole = fn.predict_proba(model, params, x, batch_size=N)
    p = fn.predict_proba(model, params, x, batch_size=batch_size)
    np.testing.assert_allclose(p, whole, rtol=1e-12, atol=1e-15)
    assert np.array_equal(p.argmax(axis=1), whole.argmax(axis=1))
