"""The layer registry: one ``Case`` (spec, in_shape) per layer configuration.

Every cross-cutting test (gradient checks, shape agreement, purity, dtype) is
parametrised over ``CASES``, so a new layer is covered by appending a case here:

    CASES.append(Case(fn.Conv2D(4, 3), (6, 6, 2)))

``in_shape`` excludes the batch axis. Set ``kinks=True`` for layers that are not
differentiable at 0 (ReLU-like): test inputs are then kept at least 0.1 away
from 0 so finite differences never straddle a kink. Use ``id`` to tell two cases
of the same spec class apart (default: the spec's repr).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Generic, NamedTuple, TypeVar, overload

import attrs
import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from funcnn._typing import Array, FloatT, Shape
from funcnn.layers import Layer
from funcnn.rng import Key, generator

__all__ = ["CASES", "Case", "Pass", "Recorder", "case_id", "make_input", "training_pass"]


@attrs.frozen
class Case:
    """One registry entry: a layer spec and the input shape it is tested on."""

    spec: Layer
    in_shape: Shape
    kinks: bool = False
    id: str | None = None

    @property
    def needs_key(self) -> bool:
        """True if the layer draws random numbers in training (a key is then passed)."""
        return bool(self.spec.uses_key)


def case_id(case: Case) -> str:
    """A readable pytest id for a case."""
    return case.id if case.id is not None else repr(case.spec)


@overload
def make_input(case: Case, key: fn.Key, batch: int) -> NDArray[np.float64]: ...


@overload
def make_input(case: Case, key: fn.Key, batch: int, dtype: type[FloatT]) -> NDArray[FloatT]: ...


def make_input(
    case: Case,
    key: fn.Key,
    batch: int,
    dtype: type[FloatT] = np.float64,  # type: ignore[assignment]
) -> NDArray[FloatT]:
    """Standard-normal inputs ``(batch, *in_shape)``; kept 0.1 away from 0 if ``case.kinks``."""
    x = generator(key).standard_normal((batch, *case.in_shape))
    if case.kinks:
        x = np.sign(x) * (0.1 + np.abs(x))
        x[x == 0] = 0.5  # sign(0) == 0: practically never drawn, but never at the kink
    return x.astype(dtype)


class Pass(NamedTuple):
    """One training-mode pass of a case (see :func:`training_pass`)."""

    params: fn.FrozenTree[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    cache: fn.FrozenTree[np.float64]
    grads: fn.FrozenTree[np.float64]
    dx: NDArray[np.float64]


def training_pass(case: Case, key: fn.Key, batch: int) -> Pass:
    """Init, a training-mode forward on ``batch`` inputs and the backward of ``dy = 1``, all from ``key``."""
    params = fn.init(case.spec, key, in_shape=case.in_shape)
    x = make_input(case, key, batch)
    y, cache = fn.forward(case.spec, params, x, key=key, train=True)
    grads, dx = fn.backward(case.spec, params, cache, np.ones_like(y))
    return Pass(params, x, y, cache, grads, dx)


_R = TypeVar("_R")


@attrs.frozen
class Recorder(Generic[_R]):
    """An identity layer that appends ``record(x)`` to ``seen`` on every forward (test-only).

    E.g. ``Recorder(lambda x: x.shape[0])`` records the rows of every batch a pass holds.
    """

    kind: ClassVar[str] = "recorder"
    uses_key: ClassVar[bool] = False
    record: Callable[[NDArray[np.floating]], _R]
    seen: list[_R] = attrs.field(factory=list, eq=False, hash=False)
    name: str | None = None

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, fn.FrozenTree[FloatT]]:
        return in_shape, fn.FrozenTree()

    def forward(
        self, params: fn.FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], fn.FrozenTree[FloatT]]:
        self.seen.append(self.record(x))
        return x, fn.FrozenTree()

    def backward(
        self, params: fn.FrozenTree[FloatT], cache: fn.FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[fn.FrozenTree[FloatT], Array[FloatT]]:
        return fn.FrozenTree(), dy


CASES: list[Case] = [
    Case(fn.Dense(3), (4,)),
    Case(fn.Dense(1, w_init=fn.Normal(0.5), b_init=fn.Normal(0.5)), (2,), id="Dense(1, random bias)"),
    Case(fn.Identity(), (2, 3)),
    Case(fn.ReLU(), (2, 3), kinks=True),
    Case(fn.LeakyReLU(0.1), (5,), kinks=True),
    Case(fn.Sigmoid(), (4,)),
    Case(fn.Tanh(), (3, 2)),
    Case(fn.Softmax(), (5,)),
    Case(fn.Dropout(0.3), (6,)),
    Case(fn.Flatten(), (2, 3, 2)),
    Case(fn.Sequential(fn.Dense(4), fn.Tanh(), fn.Dense(2)), (3,), id="mlp"),
    Case(
        fn.Sequential(
            fn.Flatten(),
            fn.Dense(4, b_init=fn.Normal(0.5)),
            fn.Dropout(0.25),
            fn.LeakyReLU(0.2),
            fn.Sequential(fn.Dense(3), fn.Sigmoid(), name="head"),
            fn.Softmax(),
        ),
        (2, 2, 1),
        id="nested mlp with dropout",
    ),
    Case(fn.Conv2D(3, 3), (6, 5, 2)),
    Case(fn.Conv2D(2, 2, stride=2, padding="same", b_init=fn.Normal(0.5)), (5, 5, 1), id="Conv2D stride 2 same"),
    Case(fn.MaxPool2D(2), (4, 6, 2)),
    Case(fn.MaxPool2D(3, stride=2), (7, 7, 1)),
    Case(fn.AvgPool2D(2), (4, 5, 3)),
    Case(
        fn.Sequential(fn.Conv2D(2, 3, padding="same"), fn.Tanh(), fn.MaxPool2D(2), fn.Flatten(), fn.Dense(3)),
        (6, 6, 1),
        id="small cnn",
    ),
]
