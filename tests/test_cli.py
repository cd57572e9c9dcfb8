"""The ``funcnn`` command line through Typer's test runner: commands, run folders, resume, errors.

Expected figures are recomputed here from the files a run wrote (numpy on
the saved weights), not taken from the command's own code path.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_runs import invoke as run
from cli_runs import model_outputs, short_failure, snapshot

import funcnn as fn
from funcnn.datasets import load_builtin
from funcnn.io.checkpoint import load
from funcnn.rng import fold_in, key


def spiral(seed: int = 0) -> Any:
    """The spiral the CLI draws for ``--seed seed`` (its data key is fold_in(key(seed), "data"))."""
    return load_builtin("spiral", key=fold_in(key(seed), "data"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small spiral run kept every 2 epochs (epochs 0, 2, 4)."""
    folder = tmp_path_factory.mktemp("cli") / "run"
    result = run("train", "--epochs", "4", "--checkpoint-every", "2", "--out", str(folder), "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    return folder


# --- train -------------------------------------------------------------------------------------------


def test_train_without_arguments_writes_a_complete_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("train")
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"spiral-\d{8}-\d{6}", folder.name)
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "checkpoint.npz", "preprocess.npz", "history.csv"} <= names
    # The choices are shown; the final figures go to stdout.
    assert "softmax + cross-entropy (3 classes)" in result.stderr
    assert str(Path("runs") / folder.name) in result.stdout
    config = json.loads((folder / "config.json").read_text())
    settings = config["settings"]
    assert settings["data"] == "spiral" and settings["epochs"] == 200 and settings["dtype"] == "float32"
    assert settings["lr"] == 0.001 and settings["optimizer"] == "adam" and settings["batch_size"] == 32
    assert config["split"] == {"train": 240, "validation": 60, "stratified": True}
    with open(folder / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 201))
    # Validation accuracy recomputed from the saved weights and the run's validation split.
    state = load(folder, dtype=np.float32)
    assert state.epoch == 200 and state.params.subtree("dense_0").leaf("w").dtype == np.float32
    ds = spiral()
    from funcnn.datasets import split_indices

    _, val = split_indices(fold_in(key(0), "split"), ds.y, test_fraction=0.2)
    predicted = model_outputs(folder, ds.x[val]).argmax(axis=1)
    val_accuracy = float(np.mean(predicted == ds.y[val]))
    assert val_accuracy >= 0.9
    assert f"validation  cost {float(rows[-1]['val_cost']):.4f}  accuracy {100 * val_accuracy:.2f}%" in result.stdout
    train_line = next(line for line in result.stdout.splitlines() if line.startswith("training"))
    assert f"cost {float(rows[-1]['cost']):.4f}" in train_line
    # Plots exist with matplotlib; without it, one note says how to get them.
    if (folder / "history.png").exists():
        assert (folder / "decision_boundary.png").exists()
    else:
        assert result.stderr.count("pip install 'funcnn[plot]'") == 1


def test_history_csv_holds_costs_metrics_lr_and_seconds(trained: Path) -> None:
    with open(trained / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "step", "cost", "val_cost", "accuracy", "val_accuracy", "lr", "seconds"]
    state = load(trained, dtype=np.float32)
    np.testing.assert_array_equal([float(r["cost"]) for r in rows], state.history.cost)
    np.testing.assert_array_equal([float(r["val_accuracy"]) for r in rows], state.history.metrics["val_accuracy"])
    assert [int(r["step"]) for r in rows] == [8, 16, 24, 32]  # 240 training samples, batch 32
    assert all(float(r["lr"]) == 0.001 and float(r["seconds"]) > 0 for r in rows)
    assert sorted(p.name for p in trained.glob("epoch-*.npz")) == ["epoch-0000.npz", "epoch-0002.npz", "epoch-0004.npz"]


