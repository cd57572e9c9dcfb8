"""K-fold splits and cross-validation.

:func:`kfold` deals the samples into ``k`` folds from a key: fold sizes
differ by at most one, and with ``stratified=True`` so do each class's counts
in any two folds. :func:`cross_validate` trains a fresh state on ``k - 1``
folds and evaluates it (:func:`~funcnn.evaluation.evaluate`) on the held-out
one, for each fold; fold ``i`` gets the key ``fold_in(key, i)``.

>>> import numpy as np, funcnn as fn
>>> y = np.array([0, 0, 0, 1, 1, 1])
>>> [sorted(y[f.validation].tolist()) for f in kfold(fn.key(0), y, 3)]
[[0, 1], [0, 1], [0, 1]]
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeAlias

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.errors import DataError, NonFiniteLossError, ShapeError
from funcnn.evaluation import Report, evaluate
from funcnn.rng import Key, fold_in, generator
from funcnn.training import TrainState, fit

__all__ = ["CrossValidation", "Fold", "MakeState", "cross_validate", "kfold"]

Index = NDArray[np.int64]
AnyState: TypeAlias = TrainState[np.float32] | TrainState[np.float64]
MakeState: TypeAlias = Callable[[Key], AnyState]


class Fold(NamedTuple):
    """One split: sorted, read-only ``train`` and ``validation`` index arrays (disjoint)."""

    train: Index
    validation: Index


def _readonly_sorted(a: NDArray[np.integer]) -> Index:
    out = np.sort(a).astype(np.int64)
    out.flags.writeable = False
    return out


def _class_labels(y: ArrayLike) -> NDArray[np.int64]:
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] > 1:  # one-hot or score rows
        rows: NDArray[np.int64] = np.argmax(a, axis=1).astype(np.int64)
        return rows
    a = a.reshape(-1) if a.ndim == 2 else a
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise DataError(
            f"kfold: stratified=True needs class labels (n,) of ints or one-hot rows (n, classes), "
            f"got {a.dtype}{np.asarray(y).shape}; pass stratified=False for regression targets"
        )
    return a.astype(np.int64)


def kfold(key: Key, y: ArrayLike | int, k: int, *, stratified: bool = True) -> tuple[Fold, ...]:
    """``k`` train/validation index pairs over ``n`` samples: a pure function of ``key``.

    The validation parts are disjoint and together cover ``0..n-1``; each
    fold's train part is the rest. Fold sizes differ by at most one. With
    ``stratified`` (the default) every class is spread evenly too: its counts
    in any two validation parts differ by at most one (a class with fewer
    than ``k`` samples is missing from some folds).

    Args:
        key: the split's key (same key, same folds).
        y: ``(n,)`` integer class labels or ``(n, classes)`` one-hot rows; for
            ``stratified=False`` any targets ``(n, ...)`` or just the count ``n``.
        k: the number of folds, ``2 <= k <= n``.
        stratified: keep each class's share in every fold.

    Raises:
        DataError: ``stratified`` without class labels.
        ValueError: ``k`` out of range.
    """
    if isinstance(y, int | np.integer) and not isinstance(y, bool):
        if stratified:
            raise DataError("kfold: stratified=True needs the class labels, got only a sample count")
        n, labels = int(y), None
    else:
        a = np.asarray(y)
        if a.ndim < 1:
            raise ShapeError(f"kfold: y needs a leading sample axis, got shape {a.shape}")
        n = int(a.shape[0])
        labels = _class_labels(a) if stratified else None
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= n:
        raise ValueError(f"kfold: k must be an int with 2 <= k <= n = {n} (the samples), got k={k!r}")
    g = generator(key)
    order = g.permutation(n).astype(np.int64)
    if labels is not None:
        # Class by class (each class in random order, classes one after another), then dealt
        # round robin: each class takes consecutive places, so its counts per fold differ by <= 1.
        order = order[np.argsort(labels[order], kind="stable")]
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.arange(n) % k
    return tuple(
        Fold(_readonly_sorted(np.flatnonzero(fold_of != i)), _readonly_sorted(np.flatnonzero(fold_of == i)))
        for i in range(k)
    )


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


@attrs.frozen(repr=False)
class CrossValidation:
    """Per-fold results of :func:`cross_validate`.

    ``reports[i]`` scores fold ``i``'s held-out part with the state trained on
    the other parts (``states[i]``). ``scores()`` gives each metric's mean and
    standard deviation over the folds (the sample standard deviation, 0 for
    one fold), with the held-out cost as ``"cost"``.
    """

    reports: tuple[Report, ...]
    states: tuple[AnyState, ...] = attrs.field(eq=False)

    def values(self, name: str) -> tuple[float, ...]:
        """``name``'s value on each fold (``"cost"`` or a metric name)."""
        if name == "cost":
            return tuple(r.cost for r in self.reports)
        missing = [i for i, r in enumerate(self.reports) if name not in r.metrics]
        if missing:
            have = sorted({"cost", *self.reports[0].metrics})
            raise KeyError(f"cross_validate: no metric {name!r} in the reports; they hold {have}")
        return tuple(r.metrics[name] for r in self.reports)

    def mean(self, name: str) -> float:
        return _mean_std(self.values(name))[0]

    def std(self, name: str) -> float:
        return _mean_std(self.values(name))[1]

    def scores(self) -> dict[str, tuple[float, float]]:
        """``{name: (mean, std)}`` for the cost and every metric."""
        names = ["cost", *self.reports[0].metrics]
        return {name: _mean_std(self.values(name)) for name in names}

    @property
    def epochs(self) -> int:
        """The most epochs any fold ran (fewer than asked if early stopping fired)."""
        return max(s.epoch for s in self.states)

    def __str__(self) -> str:
        k = len(self.reports)
        return "\n".join(f"{name:>16} {m:.4f} ± {s:.4f} ({k} folds)" for name, (m, s) in self.scores().items())

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={m:.4g}±{s:.2g}" for n, (m, s) in self.scores().items())
        return f"CrossValidation(folds={len(self.reports)}, {shown})"


