"""Smoke test of ``examples/visualize_cnn.py`` in quick mode on a tiny MNIST-style folder written here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from idx_writer import write_fake_mnist

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_visualize_cnn_quick_draws_every_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="the figures need the plot extra")
    for name in ("_common", "mnist_cnn"):  # the example imports its siblings, as when run as a script
        monkeypatch.setitem(sys.modules, name, _module(name, EXAMPLES / f"{name}.py"))
    example = _module("funcnn_example_visualize_cnn", EXAMPLES / "visualize_cnn.py")
    write_fake_mnist(tmp_path / "mnist", n=320)
    r = example.main([str(tmp_path / "mnist"), "--quick", "--out", str(tmp_path / "figures")])
    assert r.figures == ("maps.png", "filters.png", "feature_maps.png", "top_patches.png", "class_images.png")
    for name in r.figures:
        assert (tmp_path / "figures" / name).stat().st_size > 1000
    for values in r.top_values:  # strongest first, after a ReLU
        assert len(values) == 9 and list(values) == sorted(values, reverse=True) and min(values) >= 0
    assert all(g > 0 for g in r.class_gain)  # gradient ascent raised every class's logit
    assert len(r.predicted) == 4 and 0.0 <= r.accuracy <= 1.0
    assert "figures: maps.png" in capsys.readouterr().out
