"""Error messages are part of the API: they name the layer (or loss), what was expected and what came.

Messages are pinned whole (``re.escape`` + ``^...$``) where their wording matters to users.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

import funcnn as fn

EMPTY: fn.FrozenTree[np.float64] = fn.FrozenTree()


def exactly(message: str) -> str:
    return "^" + re.escape(message) + "$"


@pytest.fixture
def mlp(key: fn.Key) -> tuple[fn.Sequential, fn.FrozenTree[np.float64]]:
    model = fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Dense(2))
    return model, fn.init(model, key, in_shape=(3,))


# --- the hierarchy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (fn.ShapeError, ValueError),
        (fn.TreeStructureError, TypeError),
        (fn.MissingRngError, ValueError),
        (fn.NonFiniteLossError, FloatingPointError),
        (fn.CheckpointError, ValueError),
        (fn.ConfigError, ValueError),
        (fn.DataError, ValueError),
    ],
)
def test_every_error_is_a_funcnn_error_and_its_builtin(error: type[Exception], builtin: type[Exception]) -> None:
    assert issubclass(error, fn.FuncnnError) and issubclass(error, builtin)
    assert error.__doc__  # each documents its common causes
    with pytest.raises(builtin):
        raise error("x")


# --- wrong input shapes name the layer, the expected and the actual shape --------------------------


def test_wrong_input_width(mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]]) -> None:
    model, params = mlp
    with pytest.raises(fn.ShapeError, match=exactly("dense_0 Dense(out_dim=4): expected input (batch, 3), got (5, 4)")):
        fn.forward(model, params, np.ones((5, 4)))
    with pytest.raises(fn.ShapeError, match=exactly("dense_0 Dense(out_dim=4): expected input (batch, 3), got (5,)")):
        fn.predict(model, params, np.ones(5))


def test_wrong_width_in_a_later_layer_names_that_layer(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Dense(2))
    params = fn.init(model, key, in_shape=(3,))
    swapped = fn.freeze({"dense_0": params["dense_0"], "dense_1": fn.init(fn.Dense(2), key, in_shape=(5,))})
    with pytest.raises(fn.ShapeError, match=exactly("dense_1 Dense(out_dim=2): expected input (batch, 5), got (2, 4)")):
        fn.forward(model, swapped, np.ones((2, 3)))


def test_nested_layers_are_named_by_path(key: fn.Key) -> None:
    model = fn.Sequential(fn.Sequential(fn.Dense(3), fn.Dense(2), name="encoder"), fn.Dense(1))
    params = fn.init(model, key, in_shape=(4,))
    with pytest.raises(
        fn.ShapeError, match=exactly("encoder/dense_0 Dense(out_dim=3): expected input (batch, 4), got (2, 5)")
    ):
        fn.forward(model, params, np.ones((2, 5)))


def test_dense_on_images_hints_at_flatten(key: fn.Key) -> None:
    with pytest.raises(
        fn.ShapeError,
        match=exactly(
            "dense_0 Dense(out_dim=3): expected a 1-D feature shape (in_dim,), got (28, 28, 1); "
            "add a Flatten() layer before Dense"
        ),
    ):
        fn.init(fn.Sequential(fn.Dense(3)), key, in_shape=(28, 28, 1))
    with pytest.raises(fn.ShapeError, match="^dense_0 Dense"):
        fn.output_shape(fn.Sequential(fn.Dense(3)), (4, 4))


def test_wrong_dy_shape_in_backward(mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]]) -> None:
    model, params = mlp
    _, cache = fn.forward(model, params, np.ones((5, 3)))
    message = "dense_1 Dense(out_dim=2): expected dy of shape (5, 2), got (5, 3)"
    with pytest.raises(fn.ShapeError, match=exactly(message)):
        fn.backward(model, params, cache, np.ones((5, 3)))


@pytest.mark.parametrize(
    ("spec", "x", "dy", "message"),
    [
        (fn.ReLU(), (2, 3), (2, 4), "ReLU(): expected dy of shape (2, 3), got (2, 4)"),
        (fn.LeakyReLU(0.2), (2, 3), (3, 3), "LeakyReLU(alpha=0.2): expected dy of shape (2, 3), got (3, 3)"),
        (fn.Sigmoid(), (2, 3), (2,), "Sigmoid(): expected dy of shape (2, 3), got (2,)"),
        (fn.Tanh(), (2, 3), (2, 3, 1), "Tanh(): expected dy of shape (2, 3), got (2, 3, 1)"),
        (fn.Softmax(), (2, 3), (2, 2), "Softmax(): expected dy of shape (2, 3), got (2, 2)"),
        (fn.Flatten(), (2, 3, 2), (2, 5), "Flatten(): expected dy of shape (2, 6), got (2, 5)"),
    ],
    ids=["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "flatten"],
)
def test_wrong_dy_shape_for_param_free_layers(
    spec: fn.Layer, x: tuple[int, ...], dy: tuple[int, ...], message: str
) -> None:
    _, cache = fn.forward(spec, EMPTY, np.ones(x))
    with pytest.raises(fn.ShapeError, match=exactly(message)):
        fn.backward(spec, EMPTY, cache, np.ones(dy))


def test_dropout_dy_shape_is_checked(key: fn.Key) -> None:
    _, cache = fn.forward(fn.Dropout(0.5), EMPTY, np.ones((4, 2)), key=key, train=True)
    with pytest.raises(fn.ShapeError, match=exactly("Dropout(rate=0.5): expected dy of shape (4, 2), got (2, 4)")):
        fn.backward(fn.Dropout(0.5), EMPTY, cache, np.ones((2, 4)))


def test_scalar_inputs_are_rejected(mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]]) -> None:
    model, params = mlp
    with pytest.raises(fn.ShapeError, match=r"^expected an input with a batch axis \(batch, \.\.\.\), got a scalar"):
        fn.forward(model, params, 3.0)


def test_missing_params_name_the_layer(mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]]) -> None:
    model, params = mlp
    partial = fn.freeze({"dense_0": params["dense_0"]})
    with pytest.raises(fn.TreeStructureError, match="^dense_1 expected an array at 'w'"):
        fn.forward(model, partial, np.ones((2, 3)))


def test_missing_rng_names_the_layer_by_path(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(3), fn.Sequential(fn.Dense(3), fn.Dropout(0.5), name="block"))
    params = fn.init(model, key, in_shape=(2,))
    with pytest.raises(
        fn.MissingRngError,
        match=exactly("block/dropout_0 Dropout(rate=0.5): training mode needs a key; pass key=... or train=False"),
    ):
        fn.forward(model, params, np.ones((2, 2)), train=True)
    fn.forward(model, params, np.ones((2, 2)), train=False)  # inference needs no key


# --- loss targets say what was expected ----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "y", "t", "message"),
    [
        (fn.MSE(), (4, 1), (4,), "MSE(): expected targets of shape (4, 1) (like the predictions), got (4,)"),
        (fn.MSE(), (4, 2), (4, 3), "MSE(): expected targets of shape (4, 2) (like the predictions), got (4, 3)"),
        (
            fn.BinaryCrossEntropy(),
            (4, 2),
            (4,),
            "BinaryCrossEntropy(): expected targets of shape (4, 2) (like the predictions), got (4,)",
        ),
        (
            fn.BinaryCrossEntropy(from_logits=True),
            (4, 1),
            (3,),
            "BinaryCrossEntropy(from_logits=True): expected targets of shape (4, 1) (like the predictions), got (3,)",
        ),
        (
            fn.CategoricalCrossEntropy(),
            (4, 3),
            (4, 2),
            "CategoricalCrossEntropy(): expected one-hot targets of shape (4, 3) or integer labels of shape (4,), "
            "got (4, 2)",
        ),
        (
            fn.CategoricalCrossEntropy(from_logits=True),
            (4, 3),
            (5,),
            "CategoricalCrossEntropy(from_logits=True): expected one-hot targets of shape (4, 3) or integer labels "
            "of shape (4,), got (5,)",
        ),
        (
            fn.CategoricalCrossEntropy(),
            (4,),
            (4,),
            "CategoricalCrossEntropy(): expected predictions of shape (batch, classes), got (4,)",
        ),
    ],
)
def test_mismatched_targets(spec: fn.Loss, y: tuple[int, ...], t: tuple[int, ...], message: str) -> None:
    with pytest.raises(fn.ShapeError, match=exactly(message)):
        fn.loss(spec, np.full(y, 0.5), np.zeros(t, dtype=np.int64))


def test_bad_class_labels() -> None:
    y = np.full((4, 3), 1 / 3)
    with pytest.raises(
        fn.ShapeError,
        match=exactly("CategoricalCrossEntropy(): labels must lie in [0, 2] for 3 classes, got values in [0, 3]"),
    ):
        fn.loss(fn.CategoricalCrossEntropy(), y, np.array([0, 1, 2, 3]))
    with pytest.raises(fn.ShapeError, match=r"1-D targets must be integer class labels, got float64 values"):
        fn.loss(fn.CategoricalCrossEntropy(), y, np.array([0, 1, 2.5, 1]))


def test_loss_predictions_must_be_a_float_array() -> None:
    with pytest.raises(TypeError, match=exactly("loss: predictions must be a float32 or float64 array, got list")):
        fn.loss(fn.MSE(), [[1.0]], [[1.0]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float32 or float64"):
        fn.loss(fn.MSE(), np.ones((2, 1), dtype=np.int64), np.ones((2, 1)))  # type: ignore[type-var]


# --- hyperparameters are validated when a spec is built ------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "pattern"),
    [
        (lambda: fn.Dense(0), ValueError, "out_dim"),
        (lambda: fn.Dense(2.5), TypeError, "out_dim"),  # type: ignore[arg-type]
        (lambda: fn.Dropout(1.0), ValueError, re.escape("Dropout: rate must be in [0, 1), got rate=1.0")),
        (lambda: fn.Dropout(-0.1), ValueError, re.escape("got rate=-0.1")),
        (lambda: fn.LeakyReLU(-0.1), ValueError, "alpha"),
        (lambda: fn.Normal(0.0), ValueError, "std"),
        (lambda: fn.Sequential(fn.Dense(2), fn.Dense(3, name="dense_0")), ValueError, "two layers are named 'dense_0'"),
        (lambda: fn.Sequential(fn.Dense(2, name="my layer")), ValueError, "name='my layer'"),
        (lambda: fn.Sequential(fn.Dense(2), "relu"), TypeError, "argument 1 is not a layer spec, got 'relu'"),  # type: ignore[arg-type]
    ],
)
def test_bad_hyperparameters(build: Callable[[], object], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        build()


def test_bad_init_arguments(mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]], key: fn.Key) -> None:
    model, _ = mlp
    with pytest.raises(fn.ShapeError, match=re.escape("init: in_shape must hold positive sizes, got in_shape=(0,)")):
        fn.init(model, key, in_shape=(0,))
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
        fn.init(model, key, in_shape=(3,), dtype=np.int32)  # type: ignore[type-var]


# --- mismatched trees list missing and extra paths -----------------------------------------------


def test_sgd_step_with_mismatched_grads(mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]]) -> None:
    _, params = mlp
    grads: fn.FrozenTree[np.float64] = fn.freeze({"dense_0": params["dense_0"], "dense_9": {"w": np.zeros(1)}})
    with pytest.raises(
        fn.TreeStructureError,
        match=exactly("grads do not mirror params: missing paths: dense_1/b, dense_1/w; extra paths: dense_9/w"),
    ):
        fn.sgd_step(params, grads, lr=0.1)
    as32 = fn.tree_map(lambda a: a.astype(np.float32), params)
    with pytest.raises(fn.TreeStructureError, match="dense_0/b: expected dtype float64, got float32"):
        fn.sgd_step(params, as32, lr=0.1)


def test_sgd_step_rejects_bad_learning_rates(mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]]) -> None:
    _, params = mlp
    for lr in (-1.0, 0.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr must be a finite number > 0"):
            fn.sgd_step(params, params, lr=lr)


# --- training errors (kept loose: train.py is still growing) --------------------------------------


def test_train_rejects_mismatched_data(mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]], key: fn.Key) -> None:
    model, params = mlp
    with pytest.raises(fn.ShapeError, match="same number of samples, got 5 and 4"):
        fn.train(model, params, np.ones((5, 3)), np.ones((4, 2)), loss=fn.MSE(), lr=0.1, epochs=1, key=key)
    with pytest.raises(fn.ShapeError, match=re.escape("MSE(): expected targets of shape (5, 2)")):
        fn.train(model, params, np.ones((5, 3)), np.ones((5, 3)), loss=fn.MSE(), lr=0.1, epochs=1, key=key)
    with pytest.raises(fn.ShapeError, match=re.escape("dense_0 Dense(out_dim=4)")):
        fn.train(model, params, np.ones((5, 4)), np.ones((5, 2)), loss=fn.MSE(), lr=0.1, epochs=1, key=key)


def test_train_reports_a_non_finite_cost_with_epoch_and_step(
    mlp: tuple[fn.Sequential, fn.FrozenTree[np.float64]], key: fn.Key
) -> None:
    model, params = mlp
    x, y = np.linspace(-1, 1, 15).reshape(5, 3), np.ones((5, 2))
    with pytest.raises(fn.NonFiniteLossError, match=r"epoch \d+.*step \d+"):
        fn.train(model, params, x, y, loss=fn.MSE(), lr=1e10, epochs=50, key=key)
