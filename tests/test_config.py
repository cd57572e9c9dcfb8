"""Specs to and from plain data: exact round trips, clear errors, TOML/JSON model files."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn import augment
from funcnn.config import from_config, load_model_file, model_from_config, read_config_file, spec_kinds, to_config
from funcnn.errors import ConfigError
from funcnn.initializers import Uniform
from funcnn.layers.conv import Conv2D
from funcnn.layers.pool import AvgPool2D, MaxPool2D
from funcnn.optim import adagrad, adam, momentum, rmsprop
from funcnn.registry import BUILTIN, kind_of
from funcnn.schedules import (
    constant_schedule,
    cosine_schedule,
    exponential_schedule,
    inverse_time_schedule,
    learning_schedule,
    step_schedule,
    warmup_schedule,
)
from funcnn.transforms import chain, clip_by_global_norm, elastic_net, l1, l2

# Specs with non-default values wherever possible (defaults round-trip trivially).
EXAMPLES: list[object] = [
    fn.Dense(3, w_init=fn.Normal(0.25), b_init=fn.Constant(0.1), name="fc"),
    fn.Dropout(0.3),
    fn.Flatten(name="flat"),
    fn.Identity(),
    fn.ReLU(),
    fn.LeakyReLU(0.1),
    fn.Sigmoid(),
    fn.Tanh(),
    fn.Softmax(),
    Conv2D(8, (3, 5), stride=2, padding="same", w_init=fn.GlorotNormal()),
    Conv2D(4, 3, padding=1),
    MaxPool2D(2),
    MaxPool2D((2, 3), stride=(1, 2)),
    AvgPool2D(3, stride=1),
    fn.Sequential(fn.Dense(4), fn.ReLU(), fn.Sequential(fn.Dense(2), name="head"), name="net"),
    fn.MSE(),
    fn.BinaryCrossEntropy(from_logits=True),
    fn.CategoricalCrossEntropy(from_logits=True),
    fn.Zeros(),
    fn.Constant(-2.5),
    fn.Normal(0.01),
    fn.GlorotUniform(),
    fn.GlorotNormal(),
    fn.HeNormal(),
    fn.HeUniform(),
    Uniform(-0.5, 0.25),
    fn.sgd(0.1),
    momentum(0.05, 0.8, nesterov=True),
    adam(0.003, b1=0.8, b2=0.99, eps=1e-7),
    adam(cosine_schedule(0.01, 100, alpha=0.1)),
    rmsprop(0.01, decay=0.95),
    adagrad(0.1, initial_accumulator=0.1),
    constant_schedule(0.1),
    inverse_time_schedule(0.5, decay=0.01),
    learning_schedule(5.0, 50.0),
    step_schedule(0.1, every=10, factor=0.3),
    exponential_schedule(0.1, 0.96, decay_steps=100, staircase=True),
    cosine_schedule(0.1, 1000),
    warmup_schedule(cosine_schedule(0.1, 500), 50, start=0.001),
    l2(1e-4, include_bias=True),
    l1(1e-5),
    elastic_net(1e-4, 0.3),
    clip_by_global_norm(5.0),
    chain(l2(1e-4), clip_by_global_norm(1.0), adam(0.001)),
    fn.partition({"conv*": fn.frozen(), "dense_0": adam(1e-4), "dense_1": chain(l2(1e-4), adam(0.001))}),
    augment.Compose([
        augment.RandomFlip(vertical=True), augment.RandomRotation((-10.0, 30.0), fill="constant", value=0.5),
        augment.RandomShift(0.2, (0.0, 0.1), fill="constant", value=0.5),
        augment.RandomShear(12.5, fill="constant", value=0.5),
        augment.RandomZoom((-0.1, 0.3), fill="constant", value=0.5), augment.RandomBrightness(0.2),
    ]),  # fmt: skip
    augment.RandomRotation(45.0, fill="wrap", interpolation="nearest"),
    augment.RandomShift((0.1, 0.1), 0.2, fill="reflect"),
    augment.RandomShear(5.0, interpolation="nearest"),
    augment.RandomZoom(0.2, fill="wrap"),
    augment.RandomBrightness((-0.2, 0.1)),
]


def _default_instances() -> list[object]:
    """Every discovered kind that can be built with no arguments."""
    out = []
    for cls in spec_kinds().values():
        try:
            out.append(cls())
        except TypeError:
            continue  # has required fields: covered by EXAMPLES (checked below)
    return out


def _kind(spec: object) -> str:
    kind = type(spec).kind  # type: ignore[attr-defined]
    assert isinstance(kind, str)
    return kind


ALL = EXAMPLES + _default_instances()


def test_every_discovered_kind_has_an_example() -> None:
    """New spec kinds added anywhere in funcnn must be covered by the round-trip test below."""
    covered = {_kind(s) for s in ALL}
    missing = sorted({str(kind_of(cls)) for cls in BUILTIN} - covered)
    assert not missing, f"add examples of these spec kinds to EXAMPLES: {missing}"


def test_discovery_finds_the_core_kinds() -> None:
    kinds = spec_kinds()
    assert kinds["dense"] is fn.Dense and kinds["sequential"] is fn.Sequential
    assert kinds["mse"] is fn.MSE and kinds["he_normal"] is fn.HeNormal and kinds["sgd"] is fn.SGD
    assert kinds["conv2d"] is Conv2D and kinds["max_pool2d"] is MaxPool2D


@pytest.mark.parametrize("spec", ALL, ids=repr)
def test_round_trip_is_exact(spec: object) -> None:
    config = to_config(spec)
    assert config["kind"] == _kind(spec)
    text = json.dumps(config)  # plain data: JSON can hold it
    back = from_config(json.loads(text))
    assert back == spec and type(back) is type(spec)
    assert to_config(back) == config


def test_config_holds_plain_data_only() -> None:
    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, bool | int | float | str)

    for spec in ALL:
        assert plain(to_config(spec)), spec


def test_sequential_config_lists_layers_positionally() -> None:
    model = fn.Sequential(fn.Dense(4, w_init=fn.HeNormal()), fn.ReLU(), fn.Dense(1, name="out"))
    config = to_config(model)
    assert config == {
        "kind": "sequential",
        "layers": [
            {"kind": "dense", "out_dim": 4, "w_init": {"kind": "he_normal"}, "b_init": {"kind": "zeros"}, "name": None},
            {"kind": "relu", "name": None},
            {"kind": "dense", "out_dim": 1, "w_init": {"kind": "glorot_uniform"}, "b_init": {"kind": "zeros"},
             "name": "out"},
        ],
        "name": None,
    }
    rebuilt = from_config(config)
    assert isinstance(rebuilt, fn.Sequential)
    assert rebuilt.names == ("dense_0", "relu_0", "out")  # derived fields are rebuilt, not stored


def test_missing_fields_take_defaults() -> None:
    assert from_config({"kind": "dense", "out_dim": 5}) == fn.Dense(5)
    assert from_config({"kind": "adam"}) == adam()
    assert from_config({"kind": "sequential", "layers": []}) == fn.Sequential()


def test_ints_are_accepted_for_float_fields() -> None:
    spec = from_config({"kind": "dropout", "rate": 0})
    assert spec == fn.Dropout(0.0)
    assert isinstance(spec, fn.Dropout) and isinstance(spec.rate, float)


@given(
    rate=st.floats(0.0, 1.0, exclude_max=True),
    alpha=st.floats(0.0, 1e6),
    std=st.floats(1e-300, 1e300),
    value=st.floats(allow_nan=False, allow_infinity=False),
    widths=st.lists(st.integers(1, 10_000), min_size=1, max_size=4),
)
def test_floats_survive_json_bit_for_bit(
    rate: float, alpha: float, std: float, value: float, widths: list[int]
) -> None:
    layers: list[fn.Layer] = [fn.Dense(w, w_init=fn.Normal(std), b_init=fn.Constant(value)) for w in widths]
    model = fn.Sequential(*layers, fn.Dropout(rate), fn.LeakyReLU(alpha))
    back = from_config(json.loads(json.dumps(to_config(model))))
    assert back == model
    assert isinstance(back, fn.Sequential)
    got = back.layers[-2]
    assert isinstance(got, fn.Dropout) and got.rate.hex() == rate.hex()


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"kind": "dence", "out_dim": 3}, r"unknown kind 'dence'; did you mean 'dense'"),
        ({"out_dim": 3}, r"missing 'kind'"),
        ({"kind": 3}, r"'kind' must be a string"),
        ({"kind": "dense"}, r"kind 'dense'.*missing required field 'out_dim'"),
        ({"kind": "dense", "out_dim": 3, "outdim": 4}, r"kind 'dense'.*unknown field 'outdim'; did you mean 'out_dim'"),
        ({"kind": "dense", "out_dim": "3"}, r"kind 'dense'.*field 'out_dim': expected int, got '3' \(str\)"),
        ({"kind": "dense", "out_dim": 2.5}, r"kind 'dense'.*field 'out_dim': expected int, got 2.5"),
        ({"kind": "dense", "out_dim": True}, r"field 'out_dim': expected int, got True \(bool\)"),
        ({"kind": "dropout", "rate": "0.5"}, r"kind 'dropout'.*field 'rate': expected float, got '0.5'"),
        ({"kind": "dropout", "rate": 1.5}, r"kind 'dropout'.*rate must be in \[0, 1\), got rate=1.5"),
        ({"kind": "dense", "out_dim": 3, "w_init": {"kind": "mse"}}, r"field 'w_init': expected Initializer, got MSE"),
        ({"kind": "dense", "out_dim": 3, "name": 7}, r"field 'name': expected str \| None, got 7"),
        ({"kind": "sgd", "lr": -1.0}, r"kind 'sgd'.*lr must be a finite number > 0"),
        ({"kind": "adam", "lr": "fast"}, r"kind 'adam'.*field 'lr'"),
        ({"kind": "sequential", "layers": {"kind": "relu"}}, r"field 'layers': expected a list"),
        ({"kind": "sequential", "layers": [{"kind": "relu"}, {"kind": "mse"}]}, r"'layers\[1\]': expected a layer"),
        ({"kind": "sequential", "layers": [], "depth": 2}, r"kind 'sequential'.*unknown field 'depth'"),
        ({"kind": "sequential", "layers": [{"kind": "relu"}, {"kind": "dense", "out_dim": 0}]},
         r"config\.layers\[1\] \(kind 'dense'\).*out_dim"),
        ({"kind": "sequential", "layers": [{"kind": "relu", "name": "a"}, {"kind": "relu", "name": "a"}]},
         r"two layers are named 'a'"),
    ],
)
def test_bad_configs_name_kind_and_field(config: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_config(config)


def test_nested_errors_name_the_path() -> None:
    config = {
        "kind": "sequential",
        "layers": [
            {"kind": "dense", "out_dim": 3},
            {"kind": "dense", "out_dim": 2, "w_init": {"kind": "normal", "sd": 1}},
        ],
    }
    with pytest.raises(ConfigError, match=r"config\.layers\[1\]\.w_init \(kind 'normal'\): unknown field 'sd'"):
        from_config(config)


def test_to_config_refuses_what_is_not_plain_data() -> None:
    with pytest.raises(ConfigError, match=r"expected a spec"):
        to_config(object())
    with pytest.raises(ConfigError, match=r"SGD\.lr: expected plain data .* or a spec"):
        to_config(fn.SGD(lambda step: 0.1))  # type: ignore[arg-type]  # a schedule must be a spec to be saved


def test_model_from_config_wants_a_layer() -> None:
    assert model_from_config({"kind": "relu"}) == fn.ReLU()
    with pytest.raises(ConfigError, match="expected a layer"):
        model_from_config({"kind": "mse"})


def test_configs_are_not_changed() -> None:
    config: dict[str, object] = {"kind": "sequential", "layers": [{"kind": "dense", "out_dim": 3}]}
    before = json.dumps(config)
    from_config(config)
    assert json.dumps(config) == before


# --- model files -------------------------------------------------------------------------------

TOML_MODEL = """
# a small CNN
kind = "sequential"

