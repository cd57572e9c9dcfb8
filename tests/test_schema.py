"""The data schema: what a run remembers about its data, and files read through it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from funcnn.datasets import Dataset, Schema, TargetScale, load_csv, load_data, with_task
from funcnn.datasets.inputs import load_inputs
from funcnn.errors import CheckpointError, DataError, ShapeError
from funcnn.io.runs import read_schema, write_schema

SCHEMA = Schema(
    features=("a", "b", "c"),
    feature_shape=(3,),
    task="classification",
    class_names=("cat", "dog"),
    target="animal",
    target_position=5,
    dropped=("id",),
    dropped_positions=(1,),
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_json_round_trip_and_version(tmp_path: Path) -> None:
    assert Schema.from_json(SCHEMA.to_json()) == SCHEMA
    scaled = Schema(features=None, feature_shape=(2,), task="regression", outputs=1,
                    target_scale=TargetScale((3.0,), (2.0,)))
    assert Schema.from_json(json.loads(json.dumps(scaled.to_json()))) == scaled
    write_schema(tmp_path / "schema.json", SCHEMA)
    assert read_schema(tmp_path / "schema.json") == SCHEMA
    newer = {**SCHEMA.to_json(), "schema_version": 99}
    with pytest.raises(DataError, match="schema_version 99 is not one this funcnn reads"):
        Schema.from_json(newer)
    (tmp_path / "bad.json").write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(CheckpointError, match=r"bad\.json: not a data schema"):
        read_schema(tmp_path / "bad.json")


def test_a_schema_checks_itself() -> None:
    with pytest.raises(DataError, match="2 feature names for samples of shape"):
        Schema(features=("a", "b"), feature_shape=(3,), task="regression")
    with pytest.raises(DataError, match="a regression schema has no classes"):
        Schema(features=None, feature_shape=(3,), task="regression", classes=3)


def test_target_scale_round_trips_in_the_targets_dtype() -> None:
    y = np.array([[1.0], [3.0], [5.0]], dtype=np.float32)
    scale = TargetScale.fit(y)
    assert scale.mean == (3.0,) and np.isclose(scale.std[0], np.std([1.0, 3.0, 5.0]))
    scaled = scale.scale(y)
    assert scaled.dtype == np.float32 and np.isclose(float(scaled.mean()), 0.0)
    np.testing.assert_allclose(scale.unscale(scaled), y, rtol=1e-6)
    assert TargetScale.fit(np.ones((4, 1))).std == (1.0,)  # a constant target is not divided by 0


def test_a_dataset_carries_its_schema(tmp_path: Path) -> None:
    p = write(tmp_path / "d.csv", "id,a,b,c,animal\n1,0.1,0.2,0.3,dog\n2,0.4,0.5,0.6,cat\n")
    ds = load_csv(p, drop=["id"])
    assert ds.schema == Schema(
        features=("a", "b", "c"), feature_shape=(3,), task="classification", class_names=("cat", "dog"),
        target="animal", target_position=5, dropped=("id",), dropped_positions=(1,),
    )
    assert Dataset(np.zeros((2, 2)), np.zeros((2, 1)), task="regression").schema.task == "regression"


def test_columns_are_matched_by_name_and_labels_by_class(tmp_path: Path) -> None:
    p = write(tmp_path / "e.csv", "c,animal,b,a\n3,dog,2,1\n6,dog,5,4\n")
    ds = load_csv(p, schema=SCHEMA)
    assert ds.x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert ds.y.tolist() == [1, 1] and ds.class_names == ("cat", "dog")  # not re-encoded as class 0
    with_id = write(tmp_path / "i.csv", "id,a,b,c,animal\n9,1,2,3,cat\n")  # the dropped column may be there
    assert load_csv(with_id, schema=SCHEMA).y.tolist() == [0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,animal\n1,2,cat\n", r"m\.csv, line 1: missing column 'c'; give every column"),
        ("a,b,c,d,animal\n1,2,3,4,cat\n", r"m\.csv, line 1: unexpected column 'd'; remove it"),
        ("a,b,C,animal\n1,2,3,cat\n", r"m\.csv, line 1: missing column 'c' and unexpected column 'C'; rename"),
        ("a,b,c,animal\n1,2,3,bird\n", r"m\.csv, line 2, column 4 \('animal'\): unknown class 'bird'; the known "
         r"classes are 'cat', 'dog'"),
        ("a,b,c\n1,2,3\n", r"m\.csv, line 1: missing column 'animal'"),
        ("1,2,3\n", r"m\.csv: rows have 3 cells, but the model takes 5 columns like the training file"),
    ],
    ids=["missing", "extra", "renamed", "unknown-class", "no-labels", "headerless-count"],
)
def test_bad_files_for_a_schema_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises((DataError, ShapeError), match=message):
        load_csv(write(tmp_path / "m.csv", text), schema=SCHEMA)


def test_a_headerless_file_is_matched_by_position(tmp_path: Path) -> None:
    p = write(tmp_path / "h.csv", "7,1,2,3,dog\n8,4,5,6,cat\n")  # the training file's layout: id, a, b, c, label
    ds = load_csv(p, schema=SCHEMA)
    assert ds.x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]] and ds.y.tolist() == [1, 0]
    features = write(tmp_path / "f.csv", "1,2,3\n4,5,6\n")
    assert load_inputs(features, SCHEMA).tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert load_inputs(p, SCHEMA).tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    with pytest.raises(ShapeError, match=r"rows have 2 cells, but the model takes 3 features, or 5 columns"):
        load_inputs(write(tmp_path / "w.csv", "1,2\n"), SCHEMA)


def test_integer_labels_outside_the_models_classes_are_refused(tmp_path: Path) -> None:
    numeric = Schema(features=("x",), feature_shape=(1,), task="classification", classes=3, target="y",
                     target_position=2)
    assert load_csv(write(tmp_path / "ok.csv", "x,y\n1,2\n2,2\n"), schema=numeric).y.tolist() == [2, 2]
    with pytest.raises(DataError, match=r"unknown class 3; the model knows the classes 0\.\.2"):
        load_csv(write(tmp_path / "bad.csv", "x,y\n1,3\n"), schema=numeric)


def test_run_configs_from_before_the_schema_give_one() -> None:
    config = {"data": {"task": "classification", "feature_shape": [2], "classes": 3, "class_names": ["a", "b", "c"]}}
    schema = Schema.from_run_config(config)
    assert schema.class_names == ("a", "b", "c") and schema.features is None and schema.n_classes == 3


def test_with_task_turns_labels_into_targets_and_back(tmp_path: Path) -> None:
    ds = load_data(write(tmp_path / "d.csv", "x,y\n1,0\n2,1\n3,2\n"))
    reg = with_task(ds, "regression")
    assert reg.task == "regression" and reg.y.tolist() == [[0.0], [1.0], [2.0]]
    assert with_task(reg, "classification").y.tolist() == [0, 1, 2]
    named = load_data(write(tmp_path / "n.csv", "x,y\n1,a\n2,b\n"))
    with pytest.raises(DataError, match="task regression needs numeric targets, but the labels are named classes"):
        with_task(named, "regression")


def test_a_checkpoint_can_carry_the_schema_for_library_users(tmp_path: Path) -> None:
    import funcnn as fn
    from funcnn.io.runs import open_run

    model = fn.Sequential(fn.Dense(2))
    params = fn.init(model, fn.key(0), in_shape=(3,))
    fn.save_params(tmp_path / "m.npz", model, params, in_shape=(3,), schema=SCHEMA)
    assert fn.checkpoint_info(tmp_path / "m.npz").schema == SCHEMA
    assert open_run(tmp_path / "m.npz").schema == SCHEMA
    fn.save_params(tmp_path / "old.npz", model, params, in_shape=(3,))  # files without one read as before
    assert fn.checkpoint_info(tmp_path / "old.npz").schema is None
