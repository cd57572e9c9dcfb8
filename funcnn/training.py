"""The stateless training loop.

A :class:`TrainState` is a frozen value holding everything a run needs to go
on: specs, params, optimizer state, the root key, epoch and step counts, the
history so far, the validation and early-stopping settings and bookkeeping.
:func:`train_epochs` turns a state and data into a stream of states, one per
finished epoch; :func:`fit` runs a state to its end, and :func:`train` builds
the first state and calls :func:`fit`. Nothing is printed and no input is
changed; an ``observer`` callback receives each epoch's state for logging.

Randomness is derived by meaning from the root key: the order of epoch ``e``
is drawn from ``fold_in(fold_in(key, "shuffle"), e)``, the dropout masks of
step ``s`` from ``fold_in(fold_in(key, "dropout"), s)`` and a validation split
from ``fold_in(key, "validation")``. So epoch ``e`` never depends on having
run the epochs before it, and a run resumed from any yielded state is the
same run, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Generic, Literal

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import Array, FloatT, Shape
from funcnn.errors import NonFiniteLossError, ShapeError
from funcnn.layers.base import Layer
from funcnn.losses import Loss
from funcnn.metrics import metric, metric_names
from funcnn.network import output_shape
from funcnn.optim import Optimizer, OptState, apply_step, sgd
from funcnn.rng import Key, fold_in, generator
from funcnn.schedules import Schedule
from funcnn.tree import FrozenTree, tree_dtype

__all__ = ["History", "TrainState", "fit", "last_state", "split_validation", "train", "train_epochs"]


def _frozen_floats(values: object) -> NDArray[np.float64]:
    a = np.array(values, dtype=np.float64).reshape(-1)
    a.flags.writeable = False
    return a


def _frozen_series(values: Mapping[str, object]) -> FrozenTree[np.float64]:
    return FrozenTree({name: _frozen_floats(v) for name, v in values.items()})


@attrs.frozen
class History:
    """Per-epoch records of a run; every series is a read-only float64 array, one entry per epoch.

    ``cost`` is each epoch's mean training cost (the running mean over its
    batches, weighted by batch size); ``val_cost`` the validation cost after
    each epoch (empty if the run has no validation data); ``metrics`` maps
    each requested metric to its series, ``"accuracy"`` on the training data
    and ``"val_accuracy"`` on the validation data.
    """

    cost: NDArray[np.float64] = attrs.field(factory=lambda: _frozen_floats([]), converter=_frozen_floats, eq=False)
    val_cost: NDArray[np.float64] = attrs.field(
        factory=lambda: _frozen_floats([]), converter=_frozen_floats, eq=False
    )
    metrics: FrozenTree[np.float64] = attrs.field(factory=FrozenTree, converter=_frozen_series, eq=False)

    def append(
        self, *, cost: float, val_cost: float | None = None, metrics: Mapping[str, float] | None = None
    ) -> History:
        """A new history with one more epoch."""
        series = dict(self.metrics)
        for name, value in (metrics or {}).items():
            old = series.get(name)
            series[name] = np.append(old if old is not None else _frozen_floats([]), value)  # type: ignore[arg-type]
        return History(
            cost=np.append(self.cost, cost),
            val_cost=self.val_cost if val_cost is None else np.append(self.val_cost, val_cost),
            metrics=series,
        )

    def __len__(self) -> int:
        return int(self.cost.shape[0])


def _check_batch_size(instance: object, attribute: object, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"batch_size must be None (full batch) or an int >= 1, got batch_size={value!r}")


def _check_fraction(instance: object, attribute: object, value: float | None) -> None:
    if value is not None and not (isinstance(value, float) and 0.0 < value < 1.0):
        raise ValueError(
            f"validation_fraction must be None or a number in (0, 1), got validation_fraction={value!r}"
        )


def _to_fraction(value: float | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _check_patience(instance: object, attribute: object, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"patience must be None (no early stopping) or an int >= 1, got patience={value!r}")


def _check_min_delta(instance: object, attribute: object, value: float) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0):
        raise ValueError(f"min_delta must be a finite number >= 0, got min_delta={value!r}")


def _to_shape(value: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(d) for d in value)


def _to_metric_names(value: Sequence[str]) -> tuple[str, ...]:
    return metric_names(value)


STOP_REASONS = (None, "early_stopping", "non_finite")


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
    non-finite cost (see ``on_nonfinite``).

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
    batch_size: int | None = attrs.field(default=None, validator=_check_batch_size)
    shuffle: bool = True
    epoch: int = 0
    step: int = 0
    history: History = attrs.field(factory=History)
    validation_fraction: float | None = attrs.field(default=None, converter=_to_fraction, validator=_check_fraction)
    metrics: tuple[str, ...] = attrs.field(default=(), converter=_to_metric_names)
    patience: int | None = attrs.field(default=None, validator=_check_patience)
    min_delta: float = attrs.field(default=0.0, validator=_check_min_delta)
    best_params: FrozenTree[FloatT] | None = None
    best_epoch: int | None = None
    best_cost: float | None = None
    wait: int = 0
    stop_reason: str | None = attrs.field(default=None, validator=attrs.validators.in_(STOP_REASONS))
    last_params: FrozenTree[FloatT] | None = None
    in_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_to_shape)

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
    ) -> TrainState[FloatT]:
        """A state at epoch 0 with a freshly initialised optimizer state."""
        return cls(
            model, loss, optimizer, key, params, optimizer.init(params), batch_size, shuffle,
            validation_fraction=validation_fraction, metrics=tuple(metrics), patience=patience, min_delta=min_delta,
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


def _prepare_data(
    state: TrainState[FloatT], x: object, y: object, where: str = "train"
) -> tuple[Array[FloatT], Array[FloatT]]:
    """Cast inputs and targets once, and check them against the model and the loss."""
    xs = np.asarray(x, dtype=state.dtype)
    ys = np.asarray(y)
    if xs.ndim < 1 or ys.ndim < 1:
        raise ShapeError(f"{where}: x and y need a leading sample axis, got x {xs.shape} and y {ys.shape}")
    if xs.shape[0] != ys.shape[0]:
        raise ShapeError(f"{where}: x and y must hold the same number of samples, got {xs.shape[0]} and {ys.shape[0]}")
    if xs.shape[0] == 0:
        raise ShapeError(f"{where}: got no samples (x has 0 rows)")
    y_shape: Shape = output_shape(state.model, xs.shape[1:])
    template = np.broadcast_to(np.zeros((), dtype=state.dtype), (ys.shape[0], *y_shape))
    if not np.issubdtype(ys.dtype, np.number) and ys.dtype != np.bool_:
        raise ShapeError(f"{where}: targets must be numeric, got dtype {ys.dtype}")
    return xs, state.loss.check_targets(template, ys)


def split_validation(key: Key, n: int, fraction: float) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``(train_indices, validation_indices)``, each sorted, for ``n`` samples.

    ``round(fraction * n)`` samples (at least one, and one fewer than ``n`` at
    most) are held out, chosen by ``fold_in(key, "validation")``: the same key
    always holds out the same samples.

    >>> import funcnn as fn
    >>> tr, va = split_validation(fn.key(0), 10, 0.3)
    >>> len(tr), len(va), sorted([*tr, *va]) == list(range(10))
    (7, 3, True)
    """
    if n < 2:
        raise ShapeError(f"validation_fraction: need at least 2 samples to hold some out, got {n}")
    n_val = min(max(round(fraction * n), 1), n - 1)
    order = generator(fold_in(key, "validation")).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _batches(state: TrainState[FloatT], n: int, epoch: int) -> list[NDArray[np.intp]] | None:
    """Index arrays of the batches of ``epoch``; None means "all samples, in order"."""
    size = n if state.batch_size is None else min(state.batch_size, n)
    if size == n:  # full batch: the order changes nothing but rounding, so skip the copy
        return None
    order = (
        generator(fold_in(fold_in(state.key, "shuffle"), epoch)).permutation(n)
        if state.shuffle
        else np.arange(n)
    )
    return [order[i : i + size] for i in range(0, n, size)]


