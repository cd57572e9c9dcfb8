"""``funcnn train --augment``: the compact syntax reaches the run's state, config and checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from funcnn.augment import Compose
from funcnn.io.checkpoint import load
from funcnn_cli.main import app

runner = CliRunner()

CNN = """kind = "sequential"
[[layers]]
kind = "conv2d"
out_channels = 3
kernel_size = 3
[[layers]]
kind = "relu"
[[layers]]
kind = "flatten"
[[layers]]
kind = "dense"
out_dim = 10
"""


def run(*words: str) -> Any:
    return runner.invoke(app, list(words))


def test_augment_is_used_stored_and_resumed(tmp_path: Path) -> None:
    (tmp_path / "cnn.toml").write_text(CNN)
    out = tmp_path / "run"
    common = ["--model", str(tmp_path / "cnn.toml"), "--data", "digits", "--quiet", "--no-plot"]
    result = run("train", *common, "--epochs", "1", "--out", str(out), "--augment", "flip, rotate=10,zoom=0.1")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["augment"] == "flip,rotate=10,zoom=0.1"
    state = load(out / "checkpoint.npz", dtype=np.float32)
    assert state.augment == Compose.from_text("flip,rotate=10,zoom=0.1")
    resumed = run("train", "--resume", str(out), "--epochs", "2", "--quiet", "--no-plot")
    assert resumed.exit_code == 0, resumed.output
    assert load(out / "checkpoint.npz", dtype=np.float32).augment == state.augment


def test_bad_augment_is_a_usage_error(tmp_path: Path) -> None:
    result = run("train", "--data", "digits", "--augment", "blur=2", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 2
    assert "unknown item 'blur'" in result.output
    # A model on flat features has no images to augment.
    result = run("train", "--data", "digits", "--augment", "flip", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 2
    assert "--augment" in result.output and "convolutional model" in result.output
