"""Losses: hand-computed costs and gradients, conventions, stability, target shapes.

Conventions: MSE and BCE are means over all elements; CCE is the batch mean
of each sample's sum over classes. Gradients are checked against finite
differences in test_gradients.py; here every value is worked out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.rng import generator

BCE, BCE_LOGITS = fn.BinaryCrossEntropy(), fn.BinaryCrossEntropy(from_logits=True)
CCE, CCE_LOGITS = fn.CategoricalCrossEntropy(), fn.CategoricalCrossEntropy(from_logits=True)


# --- MSE -----------------------------------------------------------------------------------------


def test_mse_is_the_mean_over_all_elements() -> None:
    y = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]])
    t = np.array([[0.0, 0.0], [1.0, 4.0], [0.0, 1.0]])
    cost, dy = fn.loss(fn.MSE(), y, t)
    # squared errors 1, 4, 4, 0, 0, 4: sum 13 over 6 elements
    assert cost == pytest.approx(13 / 6, rel=1e-15)
    # d/dy of mean (y - t)² is 2 (y - t) / 6
    np.testing.assert_allclose(dy, [[1 / 3, 2 / 3], [2 / 3, 0.0], [0.0, -2 / 3]], rtol=1e-15)


def test_mse_of_equal_arrays_is_zero() -> None:
    y = np.arange(6.0).reshape(3, 2)
    cost, dy = fn.loss(fn.MSE(), y, y.copy())
    assert cost == 0.0
    np.testing.assert_array_equal(dy, np.zeros_like(y))


def test_mse_casts_integer_targets() -> None:
    cost, _ = fn.loss(fn.MSE(), np.array([[0.5], [1.5]]), np.array([[0], [2]]))
    assert cost == pytest.approx((0.25 + 0.25) / 2, rel=1e-15)


# --- BinaryCrossEntropy --------------------------------------------------------------------------


def test_bce_on_probabilities_by_hand() -> None:
    y = np.array([[0.8, 0.1], [0.5, 0.9]])
    t = np.array([[1.0, 0.0], [1.0, 0.0]])
    cost, dy = fn.loss(BCE, y, t)
    # -[ln 0.8 + ln 0.9 + ln 0.5 + ln 0.1] / 4 (mean over all 4 elements)
    expected = -(math.log(0.8) + math.log(0.9) + math.log(0.5) + math.log(0.1)) / 4
    assert cost == pytest.approx(expected, rel=1e-14)
    # d/dp = (p - t) / (p (1 - p)) / 4: t=1 → -1/p; t=0 → 1/(1-p)
    np.testing.assert_allclose(dy, np.array([[-1 / 0.8, 1 / 0.9], [-1 / 0.5, 1 / 0.1]]) / 4, rtol=1e-13)


def test_bce_soft_targets() -> None:
    cost, _ = fn.loss(BCE, np.array([[0.5]]), np.array([[0.25]]))
    assert cost == pytest.approx(math.log(2.0), rel=1e-15)  # -(0.25 + 0.75) ln 0.5


def test_bce_from_logits_by_hand() -> None:
    z = np.array([[0.0, math.log(3.0)], [-math.log(3.0), 2.0]])
    t = np.array([[1.0, 1.0], [0.0, 0.5]])
    cost, dy = fn.loss(BCE_LOGITS, z, t)
    # σ(0) = 1/2, σ(ln 3) = 3/4, σ(-ln 3) = 1/4, σ(2) = 1/(1 + e^-2)
    s2 = 1 / (1 + math.exp(-2.0))
    expected = -(math.log(0.5) + math.log(0.75) + math.log(0.75) + 0.5 * math.log(s2) + 0.5 * math.log(1 - s2)) / 4
    assert cost == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(dy, np.array([[0.5 - 1, 0.75 - 1], [0.25, s2 - 0.5]]) / 4, rtol=1e-14)


@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 6))
def test_bce_from_logits_agrees_with_bce_on_sigmoid(seed: int, batch: int) -> None:
    rng = generator(fn.key(seed))
    z = rng.uniform(-6, 6, (batch, 2))
    t = rng.uniform(0, 1, (batch, 2))
    p = 1 / (1 + np.exp(-z))
    cost_logits, dz = fn.loss(BCE_LOGITS, z, t)
    cost_probs, dp = fn.loss(BCE, p, t)
    assert cost_logits == pytest.approx(cost_probs, rel=1e-10)
    np.testing.assert_allclose(dz, dp * p * (1 - p), rtol=1e-9, atol=1e-15)  # chain rule through σ


def test_bce_from_logits_is_stable_for_huge_logits() -> None:
    z = np.array([[1000.0, -1000.0, 1000.0, -1000.0]])
    t = np.array([[1.0, 0.0, 0.0, 1.0]])
    cost, dy = fn.loss(BCE_LOGITS, z, t)
    # confident and right costs ~e^-1000 = 0; confident and wrong costs exactly |z| = 1000 each
    assert cost == pytest.approx(2000 / 4, rel=1e-15)
    np.testing.assert_allclose(dy, [[0.0, 0.0, 0.25, -0.25]], atol=1e-300)


def test_bce_probabilities_are_clipped_so_log_never_sees_zero() -> None:
    # np.seterr(divide="raise") is on: log(0) would raise FloatingPointError
    y = np.array([[0.0, 1.0, 0.0, 1.0]])
    cost, dy = fn.loss(BCE, y, np.array([[1.0, 0.0, 0.0, 1.0]]))
    assert math.isfinite(cost)
    assert cost > 10  # two of four predictions are confidently wrong: the mean cost stays large
    assert np.all(np.isfinite(dy))


def test_bce_accepts_batch_labels_for_a_single_output() -> None:
    y = np.array([[0.8], [0.3]])
    cost_1d, dy_1d = fn.loss(BCE, y, np.array([1, 0]))
    cost_2d, dy_2d = fn.loss(BCE, y, np.array([[1.0], [0.0]]))
    assert cost_1d == cost_2d == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2, rel=1e-15)
    np.testing.assert_array_equal(dy_1d, dy_2d)
    assert dy_1d.shape == (2, 1)


# --- CategoricalCrossEntropy ---------------------------------------------------------------------


def test_cce_on_probabilities_by_hand() -> None:
    y = np.array([[0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])
    cost, dy = fn.loss(CCE, y, np.array([2, 1]))
    # batch mean of per-sample sums: -(ln 0.5 + ln 0.8) / 2 (not divided by the 3 classes)
    assert cost == pytest.approx(-(math.log(0.5) + math.log(0.8)) / 2, rel=1e-15)
    # d/dp of -Σ t ln p is -t / p, divided by the batch of 2
    np.testing.assert_allclose(dy, [[0.0, 0.0, -1 / 0.5 / 2], [0.0, -1 / 0.8 / 2, 0.0]], rtol=1e-15)


def test_cce_one_hot_and_integer_labels_agree() -> None:
    y = np.array([[0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2]])
    labels = np.array([2, 1, 0])
    for spec in (CCE, CCE_LOGITS):
        cost_l, dy_l = fn.loss(spec, y, labels)
        cost_h, dy_h = fn.loss(spec, y, np.eye(3)[labels])
        assert cost_l == cost_h
        np.testing.assert_array_equal(dy_l, dy_h)
    # integer-valued float labels are accepted too
    assert fn.loss(CCE, y, labels.astype(np.float64))[0] == fn.loss(CCE, y, labels)[0]


def test_cce_soft_targets_sum_over_classes() -> None:
    y = np.array([[0.25, 0.25, 0.5]])
    cost, _ = fn.loss(CCE, y, np.array([[0.5, 0.0, 0.5]]))
    assert cost == pytest.approx(-(0.5 * math.log(0.25) + 0.5 * math.log(0.5)), rel=1e-15)


def test_cce_from_logits_by_hand() -> None:
    # softmax([0, ln 2, ln 3]) = [1, 2, 3] / 6; softmax([4, 4, 4]) = [1, 1, 1] / 3
    z = np.array([[0.0, math.log(2.0), math.log(3.0)]])
    cost, dy = fn.loss(CCE_LOGITS, z, np.array([2]))
    assert cost == pytest.approx(-math.log(3 / 6), rel=1e-14)
    np.testing.assert_allclose(dy, [[1 / 6, 2 / 6, 3 / 6 - 1]], rtol=1e-14)
    z2 = np.array([[0.0, math.log(2.0), math.log(3.0)], [4.0, 4.0, 4.0]])
    cost2, dy2 = fn.loss(CCE_LOGITS, z2, np.array([0, 1]))
    assert cost2 == pytest.approx((-math.log(1 / 6) - math.log(1 / 3)) / 2, rel=1e-14)
    np.testing.assert_allclose(dy2, np.array([[1 / 6 - 1, 2 / 6, 3 / 6], [1 / 3, 1 / 3 - 1, 1 / 3]]) / 2, rtol=1e-14)


def test_cce_from_logits_matches_cce_on_softmax() -> None:
    rng = generator(fn.key(3))
    z = rng.uniform(-5, 5, (6, 4))
    labels = rng.integers(0, 4, 6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert fn.loss(CCE_LOGITS, z, labels)[0] == pytest.approx(fn.loss(CCE, p, labels)[0], rel=1e-12)


def test_cce_from_logits_is_stable_for_huge_logits() -> None:
    z = np.array([[1000.0, 0.0, -1000.0], [1000.0, 0.0, -1000.0]])
    cost, dy = fn.loss(CCE_LOGITS, z, np.array([0, 2]))
    # sample 0 is right (cost ~e^-1000 = 0); sample 1 costs 1000 - (-1000) = 2000
    assert cost == pytest.approx(2000 / 2, rel=1e-15)
    np.testing.assert_allclose(dy, [[0.0, 0.0, 0.0], [0.5, 0.0, -0.5]], atol=1e-300)


def test_cce_probabilities_are_clipped_so_log_never_sees_zero() -> None:
    y = np.array([[1.0, 0.0, 0.0]])
    cost, dy = fn.loss(CCE, y, np.array([1]))
    assert math.isfinite(cost) and cost > 10
    assert np.all(np.isfinite(dy))
    # a correct confident prediction costs 0 and the zero-probability classes carry no gradient
    cost, dy = fn.loss(CCE, y, np.array([0]))
    assert cost == 0.0
    np.testing.assert_array_equal(dy, [[-1.0, 0.0, 0.0]])


# --- public function ----------------------------------------------------------------------------


def test_loss_returns_a_python_float_and_a_gradient_shaped_like_y() -> None:
    cases: list[tuple[fn.Loss, np.ndarray]] = [
        (fn.MSE(), np.zeros((3, 2))),
        (BCE, np.zeros((3, 2))),
        (CCE_LOGITS, np.array([0, 1, 1])),
    ]
    for spec, t in cases:
        y = np.full((3, 2), 0.5)
        cost, dy = fn.loss(spec, y, t)
        assert type(cost) is float
        assert dy.shape == y.shape and dy.dtype == y.dtype


def test_loss_specs_have_stable_kinds_and_short_reprs() -> None:
    assert (fn.MSE.kind, BCE.kind, CCE.kind) == ("mse", "binary_cross_entropy", "categorical_cross_entropy")
    assert repr(fn.MSE()) == "MSE()"
    assert repr(BCE_LOGITS) == "BinaryCrossEntropy(from_logits=True)"
    assert repr(CCE) == "CategoricalCrossEntropy()"
