"""Metrics: hand-computed confusion matrices, precision/recall/F1, regression errors, evaluate."""

from __future__ import annotations

import json
import math

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn.evaluation import evaluate
from funcnn.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    mae,
    metric,
    metric_names,
    mse,
    precision_recall_f1,
    r2,
    rmse,
    to_labels,
)

# Six samples, three classes; class 2 is never predicted.
PRED = np.array([0, 0, 1, 1, 0, 1])
TRUE = np.array([0, 1, 1, 2, 0, 2])
# Counted by hand: rows are the true class, columns the predicted class.
CM = [[2, 0, 0], [1, 1, 0], [0, 2, 0]]
PRECISION = [2 / 3, 1 / 3, 0.0]  # tp / predicted: 2/3, 1/3, 0/0 -> 0
RECALL = [1.0, 1 / 2, 0.0]  # tp / support: 2/2, 1/2, 0/2
F1 = [0.8, 0.4, 0.0]  # 2pr/(p+r): (4/3)/(5/3), (1/3)/(5/6), 0


def scores_for(labels: NDArray[np.int64], classes: int, *, logits: bool) -> NDArray[np.float64]:
    """Rows whose arg-max is ``labels``: probabilities, or logits if asked."""
    probs = np.full((labels.size, classes), 0.1 / (classes - 1))
    probs[np.arange(labels.size), labels] = 0.9
    return np.log(probs) + 3.0 if logits else probs


@pytest.mark.parametrize("form", ["labels", "probabilities", "logits"])
def test_confusion_matrix_and_scores_by_hand(form: str) -> None:
    y = {
        "labels": PRED,
        "probabilities": scores_for(PRED, 3, logits=False),
        "logits": scores_for(PRED, 3, logits=True),
    }[form]
    assert confusion_matrix(y, TRUE, num_classes=3).tolist() == CM
    p, r, f = precision_recall_f1(y, TRUE, num_classes=3)
    np.testing.assert_allclose(p, PRECISION, rtol=1e-15)
    np.testing.assert_allclose(r, RECALL, rtol=1e-15)
    np.testing.assert_allclose(f, F1, rtol=1e-15)
    assert accuracy(y, TRUE) == 0.5
    report = classification_report(y, TRUE)
    assert report.support.tolist() == [2, 2, 2]
    assert report.macro == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4})
    assert report.micro == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert metric("f1", y, TRUE) == pytest.approx(0.4) and metric("micro_f1", y, TRUE) == 0.5


def test_one_hot_targets_and_float_labels_read_as_classes() -> None:
    onehot = np.eye(3)[TRUE]
    assert confusion_matrix(PRED, onehot).tolist() == CM
    assert confusion_matrix(PRED, TRUE.astype(np.float64)).tolist() == CM


def test_a_class_absent_everywhere_is_left_out_of_macro_averages() -> None:
    report = classification_report(PRED, TRUE, num_classes=4)
    assert report.confusion.tolist() == [[*row, 0] for row in CM] + [[0, 0, 0, 0]]
    assert report.macro == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4})
    assert report.f1.tolist()[3] == 0.0


def test_nothing_predicted_or_nothing_present_gives_zeros_without_warnings() -> None:
    # Every prediction is class 0 and class 1 never occurs in the targets.
    y, t = np.zeros(4, dtype=np.int64), np.array([0, 0, 2, 2])
    report = classification_report(y, t, num_classes=3)
    assert report.precision.tolist() == [0.5, 0.0, 0.0]
    assert report.recall.tolist() == [1.0, 0.0, 0.0]
    np.testing.assert_allclose(report.f1, [2 / 3, 0.0, 0.0], rtol=1e-15)
    # macro over the classes present (0 and 2): precision (0.5 + 0) / 2, recall (1 + 0) / 2
    assert report.macro == pytest.approx({"precision": 0.25, "recall": 0.5, "f1": 1 / 3})


