"""The stateless training loop.

A :class:`TrainState` is a frozen value holding everything a run needs to go
on: specs, params, optimizer state, the root key, epoch and step counts, the
history so far, the validation and early-stopping settings and bookkeeping.
:func:`train_epochs` turns a state and data into a stream of states, one per
finished epoch; :func:`fit` runs a state to its end, and :func:`train` builds
the first state and calls :func:`fit`. Nothing is printed and no input is
changed; an ``observer`` callback receives each epoch's state for logging.

The epochs themselves run in :mod:`funcnn.epoch_loop`, which derives every
random choice by meaning from the root key, so a run resumed from any yielded
state is the same run, bit for bit. ``sampling="with_replacement"`` draws each
epoch's batches with replacement instead (see :mod:`funcnn.batching`). ``tol``
stops a run once the gradient of the training cost on all the data is small
(``stop_reason="converged"``). :func:`train_steps` yields the state after
every optimizer step, for plotting the path of a small model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Generic

import attrs
import numpy as np

from funcnn._typing import FloatT
from funcnn.augment import Augmentation
from funcnn.batching import SAMPLINGS, split_validation
from funcnn.epoch_loop import OnNonFinite, TrainMetrics, run_epochs
from funcnn.history import History
from funcnn.layers.base import Layer
from funcnn.losses import Loss
from funcnn.metrics import metric_names
from funcnn.optim import Optimizer, OptState, sgd
from funcnn.rng import Key, check_key
from funcnn.schedules import Schedule, number, real
from funcnn.tree import FrozenTree, tree_dtype

__all__ = ["History", "TrainState", "fit", "last_state", "split_validation", "train", "train_epochs", "train_steps"]


def _check_count(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        name, none = attribute.name, "full batch" if attribute.name == "batch_size" else "no early stopping"
        raise ValueError(f"{name} must be None ({none}) or an int >= 1, got {name}={value!r}")


def _optional_float(value: float | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _to_shape(value: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(d) for d in value)


STOP_REASONS = (None, "early_stopping", "non_finite", "converged")



@attrs.frozen(eq=False)
class TrainState(Generic[FloatT]):
    """Everything a run needs to continue: a frozen value.

    ``epoch`` and ``step`` count the epochs and optimizer steps completed.
    ``batch_size=None`` is full-batch gradient descent, ``1`` is stochastic.

    Validation and early stopping: ``validation_fraction`` holds out that
    fraction of the data (chosen from the key, see :func:`split_validation`).
    The monitored cost is the validation cost if the run has validation data,
    else the epoch's training cost; an epoch improves on the best when its
    cost is below ``best_cost - min_delta``. ``best_params``, ``best_epoch``
    (the value of ``epoch`` after the best epoch) and ``best_cost`` track the
    best epoch so far, and ``wait`` counts the epochs since. With ``patience``
    set, the run stops once ``wait == patience`` (``stop_reason`` is then
    ``"early_stopping"``); ``"non_finite"`` marks a run cut short by a
    non-finite cost (see ``on_nonfinite``), ``"converged"`` a run whose
    full-data gradient norm fell below ``tol`` at the end of an epoch.

    ``sampling`` is ``"permutation"`` (each epoch visits every sample once) or
    ``"with_replacement"`` (each epoch draws ``n`` samples at random; see
    :mod:`funcnn.batching`).

    ``augment`` is an augmentation spec (see :mod:`funcnn.augment`) applied to
    every training batch (never to validation data, metrics or labels). An
    optimizer built with :func:`~funcnn.transfer.partition` that freezes whole
    layers makes the backward pass skip them (see
    :func:`~funcnn.transfer.frozen_layers`).

    ``in_shape`` is the input shape without the batch axis; the first epoch
    records it from the data (a checkpoint needs it to rebuild the model), and
    a continued run must bring data of the same shape.

    ``params`` are the live params a continued run starts from, except after
    :meth:`restore_best`, where ``params`` are the best epoch's and the live
    ones are kept in ``last_params`` (so the state stays resumable).
    """

    model: Layer
    loss: Loss
    optimizer: Optimizer
    key: Key
    params: FrozenTree[FloatT]
    opt_state: OptState[FloatT]
    batch_size: int | None = attrs.field(default=None, validator=_check_count)
    shuffle: bool = True
    epoch: int = 0
    step: int = 0
    history: History = attrs.field(factory=History)
    validation_fraction: float | None = attrs.field(
        default=None, converter=_optional_float, validator=attrs.validators.optional(number(gt=0, lt=1))
    )
    metrics: tuple[str, ...] = attrs.field(default=(), converter=metric_names)
    patience: int | None = attrs.field(default=None, validator=_check_count)
    min_delta: float = attrs.field(default=0.0, converter=real, validator=number(ge=0))
    best_params: FrozenTree[FloatT] | None = None
    best_epoch: int | None = None
    best_cost: float | None = None
    wait: int = 0
    stop_reason: str | None = attrs.field(default=None, validator=attrs.validators.in_(STOP_REASONS))
    last_params: FrozenTree[FloatT] | None = None
    in_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_to_shape)
    sampling: str = attrs.field(default="permutation", validator=attrs.validators.in_(SAMPLINGS))
    tol: float | None = attrs.field(
        default=None, converter=_optional_float, validator=attrs.validators.optional(number(gt=0))
    )
    augment: Augmentation | None = None

    @classmethod
    def create(
        cls,
        model: Layer,
        params: FrozenTree[FloatT],
        *,
        loss: Loss,
        optimizer: Optimizer,
        key: Key,
        batch_size: int | None = None,
        shuffle: bool = True,
        validation_fraction: float | None = None,
        metrics: Sequence[str] = (),
        patience: int | None = None,
        min_delta: float = 0.0,
        sampling: str = "permutation",
        tol: float | None = None,
        augment: Augmentation | None = None,
    ) -> TrainState[FloatT]:
        """A state at epoch 0 with a freshly initialised optimizer state.

        Raises:
            TypeError: ``key`` is not a :class:`~funcnn.rng.Key` (e.g. ``key=0``; use ``fn.key(0)``).
        """
        check_key(key, "TrainState.create(key=...)")
        if sampling == "with_replacement" and not shuffle:
            raise ValueError("train: sampling='with_replacement' draws at random; it cannot be used with shuffle=False")
        return cls(
            model, loss, optimizer, key, params, optimizer.init(params), batch_size, shuffle,
            validation_fraction=validation_fraction, metrics=tuple(metrics), patience=patience, min_delta=min_delta,
            sampling=sampling, tol=tol, augment=augment,
        )

    @property
    def dtype(self) -> np.dtype[FloatT]:
        """The params' dtype (float64 if the model has no params)."""
        return tree_dtype(self.params)

    @property
    def stopped(self) -> bool:
        """True if the run ended early (early stopping or a non-finite cost)."""
        return self.stop_reason is not None

    @property
    def live_params(self) -> FrozenTree[FloatT]:
        """The params a continued run starts from (``params`` unless restored)."""
        return self.last_params if self.last_params is not None else self.params

    def restore_best(self) -> TrainState[FloatT]:
        """This state with ``params`` set to the best epoch's params (``last_params`` keeps the live ones).

        Idempotent; a state with no best epoch yet is returned as it is.
        """
        if self.best_params is None or self.last_params is not None:
            return self
        return attrs.evolve(self, params=self.best_params, last_params=self.params)


