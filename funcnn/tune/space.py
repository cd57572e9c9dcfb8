"""Trial configurations: a grid over axes, or a random search over a space.

A :class:`TrialConfig` is a frozen mapping from setting names to plain values
(``str``, ``int``, ``float``, ``bool``, ``None`` or tuples of those, so a
configuration is JSON-able) plus its trial ``index``. The index, not the
position in a list, names a trial: :func:`~funcnn.tune.sweep` derives the
trial's key as ``fold_in(sweep_key, index)``, and a resumed sweep recognises a
finished trial by it.

:func:`grid` takes the Cartesian product of its axes (the last axis varies
fastest). :func:`random_search` draws each value of trial ``i`` on axis
``name`` from ``fold_in(fold_in(key, i), name)``, so trial ``i`` is the same
whatever ``n`` and whatever the other axes are.

>>> configs = grid(lr=[0.1, 0.01], epochs=[10, 50])
>>> [(c.index, c["lr"], c["epochs"]) for c in configs]
[(0, 0.1, 10), (1, 0.1, 50), (2, 0.01, 10), (3, 0.01, 50)]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeAlias, TypeVar

import attrs

from funcnn.errors import ConfigError
from funcnn.rng import Key, fold_in, generator

__all__ = [
    "Axis",
    "Choice",
    "LogUniform",
    "Scalar",
    "TrialConfig",
    "Uniform",
    "Value",
    "choice",
    "grid",
    "log_uniform",
    "parse_space",
    "random_search",
    "uniform",
]

Scalar: TypeAlias = str | int | float | bool | None
Value: TypeAlias = Scalar | tuple[Scalar, ...]
V = TypeVar("V")


class FrozenMap(Mapping[str, V]):
    """A read-only ``dict`` that pickles (``MappingProxyType`` does not): settings and metrics."""

    __slots__ = ("_data",)
    _data: dict[str, V]

    def __init__(self, data: Mapping[str, V]) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __getitem__(self, name: str) -> V:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __reduce__(self) -> tuple[type[FrozenMap[V]], tuple[dict[str, V]]]:
        return type(self), (self._data,)

    def __repr__(self) -> str:
        return repr(self._data)


def _check_value(value: object, where: str) -> Value:
    """A plain (JSON-able) value; a list becomes a tuple."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, tuple | list) and all(v is None or isinstance(v, str | int | float | bool) for v in value):
        return tuple(value)
    raise ConfigError(
        f"{where}: expected a str, int, float, bool, None or a tuple of those, got {type(value).__name__} "
        f"{value!r}; encode richer settings as strings (e.g. hidden='128,64')"
    )


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"{where}: setting names must be Python identifiers, got {name!r}")
    return name


def _frozen_values(values: Mapping[str, object]) -> Mapping[str, Value]:
    return FrozenMap({_check_name(k, "TrialConfig"): _check_value(v, f"TrialConfig[{k!r}]") for k, v in values.items()})


