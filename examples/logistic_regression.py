"""Logistic regression as one sigmoid neuron, on the breast-cancer data set.

What it teaches:

* the neuron ``p = σ(x w + b)`` gives the probability of class 1 (benign);
  the binary cross-entropy ``C = -mean(t log p + (1 - t) log(1 - p))`` has the
  famously simple gradient ``dC/dz = (p - t) / n`` at the pre-activation
  ``z``, so ``dC/dw = xᵀ (p - t) / n`` and ``dC/db = Σ (p - t) / n``. One step
  by hand checks funcnn's backward against that formula;
* a single neuron may start from all-zero weights (there is no symmetry to
  break; see ``deep_network.py`` for why a hidden layer may not);
* features are standardised with the training split's mean and standard
  deviation (never the test split's);
* how to judge a classifier: test accuracy, the confusion matrix, and
  per-class precision, recall and F1.

Protocol: stratified 80/20 split (455 / 114 samples) with ``--seed`` (default 0),
full-batch gradient descent, lr 0.5, 300 epochs.

Usage::

    python examples/logistic_regression.py [--quick] [--seed 0]
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
from _common import parser
from numpy.typing import NDArray

import funcnn as fn
from funcnn import datasets
from funcnn.metrics import classification_report

F64 = NDArray[np.float64]
LR = 0.5
MODEL = fn.Sequential(fn.Dense(1, w_init=fn.Zeros()), fn.Sigmoid())


@attrs.frozen
class Result:
    train_accuracy: float
    test_accuracy: float
    confusion: tuple[tuple[int, ...], ...]  # rows: true class (0 malignant, 1 benign), columns: predicted
    f1: tuple[float, ...]  # per class
    gradient_matches_formula: bool
    params_untouched: bool


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0], plot=False).parse_args(argv)
    epochs = 60 if args.quick else 300
    root = fn.key(args.seed)
    data = datasets.load_builtin("breast_cancer")
    (x_train, t_train), (x_test, t_test) = datasets.train_test_split(fn.fold_in(root, "split"), *data)
    scaler = datasets.Standardizer.fit(x_train)  # mean and std of the training split only
    z_train, z_test = scaler.apply(x_train), scaler.apply(x_test)
    print(f"breast_cancer: {len(t_train)} train / {len(t_test)} test samples, 30 features, classes {data.class_names}")

    params0 = fn.init(MODEL, fn.fold_in(root, "init"), in_shape=(30,))  # w = 0, b = 0: p = 0.5 for everyone

    # One step by hand: forward, loss, backward, against the formula.
    p, cache = fn.forward(MODEL, params0, z_train)  # (455, 1) probabilities
    cost, dp = fn.loss(fn.BinaryCrossEntropy(), p, t_train)  # labels (455,) are taken as (455, 1)
    grads, _ = fn.backward(MODEL, params0, cache, dp)
    error = p - t_train[:, None]  # p - t: (455, 1)
    dw_formula = z_train.T @ error / len(t_train)  # (30, 1)
    dw, db = fn.tree_get(grads, "dense_0/w"), fn.tree_get(grads, "dense_0/b")
    matches = bool(np.allclose(dw, dw_formula) and np.allclose(db, error.mean()))
    print(f"initial cost {cost:.4f} (= ln 2 = {np.log(2):.4f}); backward's dw equals xᵀ(p - t)/n: {matches}")

    state = fn.train(
        MODEL, params0, z_train, t_train, loss=fn.BinaryCrossEntropy(), lr=LR, epochs=epochs,
        key=fn.fold_in(root, "train"), metrics=["accuracy"],
    )  # fmt: skip
    print(f"{epochs} epochs of full-batch gradient descent (lr {LR}): cost {state.history.cost[0]:.4f} -> "
          f"{state.history.cost[-1]:.4f}")  # fmt: skip
    untouched = not np.any(fn.tree_get(params0, "dense_0/w"))
    report = classification_report(fn.predict(MODEL, state.params, z_test), t_test)
    train_acc = float(fn.tree_get(state.history.metrics, "accuracy")[-1])
    print(f"train accuracy {train_acc:.2%}, test accuracy {report.accuracy:.2%} (seed {args.seed})")
    print(report)
    print(f"the initial params are still all zeros: {untouched}")
    confusion = tuple(tuple(int(c) for c in row) for row in report.confusion)
    return Result(train_acc, report.accuracy, confusion, tuple(float(f) for f in report.f1), matches, untouched)


if __name__ == "__main__":
    main()
