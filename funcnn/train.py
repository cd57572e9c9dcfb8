"""The stateless training loop.

A :class:`TrainState` is a frozen value holding everything a run needs to go
on: specs, params, optimizer state, the root key, epoch and step counts and the
history so far. :func:`train_epochs` turns a state and data into a stream of
states, one per finished epoch; :func:`train` folds that stream and returns the
last state. Nothing is printed and no input is changed.

Randomness is derived by meaning from the root key: the order of epoch ``e``
is drawn from ``fold_in(fold_in(key, "shuffle"), e)`` and the dropout masks of
step ``s`` from ``fold_in(fold_in(key, "dropout"), s)``. So epoch ``e`` never
depends on having run the epochs before it, and a run resumed from a state is
the same run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Generic

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._typing import Array, FloatT, Shape
from funcnn.errors import NonFiniteLossError, ShapeError
from funcnn.layers.base import Layer
from funcnn.losses import Loss
from funcnn.network import output_shape
from funcnn.optim import Optimizer, OptState, Schedule, apply_updates, sgd
from funcnn.rng import Key, fold_in, generator
from funcnn.tree import FrozenTree, tree_dtype

__all__ = ["History", "TrainState", "train", "train_epochs"]


def _frozen_floats(values: object) -> NDArray[np.float64]:
    a = np.array(values, dtype=np.float64).reshape(-1)
    a.flags.writeable = False
    return a


@attrs.frozen
class History:
    """Per-epoch records of a run; every field is a read-only float64 array."""

    cost: NDArray[np.float64] = attrs.field(factory=lambda: _frozen_floats([]), converter=_frozen_floats, eq=False)

    def append(self, *, cost: float) -> History:
        """A new history with one more epoch."""
        return History(cost=np.append(self.cost, cost))

    def __len__(self) -> int:
        return int(self.cost.shape[0])


def _check_batch_size(instance: object, attribute: object, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"batch_size must be None (full batch) or an int >= 1, got batch_size={value!r}")


@attrs.frozen
class TrainState(Generic[FloatT]):
    """Everything a run needs to continue: a frozen value.

    ``epoch`` and ``step`` count the epochs and optimizer steps completed.
    ``batch_size=None`` is full-batch gradient descent, ``1`` is stochastic.
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
    ) -> TrainState[FloatT]:
        """A state at epoch 0 with a freshly initialised optimizer state."""
        return cls(model, loss, optimizer, key, params, optimizer.init(params), batch_size, shuffle)

    @property
    def dtype(self) -> np.dtype[FloatT]:
        """The params' dtype (float64 if the model has no params)."""
        return tree_dtype(self.params)


def _prepare_data(
    state: TrainState[FloatT], x: object, y: object
) -> tuple[Array[FloatT], Array[FloatT]]:
    """Cast inputs and targets once, and check them against the model and the loss."""
    xs = np.asarray(x, dtype=state.dtype)
    ys = np.asarray(y)
    if xs.ndim < 1 or ys.ndim < 1:
        raise ShapeError(f"train: x and y need a leading sample axis, got x {xs.shape} and y {ys.shape}")
    if xs.shape[0] != ys.shape[0]:
        raise ShapeError(f"train: x and y must hold the same number of samples, got {xs.shape[0]} and {ys.shape[0]}")
    if xs.shape[0] == 0:
        raise ShapeError("train: got no samples (x has 0 rows)")
    y_shape: Shape = output_shape(state.model, xs.shape[1:])
    template = np.broadcast_to(np.zeros((), dtype=state.dtype), (ys.shape[0], *y_shape))
    if not np.issubdtype(ys.dtype, np.number) and ys.dtype != np.bool_:
        raise ShapeError(f"train: targets must be numeric, got dtype {ys.dtype}")
    return xs, state.loss.check_targets(template, ys)


def _batches(state: TrainState[FloatT], n: int, epoch: int) -> list[NDArray[np.intp]] | None:
    """Index arrays of the batches of ``epoch``; None means "all samples, in order"."""
    size = n if state.batch_size is None else min(state.batch_size, n)
    if not state.shuffle and size == n:
        return None
    order = (
        generator(fold_in(fold_in(state.key, "shuffle"), epoch)).permutation(n)
        if state.shuffle
        else np.arange(n)
    )
    return [order[i : i + size] for i in range(0, n, size)]


def train_epochs(
    state: TrainState[FloatT], x: object, y: object, *, epochs: int
) -> Iterator[TrainState[FloatT]]:
    """Yield the state after each epoch until ``state.epoch == epochs`` (a total, not a count).

    Args:
        state: where to start (``TrainState.create`` or a state from a former run).
        x: ``(n, *in_shape)`` inputs, cast once to the params' dtype.
        y: ``(n, *out_shape)`` targets, or ``(n,)`` integer labels for
            ``CategoricalCrossEntropy``.
        epochs: the total number of epochs the run should have when done.

    Raises:
        NonFiniteLossError: the cost became NaN or infinite (names epoch and step).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"train: epochs must be an int >= 1, got epochs={epochs!r}")
    xs, ts = _prepare_data(state, x, y)
    n = xs.shape[0]
    model, loss, optimizer = state.model, state.loss, state.optimizer
    dropout_key = fold_in(state.key, "dropout")
    needs_key = bool(getattr(model, "uses_key", True))
    params, opt_state, step = state.params, state.opt_state, state.step
    for epoch in range(state.epoch, epochs):
        total = 0.0
        batches = _batches(state, n, epoch)
        for idx in batches if batches is not None else [None]:
            xb, tb = (xs, ts) if idx is None else (xs[idx], ts[idx])  # one gather per step
            step_key = fold_in(dropout_key, step) if needs_key else None
            yb, cache = model.forward(params, xb, key=step_key, train=True)
            cost, dy = loss.value_and_grad(yb, tb)
            if not math.isfinite(cost):
                raise NonFiniteLossError(
                    f"train: the cost became {cost} at epoch {epoch} (0-based), step {step}; "
                    "try a smaller learning rate"
                )
            grads, _ = model.backward(params, cache, dy, need_dx=False)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = apply_updates(params, updates)
            total += cost * xb.shape[0]
            step += 1
        state = attrs.evolve(
            state,
            params=params,
            opt_state=opt_state,
            epoch=epoch + 1,
            step=step,
            history=state.history.append(cost=total / n),
        )
        yield state


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
) -> TrainState[FloatT]:
    """Train ``model`` from ``params`` for ``epochs`` epochs; return the final state.

    Give either ``lr`` (plain SGD) or an ``optimizer``. ``batch_size=None``
    is full-batch gradient descent, ``1`` stochastic, anything else mini-batch;
    samples are reshuffled every epoch from ``key``. The result's ``params``
    are the new params and ``history.cost`` the mean training cost of each
    epoch (the running mean over the epoch's batches, weighted by batch size).
    """
    if (lr is None) == (optimizer is None):
        raise ValueError("train: give exactly one of lr=... (plain SGD) or optimizer=...")
    opt = optimizer if optimizer is not None else sgd(lr)  # type: ignore[arg-type]
    start = TrainState.create(model, params, loss=loss, optimizer=opt, key=key, batch_size=batch_size, shuffle=shuffle)
    return last_state(train_epochs(start, x, y, epochs=epochs))


def last_state(states: Iterator[TrainState[FloatT]]) -> TrainState[FloatT]:
    """Run a stream of states to its end and return the last one."""
    final = None
    for final in states:  # noqa: B007  # only the last state matters
        pass
    if final is None:
        raise ValueError("train: the run produced no epoch")
    return final
