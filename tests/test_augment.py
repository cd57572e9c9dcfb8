"""funcnn.augment: exactness properties, statistics over many keys, dtypes, errors, and training with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn.augment import (
    FILLS,
    Augmentation,
    Compose,
    RandomBrightness,
    RandomFlip,
    RandomRotation,
    RandomShear,
    RandomShift,
    RandomZoom,
    apply_affine,
)
from funcnn.batching import epoch_batches
from funcnn.config import from_config, to_config
from funcnn.errors import ShapeError
from funcnn.io.checkpoint import load, save
from funcnn.layers.conv import Conv2D
from funcnn.rng import generator
from funcnn.training import TrainState, last_state, train_epochs, train_steps


def images(key: fn.Key, shape: tuple[int, ...] = (6, 7, 7, 2), dtype: type = np.float32) -> NDArray[Any]:
    g = generator(key)
    if dtype == np.uint8:
        return g.integers(0, 256, size=shape, dtype=np.uint8)
    return g.standard_normal(shape).astype(dtype)


GEOMETRIC_ZERO = [
    RandomRotation(0.0), RandomShift(0.0, 0.0), RandomShear(0.0), RandomZoom(0.0),
]  # fmt: skip


# --- exactness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_zero_transforms_are_the_identity_bit_for_bit(key: fn.Key, interpolation: str, fill: str, dtype: type) -> None:
    x = images(key, dtype=dtype)
    x.flags.writeable = False
    specs: list[Augmentation] = [RandomRotation(0.0, fill=fill, interpolation=interpolation),  # type: ignore[arg-type]
             RandomShift(0.0, 0.0, fill=fill, interpolation=interpolation),  # type: ignore[arg-type]
             RandomShear(0.0, fill=fill, interpolation=interpolation),  # type: ignore[arg-type]
             RandomZoom(0.0, fill=fill, interpolation=interpolation)]  # type: ignore[arg-type]
    for spec in [*specs, Compose(specs)]:
        y = spec(fn.fold_in(key, "aug"), x)
        assert y.dtype == x.dtype and y.shape == x.shape
        assert y.tobytes() == x.tobytes(), spec
        assert y is not x and y.flags.writeable


def test_flipping_twice_with_the_same_key_is_the_identity(key: fn.Key) -> None:
    x = images(key, (40, 5, 6, 3))
    spec = RandomFlip(horizontal=True, vertical=True)
    once = spec(key, x)
    assert np.array_equal(spec(key, once), x)
    flipped_h = np.all(once == x[:, :, ::-1], axis=(1, 2, 3))
    assert 0 < flipped_h.sum() < 40  # each sample draws its own flip
    # Inside a Compose with another geometric map the flip is part of the one affine map.
    both = Compose([spec, RandomShift(0.0, 0.0, interpolation="nearest")])
    assert np.array_equal(both(key, both(key, x)), x)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_rotation_by_90_degrees_with_nearest_is_rot90(key: fn.Key, dtype: type) -> None:
    for size in (6, 7):
        x = images(key, (3, size, size, 2), dtype)
        for angle, k in ((90.0, 1), (-90.0, -1), (180.0, 2)):
            y = RandomRotation((angle, angle), interpolation="nearest")(key, x)
            assert np.array_equal(y, np.rot90(x, k=k, axes=(1, 2))), (size, angle)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_integer_shift_with_constant_fill(key: fn.Key, interpolation: str) -> None:
    x = images(key, (2, 8, 8, 1))
    spec = RandomShift((0.25, 0.25), (-0.125, -0.125), fill="constant", value=9.0, interpolation=interpolation)  # type: ignore[arg-type]
    expected = np.full_like(x, 9.0)
    expected[:, 2:, :7] = x[:, :6, 1:]  # down by 2 rows, left by 1 column
    assert np.array_equal(spec(key, x), expected)


def test_fill_modes_bring_in_the_documented_pixels(key: fn.Key) -> None:
    row = np.arange(1.0, 5.0, dtype=np.float32)  # a b c d = 1 2 3 4
    x = np.broadcast_to(row, (1, 4, 4)).copy()[..., None]
    def shifted(fill: str) -> NDArray[np.float32]:  # content moves right by 2 columns
        spec = RandomShift(0.0, (0.5, 0.5), fill=fill, value=-1.0, interpolation="nearest")  # type: ignore[arg-type]
        return spec(key, x)[0, 0, :, 0]
    assert shifted("constant").tolist() == [-1, -1, 1, 2]
    assert shifted("nearest").tolist() == [1, 1, 1, 2]
    assert shifted("reflect").tolist() == [2, 1, 1, 2]
    assert shifted("wrap").tolist() == [3, 4, 1, 2]


def test_three_dimensional_batches_are_single_channel_images(key: fn.Key) -> None:
    x = images(key, (4, 6, 6))
    spec = RandomRotation(30.0)
    y = spec(key, x)
    assert y.shape == x.shape
    assert np.array_equal(y, spec(key, x[..., None])[..., 0])


# --- dtypes, purity, keys -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_dtype_is_kept_and_input_untouched(key: fn.Key, dtype: type) -> None:
    x = images(key, (5, 9, 9, 3), dtype)
    before = x.copy()
    spec = Compose([RandomFlip(), RandomRotation(40.0), RandomShift(0.2, 0.2), RandomShear(10.0),
                    RandomZoom(0.2), RandomBrightness(0.3)])
    y = spec(key, x)
    assert y.dtype == dtype and y.shape == x.shape
    assert np.array_equal(x, before)
    assert np.array_equal(y, spec(key, x))  # a pure function of (key, x)
    assert not np.array_equal(y, spec(fn.fold_in(key, 1), x))


def test_compose_is_one_map_sampled_once(key: fn.Key) -> None:
    """Compose multiplies its members' maps: the result equals apply_affine of the product."""
    x = images(key, (4, 10, 10, 1))
    members: list[RandomRotation | RandomZoom | RandomShift] = [
        RandomRotation(30.0), RandomZoom(0.2), RandomShift(0.1, 0.1),
    ]  # fmt: skip
    spec = Compose(members)
    maps = np.broadcast_to(np.eye(3), (4, 3, 3))
    for i, m in enumerate(members):
        maps = m.matrices(fn.fold_in(key, i), 4, 10, 10) @ maps
    assert np.array_equal(spec(key, x), apply_affine(x, maps))


