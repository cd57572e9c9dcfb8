"""The optimised training step gives bit-identical results to the plain formulas.

Speed work on the hot path (one exp in the fused softmax cross-entropy, a
transposed row max, ``np.take`` gathers, optimizers fused with
``apply_updates``, in-place updates on fresh arrays) must never change the
maths. Here a small MLP is trained with ``train_epochs`` and, side by side,
with the reference formulas written out in plain, out-of-place numpy
(``p - lr * g``, ``(softmax(z) * Σt - t) / batch``, ``dW = xᵀ dz``, ...); every
param, optimizer buffer and cost must agree bit for bit, in float32 and float64.

Each expression is written in the order the library documents, since floating
point is not associative: e.g. Adam's ``mu + (1 - b1)(g - mu)`` (the form the
optimizer documents as equal to ``b1 mu + (1 - b1) g``) is a different rounding
of the same quantity.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn._typing import FloatT
from funcnn.optim import adagrad, adam, apply_step, apply_updates, momentum, rmsprop, sgd
from funcnn.training import TrainState
from funcnn.transforms import chain, clip_by_global_norm, l2

Floats = NDArray[np.floating]
SIZES = (6, 5, 4, 3)  # in, hidden, hidden, classes
N, BATCH = 21, 7  # three steps per epoch


def assert_bits(a: Floats, b: Floats, what: str) -> None:
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert a.tobytes() == b.tobytes(), f"{what}: not bit-identical; max |diff| {np.max(np.abs(a - b))}"


def data(dtype: type[np.floating]) -> tuple[Floats, NDArray[np.int64]]:
    g = np.random.default_rng(7)
    x = g.standard_normal((N, SIZES[0])).astype(dtype)
    y = g.integers(0, SIZES[-1], size=N)
    return x, y


def model() -> fn.Sequential:
    return fn.Sequential(fn.Dense(SIZES[1]), fn.ReLU(), fn.Dense(SIZES[2]), fn.ReLU(), fn.Dense(SIZES[3]))


# -- reference formulas ---------------------------------------------------------


def reference_grads(ws: list[Floats], bs: list[Floats], x: Floats, t: Floats) -> tuple[float, list[Floats]]:
    """Cost and ``[dW0, db0, dW1, db1, dW2, db2]`` of a batch, written out plainly."""
    batch = x.shape[0]
    z0 = x @ ws[0] + bs[0]
    h0 = np.maximum(z0, 0)
    z1 = h0 @ ws[1] + bs[1]
    h1 = np.maximum(z1, 0)
    z2 = h1 @ ws[2] + bs[2]
    shifted = z2 - np.max(z2, axis=1, keepdims=True)
    e = np.exp(shifted)
    s = np.sum(e, axis=1, keepdims=True)
    cost = -float(np.vdot(t, shifted - np.log(s))) / batch
    p = e / s
    dz2 = (p * np.sum(t, axis=1, keepdims=True) - t) / batch
    dh1 = dz2 @ ws[2].T
    dz1 = dh1 * (h1 > 0)
    dh0 = dz1 @ ws[1].T
    dz0 = dh0 * (h0 > 0)
    return cost, [x.T @ dz0, np.sum(dz0, axis=0), h0.T @ dz1, np.sum(dz1, axis=0), h1.T @ dz2, np.sum(dz2, axis=0)]


Update = Callable[[list[Floats], list[Floats], dict[str, list[Floats]], int], list[Floats]]


Grads = Callable[[list[Floats], Floats, Floats], tuple[float, list[Floats]]]


def reference_epochs(
    states: list[TrainState[FloatT]], ps: list[Floats], x: Floats, onehot: Floats, batch: int,
    grads: Grads, update: Update,
) -> tuple[list[Floats], dict[str, list[Floats]]]:
    """Replay ``states``' epochs with the reference formulas (batches in order, no shuffle); return params and buffers.

    Asserts each epoch's mean cost (bit for bit) and step count against the state the library yielded.
    """
    buf: dict[str, list[Floats]] = {}
    step = 0
    n = x.shape[0]
    for epoch, state in enumerate(states):
        total = 0.0
        for start in range(0, n, batch):
            xb, tb = x[start : start + batch], onehot[start : start + batch]
            cost, gs = grads(ps, xb, tb)
            step += 1
            ps = update(ps, gs, buf, step)
            total += cost * xb.shape[0]
        assert state.history.cost[-1] == total / n, f"epoch {epoch} cost"
        assert state.step == step, f"epoch {epoch} steps"
    return ps, buf


def ref_sgd(lr: float) -> Update:
    def update(ps: list[Floats], gs: list[Floats], buf: dict[str, list[Floats]], t: int) -> list[Floats]:
        return [p - lr * g for p, g in zip(ps, gs, strict=True)]

    return update


def ref_momentum(lr: float, m: float, nesterov: bool) -> Update:
    def update(ps: list[Floats], gs: list[Floats], buf: dict[str, list[Floats]], t: int) -> list[Floats]:
        vs = buf.setdefault("velocity", [np.zeros_like(p) for p in ps])
        out = []
        for i, (p, g) in enumerate(zip(ps, gs, strict=True)):
            vs[i] = m * vs[i] + g
            out.append(p - lr * (g + m * vs[i]) if nesterov else p - lr * vs[i])
        return out

    return update


def ref_adam(lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Update:
    def update(ps: list[Floats], gs: list[Floats], buf: dict[str, list[Floats]], t: int) -> list[Floats]:
        mus = buf.setdefault("mu", [np.zeros_like(p) for p in ps])
        nus = buf.setdefault("nu", [np.zeros_like(p) for p in ps])
        step_size = -lr / (1.0 - b1**t)
        nu_scale = 1.0 / (1.0 - b2**t)
        out = []
        for i, (p, g) in enumerate(zip(ps, gs, strict=True)):
            mus[i] = mus[i] + (1.0 - b1) * (g - mus[i])
            nus[i] = nus[i] + (1.0 - b2) * (g * g - nus[i])
            out.append(p + (mus[i] / (np.sqrt(nus[i] * nu_scale) + eps)) * step_size)
        return out

    return update


CASES: dict[str, tuple[Callable[[], fn.Optimizer], Update]] = {
    "sgd": (lambda: sgd(0.1), ref_sgd(0.1)),
    "momentum": (lambda: momentum(0.05, 0.9), ref_momentum(0.05, 0.9, False)),
    "nesterov": (lambda: sgd(0.05, momentum=0.8, nesterov=True), ref_momentum(0.05, 0.8, True)),
    "adam": (lambda: adam(0.01), ref_adam(0.01)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_train_epochs_matches_reference_formulas_bit_for_bit(name: str, dtype: type[np.floating]) -> None:
    make_opt, ref_update = CASES[name]
    x, y = data(dtype)
    x_before = x.copy()
    params = fn.init(model(), fn.key(3), in_shape=(SIZES[0],), dtype=dtype)
    state = TrainState.create(
        model(), params, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=make_opt(),
        key=fn.key(4), batch_size=BATCH, shuffle=False,
    )
    states = list(fn.train_epochs(state, x, y, epochs=2))

    ps = [np.array(fn.tree_get(params, f"dense_{i}/{k}")) for i in range(3) for k in ("w", "b")]
    onehot = np.eye(SIZES[-1], dtype=dtype)[y]
    ps, buf = reference_epochs(
        states, ps, x, onehot, BATCH, lambda p, xb, tb: reference_grads(p[0::2], p[1::2], xb, tb), ref_update
    )

    final = states[-1]
    for i, k in enumerate(("w", "b") * 3):
        path = f"dense_{i // 2}/{k}"
        assert_bits(np.asarray(fn.tree_get(final.params, path)), ps[i], path)
        assert fn.tree_get(final.params, path).dtype == dtype
        for buffer, values in buf.items():
            assert_bits(np.asarray(fn.tree_get(final.opt_state.buffers, f"{buffer}/{path}")), values[i], buffer)
    assert_bits(x, x_before, "training data")  # the caller's data is never written


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(
    "make_opt",
    [
        lambda: sgd(0.1), lambda: momentum(0.1, 0.9), lambda: sgd(0.1, momentum=0.5, nesterov=True),
        lambda: adam(0.01), lambda: rmsprop(0.01), lambda: adagrad(0.1),
        lambda: chain(clip_by_global_norm(0.5), l2(0.1), adam(0.01)),
    ],
    ids=["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "chain"],
)
def test_fused_step_equals_update_then_apply_updates(make_opt: Callable[[], fn.Optimizer], dtype: type) -> None:
    opt = make_opt()
    g = np.random.default_rng(11)

    def tree() -> fn.FrozenTree[np.float64]:  # (or float32: the test runs both)
        return fn.freeze({"a": {"w": g.standard_normal((4, 3)).astype(dtype), "b": g.standard_normal(3).astype(dtype)}})

    params = tree()
    state = opt.init(params)
    for _ in range(3):
        grads = tree()
        grads_before, params_before = fn.thaw(grads), fn.thaw(params)
        updates, slow_state = opt.update(grads, state, params)
        slow = apply_updates(params, updates)
        fast, fast_state = apply_step(opt, grads, state, params)
        assert fn.tree_equal(fast, slow) and fn.tree_equal(fast_state.buffers, slow_state.buffers)
        for path in fn.tree_paths(fast):
            assert_bits(np.asarray(fn.tree_get(fast, path)), np.asarray(fn.tree_get(slow, path)), path)
            assert not fn.tree_get(fast, path).flags.writeable
        assert fast_state.count == slow_state.count
        # Purity: the fused step wrote none of its inputs.
        grads_kept: fn.FrozenTree[np.float64] = fn.freeze(grads_before)
        params_kept: fn.FrozenTree[np.float64] = fn.freeze(params_before)
        assert fn.tree_equal(grads, grads_kept) and fn.tree_equal(params, params_kept)
        params, state = fast, fast_state


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("classes", [1, 3, 10, 64, 65, 300])
def test_fused_cross_entropy_matches_plain_softmax_formulas(classes: int, dtype: type[np.floating]) -> None:
    g = np.random.default_rng(classes)
    z = (4 * g.standard_normal((9, classes))).astype(dtype)
    soft = g.random((9, classes)).astype(dtype)  # soft targets: rows need not sum to 1
    for t in (np.eye(classes, dtype=dtype)[g.integers(0, classes, 9)], soft):
        cost, dz = fn.loss(fn.CategoricalCrossEntropy(from_logits=True), z, t)
        shifted = z - np.max(z, axis=1, keepdims=True)
        e = np.exp(shifted)
        s = np.sum(e, axis=1, keepdims=True)
        assert cost == -float(np.vdot(t, shifted - np.log(s))) / 9
        assert_bits(dz, (e / s * np.sum(t, axis=1, keepdims=True) - t) / 9, "dz")


# -- convolutions ---------------------------------------------------------------
#
# A small CNN, conv (padding "same") -> ReLU -> max-pool 2 -> conv (stride 2) ->
# ReLU -> flatten -> dense, against its formulas written out with explicit loops
# over the kernel offsets: im2col fills the receptive-field matrix offset by
# offset, col2im adds each offset's block back in row-major offset order, the
# pooling mask marks the first maximum of each window. Matrix products have the
# documented shapes (fields @ w2, fieldsᵀ @ dy, dy @ w[a, b]ᵀ per offset), and
# the bias gradient sums the rows (batch·oh) first, then the ow positions.

CONV_N, CONV_BATCH, CONV_HW = 10, 4, 10  # three steps per epoch, the last one short


def cnn(c_in: int) -> tuple[fn.Sequential, tuple[int, int, int]]:
    model = fn.Sequential(
        fn.Conv2D(4, 3, padding="same"), fn.ReLU(), fn.MaxPool2D(2), fn.Conv2D(5, 3, stride=2), fn.ReLU(),
        fn.Flatten(), fn.Dense(3),
    )
    return model, (CONV_HW, CONV_HW, c_in)


def ref_conv_forward(x: Floats, w: Floats, b: Floats, stride: int, pads: tuple[int, int]) -> tuple[Floats, Floats]:
    """``(y, fields)``: fields ``(batch·oh·ow, kh·kw·c_in)`` in (a, b, c) order, ``y = fields @ w2 + b``."""
    kh, kw, c_in, c_out = w.shape
    xp = np.zeros((x.shape[0], x.shape[1] + sum(pads), x.shape[2] + sum(pads), c_in), dtype=x.dtype)
    xp[:, pads[0] : pads[0] + x.shape[1], pads[0] : pads[0] + x.shape[2]] = x
    n, oh, ow = x.shape[0], (xp.shape[1] - kh) // stride + 1, (xp.shape[2] - kw) // stride + 1
    fields = np.empty((n, oh, ow, kh, kw, c_in), dtype=x.dtype)
    for a in range(kh):
        rows = slice(a, a + stride * (oh - 1) + 1, stride)
        for c in range(kw):
            fields[:, :, :, a, c] = xp[:, rows, c : c + stride * (ow - 1) + 1 : stride]
    cols = fields.reshape(n * oh * ow, kh * kw * c_in)
    return (cols @ w.reshape(kh * kw * c_in, c_out) + b).reshape(n, oh, ow, c_out), cols


def ref_conv_backward(
    w: Floats, cols: Floats, dy: Floats, x_shape: tuple[int, ...], stride: int, pads: tuple[int, int], need_dx: bool
) -> tuple[Floats, Floats, Floats | None]:
    """``(dw, db, dx)`` of a convolution from its fields and ``dy: (batch, oh, ow, c_out)``."""
    kh, kw, c_in, c_out = w.shape
    n, oh, ow, _ = dy.shape
    dy2 = dy.reshape(n * oh * ow, c_out)
    dw = (cols.T @ dy2).reshape(w.shape)
    rows = dy.reshape(n * oh, ow * c_out)
    db_rows = np.zeros(ow * c_out, dtype=dy.dtype)
    for r in range(n * oh):
        db_rows = db_rows + rows[r]
    db = np.zeros(c_out, dtype=dy.dtype)
    for j in range(ow):
        db = db + db_rows.reshape(ow, c_out)[j]
    if not need_dx:
        return dw, db, None
    dxp = np.zeros((n, x_shape[1] + sum(pads), x_shape[2] + sum(pads), c_in), dtype=dy.dtype)
    for a in range(kh):
        for c in range(kw):
            block = (dy2 @ w[a, c].T).reshape(n, oh, ow, c_in)
            dxp[:, a : a + stride * (oh - 1) + 1 : stride, c : c + stride * (ow - 1) + 1 : stride] += block
    return dw, db, dxp[:, pads[0] : pads[0] + x_shape[1], pads[0] : pads[0] + x_shape[2]]


def ref_max_pool(x: Floats) -> tuple[Floats, Floats]:
    """``(y, mask)`` of a 2 × 2 max-pool: mask is 1 at the first maximum (row-major) of each window."""
    views = [x[:, a::2, c::2] for a in range(2) for c in range(2)]
    y = views[0]
    for v in views[1:]:
        y = np.maximum(y, v)
    mask = np.zeros_like(x)
    taken = np.zeros(y.shape, dtype=bool)
    for i, v in enumerate(views):
        won = (v == y) & ~taken
        taken = taken | won
        mask[:, i // 2 :: 2, i % 2 :: 2] = won
    return y, mask


def ref_max_pool_backward(mask: Floats, dy: Floats) -> Floats:
    dx = np.zeros_like(mask)
    for a in range(2):
        for c in range(2):
            dx[:, a::2, c::2] = mask[:, a::2, c::2] * dy
    return dx


def reference_cnn_grads(ps: list[Floats], x: Floats, t: Floats) -> tuple[float, list[Floats]]:
    """Cost and ``[dW0, db0, dW1, db1, dW2, db2]`` (conv, conv, dense) of one batch."""
    batch = x.shape[0]
    z0, cols0 = ref_conv_forward(x, ps[0], ps[1], 1, (1, 1))
    h0 = np.maximum(z0, 0)
    p0, mask = ref_max_pool(h0)
    z1, cols1 = ref_conv_forward(p0, ps[2], ps[3], 2, (0, 0))
    h1 = np.maximum(z1, 0)
    flat = h1.reshape(batch, -1)
    z2 = flat @ ps[4] + ps[5]
    shifted = z2 - np.max(z2, axis=1, keepdims=True)
    e = np.exp(shifted)
    s = np.sum(e, axis=1, keepdims=True)
    cost = -float(np.vdot(t, shifted - np.log(s))) / batch
    dz2 = (e / s * np.sum(t, axis=1, keepdims=True) - t) / batch
    dflat = dz2 @ ps[4].T
    dz1 = dflat.reshape(h1.shape) * (h1 > 0)
    dw1, db1, dp0 = ref_conv_backward(ps[2], cols1, dz1, p0.shape, 2, (0, 0), True)
    assert dp0 is not None
    dz0 = ref_max_pool_backward(mask, dp0) * (h0 > 0)
    dw0, db0, _ = ref_conv_backward(ps[0], cols0, dz0, x.shape, 1, (1, 1), False)
    return cost, [dw0, db0, dw1, db1, flat.T @ dz2, np.sum(dz2, axis=0)]


CNN_PATHS = ("conv2d_0/w", "conv2d_0/b", "conv2d_1/w", "conv2d_1/b", "dense_0/w", "dense_0/b")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("c_in", [1, 2])
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_cnn_training_matches_reference_formulas_bit_for_bit(name: str, c_in: int, dtype: type[np.floating]) -> None:
    make_opt, ref_update = CASES[name]
    model, in_shape = cnn(c_in)
    g = np.random.default_rng(17)
    x = g.standard_normal((CONV_N, *in_shape)).astype(dtype)
    y = g.integers(0, 3, size=CONV_N)
    x_before = x.copy()
    params = fn.init(model, fn.key(5), in_shape=in_shape, dtype=dtype)
    state = TrainState.create(
        model, params, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=make_opt(),
        key=fn.key(6), batch_size=CONV_BATCH, shuffle=False,
    )
    states = list(fn.train_epochs(state, x, y, epochs=2))

    ps = [np.array(fn.tree_get(params, path)) for path in CNN_PATHS]
    onehot = np.eye(3, dtype=dtype)[y]
    ps, buf = reference_epochs(states, ps, x, onehot, CONV_BATCH, reference_cnn_grads, ref_update)

    final = states[-1]
    for i, path in enumerate(CNN_PATHS):
        assert fn.tree_get(final.params, path).dtype == dtype
        assert_bits(np.asarray(fn.tree_get(final.params, path)), ps[i], path)
        for buffer, values in buf.items():
            assert_bits(np.asarray(fn.tree_get(final.opt_state.buffers, f"{buffer}/{path}")), values[i], buffer)
    assert_bits(x, x_before, "training data")
