"""Learning-rate schedules: pure functions of the step count.

A schedule is a frozen spec called as ``schedule(step) -> lr`` (a Python
float). It holds no counter: the optimizer passes the step count kept in its
own state, so evaluating a schedule twice at the same step always gives the
same value, in any order. Anywhere a learning rate is accepted, a schedule is
accepted too; :func:`learning_rate` evaluates either.

======================== ================================================
factory                  value at step ``t``
======================== ================================================
``constant_schedule``    ``value``
``inverse_time_schedule`` ``lr0 / (1 + decay * t)``
``learning_schedule``    ``t0 / (t + t1)``
``step_schedule``        ``lr0 * factor ** (t // every)``
``exponential_schedule`` ``lr0 * rate ** (t / decay_steps)`` (``//`` if staircase)
``cosine_schedule``      ``lr0 * (alpha + (1 - alpha) * (1 + cos(pi * min(t, T) / T)) / 2)``
``warmup_schedule``      linear from ``start`` to ``after(0)`` over ``warmup_steps``,
                         then ``after(t - warmup_steps)``
======================== ================================================

>>> s = inverse_time_schedule(0.1, decay=0.5)
>>> s(0), s(2)
(0.1, 0.05)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import attrs
import numpy as np

from funcnn._spec import short_repr

__all__ = [
    "ConstantSchedule",
    "CosineSchedule",
    "ExponentialSchedule",
    "InverseTimeSchedule",
    "LearningSchedule",
    "Schedule",
    "StepSchedule",
    "WarmupSchedule",
    "constant_schedule",
    "cosine_schedule",
    "exponential_schedule",
    "inverse_time_schedule",
    "learning_rate",
    "learning_schedule",
    "step_schedule",
    "warmup_schedule",
]


class Schedule(Protocol):
    """A learning-rate schedule: a frozen spec called as ``schedule(step) -> lr``."""

    @property
    def kind(self) -> str: ...

    def __call__(self, step: int) -> float: ...


def learning_rate(lr: float | Schedule, step: int) -> float:
    """The learning rate at ``step`` for a constant or a schedule (a Python float).

    >>> learning_rate(0.1, 7), learning_rate(learning_schedule(5.0, 50.0), 50)
    (0.1, 0.05)
    """
    return float(lr) if isinstance(lr, int | float) else float(lr(step))


# -- shared hyperparameter checks (used by optim.py and transforms.py too) -----

Validator = Callable[[object, "attrs.Attribute[float]", float], None]


def real(value: float) -> float:
    """attrs converter: any real number becomes a Python float (never a numpy scalar).

    Python floats are weak scalars under NEP 50, so float32 arrays stay
    float32. Anything else (bool, str, a schedule) passes through unchanged
    for the field's validator to judge.
    """
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return float(value)
    return value


def real_or_schedule(value: float | Schedule) -> float | Schedule:
    """attrs converter for learning-rate fields: numbers become floats, schedules stay."""
    return real(value) if isinstance(value, int | float | np.integer | np.floating) else value


def _bounds_text(gt: float | None, ge: float | None, lt: float | None, le: float | None) -> str:
    parts = []
    if gt is not None:
        parts.append(f"> {gt:g}")
    if ge is not None:
        parts.append(f">= {ge:g}")
    if lt is not None:
        parts.append(f"< {lt:g}")
    if le is not None:
        parts.append(f"<= {le:g}")
    return " and ".join(parts)


def number(
    *, gt: float | None = None, ge: float | None = None, lt: float | None = None, le: float | None = None
) -> Validator:
    """attrs validator: a finite real number within the given bounds.

    The error names the class, the field and the value, e.g.
    ``SGD: lr must be a finite number > 0, got lr=-0.1``.
    """
    text = _bounds_text(gt, ge, lt, le)

    def check(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
        ok = (
            isinstance(value, float)
            and math.isfinite(value)
            and (gt is None or value > gt)
            and (ge is None or value >= ge)
            and (lt is None or value < lt)
            and (le is None or value <= le)
        )
        if not ok:
            name = attribute.name
            raise ValueError(f"{type(instance).__name__}: {name} must be a finite number {text}, got {name}={value!r}")

    return check


def integer(*, ge: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    """attrs validator: a Python int (not a bool) ``>= ge``."""

    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < ge:
            name = attribute.name
            raise ValueError(f"{type(instance).__name__}: {name} must be an int >= {ge}, got {name}={value!r}")

    return check


def check_lr(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator for learning-rate fields: a finite float > 0 or a schedule spec."""
    name = attribute.name
    if isinstance(value, float):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{type(instance).__name__}: {name} must be a finite number > 0, got {name}={value!r}")
    elif isinstance(value, bool) or not callable(value):
        raise TypeError(f"{type(instance).__name__}: {name} must be a float or a schedule, got {name}={value!r}")


