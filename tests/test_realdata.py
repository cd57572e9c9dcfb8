"""Real data in, right answers out (issue 13): a run remembers its columns, classes and task.

Each of the seven problems the issue reproduced has a test here that fails on
the code before the fix. Expected numbers are recomputed with the library
from the files a run wrote (its checkpoint, preprocess.npz), never taken from
the command's own code path. Every file is written with the ``csv`` module.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_runs import invoke as run
from cli_runs import model_outputs, short_failure, snapshot
from idx_writer import write_fake_mnist

import funcnn as fn
from funcnn.datasets import load_csv, load_mnist
from funcnn.evaluation import evaluate
from funcnn.rng import generator

SPECIES = ("setosa", "versicolor", "virginica")
COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def ok(*args: str) -> Any:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def fails(result: Any, code: int = 1) -> str:
    """A clean failure in one or two lines (:func:`cli_runs.short_failure`): those lines."""
    return "\n".join(short_failure(result, code))


def write_csv(path: Path, header: list[str] | None, rows: list[list[Any]], **fmt: Any) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f, **fmt)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return path


def iris_like(seed: int = 0, per_class: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Three separable-ish clusters of 4 features; labels 0..2 index SPECIES."""
    g = generator(fn.key(seed))
    centres = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    x = np.concatenate([c + 0.3 * g.normal(size=(per_class, 4)) for c in centres]).round(3)
    y = np.repeat(np.arange(3), per_class)
    order = g.permutation(len(y))
    return x[order], y[order]


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained by the CLI on a CSV with an ID column, named columns and text labels."""
    d = tmp_path_factory.mktemp("iris")
    x, y = iris_like()
    rows = [[f"id-{i}", *row, SPECIES[c]] for i, (row, c) in enumerate(zip(x.tolist(), y.tolist(), strict=True))]
    write_csv(d / "iris.csv", ["id", *COLUMNS, "species"], rows)
    ok("train", "--data", str(d / "iris.csv"), "--drop", "id", "--epochs", "40", "--checkpoint-every", "20",
       "--out", str(d / "run"), "--quiet", "--no-plot")
    return d / "run"


# --- 1. labels are mapped by name, never re-encoded per file ------------------------------------------


def test_1_a_file_holding_one_class_is_scored_with_the_training_mapping(iris_run: Path, tmp_path: Path) -> None:
    x, y = iris_like(seed=5)
    keep = y == 2  # only virginica rows, with the columns shuffled and every cell quoted
    order = ["petal_width", "species", "sepal_length", "petal_length", "sepal_width"]
    rows = [[row[3], "virginica", row[0], row[2], row[1]] for row in x[keep].tolist()]
    p = write_csv(tmp_path / "virginica.csv", order, rows, quoting=csv.QUOTE_ALL)
    report = json.loads(ok("evaluate", str(iris_run), "--data", str(p), "--json").stdout)
    predicted = model_outputs(iris_run, x[keep]).argmax(axis=1)
    assert report["samples"] == int(keep.sum()) and report["class_names"] == list(SPECIES)
    assert math.isclose(report["metrics"]["accuracy"], float(np.mean(predicted == 2)))
    assert report["metrics"]["accuracy"] > 0.8  # not the 9% of labels re-encoded as class 0
    assert len(report["confusion_matrix"]) == 3 and sum(report["confusion_matrix"][2]) == int(keep.sum())


def test_1_load_csv_pins_the_class_mapping(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "v.csv", ["x", "species"], [[1.0, "virginica"], [2.0, "setosa"]])
    ds = load_csv(p, classes=SPECIES)
    assert ds.y.tolist() == [2, 0] and ds.class_names == SPECIES


# --- 2. integer targets: the task is a visible, overridable decision --------------------------------------


def test_2_integer_prices_are_a_regression_and_the_choice_is_printed(tmp_path: Path) -> None:
    g = generator(fn.key(1))
    area = g.uniform(30, 200, size=240).round(1)
    price = (1000 * area + g.normal(0, 5000, size=240)).round().astype(int)  # ~240 distinct integers
    p = write_csv(tmp_path / "houses.csv", ["area", "price"], [[a, int(v)] for a, v in zip(area, price, strict=True)])
    result = ok("train", "--data", str(p), "--epochs", "3", "--out", str(tmp_path / "r"), "--no-plot")
    assert "task       regression: " in result.stderr and "distinct integer values" in result.stderr
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"]["task"] == "regression" and config["model"]["layers"][-1]["out_dim"] == 1
    forced = ok("train", "--data", str(p), "--task", "classification", "--epochs", "1", "--hidden", "4",
                "--val-split", "0", "--out", str(tmp_path / "c"), "--no-plot")
    assert "(--task classification)" in forced.stderr


def test_2_loss_mse_is_honoured_for_integer_targets(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "counts.csv", ["x", "n"], [[i / 10, i % 4] for i in range(40)])
    ok("train", "--data", str(p), "--loss", "mse", "--epochs", "2", "--out", str(tmp_path / "r"), "--quiet",
       "--no-plot")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"]["task"] == "regression" and config["loss"]["kind"] == "mse"


def test_2_scaled_targets_come_back_in_their_own_units(tmp_path: Path) -> None:
    g = generator(fn.key(2))
    x = g.uniform(0, 1, size=(120, 2)).round(4)
    t = 5000.0 + 3000.0 * x[:, 0] - 1000.0 * x[:, 1]
    p = write_csv(tmp_path / "t.csv", ["a", "b", "cost"], [[*row, v] for row, v in zip(x.tolist(), t, strict=True)])
    ok("train", "--data", str(p), "--scale-target", "--epochs", "30", "--out", str(tmp_path / "r"), "--quiet",
       "--no-plot")
    schema = json.loads((tmp_path / "r" / "schema.json").read_text())
    mean, std = schema["target_scale"]["mean"][0], schema["target_scale"]["std"][0]
    out = list(csv.reader(io.StringIO(ok("predict", str(tmp_path / "r"), str(p)).stdout)))
    assert out[0] == ["cost"]
    expected = model_outputs(tmp_path / "r", x)[:, 0].astype(np.float64) * std + mean
    np.testing.assert_allclose([float(r[0]) for r in out[1:]], expected, rtol=1e-6)
    report = json.loads(ok("evaluate", str(tmp_path / "r"), "--data", str(p), "--json").stdout)
    assert math.isclose(report["metrics"]["mae"], float(np.mean(np.abs(expected - t))), rel_tol=1e-4)


# --- 3. predict matches columns by name ----------------------------------------------------------------


def test_3_predict_reads_columns_by_name_in_any_order(iris_run: Path, tmp_path: Path) -> None:
    x, _ = iris_like(seed=7, per_class=5)
    straight = write_csv(tmp_path / "a.csv", list(COLUMNS), x.tolist())
    shuffled = write_csv(tmp_path / "b.csv", ["petal_width", "sepal_width", "petal_length", "sepal_length"],
                         x[:, [3, 1, 2, 0]].tolist())
    a = ok("predict", str(iris_run), str(straight), "--proba").stdout
    assert a == ok("predict", str(iris_run), str(shuffled), "--proba").stdout
    probs = np.array([[float(v) for v in row] for row in list(csv.reader(io.StringIO(a)))[1:]])
    logits = model_outputs(iris_run, x).astype(np.float64)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5)
    labels = list(csv.reader(io.StringIO(ok("predict", str(iris_run), str(shuffled)).stdout)))
    assert labels[0] == ["label", "class"]
    assert [r[1] for r in labels[1:]] == [SPECIES[i] for i in logits.argmax(axis=1)]


def test_3_one_feature_too_many_is_an_error_naming_it(iris_run: Path, tmp_path: Path) -> None:
    x, _ = iris_like(seed=7, per_class=2)
    p = write_csv(tmp_path / "wide.csv", [*COLUMNS, "colour"], [[*row, 1.0] for row in x.tolist()])
    before = snapshot(iris_run)
    assert "unexpected column 'colour'" in fails(run("predict", str(iris_run), str(p)))
    assert snapshot(iris_run) == before


# --- 4. the CSV reader is the csv module ---------------------------------------------------------------


def test_4_quoting_semicolons_quoted_headers_drop_and_columns_from_one(tmp_path: Path) -> None:
    x, y = iris_like(seed=3, per_class=10)
    names = ["Iris, setosa", "Iris; versicolor", 'Iris "virginica"']
    rows = [[names[c], f"#{i}", *row] for i, (row, c) in enumerate(zip(x.tolist(), y.tolist(), strict=True))]
    p = write_csv(tmp_path / "semi.csv", ["species", "id", *COLUMNS], rows, delimiter=";", quoting=csv.QUOTE_ALL)
    ok("train", "--data", str(p), "--label-column", "1", "--drop", "2", "--epochs", "2", "--out",
       str(tmp_path / "r"), "--quiet", "--no-plot")
    schema = json.loads((tmp_path / "r" / "schema.json").read_text())
    assert schema["class_names"] == sorted(names) and schema["features"] == list(COLUMNS)
    assert schema["target"] == "species" and schema["dropped"] == ["id"]
    message = fails(run("train", "--data", str(p), "--label-column", "9", "--out", str(tmp_path / "s"), "--quiet"))
    assert "label column 9 does not exist; the file has 6 columns (1..6" in message
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_every_checkpoint_of_a_run_embeds_the_schema_of_schema_json(tmp_path: Path) -> None:
    from funcnn.datasets import Schema
    from funcnn.io.checkpoint import checkpoint_info

    x, y = iris_like(seed=4, per_class=8)
    rows = [[*row, SPECIES[c]] for row, c in zip(x.tolist(), y.tolist(), strict=True)]
    p = write_csv(tmp_path / "iris.csv", [*COLUMNS, "species"], rows)
    run_dir = tmp_path / "r"
    ok("train", "--data", str(p), "--epochs", "2", "--checkpoint-every", "1", "--out", str(run_dir), "--quiet",
       "--no-plot")
    stored = Schema.from_json(json.loads((run_dir / "schema.json").read_text()))
    assert stored.class_names == SPECIES and stored.features == COLUMNS
    for name in ("checkpoint.npz", "epoch-0000.npz", "epoch-0002.npz"):
        assert checkpoint_info(run_dir / name).schema == stored, name
    ok("train", "--resume", str(run_dir), "--epochs", "3", "--quiet", "--no-plot")
    assert checkpoint_info(run_dir / "checkpoint.npz").schema == stored


# --- 5. predict reads every input form training reads --------------------------------------------------


def test_5_predict_reads_idx_files_and_folders_with_a_prefix(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    write_fake_mnist(folder, n=30, prefix="train", seed=1)
    images, _ = write_fake_mnist(folder, n=10, prefix="t10k", seed=2)
    ok("train", "--data", str(folder), "--prefix", "train", "--hidden", "8", "--epochs", "1", "--out",
       str(tmp_path / "r"), "--quiet", "--no-plot")
    by_folder = ok("predict", str(tmp_path / "r"), str(folder), "--prefix", "t10k").stdout
    by_file = ok("predict", str(tmp_path / "r"), str(folder / "t10k-images-idx3-ubyte.gz")).stdout
    expected = model_outputs(tmp_path / "r", images).argmax(axis=1)
    assert by_folder == by_file
    assert [int(r[0]) for r in list(csv.reader(io.StringIO(by_folder)))[1:]] == expected.tolist()
    assert load_mnist(folder, prefix="t10k").n_samples == 10


# --- 6. evaluate and replay score the same split -------------------------------------------------------


def test_6_evaluate_defaults_to_the_validation_split_like_replay(iris_run: Path) -> None:
    report = json.loads(ok("evaluate", str(iris_run), "--json").stdout)
    curve = json.loads(ok("replay", str(iris_run), "--json", "--no-plot").stdout)
    config = json.loads((iris_run / "config.json").read_text())
    assert report["split"] == curve["split"] == "val" and report["samples"] == config["split"]["validation"]
    assert math.isclose(report["cost"], curve["cost"][-1], rel_tol=1e-6)
    assert json.loads(ok("evaluate", str(iris_run), "--split", "all", "--json").stdout)["samples"] == 120


# --- 7. the library ------------------------------------------------------------------------------------


def test_7_predict_proba_gives_probabilities_whatever_the_loss() -> None:
    model = fn.Sequential(fn.Dense(3))
    params = fn.init(model, fn.key(0), in_shape=(2,))
    x = np.array([[0.5, -1.0], [2.0, 0.3]])
    p = fn.predict_proba(model, params, x)
    logits = fn.predict(model, params, x)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_allclose(fn.predict_proba(model, params, x, loss=fn.CategoricalCrossEntropy(from_logits=True)),
                               expected, rtol=1e-12)
    with_softmax = fn.Sequential(fn.Dense(3), fn.Softmax())
    np.testing.assert_allclose(fn.predict_proba(with_softmax, params, x), expected, rtol=1e-12)
    binary = fn.Sequential(fn.Dense(1))
    pb = fn.predict_proba(binary, fn.init(binary, fn.key(1), in_shape=(2,)), x)
    assert pb.shape == (2, 2) and np.allclose(pb.sum(axis=1), 1.0)


def test_7_reports_print_class_names() -> None:
    model = fn.Sequential(fn.Dense(2))
    params = fn.freeze({"dense_0": {"w": np.eye(2), "b": np.zeros(2)}})
    x, t = np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([1, 1])  # only class 1 is present
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    report = evaluate(model, params, x, t, loss=loss, class_names=["cat", "dog"])
    assert report.classes is not None and report.classes.confusion.tolist() == [[0, 0], [1, 1]]
    text = str(report)
    assert "cat" in text and "dog" in text and report.to_dict()["class_names"] == ["cat", "dog"]


def test_7_fit_with_nothing_to_do_and_a_bad_key_are_clear_errors() -> None:
    model = fn.Sequential(fn.Dense(1))
    params = fn.init(model, fn.key(0), in_shape=(2,))
    x, y = np.ones((4, 2)), np.zeros((4, 1))
    state = fn.TrainState.create(model, params, loss=fn.MSE(), optimizer=fn.sgd(0.1), key=fn.key(1))
    state = fn.fit(state, x, y, epochs=3)
    with pytest.raises(ValueError, match=r"already at epoch 3 and epochs=2 is the total .* pass epochs=5"):
        fn.fit(state, x, y, epochs=2)
    with pytest.raises(TypeError, match=r"expected a funcnn Key such as fn\.key\(0\), got int 0"):
        fn.train(model, params, x, y, loss=fn.MSE(), epochs=1, key=0, lr=0.1)  # type: ignore[arg-type]


def test_7_the_cli_default_adam_learning_rate_is_1e_3(iris_run: Path) -> None:
    assert json.loads((iris_run / "config.json").read_text())["settings"]["lr"] == 0.001


# --- strict JSON ---------------------------------------------------------------------------------------


def _strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_every_json_output_is_strict(iris_run: Path) -> None:
    curve = _strict(ok("replay", str(iris_run), "--json", "--no-plot").stdout)
    assert curve["train_cost"][0] is None  # epoch 0 has no recorded training cost: null, not NaN
    _strict(ok("evaluate", str(iris_run), "--json").stdout)
    inspected = _strict(ok("inspect", str(iris_run), "--json").stdout)
    assert inspected["schema"]["class_names"] == list(SPECIES)
    _strict(ok("datasets", "--json").stdout)


# --- bad input: a clear message, a non-zero exit, nothing on disk changed ------------------------------


@pytest.mark.parametrize(
    ("header", "rows", "words"),
    [
        ([*COLUMNS, "species"], [[5.0, 3.4, 1.5, 0.2, "rose"]], "unknown class 'rose'; the known classes are"),
        (["sepal_length", "sepal_width", "petal_length", "species"], [[5.0, 3.4, 1.5, "setosa"]],
         "missing column 'petal_width'"),
        ([*COLUMNS, "colour", "species"], [[5.0, 3.4, 1.5, 0.2, 1.0, "setosa"]], "unexpected column 'colour'"),
        (["Sepal_Length", "sepal_width", "petal_length", "petal_width", "species"], [[5.0, 3.4, 1.5, 0.2, "setosa"]],
         "missing column 'sepal_length' and unexpected column 'Sepal_Length'"),
        (None, [[5.0, 3.4, 1.5, "setosa"]], "rows have 4 cells, but the model takes 6 columns like the training file"),
    ],
    ids=["unknown-class", "missing", "extra", "renamed", "headerless"],
)
def test_bad_evaluation_files_fail_cleanly(
    iris_run: Path, tmp_path: Path, header: list[str] | None, rows: list[list[Any]], words: str
) -> None:
    p = write_csv(tmp_path / "e.csv", header, rows)
    before = snapshot(iris_run)
    assert words in fails(run("evaluate", str(iris_run), "--data", str(p)))
    assert snapshot(iris_run) == before


@pytest.mark.parametrize(
    ("rows", "options", "words"),
    [
        ([["a", "y"], [1, 2.5], [2, "nan"]], ["--task", "regression"], "line 3, column 2 ('y'): nan is not a finite"),
        ([["a", "y"], [1, "cat"], [2, "dog"]], ["--task", "regression"], "non-numeric cell 'cat': task regression"),
        ([["id", "y"], [1, "cat"], [2, "dog"]], ["--drop", "id"], "no feature columns are left after dropping 'id'"),
        ([["a;b;y"], ["1;2;0"], ["3;4;1"]], ["--delimiter", ","], "got 1 with the delimiter ','; the delimiter is"),
        ([["a", "y"], [1, 0], [2, 1]], ["--label-column", "z"], "label column 'z' not found; columns are 'a', 'y'"),
    ],
    ids=["nan-target", "text-regression", "empty-after-drop", "one-column", "no-such-label-column"],
)
def test_bad_training_files_fail_cleanly(
    tmp_path: Path, rows: list[list[Any]], options: list[str], words: str
) -> None:
    p = write_csv(tmp_path / "t.csv", None, rows)
    out = tmp_path / "r"
    assert words in fails(run("train", "--data", str(p), *options, "--out", str(out), "--quiet", "--no-plot"))
    assert not out.exists() or not any(out.iterdir())
