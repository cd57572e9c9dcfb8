"""Sequential: layer naming, param keys, nesting, shapes from init, predict and backward."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.rng import generator


def test_layer_names_use_per_kind_counters() -> None:
    model = fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Dense(3), fn.ReLU(), fn.Dropout(0.1), fn.Dense(2))
    assert model.names == ("dense_0", "relu_0", "dense_1", "relu_1", "dropout_0", "dense_2")
    assert [name for name, _ in model.named_layers()] == list(model.names)


def test_param_keys_follow_the_style_guide(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(4), fn.Tanh(), fn.Dense(2))
    params = fn.init(model, key, in_shape=(3,))
    # param-free layers have no entry; dense w is (in, out), b is (out,)
    assert {p: a.shape for p, a in fn.tree_flatten(params).items()} == {
        "dense_0/b": (4,),
        "dense_0/w": (3, 4),
        "dense_1/b": (2,),
        "dense_1/w": (4, 2),
    }


def test_adding_activations_keeps_dense_names_and_values(key: fn.Key) -> None:
    plain = fn.Sequential(fn.Dense(5), fn.Dense(3), fn.Dense(1))
    rich = fn.Sequential(fn.Dense(5), fn.ReLU(), fn.Dropout(0.2), fn.Dense(3), fn.Tanh(), fn.Dense(1), fn.Sigmoid())
    a, b = fn.init(plain, key, in_shape=(2,)), fn.init(rich, key, in_shape=(2,))
    # same paths, and bit-identical values: each layer's key is folded from its name
    assert fn.tree_paths(a) == fn.tree_paths(b)
    assert fn.tree_equal(a, b)


def test_explicit_names_are_used_and_do_not_consume_counters(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(4, name="hidden"), fn.Dense(2))
    assert model.names == ("hidden", "dense_0")
    params = fn.init(model, key, in_shape=(3,))
    assert fn.tree_paths(params) == ["dense_0/b", "dense_0/w", "hidden/b", "hidden/w"]


def test_nested_sequentials_nest_params_one_level_per_container(key: fn.Key) -> None:
    encoder = fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Dense(3), name="encoder")
    model = fn.Sequential(encoder, fn.Sequential(fn.Dense(2)), fn.Dense(1))
    assert model.names == ("encoder", "sequential_0", "dense_0")
    params = fn.init(model, key, in_shape=(5,))
    assert fn.tree_paths(params) == [
        "dense_0/b",
        "dense_0/w",
        "encoder/dense_0/b",
        "encoder/dense_0/w",
        "encoder/dense_1/b",
        "encoder/dense_1/w",
        "sequential_0/dense_0/b",
        "sequential_0/dense_0/w",
    ]
    x = generator(key).standard_normal((6, 5))
    y, cache = fn.forward(model, params, x)
    assert y.shape == (6, 1)
    # the nested run equals running the pieces by hand, each with its own params
    h, _ = fn.forward(encoder, params["encoder"], x)  # type: ignore[arg-type]
    h, _ = fn.forward(fn.Sequential(fn.Dense(2)), params["sequential_0"], h)  # type: ignore[arg-type]
    expected, _ = fn.forward(fn.Dense(1), params["dense_0"], h)  # type: ignore[arg-type]
    np.testing.assert_array_equal(y, expected)
    grads, dx = fn.backward(model, params, cache, np.ones_like(y))
    fn.assert_same_structure(params, grads)
    assert dx.shape == x.shape


def test_flattening_a_stack_into_a_container_changes_only_the_prefix(key: fn.Key) -> None:
    inner = fn.Sequential(fn.Dense(3), fn.Tanh(), fn.Dense(2), name="body")
    nested = fn.init(fn.Sequential(inner), key, in_shape=(4,))
    flat = fn.init(inner, fn.fold_in(key, "body"), in_shape=(4,))
    assert fn.tree_equal(nested["body"], flat)  # type: ignore[arg-type]


@given(
    in_shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    widths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
)
def test_output_shapes_are_known_from_init_before_any_data(in_shape: tuple[int, ...], widths: list[int]) -> None:
    layers: list[fn.Layer] = [fn.Flatten()]
    for w in widths:
        layers += [fn.Dense(w), fn.Tanh()]
    model = fn.Sequential(*layers)
    assert fn.output_shape(model, in_shape) == (widths[-1],)
    params = fn.init(model, fn.key(0), in_shape=in_shape)
    y, _ = fn.forward(model, params, np.zeros((2, *in_shape)))
    assert y.shape == (2, widths[-1])
    # dense input widths are inferred: the first sees prod(in_shape) features
    assert fn.tree_get(params, "dense_0/w").shape == (int(np.prod(in_shape)), widths[0])
    for i in range(1, len(widths)):
        assert fn.tree_get(params, f"dense_{i}/w").shape == (widths[i - 1], widths[i])


def test_predict_is_forward_in_inference_mode(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(8), fn.ReLU(), fn.Dropout(0.5), fn.Dense(2), fn.Softmax())
    params = fn.init(model, key, in_shape=(3,))
    x = generator(key).standard_normal((10, 3))
    y_eval, _ = fn.forward(model, params, x, train=False)
    np.testing.assert_array_equal(fn.predict(model, params, x), y_eval)
    y_train, _ = fn.forward(model, params, x, key=key, train=True)
    assert not np.array_equal(y_train, y_eval)  # dropout is active only in training
    np.testing.assert_allclose(y_eval.sum(axis=1), np.ones(10), rtol=1e-14)


def test_inputs_are_cast_once_to_the_params_dtype(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(2, w_init=fn.Constant(1.0)))
    params = fn.init(model, key, in_shape=(3,))
    y = fn.predict(model, params, [[1, 2, 3]])  # a nested list of ints
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[6.0, 6.0]])


def test_backward_without_dx_gives_the_same_grads(key: fn.Key) -> None:
    model = fn.Sequential(fn.Flatten(), fn.Identity(), fn.Dense(3), fn.Tanh(), fn.Dense(2))
    params = fn.init(model, key, in_shape=(2, 2))
    x = generator(key).standard_normal((4, 2, 2))
    y, cache = fn.forward(model, params, x)
    grads, dx = fn.backward(model, params, cache, np.ones_like(y))
    grads2, dx2 = fn.backward(model, params, cache, np.ones_like(y), need_dx=False)
    assert fn.tree_equal(grads, grads2)
    assert dx.shape == x.shape and dx2.size == 0


def test_every_layer_has_a_cache_entry(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(3), fn.ReLU(), fn.Identity(), fn.Dense(1))
    params = fn.init(model, key, in_shape=(2,))
    _, cache = fn.forward(model, params, np.ones((2, 2)))
    assert set(cache) == set(model.names)


def test_an_empty_sequential_is_the_identity(key: fn.Key) -> None:
    model = fn.Sequential()
    params = fn.init(model, key, in_shape=(3,))
    assert len(params) == 0
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(fn.predict(model, params, x), x)
    assert fn.output_shape(model, (3,)) == (3,)


def test_sequential_specs_compare_by_layers() -> None:
    assert fn.Sequential(fn.Dense(2), fn.ReLU()) == fn.Sequential(fn.Dense(2), fn.ReLU())
    assert fn.Sequential(fn.Dense(2)) != fn.Sequential(fn.Dense(3))
    assert fn.Sequential(fn.Dense(2)).uses_key is False
    assert fn.Sequential(fn.Sequential(fn.Dropout(0.5))).uses_key is True


def test_layer_specs_are_frozen_with_short_reprs() -> None:
    spec = fn.Dense(3, w_init=fn.Constant(0.5))
    assert repr(spec) == "Dense(out_dim=3, w_init=Constant(value=0.5))"
    assert repr(fn.LeakyReLU()) == "LeakyReLU()"
    assert repr(fn.LeakyReLU(0.2, name="act")) == "LeakyReLU(alpha=0.2, name='act')"
    with pytest.raises(AttributeError):
        spec.out_dim = 4  # type: ignore[misc]
    kinds = [fn.Dense.kind, fn.Identity.kind, fn.ReLU.kind, fn.LeakyReLU.kind, fn.Sigmoid.kind, fn.Tanh.kind]
    kinds += [fn.Softmax.kind, fn.Dropout.kind, fn.Flatten.kind, fn.Sequential.kind]
    assert kinds == [
        "dense",
        "identity",
        "relu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "softmax",
        "dropout",
        "flatten",
        "sequential",
    ]
