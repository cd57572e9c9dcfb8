"""Loss reductions and ``half``: finite differences, the relations between them, configs, and bit-for-bit defaults.

Every (loss, reduction, half) combination is checked against central finite
differences in float64 on random shapes (hypothesis); then the reductions are
checked against each other: ``half=True`` is exactly ``x 1/2`` (bit for bit),
``sum`` is ``mean x size`` (MSE, BCE) or ``mean x batch`` (CCE), and
``batch_mean`` is ``mean x outputs``. The default reduction reproduces the
formulas the library had before reductions existed, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import funcnn as fn
from funcnn._typing import Array, FloatT
from funcnn.config import from_config, to_config
from funcnn.losses import REDUCTIONS, Loss, Reduction
from funcnn.rng import generator

F64 = NDArray[np.float64]


def _data(seed: int, batch: int, k: int, spec: Loss) -> tuple[F64, F64]:
    rng = generator(fn.key(seed))
    if isinstance(spec, fn.MSE):
        return rng.normal(size=(batch, k)), rng.normal(size=(batch, k))
    logits = bool(getattr(spec, "from_logits", False))
    if isinstance(spec, fn.BinaryCrossEntropy):
        y = rng.normal(size=(batch, k)) if logits else rng.uniform(0.1, 0.9, size=(batch, k))
        return y, rng.uniform(0.0, 1.0, size=(batch, k))
    y = rng.normal(size=(batch, k)) if logits else rng.uniform(0.1, 0.9, size=(batch, k))
    return y, np.eye(k)[rng.integers(0, k, size=batch)]


def _specs() -> list[Loss]:
    out: list[Loss] = []
    for r in REDUCTIONS:
        out += [fn.MSE(reduction=r), fn.MSE(reduction=r, half=True)]  # type: ignore[arg-type]
        for logits in (False, True):
            out += [
                fn.BinaryCrossEntropy(from_logits=logits, reduction=r),  # type: ignore[arg-type]
                fn.CategoricalCrossEntropy(from_logits=logits, reduction=r),  # type: ignore[arg-type]
            ]
    return out


SPECS = _specs()


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 5), k=st.integers(2, 4))
def test_gradient_matches_finite_differences(spec: Loss, seed: int, batch: int, k: int) -> None:
    y, t = _data(seed, batch, k, spec)
    _, dy = fn.loss(spec, y, t)
    h = 1e-6
    numeric = np.empty_like(y)
    for i in np.ndindex(y.shape):
        up, down = y.copy(), y.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (fn.loss(spec, up, t)[0] - fn.loss(spec, down, t)[0]) / (2 * h)
    np.testing.assert_allclose(dy, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_half_is_exactly_half(reduction: str, dtype: type[np.floating]) -> None:
    y, t = _data(3, 7, 3, fn.MSE())
    y, t = y.astype(dtype), t.astype(dtype)
    full_cost, full_dy = fn.loss(fn.MSE(reduction=reduction), y, t)  # type: ignore[arg-type]
    half_cost, half_dy = fn.loss(fn.MSE(reduction=reduction, half=True), y, t)  # type: ignore[arg-type]
    assert half_cost == 0.5 * full_cost  # exact: x 1/2 only moves the exponent
    assert half_dy.dtype == dtype
    np.testing.assert_array_equal(half_dy, 0.5 * full_dy)


def _family(name: str, reduction: Reduction, logits: bool) -> Loss:
    if name == "mse":
        return fn.MSE(reduction=reduction)
    if name == "bce":
        return fn.BinaryCrossEntropy(from_logits=logits, reduction=reduction)
    return fn.CategoricalCrossEntropy(from_logits=logits, reduction=reduction)


@pytest.mark.parametrize("name", ["mse", "bce", "cce"])
@pytest.mark.parametrize("logits", [False, True])
def test_sum_mean_and_batch_mean_are_rescalings(name: str, logits: bool) -> None:
    batch, k, per_sample = 6, 4, name == "cce"
    specs = {r: _family(name, r, logits) for r in ("mean", "sum", "batch_mean")}
    y, t = _data(11, batch, k, specs["mean"])
    out = {r: fn.loss(s, y, t) for r, s in specs.items()}
    n = batch if per_sample else batch * k  # the divisor of "mean"
    assert out["sum"][0] == pytest.approx(out["mean"][0] * n, rel=1e-13)
    np.testing.assert_allclose(out["sum"][1], out["mean"][1] * n, rtol=1e-13)
    # batch_mean sums over outputs and averages over samples: mean x (outputs per sample) for MSE/BCE
    scale = 1 if per_sample else k
    assert out["batch_mean"][0] == pytest.approx(out["mean"][0] * scale, rel=1e-13)
    np.testing.assert_allclose(out["batch_mean"][1], out["mean"][1] * scale, rtol=1e-13)


def test_textbook_half_sum_gradient_is_the_residual() -> None:
    y = np.array([[0.5, -1.0], [2.0, 0.0]])
    t = np.array([[0.0, 0.0], [1.0, 1.0]])
    cost, dy = fn.loss(fn.MSE(reduction="sum", half=True), y, t)
    assert cost == 0.5 * (0.25 + 1.0 + 1.0 + 1.0)
    np.testing.assert_array_equal(dy, y - t)  # d/dy of ½ Σ (y - t)² is y - t


def _check_former_mse(y: Array[FloatT], t: Array[FloatT]) -> None:
    diff = y - t
    cost, dy = fn.loss(fn.MSE(), y, t)
    assert dy.dtype == y.dtype and cost == float(np.vdot(diff, diff)) / diff.size
    np.testing.assert_array_equal(dy, diff * (2 / diff.size))


def test_default_reduction_reproduces_the_former_formulas_bit_for_bit() -> None:
    y, t = _data(5, 9, 3, fn.MSE())
    _check_former_mse(y, t)
    _check_former_mse(y.astype(np.float32), t.astype(np.float32))
    yc, tc = _data(5, 9, 3, fn.CategoricalCrossEntropy(from_logits=True))
    assert (
        fn.loss(fn.CategoricalCrossEntropy(from_logits=True, reduction="batch_mean"), yc, tc)[0]
        == (fn.loss(fn.CategoricalCrossEntropy(from_logits=True), yc, tc)[0])
    )


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_reductions_survive_a_config_round_trip(spec: Loss) -> None:
    back = from_config(to_config(spec))
    assert back == spec and repr(back) == repr(spec)


def test_bad_reduction_is_refused() -> None:
    with pytest.raises(ValueError, match="reduction"):
        fn.MSE(reduction="average")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="half"):
        fn.MSE(half=1)  # type: ignore[arg-type]


def test_default_repr_is_unchanged() -> None:
    assert repr(fn.MSE()) == "MSE()" and repr(fn.MSE(reduction="sum", half=True)) == "MSE(reduction='sum', half=True)"
