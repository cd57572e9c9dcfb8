"""Smoke test of ``examples/mnist_cnn.py`` in quick mode on a tiny IDX folder written here.

The IDX files are written byte by byte from the format description (a 4-byte
magic ``0x00000803`` = 2051 for images / ``0x00000801`` = 2049 for labels, then
big-endian uint32 sizes, then the uint8 payload), so neither this test nor the
example needs the real MNIST files.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import struct
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from numpy.typing import NDArray

from funcnn.rng import generator, key

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mnist_cnn.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mnist_cnn_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_idx(path: Path, magic: int, payload: NDArray[np.uint8], *, gz: bool) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in payload.shape)
    data = header + payload.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def write_tiny_mnist(folder: Path, n: int) -> NDArray[np.int64]:
    """``n`` 28x28 images of an easy task: class k lights a 7x7 block in one of 10 places."""
    rng = generator(key(7))
    labels = rng.integers(0, 10, size=n)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)  # faint noise
    for i, k in enumerate(labels):
        r, c = 7 * (k // 4), 7 * (k % 4)  # rows 0, 7, 14; columns 0, 7, 14, 21
        images[i, r : r + 7, c : c + 7] = 255
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", 2051, images, gz=True)
    write_idx(folder / "t10k-labels-idx1-ubyte", 2049, labels.astype(np.uint8), gz=False)
    return labels


def test_quick_mode_trains_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mnist"
    write_tiny_mnist(folder, 320)
    example = load_example()
    assert example.main([str(folder), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "256 train / 64 test images, 1 epochs" in out
    assert re.search(r"seed 0 epoch  1/1: mean training cost \d+\.\d{4}", out)
    match = re.search(r"test accuracy over 1 seed\(s\): (\d+\.\d\d)% ± 0\.00%", out)
    assert match is not None, out
    assert 0.0 <= float(match.group(1)) <= 100.0


def test_training_cost_falls_on_an_easy_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mnist"
    write_tiny_mnist(folder, 320)
    example = load_example()
    assert example.main([str(folder), "--quick", "--epochs", "3", "--seeds", "5"]) == 0
    out = capsys.readouterr().out
    costs = [float(c) for c in re.findall(r"seed 5 epoch  \d/3: mean training cost (\d+\.\d+)", out)]
    assert len(costs) == 3
    assert costs[-1] < costs[0], out


def test_too_few_images_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    write_tiny_mnist(folder, 100)
    example = load_example()
    with pytest.raises(SystemExit, match="100 images, fewer than --train 256 \\+ --test 64"):
        example.main([str(folder), "--quick"])
