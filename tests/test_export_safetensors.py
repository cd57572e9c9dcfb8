"""safetensors files of params trees: exact round trip, template checks, bad files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import funcnn as fn
from funcnn.export import load_safetensors, save_safetensors

st = pytest.importorskip("safetensors.numpy", reason="the safetensors extra is not installed")

MODEL = fn.Sequential(fn.Conv2D(2, 3), fn.Flatten(), fn.Sequential(fn.Dense(3), fn.Tanh(), name="head"), fn.Dense(2))
IN_SHAPE = (5, 5, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_identical(tmp_path: Path, dtype: type[np.floating], key: fn.Key) -> None:
    params = fn.init(MODEL, key, in_shape=IN_SHAPE, dtype=dtype)
    path = save_safetensors(tmp_path / "p.safetensors", params, metadata={"model": "cnn"})
    back = load_safetensors(path, like=params)
    assert fn.tree_equal(back, params)
    assert all(not a.flags.writeable for a in fn.tree_leaves(back))
    raw = st.load_file(str(path))  # any safetensors reader sees the tree paths as names
    assert sorted(raw) == fn.tree_paths(params)
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        assert f.metadata() == {"model": "cnn"}


def test_template_mismatch_lists_every_problem(tmp_path: Path, key: fn.Key) -> None:
    params = fn.init(MODEL, key, in_shape=IN_SHAPE)
    path = save_safetensors(tmp_path / "p.safetensors", params)
    other = fn.init(fn.Sequential(fn.Conv2D(2, 3), fn.Flatten(), fn.Dense(4), fn.Dense(2)), key, in_shape=(6, 6, 1))
    with pytest.raises(fn.CheckpointError, match=r"p\.safetensors.*missing paths: dense_1/b, dense_1/w.*"
                       r"extra paths: head/dense_0/b, head/dense_0/w.*dense_0/w: expected shape \(32, 4\)"):
        load_safetensors(path, like=other)
    with pytest.raises(fn.CheckpointError, match="expected dtype float32, got float64"):
        load_safetensors(path, like=fn.init(MODEL, key, in_shape=IN_SHAPE, dtype=np.float32))


def test_bad_files(tmp_path: Path) -> None:
    bad_names = tmp_path / "names.safetensors"
    st.save_file({"layer.0.weight": np.zeros(2)}, str(bad_names))
    with pytest.raises(fn.CheckpointError, match="'layer.0.weight': not a tree path"):
        load_safetensors(bad_names)
    ints = tmp_path / "ints.safetensors"
    st.save_file({"a/w": np.zeros(2, dtype=np.int32)}, str(ints))
    with pytest.raises(fn.CheckpointError, match="a/w: dtype int32"):
        load_safetensors(ints)
    mixed = tmp_path / "mixed.safetensors"
    st.save_file({"a/w": np.zeros(2), "a/b": np.zeros(2, dtype=np.float32)}, str(mixed))
    with pytest.raises(fn.CheckpointError, match="mixed dtypes"):
        load_safetensors(mixed)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(fn.CheckpointError, match="cannot read"):
        load_safetensors(garbage)
    with pytest.raises(fn.CheckpointError, match="cannot read"):
        load_safetensors(tmp_path / "absent.safetensors")


def test_metadata_must_be_text(tmp_path: Path, key: fn.Key) -> None:
    params = fn.init(fn.Dense(2), key, in_shape=(3,))
    with pytest.raises(TypeError, match="'epochs': 3"):
        save_safetensors(tmp_path / "p.safetensors", params, metadata={"epochs": 3})  # type: ignore[dict-item]
    assert not list(tmp_path.iterdir())


def test_missing_extra_names_the_install_command(tmp_path: Path, key: fn.Key, monkeypatch: pytest.MonkeyPatch) -> None:
    params = fn.init(fn.Dense(2), key, in_shape=(3,))
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install 'funcnn\[safetensors\]'"):
        save_safetensors(tmp_path / "p.safetensors", params)
