"""Replay: the cost-against-epoch curve rebuilt from saved states."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn._typing import FloatT
from funcnn.errors import CheckpointError
from funcnn.io.checkpoint import save
from funcnn.io.layout import epoch_path, list_states
from funcnn.io.runs import save_every
from funcnn.optim import adam
from funcnn.replaying import replay
from funcnn.rng import generator
from funcnn.training import TrainState, train_epochs

IN_SHAPE = (2,)


def blobs(key: fn.Key, n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Two noisy classes in the plane."""
    g = generator(key)
    y = np.arange(n) % 2
    x = g.standard_normal((n, 2)) * 0.7 + np.where(y[:, None] == 1, 1.0, -1.0)
    return x, y


def run_and_keep(
    run: Path, start: TrainState[FloatT], x: object, y: object, *, epochs: int, every: int
) -> list[TrainState[FloatT]]:
    """Train, keeping every ``every``-th state on disk (and epoch 0); return every state seen in memory."""
    save(epoch_path(run, 0), start, in_shape=IN_SHAPE)
    states = train_epochs(start, x, y, epochs=epochs)
    seen: list[TrainState[FloatT]] = list(save_every(states, run, every=every, in_shape=IN_SHAPE))
    return [start] + seen


def test_replay_of_full_batch_training_reproduces_the_recorded_history(tmp_path: Path, key: fn.Key) -> None:
    """Full batch, no shuffle, no dropout: the state after epoch k has the cost recorded during epoch k + 1.

    64 samples (a power of two), so the recorded ``cost * n / n`` is exactly ``cost``.
    """
    x, y = blobs(fn.fold_in(key, "data"), 64)
    model = fn.Sequential(fn.Dense(5), fn.Tanh(), fn.Dense(2))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=IN_SHAPE)
    start = TrainState.create(model, params, loss=fn.CategoricalCrossEntropy(from_logits=True),
                              optimizer=fn.sgd(0.5), key=key, shuffle=False)
    states = run_and_keep(tmp_path, start, x, y, epochs=6, every=1)
    final = states[-1]

    curve = replay(tmp_path, x, y)
    assert curve.epoch.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert curve.step.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert np.array_equal(curve.cost[:-1], final.history.cost)  # bit for bit
    assert np.array_equal(curve.train_cost[1:], final.history.cost)
    assert math.isnan(curve.train_cost[0])
    assert curve.cost[-1] < curve.cost[0]  # it learned
    assert [p.name for p in curve.paths] == [f"epoch-{e:04d}.npz" for e in range(7)]


def test_replay_with_mini_batches_dropout_and_metrics(tmp_path: Path, key: fn.Key) -> None:
    """From disk, each kept state scores exactly like the in-memory state it was saved from."""
    x, y = blobs(fn.fold_in(key, "data"), 60)
    xv, yv = blobs(fn.fold_in(key, "validation"), 30)
    model = fn.Sequential(fn.Dense(8), fn.ReLU(), fn.Dropout(0.3), fn.Dense(2))
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=IN_SHAPE)
    start = TrainState.create(model, params, loss=loss, optimizer=adam(0.02), key=key, batch_size=16)
    states = run_and_keep(tmp_path, start, x, y, epochs=7, every=3)
    kept = [s for s in states if s.epoch in (0, 3, 6, 7)]

    curve = replay(tmp_path, xv, yv, metrics=("accuracy",))
    assert curve.epoch.tolist() == [0, 3, 6, 7]
    for i, state in enumerate(kept):
        scores = fn.predict(model, state.params, xv)
        cost, _ = fn.loss(loss, scores, yv)
        accuracy = float(np.mean(np.argmax(scores, axis=1) == yv))
        assert curve.cost[i] == cost
        assert curve.metrics["accuracy"][i] == accuracy
    # The training cost recorded during each kept epoch, read back from the saved history.
    assert np.array_equal(curve.train_cost[1:], states[-1].history.cost[[2, 5, 6]])
    assert len(curve) == 4
    assert json.loads(json.dumps(curve.to_dict()).replace("NaN", "null"))["epoch"] == [0, 3, 6, 7]


def test_replay_of_listed_files_sorts_them_by_epoch(tmp_path: Path, key: fn.Key) -> None:
    x, y = blobs(key, 16)
    model = fn.Sequential(fn.Dense(2))
    start = TrainState.create(model, fn.init(model, key, in_shape=IN_SHAPE),
                              loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=fn.sgd(0.1), key=key)
    run_and_keep(tmp_path, start, x, y, epochs=4, every=2)
    files = list_states(tmp_path)
    curve = replay(list(reversed(files)), x, y)
    assert curve.epoch.tolist() == [0, 2, 4]
    assert np.all(np.diff(curve.epoch) > 0)


def test_replay_refuses_mixed_architectures_and_empty_runs(tmp_path: Path, key: fn.Key) -> None:
    x, y = blobs(key, 16)
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    for i, width in enumerate((3, 4)):
        model = fn.Sequential(fn.Dense(width), fn.ReLU(), fn.Dense(2))
        state = TrainState.create(model, fn.init(model, key, in_shape=IN_SHAPE), loss=loss,
                                  optimizer=fn.sgd(0.1), key=key)
        save(epoch_path(tmp_path, i), state, in_shape=IN_SHAPE)
    with pytest.raises(CheckpointError, match=r"(?s)epoch-0001\.npz.*another architecture"):
        replay(tmp_path, x, y)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no epoch-NNNN.npz states"):
        replay(empty, x, y)
    with pytest.raises(CheckpointError, match="no checkpoint files given"):
        replay([], x, y)


def test_curve_columns_are_read_only(tmp_path: Path, key: fn.Key) -> None:
    x, y = blobs(key, 8)
    model = fn.Sequential(fn.Dense(2))
    state = TrainState.create(model, fn.init(model, key, in_shape=IN_SHAPE),
                              loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=fn.sgd(0.1), key=key)
    save(epoch_path(tmp_path, 0), state, in_shape=IN_SHAPE)
    curve = replay(tmp_path, x, y, metrics=("accuracy",))
    for column in (curve.epoch, curve.step, curve.cost, curve.train_cost, curve.metrics["accuracy"]):
        assert not column.flags.writeable
    with pytest.raises(TypeError):
        curve.metrics["x"] = curve.cost  # type: ignore[index]