def test_options_shape_the_model_optimizer_and_data(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run(
        "train --data moons --hidden 8,4 --activation tanh --dropout 0.1 --optimizer momentum --lr 0.05 "
        "--lr-decay 0.01 --l2 0.001 --epochs 3 --batch-size full --val-split 0.25 --seed 3 --dtype float64 "
        f"--early-stopping 5 --out {out} --no-plot"
    )
    assert result.exit_code == 0, result.output
    assert "sigmoid + binary cross-entropy (2 classes)" in result.stderr
    state = load(out, dtype=np.float64)
    assert state.model == fn.Sequential(
        fn.Dense(8), fn.Tanh(), fn.Dropout(0.1), fn.Dense(4), fn.Tanh(), fn.Dropout(0.1), fn.Dense(1)
    )
    assert state.params.subtree("dense_0").leaf("w").dtype == np.float64
    assert state.batch_size is None and state.step == 3 and state.patience == 5
    from funcnn.optim import momentum
    from funcnn.schedules import inverse_time_schedule
    from funcnn.transforms import chain, l2

    assert state.optimizer == chain(l2(0.001), momentum(inverse_time_schedule(0.05, decay=0.01), 0.9))
    with open(out / "history.csv") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert lrs == [0.05 / (1 + 0.01 * s) for s in (0, 1, 2)]


def test_regression_data_get_identity_and_mse(tmp_path: Path) -> None:
    result = run(f"train --data linear --hidden none --epochs 30 --out {tmp_path / 'r'} --quiet --no-plot")
    assert result.exit_code == 0, result.output
    assert "rmse" in result.stdout
    state = load(tmp_path / "r", dtype=np.float32)
    assert state.model == fn.Sequential(fn.Dense(1)) and state.loss == fn.MSE()


def test_a_model_file_is_used_as_it_is(tmp_path: Path) -> None:
    model_file = tmp_path / "m.toml"
    model_file.write_text(
        'kind = "sequential"\n[[layers]]\nkind = "dense"\nout_dim = 5\n'
        '[[layers]]\nkind = "relu"\n[[layers]]\nkind = "dense"\nout_dim = 10\n'
    )
    result = run(f"train --model {model_file} --data digits --epochs 2 --out {tmp_path / 'r'} --no-plot")
    assert result.exit_code == 0, result.output
    assert "flattened to 64 features, scaled to [0, 1]" in result.stderr
    assert load(tmp_path / "r", dtype=np.float32).model == fn.Sequential(fn.Dense(5), fn.ReLU(), fn.Dense(10))


def test_csv_with_a_named_label_column(tmp_path: Path) -> None:
    g = np.random.default_rng(0)
    x = g.normal(size=(40, 2))
    lines = ["a,label,b"] + [f"{a},{'yes' if a + b > 0 else 'no'},{b}" for a, b in x]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    result = run(
        f"train --data {tmp_path / 'd.csv'} --label-column label --epochs 2 --out {tmp_path / 'r'} --quiet --no-plot"
    )
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"]["class_names"] == ["no", "yes"] and config["data"]["feature_shape"] == [2]


# --- resume and interruption -------------------------------------------------------------------------


def test_resume_gives_exactly_the_uninterrupted_run(tmp_path: Path) -> None:
    common = ["--dropout", "0.2", "--checkpoint-every", "1", "--quiet", "--no-plot"]
    assert run("train", "--epochs", "4", "--out", str(tmp_path / "a"), *common).exit_code == 0
    assert run("train", "--epochs", "2", "--out", str(tmp_path / "b"), *common).exit_code == 0
    result = run("train", "--resume", str(tmp_path / "b"), "--epochs", "4", "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    a, b = load(tmp_path / "a", dtype=np.float32), load(tmp_path / "b", dtype=np.float32)
    assert (
        b.epoch == 4 and fn.tree_equal(a.params, b.params) and fn.tree_equal(a.opt_state.buffers, b.opt_state.buffers)
    )
    np.testing.assert_array_equal(a.history.val_cost, b.history.val_cost)
    for name in ("config.json", "epoch-0003.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    def without_seconds(folder: Path) -> list[list[str]]:
        with open(folder / "history.csv") as f:
            return [row[:-1] for row in csv.reader(f)]

    assert without_seconds(tmp_path / "a") == without_seconds(tmp_path / "b")


def interrupt_after(monkeypatch: pytest.MonkeyPatch, epochs: int) -> None:
    """Make Ctrl-C arrive during epoch ``epochs + 1`` (after ``epochs`` epochs were yielded)."""
    import funcnn.training

    real = funcnn.training.train_epochs

    def interrupted(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for i, state in enumerate(real(*args, **kwargs)):
            yield state
            if i + 1 == epochs:
                raise KeyboardInterrupt

    monkeypatch.setattr(funcnn.training, "train_epochs", interrupted)


def test_ctrl_c_saves_the_last_epoch_and_the_resumed_run_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("train", "--epochs", "5", "--out", str(tmp_path / "a"), "--quiet", "--no-plot").exit_code == 0
    with monkeypatch.context() as m:
        interrupt_after(m, 3)
        result = run("train", "--epochs", "5", "--out", str(tmp_path / "b"), "--quiet", "--no-plot")
    assert result.exit_code == 130
    assert "Traceback" not in result.output
    assert "interrupted: saved epoch 3 of 5" in result.stderr
    assert f"resume with: funcnn train --resume {tmp_path / 'b'}" in result.stderr
    assert load(tmp_path / "b", dtype=np.float32).epoch == 3
    result = run("train", "--resume", str(tmp_path / "b"), "--quiet", "--no-plot")  # --epochs from config.json
    assert result.exit_code == 0, result.output
    assert fn.tree_equal(load(tmp_path / "a", dtype=np.float32).params, load(tmp_path / "b", dtype=np.float32).params)


def test_resume_refuses_other_options_or_data_and_changes_nothing(trained: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    before = snapshot(run_dir)
    for args, words in (
        (["--lr", "0.5"], "--lr 0.5 (the run has 0.001)"),
        (["--data", "moons"], "the data (moons, 200 samples)"),
        (["--hidden", "32"], "--hidden 32 (the run has 64)"),
    ):
        result = run("train", "--resume", str(run_dir), "--epochs", "8", *args)
        lines = short_failure(result, 1)
        assert words in lines[0] and lines[1].startswith("hint:")
    result = run("train", "--resume", str(run_dir), "--epochs", "4")
    assert "already has 4 epochs" in short_failure(result, 2)[0]
    assert snapshot(run_dir) == before


def test_a_new_run_never_overwrites_a_run(trained: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    before = snapshot(run_dir)
    result = run("train", "--epochs", "2", "--out", str(run_dir))
    assert "already holds a run" in short_failure(result, 2)[0]
    assert snapshot(run_dir) == before
    result = run("train", "--epochs", "2", "--out", str(run_dir), "--force", "--quiet", "--no-plot")
    assert result.exit_code == 0
    assert load(run_dir, dtype=np.float32).epoch == 2 and not (run_dir / "epoch-0004.npz").exists()


# --- bad input ---------------------------------------------------------------------------------------

CSV_CASES = {
    "text.csv": ("a,b,label\n1,2,0\n3,x,1\n", "line 3, column 2 ('b'): non-numeric cell 'x'"),
    "ragged.csv": ("a,b,label\n1,2,0\n3,1\n", "line 3: expected 3 cells"),
    "nan.csv": ("a,b,label\n1,2,0\n3,nan,1\n", "nan is not a finite number"),
    "inf.csv": ("a,b,label\n1,2,0\n3,inf,1\n1,1,1\n", "inf is not a finite number"),
}


@pytest.mark.parametrize("name", sorted(CSV_CASES))
def test_bad_csv_files_fail_cleanly(tmp_path: Path, name: str) -> None:
    text, words = CSV_CASES[name]
    (tmp_path / name).write_text(text)
    result = run("train", "--data", str(tmp_path / name), "--out", str(tmp_path / "r"), "--quiet")
    assert words in short_failure(result, 1)[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--lr", "0"], 2, "'--lr': must be a number > 0"),
        (["--lr", "-0.1"], 2, "'--lr': must be a number > 0"),
        (["--epochs", "0"], 2, "'--epochs': must be at least 1"),
        (["--batch-size", "0"], 2, "'--batch-size': expected 'full' or a whole number >= 1"),
        (["--val-split", "1.5"], 2, "'--val-split'"),
        (["--data", "no_such_set"], 2, "neither a built-in data set nor an existing file"),
        (["--data", "missing.csv"], 2, "neither a built-in data set nor an existing file"),
        (["--model", "missing.toml"], 2, "does not exist"),
        (["--model", "m.toml", "--hidden", "4"], 2, "'--model': replaces --hidden"),
        (["--force"], 2, "give --out DIR too"),
        (["--data", "spiral", "--loss", "binary-cross-entropy"], 1, "needs labels 0 and 1, but the labels hold 3"),
        # --loss mse alone now means regression (issue 13); with classes asked for, it is refused.
        (["--data", "spiral", "--task", "classification", "--loss", "mse"], 1, "use --loss cross-entropy"),
        (["--data", "line", "--loss", "cross-entropy"], 1, "use --loss mse"),
        (["--data", "digits", "--val-split", "0.9999"], 1, "use a smaller --val-split"),
    ],
)
def test_bad_options_fail_with_the_right_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, words: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.toml").write_text('kind = "sequential"\n[[layers]]\nkind = "dense"\nout_dim = 3\n')
    out = [] if "--force" in args else ["--out", "r"]
    result = run("train", *args, *out, "--quiet")
    assert words in short_failure(result, code)[0]
    assert not Path("r").exists() and not Path("runs").exists()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('kind = "sequential"\n[[layers]]\nkind = "dense2"\nout_dim = 3\n', "unknown kind 'dense2'; did you mean"),
        ('kind = "sequential"\n[[layers]]\nkind = "dense"\noutdim = 3\n', "unknown field 'outdim'"),
        ('kind = "sequential"\n[[layers]]\nkind = "dense"\nout_dim = "three"\n', "out_dim"),
        ('kind = "sequential"\n[[layers]\n', "not valid TOML"),
        ('kind = "sequential"\n[[layers]]\nkind = "dense"\nout_dim = 2\n', "make the last layer's out_dim 3"),
    ],
)
def test_bad_model_files_fail_cleanly(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "m.toml").write_text(text)
    result = run("train", "--model", str(tmp_path / "m.toml"), "--out", str(tmp_path / "r"), "--quiet")
    assert words in short_failure(result, 1)[0]
    assert not (tmp_path / "r").exists()


def test_a_diverging_cost_stops_and_keeps_the_last_finite_state(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run("train", "--optimizer", "sgd", "--lr", "1e12", "--epochs", "5", "--out", str(out), "--quiet")
    first, hint = short_failure(result, 1)
    assert "became NaN or infinite" in first and "smaller learning rate" in hint
    state = load(out, dtype=np.float32)
    assert state.stop_reason == "non_finite"
    assert all(np.all(np.isfinite(a)) for a in fn.tree_leaves(state.params))
    with open(out / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == state.epoch


def test_damaged_checkpoints_fail_cleanly_and_stay_untouched(trained: Path, tmp_path: Path) -> None:
    good = (trained / "checkpoint.npz").read_bytes()
    cases = {
        "garbage": b"this is not a zip archive at all",
        "truncated": good[: len(good) // 2],
    }
    foreign = io.BytesIO()
    np.savez(foreign, w=np.zeros(3))
    cases["foreign"] = foreign.getvalue()
    for name, content in cases.items():
        run_dir = tmp_path / name
        shutil.copytree(trained, run_dir)
        (run_dir / "checkpoint.npz").write_bytes(content)
        before = snapshot(run_dir)
        for command in (
            ["evaluate", str(run_dir)],
            ["inspect", str(run_dir)],
            ["predict", str(run_dir), "spiral"],
            ["train", "--resume", str(run_dir), "--epochs", "9"],
        ):
            lines = short_failure(run(*command), 1)
            assert "checkpoint.npz" in lines[0], (name, command, lines)
        assert snapshot(run_dir) == before
    lines = short_failure(run("evaluate", str(tmp_path / "garbage")), 1)
    assert lines[1].startswith("hint: give a run folder or a checkpoint")


def test_data_with_other_features_than_the_model_is_refused(trained: Path, tmp_path: Path) -> None:
    lines = short_failure(run("evaluate", str(trained), "--data", "breast_cancer"), 1)
    assert "samples of shape (30,)" in lines[0] and "(2,)" in lines[0]
    (tmp_path / "wide.csv").write_text("1,2,3,4,5\n")
    lines = short_failure(run("predict", str(trained), str(tmp_path / "wide.csv")), 1)
    assert "rows have 5 cells" in lines[0]
    lines = short_failure(run("evaluate", str(trained), "--data", "line"), 1)
    assert "real-valued targets" in lines[0]


# --- evaluate, predict, inspect, replay, datasets ----------------------------------------------------


def test_evaluate_prints_the_tables(trained: Path) -> None:
    result = run("evaluate", str(trained), "--split", "all")  # the default is the validation part (issue 13)
    assert result.exit_code == 0, result.output
    ds = spiral()
    predicted = model_outputs(trained, ds.x).argmax(axis=1)
    accuracy = float(np.mean(predicted == ds.y))
    assert f"accuracy    {100 * accuracy:.2f}%" in result.stdout
    assert "confusion matrix (rows: true class, columns: predicted class)" in result.stdout
    assert re.search(r"^macro avg\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+300$", result.stdout, re.MULTILINE)
    for c in range(3):  # each class row of the confusion matrix counts its predictions
        counts = [int(np.sum((ds.y == c) & (predicted == j))) for j in range(3)]
        assert re.search(rf"^{c}\s+{counts[0]}\s+{counts[1]}\s+{counts[2]}$", result.stdout, re.MULTILINE)


def test_evaluate_json_parses_and_matches_the_split(trained: Path) -> None:
    result = run("evaluate", str(trained), "--split", "val", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["samples"] == 60 and report["split"] == "val"
    assert sum(map(sum, report["confusion_matrix"])) == 60
    config = json.loads((trained / "config.json").read_text())
    assert config["split"]["validation"] == 60
    history_val_cost = float(load(trained, dtype=np.float32).history.val_cost[-1])
    assert math.isclose(report["cost"], history_val_cost, rel_tol=1e-6)


def test_evaluate_regression_reports_errors(tmp_path: Path) -> None:
    assert run(f"train --data line --hidden none --epochs 20 --out {tmp_path / 'r'} --quiet --no-plot").exit_code == 0
    report = json.loads(run("evaluate", str(tmp_path / "r"), "--json", "--split", "all").stdout)
    m = report["metrics"]
    assert set(m) == {"mse", "rmse", "mae", "r2"} and math.isclose(m["rmse"], math.sqrt(m["mse"]))
    ds = load_builtin("line", key=fold_in(key(0), "data"))
    y = model_outputs(tmp_path / "r", ds.x)
    assert math.isclose(m["mae"], float(np.mean(np.abs(y - ds.y))), rel_tol=1e-5)


def test_predict_labels_and_probabilities(trained: Path, tmp_path: Path) -> None:
    x = np.array([[0.1, 0.2], [-0.5, 0.3], [0.7, -0.6]])
    (tmp_path / "x.csv").write_text("x0,x1\n" + "\n".join(f"{a},{b}" for a, b in x) + "\n")
    logits = model_outputs(trained, x)
    result = run("predict", str(trained), str(tmp_path / "x.csv"))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows == [["label"]] + [[str(c)] for c in logits.argmax(axis=1)]
    result = run("predict", str(trained), str(tmp_path / "x.csv"), "--proba", "--output", str(tmp_path / "p.csv"))
    assert result.exit_code == 0 and result.stdout == ""
    with open(tmp_path / "p.csv") as f:
        table = list(csv.reader(f))
    assert table[0] == ["p_0", "p_1", "p_2"]
    p = np.array(table[1:], dtype=float)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5)
    # float32 probabilities in the fewest digits that give back the same float32 (not float64's 17 digits)
    assert all(cell == str(np.float32(cell)) for row in table[1:] for cell in row), table


def test_inspect_lists_every_parameter(trained: Path) -> None:
    result = run("inspect", str(trained))
    assert result.exit_code == 0, result.output
    state = load(trained, dtype=np.float32)
    for path, a in fn.tree_flatten(state.params).items():
        shape = "x".join(map(str, a.shape))
        assert re.search(rf"^  {re.escape(path)}\s+{shape}\s+float32$", result.stdout, re.MULTILINE)
    assert "epoch 4, step 32" in result.stdout and "Adam()" in result.stdout
    info = json.loads(run("inspect", str(trained / "epoch-0002.npz"), "--json").stdout)
    assert info["epoch"] == 2 and info["parameter_count"] == sum(int(a.size) for a in fn.tree_leaves(state.params))
    assert [p["path"] for p in info["parameters"]] == sorted(fn.tree_paths(state.params))


def test_replay_evaluates_every_saved_state(trained: Path) -> None:
    result = run("replay", str(trained), "--no-plot")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"^\s+\d+\s+\d+\s", line)]
    assert [int(r[0]) for r in rows] == [0, 2, 4]
    assert rows[0][2] == "-"  # no training cost recorded before the first epoch
    data = json.loads(run("replay", str(trained), "--json", "--no-plot").stdout)
    assert data["epoch"] == [0, 2, 4] and data["split"] == "val"
    final = json.loads(run("evaluate", str(trained), "--split", "val", "--json").stdout)
    assert math.isclose(data["cost"][-1], final["cost"], rel_tol=1e-9)
    assert math.isclose(data["accuracy"][-1], final["metrics"]["accuracy"])


def test_datasets_lists_the_built_ins() -> None:
    result = run("datasets")
    assert result.exit_code == 0
    for name, shape in (("digits", "8x8"), ("breast_cancer", "30"), ("spiral", "2"), ("line", "1")):
        assert re.search(rf"^{name}\s+\d+\s+{shape}\s", result.stdout, re.MULTILINE)
    assert "CC BY 4.0" in result.stdout
    listed = json.loads(run("datasets", "--json").stdout)
    assert {d["name"] for d in listed} >= {"digits", "spiral", "moons", "polynomial"}


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "inspect", "replay", "datasets"])
def test_every_command_has_help_with_examples(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout and f"funcnn {command}" in result.stdout


def test_no_arguments_shows_the_commands() -> None:
    result = run()
    assert "train" in result.output and "datasets" in result.output


def test_early_stopping_keeps_the_best_epoch_and_cannot_be_resumed(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run(f"train --data breast_cancer --early-stopping 3 --epochs 300 --checkpoint-every 1 --out {out} -q")
    assert result.exit_code == 0, result.output
    final = load(out, dtype=np.float32)
    assert final.stop_reason == "early_stopping" and final.best_epoch is not None
    assert final.epoch == final.best_epoch + 3 < 300
    best = load(out / f"epoch-{final.best_epoch:04d}.npz", dtype=np.float32)
    assert fn.tree_equal(final.params, best.params)  # the kept weights are the best epoch's
    assert f"the weights of epoch {final.best_epoch} are kept" in result.stdout
    assert np.argmin(final.history.val_cost) == final.best_epoch - 1
    lines = short_failure(run(f"train --resume {out} --epochs 400"), 1)
    assert "stopped at epoch" in lines[0] and "early stopping" in lines[0]


def test_replay_plot_or_a_note_on_how_to_get_it(trained: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    result = run(f"replay {run_dir}")
    assert result.exit_code == 0, result.output
    if (run_dir / "replay.png").exists():
        assert f"wrote {run_dir / 'replay.png'}" in result.stderr
    else:
        assert result.stderr.count("pip install 'funcnn[plot]'") == 1
