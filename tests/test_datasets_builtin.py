"""Built-in data sets: shipped files with documented shapes, labels, credits and checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import funcnn as fn
from funcnn.datasets import builtin, synthetic
from funcnn.datasets.builtin import builtin_names, describe_builtins, load_builtin
from funcnn.errors import DataError, MissingRngError
from funcnn.rng import Key

DATA = Path(fn.__file__).parent / "data"

# SHA-256 of the files as published in /work/shared/data (computed with sha256sum, not by funcnn).
EXPECTED_SHA256 = {
    "digits.csv.gz": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
    "breast_cancer.csv": "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed",
}
# Per-class counts of the UCI optdigits test part, as listed on the UCI page.
DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
REAL = ("digits", "breast_cancer")
SYNTHETIC = ("spiral", "xor", "moons", "circles", "blobs", "line", "linear", "polynomial")


def test_builtin_names_are_the_real_then_the_synthetic_sets() -> None:
    assert builtin_names() == REAL + SYNTHETIC


@pytest.mark.parametrize("filename", list(EXPECTED_SHA256))
def test_shipped_files_have_the_published_checksums_and_credits(filename: str) -> None:
    digest = hashlib.sha256((DATA / filename).read_bytes()).hexdigest()
    assert digest == EXPECTED_SHA256[filename]
    credits = (DATA / "CREDITS.md").read_text(encoding="utf-8")
    assert digest in credits and f"`{filename}`" in credits
    assert credits.count("CC BY 4.0") >= 2


def test_describe_builtins_matches_what_loading_gives(key: Key) -> None:
    infos = describe_builtins()
    assert tuple(i.name for i in infos) == builtin_names()
    for info in infos:
        ds = load_builtin(info.name, key=key)
        assert ds.name == info.name
        assert ds.x.shape == info.shape, info.name
        assert ds.task == info.task and ds.n_classes == info.n_classes
        assert info.synthetic == (info.name in SYNTHETIC)
        assert info.source and info.description


def test_digits_are_1797_uint8_8x8_images_with_labels_0_to_9() -> None:
    ds = load_builtin("digits")
    assert ds.x.shape == (1797, 8, 8) and ds.x.dtype == np.uint8
    assert ds.y.shape == (1797,) and ds.y.dtype == np.int64
    assert int(ds.x.min()) == 0 and int(ds.x.max()) == 16
    assert np.bincount(ds.y).tolist() == DIGITS_CLASS_COUNTS
    assert ds.class_names == tuple("0123456789")
    # The first two rows of the CSV, read by eye: a 0 whose top row is 0,0,5,13,9,1,0,0, then a 1.
    assert ds.x[0, 0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]
    assert ds.x[1, 0].tolist() == [0, 0, 0, 12, 13, 5, 0, 0]
    assert ds.y[:2].tolist() == [0, 1]
    assert "Alpaydin" in ds.source and "CC BY 4.0" in ds.source
    assert not ds.x.flags.writeable and not ds.y.flags.writeable


def test_breast_cancer_is_569_by_30_with_212_malignant_and_357_benign() -> None:
    ds = load_builtin("breast_cancer")
    assert ds.x.shape == (569, 30) and ds.x.dtype == np.float64
    assert np.bincount(ds.y).tolist() == [212, 357]
    assert ds.class_names == ("malignant", "benign")
    # First data row of the file: 17.99,10.38,122.8,1001,... label 0.
    assert ds.x[0, :4].tolist() == [17.99, 10.38, 122.8, 1001.0]
    assert ds.y[0] == 0
    assert "Wolberg" in ds.source and "CC BY 4.0" in ds.source


def test_real_data_sets_ignore_the_key_and_are_identical_each_time(key: Key) -> None:
    for name in REAL:
        a, b = load_builtin(name), load_builtin(name, key=key)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_builtins_are_the_generators_with_default_arguments(name: str, key: Key) -> None:
    ds = load_builtin(name, key=key)
    direct = getattr(synthetic, name)(key)
    assert ds.x.tobytes() == direct.x.tobytes() and ds.y.tobytes() == direct.y.tobytes()


def test_synthetic_builtin_without_key_names_the_data_set() -> None:
    with pytest.raises(MissingRngError, match="'spiral'.*key="):
        load_builtin("spiral")


def test_unknown_name_lists_the_builtin_names() -> None:
    with pytest.raises(DataError, match="'mnist'.*digits, breast_cancer, spiral"):
        load_builtin("mnist")


def test_a_damaged_shipped_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = dict(builtin.SHIPPED_SHA256, **{"digits.csv.gz": "0" * 64})
    monkeypatch.setattr(builtin, "SHIPPED_SHA256", wrong)
    with pytest.raises(DataError, match="digits.csv.gz: SHA-256 mismatch"):
        load_builtin("digits")
