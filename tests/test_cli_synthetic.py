"""``--samples``, ``--noise``, ``--classes`` for the synthetic built-ins, and ``--tol`` (stop on convergence)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import funcnn as fn
from funcnn.datasets import synthetic
from funcnn.datasets.builtin import GENERATOR_OPTIONS, load_builtin
from funcnn.errors import DataError, MissingRngError
from funcnn.io.checkpoint import load
from funcnn_cli.main import app

runner = CliRunner()


def run(*words: str) -> Any:
    return runner.invoke(app, list(words))


def test_generator_options_reach_the_generator() -> None:
    k = fn.key(3)
    a = load_builtin("spiral", key=k, options={"samples": 30, "noise": 0.05, "classes": 5})
    b = synthetic.spiral(k, n_per_class=30, noise=0.05, classes=5)
    assert a.x.shape == (150, 2) and a.n_classes == 5
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    c = load_builtin("blobs", key=k, options={"noise": 0.5})  # blobs' noise is its cluster std
    assert np.array_equal(c.x, synthetic.blobs(k, std=0.5).x)
    d = load_builtin("line", key=k, options={"samples": 17})  # regression: samples in all
    assert d.x.shape == (17, 1)
    assert np.array_equal(load_builtin("moons", key=k, options={}).x, load_builtin("moons", key=k).x)


def test_generator_options_are_checked_per_data_set() -> None:
    with pytest.raises(DataError, match=r"unknown generator option 'classes'; xor takes samples, noise"):
        load_builtin("xor", key=fn.key(0), options={"classes": 3})
    with pytest.raises(DataError, match="digits is not synthetic and takes no generator options"):
        load_builtin("digits", options={"samples": 3})
    with pytest.raises(DataError, match=r"load_builtin\('spiral', samples=0\): spiral: n_per_class must be"):
        load_builtin("spiral", key=fn.key(0), options={"samples": 0})
    with pytest.raises(MissingRngError):
        load_builtin("moons", options={"noise": 0.2})
    assert set(GENERATOR_OPTIONS) == {i.name for i in fn.describe_builtins() if i.synthetic}


def test_train_draws_the_data_the_options_ask_for_and_resumes_them(tmp_path: Path) -> None:
    out = tmp_path / "run"
    words = ["--data", "spiral", "--samples", "20", "--classes", "4", "--noise", "0.1", "--epochs", "1"]
    result = run("train", *words, "--out", str(out), "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["samples"] == 80 and config["data"]["classes"] == 4
    assert (config["settings"]["samples"], config["settings"]["classes"], config["settings"]["noise"]) == (20, 4, 0.1)
    expected = synthetic.spiral(fn.fold_in(fn.key(0), "data"), n_per_class=20, classes=4, noise=0.1)
    assert config["data"]["fingerprint"] == fn.datasets.inputs.fingerprint(expected.x, expected.y)
    resumed = run("train", "--resume", str(out), "--epochs", "2", "--quiet", "--no-plot")
    assert resumed.exit_code == 0, resumed.output
    assert load(out / "checkpoint.npz", dtype=np.float32).epoch == 2
    changed = run("train", "--resume", str(out), "--epochs", "3", "--samples", "30", "--quiet", "--no-plot")
    assert changed.exit_code == 1 and "--samples 30 (the run has 20)" in changed.output


@pytest.mark.parametrize(
    ("words", "code", "expected"),
    [
        (["--data", "xor", "--classes", "3"], 1, "xor takes samples, noise"),
        (["--data", "digits", "--samples", "10"], 1, "digits is not synthetic"),
        (["--data", "spiral", "--classes", "1"], 2, "must be at least 2"),
        (["--data", "spiral", "--noise", "-1"], 2, "must be a number >= 0"),
    ],
)
def test_bad_generator_options_are_refused(tmp_path: Path, words: list[str], code: int, expected: str) -> None:
    result = run("train", *words, "--out", str(tmp_path / "r"), "--quiet", "--no-plot")
    assert result.exit_code == code, result.output
    assert expected in result.output
    assert not (tmp_path / "r" / "config.json").exists()


def test_generator_options_on_a_file_are_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n11,12,1\n")
    result = run("train", "--data", str(path), "--samples", "5", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 2
    assert "--samples" in result.output and "synthetic data sets only" in result.output


def test_tol_stops_a_converged_run_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "run"
    words = ["--data", "line", "--hidden", "none", "--epochs", "50", "--tol", "1e6", "--out", str(out)]
    result = run("train", *words, "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    assert "epochs      1 of 50" in result.stdout and "converged" in result.stdout
    state = load(out / "checkpoint.npz", dtype=np.float32)
    assert state.stop_reason == "converged" and state.epoch == 1
    resumed = run("train", "--resume", str(out), "--epochs", "60", "--quiet", "--no-plot")
    assert resumed.exit_code == 1 and "converged" in resumed.output


def test_load_data_passes_generator_options_to_the_built_ins(tmp_path: Path) -> None:
    from funcnn.datasets import load_data

    k = fn.key(1)
    assert np.array_equal(load_data("moons", key=k, options={"samples": 7}).x, synthetic.moons(k, n_per_class=7).x)
    path = tmp_path / "d.csv"
    path.write_text("a,label\n1,0\n2,1\n")
    with pytest.raises(DataError, match="apply to synthetic built-in data sets only"):
        load_data(path, options={"noise": 0.1})
