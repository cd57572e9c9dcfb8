"""The installed ``funcnn`` executable in real processes: help, and Ctrl-C (SIGINT) during training."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

import funcnn as fn
from funcnn.io.checkpoint import load
from funcnn_cli.main import app


def executable() -> str:
    """The ``funcnn`` script installed beside this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).with_name("funcnn")
    found = str(beside) if beside.is_file() else shutil.which("funcnn")
    assert found is not None, "the funcnn command is not installed (pip install -e . or pip install .)"
    return found


def test_help_of_the_installed_command() -> None:
    done = subprocess.run([executable(), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("train", "evaluate", "predict", "inspect", "replay", "datasets"):
        assert command in done.stdout


def test_sigint_saves_the_last_epoch_and_resuming_gives_the_uninterrupted_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "COLUMNS": "100"}
    proc = subprocess.Popen(
        [executable(), "train", "--epochs", "100000", "--dropout", "0.1", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell may start background jobs with Ctrl-C ignored, and Python then never sees it: undo that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    history = out / "history.csv"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until training runs (two epochs written), then press Ctrl-C
            if history.is_file() and len(history.read_text().splitlines()) >= 3:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # never leave a training process behind
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    epoch = load(out, dtype=np.float32).epoch
    assert epoch >= 2
    assert f"interrupted: saved epoch {epoch} of 100000" in stderr
    assert f"resume with: funcnn train --resume {out}" in stderr
    with open(history) as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(1, epoch + 1))

    # Resume to one more epoch; compare with a run that was never interrupted.
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--resume", str(out), "--epochs", str(epoch + 1), "--quiet", "--no-plot"])
    assert result.exit_code == 0, result.output
    straight = tmp_path / "straight"
    result = runner.invoke(
        app, ["train", "--epochs", str(epoch + 1), "--dropout", "0.1", "--out", str(straight), "--quiet", "--no-plot"]
    )
    assert result.exit_code == 0, result.output
    assert fn.tree_equal(load(out, dtype=np.float32).params, load(straight, dtype=np.float32).params)
