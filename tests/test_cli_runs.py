"""The run-folder pieces under the command line: funcnn.datasets.inputs, funcnn.heads, funcnn.io.runs, cli.rundir."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import funcnn as fn
from funcnn.datasets import MinMaxScaler, Standardizer
from funcnn.datasets.inputs import Preparation, choose_layout, fingerprint, fit_preparation, load_inputs
from funcnn.errors import CheckpointError, ConfigError, DataError, ShapeError
from funcnn.heads import choose_head, decision_grid, loss_for_model
from funcnn.io.runs import open_run
from funcnn.metrics import predicted_labels, probabilities
from funcnn_cli.rundir import HistoryLog, history_columns, is_run_file, new_run_dir, read_history, run_files

# --- run folders ----------------------------------------------------------------------------------


def test_new_run_dir_never_reuses_a_folder(tmp_path: Path) -> None:
    now = datetime(2024, 6, 1, 12, 30, 5)
    made = [new_run_dir(tmp_path / "runs", "spiral", now=now) for _ in range(3)]
    assert [p.name for p in made] == ["spiral-20240601-123005", "spiral-20240601-123005-2", "spiral-20240601-123005-3"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in made)
    assert new_run_dir(tmp_path, "my data!", now=now).name == "my_data-20240601-123005"


def test_run_files_lists_only_what_a_run_writes(tmp_path: Path) -> None:
    for name in ("config.json", "epoch-0005.npz", "notes.txt", "checkpoint.npz", "epoch-x.npz"):
        (tmp_path / name).write_text("")
    assert [p.name for p in run_files(tmp_path)] == ["checkpoint.npz", "config.json", "epoch-0005.npz"]
    assert run_files(tmp_path / "absent") == []
    assert is_run_file("history.csv") and not is_run_file("history.txt")


def test_history_log_appends_and_reopen_drops_rows_after_the_saved_epoch(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    columns = history_columns(["accuracy"], validation=False)
    assert columns == ("epoch", "step", "cost", "accuracy", "lr", "seconds")
    with HistoryLog.create(path, columns) as log:
        for e in (1, 2, 3):
            log.append({"epoch": e, "step": 10 * e, "cost": 1.0 / e, "accuracy": 0.5, "lr": 0.1, "seconds": 0.25})
    with HistoryLog.reopen(path, columns, through_epoch=2) as log:
        log.append({"epoch": 3, "step": 30, "cost": 0.125, "accuracy": 0.75, "lr": 0.1, "seconds": math.nan})
    table = read_history(path)
    assert table["epoch"] == [1.0, 2.0, 3.0]
    assert table["cost"] == [1.0, 0.5, 0.125]
    assert math.isnan(table["seconds"][2])
    with pytest.raises(CheckpointError, match="expected the columns"):
        HistoryLog.reopen(path, ("epoch", "cost"), through_epoch=3)


def test_open_run_reports_missing_and_foreign_paths(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such run folder"):
        open_run(tmp_path / "absent")
    with pytest.raises(CheckpointError, match="not a run folder"):
        open_run(tmp_path)


# --- preparation -----------------------------------------------------------------------------------


def test_images_are_flattened_and_scaled_by_their_range_for_an_mlp() -> None:
    x = np.array([[[0, 16], [8, 4]], [[2, 2], [2, 2]]], dtype=np.uint8)
    prep = fit_preparation(x, fn.Sequential(fn.Dense(3)))
    assert (prep.layout, prep.scale, prep.in_shape) == ("flat", "minmax", (4,))
    z = prep.apply(x, np.float32)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, x.reshape(2, 4).astype(np.float32) / np.float32(16))


def test_tabular_floats_are_standardised_with_training_statistics() -> None:
    x = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]])
    prep = fit_preparation(x, fn.Sequential(fn.Dense(2)))
    assert (prep.layout, prep.scale) == ("as_is", "standard")
    z = prep.apply(np.array([[3.0, 20.0]]), np.float64)
    np.testing.assert_allclose(z, [[0.0, 0.0]], atol=1e-12)
    mean, std = x.mean(axis=0), x.std(axis=0)
    np.testing.assert_allclose(prep.apply(x, np.float64), (x - mean) / std)


def test_images_get_a_channel_axis_for_a_convolution() -> None:
    from funcnn.layers.conv import Conv2D

    model = fn.Sequential(Conv2D(2, 3), fn.Flatten(), fn.Dense(2))
    assert choose_layout(model, (8, 8)) == ("channels", (8, 8, 1))


def test_preparation_round_trips_through_a_file(tmp_path: Path) -> None:
    for scaler in (Standardizer(np.array([1.0, 2.0]), np.array([0.5, 4.0])), MinMaxScaler.from_range(0, 255), None):
        prep = Preparation((2,), "as_is", scaler)
        prep.save(tmp_path / "p.npz")
        back = Preparation.load(tmp_path / "p.npz")
        x = np.array([[3.0, 7.0], [-1.0, 0.5]])
        assert back.describe() == prep.describe()
        np.testing.assert_array_equal(back.apply(x, np.float64), prep.apply(x, np.float64))
    (tmp_path / "p.npz").write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="p.npz"):
        Preparation.load(tmp_path / "p.npz")


def test_preparation_refuses_samples_of_another_shape() -> None:
    prep = Preparation((2,), "as_is", None)
    with pytest.raises(ShapeError, match=r"shape \(30,\).*shape \(2,\)"):
        prep.apply(np.zeros((4, 30)), np.float32)


def test_fingerprint_tells_data_apart() -> None:
    x, y = np.arange(6.0).reshape(3, 2), np.array([0, 1, 0])
    assert fingerprint(x, y) == fingerprint(x.copy(), y.copy())
    assert fingerprint(x, y) != fingerprint(x, np.array([0, 1, 1]))
    assert fingerprint(x, y) != fingerprint(x.astype(np.float32), y)


def test_fingerprint_hashes_large_data_in_pieces_to_the_one_shot_digest() -> None:
    import hashlib

    # 9 MB of uint8 and a transposed (non-contiguous) float64 array: more than one 8 MiB piece each.
    x = np.random.default_rng(0).integers(0, 256, size=(3000, 3000), dtype=np.uint8)
    y = np.arange(2_400_000, dtype=np.float64).reshape(2000, 1200).T
    h = hashlib.sha256()
    for a in (x, y):
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    assert fingerprint(x, y) == "sha256:" + h.hexdigest()


# --- output layer and loss ------------------------------------------------------------------------------


def test_head_follows_the_labels() -> None:
    several = choose_head("classification", n_classes=4)
    assert (several.out_dim, several.loss) == (4, fn.CategoricalCrossEntropy(from_logits=True))
    two = choose_head("classification", n_classes=2)
    assert (two.out_dim, two.loss) == (1, fn.BinaryCrossEntropy(from_logits=True))
    assert choose_head("classification", n_classes=2, loss="cross_entropy").out_dim == 2
    reg = choose_head("regression", n_outputs=3)
    assert (reg.out_dim, reg.loss) == (3, fn.MSE())


@pytest.mark.parametrize(
    ("task", "classes", "loss", "match"),
    [
        ("regression", None, "cross_entropy", "use --loss mse"),
        ("classification", 3, "binary_cross_entropy", "use --loss cross-entropy"),
        ("classification", 3, "mse", "use --loss cross-entropy"),
        ("classification", 1, None, "at least 2 classes"),
    ],
)
def test_losses_that_do_not_fit_the_labels_are_refused(
    task: str, classes: int | None, loss: str | None, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        choose_head(task, n_classes=classes, loss=loss)  # type: ignore[arg-type]


def test_loss_for_a_model_file_reads_its_last_layer() -> None:
    logits = fn.Sequential(fn.Dense(3))
    assert loss_for_model(logits, (2,), "classification", n_classes=3)[0] == fn.CategoricalCrossEntropy(
        from_logits=True
    )
    probs = fn.Sequential(fn.Dense(3), fn.Softmax())
    assert loss_for_model(probs, (2,), "classification", n_classes=3)[0] == fn.CategoricalCrossEntropy()
    with pytest.raises(ConfigError, match="out_dim 10"):
        loss_for_model(logits, (2,), "classification", n_classes=10)
    with pytest.raises(ConfigError, match="out_dim 1"):
        loss_for_model(logits, (2,), "regression", n_outputs=1)


def test_probabilities_from_logits() -> None:
    z = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]])
    p = probabilities(fn.CategoricalCrossEntropy(from_logits=True), z)
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    zb = np.array([[0.0], [2.0]])
    pb = probabilities(fn.BinaryCrossEntropy(from_logits=True), zb)
    np.testing.assert_allclose(pb[:, 1], 1 / (1 + np.exp(-zb[:, 0])))
    np.testing.assert_allclose(pb.sum(axis=1), 1.0)
    assert predicted_labels(fn.BinaryCrossEntropy(from_logits=True), np.array([[-0.1], [0.3]])).tolist() == [0, 1]
    with pytest.raises(ValueError, match="not a classification loss"):
        probabilities(fn.MSE(), z)


def test_decision_grid_covers_the_data() -> None:
    model = fn.Sequential(fn.Dense(2))
    params = fn.freeze({"dense_0": {"w": np.array([[1.0, -1.0], [0.0, 0.0]]), "b": np.zeros(2)}})
    x = np.array([[-1.0, 0.0], [1.0, 2.0]])
    gx, gy, labels = decision_grid(
        model, params, Preparation((2,), "as_is", None), fn.CategoricalCrossEntropy(from_logits=True), x, resolution=5
    )
    assert gx[0] < -1 and gx[-1] > 1 and gy[0] < 0 and gy[-1] > 2
    # class 0 where x0 > -x0, i.e. x0 > 0 (ties at 0 go to class 0)
    np.testing.assert_array_equal(labels, np.broadcast_to((gx < 0).astype(np.int64), (5, 5)))


# --- inputs for predict ----------------------------------------------------------------------------------


def test_load_inputs_reads_feature_only_and_labelled_csv(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("a,b\n1,2\n3,4.5\n")
    (tmp_path / "l.csv").write_text("1,2,0\n3,4.5,1\n")
    expected = np.array([[1.0, 2.0], [3.0, 4.5]])
    np.testing.assert_array_equal(load_inputs(tmp_path / "f.csv", (2,)), expected)
    np.testing.assert_array_equal(load_inputs(tmp_path / "l.csv", (2,)), expected)
    np.testing.assert_array_equal(load_inputs(tmp_path / "f.csv", (1, 2)), expected.reshape(2, 1, 2))


def test_load_inputs_names_bad_cells_and_counts(tmp_path: Path) -> None:
    (tmp_path / "ragged.csv").write_text("1,2\n3,4,5,6\n")
    with pytest.raises(DataError, match=r"line 2: expected 2 cells \(like line 1\), got 4"):
        load_inputs(tmp_path / "ragged.csv", (2,))
    (tmp_path / "text.csv").write_text("1,2\n3,oops\n")
    with pytest.raises(DataError, match="line 2, column 2: non-numeric cell 'oops'"):
        load_inputs(tmp_path / "text.csv", (2,))
    (tmp_path / "wide.csv").write_text("1,2,3,4,5\n")
    with pytest.raises(ShapeError, match="rows have 5 cells"):
        load_inputs(tmp_path / "wide.csv", (2,))
    np.savez(tmp_path / "n.npz", x=np.array([[1.0, np.inf]]))
    with pytest.raises(DataError, match="not a finite number"):
        load_inputs(tmp_path / "n.npz", (2,))
