"""Smoke test of ``examples/visualize_cnn.py`` in quick mode on a tiny MNIST-style folder written here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from idx_writer import write_fake_mnist


def test_visualize_cnn_quick_draws_every_figure(tmp_path: Path, example: Callable[[str], ModuleType],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="the figures need the plot extra")
    example("mnist_cnn")  # the example imports its sibling, as when run as a script
    visualize = example("visualize_cnn")
    write_fake_mnist(tmp_path / "mnist", n=320)
    r = visualize.main([str(tmp_path / "mnist"), "--quick", "--out", str(tmp_path / "figures")])
    assert r.figures == ("maps.png", "filters.png", "feature_maps.png", "top_patches.png", "class_images.png")
    for name in r.figures:
        assert (tmp_path / "figures" / name).stat().st_size > 1000
    for values in r.top_values:  # strongest first, after a ReLU
        assert len(values) == 9 and list(values) == sorted(values, reverse=True) and min(values) >= 0
    assert all(g > 0 for g in r.class_gain)  # gradient ascent raised every class's logit
    assert len(r.predicted) == 4 and 0.0 <= r.accuracy <= 1.0
    assert "figures: maps.png" in capsys.readouterr().out
