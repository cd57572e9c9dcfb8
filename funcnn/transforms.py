"""Gradient transforms (regularisers, clipping) and ``chain``, which composes them with an optimizer.

A gradient transform follows the optimizer protocol (``init(params) -> state``,
``update(grads, state, params) -> (new_grads, state)``) but returns transformed
gradients instead of updates. :func:`chain` runs its members in order, each
one's output feeding the next, and is itself an optimizer:

>>> import numpy as np, funcnn as fn
>>> from funcnn.optim import sgd
>>> opt = chain(l2(0.1), sgd(0.5))
>>> params = fn.freeze({"dense_0": {"w": np.array([2.0]), "b": np.array([2.0])}})
>>> zero = fn.tree_map(np.zeros_like, params)
>>> updates, _ = opt.update(zero, opt.init(params), params)
>>> updates["dense_0"]["w"], updates["dense_0"]["b"]
(array([-0.1]), array([-0.]))

The penalties add the gradient of a cost term to the gradients:

============== ===================================== ==================================
transform      penalty added to the cost             added to the gradient
============== ===================================== ==================================
``l2``         ``alpha/2 * Σ w²`` (ridge)             ``alpha * w``
``l1``         ``alpha * Σ |w|`` (lasso)              ``alpha * sign(w)``
``elastic_net`` ``r alpha Σ|w| + (1-r) alpha/2 Σ w²`` ``alpha * (r sign(w) + (1-r) w)``
============== ===================================== ==================================

They apply to weights only: leaves named ``b`` or ``beta`` (biases and
shifts) are left alone unless ``include_bias=True``. With the mean-squared
error over ``n`` samples, ``l2(alpha)`` minimises ``||Xw - y||²/n + alpha/2 ||w||²``,
whose solution is ``(XᵀX + (n alpha / 2) I)⁻¹ Xᵀy``. Penalties must come
before the optimizer in a chain (after it they would push the wrong way);
``clip_by_global_norm`` may stand on either side.

``l1(alpha, proximal=True)`` is lasso by proximal gradient descent (ISTA)
instead: it leaves the gradients alone, and after the optimizer's step
``z = w + update`` it soft-thresholds each weight, ``w <- sign(z) max(|z| -
lr alpha, 0)`` with the optimizer's learning rate ``lr`` at that step. Weights
whose gradient cannot beat ``alpha`` land on exactly 0 (the subgradient form
only hovers around 0). With plain ``sgd`` this minimises ``loss + alpha
Σ|w|``; scikit-learn's ``Lasso(alpha=a)`` minimises ``||Xw - y||² / (2n) + a
Σ|w|``, which is ``MSE(half=True)`` (one output) plus ``l1(a, proximal=True)``,
or ``MSE()`` plus ``l1(2 a, proximal=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import ClassVar

import attrs
import numpy as np

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT
from funcnn.optim import GradientTransform, Optimizer, OptState, Penalty, Role, role_of
from funcnn.schedules import learning_rate, number, real
from funcnn.tree import FrozenTree, map_mirrored, tree_flatten, tree_leaves, tree_map

__all__ = [
    "L1",
    "L2",
    "Chain",
    "ClipByGlobalNorm",
    "ElasticNet",
    "chain",
    "clip_by_global_norm",
    "elastic_net",
    "global_norm",
    "l1",
    "l2",
]

# Leaf names that are biases or shifts: not penalised unless include_bias=True.
BIAS_NAMES = frozenset({"b", "beta"})


def _stateless_init(params: FrozenTree[FloatT]) -> OptState[FloatT]:
    return OptState(0)


def _penalised(params: FrozenTree[FloatT], include_bias: bool) -> list[Array[FloatT]]:
    return [a for path, a in tree_flatten(params).items() if include_bias or path.split("/")[-1] not in BIAS_NAMES]


class _WeightPenalty(Penalty):
    """The shared base of the penalties: stateless, each weight's gradient plus the penalty's own.

    A subclass has an ``include_bias`` field and writes :meth:`_add_gradient`,
    ``(w, g) -> g + d(penalty)/dw`` for one penalised leaf (a new array);
    leaves named in ``BIAS_NAMES`` keep their gradient unless ``include_bias``.
    """

    __slots__ = ()
    include_bias: bool

    def _add_gradient(self, p: Array[FloatT], g: Array[FloatT]) -> Array[FloatT]:
        raise NotImplementedError(f"{type(self).__name__} must define _add_gradient(w, g)")

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]:
        return _stateless_init(params)

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        skip = frozenset() if self.include_bias else BIAS_NAMES

        def leaf(name: str, p: Array[FloatT], g: Array[FloatT]) -> tuple[Array[FloatT]]:
            return (g,) if name in skip else (self._add_gradient(p, g),)

        (new,) = map_mirrored(leaf, 1, params, grads, leaf_names=True)
        return new, OptState(state.count + 1, state.buffers)


@attrs.frozen(repr=False)
class L2(_WeightPenalty):
    """Ridge: adds ``alpha * w`` to the gradient of each weight (``alpha/2 Σ w²`` to the cost)."""

    __repr__ = short_repr

    kind: ClassVar[str] = "l2"
    alpha: float = attrs.field(converter=real, validator=number(ge=0))
    include_bias: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def _add_gradient(self, p: Array[FloatT], g: Array[FloatT]) -> Array[FloatT]:
        u = p * self.alpha
        u += g
        return u

    def penalty(self, params: FrozenTree[FloatT]) -> float:
        """The cost term ``alpha/2 * Σ w²`` over the penalised leaves."""
        return 0.5 * self.alpha * sum(float(np.vdot(a, a)) for a in _penalised(params, self.include_bias))


@attrs.frozen(repr=False)
class L1(_WeightPenalty):
    """Lasso: adds ``alpha * sign(w)`` to the gradient of each weight (``alpha Σ |w|`` to the cost).

    This is the subgradient; with a decaying learning rate, irrelevant weights
    settle within about ``lr * alpha`` of zero. ``proximal=True`` instead
    soft-thresholds the weights after the optimizer's step (see the module
    docstring): exact zeros, the lasso solution at convergence.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "l1"
    alpha: float = attrs.field(converter=real, validator=number(ge=0))
    include_bias: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    proximal: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def _add_gradient(self, p: Array[FloatT], g: Array[FloatT]) -> Array[FloatT]:
        u = np.sign(p)
        u *= self.alpha
        u += g
        return u

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        if self.proximal:  # the penalty acts after the step, in prox()
            return grads, OptState(state.count + 1, state.buffers)
        return super().update(grads, state, params)

    def prox(self, updates: FrozenTree[FloatT], params: FrozenTree[FloatT], lr: float) -> FrozenTree[FloatT]:
        """Updates that land each weight on ``sign(z) max(|z| - lr alpha, 0)`` with ``z = w + update``.

        A weight that lands on 0 gets the update ``-w``, so ``w + update`` is exactly 0.

        >>> import numpy as np, funcnn as fn
        >>> w = fn.freeze({"w": np.array([1.0, 0.05, -0.5])})
        >>> u = L1(0.1, proximal=True).prox(fn.freeze({"w": np.zeros(3)}), w, lr=1.0)
        >>> (w["w"] + u["w"]).tolist()
        [0.9, 0.0, -0.4]
        """
        threshold, skip = lr * self.alpha, frozenset() if self.include_bias else BIAS_NAMES

        def leaf(name: str, p: Array[FloatT], u: Array[FloatT]) -> tuple[Array[FloatT]]:
            if name in skip:
                return (u,)
            z = p + u
            shrunk = np.abs(z)
            shrunk -= threshold
            np.maximum(shrunk, 0, out=shrunk)
            shrunk *= np.sign(z)
            shrunk -= p
            return (shrunk,)

        (new,) = map_mirrored(leaf, 1, params, updates, leaf_names=True)
        return new

    def penalty(self, params: FrozenTree[FloatT]) -> float:
        """The cost term ``alpha * Σ |w|`` over the penalised leaves."""
        return self.alpha * sum(float(np.sum(np.abs(a))) for a in _penalised(params, self.include_bias))


