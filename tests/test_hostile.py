"""Issue 12: nothing lost, nothing hangs, nothing explodes (run folders and hostile files).

One test (or a few) per item of the issue; each reproduced the failure on the code before the fix.
The signal items (5, 6) and the two-process claim (3) run real processes: see ``test_signals.py``.
Memory-bounded cases assert the refusal, never a timing.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_runs import clean_failure
from cli_runs import invoke as run

import funcnn as fn
from funcnn.config import load_model_file
from funcnn.errors import CheckpointError, ConfigError, DataError, RunLockedError
from funcnn.io import bounded, container
from funcnn.io.checkpoint import checkpoint_info, load
from funcnn.io.layout import LOCK
from funcnn.io.lock import claim, lock_owner
from funcnn_cli.rundir import check_output


def train(folder: Path, *extra: str) -> None:
    result = run("train", "--epochs", "2", "--out", str(folder), "--quiet", "--no-plot", *extra)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small spiral run of 2 epochs (never modified: tests copy it)."""
    folder = tmp_path_factory.mktemp("hostile") / "run"
    train(folder)
    return folder


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        if p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


def rewrite(
    src: Path,
    dst: Path,
    edit: Callable[[dict[str, Any]], None] | None = None,
    members: dict[str, bytes] | None = None,
    deflate: tuple[str, ...] = (),
) -> Path:
    """A copy of a checkpoint with its manifest edited and members replaced (optionally compressed)."""
    with zipfile.ZipFile(src) as z:
        items = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(items[container.MANIFEST])
    if edit is not None:
        edit(manifest)
    items[container.MANIFEST] = json.dumps(manifest).encode()
    items.update(members or {})
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in items.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED)
    return dst


def npy(a: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, a)
    return buffer.getvalue()


# --- 1. no command writes over a run's files, or any file without --force ---------------------


def test_predict_never_writes_over_a_run_file_even_with_force(trained: Path, tmp_path: Path) -> None:
    points = tmp_path / "x.csv"
    points.write_text("x0,x1\n0.1,0.2\n0.3,0.4\n")
    before = (trained / "checkpoint.npz").read_bytes()
    for target in ("checkpoint.npz", "config.json", "history.csv", "preprocess.npz"):
        result = run("predict", str(trained), str(points), "--output", str(trained / target), "--force")
        assert "a file of the run" in clean_failure(result, 2)
    assert (trained / "checkpoint.npz").read_bytes() == before


def test_an_existing_file_is_replaced_only_with_force(trained: Path, tmp_path: Path) -> None:
    other = tmp_path / "keep.txt"
    other.write_text("keep")
    with pytest.raises(Exception, match="exists; pass --force"):
        check_output(other, "--output", force=False)
    check_output(other, "--output", force=True)  # allowed: an ordinary file
    with pytest.raises(Exception, match="a file of the run"):
        check_output(trained / "epoch-0002.npz", "--out", force=True)
    with pytest.raises(Exception, match="a file of the run"):
        check_output(trained / LOCK, "--out", force=True)
    assert other.read_text() == "keep"


def test_export_never_targets_a_run_file(trained: Path) -> None:
    before = (trained / "checkpoint.npz").read_bytes()
    result = run("export", str(trained), "--format", "safetensors", "--out", str(trained / "checkpoint.npz"), "--force")
    assert "a file of the run" in clean_failure(result, 2)
    assert (trained / "checkpoint.npz").read_bytes() == before


def test_explain_replaces_its_figures_only_with_force(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "figures"
    assert run("explain", str(trained), "--samples", "0", "--out", str(out)).exit_code == 0
    before = (out / "saliency.npz").read_bytes()
    (out / "saliency.npz").write_bytes(b"mine")
    assert "saliency.npz exists; pass --force" in clean_failure(
        run("explain", str(trained), "--samples", "0", "--out", str(out)), 2
    )
    assert (out / "saliency.npz").read_bytes() == b"mine"
    assert run("explain", str(trained), "--samples", "0", "--out", str(out), "--force").exit_code == 0
    assert (out / "saliency.npz").read_bytes() == before


# --- 2. impossible counts are refused, history.csv is kept --------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("epoch", -5, "epoch"), ("step", -1, "step"), ("wait", 99, "wait"), ("epoch", 7, "history"),
     ("best_epoch", 40, "best_epoch")],
)
def test_impossible_counts_are_refused_by_load(
    trained: Path, tmp_path: Path, field: str, value: int, named: str
) -> None:
    def edit(m: dict[str, Any]) -> None:
        m["state"]["fields"][field] = value

    bad = rewrite(trained / "checkpoint.npz", tmp_path / "bad.npz", edit)
    with pytest.raises(CheckpointError, match=named):
        load(bad)


