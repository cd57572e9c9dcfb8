"""Optimizers as pure pairs, and the stateless ``sgd_step`` shortcut.

An optimizer is a frozen spec with two pure methods (in the manner of optax):

* ``init(params) -> state``: an :class:`OptState` holding the step count and
  buffers that mirror params path for path (``velocity/dense_0/w``,
  ``mu/dense_0/w``, ``nu/dense_0/w``);
* ``update(grads, state, params) -> (updates, state)``: the updates to add to
  the params with :func:`apply_updates`, and the next state.

A learning rate is a float or a schedule (see :mod:`funcnn.schedules`); it is
evaluated at the state's step count, so no hidden counter exists anywhere.
Buffers keep the params' dtype (float32 stays float32): every hyperparameter
is a Python float, and Adam's bias corrections are computed as Python floats.

Gradient transforms (weight decay, clipping) and :func:`~funcnn.transforms.chain`
live in :mod:`funcnn.transforms`; they follow the same protocol.

Every built-in optimizer also has ``fused_step(grads, state, params) ->
(new_params, state)``: ``update`` and :func:`apply_updates` in one pass over
the leaves, adding the params in place to the freshly computed updates (the
same bits, one array and one pass fewer per leaf). :func:`apply_step` uses it
when an optimizer has it; the training loop calls :func:`apply_step`.

>>> import numpy as np, funcnn as fn
>>> params = fn.freeze({"w": np.array([1.0, -2.0])})
>>> opt = adam(0.1)
>>> state = opt.init(params)
>>> updates, state = opt.update(fn.freeze({"w": np.array([0.5, -0.5])}), state, params)
>>> apply_updates(params, updates)["w"], state.count
(array([ 0.9, -1.9]), 1)
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeAlias

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT
from funcnn.errors import TreeStructureError
from funcnn.schedules import Schedule, check_lr, learning_rate, number, real, real_or_schedule
from funcnn.tree import FrozenTree, map_mirrored, tree_map

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "GradientTransform",
    "OptState",
    "Optimizer",
    "Penalty",
    "RMSProp",
    "Role",
    "Schedule",
    "adagrad",
    "adam",
    "apply_step",
    "apply_updates",
    "learning_rate",
    "momentum",
    "rmsprop",
    "role_of",
    "sgd",
    "sgd_step",
]


@attrs.frozen(repr=False)
class OptState(Generic[FloatT]):
    """An optimizer's state: the number of updates applied so far and its buffers.

    ``buffers`` is a FrozenTree whose subtrees mirror params (``{"velocity":
    <params-shaped>}``, ``{"mu": ..., "nu": ...}``); it is empty for plain SGD.
    A :func:`~funcnn.transforms.chain` nests its members' buffers under
    ``"t0"``, ``"t1"``, ... (members without buffers have no entry).
    """

    count: int
    buffers: FrozenTree[FloatT] = attrs.field(factory=FrozenTree)

    def __repr__(self) -> str:
        # Not short_repr: that compares fields with their defaults, and trees have no ==.
        return f"OptState(count={self.count}, buffers={self.buffers!r})"


Role: TypeAlias = Literal["optimizer", "transform", "penalty"]
ROLES: tuple[Role, ...] = ("optimizer", "transform", "penalty")


class Optimizer(Protocol):
    """The optimizer protocol: a frozen spec with pure ``init`` and ``update``.

    Gradient transforms (:mod:`funcnn.transforms`) implement it too; for them
    the "updates" are the transformed gradients.

    Where a member may stand in a :func:`~funcnn.transforms.chain` is its
    :data:`Role`, read by :func:`role_of`:

    * ``"optimizer"``: turns gradients into updates; exactly one per chain.
      Any class that does not say otherwise is an optimizer.
    * ``"transform"``: rewrites gradients (clipping, scaling); anywhere in a
      chain. Subclass :class:`GradientTransform` to be one.
    * ``"penalty"``: adds the gradient of a penalty on the weights; only before
      the optimizer (after it, it would push the wrong way). Subclass
      :class:`Penalty` to be one.

    Optional fast path: an optimizer may also have ``fused_step(grads, state,
    params) -> (new_params, state)``, which must give the same bits as
    ``update`` followed by :func:`apply_updates`; :func:`apply_step` uses it
    when present. Nothing else needs it.

    A custom optimizer or transform is saved and loaded like the built-in ones
    once its class is registered with :func:`funcnn.register_kind`.
    """

    @property
    def kind(self) -> str: ...

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]: ...

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]: ...


class GradientTransform:
    """Base class of a chain member that rewrites gradients (role ``"transform"``): anywhere in a chain.

    Subclass it (under ``@attrs.frozen``) and write ``init`` and ``update`` as
    for an optimizer, returning the new gradients in place of updates.
    """

    __slots__ = ()
    role: ClassVar[Role] = "transform"


class Penalty(GradientTransform):
    """Base class of a weight penalty (role ``"penalty"``): it must come before the optimizer in a chain."""

    __slots__ = ()
    role: ClassVar[Role] = "penalty"


def role_of(member: object) -> Role:
    """Where ``member`` may stand in a chain (see :class:`Optimizer`); ``"optimizer"`` unless it says otherwise.

    >>> from funcnn.transforms import clip_by_global_norm, l2
    >>> role_of(adam(0.1)), role_of(clip_by_global_norm(1.0)), role_of(l2(0.1))
    ('optimizer', 'transform', 'penalty')
    """
    role = getattr(type(member), "role", "optimizer")
    for known in ROLES:
        if role == known:
            return known
    raise TypeError(f"{member!r}: role must be 'optimizer', 'transform' or 'penalty', got {role!r}")


def _zeros(params: FrozenTree[FloatT], fill: float = 0.0) -> FrozenTree[FloatT]:
    if fill == 0.0:
        return tree_map(np.zeros_like, params)
    return tree_map(lambda p: np.full_like(p, fill), params)


def _buffer(state: OptState[FloatT], name: str, optimizer: object) -> FrozenTree[FloatT]:
    node = state.buffers.get(name)
    if not isinstance(node, FrozenTree):
        raise TreeStructureError(
            f"{optimizer!r}: expected a state with a {name!r} buffer, got buffers {sorted(state.buffers)}; "
            "was the state made by another optimizer's init?"
        )
    return node


# -- optimizers ---------------------------------------------------------------


LeafStep: TypeAlias = Callable[..., tuple[NDArray[FloatT], ...]]


class _OneRoutine:
    """An optimizer whose ``update`` and ``fused_step`` are one routine, ``_run(..., fused)``.

    ``_run(grads, state, params, fused)`` returns ``(updates, state)``, or with
    ``fused=True`` ``(new_params, state)``: the same bits as
    ``apply_updates(params, updates)``.
    """

    __slots__ = ()

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        return self._run(grads, state, params, False)

    def fused_step(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        """``update`` and :func:`apply_updates` fused: ``(new_params, state)``, the same bits."""
        return self._run(grads, state, params, True)

    @abc.abstractmethod
    def _run(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT], fused: bool
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]: ...


class _FusedOptimizer(_OneRoutine):
    """An optimizer written as its buffer names plus one per-leaf step.

    A subclass names its buffers once, in ``buffers`` (``("mu", "nu")``; each
    one params-shaped, filled by :meth:`_fill` at ``init``), and writes
    :meth:`_leaf_step`: ``f(p, g, *buffers) -> (update, *new_buffers)`` for the
    step ``count``. ``init``, ``update`` and ``fused_step`` derive from these.
    ``fused_step`` adds the params into the freshly computed updates in the
    same pass and returns the new params (the same bits as
    ``apply_updates(params, updates)``, one array fewer per leaf).
    """

    __slots__ = ()
    buffers: ClassVar[tuple[str, ...]] = ()

    def _buffer_names(self) -> tuple[str, ...]:
        return self.buffers

    def _fill(self, name: str) -> float:
        return 0.0

    @abc.abstractmethod
    def _leaf_step(self, count: int) -> LeafStep[Any]: ...

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]:
        names = self._buffer_names()
        if not names:
            return OptState(0)
        return OptState(0, FrozenTree({name: _zeros(params, self._fill(name)) for name in names}))

    def _run(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT], fused: bool
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        buffer_names: tuple[str, ...] = self._buffer_names()
        old = [_buffer(state, name, self) for name in buffer_names]
        out = map_mirrored(
            self._leaf_step(state.count), 1 + len(old), params, grads, *old,
            names=("params", "grads", *buffer_names), add_first=fused,
        )  # fmt: skip
        buffers = FrozenTree(dict(zip(buffer_names, out[1:], strict=True))) if old else state.buffers
        return out[0], OptState(state.count + 1, buffers)


@attrs.frozen(repr=False)
class SGD(_FusedOptimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Without momentum: ``update = -lr(t) * g``. With momentum ``m`` (PyTorch's
    convention, the velocity excludes the learning rate):
    ``v <- m * v + g``, ``update = -lr(t) * v``, or with Nesterov
    ``update = -lr(t) * (g + m * v)``. Buffers: ``{"velocity": <params-shaped>}``
    when ``momentum > 0``, none otherwise.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "sgd"
    role: ClassVar[Role] = "optimizer"  # see Optimizer
    buffers: ClassVar[tuple[str, ...]] = ("velocity",)
    lr: float | Schedule = attrs.field(converter=real_or_schedule, validator=check_lr)
    momentum: float = attrs.field(default=0.0, converter=real, validator=number(ge=0, lt=1))
    nesterov: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(f"SGD: nesterov=True needs momentum > 0, got momentum={self.momentum}")

    def _buffer_names(self) -> tuple[str, ...]:
        return self.buffers if self.momentum else ()

    def _leaf_step(self, count: int) -> LeafStep[Any]:
        scale = -learning_rate(self.lr, count)
        if self.momentum == 0.0:
            return lambda p, g: (g * scale,)
        m, nesterov = self.momentum, self.nesterov

        def leaf(p: Array[FloatT], g: Array[FloatT], v: Array[FloatT]) -> tuple[Array[FloatT], Array[FloatT]]:
            v_new = v * m
            v_new += g
            if nesterov:
                u = v_new * m
                u += g
                u *= scale
            else:
                u = v_new * scale
            return u, v_new

        return leaf


@attrs.frozen(repr=False)
class Adam(_FusedOptimizer):
    """Adam (Kingma & Ba, 2015) with bias-corrected moment estimates.

    ``mu <- b1 mu + (1 - b1) g``, ``nu <- b2 nu + (1 - b2) g²`` and, at step
    ``t = count + 1``, ``update = -lr(count) * mu_hat / (sqrt(nu_hat) + eps)``
    with ``mu_hat = mu / (1 - b1^t)``, ``nu_hat = nu / (1 - b2^t)``.
    Buffers: ``{"mu": <params-shaped>, "nu": <params-shaped>}``.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "adam"
    role: ClassVar[Role] = "optimizer"  # see Optimizer
    buffers: ClassVar[tuple[str, ...]] = ("mu", "nu")
    lr: float | Schedule = attrs.field(default=1e-3, converter=real_or_schedule, validator=check_lr)
    b1: float = attrs.field(default=0.9, converter=real, validator=number(ge=0, lt=1))
    b2: float = attrs.field(default=0.999, converter=real, validator=number(ge=0, lt=1))
    eps: float = attrs.field(default=1e-8, converter=real, validator=number(gt=0))

    def _leaf_step(self, count: int) -> LeafStep[Any]:
        t = count + 1
        b1, b2, eps = self.b1, self.b2, self.eps
        c1, c2 = 1.0 - b1, 1.0 - b2
        step_size = -learning_rate(self.lr, count) / (1.0 - b1**t)  # Python floats: dtype kept
        nu_scale = 1.0 / (1.0 - b2**t)

        def leaf(
            p: Array[FloatT], g: Array[FloatT], mu: Array[FloatT], nu: Array[FloatT]
        ) -> tuple[Array[FloatT], Array[FloatT], Array[FloatT]]:
            mu_new = g - mu  # mu + (1 - b1)(g - mu) = b1 mu + (1 - b1) g
            mu_new *= c1
            mu_new += mu
            nu_new = g * g
            nu_new -= nu
            nu_new *= c2
            nu_new += nu
            u = nu_new * nu_scale
            np.sqrt(u, out=u)
            u += eps
            np.divide(mu_new, u, out=u)
            u *= step_size
            return u, mu_new, nu_new

        return leaf


