"""``funcnn train --augment``: the compact syntax reaches the run's state, config and checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cli_runs import invoke, train_digits

import funcnn as fn
from funcnn.augment import Compose
from funcnn.io.checkpoint import load


def test_augment_is_used_stored_and_resumed(tmp_path: Path) -> None:
    model = fn.Sequential(fn.Conv2D(3, 3), fn.ReLU(), fn.Flatten(), fn.Dense(10))
    out = train_digits(tmp_path, model, "--epochs", "1", "--augment", "flip, rotate=10,zoom=0.1")
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["augment"] == "flip,rotate=10,zoom=0.1"
    state = load(out / "checkpoint.npz", dtype=np.float32)
    assert state.augment == Compose.from_text("flip,rotate=10,zoom=0.1")
    resumed = invoke("train", "--resume", str(out), "--epochs", "2", "--quiet", "--no-plot")
    assert resumed.exit_code == 0, resumed.output
    assert load(out / "checkpoint.npz", dtype=np.float32).augment == state.augment


def test_bad_augment_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("train", "--data", "digits", "--augment", "blur=2", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 2
    assert "unknown item 'blur'" in result.output
    # A model on flat features has no images to augment.
    result = invoke("train", "--data", "digits", "--augment", "flip", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 2
    assert "--augment" in result.output and "convolutional model" in result.output
