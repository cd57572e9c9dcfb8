"""``funcnn sweep``: trials as ordinary run folders, results files, plots, resuming, and bad input.

Sweeps here are tiny (moons, a 8-unit hidden layer, a few epochs) so each test
takes seconds; the Dask test starts and closes a real two-worker LocalCluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import funcnn as fn
from funcnn.io.checkpoint import load
from funcnn.tune import TrialConfig, TrialOutput
from funcnn_cli.commands import sweep as sweep_module
from funcnn_cli.main import app

runner = CliRunner()

GRID = """
[train]
hidden = "8"
epochs = 3
[grid]
lr = [0.003, 0.03]
epochs = [2, 3]
"""


def run(*words: str) -> Any:
    return runner.invoke(app, list(words))


def write(folder: Path, text: str, name: str = "s.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def results(folder: Path) -> dict[str, Any]:
    table: dict[str, Any] = json.loads((folder / "results.json").read_text())
    return table


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # the default --out, sweeps/NAME, lands in the test's folder
    yield


def test_a_grid_writes_run_folders_results_and_a_heat_map(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("sweep", str(write(tmp_path, GRID)), "--data", "moons", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = results(out)
    assert table["monitor"] == "val_accuracy" and len(table["trials"]) == 4
    assert all(t["status"] == "ok" for t in table["trials"])
    best = table["trials"][0]
    assert table["best"] == best["index"]
    assert f"best        trial {best['index']}" in result.stdout
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["index", "status", "lr", "epochs"] and "val_accuracy" in header
    assert (out / "sweep.png").stat().st_size > 0
    for i in range(4):
        trial = out / f"trial-{i:04d}"
        assert {p.name for p in trial.iterdir()} >= {"config.json", "checkpoint.npz", "preprocess.npz", "history.csv"}
    config = json.loads((out / "trial-0003" / "config.json").read_text())
    assert config["settings"]["lr"] == 0.03 and config["settings"]["epochs"] == 3
    assert config["settings"]["hidden"] == [8]
    assert load(out / "trial-0003" / "checkpoint.npz", dtype=np.float32).epoch == 3


def test_a_trial_is_the_run_funcnn_train_writes_with_its_settings(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("sweep", str(write(tmp_path, GRID)), "--data", "moons", "--out", str(out), "--no-plot").exit_code == 0
    alone = tmp_path / "alone"
    words = ["--data", "moons", "--hidden", "8", "--lr", "0.03", "--epochs", "2", "--out", str(alone)]
    trained = run("train", *words, "--quiet", "--no-plot")
    assert trained.exit_code == 0, trained.output
    a = load(alone / "checkpoint.npz", dtype=np.float32)
    b = load(out / "trial-0002" / "checkpoint.npz", dtype=np.float32)
    assert fn.tree_equal(a.params, b.params)
    for name in ("config.json", "schema.json", "checkpoint.npz", "preprocess.npz"):  # the same run, file for file
        assert (alone / name).read_bytes() == (out / "trial-0002" / name).read_bytes(), name
    trial = str(out / "trial-0002")
    for command in (["evaluate", trial], ["inspect", trial], ["replay", trial, "--no-plot"]):
        shown = run(*command)
        assert shown.exit_code == 0, shown.output


def test_rerunning_skips_finished_trials_and_an_interrupted_sweep_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    sweep_file = write(tmp_path, GRID)
    real = sweep_module._trial

    def interrupted(config: TrialConfig, key: fn.Key, shared: sweep_module.SweepData) -> TrialOutput:
        if config.index == 2:
            raise KeyboardInterrupt
        out: TrialOutput = real(config, key, shared)
        return out

    monkeypatch.setattr(sweep_module, "_trial", interrupted)
    stopped = run("sweep", str(sweep_file), "--data", "moons", "--out", str(out), "--no-plot")
    assert stopped.exit_code == 130, stopped.output
    assert "2 of 4 trials finished" in stopped.output
    assert sorted(t["index"] for t in results(out)["trials"]) == [0, 1]
    kept = (out / "trial-0000" / "checkpoint.npz").stat().st_mtime_ns

    ran: list[int] = []

    def counted(config: TrialConfig, key: fn.Key, shared: sweep_module.SweepData) -> TrialOutput:
        ran.append(config.index)
        out: TrialOutput = real(config, key, shared)
        return out

    monkeypatch.setattr(sweep_module, "_trial", counted)
    again = run("sweep", str(sweep_file), "--data", "moons", "--out", str(out), "--no-plot")
    assert again.exit_code == 0, again.output
    assert ran == [2, 3]
    assert sorted(t["index"] for t in results(out)["trials"]) == [0, 1, 2, 3]
    assert (out / "trial-0000" / "checkpoint.npz").stat().st_mtime_ns == kept
    ran.clear()
    assert run("sweep", str(sweep_file), "--data", "moons", "--out", str(out), "--no-plot").exit_code == 0
    assert ran == []


def test_a_failed_trial_is_recorded_and_run_again(tmp_path: Path) -> None:
    text = """