def _over_root(g: Array[FloatT], acc: Array[FloatT], eps: float, scale: float) -> Array[FloatT]:
    """``scale * g / (sqrt(acc) + eps)`` in one new array: the step of RMSProp and Adagrad."""
    u = np.sqrt(acc)
    u += eps
    np.divide(g, u, out=u)
    u *= scale
    return u


@attrs.frozen(repr=False)
class RMSProp(_FusedOptimizer):
    """RMSProp: ``nu <- decay nu + (1 - decay) g²``, ``update = -lr(t) g / (sqrt(nu) + eps)``.

    Buffers: ``{"nu": <params-shaped>}``.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "rmsprop"
    role: ClassVar[Role] = "optimizer"  # see Optimizer
    buffers: ClassVar[tuple[str, ...]] = ("nu",)
    lr: float | Schedule = attrs.field(default=1e-3, converter=real_or_schedule, validator=check_lr)
    decay: float = attrs.field(default=0.9, converter=real, validator=number(ge=0, lt=1))
    eps: float = attrs.field(default=1e-8, converter=real, validator=number(gt=0))

    def _leaf_step(self, count: int) -> LeafStep[Any]:
        scale = -learning_rate(self.lr, count)
        c, eps = 1.0 - self.decay, self.eps

        def leaf(p: Array[FloatT], g: Array[FloatT], nu: Array[FloatT]) -> tuple[Array[FloatT], Array[FloatT]]:
            nu_new = g * g
            nu_new -= nu
            nu_new *= c
            nu_new += nu
            return _over_root(g, nu_new, eps, scale), nu_new

        return leaf


@attrs.frozen(repr=False)
class Adagrad(_FusedOptimizer):
    """Adagrad: ``s <- s + g²``, ``update = -lr(t) g / (sqrt(s) + eps)``.

    ``s`` starts at ``initial_accumulator``. Buffers: ``{"sum_sq": <params-shaped>}``.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "adagrad"
    role: ClassVar[Role] = "optimizer"  # see Optimizer
    buffers: ClassVar[tuple[str, ...]] = ("sum_sq",)
    lr: float | Schedule = attrs.field(default=1e-2, converter=real_or_schedule, validator=check_lr)
    eps: float = attrs.field(default=1e-8, converter=real, validator=number(gt=0))
    initial_accumulator: float = attrs.field(default=0.0, converter=real, validator=number(ge=0))

    def _fill(self, name: str) -> float:
        return self.initial_accumulator

    def _leaf_step(self, count: int) -> LeafStep[Any]:
        scale, eps = -learning_rate(self.lr, count), self.eps

        def leaf(p: Array[FloatT], g: Array[FloatT], s: Array[FloatT]) -> tuple[Array[FloatT], Array[FloatT]]:
            s_new = g * g
            s_new += s
            return _over_root(g, s_new, eps, scale), s_new

        return leaf


