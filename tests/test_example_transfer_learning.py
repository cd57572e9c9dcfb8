"""Smoke test of ``examples/transfer_learning.py --quick`` on a tiny fake MNIST folder written here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from idx_writer import write_fake_mnist

pytest.importorskip("PIL.Image", reason="the example writes PNG files: the images extra (Pillow) is not installed")


def test_quick_run_end_to_end(tmp_path: Path, example: Callable[[str], ModuleType]) -> None:
    transfer = example("transfer_learning")
    write_fake_mnist(tmp_path / "idx", n=400)
    folder = tmp_path / "png"
    args = ["--quick", "--data", str(tmp_path / "idx"), "--folder", str(folder)]
    result = transfer.main(args)
    assert result.n_images == 400 and result.class_names == tuple("0123456789")
    assert len(list(folder.glob("*/*.png"))) == 400  # the folder tree the loader read
    assert list(result.accuracy) == ["(a) scratch", "(b) frozen base", "(c) frozen + augment", "(d) fine-tune"]
    assert all(len(v) == 1 and 0.0 <= v[0] <= 1.0 for v in result.accuracy.values())
    assert result.base_frozen
    # A second run reuses the tree written by the first (no rewrite) and gives the same numbers.
    first = folder / "0" / "00000.png"
    stamp = first.stat().st_mtime_ns
    again = transfer.main(args)
    assert again.accuracy == result.accuracy and first.stat().st_mtime_ns == stamp
