"""Schedules: values match their formulas, and they are pure functions of the step."""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from funcnn.optim import sgd
from funcnn.schedules import (
    ConstantSchedule,
    Schedule,
    constant_schedule,
    cosine_schedule,
    exponential_schedule,
    inverse_time_schedule,
    learning_rate,
    learning_schedule,
    step_schedule,
    warmup_schedule,
)

STEPS = [0, 1, 2, 3, 7, 10, 49, 50, 51, 100, 1000]

# (schedule, the formula written out independently)
CASES: list[tuple[Schedule, Callable[[int], float]]] = [
    (constant_schedule(0.3), lambda t: 0.3),
    (inverse_time_schedule(0.5, 0.1), lambda t: 0.5 / (1 + 0.1 * t)),
    (inverse_time_schedule(0.5, 0.0), lambda t: 0.5),
    (learning_schedule(5.0, 50.0), lambda t: 5.0 / (t + 50.0)),
    (step_schedule(1.0, every=10, factor=0.1), lambda t: 1.0 * 0.1 ** math.floor(t / 10)),
    (exponential_schedule(0.2, 0.5, decay_steps=10), lambda t: 0.2 * 0.5 ** (t / 10)),
    (exponential_schedule(0.2, 0.5, decay_steps=10, staircase=True), lambda t: 0.2 * 0.5 ** math.floor(t / 10)),
    (cosine_schedule(0.1, 50), lambda t: 0.05 * (1 + math.cos(math.pi * min(t, 50) / 50))),
    (
        cosine_schedule(0.1, 50, alpha=0.2),
        lambda t: 0.1 * (0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * min(t, 50) / 50))),
    ),
    (warmup_schedule(0.4, 10), lambda t: 0.4 * t / 10 if t < 10 else 0.4),
    (warmup_schedule(0.4, 10, start=0.1), lambda t: 0.1 + 0.3 * t / 10 if t < 10 else 0.4),
    (
        warmup_schedule(cosine_schedule(1.0, 40), 10),
        lambda t: t / 10 if t < 10 else 0.5 * (1 + math.cos(math.pi * min(t - 10, 40) / 40)),
    ),
]


@pytest.mark.parametrize(("schedule", "formula"), CASES, ids=[repr(s) for s, _ in CASES])
def test_values_match_the_formula(schedule: Schedule, formula: Callable[[int], float]) -> None:
    for t in STEPS:
        value = schedule(t)
        assert type(value) is float
        assert value == pytest.approx(formula(t), rel=1e-12, abs=1e-15), f"step {t}"


@pytest.mark.parametrize(("schedule", "formula"), CASES, ids=[repr(s) for s, _ in CASES])
def test_no_hidden_counter(schedule: Schedule, formula: Callable[[int], float]) -> None:
    forward = [schedule(t) for t in STEPS]
    backward = [schedule(t) for t in reversed(STEPS)][::-1]
    again = [schedule(t) for t in STEPS]
    assert forward == backward == again
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        schedule.kind = "other"  # type: ignore[misc]


def test_hand_values() -> None:
    assert inverse_time_schedule(1.0, 1.0)(3) == 0.25
    assert learning_schedule(5.0, 50.0)(0) == 0.1
    assert learning_schedule(5.0, 50.0)(50) == 0.05
    assert [step_schedule(0.8, every=2)(t) for t in range(5)] == [0.8, 0.8, 0.4, 0.4, 0.2]
    assert exponential_schedule(1.0, 0.5)(3) == 0.125
    s = cosine_schedule(2.0, 4)
    assert s(0) == 2.0 and s(2) == pytest.approx(1.0) and s(4) == 0.0 and s(10) == 0.0
    w = warmup_schedule(1.0, 4)
    assert [w(t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_equal_specs_are_equal_values() -> None:
    assert inverse_time_schedule(0.1, 0.01) == inverse_time_schedule(0.1, 0.01)
    assert hash(cosine_schedule(0.1, 5)) == hash(cosine_schedule(0.1, 5))
    assert constant_schedule(1) == ConstantSchedule(1.0)
    assert repr(step_schedule(0.1, every=3)) == "StepSchedule(lr0=0.1, every=3)"
    assert {s.kind for s, _ in CASES} >= {
        "constant_schedule",
        "inverse_time_schedule",
        "learning_schedule",
        "step_schedule",
        "exponential_schedule",
        "cosine_schedule",
        "warmup_schedule",
    }


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: constant_schedule(0.0), r"value=0\.0"),
        (lambda: inverse_time_schedule(-0.1, 0.1), r"lr0=-0\.1"),
        (lambda: inverse_time_schedule(0.1, -1.0), r"decay=-1\.0"),
        (lambda: learning_schedule(5.0, 0.0), r"t1=0\.0"),
        (lambda: step_schedule(0.1, every=0), r"every=0"),
        (lambda: step_schedule(0.1, every=2, factor=1.5), r"factor=1\.5"),
        (lambda: exponential_schedule(0.1, 0.0), r"rate=0\.0"),
        (lambda: exponential_schedule(0.1, 0.5, decay_steps=0), r"decay_steps=0"),
        (lambda: cosine_schedule(0.1, 10, alpha=2.0), r"alpha=2\.0"),
        (lambda: cosine_schedule(float("inf"), 10), r"lr0=inf"),
        (lambda: warmup_schedule(0.1, 0), r"warmup_steps=0"),
        (lambda: warmup_schedule(-0.1, 5), r"after=-0\.1"),
    ],
)
def test_bad_hyperparameters_name_the_value(build: Callable[[], Schedule], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        build()


def test_learning_rate_accepts_floats_and_schedules() -> None:
    assert learning_rate(0.1, 99) == 0.1
    assert learning_rate(inverse_time_schedule(1.0, 1.0), 1) == 0.5


def test_an_optimizer_accepts_a_schedule_anywhere_a_rate_goes() -> None:
    opt = sgd(warmup_schedule(inverse_time_schedule(0.1, 0.5), 3))
    assert learning_rate(opt.lr, 0) == 0.0
    assert learning_rate(opt.lr, 5) == pytest.approx(0.1 / (1 + 0.5 * 2))


@given(lr0=st.floats(1e-4, 10.0), decay=st.floats(0.0, 5.0), t=st.integers(0, 10_000))
def test_inverse_time_never_increases(lr0: float, decay: float, t: int) -> None:
    s = inverse_time_schedule(lr0, decay)
    assert 0.0 < s(t + 1) <= s(t) <= lr0


@given(lr0=st.floats(1e-4, 10.0), alpha=st.floats(0.0, 1.0), steps=st.integers(1, 500), t=st.integers(0, 2000))
def test_cosine_stays_between_its_bounds(lr0: float, alpha: float, steps: int, t: int) -> None:
    s = cosine_schedule(lr0, steps, alpha=alpha)
    assert alpha * lr0 * (1 - 1e-12) <= s(t) <= lr0 * (1 + 1e-12)
    assert s(t + 1) <= s(t) * (1 + 1e-12)
