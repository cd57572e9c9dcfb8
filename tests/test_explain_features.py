"""funcnn.explain.top_activations (against a brute-force scan), receptive fields, and maximize."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn import explain
from funcnn.errors import ExplainError
from funcnn.rng import generator

F64 = NDArray[np.float64]

CNN = fn.Sequential(
    fn.Conv2D(3, 3, padding="same"), fn.ReLU(), fn.MaxPool2D(2),
    fn.Conv2D(4, 3, stride=2, padding=1), fn.ReLU(), fn.Flatten(), fn.Dense(5),
)  # fmt: skip


@pytest.fixture
def data(key: fn.Key) -> tuple[fn.FrozenTree[np.float64], F64]:
    params = fn.init(CNN, key, in_shape=(10, 9, 2))
    x = generator(fn.fold_in(key, "x")).standard_normal((23, 10, 9, 2))
    x[7] = x[3]  # a duplicated sample: its ties go to the earlier index
    return params, x


def brute_force(acts: F64, channel: int, k: int) -> list[tuple[float, int, tuple[int, ...]]]:
    """Every (value, sample, position) of the channel, sorted strongest first, ties by sample then position."""
    entries = []
    for i in range(acts.shape[0]):
        for pos in np.ndindex(acts.shape[1:-1]):
            entries.append((float(acts[(i, *pos, channel)]), i, tuple(int(p) for p in pos)))
    return sorted(entries, key=lambda e: (-e[0], e[1], e[2]))[:k]


@pytest.mark.parametrize("layer", ["conv2d_0", "relu_0", "max_pool2d_0", "relu_1", "dense_0"])
@pytest.mark.parametrize("batch_size", [1, 5, 100])
def test_top_activations_agree_with_a_brute_force_scan(layer: str, batch_size: int,
                                                       data: tuple[fn.FrozenTree[np.float64], F64]) -> None:
    params, x = data
    acts = fn.tree_get(explain.activations(CNN, params, x), layer)
    channel = acts.shape[-1] - 1
    top = explain.top_activations(CNN, params, x, layer, channel, k=11, batch_size=batch_size)
    expected = brute_force(acts, channel, 11)
    # a batch of 1 may round a dense product differently in the last bit than a batch of 23
    np.testing.assert_allclose(top.value, [e[0] for e in expected], rtol=1e-13)
    assert top.index.tolist() == [e[1] for e in expected]
    assert [tuple(p) for p in top.position.tolist()] == [e[2] for e in expected]
    assert 3 in top.index.tolist() or 7 not in top.index.tolist()  # the duplicate never beats its original


def test_patches_are_the_input_under_each_receptive_field(data: tuple[fn.FrozenTree[np.float64], F64]) -> None:
    params, x = data
    top = explain.top_activations(CNN, params, x, "relu_1", 1, k=12, batch_size=6)
    # field: conv 3 (3 pixels, jump 1), pool 2 (4, jump 2), conv 3 stride 2 (4 + 2·2 = 8, jump 4);
    # offset: -1 (pad 1 at jump 1) - 2 (pad 1 at jump 2) = -3
    assert top.patches.shape == (12, 8, 8, 2)
    for m in range(12):
        t, left, b, r = top.field[m]
        assert (b - t, r - left) == (8, 8) and (t - top.position[m, 0] * 4, left - top.position[m, 1] * 4) == (-3, -3)
        for a in range(8):
            for c in range(8):
                inside = 0 <= t + a < 10 and 0 <= left + c < 9
                expected = x[top.index[m], t + a, left + c] if inside else np.zeros(2)
                np.testing.assert_array_equal(top.patches[m, a, c], expected)


def test_the_receptive_field_holds_everything_the_activation_depends_on(
    data: tuple[fn.FrozenTree[np.float64], F64], key: fn.Key
) -> None:
    params, x = data
    top = explain.top_activations(CNN, params, x, "conv2d_1", 2, k=6)
    noise = generator(fn.fold_in(key, "noise")).standard_normal(x.shape[1:])
    for m in range(6):
        t, left, b, r = top.field[m]
        inside = np.zeros(x.shape[1:3], dtype=bool)
        inside[max(t, 0) : b, max(left, 0) : r] = True
        pos = (0, *top.position[m], 2)
        changed_outside = np.where(inside[..., None], x[top.index[m]], noise)[None]
        a = fn.tree_get(explain.activations(CNN, params, changed_outside), "conv2d_1")[pos]
        assert a == pytest.approx(float(top.value[m]), rel=1e-12, abs=1e-12)
        changed_inside = np.where(inside[..., None], noise, x[top.index[m]])[None]
        assert fn.tree_get(explain.activations(CNN, params, changed_inside), "conv2d_1")[pos] != top.value[m]


def test_projections_are_the_deconvnet_of_each_activation_alone(data: tuple[fn.FrozenTree[np.float64], F64]) -> None:
    params, x = data
    top = explain.top_activations(CNN, params, x, "relu_1", 0, k=4)
    prefix = fn.Sequential(*CNN.layers[:5], fn.Flatten(), fn.Dense(1, name="probe"))
    for m in range(4):
        dy = np.zeros((1, 3, 2, 4))  # relu_1's output for a 10 x 9 image: (3, 2, 4)
        dy[(0, *top.position[m], 0)] = top.value[m]
        probe = fn.freeze({"conv2d_0": params["conv2d_0"], "conv2d_1": params["conv2d_1"],
                           "probe": {"w": dy.reshape(-1, 1), "b": np.zeros(1)}})
        full = explain.deconvnet(prefix, probe, x[top.index[m] : top.index[m] + 1], 0)[0]
        t, left, b, r = top.field[m]
        padded = np.pad(full, ((10, 10), (10, 10), (0, 0)))
        np.testing.assert_allclose(top.projections[m], padded[t + 10 : b + 10, left + 10 : r + 10], atol=1e-14)
        outside = full.copy()
        outside[max(t, 0) : b, max(left, 0) : r] = 0.0
        assert not np.any(outside)  # nothing leaks outside the receptive field


def test_a_dense_layer_has_the_whole_image_as_its_field(data: tuple[fn.FrozenTree[np.float64], F64]) -> None:
    params, x = data
    top = explain.top_activations(CNN, params, x, "dense_0", 3, k=3)
    assert top.position.shape == (3, 0) and top.field.tolist() == [[0, 0, 10, 9]] * 3
    np.testing.assert_array_equal(top.patches, x[top.index])


def test_top_activations_is_pure_keeps_float32_and_reports_bad_arguments(key: fn.Key) -> None:
    params = fn.init(CNN, key, in_shape=(10, 9, 2), dtype=np.float32)
    x = generator(fn.fold_in(key, "x")).standard_normal((5, 10, 9, 2)).astype(np.float32)
    before = x.copy()
    top = explain.top_activations(CNN, params, x, "relu_0", 0, k=20, batch_size=2)
    np.testing.assert_array_equal(x, before)
    for a in (top.value, top.patches, top.projections):
        assert a.dtype == np.float32 and not a.flags.writeable
    assert top.index.dtype == np.int64 and not top.index.flags.writeable
    with pytest.raises(ExplainError, match="k must be an int >= 1"):
        explain.top_activations(CNN, params, x, "relu_0", 0, k=0)
    with pytest.raises(ExplainError, match=r"relu_0: expected a channel in \[0, 3\)"):
        explain.top_activations(CNN, params, x, "relu_0", 3)
    with pytest.raises(ExplainError, match="no such layer path"):
        explain.top_activations(CNN, params, x, "relu_9", 0)


# --- maximize ------------------------------------------------------------------------------------------------


def _objective(params: fn.FrozenTree[np.float32], images: NDArray[np.float32], layer: str, channel: int) -> float:
    a = fn.tree_get(explain.activations(CNN, params, images), layer)
    return float(np.mean(a[..., channel]))


def test_maximize_is_deterministic_for_a_key_and_raises_the_activation(key: fn.Key) -> None:
    params = fn.init(CNN, key, in_shape=(10, 9, 2), dtype=np.float32)
    params_before = copy.deepcopy(fn.thaw(params))
    kwargs = {"in_shape": (10, 9, 2), "steps": 30, "lr": 0.5, "l2": 1e-3, "jitter": 1}
    a = explain.maximize(CNN, params, "relu_1", 2, fn.key(5), **kwargs)  # type: ignore[arg-type]
    b = explain.maximize(CNN, params, "relu_1", 2, fn.key(5), **kwargs)  # type: ignore[arg-type]
    c = explain.maximize(CNN, params, "relu_1", 2, fn.key(6), **kwargs)  # type: ignore[arg-type]
    assert a.shape == (31, 10, 9, 2) and a.dtype == np.float32 and not a.flags.writeable
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert _objective(params, a[-1:], "relu_1", 2) > _objective(params, a[:1], "relu_1", 2)
    assert fn.tree_equal(params, fn.freeze(params_before))


def test_maximize_several_classes_in_one_batch(key: fn.Key) -> None:
    params = fn.init(CNN, key, in_shape=(10, 9, 2))
    images = explain.maximize(CNN, params, "dense_0", [0, 3, 4], fn.key(1), in_shape=(10, 9, 2), steps=10, lr=0.1)
    assert images.shape == (11, 3, 10, 9, 2)
    for i, cls in enumerate([0, 3, 4]):
        alone = explain.maximize(CNN, params, "dense_0", cls, fn.key(1), in_shape=(10, 9, 2), steps=0, lr=0.1)
        assert alone.shape == (1, 10, 9, 2)
        out = fn.predict(CNN, params, images[:, i])[:, cls]
        assert out[-1] > out[0]  # each image excites its own class
    start = images[0]
    assert np.allclose(start.mean(), 0.0, atol=0.05) and 0.05 < start.std() < 0.2  # grey 0 plus noise 0.1


def test_maximize_reports_bad_arguments(key: fn.Key) -> None:
    params = fn.init(CNN, key, in_shape=(10, 9, 2))
    with pytest.raises(ExplainError, match=r"dense_0: expected a channel in \[0, 5\)"):
        explain.maximize(CNN, params, "dense_0", 5, key, in_shape=(10, 9, 2), steps=1, lr=0.1)
    with pytest.raises(ExplainError, match=r"dense_0: expected a channel in \[0, 5\)"):
        explain.maximize(CNN, params, "dense_0", 5, key, in_shape=(10, 9, 2), steps=0, lr=0.1)
    with pytest.raises(ExplainError, match="lr > 0"):
        explain.maximize(CNN, params, "dense_0", 0, key, in_shape=(10, 9, 2), steps=1, lr=0.0)
    with pytest.raises(ExplainError, match="steps must be an int >= 0"):
        explain.maximize(CNN, params, "dense_0", 0, key, in_shape=(10, 9, 2), steps=-1, lr=0.1)
