"""The spec registry: which class each config ``kind`` names. Explicit and open.

Every spec (layer, loss, initializer, optimizer, schedule, gradient transform)
is a frozen attrs class with a stable ``kind`` class attribute. The built-in
kinds are listed below, by hand (nothing is discovered by scanning packages);
a new built-in spec class gets one line in :data:`BUILTIN`.

Your own spec classes join with :func:`register_kind`, usable as a class
decorator. Registration is what makes a custom spec storable:
:func:`funcnn.save` and :func:`funcnn.to_config` refuse an unregistered kind
(so no checkpoint is ever write-only), and :func:`funcnn.load` and
:func:`funcnn.from_config` find the class by its kind. The module that
registers the class must be imported before loading; the command line does
that with ``--plugin MODULE`` (``funcnn train --plugin mylayers ...``).

>>> import attrs, typing, funcnn as fn
>>> @fn.register_kind
... @attrs.frozen
... class Halve:
...     kind: typing.ClassVar[str] = "halve_doc_example"
...     factor: float = 0.5
>>> fn.from_config({"kind": "halve_doc_example"})
Halve(factor=0.5)

The registry is the one piece of process-wide state in funcnn: a mapping
that only grows, written by :func:`register_kind` and read by the config and
checkpoint codecs.
"""

from __future__ import annotations

import attrs

from funcnn.augment import Compose, RandomBrightness, RandomFlip, RandomRotation, RandomShear, RandomShift, RandomZoom
from funcnn.errors import ConfigError
from funcnn.initializers import Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Normal, Uniform, Zeros
from funcnn.layers.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from funcnn.layers.conv import Conv2D
from funcnn.layers.dense import Dense
from funcnn.layers.dropout import Dropout
from funcnn.layers.pool import AvgPool2D, MaxPool2D
from funcnn.layers.reshape import Flatten
from funcnn.losses import MSE, BinaryCrossEntropy, CategoricalCrossEntropy
from funcnn.network import Sequential
from funcnn.optim import SGD, Adagrad, Adam, RMSProp
from funcnn.schedules import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    InverseTimeSchedule,
    LearningSchedule,
    StepSchedule,
    WarmupSchedule,
)
from funcnn.transfer import Frozen, Partition
from funcnn.transforms import L1, L2, Chain, ClipByGlobalNorm, ElasticNet

__all__ = ["BUILTIN", "kind_of", "lookup", "register_kind", "registered", "spec_kinds", "unregistered_message"]

BUILTIN: tuple[type, ...] = (
    # layers
    Dense, Conv2D, Dropout, Flatten, MaxPool2D, AvgPool2D,
    Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax,
    Sequential,
    # losses
    MSE, BinaryCrossEntropy, CategoricalCrossEntropy,
    # initializers
    Constant, Zeros, Normal, Uniform, GlorotNormal, GlorotUniform, HeNormal, HeUniform,
    # optimizers and gradient transforms
    SGD, Adam, RMSProp, Adagrad, Chain, L1, L2, ElasticNet, ClipByGlobalNorm,
    Partition, Frozen,
    # schedules
    ConstantSchedule, CosineSchedule, ExponentialSchedule, InverseTimeSchedule, LearningSchedule,
    StepSchedule, WarmupSchedule,
    # augmentation
    RandomFlip, RandomRotation, RandomShift, RandomShear, RandomZoom, RandomBrightness, Compose,
)  # fmt: skip

_KINDS: dict[str, type] = {}


def kind_of(cls: type) -> str | None:
    """The ``kind`` string a class declares, or None."""
    kind = getattr(cls, "kind", None)
    return kind if isinstance(kind, str) else None


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_kind(cls: type) -> type:
    """Make a spec class known under its ``kind``, so it can be saved and loaded; returns ``cls``.

    Use it as a class decorator above ``@attrs.frozen``. The class needs a
    ``kind: ClassVar[str]`` (a snake_case name no other class uses) and, to be
    a layer, optimizer or gradient transform, the methods of that protocol
    (:class:`funcnn.Layer`, :class:`funcnn.Optimizer`). Registering the same
    class again (or the same class re-created by reloading its module) is
    harmless.

    Raises:
        ConfigError: ``cls`` is not an attrs class with a ``kind`` string, or
            its kind is already taken by another class (both are named).
    """
    kind = kind_of(cls) if isinstance(cls, type) else None
    if not isinstance(cls, type) or not attrs.has(cls) or kind is None:
        raise ConfigError(
            f"register_kind: expected an attrs class with a kind, got {cls!r}; "
            "declare kind: ClassVar[str] = \"my_kind\" and decorate the class with @attrs.frozen"
        )
    if not kind.isidentifier():
        raise ConfigError(f"register_kind: {_name(cls)}: the kind must be a snake_case identifier, got {kind!r}")
    table = _table()
    other = table.get(kind)
    if other is not None and other is not cls and _name(other) != _name(cls):
        raise ConfigError(
            f"register_kind: kind {kind!r} is used by both {_name(other)} and {_name(cls)}; "
            "every spec class needs its own kind"
        )
    table[kind] = cls
    return cls


def _table() -> dict[str, type]:
    if not _KINDS:
        for cls in BUILTIN:
            kind = kind_of(cls)
            assert kind is not None and kind not in _KINDS, f"built-in kind clash: {cls}"
            _KINDS[kind] = cls
    return _KINDS


def spec_kinds() -> dict[str, type]:
    """``{kind: spec class}`` for every kind: the built-in ones and those registered.

    >>> kinds = spec_kinds()
    >>> kinds["dense"].__name__, kinds["sequential"].__name__
    ('Dense', 'Sequential')
    """
    return dict(_table())


def lookup(kind: str) -> type | None:
    """The class registered under ``kind``, or None."""
    return _table().get(kind)


def registered(cls: type) -> bool:
    """True if ``cls`` is the class registered under its kind."""
    kind = kind_of(cls)
    return kind is not None and _table().get(kind) is cls


def unregistered_message(cls: type) -> str:
    """The message for a spec whose class is not registered (used where specs are saved)."""
    kind = kind_of(cls)
    other = lookup(kind) if kind is not None else None
    if other is not None:
        return (
            f"{_name(cls)} has kind {kind!r}, but that kind is registered to {_name(other)}; "
            "give the class its own kind and register it with fn.register_kind"
        )
    return (
        f"{_name(cls)} (kind {kind!r}) is not registered, so it could be saved but never loaded; "
        f"decorate the class with @fn.register_kind (or call fn.register_kind({cls.__name__})) "
        "in a module imported before saving and loading"
    )