def test_binary_outputs_probabilities_and_logits() -> None:
    probs = np.array([[0.9], [0.2], [0.5], [0.4], [0.7]])
    t = np.array([1, 0, 0, 1, 1])
    # thresholds at 0.5: predicted [1, 0, 1, 0, 1]
    assert confusion_matrix(probs, t).tolist() == [[1, 1], [1, 2]]
    assert accuracy(probs, t) == 0.6
    logits = np.log(probs / (1 - probs))
    assert confusion_matrix(logits.ravel(), t, from_logits=True).tolist() == [[1, 1], [1, 2]]
    assert accuracy(probs, t.astype(np.float64)[:, None]) == 0.6
    p, r, f = precision_recall_f1(probs, t)
    np.testing.assert_allclose(p, [1 / 2, 2 / 3], rtol=1e-15)
    np.testing.assert_allclose(r, [1 / 2, 2 / 3], rtol=1e-15)
    np.testing.assert_allclose(f, [1 / 2, 2 / 3], rtol=1e-15)


def test_to_labels_forms() -> None:
    assert to_labels(np.array([[0.1, 0.7, 0.2], [3.0, -1.0, 0.0]])).tolist() == [1, 0]
    assert to_labels(np.array([[-0.3], [2.0]]), from_logits=True).tolist() == [0, 1]
    assert to_labels(np.array([0.3, 0.6])).tolist() == [0, 1]
    assert to_labels(np.array([2.0, 0.0, 1.0]), targets=True).tolist() == [2, 0, 1]
    assert to_labels(np.array([True, False])).tolist() == [1, 0]
    with pytest.raises(fn.ShapeError, match="labels must be >= 0"):
        to_labels(np.array([-1, 2]))
    with pytest.raises(fn.ShapeError, match="shape"):
        to_labels(np.zeros((2, 2, 2)))


def test_mismatched_lengths_and_out_of_range_labels_are_errors() -> None:
    with pytest.raises(fn.ShapeError, match="3 and 2"):
        accuracy(np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(fn.ShapeError, match=r"\[0, 1\]"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), num_classes=2)


@given(
    n=st.integers(1, 40),
    k=st.integers(2, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_confusion_matrix_agrees_with_counting(n: int, k: int, seed: int) -> None:
    g = np.random.default_rng(seed)
    y, t = g.integers(0, k, size=n), g.integers(0, k, size=n)
    cm = confusion_matrix(y, t, num_classes=k)
    for i in range(k):
        for j in range(k):
            assert cm[i, j] == sum(1 for a, b in zip(t, y, strict=True) if a == i and b == j)
    assert cm.sum() == n and cm.trace() / n == accuracy(y, t)
    report = classification_report(y, t, num_classes=k)
    assert np.all((report.f1 >= 0) & (report.f1 <= 1))
    assert report.micro["f1"] == pytest.approx(accuracy(y, t))


# -- regression -------------------------------------------------------------------------------


def test_regression_metrics_by_hand() -> None:
    y, t = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])
    assert mse(y, t) == pytest.approx(4 / 3, rel=1e-15)
    assert rmse(y, t) == pytest.approx(math.sqrt(4 / 3), rel=1e-15)
    assert mae(y, t) == pytest.approx(2 / 3, rel=1e-15)
    # mean(t) = 8/3, SS_tot = 78/9, SS_res = 4
    assert r2(y, t) == pytest.approx(1 - 4 / (78 / 9), rel=1e-14)
    assert r2(t, t) == 1.0
    assert r2(y[:, None], t) == r2(y, t)  # (n, 1) predictions against (n,) targets


def test_r2_edge_cases_and_columns() -> None:
    constant = np.array([2.0, 2.0, 2.0])
    assert r2(constant, constant) == 1.0
    assert r2(np.array([1.0, 2.0, 3.0]), constant) == 0.0  # no division by zero
    y = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 5.0]])
    t = np.array([[1.0, 0.0], [2.0, 2.0], [5.0, 4.0]])
    col0 = 1 - 4 / (78 / 9)
    col1 = 1 - 2 / (np.sum((t[:, 1] - 2.0) ** 2))
    assert r2(y, t) == pytest.approx((col0 + col1) / 2, rel=1e-14)


