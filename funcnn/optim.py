"""Optimizers as pure pairs, and the stateless ``sgd_step`` shortcut.

An optimizer is a frozen spec with two pure methods (in the manner of optax):

* ``init(params) -> state``: an :class:`OptState` holding the step count and
  buffers that mirror params path for path (e.g. ``velocity/dense_0/w``);
* ``update(grads, state, params) -> (updates, state)``: the updates to add to
  the params with :func:`apply_updates`, and the next state.

A learning rate is a float or a schedule (any ``step -> float`` spec); it is
evaluated at the state's step count, so no hidden counter exists anywhere.
"""

from __future__ import annotations

from typing import ClassVar, Generic, Protocol

import attrs
import numpy as np

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT
from funcnn.tree import FrozenTree, assert_same_structure, tree_map

__all__ = ["SGD", "OptState", "Optimizer", "Schedule", "apply_updates", "learning_rate", "sgd", "sgd_step"]


class Schedule(Protocol):
    """A learning-rate schedule: a frozen spec called as ``schedule(step) -> lr``."""

    @property
    def kind(self) -> str: ...

    def __call__(self, step: int) -> float: ...


def learning_rate(lr: float | Schedule, step: int) -> float:
    """The learning rate at ``step`` for a constant or a schedule (a Python float)."""
    return float(lr) if isinstance(lr, int | float) else float(lr(step))


def _check_lr(instance: object, attribute: object, value: float | Schedule) -> None:
    if isinstance(value, bool) or not (isinstance(value, int | float) or callable(value)):
        raise TypeError(f"{type(instance).__name__}: lr must be a float or a schedule, got {value!r}")
    if isinstance(value, int | float) and not (np.isfinite(value) and value > 0):
        raise ValueError(f"{type(instance).__name__}: lr must be a finite number > 0, got lr={value}")


@attrs.frozen(repr=False)
class OptState(Generic[FloatT]):
    """An optimizer's state: the number of updates applied so far and its buffers.

    ``buffers`` is a FrozenTree whose subtrees mirror params (``{"velocity":
    <params-shaped>}``); it is empty for plain SGD.
    """

    __repr__ = short_repr

    count: int
    buffers: FrozenTree[FloatT] = attrs.field(factory=FrozenTree)


class Optimizer(Protocol):
    """The optimizer protocol: a frozen spec with pure ``init`` and ``update``."""

    @property
    def kind(self) -> str: ...

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]: ...

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]: ...


@attrs.frozen(repr=False)
class SGD:
    """Plain gradient descent: ``update = -lr(step) * grad``."""

    __repr__ = short_repr

    kind: ClassVar[str] = "sgd"
    lr: float | Schedule = attrs.field(validator=_check_lr)

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]:
        return OptState(0)

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        assert_same_structure(params, grads)
        scale = -learning_rate(self.lr, state.count)
        updates = tree_map(lambda g: g * scale, grads)
        return updates, OptState(state.count + 1, state.buffers)


def sgd(lr: float | Schedule) -> SGD:
    """Plain stochastic gradient descent with a constant or scheduled learning rate."""
    return SGD(lr)


def apply_updates(params: FrozenTree[FloatT], updates: FrozenTree[FloatT]) -> FrozenTree[FloatT]:
    """``params + updates`` leaf by leaf, as a new tree (dtypes kept)."""
    assert_same_structure(params, updates, names=("params", "updates"))
    return tree_map(_add, params, updates)


def _add(p: Array[FloatT], u: Array[FloatT]) -> Array[FloatT]:
    return np.add(p, u, dtype=p.dtype)


def sgd_step(params: FrozenTree[FloatT], grads: FrozenTree[FloatT], *, lr: float) -> FrozenTree[FloatT]:
    """One stateless gradient-descent step ``params - lr * grads`` (a new tree).

    >>> import numpy as np, funcnn as fn
    >>> p = fn.freeze({"w": np.array([1.0, 2.0])})
    >>> fn.sgd_step(p, fn.freeze({"w": np.array([0.5, -1.0])}), lr=0.1)["w"]
    array([0.95, 2.1 ])
    """
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"sgd_step: lr must be a finite number > 0, got lr={lr!r}")
    assert_same_structure(params, grads)
    lr = float(lr)
    return tree_map(lambda p, g: p - lr * g, params, grads)
