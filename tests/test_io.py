"""funcnn.io: the one atomic writer, run-folder names, bounded container reads, old formats,
shapes without weights, and the size limit checked before anything is allocated."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cases import CASES, Case, case_id

import funcnn as fn
from funcnn.datasets.inputs import load_features_csv
from funcnn.errors import CheckpointError, DataError, ShapeError
from funcnn.io.atomic import atomic_write
from funcnn.io.checkpoint import checkpoint_info, load, load_params, save, save_params
from funcnn.io.container import FORMAT_VERSION, MANIFEST
from funcnn.io.layout import epoch_of, epoch_path, is_run_file, list_states
from funcnn.layers.dense import Dense
from funcnn.network import output_shape, param_count, param_shapes, shapes
from funcnn.training import TrainState, last_state, train_epochs

GOLDEN_V1 = Path(__file__).parent / "golden" / "checkpoint_v1"


# --- the atomic writer and the layout -------------------------------------------------------


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"
    atomic_write(target, b"first")
    atomic_write(target, lambda f: None if f.write(b"second") else None)
    assert target.read_bytes() == b"second"

    def broken(f: io.BufferedWriter) -> None:
        f.write(b"half")
        raise OSError("disk full (simulated)")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)  # type: ignore[arg-type]
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]


def test_one_epoch_file_pattern() -> None:
    assert epoch_path("run", 7).name == "epoch-0007.npz"
    assert epoch_of("epoch-0007.npz") == 7 and epoch_of("epoch-7.npy") is None
    assert is_run_file("epoch-12345.npz") and is_run_file("config.json") and not is_run_file("notes.txt")


# --- an old checkpoint format stays readable -------------------------------------------------


def test_a_format_version_1_checkpoint_written_before_the_split_still_loads(tmp_path: Path) -> None:
    expected = np.load(GOLDEN_V1 / "expected.npz")
    state = load(GOLDEN_V1 / "state.npz", dtype=np.float32)
    assert (state.epoch, state.step) == (2, 4)
    for path, a in fn.tree_flatten(state.params).items():
        assert a.tobytes() == expected[path.replace("/", "__")].tobytes(), path
    model, params = load_params(GOLDEN_V1 / "params.npz", dtype=np.float32)
    assert model == state.model and fn.tree_equal(params, state.params)
    assert checkpoint_info(GOLDEN_V1 / "state.npz").format_version == 1
    # Written again today, the file holds the same manifest (but the funcnn and format versions) and the same arrays.
    again = save(tmp_path / "again.npz", state, in_shape=(2,))
    with zipfile.ZipFile(GOLDEN_V1 / "state.npz") as old, zipfile.ZipFile(again) as new:
        assert old.namelist() == new.namelist()
        m_old, m_new = (json.loads(z.read(MANIFEST)) for z in (old, new))
        m_old.pop("funcnn_version"), m_new.pop("funcnn_version")
        assert (m_old.pop("format_version"), m_new.pop("format_version")) == (1, FORMAT_VERSION) == (1, 2)
        # Fields added to specs and TrainState since then are written too; the old ones are unchanged.
        assert _extends(m_new, m_old)
        for name in old.namelist():
            if name != MANIFEST:
                assert old.read(name) == new.read(name), name


def _extends(new: object, old: object) -> bool:
    """``new`` equals ``old``, except that dicts in ``new`` may hold more keys."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and _extends(new[k], v) for k, v in old.items())
    if isinstance(old, list):
        return isinstance(new, list) and len(new) == len(old) and all(map(_extends, new, old))
    return bool(new == old)


# --- bounded reads and the size limit --------------------------------------------------------


def _small_params_file(tmp_path: Path) -> Path:
    model = fn.Sequential(fn.Dense(3), fn.ReLU(), fn.Dense(2))
    return save_params(tmp_path / "p.npz", model, fn.init(model, fn.key(0), in_shape=(4,)), in_shape=(4,))


def test_a_member_larger_than_its_manifest_entry_is_refused_unread(tmp_path: Path) -> None:
    path = _small_params_file(tmp_path)
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "params/dense_0/w.npy":
                buffer = io.BytesIO()
                np.save(buffer, np.zeros((20000, 3)))
                data = buffer.getvalue()
            dst.writestr(name, data)
    with pytest.raises(CheckpointError, match=r"params/dense_0/w: the manifest declares 96 bytes of data.*not read"):
        load_params(bad)


def test_a_model_over_max_params_is_refused_before_any_array_is_read(tmp_path: Path) -> None:
    path = _small_params_file(tmp_path)
    assert load_params(path, max_params=23)[0] is not None  # 4*3 + 3 + 3*2 + 2 = 23 parameters
    with pytest.raises(CheckpointError, match=r"has 23 parameters, more than max_params=22.*max_params="):
        load_params(path, max_params=22)


# --- shapes without weights ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_shape_inference_agrees_with_init(case: Case) -> None:
    out, params = case.spec.init(fn.key(0), case.in_shape, np.float64)
    assert shapes(case.spec, case.in_shape) == (out, {p: a.shape for p, a in fn.tree_flatten(params).items()})


def test_shapes_templates_and_loads_build_no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fn.Sequential(fn.Dense(5), fn.Tanh(), fn.Dense(2))
    params = fn.init(model, fn.key(0), in_shape=(3,))
    start = TrainState.create(model, params, loss=fn.MSE(), optimizer=fn.adam(0.01), key=fn.key(1))
    final = last_state(train_epochs(start, np.ones((4, 3)), np.zeros((4, 2)), epochs=1))

    def no_init(*args: object, **kwargs: object) -> object:
        raise AssertionError("Dense.init was called")

    monkeypatch.setattr(Dense, "init", no_init)
    assert output_shape(model, (3,)) == (2,)
    assert param_shapes(model, (3,)) == {"dense_0/b": (5,), "dense_0/w": (3, 5), "dense_1/b": (2,), "dense_1/w": (5, 2)}
    assert param_count(model, (3,)) == 32
    run = tmp_path / "run"
    last_state(fn.save_every(iter([final]), run, every=1, in_shape=(3,)))
    assert [p.name for p in list_states(run)] == ["epoch-0001.npz"]
    assert fn.tree_equal(load(run, dtype=np.float64).params, final.params)


def test_shape_errors_name_the_layer_without_building_it() -> None:
    with pytest.raises(ShapeError, match=r"dense_0 Dense\(out_dim=3\).*Flatten"):
        output_shape(fn.Sequential(fn.Dense(3), fn.Dense(2, name="dense_1")), (4, 4))


# --- features-only CSV -----------------------------------------------------------------------


def test_a_features_only_csv_is_read_without_a_label_column(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    assert load_features_csv(tmp_path / "x.csv").tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    (tmp_path / "bad.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(DataError, match=r"bad\.csv, line 2: expected 3 cells \(like line 1\), got 2"):
        load_features_csv(tmp_path / "bad.csv")
    (tmp_path / "nan.csv").write_text("1,x,3\n")
    with pytest.raises(DataError, match=r"nan\.csv, line 1, column 2: non-numeric cell 'x'"):
        load_features_csv(tmp_path / "nan.csv", header=False)