[[layers]]
kind = "conv2d"
out_channels = 8
kernel_size = [3, 3]
padding = "same"
w_init = { kind = "he_normal" }

[[layers]]
kind = "relu"

[[layers]]
kind = "max_pool2d"
size = 2

[[layers]]
kind = "flatten"

[[layers]]
kind = "dropout"
rate = 0.25

[[layers]]
kind = "dense"
out_dim = 10
name = "logits"
"""

EXPECTED_CNN = fn.Sequential(
    Conv2D(8, 3, padding="same", w_init=fn.HeNormal()),
    fn.ReLU(),
    MaxPool2D(2),
    fn.Flatten(),
    fn.Dropout(0.25),
    fn.Dense(10, name="logits"),
)


def test_toml_model_file(tmp_path: Path) -> None:
    path = tmp_path / "cnn.toml"
    path.write_text(TOML_MODEL)
    assert load_model_file(path) == EXPECTED_CNN


def test_json_model_file_and_section(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": to_config(EXPECTED_CNN), "epochs": 3}))
    assert load_model_file(path, section="model") == EXPECTED_CNN
    assert read_config_file(path)["epochs"] == 3
    with pytest.raises(ConfigError, match=r"run\.json: expected a table \[net\]"):
        load_model_file(path, section="net")


def test_toml_section(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("epochs = 5\n[model]\n" + TOML_MODEL.replace("[[layers]]", "[[model.layers]]"))
    assert load_model_file(path, section="model") == EXPECTED_CNN


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.toml", 'kind = "sequential"\nlayers = [}\nname = 1\n', r"bad\.toml: not valid TOML: .*line 2"),
        ("bad.json", '{"kind": "relu",}', r"bad\.json: not valid JSON: .*line 1"),
        ("list.json", "[1, 2]", r"list\.json: expected a table/object at the top level"),
        ("model.yaml", "kind: relu", r"model\.yaml: expected a \.toml or \.json file"),
        ("typo.toml", 'kind = "sequential"\n[[layers]]\nkind = "dense"\nout_dims = 3\n',
         r"typo\.toml: config\.layers\[0\] \(kind 'dense'\): unknown field 'out_dims'"),
        ("date.toml", 'kind = "dropout"\nrate = 1979-05-27\n', r"date\.toml: rate: expected plain data"),
    ],
)
def test_bad_model_files_name_the_file(tmp_path: Path, name: str, text: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_model_file(path)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read the file"):
        load_model_file(tmp_path / "nope.toml")


def test_spec_kinds_are_unique_per_class() -> None:
    kinds = spec_kinds()
    assert len(set(map(id, kinds.values()))) == len(kinds)
    for kind, cls in kinds.items():
        assert attrs.has(cls) and cls.kind == kind  # type: ignore[attr-defined]