def train_epochs(
    state: TrainState[FloatT],
    x: object,
    y: object,
    *,
    epochs: int,
    validation: tuple[object, object] | None = None,
    on_nonfinite: OnNonFinite = "raise",
    train_metrics: TrainMetrics = "passes",
    eval_batch_size: int | None = None,
) -> Iterator[TrainState[FloatT]]:
    """Yield the state after each epoch until ``state.epoch == epochs`` (a total, not a count).

    Stops early (after yielding the stopping state) when early stopping fires.
    A state that has already stopped yields nothing.

    Args:
        state: where to start (``TrainState.create`` or a state from a former run).
        x: ``(n, *in_shape)`` inputs, cast once to the params' dtype.
        y: ``(n, *out_shape)`` targets, or ``(n,)`` integer labels for
            ``CategoricalCrossEntropy``.
        epochs: the total number of epochs the run should have when done.
        validation: ``(x_val, y_val)`` held-out data, scored after each epoch
            (not with ``state.validation_fraction``, which splits ``x, y``).
        on_nonfinite: ``"raise"`` a :class:`NonFiniteLossError`, or ``"stop"``:
            yield the last finite state (the previous epoch's) with
            ``stop_reason="non_finite"`` and end.
        train_metrics: ``"passes"`` (the default) scores ``state.metrics`` on
            the training data from the epoch's own forward passes (training
            mode, params moving during the epoch: a running figure, like the
            cost, at no extra cost); ``"end"`` runs one more inference pass over
            the training data with the epoch's final params.
        eval_batch_size: rows per inference pass for the validation data (and
            ``train_metrics="end"``); None chooses by a memory budget (see
            :func:`~funcnn.network.predict`), so memory does not grow with ``n``.

    Raises:
        NonFiniteLossError: the cost became NaN or infinite (names epoch and step).
    """
    for state_now, _ in run_epochs(
        state, x, y, epochs=epochs, validation=validation, on_nonfinite=on_nonfinite,
        train_metrics=train_metrics, eval_batch_size=eval_batch_size,
    ):
        yield state_now


