"""The open spec registry: custom layers and gradient transforms are saved, loaded and configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeAlias

import attrs
import numpy as np
import pytest

import funcnn as fn
from funcnn._typing import Array, FloatT, Shape
from funcnn.config import from_config, to_config
from funcnn.errors import CheckpointError, ConfigError
from funcnn.layers.base import cache_of, fresh
from funcnn.optim import role_of
from funcnn.registry import BUILTIN, registered, spec_kinds
from funcnn.rng import Key
from funcnn.training import TrainState, last_state, train_epochs

Tree: TypeAlias = fn.FrozenTree[Any]


@fn.register_kind
@attrs.frozen
class Swish:
    """``y = x * sigmoid(beta x)``; a user's param-free layer."""

    kind: ClassVar[str] = "test_swish"
    uses_key: ClassVar[bool] = False
    beta: float = 1.0
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, fn.FrozenTree[FloatT]]:
        return in_shape, fn.FrozenTree()

    def forward(
        self, params: fn.FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], fn.FrozenTree[FloatT]]:
        s = 1.0 / (1.0 + np.exp(-self.beta * x))
        return fresh(x * s), cache_of(x=x, s=s)

    def backward(
        self, params: fn.FrozenTree[FloatT], cache: fn.FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[fn.FrozenTree[FloatT], Array[FloatT]]:
        x, s = cache.leaf("x"), cache.leaf("s")
        return fn.FrozenTree(), fresh(dy * (s + self.beta * x * s * (1.0 - s)))


@fn.register_kind
@attrs.frozen
class Scale(fn.GradientTransform):
    """Multiply every gradient by ``factor``; a user's gradient transform."""

    kind: ClassVar[str] = "test_scale"
    factor: float = 0.5

    def init(self, params: Tree) -> fn.OptState[Any]:
        return fn.OptState(0)

    def update(self, grads: Tree, state: fn.OptState[Any], params: Tree) -> tuple[Tree, fn.OptState[Any]]:
        return fn.tree_map(lambda g: g * self.factor, grads), fn.OptState(state.count + 1)


@attrs.frozen
class Unregistered:
    kind: ClassVar[str] = "test_unregistered"
    uses_key: ClassVar[bool] = False
    beta: float = 1.0
    name: str | None = None

    init = Swish.init
    forward = Swish.forward
    backward = Swish.backward


MODEL = fn.Sequential(fn.Dense(4), Swish(beta=1.5), fn.Dense(2))
IN_SHAPE = (3,)


def _trained(key: fn.Key, optimizer: fn.Optimizer, model: fn.Layer = MODEL) -> TrainState[np.float64]:
    x = fn.rng.generator(key).standard_normal((16, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=IN_SHAPE)
    start = TrainState.create(model, params, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=optimizer,
                              key=fn.fold_in(key, "train"), batch_size=8)
    return last_state(train_epochs(start, x, y, epochs=2))


def test_builtin_kinds_are_listed_explicitly_and_all_registered() -> None:
    kinds = spec_kinds()
    assert all(registered(cls) for cls in BUILTIN)
    assert {"dense", "sequential", "adam", "chain", "test_swish", "test_scale"} <= set(kinds)


def test_a_custom_layer_and_transform_round_trip_through_save_and_load(tmp_path: Path, key: fn.Key) -> None:
    state = _trained(key, fn.chain(Scale(0.25), fn.sgd(0.1)))
    path = fn.save(tmp_path / "custom.npz", state, in_shape=IN_SHAPE)
    back = fn.load(path, dtype=np.float64)
    assert back.model == MODEL and back.optimizer == fn.chain(Scale(0.25), fn.sgd(0.1))
    assert fn.tree_equal(back.params, state.params)
    saved = fn.save_params(tmp_path / "p.npz", MODEL, state.params, in_shape=IN_SHAPE)
    model, params = fn.load_params(saved, dtype=np.float64)
    assert model == MODEL and fn.tree_equal(params, state.params)


def test_a_custom_layer_and_transform_round_trip_through_configs() -> None:
    for spec in (MODEL, fn.chain(fn.clip_by_global_norm(1.0), Scale(0.3), fn.adam(0.01))):
        assert from_config(to_config(spec)) == spec


def test_a_custom_transform_stands_anywhere_in_a_chain_but_penalties_do_not() -> None:
    assert role_of(Scale()) == "transform"
    fn.chain(fn.sgd(0.1), Scale())  # after the optimizer: fine for a transform
    with pytest.raises(ValueError, match="penalties must come before the optimizer"):
        fn.chain(fn.sgd(0.1), fn.l2(0.1))


def test_save_refuses_an_unregistered_kind_and_says_how_to_register(tmp_path: Path, key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(4), Unregistered(), fn.Dense(2))
    state = _trained(key, fn.sgd(0.1), model)
    with pytest.raises(CheckpointError, match=r"test_unregistered.*not registered.*fn\.register_kind"):
        fn.save(tmp_path / "x.npz", state, in_shape=IN_SHAPE)
    assert not (tmp_path / "x.npz").exists()
    with pytest.raises(ConfigError, match="register_kind"):
        to_config(model)


def test_an_unknown_kind_points_to_register_kind_and_the_plugin_option() -> None:
    with pytest.raises(ConfigError, match=r"unknown kind 'my_layer'.*fn\.register_kind or pass --plugin MODULE"):
        from_config({"kind": "my_layer"})


def test_a_clash_of_kinds_fails_at_registration_naming_both_classes() -> None:
    @attrs.frozen
    class OtherSwish:
        kind: ClassVar[str] = "test_swish"

    with pytest.raises(ConfigError, match=r"test_swish.*test_registry\.Swish.*OtherSwish"):
        fn.register_kind(OtherSwish)
    assert spec_kinds()["test_swish"] is Swish
    assert fn.register_kind(Swish) is Swish  # registering the same class again is harmless


def test_register_kind_refuses_a_class_without_a_kind() -> None:
    @attrs.frozen
    class NoKind:
        x: int = 0

    with pytest.raises(ConfigError, match="expected an attrs class with a kind"):
        fn.register_kind(NoKind)
