"""Feature maps computed from the data alone: polynomial features and their column names.

Pure functions: no state is fitted, so there is nothing to invert or save.
The columns come in the order scikit-learn's ``PolynomialFeatures`` uses
(by total degree, then lexicographically over the input columns), and
:func:`polynomial_feature_names` names each column from the input names, so
a learned weight can be read off without reconstructing anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.errors import ShapeError

__all__ = ["polynomial_feature_names", "polynomial_features"]


def _check_degree(where: str, degree: int) -> None:
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"{where}: degree must be an int >= 1, got degree={degree!r}")


def _monomials(n_features: int, degree: int, include_bias: bool) -> list[tuple[int, ...]]:
    """Each column as the tuple of input columns multiplied together (``()`` is the bias)."""
    start = 0 if include_bias else 1
    return [c for d in range(start, degree + 1) for c in itertools.combinations_with_replacement(range(n_features), d)]


def polynomial_features(x: ArrayLike, degree: int, *, include_bias: bool = False) -> NDArray[np.floating]:
    """Every product of the input columns of total degree 1 to ``degree`` (0 too with ``include_bias``).

    Args:
        x: ``(n,)`` one feature or ``(n, d)`` features. float32 stays float32;
            anything else becomes float64.
        degree: the largest total degree (>= 1).
        include_bias: add a leading column of ones (degree 0). Leave it off
            when the model has its own bias (a ``Dense`` layer does).

    Returns:
        ``(n, k)`` features with ``k = C(d + degree, degree) - 1`` (+1 with the
        bias), in the order of :func:`polynomial_feature_names`.

    Raises:
        ShapeError: ``x`` is not 1-D or 2-D.
        ValueError: ``degree`` is not an int >= 1.

    >>> import numpy as np
    >>> polynomial_features(np.array([2.0, 3.0]), 3).tolist()
    [[2.0, 4.0, 8.0], [3.0, 9.0, 27.0]]
    >>> polynomial_features(np.array([[2.0, 3.0]]), 2, include_bias=True).tolist()
    [[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]
    """
    _check_degree("polynomial_features", degree)
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[:, np.newaxis]
    if a.ndim != 2:
        raise ShapeError(f"polynomial_features: expected x of shape (n,) or (n, d), got {a.shape}")
    dtype = a.dtype if a.dtype == np.float32 else np.dtype(np.float64)
    a = a.astype(dtype, copy=False)
    columns = _monomials(a.shape[1], degree, include_bias)
    out = np.empty((a.shape[0], len(columns)), dtype=dtype)
    for j, cols in enumerate(columns):
        out[:, j] = np.prod(a[:, list(cols)], axis=1) if cols else 1
    return out


def polynomial_feature_names(
    n_features: int, degree: int, *, include_bias: bool = False, names: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The names of :func:`polynomial_features`' columns, built from the input names.

    Args:
        n_features: ``d``, the number of input columns.
        degree: as for :func:`polynomial_features`.
        include_bias: as for :func:`polynomial_features` (the bias column is ``"1"``).
        names: the input columns' names (default ``x0, x1, ...``).

    >>> polynomial_feature_names(2, 2)
    ('x0', 'x1', 'x0^2', 'x0 x1', 'x1^2')
    >>> polynomial_feature_names(1, 3, names=["t"], include_bias=True)
    ('1', 't', 't^2', 't^3')
    """
    _check_degree("polynomial_feature_names", degree)
    labels = list(names) if names is not None else [f"x{i}" for i in range(n_features)]
    if len(labels) != n_features:
        raise ShapeError(f"polynomial_feature_names: expected {n_features} names, got {len(labels)}: {labels!r}")
    out: list[str] = []
    for cols in _monomials(n_features, degree, include_bias):
        if not cols:
            out.append("1")
            continue
        powers = [(i, cols.count(i)) for i in sorted(set(cols))]
        out.append(" ".join(labels[i] if p == 1 else f"{labels[i]}^{p}" for i, p in powers))
    return tuple(out)