@attrs.frozen(repr=False)
class ElasticNet(_WeightPenalty):
    """Elastic net: ``r`` of lasso and ``1 - r`` of ridge, both with strength ``alpha``.

    Cost term ``r alpha Σ|w| + (1 - r) alpha/2 Σ w²``; gradient term
    ``alpha (r sign(w) + (1 - r) w)``. ``r=0`` is :class:`L2`, ``r=1`` is :class:`L1`.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "elastic_net"
    alpha: float = attrs.field(converter=real, validator=number(ge=0))
    r: float = attrs.field(default=0.5, converter=real, validator=number(ge=0, le=1))
    include_bias: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def _add_gradient(self, p: Array[FloatT], g: Array[FloatT]) -> Array[FloatT]:
        u = np.sign(p)
        u *= self.alpha * self.r
        u += g
        u += p * (self.alpha * (1.0 - self.r))
        return u

    def penalty(self, params: FrozenTree[FloatT]) -> float:
        """The cost term ``r alpha Σ|w| + (1 - r) alpha/2 Σ w²`` over the penalised leaves."""
        leaves = _penalised(params, self.include_bias)
        l1 = sum(float(np.sum(np.abs(a))) for a in leaves)
        l2 = sum(float(np.vdot(a, a)) for a in leaves)
        return self.alpha * (self.r * l1 + 0.5 * (1.0 - self.r) * l2)


def global_norm(tree: FrozenTree[FloatT]) -> float:
    """``sqrt(Σ_leaves Σ a²)``: the Euclidean norm of all leaves taken as one vector.

    >>> import numpy as np, funcnn as fn
    >>> global_norm(fn.freeze({"a": np.array([3.0]), "b": {"c": np.array([4.0])}}))
    5.0
    """
    return math.sqrt(sum(float(np.vdot(a, a)) for a in tree_leaves(tree)))


@attrs.frozen(repr=False)
class ClipByGlobalNorm(GradientTransform):
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    ``g <- g * min(1, max_norm / ||g||)`` with ``||g||`` over every leaf (biases
    included): the direction is kept, only the length is capped.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "clip_by_global_norm"
    max_norm: float = attrs.field(converter=real, validator=number(gt=0))

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]:
        return _stateless_init(params)

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        norm = global_norm(grads)
        if norm > self.max_norm:
            scale = self.max_norm / norm
            grads = tree_map(lambda g: g * scale, grads)
        return grads, OptState(state.count + 1, state.buffers)


def _lr_at(chain: Chain, step: int) -> float:
    """The learning rate of a chain's optimizer at ``step`` (the scale of a proximal step)."""
    for member in chain.transforms:
        if role_of(member) == "optimizer":
            return learning_rate(getattr(member, "lr"), step)  # noqa: B009  # _check_members checked it exists
    raise AssertionError("a chain has exactly one optimizer")


