"""``funcnn export``: a CNN run trained through the CLI, exported, checked; files never overwritten silently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runs import invoke, train_digits

import funcnn as fn
from funcnn.datasets import load_builtin
from funcnn.datasets.inputs import Preparation
from funcnn.io.checkpoint import load

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install 'funcnn[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install 'funcnn[onnx]'")





@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained for one epoch on the 8x8 digits (channels layout, min-max scaled pixels)."""
    model = fn.Sequential(fn.Conv2D(4, 3, padding="same"), fn.ReLU(), fn.MaxPool2D(2), fn.Flatten(), fn.Dense(10))
    return train_digits(tmp_path_factory.mktemp("export"), model, "--epochs", "1")


def test_onnx_export_check_and_refusal_to_overwrite(cnn_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "digits.onnx"
    result = invoke("export", str(cnn_run), "--out", str(out), "--check")
    assert result.exit_code == 0, result.output
    assert "input x (batch, 8, 8, 1) float32 -> output y (batch, 10) float32" in result.stdout
    assert "scaling is folded in" in result.stdout
    assert "(ok)" in result.stderr
    # The file alone reproduces the run's predictions from raw (unscaled) pixels.
    state = load(cnn_run / "checkpoint.npz", dtype=np.float32)
    prep = Preparation.load(cnn_run / "preprocess.npz")
    raw = load_builtin("digits").x[:20]
    want = fn.predict(state.model, state.params, prep.apply(raw, np.float32))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(["y"], {"x": raw.reshape(20, 8, 8, 1).astype(np.float32)})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))

    before = out.read_bytes()
    refused = invoke("export", str(cnn_run), "--out", str(out))
    assert refused.exit_code == 2 and "--force" in refused.output
    assert out.read_bytes() == before
    forced = invoke("export", str(cnn_run), "--out", str(out), "--force", "--no-preprocessing")
    assert forced.exit_code == 0, forced.output
    assert "folded" not in forced.stdout and out.read_bytes() != before


def test_safetensors_export_round_trips(cnn_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "params.safetensors"
    result = invoke("export", str(cnn_run), "--format", "safetensors", "--out", str(out), "--check")
    assert result.exit_code == 0, result.output
    assert "(ok)" in result.stderr
    from safetensors import safe_open

    from funcnn.export import load_safetensors

    state = load(cnn_run / "checkpoint.npz", dtype=np.float32)
    assert fn.tree_equal(load_safetensors(out, like=state.params), state.params)
    with safe_open(str(out), "np") as f:
        meta = f.metadata()
    assert fn.from_config(json.loads(meta["funcnn_model"])) == state.model
    assert json.loads(meta["in_shape"]) == [8, 8, 1]


def test_torch_export_check(cnn_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="PyTorch is not installed (funcnn never depends on it; CI has no torch)")
    out = tmp_path / "digits.pt2"
    result = invoke("export", str(cnn_run), "--format", "torch", "--out", str(out), "--check")
    assert result.exit_code == 0, result.output
    assert "input (batch, 1, 8, 8) float32" in result.stdout and "(ok)" in result.stderr