def _check_index(instance: object, attribute: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ValueError(f"TrialConfig: index must be an int in [0, 2**32), got index={value!r}")


@attrs.frozen(repr=False)
class TrialConfig(Mapping[str, Value]):
    """One trial's settings (a read-only mapping) and its ``index`` in the sweep.

    >>> c = TrialConfig(3, {"lr": 0.1, "hidden": [64, 32]})
    >>> c["hidden"], c.index, dict(c)
    ((64, 32), 3, {'lr': 0.1, 'hidden': (64, 32)})
    """

    index: int = attrs.field(validator=_check_index)
    settings: Mapping[str, Value] = attrs.field(converter=_frozen_values)

    def __getitem__(self, name: str) -> Value:
        try:
            return self.settings[name]
        except KeyError:
            raise KeyError(f"trial {self.index} has no setting {name!r}; it has {sorted(self.settings)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.settings)

    def __len__(self) -> int:
        return len(self.settings)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrialConfig):
            return NotImplemented
        return self.index == other.index and dict(self.settings) == dict(other.settings)

    def __hash__(self) -> int:
        return hash((self.index, tuple(self.settings.items())))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"TrialConfig({self.index}: {shown})"

    def to_dict(self) -> dict[str, object]:
        """The settings as a JSON-able dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.settings.items()}


def grid(**axes: Sequence[Value]) -> tuple[TrialConfig, ...]:
    """Every combination of the axes' values, indexed 0, 1, ... (the last axis varies fastest).

    Args:
        **axes: ``name=[value, ...]``; each axis holds at least one value and no value twice.

    Returns:
        ``prod(len(axis))`` trial configurations; ``grid()`` is one empty configuration.

    Raises:
        ConfigError: an axis is empty, not a list, or holds a repeated or non-plain value.
    """
    names = list(axes)
    columns: list[list[Value]] = []
    for name in names:
        raw = axes[name]
        if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
            raise ConfigError(f"grid: axis {name!r} must be a list of values, got {raw!r}; write {name}=[{raw!r}]")
        values = [_check_value(v, f"grid: axis {name!r}") for v in raw]
        if not values:
            raise ConfigError(f"grid: axis {name!r} is empty; give it at least one value or leave it out")
        repeated = sorted({repr(v) for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(f"grid: axis {name!r} repeats {', '.join(repeated)}; list each value once")
        columns.append(values)
    return tuple(
        TrialConfig(i, dict(zip(names, combo, strict=True))) for i, combo in enumerate(itertools.product(*columns))
    )


def _finite_pair(name: str, low: float, high: float, *, positive: bool = False) -> None:
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{name}: expected finite low < high, got low={low!r}, high={high!r}")
    if positive and low <= 0:
        raise ConfigError(f"{name}: expected 0 < low < high (a log scale), got low={low!r}; use uniform for <= 0")


@attrs.frozen
class Uniform:
    """Floats drawn uniformly from ``[low, high)``."""

    low: float = attrs.field(converter=float)
    high: float = attrs.field(converter=float)

    def __attrs_post_init__(self) -> None:
        _finite_pair("uniform", self.low, self.high)

    def sample(self, key: Key) -> float:
        return float(generator(key).uniform(self.low, self.high))


@attrs.frozen
class LogUniform:
    """Floats whose logarithm is uniform on ``[log low, log high)``: learning rates, weight decay."""

    low: float = attrs.field(converter=float)
    high: float = attrs.field(converter=float)

    def __attrs_post_init__(self) -> None:
        _finite_pair("log_uniform", self.low, self.high, positive=True)

    def sample(self, key: Key) -> float:
        return math.exp(float(generator(key).uniform(math.log(self.low), math.log(self.high))))


def _choices(values: Sequence[object]) -> tuple[Value, ...]:
    return tuple(_check_value(v, "choice") for v in values)


@attrs.frozen
class Choice:
    """One of ``values``, each equally likely."""

    values: tuple[Value, ...] = attrs.field(converter=_choices)

    def __attrs_post_init__(self) -> None:
        if not self.values:
            raise ConfigError("choice: give at least one value")

    def sample(self, key: Key) -> Value:
        return self.values[int(generator(key).integers(len(self.values)))]


Axis: TypeAlias = Uniform | LogUniform | Choice


def uniform(low: float, high: float) -> Uniform:
    """A random-search axis uniform on ``[low, high)``."""
    return Uniform(low, high)


def log_uniform(low: float, high: float) -> LogUniform:
    """A random-search axis uniform in ``log`` on ``[low, high)`` (``0 < low``)."""
    return LogUniform(low, high)


def choice(*values: Value) -> Choice:
    """A random-search axis picking one of ``values``."""
    return Choice(values)


def random_search(key: Key, space: Mapping[str, Axis], n: int) -> tuple[TrialConfig, ...]:
    """``n`` trial configurations drawn from ``space``, indexed ``0..n-1``.

    Trial ``i``'s value on axis ``name`` comes from ``fold_in(fold_in(key, i), name)``:
    the first ``m`` trials of ``n`` are the ``m`` trials of a search of size ``m``.
    Use a key of its own (e.g. ``fold_in(root, "search")``), not the sweep's.

    >>> import funcnn as fn
    >>> space = {"lr": log_uniform(1e-4, 1e-1), "hidden": choice(32, 64)}
    >>> a, b = random_search(fn.key(0), space, 5), random_search(fn.key(0), space, 3)
    >>> a[:3] == b, 1e-4 <= a[0]["lr"] < 1e-1
    (True, True)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"random_search: n must be an int >= 1, got n={n!r}")
    for name, axis in space.items():
        _check_name(name, "random_search")
        if not isinstance(axis, Uniform | LogUniform | Choice):
            raise ConfigError(
                f"random_search: axis {name!r} must be uniform(...), log_uniform(...) or choice(...), got {axis!r}"
            )
    return tuple(
        TrialConfig(i, {name: axis.sample(fold_in(fold_in(key, i), name)) for name, axis in space.items()})
        for i in range(n)
    )


_AXIS_KINDS: dict[str, type[Uniform] | type[LogUniform]] = {"uniform": Uniform, "log_uniform": LogUniform}


def parse_space(spec: Mapping[str, object]) -> dict[str, Axis]:
    """A random-search space from plain data (e.g. a TOML table).

    ``name = [v, ...]`` is a choice; ``name = {uniform = [low, high]}``,
    ``{log_uniform = [low, high]}`` or ``{choice = [...]}`` name the axis kind.

    >>> parse_space({"lr": {"log_uniform": [1e-4, 0.1]}, "hidden": ["64", "128,64"]})["lr"]
    LogUniform(low=0.0001, high=0.1)
    """
    out: dict[str, Axis] = {}
    for name, raw in spec.items():
        _check_name(name, "parse_space")
        if isinstance(raw, list | tuple):
            out[name] = Choice(raw)
            continue
        if not isinstance(raw, Mapping) or len(raw) != 1:
            raise ConfigError(
                f"parse_space: axis {name!r}: expected a list of values or one of "
                f"{{uniform = [low, high]}}, {{log_uniform = [low, high]}}, {{choice = [...]}}, got {raw!r}"
            )
        ((kind, args),) = raw.items()
        if kind == "choice" and isinstance(args, list | tuple):
            out[name] = Choice(args)
        elif kind in _AXIS_KINDS and isinstance(args, list | tuple) and len(args) == 2:
            out[name] = _AXIS_KINDS[kind](*args)
        else:
            raise ConfigError(
                f"parse_space: axis {name!r}: unknown kind or arguments {kind!r} = {args!r}; "
                "kinds are uniform = [low, high], log_uniform = [low, high] and choice = [...]"
            )
    return out
