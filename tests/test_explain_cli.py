"""``funcnn explain``: maps, filters and top patches of a small CNN trained on the built-in digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_runs import invoke, train_digits

import funcnn as fn
from funcnn import explain
from funcnn.datasets import load_builtin
from funcnn.datasets.inputs import Preparation
from funcnn.io.checkpoint import load


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = fn.Sequential(fn.Conv2D(4, 3), fn.ReLU(), fn.MaxPool2D(2), fn.Flatten(), fn.Dense(10))
    return train_digits(tmp_path_factory.mktemp("explain"), model, "--epochs", "2")


def test_maps_are_written_as_npz_and_png(trained: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the figures need the plot extra")
    out = tmp_path / "maps"
    result = invoke("explain", str(trained), "--samples", "0,5,7", "--method", "saliency", "--method", "occlusion",
                    "--method", "guided", "--out", str(out))
    assert result.exit_code == 0, result.output
    for name in ("saliency", "occlusion", "guided"):
        assert (out / f"{name}.png").stat().st_size > 1000
        assert str(out / f"{name}.npz") in result.stdout
    state = load(trained / "checkpoint.npz", dtype=np.float32)
    x = Preparation.load(trained / "preprocess.npz").apply(load_builtin("digits").x[[0, 5, 7]], np.float32)
    with np.load(out / "saliency.npz") as z:
        np.testing.assert_array_equal(z["samples"], [0, 5, 7])
        np.testing.assert_allclose(z["x"], x)
        np.testing.assert_allclose(z["map"], explain.saliency(state.model, state.params, x, z["target"]), rtol=1e-6)
    with np.load(out / "occlusion.npz") as z:
        expected = explain.occlusion(state.model, state.params, x, z["target"], window=4, stride=2)
        np.testing.assert_allclose(z["map"], expected, rtol=1e-5, atol=1e-6)


def test_filters_top_patches_and_a_fixed_target(trained: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the figures need the plot extra")
    result = invoke("explain", str(trained), "--filters", "--top", "relu_0:2", "-k", "5", "--method", "deconvnet",
                    "--target", "3", "--samples", "1", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    for name in ("filters.png", "feature_maps.png", "activations.npz", "top_relu_0_2.png", "top_relu_0_2.npz",
                 "deconvnet.png", "deconvnet.npz"):
        assert (tmp_path / name).is_file(), name
    with np.load(tmp_path / "top_relu_0_2.npz") as z:
        assert z["value"].shape == (5,) and list(z["value"]) == sorted(z["value"], reverse=True)
    with np.load(tmp_path / "deconvnet.npz") as z:
        assert z["target"].tolist() == [3]
    with np.load(tmp_path / "activations.npz") as z:
        assert sorted(z.files) == ["conv2d_0", "dense_0", "flatten_0", "max_pool2d_0", "relu_0"]


def test_without_matplotlib_the_arrays_are_still_written(trained: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("funcnn_cli.plots.available", lambda: False)
    result = invoke("explain", str(trained), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "pip install 'funcnn[plot]'" in result.stderr
    assert (tmp_path / "saliency.npz").is_file() and not (tmp_path / "saliency.png").exists()


def test_the_default_folder_is_inside_the_run(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("funcnn_cli.plots.available", lambda: False)
    result = invoke("explain", str(trained), "--samples", "2")
    assert result.exit_code == 0, result.output
    assert (trained / "explain" / "saliency.npz").is_file()


@pytest.mark.parametrize(
    ("words", "code", "message"),
    [
        (["--samples", "0,x"], 2, "comma-separated integers"),
        (["--samples", "100000"], 2, "expected indices in [0, "),
        (["--top", "relu_0"], 2, "LAYER:CHANNEL"),
        (["--top", "conv9:0"], 1, "no such layer path"),
        (["--top", "relu_0:9"], 1, "expected a channel in [0, 4)"),
        (["--method", "magic"], 2, "magic"),
        (["--target", "10"], 1, "target"),
    ],
)
def test_bad_options_fail_cleanly(trained: Path, tmp_path: Path, words: list[str], code: int, message: str) -> None:
    result = invoke("explain", str(trained), "--out", str(tmp_path), *words)
    assert result.exit_code == code, result.output
    assert message in result.output
