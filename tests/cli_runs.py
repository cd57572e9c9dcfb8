"""Helpers for the in-process CLI tests: invoke a command, check how it failed, look at a run it wrote.

``invoke("train", "--data", "digits", ...)`` runs the Typer app in this process
(Typer's test runner, output captured). :func:`train_digits` writes a model
spec as a ``--model`` file (the JSON of :func:`funcnn.to_config`) and trains it
on the built-in 8x8 digits, so a test that needs a trained run states only the
model and the options that matter to it. :func:`clean_failure` and
:func:`short_failure` check the way a command refuses; :func:`snapshot` and
:func:`model_outputs` read a run folder back.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typer.testing import CliRunner, Result

import funcnn as fn
from funcnn.datasets.inputs import Preparation
from funcnn.io.checkpoint import load
from funcnn_cli.main import app

__all__ = ["clean_failure", "invoke", "model_outputs", "short_failure", "snapshot", "train_digits"]

_runner = CliRunner()


def invoke(*words: str) -> Result:
    """Run ``funcnn WORDS...`` in-process; the result holds the exit code, stdout and stderr.

    A single argument is split like a shell command line: ``invoke(f"train --resume {out}")``.
    """
    return _runner.invoke(app, shlex.split(words[0]) if len(words) == 1 else list(words))


def clean_failure(result: Result, code: int) -> str:
    """Exit ``code`` with a message and no traceback or internal error; returns stderr."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    return str(result.stderr)


def short_failure(result: Result, code: int = 1) -> list[str]:
    """A :func:`clean_failure` told in one or two lines on stderr (the problem, then maybe a hint); the lines."""
    lines = [line for line in clean_failure(result, code).splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, lines
    return lines


def snapshot(folder: Path) -> dict[str, bytes]:
    """The bytes of every file in ``folder``, by name: compare two snapshots to show nothing changed."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def model_outputs(folder: Path, x: ArrayLike) -> NDArray[np.float32]:
    """The outputs of a run's model for raw features ``x``, computed with the library (not the CLI)."""
    state = load(folder / "checkpoint.npz", dtype=np.float32)
    prep = Preparation.load(folder / "preprocess.npz")
    return np.asarray(fn.predict(state.model, state.params, prep.apply(x, np.float32)))


def train_digits(folder: Path, model: fn.Sequential, *options: str) -> Path:
    """Train ``model`` on the digits through ``funcnn train`` into ``folder/run`` and return the run folder.

    The model is written to ``folder/model.json``; ``options`` (``--epochs``,
    ``--augment``, ...) are passed on, after ``--quiet --no-plot``. The run must
    succeed: a failure shows the command's output.
    """
    folder.mkdir(parents=True, exist_ok=True)
    model_file = folder / "model.json"
    model_file.write_text(json.dumps(fn.to_config(model)))
    out = folder / "run"
    result = invoke("train", "--model", str(model_file), "--data", "digits", "--out", str(out),
                    "--quiet", "--no-plot", *options)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out