[train]
optimizer = "sgd"
hidden = "none"
epochs = 3
[grid]
lr = [0.01, 1e30]
"""
    out = tmp_path / "out"
    first = run("sweep", str(write(tmp_path, text)), "--data", "line", "--out", str(out), "--no-plot")
    assert first.exit_code == 0, first.output
    by_index = {t["index"]: t for t in results(out)["trials"]}
    assert by_index[0]["status"] == "ok"
    assert by_index[1]["status"] == "failed" and "NaN or infinite" in by_index[1]["message"]
    assert "trial 1 failed" in first.output
    again = run("sweep", str(write(tmp_path, text)), "--data", "line", "--out", str(out), "--no-plot")
    assert again.exit_code == 0
    ran = [line.split(" (")[0] for line in again.output.splitlines() if line.startswith("trial ") and " (lr=" in line]
    assert ran == ["trial 1"]  # the finished trial 0 is kept; the failed trial 1 runs again


def test_one_axis_with_cross_validation_gives_fold_runs_and_spreads(tmp_path: Path) -> None:
    text = """
cv = 3
[train]
hidden = "8"
epochs = 2
[grid]
lr = [0.003, 0.03]
"""
    out = tmp_path / "out"
    result = run("sweep", str(write(tmp_path, text)), "--data", "moons", "--out", str(out))
    assert result.exit_code == 0, result.output
    trial = results(out)["trials"][0]
    assert {"val_accuracy", "val_accuracy_std", "val_cost_std"} <= set(trial["metrics"])
    folds = sorted(p.name for p in (out / "trial-0000").iterdir())
    assert folds == ["fold-1", "fold-2", "fold-3"]
    config = json.loads((out / "trial-0000" / "fold-2" / "config.json").read_text())
    assert config["split"]["fold"] == 2 and config["split"]["validation"] in (66, 67)
    assert (out / "sweep.png").is_file()
    assert "±" in result.stdout


def test_a_random_search_draws_its_trials_from_the_seed(tmp_path: Path) -> None:
    text = """