# -- factories ----------------------------------------------------------------


def sgd(lr: float | Schedule, *, momentum: float = 0.0, nesterov: bool = False) -> SGD:
    """Stochastic gradient descent with a constant or scheduled learning rate.

    ``momentum > 0`` adds a velocity buffer; ``nesterov=True`` uses Nesterov's
    look-ahead form.
    """
    return SGD(lr, momentum, nesterov)


def momentum(lr: float | Schedule, mass: float = 0.9, *, nesterov: bool = False) -> SGD:
    """SGD with momentum ``mass`` (an alias of ``sgd(lr, momentum=mass)``)."""
    return SGD(lr, mass, nesterov)


def adam(lr: float | Schedule = 1e-3, *, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Adam:
    """Adam with the usual defaults (``lr=1e-3, b1=0.9, b2=0.999, eps=1e-8``)."""
    return Adam(lr, b1, b2, eps)


def rmsprop(lr: float | Schedule = 1e-3, *, decay: float = 0.9, eps: float = 1e-8) -> RMSProp:
    """RMSProp with decay rate ``decay`` of the squared-gradient average."""
    return RMSProp(lr, decay, eps)


def adagrad(lr: float | Schedule = 1e-2, *, eps: float = 1e-8, initial_accumulator: float = 0.0) -> Adagrad:
    """Adagrad: per-coordinate learning rates shrinking with the summed squared gradients."""
    return Adagrad(lr, eps, initial_accumulator)


def apply_updates(params: FrozenTree[FloatT], updates: FrozenTree[FloatT]) -> FrozenTree[FloatT]:
    """``params + updates`` leaf by leaf, as a new tree (dtypes kept)."""
    (new,) = map_mirrored(_add, 1, params, updates, names=("params", "updates"))
    return new


def _add(p: Array[FloatT], u: Array[FloatT]) -> tuple[Array[FloatT]]:
    return (np.add(p, u, dtype=p.dtype),)


def apply_step(
    optimizer: Optimizer, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
    """One optimizer step: ``(new_params, new_state)``.

    Bit for bit ``optimizer.update`` followed by :func:`apply_updates`; an
    optimizer with a ``fused_step`` method (every built-in one) does both in
    one pass over the leaves, adding the params to its freshly computed
    updates in place (no caller-visible array is written).
    """
    fused = getattr(optimizer, "fused_step", None)
    if fused is not None:
        new_params, new_state = fused(grads, state, params)
        return new_params, new_state
    updates, new_state = optimizer.update(grads, state, params)
    return apply_updates(params, updates), new_state


def sgd_step(
    params: FrozenTree[FloatT], grads: FrozenTree[FloatT], *, lr: float | Schedule, step: int = 0
) -> FrozenTree[FloatT]:
    """One stateless gradient-descent step ``params - lr(step) * grads`` (a new tree).

    The same result, bit for bit, as one step of ``sgd(lr)`` without momentum.

    >>> import numpy as np, funcnn as fn
    >>> p = fn.freeze({"w": np.array([1.0, 2.0])})
    >>> fn.sgd_step(p, fn.freeze({"w": np.array([0.5, -1.0])}), lr=0.1)["w"]
    array([0.95, 2.1 ])
    """
    if isinstance(lr, bool) or not (isinstance(lr, int | float) or callable(lr)):
        raise ValueError(f"sgd_step: lr must be a finite number > 0 or a schedule, got lr={lr!r}")
    if isinstance(lr, int | float) and not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"sgd_step: lr must be a finite number > 0, got lr={lr!r}")
    scale = -learning_rate(lr, step)
    (new,) = map_mirrored(lambda p, g: (g * scale,), 1, params, grads, add_first=True)  # g * scale + p
    return new