def _check_resume(state: TrainState[FloatT], has_validation: bool) -> None:
    """A run continued from a state must keep its validation data (the history's series must line up)."""
    if state.epoch == 0:
        return
    had = len(state.history.val_cost) > 0
    if had != has_validation:
        raise ValueError(
            f"train: the state has {'validation costs' if had else 'no validation costs'} for its first "
            f"{state.epoch} epochs, but this call {'has' if has_validation else 'has no'} validation data; "
            "continue a run with the same validation setting"
        )


OnNonFinite = Literal["raise", "stop"]


def train_epochs(
    state: TrainState[FloatT],
    x: object,
    y: object,
    *,
    epochs: int,
    validation: tuple[object, object] | None = None,
    on_nonfinite: OnNonFinite = "raise",
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

    Raises:
        NonFiniteLossError: the cost became NaN or infinite (names epoch and step).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"train: epochs must be an int >= 1, got epochs={epochs!r}")
    if on_nonfinite not in ("raise", "stop"):
        raise ValueError(f"train: on_nonfinite must be 'raise' or 'stop', got on_nonfinite={on_nonfinite!r}")
    if state.stopped:
        return
    xs, ts = _prepare_data(state, x, y)
    if state.in_shape is None:
        state = attrs.evolve(state, in_shape=xs.shape[1:])
    elif state.in_shape != xs.shape[1:]:
        raise ShapeError(
            f"train: the run was trained on inputs of shape (n, {', '.join(map(str, state.in_shape))}), "
            f"got {xs.shape}; continue a run with data of the same shape"
        )
    xv: Array[FloatT] | None = None
    tv: Array[FloatT] | None = None
    if state.validation_fraction is not None:
        if validation is not None:
            raise ValueError("train: give validation=(x, y) or validation_fraction, not both")
        train_idx, val_idx = split_validation(state.key, xs.shape[0], state.validation_fraction)
        xs, ts, xv, tv = xs[train_idx], ts[train_idx], xs[val_idx], ts[val_idx]
    elif validation is not None:
        xv, tv = _prepare_data(state, validation[0], validation[1], "validation")
    _check_resume(state, xv is not None)
    n = xs.shape[0]
    model, loss, optimizer = state.model, state.loss, state.optimizer
    from_logits = bool(getattr(loss, "from_logits", False))
    dropout_key = fold_in(state.key, "dropout")
    needs_key = bool(getattr(model, "uses_key", True))
    params, opt_state, step = state.live_params, state.opt_state, state.step

    def non_finite(what: str, value: float, epoch: int, at: str) -> NonFiniteLossError:
        return NonFiniteLossError(
            f"train: the {what} became {value} at epoch {epoch} (0-based), {at}; "
            "try a smaller learning rate or clip gradients"
        )

    for epoch in range(state.epoch, epochs):
        total = 0.0
        batches = _batches(state, n, epoch)
        for idx in batches if batches is not None else [None]:
            # One gather per step; np.take is the faster gather of whole rows (same values as xs[idx]).
            xb, tb = (xs, ts) if idx is None else (np.take(xs, idx, axis=0), np.take(ts, idx, axis=0))
            step_key = fold_in(dropout_key, step) if needs_key else None
            yb, cache = model.forward(params, xb, key=step_key, train=True)
            cost, dy = loss.value_and_grad(yb, tb)
            if not math.isfinite(cost):
                if on_nonfinite == "raise":
                    raise non_finite("cost", cost, epoch, f"step {step}")
                yield attrs.evolve(state, stop_reason="non_finite")
                return
            grads, _ = model.backward(params, cache, dy, need_dx=False)
            params, opt_state = apply_step(optimizer, grads, opt_state, params)  # update + apply, fused
            total += cost * xb.shape[0]
            step += 1
        train_cost = total / n
        scores: dict[str, float] = {}
        val_cost: float | None = None
        yv: Array[FloatT] | None = None
        if xv is not None and tv is not None:
            yv, _ = model.forward(params, xv, train=False)
            val_cost, _ = loss.value_and_grad(yv, tv)
            if not math.isfinite(val_cost):
                if on_nonfinite == "raise":
                    raise non_finite("validation cost", val_cost, epoch, f"after step {step - 1}")
                yield attrs.evolve(state, stop_reason="non_finite")
                return
        if state.metrics:
            y_train, _ = model.forward(params, xs, train=False)
            for name in state.metrics:
                scores[name] = metric(name, y_train, ts, from_logits=from_logits)
                if yv is not None:
                    scores["val_" + name] = metric(name, yv, tv, from_logits=from_logits)
        monitored = val_cost if val_cost is not None else train_cost
        improved = state.best_cost is None or monitored < state.best_cost - state.min_delta
        best_params = params if improved else state.best_params
        best_epoch = epoch + 1 if improved else state.best_epoch
        best = monitored if improved else state.best_cost
        wait = 0 if improved else state.wait + 1
        stop = state.patience is not None and wait >= state.patience
        state = attrs.evolve(
            state,
            params=params,
            opt_state=opt_state,
            epoch=epoch + 1,
            step=step,
            history=state.history.append(cost=train_cost, val_cost=val_cost, metrics=scores),
            best_params=best_params,
            best_epoch=best_epoch,
            best_cost=best,
            wait=wait,
            stop_reason="early_stopping" if stop else None,
            last_params=None,
        )
        yield state
        if stop:
            return


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
) -> TrainState[FloatT]:
    """Run ``state`` on to ``epochs`` epochs in total (or until it stops) and return the final state.

    This is how a run continues: pass a state from a former run (a saved
    checkpoint, or the result of :func:`train`) and a larger ``epochs``.
    ``observer(state)`` is called after each epoch (its result is ignored).
    With early stopping (``state.patience`` set) and ``restore_best``, the
    returned state's ``params`` are the best epoch's (see
    :meth:`TrainState.restore_best`), however the run ended. A state that is
    already finished is returned as it is.
    """
    final = state
    for final in train_epochs(state, x, y, epochs=epochs, validation=validation, on_nonfinite=on_nonfinite):
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
) -> TrainState[FloatT]:
    """Train ``model`` from ``params`` for ``epochs`` epochs; return the final state.

    Give either ``lr`` (a float or schedule: plain SGD) or an ``optimizer``
    (e.g. ``adam(1e-3)`` or ``chain(l2(1e-4), sgd(0.1, momentum=0.9))``).
    ``batch_size=None`` is full-batch gradient descent, ``1`` stochastic,
    anything else mini-batch; samples are reshuffled every epoch from ``key``.

    Validation data comes from ``validation=(x_val, y_val)`` or
    ``validation_fraction`` (held out of ``x, y`` reproducibly from ``key``).
    ``metrics`` (names such as ``"accuracy"``, ``"f1"``, ``"rmse"``) are
    recorded per epoch in ``history.metrics`` on the training data, and with
    a ``val_`` prefix on the validation data. ``patience`` turns on early
    stopping (on the validation cost, or the training cost without
    validation data); the returned ``params`` are then the best epoch's
    (``best_epoch``) unless ``restore_best=False``. A non-finite cost raises
    :class:`~funcnn.errors.NonFiniteLossError`, or with ``on_nonfinite="stop"``
    returns the last finite state with ``stop_reason="non_finite"``.

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
    )
    return fit(
        start, x, y, epochs=epochs, validation=validation, on_nonfinite=on_nonfinite, observer=observer,
        restore_best=restore_best,
    )


def last_state(states: Iterator[TrainState[FloatT]]) -> TrainState[FloatT]:
    """Run a stream of states to its end and return the last one."""
    final = None
    for final in states:  # noqa: B007  # only the last state matters
        pass
    if final is None:
        raise ValueError("train: the run produced no epoch")
    return final
