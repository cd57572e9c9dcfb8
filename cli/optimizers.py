"""The optimizers ``funcnn train --optimizer`` offers: one table, read by the option and by the builder.

The table is read when the command line starts (for the option's choices and its
help), so it imports nothing heavy: each factory imports :mod:`funcnn.optim`
when it is called. A name that is not in the table is refused by the option
itself (its choices are the table's keys) and by :func:`build_optimizer`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from funcnn.optim import Optimizer
    from funcnn.schedules import Schedule

__all__ = ["OPTIMIZERS", "OptimizerChoice", "OptimizerName", "build_optimizer"]


@attrs.frozen
class OptimizerChoice:
    """One ``--optimizer`` choice.

    Attributes:
        build: ``lr -> Optimizer`` (the learning rate is a float or a schedule of the step).
        default_lr: the learning rate when ``--lr`` is not given; works for the built-in data sets.
        about: a few words for ``--help``.
    """

    build: Callable[[float | Schedule], Optimizer]
    default_lr: float
    about: str


def _sgd(lr: float | Schedule) -> Optimizer:
    from funcnn.optim import sgd

    return sgd(lr)


def _momentum(lr: float | Schedule) -> Optimizer:
    from funcnn.optim import momentum

    return momentum(lr, 0.9)


def _nesterov(lr: float | Schedule) -> Optimizer:
    from funcnn.optim import momentum

    return momentum(lr, 0.9, nesterov=True)


def _adam(lr: float | Schedule) -> Optimizer:
    from funcnn.optim import adam

    return adam(lr)


def _rmsprop(lr: float | Schedule) -> Optimizer:
    from funcnn.optim import rmsprop

    return rmsprop(lr)


def _adagrad(lr: float | Schedule) -> Optimizer:
    from funcnn.optim import adagrad

    return adagrad(lr)


OPTIMIZERS: Mapping[str, OptimizerChoice] = MappingProxyType(
    {
        "sgd": OptimizerChoice(_sgd, 0.1, "plain gradient descent"),
        "momentum": OptimizerChoice(_momentum, 0.05, "SGD with momentum 0.9"),
        "nesterov": OptimizerChoice(_nesterov, 0.05, "SGD with Nesterov momentum 0.9"),
        "adam": OptimizerChoice(_adam, 0.001, "Adam, b1 0.9, b2 0.999"),
        "rmsprop": OptimizerChoice(_rmsprop, 0.005, "RMSProp, decay 0.9"),
        "adagrad": OptimizerChoice(_adagrad, 0.05, "Adagrad"),
    }
)

# The option's choices: built from the table, so a new entry is a new choice.
OptimizerName = StrEnum("OptimizerName", {name: name for name in OPTIMIZERS})  # type: ignore[misc]


def build_optimizer(name: str, lr: float | Schedule) -> Optimizer:
    """The optimizer ``name`` with learning rate ``lr``.

    Raises:
        ValueError: ``name`` is not in :data:`OPTIMIZERS` (the message lists the names).

    >>> build_optimizer("momentum", 0.05)
    SGD(lr=0.05, momentum=0.9)
    """
    try:
        choice = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None
    return choice.build(lr)