def test_nested_compose_is_flattened() -> None:
    inner = Compose([RandomFlip(), RandomRotation(5.0)])
    assert Compose([inner, RandomZoom(0.1)]).specs == (RandomFlip(), RandomRotation(5.0), RandomZoom(0.1))


# --- statistics over many keys ------------------------------------------------------------------


def test_rotation_angles_are_uniform_in_range(key: fn.Key) -> None:
    m = RandomRotation(45.0).matrices(key, 20000, 28, 28)
    angles = np.rad2deg(np.arctan2(m[:, 0, 1], m[:, 0, 0]))
    assert angles.min() >= -45.0 and angles.max() <= 45.0
    assert abs(angles.mean()) < 0.5  # sd of the mean: 26 / sqrt(20000) = 0.18
    assert abs(angles.std() - 90.0 / np.sqrt(12.0)) < 0.5


def test_shift_moves_a_dot_within_range_and_centred(key: fn.Key) -> None:
    x = np.zeros((4000, 21, 21, 1), dtype=np.float32)
    x[:, 10, 10] = 1.0
    y = RandomShift(0.2, (0.0, 0.3), fill="constant", interpolation="nearest")(key, x)
    where = np.argmax(y[..., 0].reshape(4000, -1), axis=1)
    rows, cols = where // 21 - 10, where % 21 - 10
    assert y.reshape(4000, -1).sum(axis=1).min() == 1.0  # the dot never leaves the image
    assert np.abs(rows).max() <= round(0.2 * 21) and rows.min() < 0 < rows.max()
    assert cols.min() >= 0 and cols.max() <= round(0.3 * 21)
    assert abs(rows.mean()) < 0.15 and abs(cols.mean() - 3.15) < 0.2


