"""Helpers for the in-process CLI tests: invoke a command, and train a small run to test it on.

``invoke("train", "--data", "digits", ...)`` runs the Typer app in this process
(Typer's test runner, output captured). :func:`train_digits` writes a model
spec as a ``--model`` file (the JSON of :func:`funcnn.to_config`) and trains it
on the built-in 8x8 digits, so a test that needs a trained run states only the
model and the options that matter to it.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

import funcnn as fn
from funcnn_cli.main import app

__all__ = ["invoke", "train_digits"]

_runner = CliRunner()


def invoke(*words: str) -> Result:
    """Run ``funcnn WORDS...`` in-process; the result holds the exit code, stdout and stderr."""
    return _runner.invoke(app, list(words))


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
