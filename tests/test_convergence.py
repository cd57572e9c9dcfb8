"""Training converges: linear regression, XOR and a 3-class spiral.

Each problem runs with the suite's fixed seed; the configurations were chosen
to converge on every one of many seeds tried, not just this one.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn.rng import generator

SLOPE, INTERCEPT = 2.5, -0.75


def line_data(key: fn.Key, n: int, noise: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    g = generator(key)
    x = g.uniform(-1.0, 1.0, (n, 1))
    return x, SLOPE * x + INTERCEPT + noise * g.standard_normal((n, 1))


def fitted_line(state: fn.TrainState[np.float64]) -> tuple[float, float]:
    return float(fn.tree_get(state.params, "w")[0, 0]), float(fn.tree_get(state.params, "b")[0])


def test_full_batch_linear_regression_matches_least_squares(key: fn.Key) -> None:
    x, y = line_data(fn.fold_in(key, "data"), 100, noise=0.1)
    (m_ls, b_ls), *_ = np.linalg.lstsq(np.hstack([x, np.ones_like(x)]), y[:, 0], rcond=None)
    spec = fn.Dense(1)
    params = fn.init(spec, fn.fold_in(key, "init"), in_shape=(1,))
    state = fn.train(spec, params, x, y, loss=fn.MSE(), lr=0.5, epochs=200, key=key)
    m, b = fitted_line(state)
    assert abs(m - m_ls) < 1e-3 and abs(b - b_ls) < 1e-3, (m, b, m_ls, b_ls)
    assert abs(m_ls - SLOPE) < 0.1 and abs(b_ls - INTERCEPT) < 0.1  # the data really is that line
    # the final cost is the least-squares residual (noise variance ≈ 0.01)
    residual = float(np.mean((x[:, 0] * m_ls + b_ls - y[:, 0]) ** 2))
    assert state.history.cost[-1] == pytest.approx(residual, rel=1e-3)
    assert np.all(np.diff(state.history.cost) <= 1e-15)  # full-batch GD at this lr only descends


@pytest.mark.parametrize(("batch_size", "lr", "epochs"), [(16, 0.3, 60), (1, 0.05, 20)], ids=["minibatch", "sgd"])
def test_minibatch_and_stochastic_regression_recover_the_line(
    batch_size: int, lr: float, epochs: int, key: fn.Key
) -> None:
    # noise-free data: every sample agrees on the optimum, so SGD converges to it exactly
    x, y = line_data(fn.fold_in(key, "data"), 100, noise=0.0)
    (m_ls, b_ls), *_ = np.linalg.lstsq(np.hstack([x, np.ones_like(x)]), y[:, 0], rcond=None)
    spec = fn.Dense(1)
    params = fn.init(spec, fn.fold_in(key, "init"), in_shape=(1,))
    state = fn.train(spec, params, x, y, loss=fn.MSE(), lr=lr, epochs=epochs, key=key, batch_size=batch_size)
    m, b = fitted_line(state)
    assert abs(m - m_ls) < 1e-3 and abs(b - b_ls) < 1e-3, (m, b, m_ls, b_ls)
    assert state.step == epochs * -(-100 // batch_size)  # ceil(100 / batch) steps per epoch


def test_xor_with_a_2_3_1_tanh_network(key: fn.Key) -> None:
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    model = fn.Sequential(fn.Dense(3), fn.Tanh(), fn.Dense(1))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=(2,))
    state = fn.train(model, params, x, y, loss=fn.MSE(), lr=0.3, epochs=1000, key=key)
    final_cost, _ = fn.loss(fn.MSE(), fn.predict(model, state.params, x), y)
    assert final_cost < 0.01, state.history.cost[::100]
    np.testing.assert_array_equal(fn.predict(model, state.params, x) > 0.5, y > 0.5)


def spiral(key: fn.Key, per_class: int = 100, classes: int = 3) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Interleaved 2-D spiral arms, one per class, with angular noise."""
    g = generator(key)
    radius = np.tile(np.linspace(0.0, 1.0, per_class), classes)
    arm = np.repeat(np.arange(classes), per_class)
    angle = 4.0 * (arm + radius) + 0.2 * g.standard_normal(arm.size)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return x, arm


def test_three_class_spiral_reaches_95_percent_training_accuracy(key: fn.Key) -> None:
    x, labels = spiral(fn.fold_in(key, "data"))
    model = fn.Sequential(fn.Dense(64), fn.ReLU(), fn.Dense(3))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=(2,))
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    before = float(np.mean(fn.predict(model, params, x).argmax(axis=1) == labels))
    state = fn.train(model, params, x, labels, loss=loss, lr=1.0, epochs=1000, key=key)
    accuracy = float(np.mean(fn.predict(model, state.params, x).argmax(axis=1) == labels))
    assert accuracy >= 0.95, (before, accuracy)
    assert before < 0.6  # the data is not linearly easy: training did the work
