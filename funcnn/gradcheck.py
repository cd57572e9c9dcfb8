"""Finite-difference gradient checking, for learners and for the test suite.

:func:`check_gradients` compares the gradients from ``backward`` with central
differences of the cost, computed in float64, leaf by leaf (and for the input),
and reports the worst leaf by path.
"""

from __future__ import annotations

import attrs
import numpy as np
from numpy.typing import NDArray

from funcnn.layers.base import Layer
from funcnn.losses import Loss
from funcnn.rng import Key
from funcnn.tree import FrozenTree, tree_flatten, tree_map, tree_unflatten

__all__ = ["GradCheckReport", "check_gradients"]


@attrs.frozen
class GradCheckReport:
    """Relative error ``|analytic - numeric| / max(|analytic| + |numeric|, tiny)`` per path.

    ``errors`` maps each param path (and ``"x"`` for the input gradient) to its
    relative error; ``worst_path`` is the path with the largest one.
    """

    errors: dict[str, float]

    @property
    def worst_path(self) -> str:
        return max(self.errors, key=lambda p: self.errors[p])

    @property
    def max_error(self) -> float:
        return max(self.errors.values())

    def ok(self, tol: float = 1e-6) -> bool:
        """True if every relative error is at most ``tol``."""
        return self.max_error <= tol

    def __str__(self) -> str:
        rows = "\n".join(f"  {p}: {e:.3e}" for p, e in sorted(self.errors.items()))
        return f"gradient check (worst: {self.worst_path} at {self.max_error:.3e})\n{rows}"


def _cost(model: Layer, params: FrozenTree[np.float64], x: NDArray[np.float64], t: NDArray[np.float64],
          loss: Loss, key: Key | None) -> float:
    y, _ = model.forward(params, x, key=key, train=key is not None)
    cost, _ = loss.value_and_grad(y, t)
    return cost


def _rel(a: NDArray[np.float64], n: NDArray[np.float64]) -> float:
    num = float(np.linalg.norm(a - n))
    den = float(np.linalg.norm(a) + np.linalg.norm(n))
    return num / den if den > 1e-12 else num


def check_gradients(
    model: Layer,
    params: FrozenTree[np.float64] | FrozenTree[np.float32],
    x: object,
    t: object,
    loss: Loss,
    *,
    key: Key | None = None,
    eps: float = 1e-6,
) -> GradCheckReport:
    """Check ``backward`` against central differences of ``loss`` (all in float64).

    Every scalar of every param leaf and of ``x`` is perturbed by ``±eps``, so
    keep the shapes small. With a ``key`` the model runs in training mode with
    that key (dropout masks are then fixed, so the check is exact).

    >>> import numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(3), fn.Tanh(), fn.Dense(1))
    >>> params = fn.init(model, fn.key(0), in_shape=(2,))
    >>> report = fn.check_gradients(model, params, np.ones((4, 2)), np.zeros((4, 1)), fn.MSE())
    >>> report.ok()
    True
    """
    p64: FrozenTree[np.float64] = tree_map(lambda a: a.astype(np.float64), params)  # type: ignore[arg-type]
    x64 = np.array(x, dtype=np.float64)
    y, cache = model.forward(p64, x64, key=key, train=key is not None)
    t64 = loss.check_targets(y, np.asarray(t))
    _, dy = loss.value_and_grad(y, t64)
    grads, dx = model.backward(p64, cache, dy)

    errors: dict[str, float] = {}
    flat = {path: np.array(a) for path, a in tree_flatten(p64).items()}
    analytic = tree_flatten(grads)
    for path, leaf in flat.items():
        numeric = np.zeros_like(leaf)
        for i in np.ndindex(leaf.shape):
            old = leaf[i]
            leaf[i] = old + eps
            plus = _cost(model, tree_unflatten(flat), x64, t64, loss, key)
            leaf[i] = old - eps
            minus = _cost(model, tree_unflatten(flat), x64, t64, loss, key)
            leaf[i] = old
            numeric[i] = (plus - minus) / (2 * eps)
        errors[path] = _rel(analytic[path], numeric)
    numeric_x = np.zeros_like(x64)
    for i in np.ndindex(x64.shape):
        old = x64[i]
        x64[i] = old + eps
        plus = _cost(model, p64, x64.copy(), t64, loss, key)
        x64[i] = old - eps
        minus = _cost(model, p64, x64.copy(), t64, loss, key)
        x64[i] = old
        numeric_x[i] = (plus - minus) / (2 * eps)
    errors["x"] = _rel(np.asarray(dx, dtype=np.float64), numeric_x)
    return GradCheckReport(errors)