def test_resume_from_an_impossible_state_keeps_history(trained: Path, tmp_path: Path) -> None:
    folder = copy_run(trained, tmp_path / "run")

    def edit(m: dict[str, Any]) -> None:
        m["state"]["fields"]["epoch"] = -5

    rewrite(trained / "checkpoint.npz", folder / "checkpoint.npz", edit)
    history = (folder / "history.csv").read_bytes()
    err = clean_failure(run("train", "--resume", str(folder), "--epochs", "9", "--quiet", "--no-plot"), 1)
    assert "epoch: expected a count >= 0, got -5" in err
    assert (folder / "history.csv").read_bytes() == history
    assert "epoch -5" not in run("inspect", str(folder)).output


# --- 3. claiming a run folder -------------------------------------------------------------------


def test_a_second_claim_fails_while_the_first_holds(tmp_path: Path) -> None:
    with claim(tmp_path / "run") as held:
        owner = lock_owner(held.folder)
        assert owner is not None and owner.pid == os.getpid() and owner.host == socket.gethostname()
        with pytest.raises(RunLockedError, match=f"in use by process {os.getpid()}") as error:
            claim(tmp_path / "run", take_stale=True)  # a live owner is never taken over
        assert not error.value.stale
    assert not (tmp_path / "run" / LOCK).exists()


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_stale_lock_is_recognised_and_explained(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    pid = dead_pid()
    (folder / LOCK).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": 0}))
    with pytest.raises(RunLockedError, match=f"left by process {pid}.*no longer running") as error:
        claim(folder)
    assert error.value.stale
    with claim(folder, take_stale=True) as held:
        assert held.replaced is not None and held.replaced.pid == pid
    assert not (folder / LOCK).exists()


def test_train_refuses_a_folder_another_process_holds(trained: Path, tmp_path: Path) -> None:
    folder = copy_run(trained, tmp_path / "run")
    with claim(folder):  # this process plays the other claimant
        for args in (["--resume", str(folder), "--epochs", "5"], ["--out", str(folder), "--force"]):
            err = clean_failure(run("train", *args, "--quiet", "--no-plot"), 1)
            assert f"in use by process {os.getpid()}" in err


def test_train_explains_a_stale_lock_and_resume_takes_it_over(trained: Path, tmp_path: Path) -> None:
    folder = copy_run(trained, tmp_path / "run")
    pid = dead_pid()
    (folder / LOCK).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": 0}))
    err = clean_failure(run("train", "--out", str(folder), "--quiet", "--no-plot"), 1)
    assert f"process {pid}" in err and "no longer running" in err and "--resume" in err and "--force" in err
    result = run("train", "--resume", str(folder), "--epochs", "3", "--no-plot")
    assert result.exit_code == 0, result.output
    assert f"took over the lock left by process {pid}" in result.stderr
    assert not (folder / LOCK).exists()


# --- 4. run identity ------------------------------------------------------------------------------


def test_checkpoints_carry_the_run_identity(trained: Path) -> None:
    config = json.loads((trained / "config.json").read_text())
    info = checkpoint_info(trained)
    assert info.run is not None
    assert info.run.id == config["run"]["id"]
    assert info.run.data == config["data"]["fingerprint"]


def test_resume_refuses_a_checkpoint_of_another_run(trained: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    train(other, "--seed", "3")
    folder = copy_run(trained, tmp_path / "run")
    (folder / "checkpoint.npz").write_bytes((other / "checkpoint.npz").read_bytes())
    err = clean_failure(run("train", "--resume", str(folder), "--epochs", "5", "--quiet", "--no-plot"), 1)
    ours = json.loads((trained / "config.json").read_text())["run"]["id"]
    theirs = json.loads((other / "config.json").read_text())["run"]["id"]
    assert ours in err and theirs in err and "copied from another run" in err


# --- 7. zip bombs and oversized manifests ---------------------------------------------------------


def test_a_compressed_member_is_refused_before_inflating(trained: Path, tmp_path: Path) -> None:
    big = np.zeros((2, 1 << 22), dtype=np.float32)  # 32 MB of zeros: 32 KB deflated

    def edit(m: dict[str, Any]) -> None:
        m["arrays"]["params/dense_0/w"]["shape"] = list(big.shape)

    bomb = rewrite(trained / "checkpoint.npz", tmp_path / "bomb.npz", edit, {"params/dense_0/w.npy": npy(big)},
                   deflate=("params/dense_0/w.npy",))
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(CheckpointError, match="compressed member.*nothing was read"):
        load(bomb)
    assert "compressed member" in clean_failure(run("inspect", str(bomb)), 1)


def test_a_member_larger_than_declared_is_not_read(trained: Path, tmp_path: Path) -> None:
    bomb = rewrite(trained / "checkpoint.npz", tmp_path / "bomb.npz",
                   members={"history/cost.npy": npy(np.zeros(1 << 17))})
    with pytest.raises(CheckpointError, match=r"history/cost: the manifest declares \d+ bytes.*not read"):
        load(bomb)


def test_a_compressed_preprocessing_file_is_refused(trained: Path, tmp_path: Path) -> None:
    folder = copy_run(trained, tmp_path / "run")
    np.savez_compressed(folder / "preprocess.npz", mean=np.zeros(1 << 20))
    err = clean_failure(run("evaluate", str(folder)), 1)
    assert "preprocess.npz: compressed member" in err


def test_an_oversized_or_deep_manifest_is_refused(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deep(m: dict[str, Any]) -> None:
        nested: list[Any] = []
        for _ in range(500):
            nested = [nested]
        m["note"] = nested

    with pytest.raises(CheckpointError, match="nested 50[0-9] levels deep, more than the 100 allowed"):
        checkpoint_info(rewrite(trained / "checkpoint.npz", tmp_path / "deep.npz", deep))
    monkeypatch.setattr(container, "MAX_MANIFEST_BYTES", 1000)
    with pytest.raises(CheckpointError, match="more than the 1000 a manifest may hold"):
        checkpoint_info(trained)


def test_bounded_json_never_raises_recursion_error() -> None:
    for depth in (101, 900, 5000, 100_000):
        with pytest.raises(ValueError, match="levels deep"):
            bounded.loads("[" * depth + "]" * depth)
    assert bounded.loads("[" * 100 + "]" * 100) is not None


# --- 8. a huge model is refused before allocating ---------------------------------------------------


def huge_model(trained: Path, tmp_path: Path) -> Path:
    def edit(m: dict[str, Any]) -> None:
        m["state"]["fields"]["model"]["config"]["layers"][-1]["out_dim"] = 10**9

    return rewrite(trained / "checkpoint.npz", tmp_path / "huge.npz", edit)


def test_a_huge_model_is_refused_by_its_parameter_count(trained: Path, tmp_path: Path) -> None:
    huge = huge_model(trained, tmp_path)
    with pytest.raises(CheckpointError, match="parameters, more than max_params=500,000,000; nothing was read"):
        load(huge)
    # With the limit raised, the params are compared by shape alone: still no allocation of the model's size.
    with pytest.raises(CheckpointError, match=r"params/dense_1/b: expected shape \(1000000000,\), got \(3,\)"):
        load(huge, max_params=10**12)


def test_the_cli_names_the_max_params_flag_and_honours_it(trained: Path, tmp_path: Path) -> None:
    huge = huge_model(trained, tmp_path)
    err = clean_failure(run("inspect", str(huge)), 1)
    assert "--max-params" in err and "batch-size" not in err
    err = clean_failure(run("inspect", str(huge), "--max-params", str(10**12)), 1)
    assert "expected shape (1000000000,)" in err and "out of memory" not in err
    assert run("inspect", str(trained), "--max-params", "1000").exit_code == 0
    assert "more than max_params=10" in clean_failure(run("evaluate", str(trained), "--max-params", "10"), 1)


# --- 9 and 10. bad data files: named, never blamed on --batch-size; only regular files ---------


def test_a_huge_csv_cell_is_named_not_blamed_on_the_batch_size(tmp_path: Path) -> None:
    data = tmp_path / "cell.csv"
    data.write_text("a,label\n" + "1" * 1_000_000 + ",0\n1,1\n2,0\n3,1\n")
    err = clean_failure(run("train", "--data", str(data), "--epochs", "1", "--quiet", "--no-plot",
                            "--out", str(tmp_path / "run")), 1)
    assert str(data) in err or "cell.csv" in err
    assert "batch-size" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need a POSIX system")
def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        fn.load_data(str(fifo))
    # In a process of its own: a hang would fail the timeout instead of blocking the test run.
    done = subprocess.run(
        [sys.executable, "-m", "funcnn", "train", "--data", str(fifo), "--epochs", "1", "--quiet", "--no-plot",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "not a regular file or a folder" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_at_once(tmp_path: Path) -> None:
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(DataError, match="not a regular file"):
        fn.load_data(str(link))
    err = clean_failure(run("train", "--data", str(link), "--epochs", "1", "--quiet", "--no-plot"), 2)
    assert "not a regular file or a folder" in err
    model = tmp_path / "zero.json"
    model.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_model_file(model)


def test_out_of_memory_does_not_blame_a_file_on_the_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from funcnn_cli.errors import handle_errors

    with pytest.raises(typer.Exit), handle_errors():
        raise MemoryError("Unable to allocate 16.0 GiB for an array with shape (2, 1000000000)")
    err = capsys.readouterr().err
    assert "out of memory: Unable to allocate 16.0 GiB" in err
    assert "use a smaller --batch-size" not in err


# --- 11. config.json checked like the command line; model files bounded ------------------------


def _set(path: str, value: object) -> Callable[[dict[str, Any]], object]:
    def edit(config: dict[str, Any]) -> object:
        *parents, last = path.split(".")
        node = config
        for name in parents:
            node = node[name]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
        return config

    return edit


_DELETE = object()
_DEEP: list[Any] = []
for _ in range(300):
    _DEEP = [_DEEP]


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (_set("settings.lr", "fast"), "settings.lr"),
        (_set("settings.epochs", -1), "settings.epochs"),
        (_set("settings.optimizer", "adamw"), "settings.optimizer"),
        (_set("settings.hidden", "64"), "settings.hidden"),
        (_set("settings.bogus", 1), "bogus"),
        (_set("settings", _DELETE), "settings"),
        (_set("data", _DELETE), "data"),
        (_set("data.source", 5), "data.source"),
        (_set("data.task", "clustering"), "data.task"),
        (_set("run", "abc"), "run"),
        (_set("settings.hidden", _DEEP), "levels deep"),
    ],
)
def test_a_hand_edited_config_names_the_field(
    trained: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], object], named: str
) -> None:
    folder = copy_run(trained, tmp_path / "run")
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    err = clean_failure(run("train", "--resume", str(folder), "--epochs", "5", "--quiet", "--no-plot"), 1)
    assert named in err and "config.json" in err


def test_a_config_that_is_not_an_object_is_refused(trained: Path, tmp_path: Path) -> None:
    folder = copy_run(trained, tmp_path / "run")
    (folder / "config.json").write_text("[1, 2, 3]")
    err = clean_failure(run("train", "--resume", str(folder), "--epochs", "5", "--quiet", "--no-plot"), 1)
    assert "config.json" in err and "expected a JSON object" in err


def test_a_deeply_nested_model_file_is_refused(tmp_path: Path) -> None:
    model: dict[str, Any] = {"kind": "sequential", "layers": []}
    node = model
    for _ in range(300):
        inner: dict[str, Any] = {"kind": "sequential", "layers": []}
        node["layers"] = [inner]
        node = inner
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(model))
    with pytest.raises(ConfigError, match="levels deep"):
        load_model_file(path)
    err = clean_failure(run("train", "--model", str(path), "--epochs", "1", "--quiet", "--no-plot",
                            "--out", str(tmp_path / "run")), 1)
    assert "deep.json" in err and "levels deep" in err


# --- 12. CSV values that overflow -------------------------------------------------------------


def test_overflowing_csv_values_name_the_file_line_and_column(tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    data.write_text("a,b,label\n1e308,1e308,0\n-1e308,1e308,1\n1e308,-1e308,0\n1,2,1\n")
    result = run("train", "--data", str(data), "--epochs", "1", "--quiet", "--no-plot", "--out", str(tmp_path / "r"))
    err = clean_failure(result, 1)
    assert "RuntimeWarning" not in result.output
    assert "big.csv" in err and "column" in err and "line" in err


# --- 13. a folder left by a crash before its first save --------------------------------------------


def test_an_incomplete_run_folder_has_a_way_out(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "history.csv").write_text("epoch,step,cost\n")
    err = clean_failure(run("train", "--resume", str(folder), "--epochs", "2", "--quiet", "--no-plot"), 1)
    assert "incomplete" in err and f"--out {folder} --force" in err
    err = clean_failure(run("train", "--out", str(folder), "--epochs", "2", "--quiet", "--no-plot"), 2)
    assert "incomplete" in err and "--force" in err and "--resume" not in err
    result = run("train", "--out", str(folder), "--force", "--epochs", "2", "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    assert load(folder).epoch == 2