def _as_members(value: Iterable[Optimizer]) -> tuple[Optimizer, ...]:
    return tuple(value)


def _check_members(
    instance: Chain, attribute: attrs.Attribute[tuple[Optimizer, ...]], value: tuple[Optimizer, ...]
) -> None:
    for i, member in enumerate(value):
        if not (callable(getattr(member, "init", None)) and callable(getattr(member, "update", None))):
            raise TypeError(f"chain: member {i} is not an optimizer or gradient transform, got {member!r}")
    roles = [role_of(m) for m in value]
    n_opt = roles.count("optimizer")
    if n_opt != 1:
        raise ValueError(
            f"chain: expected exactly one optimizer (sgd, adam, rmsprop, adagrad) among {value!r}, got {n_opt}; "
            "e.g. chain(l2(1e-4), sgd(0.1))"
        )
    first_opt = roles.index("optimizer")
    proximal = [m for m in value if isinstance(m, L1) and m.proximal]
    lr = getattr(value[first_opt], "lr", None)
    if proximal and not (isinstance(lr, int | float) or callable(lr)):
        raise ValueError(
            f"chain: {proximal[0]!r} soft-thresholds by the optimizer's learning rate, but {value[first_opt]!r} "
            "has no lr; use sgd(lr)"
        )
    late = [value[i] for i in range(first_opt + 1, len(value)) if roles[i] == "penalty"]
    if late:
        raise ValueError(
            f"chain: penalties must come before the optimizer, got {late!r} after {value[first_opt]!r}; "
            f"write chain({late[0]!r}, {value[first_opt]!r})"
        )