def test_zoom_shear_and_brightness_ranges(key: fn.Key) -> None:
    z = RandomZoom((-0.1, 0.3)).matrices(key, 5000, 8, 8)[:, 0, 0]
    assert 0.9 <= z.min() and z.max() <= 1.3 and abs(z.mean() - 1.1) < 0.01
    s = RandomShear(20.0).matrices(key, 5000, 8, 8)[:, 0, 1]
    assert np.abs(s).max() <= np.tan(np.deg2rad(20.0)) and abs(s.mean()) < 0.01
    x = np.ones((5000, 2, 2, 1), dtype=np.float32)
    factors = RandomBrightness(0.25)(key, x)[:, 0, 0, 0]
    assert 0.75 <= factors.min() and factors.max() <= 1.25 and abs(factors.mean() - 1.0) < 0.01
    assert np.all(RandomBrightness(0.25)(key, x) == factors[:, None, None, None])  # one factor per sample


def test_flip_probability_is_one_half(key: fn.Key) -> None:
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 4, 1).repeat(10000, axis=0)
    flipped = RandomFlip()(key, x)[:, 0, 0, 0] == 3.0
    assert abs(flipped.mean() - 0.5) < 0.02


def test_uint8_brightness_is_rounded_and_clipped(key: fn.Key) -> None:
    x = np.full((50, 2, 2, 1), 250, dtype=np.uint8)
    y = RandomBrightness((0.5, 0.5))(key, x)
    assert y.dtype == np.uint8 and np.all(y == 255)


# --- specs: validation and configs --------------------------------------------------------------


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="degrees"):
        RandomRotation((10.0, -10.0))
    with pytest.raises(ValueError, match="fill"):
        RandomRotation(10.0, fill="mirror")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="range"):
        RandomZoom((-1.0, 0.2))
    with pytest.raises(ValueError, match="-90, 90"):
        RandomShear(90.0)
    with pytest.raises(ValueError, match="agree on"):
        Compose([RandomRotation(10.0, fill="constant"), RandomZoom(0.1)])
    with pytest.raises(TypeError, match="member 0"):
        Compose([fn.Dense(3)])  # type: ignore[list-item]


def test_bad_inputs_name_the_spec(key: fn.Key) -> None:
    with pytest.raises(ShapeError, match=r"RandomRotation.*channels-last.*\(4, 10\)"):
        RandomRotation(10.0)(key, np.zeros((4, 10), dtype=np.float32))
    with pytest.raises(TypeError, match="int64"):
        RandomRotation(10.0)(key, np.zeros((1, 3, 3, 1), dtype=np.int64))  # type: ignore[type-var]


def test_specs_round_trip_through_configs() -> None:
    spec = Compose([
        RandomFlip(vertical=True), RandomRotation(45.0, fill="reflect"), RandomShift(0.2, (0.0, 0.1), fill="reflect"),
        RandomShear(11.5, fill="reflect"), RandomZoom(0.2, fill="reflect"), RandomBrightness(0.1),
    ])  # fmt: skip
    assert from_config(to_config(spec)) == spec


# --- training with augmentation -----------------------------------------------------------------


def cnn_state(key: fn.Key, augment: Compose | None) -> TrainState[np.float32]:
    model = fn.Sequential(Conv2D(3, 3), fn.ReLU(), fn.Flatten(), fn.Dropout(0.2), fn.Dense(3))
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=(6, 6, 1), dtype=np.float32)
    return TrainState.create(model, params, loss=fn.CategoricalCrossEntropy(from_logits=True),
                             optimizer=fn.adam(0.01), key=fn.fold_in(key, "run"), batch_size=8, augment=augment)


def cnn_data(key: fn.Key) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    x = images(key, (30, 6, 6, 1))
    return x, generator(fn.fold_in(key, "y")).integers(0, 3, size=30)