def train_steps(
    state: TrainState[FloatT],
    x: object,
    y: object,
    *,
    epochs: int,
    validation: tuple[object, object] | None = None,
    on_nonfinite: OnNonFinite = "raise",
    train_metrics: TrainMetrics = "passes",
    eval_batch_size: int | None = None,
) -> Iterator[tuple[TrainState[FloatT], float]]:
    """Yield ``(state, cost)`` after every optimizer step; the arguments are those of :func:`train_epochs`.

    ``cost`` is the step's batch cost (before its update). The state after the
    last step of an epoch is the very state :func:`train_epochs` yields for that
    epoch (history, early stopping, convergence); within an epoch only
    ``params``, ``opt_state`` and ``step`` move on, so resume a run from an
    epoch-end state. For small models: each yielded state is a new value.

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(1))
    >>> start = TrainState.create(model, fn.init(model, fn.key(0), in_shape=(1,)), loss=fn.MSE(),
    ...                           optimizer=fn.sgd(0.1), key=fn.key(1), batch_size=1)
    >>> [s.step for s, _ in train_steps(start, np.ones((3, 1)), np.ones((3, 1)), epochs=2)]
    [1, 2, 3, 4, 5, 6]
    """
    yield from run_epochs(
        state, x, y, epochs=epochs, validation=validation, on_nonfinite=on_nonfinite, per_step=True,
        train_metrics=train_metrics, eval_batch_size=eval_batch_size,
    )


def fit(
    state: TrainState[FloatT],
    x: object,
    y: object,
    *,
    epochs: int,
    validation: tuple[object, object] | None = None,
    on_nonfinite: OnNonFinite = "raise",
    observer: Callable[[TrainState[FloatT]], None] | None = None,
    restore_best: bool = True,
    train_metrics: TrainMetrics = "passes",
    eval_batch_size: int | None = None,
) -> TrainState[FloatT]:
    """Run ``state`` on to ``epochs`` epochs **in total** (or until it stops) and return the final state.

    ``epochs`` is the total to reach, not a number of further epochs: a state
    at epoch 40 with ``epochs=50`` trains 10 more. This is how a run continues:
    pass a state from a former run (a saved checkpoint, or the result of
    :func:`train`) and a larger ``epochs``.
    ``observer(state)`` is called after each epoch (its result is ignored).
    With early stopping (``state.patience`` set) and ``restore_best``, the
    returned state's ``params`` are the best epoch's (see
    :meth:`TrainState.restore_best`), however the run ended. A state that is
    already finished is returned as it is. ``train_metrics`` and
    ``eval_batch_size`` are those of :func:`train_epochs`.

    Raises:
        ValueError: nothing to do: ``epochs`` is not more than ``state.epoch`` for
            a state that has not stopped (the message gives the total to ask for).
    """
    if not state.stopped and epochs <= state.epoch:
        raise ValueError(
            f"fit: the state is already at epoch {state.epoch} and epochs={epochs} is the total to reach, not a "
            f"number of further epochs; for {epochs} more, pass epochs={state.epoch + epochs}"
        )
    final = state
    for final in train_epochs(
        state, x, y, epochs=epochs, validation=validation, on_nonfinite=on_nonfinite,
        train_metrics=train_metrics, eval_batch_size=eval_batch_size,
    ):
        if observer is not None:
            observer(final)
    if restore_best and final.patience is not None:
        final = final.restore_best()
    return final


