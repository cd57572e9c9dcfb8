"""Training part of a model and moving params between models: ``partition``, ``frozen``, ``graft``.

:func:`partition` builds an optimizer that hands each parameter leaf to the
optimizer of the one glob that claims it; :func:`frozen` is the optimizer that
never moves its leaves. Globs are matched (``fnmatch``, case-sensitive) against
each leaf's path (``conv2d_0/w``) and every prefix of it (``conv2d_0``), so
``"conv*"`` claims whole layers and ``"base"`` a whole nested model. Every leaf
must be claimed by exactly one glob.

Frozen leaves keep no optimizer buffers, come out of a training step as the
very same arrays (bit-identical), and need no gradients: the training loop asks
the model's backward pass to leave out frozen layers and to stop below the
lowest layer that still learns (see :func:`frozen_layers`).

:func:`graft` copies subtrees of one model's params into another's, checking
paths, shapes and dtypes.

>>> import numpy as np, funcnn as fn
>>> model = fn.Sequential(fn.Dense(3), fn.ReLU(), fn.Dense(2))
>>> params = fn.init(model, fn.key(0), in_shape=(4,))
>>> opt = partition({"dense_0": frozen(), "dense_1": fn.adam(1e-3)})
>>> sorted(opt.init(params).buffers["p1"]["mu"])
['dense_1']
>>> sorted(frozen_layers(opt, params))
['dense_0']
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn._spec import short_repr
from funcnn._typing import FloatT
from funcnn.errors import TreeStructureError
from funcnn.optim import Optimizer, OptState, _OneRoutine, apply_step
from funcnn.tree import FrozenTree, tree_flatten, tree_map, tree_unflatten

__all__ = ["Frozen", "Partition", "frozen", "frozen_layers", "graft", "partition"]


@attrs.frozen(repr=False)
class Frozen:
    """The optimizer that never moves its leaves: zero updates, no buffers.

    Inside :func:`partition` its leaves are returned unchanged (the same
    arrays) and need no gradients.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "frozen"
    role: ClassVar[str] = "optimizer"

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]:
        return OptState(0)

    def update(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        return tree_map(np.zeros_like, params), OptState(state.count + 1, state.buffers)

    def fused_step(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT]
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        """The params themselves (not a copy) and the next state."""
        return params, OptState(state.count + 1, state.buffers)


def _prefixes(path: str) -> list[str]:
    keys = path.split("/")
    return ["/".join(keys[: i + 1]) for i in range(len(keys))]


def claims(glob: str, path: str) -> bool:
    """True if ``glob`` matches the leaf ``path`` or one of its prefixes (``"conv*"`` claims ``conv2d_0/w``)."""
    return any(fnmatch.fnmatchcase(p, glob) for p in _prefixes(path))


Rules = tuple[tuple[str, Optimizer], ...]


def _to_rules(value: Mapping[str, Optimizer] | Sequence[tuple[str, Optimizer]]) -> Rules:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((glob, opt) for glob, opt in items)


def _check_rules(instance: Partition, attribute: attrs.Attribute[Rules], value: Rules) -> None:
    if not value:
        raise ValueError('partition: expected at least one {"glob": optimizer} rule, got none')
    globs = [glob for glob, _ in value]
    for glob, opt in value:
        if not isinstance(glob, str) or not glob:
            raise TypeError(f"partition: globs must be non-empty strings, got {glob!r}")
        if not (callable(getattr(opt, "init", None)) and callable(getattr(opt, "update", None))):
            raise TypeError(f"partition: {glob!r} maps to {opt!r}, which is not an optimizer (e.g. fn.adam(1e-3))")
        if getattr(opt, "role", "optimizer") != "optimizer":
            raise TypeError(
                f"partition: {glob!r} maps to the gradient transform {opt!r}; give an optimizer, "
                f"e.g. fn.chain({opt!r}, fn.sgd(0.1))"
            )
    doubled = sorted({g for g in globs if globs.count(g) > 1})
    if doubled:
        raise ValueError(f"partition: each glob may appear once, got {', '.join(map(repr, doubled))} twice")


@attrs.frozen(repr=False)
class Partition(_OneRoutine):
    """An optimizer made of per-glob optimizers; see :func:`partition`.

    ``rules`` pairs each glob with its optimizer, in order. The state's
    buffers nest rule ``i``'s buffers under ``"p{i}"`` (rules without buffers,
    such as :class:`Frozen`, have no entry); those buffers mirror only the
    leaves rule ``i`` claims. ``update`` gives each rule's updates for its
    leaves (zeros for frozen ones; grads of frozen leaves may be absent);
    ``fused_step`` takes each rule's step, and frozen leaves stay the same arrays.
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "partition"
    role: ClassVar[str] = "optimizer"
    rules: Rules = attrs.field(converter=_to_rules, validator=_check_rules)

    def assign(self, params: FrozenTree[FloatT]) -> dict[str, int]:
        """``{leaf path: index of the claiming rule}`` for every leaf of ``params``.

        Raises:
            TreeStructureError: some leaves are claimed by no glob or by more
                than one (all of them are listed).
        """
        owner: dict[str, int] = {}
        unclaimed: list[str] = []
        doubled: list[str] = []
        for path in tree_flatten(params):
            hits = [i for i, (glob, _) in enumerate(self.rules) if claims(glob, path)]
            if not hits:
                unclaimed.append(path)
            elif len(hits) > 1:
                doubled.append(f"{path} (by {' and '.join(repr(self.rules[i][0]) for i in hits)})")
            else:
                owner[path] = hits[0]
        problems = []
        if unclaimed:
            problems.append("claimed by no glob: " + ", ".join(unclaimed))
        if doubled:
            problems.append("claimed by more than one glob: " + ", ".join(doubled))
        if problems:
            globs = ", ".join(repr(g) for g, _ in self.rules)
            raise TreeStructureError(
                f"partition({globs}): every param leaf must be claimed by exactly one glob; "
                + "; ".join(problems)
                + '; add a rule (e.g. "*": fn.frozen()) or make the globs narrower'
            )
        return owner

    def frozen_paths(self, params: FrozenTree[FloatT]) -> frozenset[str]:
        """The leaf paths of ``params`` whose rule is :func:`frozen`."""
        return frozenset(p for p, i in self.assign(params).items() if isinstance(self.rules[i][1], Frozen))

    def _groups(self, params: FrozenTree[FloatT]) -> list[list[str]]:
        groups: list[list[str]] = [[] for _ in self.rules]
        for path, i in self.assign(params).items():
            groups[i].append(path)
        return groups

    def init(self, params: FrozenTree[FloatT]) -> OptState[FloatT]:
        flat = tree_flatten(params)
        buffers: dict[str, FrozenTree[FloatT]] = {}
        for i, paths in enumerate(self._groups(params)):
            if paths:
                sub = self.rules[i][1].init(tree_unflatten({p: flat[p] for p in paths})).buffers
                if len(sub):
                    buffers[f"p{i}"] = sub
        return OptState(0, FrozenTree(buffers))

    def _run(
        self, grads: FrozenTree[FloatT], state: OptState[FloatT], params: FrozenTree[FloatT], fused: bool
    ) -> tuple[FrozenTree[FloatT], OptState[FloatT]]:
        flat_p, flat_g = tree_flatten(params), tree_flatten(grads)
        groups = self._groups(params)
        needed = [p for i, paths in enumerate(groups) if not isinstance(self.rules[i][1], Frozen) for p in paths]
        missing = [p for p in needed if p not in flat_g]
        extra = [p for p in flat_g if p not in flat_p]
        if missing or extra:
            raise TreeStructureError(
                f"{self!r}: grads must hold every trained leaf of params; "
                f"missing paths: {', '.join(missing) or 'none'}; extra paths: {', '.join(extra) or 'none'}"
            )
        out: dict[str, NDArray[FloatT]] = {}
        buffers: dict[str, FrozenTree[FloatT]] = {}
        for i, paths in enumerate(groups):
            if not paths:
                continue
            opt, name = self.rules[i][1], f"p{i}"
            sub_p = tree_unflatten({p: flat_p[p] for p in paths})
            sub_state = OptState(state.count, state.buffers.subtree(name))
            if isinstance(opt, Frozen):
                new, sub = (sub_p, sub_state) if fused else opt.update(sub_p, sub_state, sub_p)
            else:
                sub_g = tree_unflatten({p: flat_g[p] for p in paths})
                new, sub = apply_step(opt, sub_g, sub_state, sub_p) if fused else opt.update(sub_g, sub_state, sub_p)
            out.update(tree_flatten(new))
            if len(sub.buffers):
                buffers[name] = sub.buffers
        return tree_unflatten(out), OptState(state.count + 1, FrozenTree(buffers))


def frozen() -> Frozen:
    """The optimizer of leaves that must not change (use it inside :func:`partition`)."""
    return Frozen()


def partition(rules: Mapping[str, Optimizer] | Sequence[tuple[str, Optimizer]]) -> Partition:
    """An optimizer that trains each group of leaves with its own optimizer.

    Args:
        rules: ``{glob: optimizer}`` (or ``(glob, optimizer)`` pairs); a glob
            claims every leaf whose path, or a prefix of it, it matches.

    Every leaf must be claimed by exactly one glob; otherwise ``init`` and
    ``update`` raise :class:`~funcnn.errors.TreeStructureError` listing the
    unclaimed and doubly claimed paths.

    >>> import funcnn as fn
    >>> partition({"conv*": frozen(), "dense*": fn.adam(1e-3)})
    Partition(rules=(('conv*', Frozen()), ('dense*', Adam())))
    """
    return Partition(rules)


def frozen_layers(optimizer: object, params: FrozenTree[FloatT]) -> frozenset[str]:
    """Top-level names of ``params`` whose every leaf ``optimizer`` keeps frozen (empty if it freezes none).

    The training loop passes these to ``Sequential.backward(frozen=...)``, so
    no gradient is computed for them and the pass stops below the lowest
    layer that learns.
    """
    if not isinstance(optimizer, Partition):
        return frozenset()
    fixed = optimizer.frozen_paths(params)
    out = set()
    for name in params:
        node = params[name]
        paths = [f"{name}/{p}" for p in tree_flatten(node)] if isinstance(node, FrozenTree) else [name]
        if paths and all(p in fixed for p in paths):
            out.add(name)
    return frozenset(out)


def graft(
    params: FrozenTree[FloatT], source: FrozenTree[FloatT], paths: str | Sequence[str]
) -> FrozenTree[FloatT]:
    """``params`` with the leaves under ``paths`` copied from ``source`` (another model's params).

    Args:
        params: the tree to graft onto (e.g. a fresh model's params).
        source: the tree to copy from (e.g. a trained base's params).
        paths: globs matched like :func:`partition`'s against the leaf paths
            of ``source`` (``"conv*"``, ``"base"``, ``"dense_0/w"``).

    Returns:
        A new tree sharing every array: ``params``' own where nothing is
        grafted, ``source``'s (read-only) where it is.

    Raises:
        TreeStructureError: a glob matches nothing in ``source``, or a matched
            path is missing from ``params`` or has another shape or dtype
            (every problem is listed).

    >>> import numpy as np, funcnn as fn
    >>> a = fn.freeze({"conv": {"w": np.ones(2)}, "head": {"w": np.zeros(3)}})
    >>> b = fn.freeze({"conv": {"w": np.full(2, 5.0)}, "head": {"w": np.ones(4)}})
    >>> graft(a, b, ["conv"])["conv"]["w"]
    array([5., 5.])
    """
    globs = [paths] if isinstance(paths, str) else list(paths)
    flat_p, flat_s = tree_flatten(params), tree_flatten(source)
    problems: list[str] = []
    chosen: dict[str, NDArray[FloatT]] = {}
    for glob in globs:
        hits = [p for p in flat_s if claims(glob, p)]
        if not hits:
            problems.append(f"{glob!r} matches no path of source (its paths: {', '.join(flat_s) or 'none'})")
        for p in hits:
            chosen[p] = flat_s[p]
    for p, a in chosen.items():
        if p not in flat_p:
            problems.append(f"{p}: in source but not in params")
        elif flat_p[p].shape != a.shape or flat_p[p].dtype != a.dtype:
            problems.append(f"{p}: params hold {flat_p[p].dtype}{flat_p[p].shape}, source {a.dtype}{a.shape}")
    if problems:
        raise TreeStructureError(
            "graft: " + "; ".join(problems) + "; graft only the layers both models share, with the same sizes"
        )
    return tree_unflatten({**flat_p, **chosen})