@attrs.frozen(repr=False)
class Chain:
    """Members applied in order: each one's output is the next one's input.

    Exactly one member is an optimizer; regularisers come before it. The
    state is an :class:`~funcnn.optim.OptState` whose buffers nest each
    member's buffers under ``"t0"``, ``"t1"``, ... (members without buffers
    have no entry), so a chain's state mirrors params like any other.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "chain"
    role: ClassVar[Role] = "optimizer"
    transforms: tuple[Optimizer, ...] = attrs.field(converter=_as_members, validator=_check_members)

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]:
        buffers: dict[str, FrozenTree[FloatT]] = {}
        for i, member in enumerate(self.transforms):
            sub = member.init(params).buffers
            if len(sub):
                buffers[f"t{i}"] = sub
        return OptState(0, FrozenTree(buffers))

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        buffers: dict[str, FrozenTree[FloatT]] = {}
        for i, member in enumerate(self.transforms):
            name = f"t{i}"
            grads, sub = member.update(grads, OptState(state.count, state.buffers.subtree(name)), params)
            if len(sub.buffers):
                buffers[name] = sub.buffers
        for member in self.transforms:
            if isinstance(member, L1) and member.proximal:  # soft-threshold where the step landed
                grads = member.prox(grads, params, _lr_at(self, state.count))
        return grads, OptState(state.count + 1, FrozenTree(buffers))


# -- factories ----------------------------------------------------------------


def l2(alpha: float, *, include_bias: bool = False) -> L2:
    """Ridge regularisation (weight decay) of strength ``alpha``: ``+ alpha/2 Σ w²``."""
    return L2(alpha, include_bias)


def l1(alpha: float, *, include_bias: bool = False, proximal: bool = False) -> L1:
    """Lasso regularisation of strength ``alpha``: ``+ alpha Σ |w|``.

    ``proximal=True`` soft-thresholds after the optimizer's step (exact zeros)
    instead of adding the subgradient ``alpha sign(w)``.

    >>> import numpy as np, funcnn as fn
    >>> opt = chain(l1(0.5, proximal=True), fn.sgd(0.1))
    >>> w = fn.freeze({"w": np.array([1.0, 0.02])})
    >>> new, _ = fn.apply_step(opt, fn.freeze({"w": np.zeros(2)}), opt.init(w), w)
    >>> new["w"].tolist()
    [0.95, 0.0]
    """
    return L1(alpha, include_bias, proximal)


def elastic_net(alpha: float, r: float = 0.5, *, include_bias: bool = False) -> ElasticNet:
    """Elastic net: mix ratio ``r`` between lasso (``r=1``) and ridge (``r=0``)."""
    return ElasticNet(alpha, r, include_bias)


def clip_by_global_norm(max_norm: float) -> ClipByGlobalNorm:
    """Cap the global norm of the gradients at ``max_norm``."""
    return ClipByGlobalNorm(max_norm)


def chain(*transforms: Optimizer) -> Chain:
    """Compose gradient transforms with one optimizer, applied left to right.

    >>> from funcnn.optim import adam
    >>> chain(clip_by_global_norm(1.0), l2(1e-4), adam(1e-3))
    Chain(transforms=(ClipByGlobalNorm(max_norm=1.0), L2(alpha=0.0001), Adam()))
    """
    return Chain(transforms)