# -- the schedules -------------------------------------------------------------


@attrs.frozen(repr=False)
class ConstantSchedule:
    """``lr(t) = value`` for every step."""

    __repr__ = short_repr
    kind: ClassVar[str] = "constant_schedule"

    value: float = attrs.field(converter=real, validator=number(gt=0))

    def __call__(self, step: int) -> float:
        return self.value


@attrs.frozen(repr=False)
class InverseTimeSchedule:
    """``lr(t) = lr0 / (1 + decay * t)``: the classic ``1/t`` decay."""

    __repr__ = short_repr
    kind: ClassVar[str] = "inverse_time_schedule"

    lr0: float = attrs.field(converter=real, validator=number(gt=0))
    decay: float = attrs.field(converter=real, validator=number(ge=0))

    def __call__(self, step: int) -> float:
        return self.lr0 / (1.0 + self.decay * step)


@attrs.frozen(repr=False)
class LearningSchedule:
    """``lr(t) = t0 / (t + t1)``: the learning schedule of simulated annealing-style SGD."""

    __repr__ = short_repr
    kind: ClassVar[str] = "learning_schedule"

    t0: float = attrs.field(converter=real, validator=number(gt=0))
    t1: float = attrs.field(converter=real, validator=number(gt=0))

    def __call__(self, step: int) -> float:
        return self.t0 / (step + self.t1)