def cross_validate(
    make_state: MakeState,
    x: ArrayLike,
    y: ArrayLike,
    folds: Sequence[Fold],
    *,
    key: Key,
    epochs: int,
    metrics: Sequence[str] | None = None,
) -> CrossValidation:
    """Train a fresh state on each fold's train part and evaluate it on its validation part.

    Fold ``i`` trains ``make_state(fold_in(key, i))`` with
    :func:`~funcnn.training.fit` for ``epochs`` epochs on ``x[train]`` and
    scores it with :func:`~funcnn.evaluation.evaluate` on ``x[validation]``. The
    held-out part is never shown to training: a state with
    ``validation_fraction`` (early stopping) splits its own train part.

    Args:
        make_state: builds a fold's starting state from its key (init params from it).
        x: ``(n, *in_shape)`` inputs.
        y: ``(n, ...)`` targets.
        folds: from :func:`kfold`.
        key: the root key of the folds' states.
        epochs: epochs per fold.
        metrics: metric names for :func:`~funcnn.evaluation.evaluate` (its defaults if None).

    Returns:
        per-fold reports and trained states; ``.scores()`` gives mean ± std.

    >>> import numpy as np, funcnn as fn
    >>> x = np.linspace(-1, 1, 40).reshape(-1, 1); y = 3.0 * x
    >>> model = fn.Sequential(fn.Dense(1))
    >>> def make(k):
    ...     return fn.TrainState.create(model, fn.init(model, k, in_shape=(1,)), loss=fn.MSE(),
    ...                                 optimizer=fn.sgd(0.5), key=k)
    >>> cv = cross_validate(make, x, y, kfold(fn.key(0), 40, 4, stratified=False), key=fn.key(1), epochs=50)
    >>> len(cv.reports), cv.mean("rmse") < 1e-3
    (4, True)
    """
    xs, ys = np.asarray(x), np.asarray(y)
    if xs.ndim < 1 or ys.ndim < 1 or xs.shape[0] != ys.shape[0]:
        raise ShapeError(f"cross_validate: x and y need the same number of samples, got {xs.shape} and {ys.shape}")
    if not folds:
        raise ValueError("cross_validate: got no folds; build them with kfold(key, y, k)")
    reports: list[Report] = []
    states: list[AnyState] = []
    for i, (train_idx, val_idx) in enumerate(folds):
        if val_idx.size == 0 or train_idx.size == 0 or max(int(train_idx.max()), int(val_idx.max())) >= xs.shape[0]:
            raise ShapeError(
                f"cross_validate: fold {i} has {train_idx.size} train and {val_idx.size} validation indices "
                f"for {xs.shape[0]} samples; build the folds from these data"
            )
        # mypy cannot solve fit's dtype variable for a union of states; each state keeps its own dtype.
        state: AnyState = fit(make_state(fold_in(key, i)), xs[train_idx], ys[train_idx], epochs=epochs)  # type: ignore[misc]
        report = evaluate(state.model, state.params, xs[val_idx], ys[val_idx], loss=state.loss, metrics=metrics)  # type: ignore[misc]
        reports.append(report)
        states.append(state)
    if not all(math.isfinite(r.cost) for r in reports):
        bad = [i for i, r in enumerate(reports) if not math.isfinite(r.cost)]
        raise NonFiniteLossError(
            f"cross_validate: the held-out cost is not finite on fold(s) {bad}; try a smaller learning rate"
        )
    return CrossValidation(tuple(reports), tuple(states))
