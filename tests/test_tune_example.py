"""examples/lr_epochs_study.py in quick mode: the study's shape, what it teaches, and its heat maps."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def test_lr_epochs_study_quick(example: Callable[[str], ModuleType], tmp_path: Path) -> None:
    study = example("lr_epochs_study")
    target = tmp_path / "study.png"
    r = study.main(["--quick", "--plot", str(target)])
    neuron = r.neuron
    assert neuron.learning_rates == (0.001, 0.01, 0.1, 0.5, 0.9, 1.1, 1.5) and neuron.epochs == (1, 10, 100)
    mse = dict(zip(neuron.learning_rates, neuron.values, strict=True))
    assert all(not math.isnan(v) for row in neuron.values for v in row)
    # a small rate is slow, a good one reaches the noise floor (0.1² = 0.01), too large a one diverges
    assert mse[0.001][-1] > 0.5 and mse[0.1][-1] < 0.012 and mse[0.5][1] < 0.012
    assert mse[1.1][0] < mse[1.1][1] < mse[1.1][2] and mse[1.5][2] > 1e50
    assert r.best_neuron[1] == 100 and 0.1 <= r.best_neuron[0] <= 0.9
    accuracy = r.classifier.values
    assert len(accuracy) == 3 and all(0.0 <= v <= 1.0 for row in accuracy for v in row)
    assert max(v for row in accuracy for v in row) > 0.8 and r.best_classifier == (1.0, 20)
    assert target.stat().st_size > 10_000