def test_metric_names_are_checked() -> None:
    assert metric_names(["accuracy", "f1"]) == ("accuracy", "f1")
    with pytest.raises(ValueError, match="unknown metric"):
        metric_names(["acuracy"])
    with pytest.raises(ValueError, match="distinct"):
        metric_names(["mse", "mse"])


# -- evaluate ---------------------------------------------------------------------------------


def identity_classifier() -> tuple[fn.Sequential, fn.FrozenTree[np.float64]]:
    model = fn.Sequential(fn.Dense(3))
    return model, fn.freeze({"dense_0": {"w": np.eye(3), "b": np.zeros(3)}})


def test_evaluate_classification_report() -> None:
    model, params = identity_classifier()
    x = scores_for(PRED, 3, logits=True)  # the identity model returns these logits
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    report = evaluate(model, params, x, TRUE, loss=loss)
    # cost: -mean log softmax(x)[true]; softmax of log-probabilities is the probabilities
    probs = scores_for(PRED, 3, logits=False)
    expected_cost = -np.mean(np.log(probs[np.arange(6), TRUE]))
    assert report.cost == pytest.approx(expected_cost, rel=1e-12)
    assert report.samples == 6 and report.loss == "categorical_cross_entropy"
    assert dict(report.metrics) == pytest.approx({"accuracy": 0.5, "macro_f1": 0.4})
    assert report.classes is not None and report.classes.confusion.tolist() == CM
    text = str(report)
    assert "confusion matrix" in text and "macro avg" in text and "0.4000" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["confusion_matrix"] == CM and data["metrics"]["accuracy"] == 0.5
    assert data["per_class"]["f1"] == pytest.approx(F1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        report.cost = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.metrics["accuracy"] = 1.0  # type: ignore[index]


def test_evaluate_regression_report() -> None:
    model = fn.Sequential(fn.Dense(1))
    params = fn.freeze({"dense_0": {"w": np.array([[1.0]]), "b": np.array([0.0])}})
    x, t = np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [5.0]])
    report = evaluate(model, params, x, t, loss=fn.MSE())
    assert report.classes is None
    assert report.cost == pytest.approx(4 / 3)
    assert dict(report.metrics) == pytest.approx(
        {"mse": 4 / 3, "rmse": math.sqrt(4 / 3), "mae": 2 / 3, "r2": 1 - 4 / (78 / 9)}
    )
    assert "rmse" in str(report) and "confusion" not in str(report)
    assert json.loads(json.dumps(report.to_dict()))["metrics"]["mae"] == pytest.approx(2 / 3)


def test_evaluate_with_mse_loss_and_accuracy_is_classification() -> None:
    """Quadratic cost on one-hot targets (the classic MNIST set-up) still reports accuracy."""
    model, params = identity_classifier()
    x = np.eye(3)[PRED]
    report = evaluate(model, params, x, np.eye(3)[TRUE], loss=fn.MSE(), metrics=["accuracy"])
    assert dict(report.metrics) == {"accuracy": 0.5}
    assert report.classes is not None and report.classes.confusion.tolist() == CM
    # 3 of 6 rows differ in two entries by 1: 6 squared errors over 18 entries
    assert report.cost == pytest.approx(6 / 18)


def test_evaluate_is_pure() -> None:
    model, params = identity_classifier()
    x = scores_for(PRED, 3, logits=True)
    x_before, p_before = x.copy(), fn.thaw(params)
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    first = evaluate(model, params, x, TRUE, loss=loss)
    second = evaluate(model, params, x, TRUE, loss=loss)
    assert first.to_dict() == second.to_dict()
    restored: fn.FrozenTree[np.float64] = fn.freeze(p_before)
    assert np.array_equal(x, x_before) and fn.tree_equal(params, restored)