def train(
    model: Layer,
    params: FrozenTree[FloatT],
    x: object,
    y: object,
    *,
    loss: Loss,
    epochs: int,
    key: Key,
    lr: float | Schedule | None = None,
    optimizer: Optimizer | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    validation: tuple[object, object] | None = None,
    validation_fraction: float | None = None,
    metrics: Sequence[str] = (),
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    on_nonfinite: OnNonFinite = "raise",
    observer: Callable[[TrainState[FloatT]], None] | None = None,
    sampling: str = "permutation",
    tol: float | None = None,
    augment: Augmentation | None = None,
    train_metrics: TrainMetrics = "passes",
    eval_batch_size: int | None = None,
) -> TrainState[FloatT]:
    """Train ``model`` from ``params`` for ``epochs`` epochs; return the final state.

    Give either ``lr`` (a float or schedule: plain SGD) or an ``optimizer``
    (e.g. ``adam(1e-3)`` or ``chain(l2(1e-4), sgd(0.1, momentum=0.9))``).
    ``batch_size=None`` is full-batch gradient descent, ``1`` stochastic,
    anything else mini-batch; samples are reshuffled every epoch from ``key``,
    or drawn with replacement with ``sampling="with_replacement"``. ``tol``
    stops the run (``stop_reason="converged"``) at the end of the first epoch
    whose full-data gradient of the loss (penalties excluded) has a global norm
    below ``tol``.

    Validation data comes from ``validation=(x_val, y_val)`` or
    ``validation_fraction`` (held out of ``x, y`` reproducibly from ``key``).
    ``metrics`` (names such as ``"accuracy"``, ``"f1"``, ``"rmse"``) are
    recorded per epoch in ``history.metrics`` on the training data (by
    default from the epoch's own forward passes, a running figure like the
    cost; ``train_metrics="end"`` scores the epoch's final params in one more
    pass), and with a ``val_`` prefix on the validation data, evaluated in
    batches of ``eval_batch_size`` rows (None: chosen by a memory budget). ``patience`` turns on early
    stopping (on the validation cost, or the training cost without
    validation data); the returned ``params`` are then the best epoch's
    (``best_epoch``) unless ``restore_best=False``. A non-finite cost raises
    :class:`~funcnn.errors.NonFiniteLossError`, or with ``on_nonfinite="stop"``
    returns the last finite state with ``stop_reason="non_finite"``.

    ``augment`` (e.g. ``Compose([RandomFlip(), RandomRotation(20.0)])`` from
    :mod:`funcnn.augment`) transforms each training batch with the step's key.

    ``observer(state)`` is called after each epoch with the new state, e.g.
    to print progress; ``train`` itself never prints.

    >>> import numpy as np, funcnn as fn
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = 2.0 * x + 1.0
    >>> model = fn.Sequential(fn.Dense(1))
    >>> params = fn.init(model, fn.key(0), in_shape=(1,))
    >>> state = fn.train(model, params, x, y, loss=fn.MSE(), lr=0.1, epochs=300, key=fn.key(1))
    >>> np.round(state.params["dense_0"]["w"], 3), len(state.history.cost)
    (array([[2.]]), 300)
    """
    if (lr is None) == (optimizer is None):
        raise ValueError("train: give exactly one of lr=... (plain SGD) or optimizer=...")
    opt = optimizer if optimizer is not None else sgd(lr)  # type: ignore[arg-type]
    start = TrainState.create(
        model, params, loss=loss, optimizer=opt, key=key, batch_size=batch_size, shuffle=shuffle,
        validation_fraction=validation_fraction, metrics=metrics, patience=patience, min_delta=min_delta,
        sampling=sampling, tol=tol, augment=augment,
    )
    return fit(
        start, x, y, epochs=epochs, validation=validation, on_nonfinite=on_nonfinite, observer=observer,
        restore_best=restore_best, train_metrics=train_metrics, eval_batch_size=eval_batch_size,
    )


def last_state(states: Iterator[TrainState[FloatT]]) -> TrainState[FloatT]:
    """Run a stream of states to its end and return the last one."""
    final = None
    for final in states:  # noqa: B007  # only the last state matters
        pass
    if final is None:
        raise ValueError("train: the run produced no epoch")
    return final
