"""Loaders on small files the tests write: CSV, npz, IDX, the MNIST folder layout and ``load_data``.

Every bad-data case must raise a DataError naming the file, the line (CSV) or
byte offset (IDX), and the problem. Only the last test reads the real MNIST
files in /work/shared/data/mnist10k, and it is skipped when that folder is absent.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from idx_writer import idx_bytes, write_fake_mnist, write_idx

import funcnn as fn
from funcnn.datasets.dataset import Dataset
from funcnn.datasets.idx import IDX_IMAGES_MAGIC, load_idx, load_idx_pair, load_mnist, save_idx
from funcnn.datasets.loaders import load_csv, load_data, load_npz, save_npz
from funcnn.datasets.synthetic import spiral
from funcnn.errors import DataError, MissingRngError

# ----------------------------------------------------------------------------- CSV


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_header_and_label_by_name(tmp_path: Path) -> None:
    p = write(tmp_path / "cells.csv", "size,label,weight\n1.5,0,2\n2.5,1,4\n3.5,2,-6e1\n")
    ds = load_csv(p, label_column="label")
    assert ds.name == "cells" and ds.task == "classification" and ds.source == str(p)
    assert ds.x.tolist() == [[1.5, 2.0], [2.5, 4.0], [3.5, -60.0]]
    assert ds.y.tolist() == [0, 1, 2] and ds.y.dtype == np.int64
    assert ds.class_names is None and ds.n_classes == 3


def test_csv_label_column_by_index_negative_index_and_digit_string(tmp_path: Path) -> None:
    p = write(tmp_path / "t.csv", "1,0,5\n2,1,6\n")  # no header
    assert load_csv(p).y.tolist() == [5, 6]  # last column by default
    assert load_csv(p, label_column=2).x.tolist() == [[1.0, 5.0], [2.0, 6.0]]  # columns count from 1 (issue 13)
    assert load_csv(p, label_column=-3).y.tolist() == [1, 2]
    assert load_csv(p, label_column="1").y.tolist() == [1, 2]


def test_csv_header_is_detected_or_declared(tmp_path: Path) -> None:
    with_header = write(tmp_path / "h.csv", "a,b\n1,0\n2,1\n")
    assert load_csv(with_header).n_samples == 2
    without = write(tmp_path / "n.csv", "1,0\n2,1\n3,0\n")
    assert load_csv(without).n_samples == 3
    text_labels = write(tmp_path / "iris.csv", "5.1,setosa\n6.2,virginica\n5.9,setosa\n")
    assert load_csv(text_labels).n_samples == 3  # the text label column does not make line 1 a header
    with pytest.raises(DataError, match=r"h.csv, line 1, column 1: non-numeric cell 'a'"):
        load_csv(with_header, header=False)


def test_csv_text_labels_become_sorted_class_names(tmp_path: Path) -> None:
    p = write(tmp_path / "iris.csv", "length,species\n5.1, setosa\n6.2,virginica\n5.9,versicolor\n4.9,setosa\n")
    ds = load_csv(p)
    assert ds.class_names == ("setosa", "versicolor", "virginica")
    assert ds.y.tolist() == [0, 2, 1, 0]


def test_csv_float_targets_are_regression(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "x,y\n0,0.5\n1,2.5\n")
    ds = load_csv(p)
    assert ds.task == "regression" and ds.y.shape == (2, 1) and ds.y.tolist() == [[0.5], [2.5]]
    ints = write(tmp_path / "ri.csv", "x,y\n0,3\n1,4\n")
    forced = load_csv(ints, task="regression")
    assert forced.task == "regression" and forced.y.dtype == np.float64 and forced.y.tolist() == [[3.0], [4.0]]


def test_csv_gzip_crlf_blank_lines_bom_and_tsv(tmp_path: Path) -> None:
    text = "\ufeffa,b,label\r\n1,2,0\r\n\r\n3,4,1\r\n\n"
    gz = tmp_path / "d.csv.gz"
    gz.write_bytes(gzip.compress(text.encode("utf-8")))
    ds = load_csv(gz)
    assert ds.name == "d" and ds.x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and ds.y.tolist() == [0, 1]
    tsv = write(tmp_path / "d.tsv", "a\tlabel\n1\t0\n2\t1\n")
    assert load_csv(tsv).x.tolist() == [[1.0], [2.0]]


def test_csv_of_many_rows_is_parsed_in_bulk(tmp_path: Path) -> None:
    n = 20_000
    x = (np.arange(n * 5) % 97).reshape(n, 5) / 8.0
    y = np.arange(n) % 4
    rows = "\n".join(",".join([*map(str, r), str(label)]) for r, label in zip(x.tolist(), y.tolist(), strict=True))
    ds = load_csv(write(tmp_path / "big.csv", rows))
    assert np.array_equal(ds.x, x) and np.array_equal(ds.y, y)


CSV_ERRORS = [
    ("nan.csv", "a,b,label\n1,2,0\n3,nan,1\n", r"nan.csv, line 3, column 2 \('b'\): nan is not a finite number"),
    ("inf.csv", "1,2,0\n3,4,1\n-inf,4,1\n", r"inf.csv, line 3, column 1: -inf is not a finite number"),
    ("ragged.csv", "a,b,label\n1,2,0\n3,4\n", r"ragged.csv, line 3: expected 3 cells .*got 2 \(ragged row\)"),
    ("text.csv", "1,2,0\n1,2,0\n1,two,1\n", r"text.csv, line 3, column 2: non-numeric cell 'two'"),
    ("empty_cell.csv", "1,2,0\n1,,1\n", r"empty_cell.csv, line 2, column 2: empty cell"),
    ("label_nan.csv", "x,y\n1,0.5\n2,nan\n", r"label_nan.csv, line 3, column 2 \('y'\): nan is not a finite number"),
    ("empty.csv", "\n\n", r"empty.csv: no data rows"),
    ("header_only.csv", "a,b,label\n", r"header_only.csv: a header on line 1 but no data rows"),
    ("one_column.csv", "1\n2\n", r"one_column.csv: need at least 2 columns"),
    ("blank.csv", "1,2,0\n\n\n1,2\n", r"blank.csv, line 4: expected 3 cells"),  # blank lines still count
]


@pytest.mark.parametrize(("filename", "text", "match"), CSV_ERRORS, ids=[e[0] for e in CSV_ERRORS])
def test_csv_bad_data_names_file_line_and_problem(tmp_path: Path, filename: str, text: str, match: str) -> None:
    p = write(tmp_path / filename, text)
    with pytest.raises(DataError, match=match) as info:
        load_csv(p)
    assert str(tmp_path) in str(info.value)


def test_csv_missing_label_column(tmp_path: Path) -> None:
    p = write(tmp_path / "cols.csv", "a,b,label\n1,2,0\n")
    with pytest.raises(DataError, match=r"cols.csv, line 1: label column 'target' not found; columns are 'a', 'b'"):
        load_csv(p, label_column="target")
    with pytest.raises(DataError, match=r"cols.csv: label column 4 does not exist; the file has 3 columns"):
        load_csv(p, label_column=4)
    no_header = write(tmp_path / "nh.csv", "1,2,0\n")
    with pytest.raises(DataError, match=r"nh.csv: label column 'target' is a name, but the file has no header"):
        load_csv(no_header, label_column="target")


def test_csv_labels_that_cannot_be_classes(tmp_path: Path) -> None:
    p = write(tmp_path / "neg.csv", "1,0\n2,-1\n")
    with pytest.raises(DataError, match=r"neg.csv, line 2, column 2: label '-1' is not a class label"):
        load_csv(p, task="classification")
    words = write(tmp_path / "w.csv", "1,a\n2,b\n")
    with pytest.raises(DataError, match=r"w.csv, line 1, column 2: non-numeric cell 'a'"):
        load_csv(words, task="regression")


def test_csv_missing_file_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothing.csv: no such file"):
        load_csv(tmp_path / "nothing.csv")
    p = tmp_path / "latin.csv"
    p.write_bytes(b"1,2,0\n1,\xe9,1\n")
    with pytest.raises(DataError, match=r"latin.csv, byte offset 8: not UTF-8"):
        load_csv(p)


# ----------------------------------------------------------------------------- npz


def test_npz_round_trip_keeps_arrays_task_and_class_names(tmp_path: Path) -> None:
    ds = Dataset(np.arange(6.0).reshape(3, 2), [1, 0, 1], name="pairs", class_names=("no", "yes"))
    save_npz(tmp_path / "pairs.npz", ds)
    back = load_npz(tmp_path / "pairs.npz")
    assert back.x.tobytes() == ds.x.tobytes() and back.y.tobytes() == ds.y.tobytes()
    assert back.class_names == ("no", "yes") and back.task == "classification" and back.name == "pairs"
    reg = Dataset(np.zeros((2, 1)), np.array([[1.0], [2.0]]), task="regression")
    save_npz(tmp_path / "reg.npz", reg)
    assert load_npz(tmp_path / "reg.npz").task == "regression"


def test_plain_npz_infers_the_task_from_the_dtype(tmp_path: Path) -> None:
    np.savez(tmp_path / "c.npz", x=np.ones((4, 3), dtype=np.float32), y=np.array([0, 1, 1, 0], dtype=np.uint8))
    c = load_npz(tmp_path / "c.npz")
    assert c.task == "classification" and c.y.dtype == np.int64 and c.x.dtype == np.float32
    np.savez(tmp_path / "r.npz", x=np.ones((3, 2)), y=np.array([0.5, 1.0, 2.0]))
    r = load_npz(tmp_path / "r.npz")
    assert r.task == "regression" and r.y.shape == (3, 1)


def test_npz_bad_data(tmp_path: Path) -> None:
    np.savez(tmp_path / "nokey.npz", inputs=np.ones((2, 2)), y=np.zeros(2, dtype=np.int64))
    with pytest.raises(DataError, match=r"nokey.npz: no array named 'x'; the file holds \['inputs', 'y'\]"):
        load_npz(tmp_path / "nokey.npz")
    np.savez(tmp_path / "count.npz", x=np.ones((3, 2)), y=np.zeros(2, dtype=np.int64))
    with pytest.raises(DataError, match=r"count.npz: 'x' holds 3 samples but 'y' holds 2"):
        load_npz(tmp_path / "count.npz")
    np.savez(tmp_path / "nan.npz", x=np.array([[0.0, 1.0], [2.0, np.nan]]), y=np.zeros(2, dtype=np.int64))
    with pytest.raises(DataError, match=r"nan.npz: x\[1, 1\] is nan, not a finite number"):
        load_npz(tmp_path / "nan.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1, dtype=np.int64))
    with pytest.raises(DataError, match=r"obj.npz: array 'x' cannot be read without pickle"):
        load_npz(tmp_path / "obj.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match=r"junk.npz: not a readable .npz archive"):
        load_npz(tmp_path / "junk.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(DataError, match=r"single.npy: expected an .npz archive"):
        load_npz(tmp_path / "single.npy")


# ----------------------------------------------------------------------------- IDX

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple),
    gz=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_idx_round_trip_against_an_independent_writer(
    tmp_path: Path, dtype: str, shape: tuple[int, ...], gz: bool, seed: int
) -> None:
    g = fn.rng.generator(fn.key(seed))
    a = (
        (g.random(shape) * 200 - 100).astype(dtype)
        if dtype.startswith("float")
        else g.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    )
    suffix = ".gz" if gz else ""
    ours = tmp_path / f"ours-{dtype}{suffix}"
    save_idx(ours, a)
    raw = gzip.decompress(ours.read_bytes()) if gz else ours.read_bytes()
    assert raw == idx_bytes(a)  # byte for byte what the struct-based writer produces
    theirs = write_idx(tmp_path / f"theirs-{dtype}{suffix}", a)
    for path in (ours, theirs):
        back = load_idx(path)
        assert back.dtype == a.dtype and back.shape == a.shape and back.tobytes() == a.tobytes()
        assert not back.flags.writeable


def test_idx_header_layout_by_hand(tmp_path: Path) -> None:
    save_idx(tmp_path / "small", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8))
    assert (tmp_path / "small").read_bytes() == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
    (tmp_path / "ints").write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + struct.pack(">ii", -7, 65536))
    assert load_idx(tmp_path / "ints").tolist() == [-7, 65536]
    with pytest.raises(DataError, match="IDX cannot store dtype int64"):
        save_idx(tmp_path / "bad", np.zeros(2, dtype=np.int64))


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


IDX_ERRORS = [
    ("short", b"\x00\x00", r"short, byte offset 0: got 2 bytes, too short"),
    ("magic", b"\x12\x34\x08\x01" + b"\x00\x00\x00\x01\x05", r"magic, byte offset 0: bad IDX magic number 0x12340801"),
    ("typecode", b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", r"typecode, byte offset 2: .*unknown type code 0x07"),
    ("nodims", b"\x00\x00\x08\x00", r"nodims, byte offset 3: .*0 dimensions"),
    ("header", b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", r"header, byte offset 10: truncated header: 3 dimension"),
    (
        "payload",
        _header(8, (2, 3)) + bytes(5),
        r"payload, byte offset 17: truncated payload: shape \(2, 3\) of uint8 "
        r"needs 6 bytes after the 12-byte header, got 5 \(1 missing\)",
    ),
    (
        "payload32",
        _header(0x0D, (4,)) + bytes(15),
        r"payload32, byte offset 23: truncated payload: shape \(4,\) of "
        r"float32 needs 16 bytes",
    ),
    ("trailing", _header(8, (2,)) + bytes(5), r"trailing, byte offset 10: 3 unexpected bytes after the payload"),
]


@pytest.mark.parametrize(("filename", "data", "match"), IDX_ERRORS, ids=[e[0] for e in IDX_ERRORS])
def test_idx_bad_data_names_file_offset_and_problem(tmp_path: Path, filename: str, data: bytes, match: str) -> None:
    (tmp_path / filename).write_bytes(data)
    with pytest.raises(DataError, match=match):
        load_idx(tmp_path / filename)
    (tmp_path / f"{filename}.gz").write_bytes(gzip.compress(data))  # same offsets inside gzip
    with pytest.raises(DataError, match=match.replace(filename, f"{filename}.gz", 1)):
        load_idx(tmp_path / f"{filename}.gz")


def test_idx_expected_magic_and_corrupt_gzip(tmp_path: Path) -> None:
    labels = write_idx(tmp_path / "labels", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match=r"byte offset 0: expected IDX magic number 2051 .*got 2049"):
        load_idx(labels, magic=IDX_IMAGES_MAGIC)
    good = gzip.compress(idx_bytes(np.zeros((2, 2), dtype=np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) - 6])
    with pytest.raises(DataError, match=r"cut.gz: corrupt or truncated gzip data"):
        load_idx(tmp_path / "cut.gz")
    with pytest.raises(DataError, match=r"absent: no such file"):
        load_idx(tmp_path / "absent")


def test_load_mnist_from_a_folder_of_idx_files(tmp_path: Path) -> None:
    images, labels = write_fake_mnist(tmp_path / "m", n=12)
    ds = load_mnist(tmp_path / "m")
    assert ds.x.shape == (12, 28, 28) and ds.x.dtype == np.uint8 and ds.x.tobytes() == images.tobytes()
    assert ds.y.dtype == np.int64 and ds.y.tolist() == labels.tolist()
    assert ds.class_names == tuple("0123456789") and ds.name == "m" and "LeCun" in ds.source
    # raw (uncompressed) files with the dotted naming variant work too
    (tmp_path / "r").mkdir()
    write_idx(tmp_path / "r" / "train-images.idx3-ubyte", images)
    write_idx(tmp_path / "r" / "train-labels.idx1-ubyte", labels)
    assert load_mnist(tmp_path / "r").x.tobytes() == images.tobytes()


def test_load_mnist_chooses_between_several_pairs(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path, n=10, prefix="train", seed=1)
    test_images, _ = write_fake_mnist(tmp_path, n=5, prefix="t10k", seed=2)
    with pytest.raises(DataError, match=r"holds several IDX pairs \['t10k', 'train'\]; choose one with prefix"):
        load_mnist(tmp_path)
    assert load_mnist(tmp_path, prefix="t10k").x.tobytes() == test_images.tobytes()
    assert load_mnist(tmp_path, prefix="train").n_samples == 10
    with pytest.raises(DataError, match=r"no IDX pair with prefix 'val'"):
        load_mnist(tmp_path, prefix="val")


def test_load_mnist_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: no such folder"):
        load_mnist(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: found no '<prefix>-images-idx3-ubyte"):
        load_mnist(tmp_path / "empty")
    d = tmp_path / "count"
    d.mkdir()
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((4, 28, 28), dtype=np.uint8))
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(
        DataError,
        match=r"t10k-images-idx3-ubyte.gz holds 4 images but .*t10k-labels-idx1-ubyte.gz "
        r"holds 3 labels",
    ):
        load_mnist(d)
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 12, 3], dtype=np.uint8))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz, byte offset 10: label 12 of sample 2 "):
        load_mnist(d)
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((4, 28 * 28), dtype=np.uint8))  # 2-D: magic 2050
    with pytest.raises(DataError, match=r"images-idx3-ubyte.gz, byte offset 0: expected IDX magic number 2051"):
        load_mnist(d)


def test_load_idx_pair_is_generic(tmp_path: Path) -> None:
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    write_idx(tmp_path / "letters-images-idx3-ubyte", x)
    write_idx(tmp_path / "letters-labels-idx1-ubyte", np.array([25, 3], dtype=np.uint8))
    ds = load_idx_pair(tmp_path / "letters-images-idx3-ubyte", tmp_path / "letters-labels-idx1-ubyte")
    assert ds.name == "letters" and ds.y.tolist() == [25, 3] and ds.class_names is None and ds.n_classes == 26


# ----------------------------------------------------------------------------- load_data


def test_load_data_dispatches_on_the_spec(tmp_path: Path) -> None:
    key = fn.key(3)
    assert load_data("digits").x.shape == (1797, 8, 8)
    assert load_data("spiral", key=key).x.tobytes() == spiral(key).x.tobytes()
    csv = write(tmp_path / "t.csv", "a,target,b\n1,0,2\n3,1,4\n")
    assert load_data(csv, label_column="target").x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert load_data(str(csv), label_column="2").y.tolist() == [0, 1]
    np.savez(tmp_path / "d.npz", x=np.ones((2, 3)), y=np.array([0, 1]))
    assert load_data(tmp_path / "d.npz").x.shape == (2, 3)
    images, _ = write_fake_mnist(tmp_path / "mn", n=6)
    assert load_data(tmp_path / "mn").x.tobytes() == images.tobytes()
    assert load_data(tmp_path / "mn" / "t10k-images-idx3-ubyte.gz").x.tobytes() == images.tobytes()


def test_load_data_errors_name_the_spec_and_list_builtins(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"^mnist: no such file or folder, and not a built-in data set; built-in names: "
        r"digits, breast_cancer, spiral",
    ):
        load_data("mnist")
    with pytest.raises(MissingRngError, match="key="):
        load_data("moons")
    np.savez(tmp_path / "d.npz", x=np.ones((2, 3)), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"d.npz: label_column applies to CSV files only"):
        load_data(tmp_path / "d.npz", label_column="y")
    with pytest.raises(DataError, match=r"label_column applies to CSV files only"):
        load_data("digits", label_column=0)
    (tmp_path / "notes.json").write_text("{}")
    with pytest.raises(DataError, match=r"notes.json: unknown data file type; expected .csv"):
        load_data(tmp_path / "notes.json")
    write_idx(tmp_path / "lonely-images-idx3-ubyte", np.zeros((1, 2, 2), dtype=np.uint8))
    with pytest.raises(DataError, match=r"lonely-images-idx3-ubyte: found no matching '<prefix>-labels-idx1"):
        load_data(tmp_path / "lonely-images-idx3-ubyte")


# ----------------------------------------------------------------------------- real MNIST (optional)

SHARED_MNIST = Path("/work/shared/data/mnist10k")
MNIST_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


@pytest.mark.skipif(
    not SHARED_MNIST.is_dir(), reason="OPTIONAL: the project's shared MNIST copy is not on this machine"
)
def test_optional_real_mnist_test_set_from_the_shared_folder() -> None:
    """OPTIONAL, machine-specific: the 10,000 real MNIST test images (skipped when the folder is absent)."""
    for name, digest in MNIST_SHA256.items():
        assert hashlib.sha256((SHARED_MNIST / name).read_bytes()).hexdigest() == digest
    images = load_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    ds = load_mnist(SHARED_MNIST)
    assert ds.x.shape == (10000, 28, 28) and ds.x.dtype == np.uint8
    assert ds.y.shape == (10000,) and sorted(set(ds.y.tolist())) == list(range(10))
    assert ds.y[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test labels
    assert re.search(r"LeCun", ds.source)
