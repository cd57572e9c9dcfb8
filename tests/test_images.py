"""funcnn.datasets.load_image_folder and image_splits on small PNG/BMP/JPEG trees written here."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn.datasets import image_splits, load_image_folder
from funcnn.errors import DataError
from funcnn.rng import generator

Image = pytest.importorskip("PIL.Image", reason="the images extra (Pillow) is not installed")


def write(path: Path, pixels: NDArray[np.uint8]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def tree(
    root: Path, key: fn.Key, counts: dict[str, int], shape: tuple[int, ...] = (5, 4, 3)
) -> dict[str, NDArray[np.uint8]]:
    """Write ``counts[c]`` random PNGs into ``root/c``; return ``{relative path: pixels}``."""
    g = generator(key)
    written: dict[str, NDArray[np.uint8]] = {}
    for c, n in counts.items():
        for i in range(n):
            pixels = g.integers(0, 256, size=shape, dtype=np.uint8)
            write(root / c / f"{i:03d}.png", pixels)
            written[f"{c}/{i:03d}.png"] = pixels
    return written


def test_shapes_labels_class_order_and_files(tmp_path: Path, key: fn.Key) -> None:
    written = tree(tmp_path, key, {"zebra": 2, "ant": 3, "moth": 1})
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    ds = load_image_folder(tmp_path)
    assert ds.x.shape == (6, 5, 4, 3) and ds.x.dtype == np.uint8 and not ds.x.flags.writeable
    assert ds.class_names == ("ant", "moth", "zebra")
    assert ds.y.tolist() == [0, 0, 0, 1, 2, 2]
    assert ds.files is not None and [Path(f).relative_to(tmp_path).as_posix() for f in ds.files] == sorted(written)
    for f, image in zip(ds.files, ds.x, strict=True):
        assert np.array_equal(image, written[Path(f).relative_to(tmp_path).as_posix()])
    ordered = load_image_folder(tmp_path, classes=["zebra", "ant"])
    assert ordered.class_names == ("zebra", "ant") and ordered.y.tolist() == [0, 0, 1, 1, 1]
    assert ds.take(np.array([5, 0])).files == (ds.files[5], ds.files[0])


def test_gray_resize_and_other_formats(tmp_path: Path, key: fn.Key) -> None:
    g = generator(key)
    write(tmp_path / "a" / "x.bmp", g.integers(0, 256, size=(6, 6, 3), dtype=np.uint8))
    write(tmp_path / "b" / "y.jpg", g.integers(0, 256, size=(9, 4, 3), dtype=np.uint8))
    write(tmp_path / "b" / "z.PNG", np.full((3, 3), 200, dtype=np.uint8))
    ds = load_image_folder(tmp_path, size=(7, 5), color="gray")
    assert ds.x.shape == (3, 7, 5, 1) and ds.y.tolist() == [0, 1, 1]
    assert np.all(ds.x[2] == 200)  # a flat image stays flat when resized
    assert load_image_folder(tmp_path, size=4).x.shape == (3, 4, 4, 3)


def test_mixed_sizes_name_two_files(tmp_path: Path, key: fn.Key) -> None:
    tree(tmp_path, key, {"a": 2})
    write(tmp_path / "b" / "big.png", np.zeros((10, 12, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=r"a/000\.png is 4x5 .*/b/big\.png is 12x10.*size=\(height, width\)"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_files_are_named(tmp_path: Path, key: fn.Key, damage: str) -> None:
    tree(tmp_path, key, {"a": 2, "b": 1}, shape=(32, 32, 3))
    bad = tmp_path / "b" / "000.png"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x89PNG not really")
    with pytest.raises(DataError, match=r"b/000\.png"):
        load_image_folder(tmp_path)


def test_folder_errors(tmp_path: Path, key: fn.Key) -> None:
    with pytest.raises(DataError, match="no such folder"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="no class subfolders"):
        load_image_folder(tmp_path)
    tree(tmp_path, key, {"a": 1})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="'empty' holds no image files"):
        load_image_folder(tmp_path)
    with pytest.raises(DataError, match=r"missing: \['c'\]"):
        load_image_folder(tmp_path, classes=["a", "c"])
    with pytest.raises(ValueError, match="color"):
        load_image_folder(tmp_path, color="cmyk")  # type: ignore[arg-type]


def test_missing_pillow_says_how_to_install(tmp_path: Path, key: fn.Key, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, key, {"a": 1})
    monkeypatch.setitem(sys.modules, "PIL.Image", None)  # what "not installed" looks like to the import system
    with pytest.raises(ImportError, match=r"pip install 'funcnn\[images\]'"):
        load_image_folder(tmp_path)


def test_split_subfolders_are_used(tmp_path: Path, key: fn.Key) -> None:
    tree(tmp_path / "train", key, {"b": 2, "a": 3})
    tree(tmp_path / "val", fn.fold_in(key, 1), {"a": 1, "b": 1})
    tree(tmp_path / "test", fn.fold_in(key, 2), {"b": 2, "a": 1})
    splits = image_splits(tmp_path)
    assert splits.train.n_samples == 5 and splits.validation is not None and splits.validation.n_samples == 2
    assert splits.test.class_names == ("a", "b") and splits.test.y.tolist() == [0, 1, 1]
    with pytest.raises(DataError, match=r"holds the splits .*image_splits"):
        load_image_folder(tmp_path)
    (tmp_path / "val").rename(tmp_path / "validation")
    assert image_splits(tmp_path).validation is not None


def test_stratified_splits_from_a_key(tmp_path: Path, key: fn.Key) -> None:
    tree(tmp_path, key, {"a": 20, "b": 10}, shape=(2, 2))
    splits = image_splits(tmp_path, key=key, validation_fraction=0.2, test_fraction=0.2, color="gray")
    assert splits.validation is not None
    # 20% of 30 for testing (4 + 2 keeps the 2:1 share), then 20% of the other 24 for validation.
    assert np.bincount(splits.test.y).tolist() == [4, 2]
    assert splits.validation.n_samples == 5 and sorted(np.bincount(splits.validation.y).tolist()) == [2, 3]
    assert splits.train.n_samples == 19
    files = [f for s in (splits.train, splits.validation, splits.test) for f in (s.files or ())]
    assert len(set(files)) == 30  # disjoint and complete
    again = image_splits(tmp_path, key=key, validation_fraction=0.2, test_fraction=0.2, color="gray")
    assert again.test.files == splits.test.files
    with pytest.raises(ValueError, match="key"):
        image_splits(tmp_path)


def test_extra_memory_is_bounded(tmp_path: Path, key: fn.Key) -> None:
    """The images are decoded into one preallocated array: no list of per-image arrays beside it."""
    tree(tmp_path, key, {"a": 1000, "b": 1000}, shape=(28, 28))
    load_image_folder(tmp_path, color="gray")  # warm imports and caches
    tracemalloc.start()
    try:
        ds = load_image_folder(tmp_path, color="gray")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ds.x.shape == (2000, 28, 28, 1)
    # A second copy of the pixels would need another x.nbytes (1.57 MB); the file list and paths take the rest.
    assert peak < 1.8 * ds.x.nbytes, f"peak {peak} bytes for {ds.x.nbytes} bytes of images"