@attrs.frozen(repr=False)
class StepSchedule:
    """``lr(t) = lr0 * factor ** (t // every)``: drop by ``factor`` every ``every`` steps."""

    __repr__ = short_repr
    kind: ClassVar[str] = "step_schedule"

    lr0: float = attrs.field(converter=real, validator=number(gt=0))
    every: int = attrs.field(validator=integer(ge=1))
    factor: float = attrs.field(default=0.5, converter=real, validator=number(gt=0, le=1))

    def __call__(self, step: int) -> float:
        return self.lr0 * self.factor ** (step // self.every)


@attrs.frozen(repr=False)
class ExponentialSchedule:
    """``lr(t) = lr0 * rate ** (t / decay_steps)``; with ``staircase`` the exponent is ``t // decay_steps``."""

    __repr__ = short_repr
    kind: ClassVar[str] = "exponential_schedule"

    lr0: float = attrs.field(converter=real, validator=number(gt=0))
    rate: float = attrs.field(converter=real, validator=number(gt=0, le=1))
    decay_steps: int = attrs.field(default=1, validator=integer(ge=1))
    staircase: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def __call__(self, step: int) -> float:
        exponent = step // self.decay_steps if self.staircase else step / self.decay_steps
        return self.lr0 * self.rate**exponent


@attrs.frozen(repr=False)
class CosineSchedule:
    """Cosine decay from ``lr0`` to ``alpha * lr0`` over ``decay_steps``, then flat.

    ``lr(t) = lr0 * (alpha + (1 - alpha) * (1 + cos(pi * min(t, T) / T)) / 2)``
    with ``T = decay_steps``.
    """

    __repr__ = short_repr
    kind: ClassVar[str] = "cosine_schedule"

    lr0: float = attrs.field(converter=real, validator=number(gt=0))
    decay_steps: int = attrs.field(validator=integer(ge=1))
    alpha: float = attrs.field(default=0.0, converter=real, validator=number(ge=0, le=1))

    def __call__(self, step: int) -> float:
        progress = min(step, self.decay_steps) / self.decay_steps
        return self.lr0 * (self.alpha + (1.0 - self.alpha) * 0.5 * (1.0 + math.cos(math.pi * progress)))


@attrs.frozen(repr=False)
class WarmupSchedule:
    """Linear warm-up from ``start`` to ``after(0)`` over ``warmup_steps``, then ``after(t - warmup_steps)``.

    ``after`` is a constant learning rate or another schedule (e.g. a cosine
    decay), which starts counting at the end of the warm-up.
    """

    __repr__ = short_repr
    kind: ClassVar[str] = "warmup_schedule"

    after: float | Schedule = attrs.field(converter=real_or_schedule, validator=check_lr)
    warmup_steps: int = attrs.field(validator=integer(ge=1))
    start: float = attrs.field(default=0.0, converter=real, validator=number(ge=0))

    def __call__(self, step: int) -> float:
        if step >= self.warmup_steps:
            return learning_rate(self.after, step - self.warmup_steps)
        peak = learning_rate(self.after, 0)
        return self.start + (peak - self.start) * (step / self.warmup_steps)


# -- factories -----------------------------------------------------------------


def constant_schedule(value: float) -> ConstantSchedule:
    """A constant learning rate, as a schedule."""
    return ConstantSchedule(value)


def inverse_time_schedule(lr0: float, decay: float) -> InverseTimeSchedule:
    """``lr0 / (1 + decay * step)``.

    >>> inverse_time_schedule(1.0, decay=0.1)(10)
    0.5
    """
    return InverseTimeSchedule(lr0, decay)


def learning_schedule(t0: float, t1: float) -> LearningSchedule:
    """``t0 / (step + t1)`` (e.g. ``t0=5, t1=50`` starts at 0.1).

    >>> learning_schedule(5.0, 50.0)(0)
    0.1
    """
    return LearningSchedule(t0, t1)


def step_schedule(lr0: float, *, every: int, factor: float = 0.5) -> StepSchedule:
    """``lr0 * factor ** (step // every)``.

    >>> [step_schedule(0.8, every=2)(t) for t in range(5)]
    [0.8, 0.8, 0.4, 0.4, 0.2]
    """
    return StepSchedule(lr0, every, factor)


def exponential_schedule(
    lr0: float, rate: float, *, decay_steps: int = 1, staircase: bool = False
) -> ExponentialSchedule:
    """``lr0 * rate ** (step / decay_steps)`` (integer division if ``staircase``)."""
    return ExponentialSchedule(lr0, rate, decay_steps, staircase)


def cosine_schedule(lr0: float, decay_steps: int, *, alpha: float = 0.0) -> CosineSchedule:
    """Cosine decay from ``lr0`` to ``alpha * lr0`` over ``decay_steps`` steps.

    >>> s = cosine_schedule(1.0, 10)
    >>> s(0), s(5), s(10), s(99)
    (1.0, 0.5, 0.0, 0.0)
    """
    return CosineSchedule(lr0, decay_steps, alpha)


def warmup_schedule(after: float | Schedule, warmup_steps: int, *, start: float = 0.0) -> WarmupSchedule:
    """Linear warm-up to ``after`` (a rate or a schedule that then takes over).

    >>> s = warmup_schedule(0.1, 4)
    >>> [round(s(t), 3) for t in range(6)]
    [0.0, 0.025, 0.05, 0.075, 0.1, 0.1]
    """
    return WarmupSchedule(after, warmup_steps, start)
