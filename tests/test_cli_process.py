"""The installed ``funcnn`` executable in real processes: help, and Ctrl-C (SIGINT) during training."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import numpy as np
from cli_processes import assert_saved_on_interrupt, executable, finish, start, wait_for_epochs
from cli_runs import invoke

import funcnn as fn
from funcnn.io.checkpoint import load


def test_help_of_the_installed_command() -> None:
    done = subprocess.run([executable(), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("train", "evaluate", "predict", "inspect", "replay", "datasets"):
        assert command in done.stdout


def test_sigint_saves_the_last_epoch_and_resuming_gives_the_uninterrupted_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start("train", "--epochs", "100000", "--dropout", "0.1", "--out", str(out))
    try:
        wait_for_epochs(proc, out / "history.csv", 2)  # training runs (two epochs written): press Ctrl-C
        proc.send_signal(signal.SIGINT)
    finally:
        stdout, stderr = finish(proc)
    assert proc.returncode == 130, (stdout, stderr)
    epoch = assert_saved_on_interrupt(out, stderr, 100000, at_least=2)

    # Resume to one more epoch; compare with a run that was never interrupted.
    result = invoke("train", "--resume", str(out), "--epochs", str(epoch + 1), "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    straight = tmp_path / "straight"
    words = ["--epochs", str(epoch + 1), "--dropout", "0.1", "--out", str(straight)]
    result = invoke("train", *words, "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    assert fn.tree_equal(load(out, dtype=np.float32).params, load(straight, dtype=np.float32).params)
