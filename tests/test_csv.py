"""The CSV reader on files written by the standard library's ``csv`` module.

Every file here is written with :func:`csv.writer` (all quoting modes, several
delimiters, a byte-order mark, CRLF line ends), so the reader is checked
against a second, independent implementation of the format.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from funcnn.datasets import describe_task, load_csv, load_csv_features
from funcnn.datasets._csv_cells import choose_task
from funcnn.errors import DataError

NAMES = ["Iris, setosa", 'Iris "versicolor"', "Iris virginica"]
X = np.array([[5.1, 3.5], [7.0, 3.2], [6.3, 3.3], [4.9, -3.0], [6.4, 3.2e-3], [5.8, 2.7]])
Y = np.array([0, 1, 2, 0, 1, 2])


def write(path: Path, rows: list[list[Any]], *, bom: bool = False, **fmt: Any) -> Path:
    """Write ``rows`` with :func:`csv.writer` and the dialect options ``fmt``."""
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        csv.writer(f, **fmt).writerows(rows)
    return path


def table(names: list[str] = NAMES) -> list[list[Any]]:
    header: list[Any] = ["sepal length", "sepal width", "species"]
    return [header, *([*x, names[y]] for x, y in zip(X.tolist(), Y.tolist(), strict=True))]


# QUOTE_STRINGS and QUOTE_NOTNULL exist from Python 3.12; QUOTE_NONE has its own test.
QUOTING = {
    name: getattr(csv, constant)
    for name, constant in (
        ("minimal", "QUOTE_MINIMAL"),
        ("all", "QUOTE_ALL"),
        ("nonnumeric", "QUOTE_NONNUMERIC"),
        ("strings", "QUOTE_STRINGS"),
        ("notnull", "QUOTE_NOTNULL"),
    )
    if hasattr(csv, constant)
}


@pytest.mark.parametrize("quoting", sorted(QUOTING))
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
def test_every_dialect_reads_to_the_same_data(
    tmp_path: Path, quoting: str, delimiter: str, crlf: bool, bom: bool
) -> None:
    p = write(
        tmp_path / "d.csv",
        table(),
        bom=bom,
        delimiter=delimiter,
        quoting=QUOTING[quoting],
        lineterminator="\r\n" if crlf else "\n",
    )
    ds = load_csv(p)  # delimiter sniffed, header detected
    np.testing.assert_array_equal(ds.x, X)
    assert ds.class_names == tuple(sorted(NAMES))
    assert [ds.class_names[i] for i in ds.y] == [NAMES[i] for i in Y]
    assert ds.feature_names == ("sepal length", "sepal width") and ds.target == "species"
    explicit = load_csv(p, delimiter=delimiter, header=True)
    np.testing.assert_array_equal(explicit.x, X)


def test_quote_none_with_an_escape_character_reads_plain_labels(tmp_path: Path) -> None:
    p = write(tmp_path / "d.csv", table(["a", "b", "c"]), quoting=csv.QUOTE_NONE, escapechar="\\")
    ds = load_csv(p)
    np.testing.assert_array_equal(ds.x, X)
    assert ds.y.tolist() == Y.tolist()


def test_quoted_numbers_take_the_fast_path_and_agree_with_plain_ones(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["a", "b", "label"], *([*x, y] for x, y in zip(X.tolist(), Y.tolist(), strict=True))]
    plain = load_csv(write(tmp_path / "p.csv", rows))
    quoted = load_csv(write(tmp_path / "q.csv", rows, quoting=csv.QUOTE_ALL))
    assert plain.x.tobytes() == quoted.x.tobytes() and plain.y.tolist() == quoted.y.tolist() == Y.tolist()
    assert plain.task == "classification" and plain.class_names is None


def test_a_quoted_line_break_keeps_line_numbers_right(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["note", "x", "label"], ["two\nlines", 1.0, "a"], ["one", "oops", "b"]]
    p = write(tmp_path / "d.csv", rows)
    with pytest.raises(DataError, match=r"d\.csv, line 2, column 1 \('note'\): non-numeric cell 'two\\nlines'"):
        load_csv(p)
    with pytest.raises(DataError, match=r"d\.csv, line 4, column 2 \('x'\): non-numeric cell 'oops'"):
        load_csv(p, drop=["note"])


def test_a_fully_quoted_header_is_detected(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["1", "2", "label"], [1.0, 2.0, 0], [3.0, 4.0, 1]]
    p = write(tmp_path / "d.csv", rows, quoting=csv.QUOTE_ALL)  # even the digits of the header are quoted
    ds = load_csv(p)
    assert ds.feature_names == ("1", "2") and ds.x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    numeric = write(tmp_path / "n.csv", [[1.0, 2.0, 0], [3.0, 4.0, 1]], quoting=csv.QUOTE_ALL)
    assert load_csv(numeric).feature_names is None and load_csv(numeric).n_samples == 2


def test_header_can_be_forced_either_way(tmp_path: Path) -> None:
    p = write(tmp_path / "d.csv", [[10, 20, 1], [1.0, 2.0, 0], [3.0, 4.0, 1]])
    assert load_csv(p).n_samples == 3  # all numeric: no header
    with_header = load_csv(p, header=True)
    assert with_header.n_samples == 2 and with_header.feature_names == ("10", "20")
    named = write(tmp_path / "h.csv", [["a", "b", "c"], [1, 2, 0]])
    with pytest.raises(DataError, match=r"h\.csv, line 1, column 1: non-numeric cell 'a'"):
        load_csv(named, header=False)


def test_columns_count_from_one_in_arguments_and_messages(tmp_path: Path) -> None:
    p = write(tmp_path / "d.csv", [["id", "label", "x"], [7, 1, 0.5], [8, 0, 1.5]])
    assert load_csv(p, label_column=2, drop=[1]).y.tolist() == [1, 0]
    assert load_csv(p, label_column="2", drop=["1"]).x.tolist() == [[0.5], [1.5]]
    assert load_csv(p, label_column="label", drop=["id"]).x.tolist() == [[0.5], [1.5]]
    assert load_csv(p, label_column=-2, drop=["id"]).y.tolist() == [1, 0]
    with pytest.raises(DataError, match=r"label column 0: columns are counted from 1 \(1 = first, -1 = last\)"):
        load_csv(p, label_column=0)
    with pytest.raises(DataError, match=r"d\.csv: label column 4 does not exist; the file has 3 columns \(1\.\.3"):
        load_csv(p, label_column=4)
    with pytest.raises(DataError, match=r"d\.csv, line 1: label column 'target' not found; columns are 'id'"):
        load_csv(p, label_column="target")


def test_drop_ignores_columns_and_refuses_to_drop_everything(tmp_path: Path) -> None:
    p = write(tmp_path / "d.csv", [["id", "x", "label"], ["a-1", 0.5, "no"], ["a-2", 1.5, "yes"]])
    ds = load_csv(p, drop=["id"])
    assert ds.x.tolist() == [[0.5], [1.5]] and ds.dropped == ("id",) and ds.class_names == ("no", "yes")
    with pytest.raises(DataError, match=r"d\.csv: no feature columns are left after dropping 'id', 'x'"):
        load_csv(p, drop=["id", "x"])
    with pytest.raises(DataError, match=r"d\.csv: column 3 is the label column; it cannot be dropped too"):
        load_csv(p, drop=["label"])
    with pytest.raises(DataError, match=r"dropped column 'ID' not found"):
        load_csv(p, drop=["ID"])


def test_a_delimiter_that_yields_one_column_is_named(tmp_path: Path) -> None:
    p = write(tmp_path / "semi.csv", [["a", "b", "label"], [1, 2, 0], [3, 4, 1]], delimiter=";")
    assert load_csv(p).x.tolist() == [[1.0, 2.0], [3.0, 4.0]]  # sniffed
    with pytest.raises(DataError, match=r"semi\.csv: need at least 2 columns .* got 1 with the delimiter ','.*';'"):
        load_csv(p, delimiter=",")
    with pytest.raises(DataError, match="the delimiter must be one character"):
        load_csv(p, delimiter=";;")


def test_missing_and_non_finite_cells_name_line_and_column(tmp_path: Path) -> None:
    p = write(tmp_path / "d.csv", [["a", "b", "label"], [1, 2, 0], [3, "", 1]])
    with pytest.raises(DataError, match=r"d\.csv, line 3, column 2 \('b'\): empty cell \(a missing value\)"):
        load_csv(p)
    ragged = write(tmp_path / "r.csv", [["a", "b", "label"], [1, 2, 0], [3, 1]])
    with pytest.raises(DataError, match=r"r\.csv, line 3: expected 3 cells \(like the header on line 1\), got 2"):
        load_csv(ragged)
    nan_target = write(tmp_path / "t.csv", [["a", "price"], [1, 2.5], [3, "nan"]])
    with pytest.raises(DataError, match=r"t\.csv, line 3, column 2 \('price'\): nan is not a finite number"):
        load_csv(nan_target, task="regression")


def test_classes_pin_the_label_mapping(tmp_path: Path) -> None:
    p = write(tmp_path / "d.csv", [["x", "species"], [1.0, "virginica"], [2.0, "virginica"]])
    assert load_csv(p).y.tolist() == [0, 0]  # on its own, the file knows one class
    pinned = load_csv(p, classes=("setosa", "versicolor", "virginica"))
    assert pinned.y.tolist() == [2, 2] and pinned.n_classes == 3
    with pytest.raises(DataError, match=r"line 2, column 2 \('species'\): unknown class 'virginica'; the known"):
        load_csv(p, classes=("setosa", "versicolor"))


def test_the_task_is_chosen_with_a_reason_and_can_be_overridden(tmp_path: Path) -> None:
    prices = np.arange(100, 400)  # 300 distinct integers: quantities, not classes
    rows: list[list[Any]] = [["rooms", "price"], *([int(p) % 7, int(p)] for p in prices)]
    p = write(tmp_path / "houses.csv", rows)
    ds = load_csv(p)
    assert ds.task == "regression" and ds.y.shape == (300, 1) and ds.y.dtype == np.float64
    assert "300 distinct integer values" in describe_task(ds)
    forced = load_csv(p, task="classification")
    assert forced.task == "classification" and forced.n_classes == 400
    labels = write(tmp_path / "l.csv", [["x", "digit"], *([i, i % 10] for i in range(50))])
    assert load_csv(labels).task == "classification"
    assert describe_task(load_csv(labels)) == "classification: integer labels 0..9 (10 classes)"
    assert load_csv(labels, task="regression").y.dtype == np.float64
    text = write(tmp_path / "t.csv", [["x", "s"], [1, "a"], [2, "b"]])
    with pytest.raises(DataError, match=r"t\.csv, line 2, column 2 \('s'\): non-numeric cell 'a': task regression"):
        load_csv(text, task="regression")


def test_choose_task_rules() -> None:
    assert choose_task(np.array([0.0, 1.0, 1.0, 0.0])) == ("classification", "integer labels 0..1 (2 classes)")
    assert choose_task(np.array([0.5, 1.0]))[0] == "regression"
    assert choose_task(np.array([-1.0, 1.0]))[0] == "regression"
    assert choose_task(np.arange(30.0).repeat(4))[0] == "classification"  # exactly 0..29, well repeated
    assert choose_task(np.arange(5.0, 35.0))[0] == "regression"


def test_features_only_files_are_read_through_a_schema(tmp_path: Path) -> None:
    train = load_csv(write(tmp_path / "t.csv", table()))
    shuffled = write(tmp_path / "s.csv", [["sepal width", "sepal length"], [3.5, 5.1], [3.2, 7.0]])
    assert load_csv_features(shuffled, train.schema).tolist() == [[5.1, 3.5], [7.0, 3.2]]


def test_a_gzipped_tsv_defaults_to_tabs(tmp_path: Path) -> None:
    import gzip

    p = tmp_path / "d.tsv.gz"
    p.write_bytes(gzip.compress(b"a\tb\tlabel\n1\t2\t0\n3\t4\t1\n"))
    assert load_csv(p).x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_text_labels_read_by_numpy_agree_with_the_csv_module(tmp_path: Path) -> None:
    plain_names = ["setosa", "versicolor", "virginica"]
    fast = load_csv(write(tmp_path / "f.csv", table(plain_names)))  # no quotes: numpy's parser, column by column
    slow = load_csv(write(tmp_path / "s.csv", table(plain_names), quoting=csv.QUOTE_ALL))  # the csv module
    assert fast.x.tobytes() == slow.x.tobytes() and fast.y.tolist() == slow.y.tolist() == Y.tolist()
    assert fast.class_names == slow.class_names == tuple(plain_names)
    extra = write(tmp_path / "e.csv", [["a", "b", "s"], [1, 2, "x"], [3, 4, "y", 5]])  # one cell too many
    with pytest.raises(DataError, match=r"e\.csv, line 3: expected 3 cells \(like the header on line 1\), got 4"):
        load_csv(extra)
    unknown = write(tmp_path / "u.csv", [["a", "s"], [1, "x"], [2, "z"]])
    with pytest.raises(DataError, match=r"u\.csv, line 3, column 2 \('s'\): unknown class 'z'"):
        load_csv(unknown, classes=["x", "y"])
