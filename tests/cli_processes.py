"""Helpers for the tests that run the installed ``funcnn`` executable in real processes (signals, locks).

:func:`start` runs ``funcnn ARGS...`` with piped output, :func:`wait_for_epochs`
waits until its training has written some epochs, :func:`finish` collects its
output (and never leaves a process behind), and :func:`assert_saved_on_interrupt`
checks what an interrupted ``funcnn train`` must leave: the last finished epoch
saved, its history, and the command that resumes it.
"""

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

from funcnn.io.checkpoint import load

__all__ = ["assert_saved_on_interrupt", "executable", "finish", "start", "wait_for_epochs"]

_ENV = {**os.environ, "COLUMNS": "100"}


def executable() -> str:
    """The ``funcnn`` script installed beside this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).with_name("funcnn")
    found = str(beside) if beside.is_file() else shutil.which("funcnn")
    assert found is not None, "the funcnn command is not installed (pip install -e . or pip install .)"
    return found


def start(*args: str) -> subprocess.Popen[str]:
    """``funcnn ARGS...`` started in its own process, stdout and stderr piped."""
    return subprocess.Popen(
        [executable(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_ENV,
        # A shell may start background jobs with Ctrl-C ignored, and Python then never sees it: undo that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """``(stdout, stderr)`` once ``proc`` ends (killed if it has not ended within two minutes)."""
    try:
        return proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave a process behind
            proc.kill()
            proc.wait()


def wait_for_epochs(proc: subprocess.Popen[str], history: Path, epochs: int) -> None:
    """Wait until ``history`` (a run's history.csv) holds more than ``epochs`` epochs; fail if ``proc`` ends first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if history.is_file() and len(history.read_text().splitlines()) > epochs:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no {epochs} epochs in {history} within two minutes")


def assert_saved_on_interrupt(out: Path, stderr: str, target: int, *, at_least: int) -> int:
    """An interrupted ``funcnn train --out OUT --epochs TARGET``: no traceback; the last finished epoch
    (``>= at_least``) saved, named on stderr with the resume command, and in history.csv; that epoch."""
    assert "Traceback" not in stderr
    epoch = load(out, dtype=np.float32).epoch
    assert epoch >= at_least
    assert f"interrupted: saved epoch {epoch} of {target}" in stderr
    assert f"resume with: funcnn train --resume {out}" in stderr
    with open(out / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(1, epoch + 1))
    return epoch