trials = 3
[train]
hidden = "8"
epochs = 1
[random]
lr = {log_uniform = [0.001, 0.1]}
hidden = ["4", "8"]
"""
    for name in ("a", "b"):
        assert run("sweep", str(write(tmp_path, text)), "--data", "moons", "--out", name, "--no-plot").exit_code == 0
    a, b = results(Path("a")), results(Path("b"))
    assert len(a["trials"]) == 3
    assert sorted(json.dumps(t["config"]) for t in a["trials"]) == sorted(json.dumps(t["config"]) for t in b["trials"])


def test_a_changed_sweep_file_is_refused_with_the_difference(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("sweep", str(write(tmp_path, GRID)), "--data", "moons", "--out", str(out), "--no-plot").exit_code == 0
    before = (out / "results.json").read_bytes()
    changed = run("sweep", str(write(tmp_path, GRID.replace("0.03]", "0.1]"))), "--data", "moons", "--out", str(out))
    assert changed.exit_code == 1
    assert "other settings" in changed.output and "sweep.grid.lr = [0.003, 0.1]" in changed.output
    assert "[0.003, 0.03]" in changed.output
    other_data = run("sweep", str(write(tmp_path, GRID)), "--data", "xor", "--out", str(out))
    assert other_data.exit_code == 1 and "data.source" in other_data.output
    assert (out / "results.json").read_bytes() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[train]\nlrr = 0.1\n[grid]\nlr = [0.1]\n", ["unknown option 'lrr'", "batch_size", "epochs"]),
        ("[grid]\nwidth = [1, 2]\n", ["unknown axis 'width'", "hidden"]),
        ("[grid]\nlr = []\n", ["axis 'lr' is empty"]),
        ("[grid]\nlr = [-1.0]\n", ["lr = -1.0", "must be a number > 0"]),
        ("[grid]\nsamples = [10, 20]\n", ["'samples' cannot be an axis", "loaded once"]),
        ("[train]\nepochs = 2\n", ["[grid] table or in a [random] table"]),
        ("[grid]\nlr = [0.1]\n[extra]\nx = 1\n", ["unknown entry 'extra'", "train, grid, random"]),
        ("monitor = 'val_f1'\n[grid]\nlr = [0.1]\n", ["monitor 'val_f1'", "val_accuracy"]),
    ],
)
def test_bad_sweep_files_name_the_problem(tmp_path: Path, text: str, expected: list[str]) -> None:
    result = run("sweep", str(write(tmp_path, text)), "--data", "moons", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    for words in expected:
        assert words in result.output
    assert not (tmp_path / "out").exists()


def test_another_folder_or_an_unreachable_scheduler_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    result = run("sweep", str(write(tmp_path, GRID)), "--data", "moons", "--out", str(busy))
    assert result.exit_code == 2 and "holds no sweep" in result.output
    out = tmp_path / "out"
    words = ["--data", "moons", "--out", str(out), "--scheduler", "tcp://127.0.0.1:9", "--timeout", "1"]
    unreachable = run("sweep", str(write(tmp_path, GRID)), *words)
    assert unreachable.exit_code == 1, unreachable.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s" in unreachable.output
    assert "nothing was written" in unreachable.output
    assert not out.exists()


def test_without_matplotlib_the_results_are_written_and_the_plot_is_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from funcnn_cli import plots

    monkeypatch.setattr(plots, "available", lambda: False)
    result = run("sweep", str(write(tmp_path, GRID)), "--data", "moons")
    assert result.exit_code == 0, result.output
    out = Path("sweeps") / "s"  # the default --out
    assert (out / "results.csv").is_file() and not (out / "sweep.png").exists()
    assert "pip install 'funcnn[plot]'" in result.output


def _metrics(folder: Path) -> dict[int, dict[str, float]]:
    return {t["index"]: t["metrics"] for t in results(folder)["trials"]}


def test_two_local_workers_and_a_dask_cluster_give_the_serial_results(tmp_path: Path) -> None:
    from distributed import LocalCluster

    sweep_file = write(tmp_path, GRID)
    assert run("sweep", str(sweep_file), "--data", "moons", "--out", "serial", "--no-plot").exit_code == 0
    pool = run("sweep", str(sweep_file), "--data", "moons", "--out", "pool", "--workers", "2", "--no-plot")
    assert pool.exit_code == 0, pool.output
    assert _metrics(Path("pool")) == _metrics(Path("serial"))
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        words = ["--data", "moons", "--out", "dask", "--scheduler", cluster.scheduler_address, "--no-plot"]
        on_dask = run("sweep", str(sweep_file), *words)
    assert on_dask.exit_code == 0, on_dask.output
    assert _metrics(Path("dask")) == _metrics(Path("serial"))
    a = load(Path("serial") / "trial-0001" / "checkpoint.npz", dtype=np.float32)
    b = load(Path("dask") / "trial-0001" / "checkpoint.npz", dtype=np.float32)
    assert fn.tree_equal(a.params, b.params)


def test_a_sweep_folder_in_use_is_refused(tmp_path: Path) -> None:
    from funcnn.io.lock import claim

    out = tmp_path / "out"
    sweep_file = write(tmp_path, GRID)
    assert run("sweep", str(sweep_file), "--data", "moons", "--out", str(out), "--no-plot").exit_code == 0
    with claim(out):  # another process running this sweep holds the folder
        busy = run("sweep", str(sweep_file), "--data", "moons", "--out", str(out), "--no-plot")
    assert busy.exit_code == 1 and "in use by process" in busy.output
    assert not (out / ".funcnn.lock").exists()


def test_a_trial_claims_its_run_folder_as_funcnn_train_does(tmp_path: Path) -> None:
    from funcnn.io.lock import claim

    out = tmp_path / "out"
    sweep_file = write(tmp_path, GRID)
    assert run("sweep", str(sweep_file), "--data", "moons", "--out", str(out), "--no-plot").exit_code == 0
    (out / "results.json").unlink()  # as if no trial had finished: every trial runs again
    kept = (out / "trial-0001" / "checkpoint.npz").read_bytes()
    with claim(out / "trial-0001"):  # a live process (this one) writes trial 1's folder
        first = run("sweep", str(sweep_file), "--data", "moons", "--out", str(out), "--no-plot")
    assert first.exit_code == 0, first.output
    by_index = {t["index"]: t for t in results(out)["trials"]}
    assert by_index[1]["status"] == "failed" and "in use by process" in by_index[1]["message"]
    assert (out / "trial-0001" / "checkpoint.npz").read_bytes() == kept  # the held folder was left alone
    assert all(by_index[i]["status"] == "ok" for i in (0, 2, 3))
    assert not list(out.glob("trial-*/.funcnn.lock"))  # every trial let go of its folder
    again = run("sweep", str(sweep_file), "--data", "moons", "--out", str(out), "--no-plot")
    assert again.exit_code == 0, again.output
    assert all(t["status"] == "ok" for t in results(out)["trials"])


def test_a_seed_axis_redraws_synthetic_data_as_funcnn_train_does(tmp_path: Path) -> None:
    text = '[train]\nhidden = "8"\nepochs = 1\n[grid]\nseed = [0, 1]\n'
    out = tmp_path / "out"
    assert run("sweep", str(write(tmp_path, text)), "--data", "moons", "--out", str(out), "--no-plot").exit_code == 0
    alone = tmp_path / "alone"
    words = ["--data", "moons", "--hidden", "8", "--epochs", "1", "--seed", "1", "--out", str(alone)]
    assert run("train", *words, "--quiet", "--no-plot").exit_code == 0
    for name in ("config.json", "checkpoint.npz"):
        assert (alone / name).read_bytes() == (out / "trial-0001" / name).read_bytes(), name