AUGMENT = Compose([RandomFlip(), RandomRotation(20.0), RandomShift(0.1, 0.1), RandomBrightness(0.1)])


def test_training_batches_are_augmented_with_step_keys(key: fn.Key) -> None:
    x, y = cnn_data(key)
    plain = last_state(train_epochs(cnn_state(key, None), x, y, epochs=2))
    augmented = last_state(train_epochs(cnn_state(key, AUGMENT), x, y, epochs=2))
    assert not np.array_equal(fn.tree_get(plain.params, "dense_0/w"), fn.tree_get(augmented.params, "dense_0/w"))
    # Step 0's batch, augmented by hand with fold_in(fold_in(key, "augment"), 0), gives the same first step.
    start = cnn_state(key, AUGMENT)
    first = next(train_steps(start, x, y, epochs=1))[0]
    by_hand = cnn_state(key, None)
    order = epoch_batches(start.key, 30, 8, 0, shuffle=True, sampling="permutation")
    assert order is not None
    xb = AUGMENT(fn.fold_in(fn.fold_in(start.key, "augment"), 0), x[order[0]])
    dropout_key = fn.fold_in(fn.fold_in(start.key, "dropout"), 0)
    yb, cache = by_hand.model.forward(by_hand.params, xb, key=dropout_key, train=True)
    _, dy = by_hand.loss.value_and_grad(yb, by_hand.loss.check_targets(yb, y[order[0]]))
    grads, _ = by_hand.model.backward(by_hand.params, cache, dy, need_dx=False)
    params, _ = fn.apply_step(by_hand.optimizer, grads, by_hand.opt_state, by_hand.params)
    assert fn.tree_equal(params, first.params)


def test_resume_with_augmentation_is_bit_exact(tmp_path: Path, key: fn.Key) -> None:
    x, y = cnn_data(key)
    start = cnn_state(key, AUGMENT)
    straight = last_state(train_epochs(start, x, y, epochs=4))
    half = last_state(train_epochs(start, x, y, epochs=2))
    resumed_in_memory = last_state(train_epochs(half, x, y, epochs=4))
    loaded = load(save(tmp_path / "half.npz", half, in_shape=(6, 6, 1)), dtype=np.float32)
    assert loaded.augment == AUGMENT
    resumed = last_state(train_epochs(loaded, x, y, epochs=4))
    for other in (resumed_in_memory, resumed):
        assert fn.tree_equal(straight.params, other.params)
        assert fn.tree_equal(straight.opt_state.buffers, other.opt_state.buffers)
        assert np.array_equal(straight.history.cost, other.history.cost)


# --- the compact text syntax --------------------------------------------------------------------


def test_from_text_builds_the_specs_in_order() -> None:
    spec = Compose.from_text("flip, rotate=45, shift=0.2, shear=10, zoom=0.2, brightness=0.1, fill=reflect")
    assert spec == Compose([
        RandomFlip(), RandomRotation(45.0, fill="reflect"), RandomShift(0.2, 0.2, fill="reflect"),
        RandomShear(10.0, fill="reflect"), RandomZoom(0.2, fill="reflect"), RandomBrightness(0.1),
    ])  # fmt: skip
    sampled = Compose.from_text("flip=both,zoom=0.1,fill=constant,value=0.5,interpolation=nearest")
    assert sampled.specs == (RandomFlip(vertical=True),
                             RandomZoom(0.1, fill="constant", value=0.5, interpolation="nearest"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("blur=2", "unknown item 'blur'"),
        ("rotate", "rotate needs a value, e.g. rotate=45"),
        ("rotate=x", "rotate=x is not a number"),
        ("flip=up", "horizontal, vertical or both"),
        ("fill=mirror,flip", "fill=mirror must be one of nearest, constant, reflect, wrap"),
        ("fill=constant", "no augmentation"),
        ("zoom=-2", "RandomZoom"),
    ],
)
def test_from_text_errors_name_the_item(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Compose.from_text(text)
