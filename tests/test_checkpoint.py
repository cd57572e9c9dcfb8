"""Checkpoints: exact round trips, exact resume, atomic writes, and refusal of bad files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
import funcnn.io.container as ckpt
from funcnn._typing import FloatT
from funcnn.config import is_spec, load_model_file
from funcnn.errors import CheckpointError
from funcnn.io.checkpoint import checkpoint_info, load, load_params, save, save_params
from funcnn.io.container import FORMAT_VERSION
from funcnn.io.layout import LATEST, epoch_path, list_states
from funcnn.io.runs import save_every
from funcnn.optim import adam, momentum
from funcnn.rng import generator
from funcnn.schedules import cosine_schedule
from funcnn.training import TrainState, fit, last_state, train_epochs
from funcnn.transforms import chain, l2
from funcnn.tree import FrozenTree

GOLDEN = Path(__file__).parent / "golden"
IN_SHAPE = (3,)
MODEL = fn.Sequential(fn.Dense(8), fn.Tanh(), fn.Dropout(0.25), fn.Dense(3))
LOSS = fn.CategoricalCrossEntropy(from_logits=True)


def make_data(key: fn.Key, n: int = 50) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Three classes in 3-D, separable enough to learn a little in a few epochs."""
    x = generator(key).standard_normal((n, 3))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y


def make_state(
    key: fn.Key, optimizer: fn.Optimizer, dtype: type[FloatT] = np.float64, **options: object  # type: ignore[assignment]
) -> TrainState[FloatT]:
    params = fn.init(MODEL, fn.fold_in(key, "init"), in_shape=IN_SHAPE, dtype=dtype)
    return TrainState.create(
        MODEL, params, loss=LOSS, optimizer=optimizer, key=fn.fold_in(key, "train"), batch_size=8, **options  # type: ignore[arg-type]
    )


def assert_identical(a: object, b: object, where: str = "state") -> None:
    """Bit-for-bit equality of two states (or any of their parts), field by field."""
    if isinstance(a, FrozenTree):
        assert isinstance(b, FrozenTree), where
        assert sorted(a) == sorted(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_identical(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        assert a.tobytes() == b.tobytes(), f"{where}: values differ"
    elif attrs.has(type(a)) and not is_spec(a):
        assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
        cls: type = type(a)
        for field in attrs.fields(cls):
            assert_identical(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture
def data(key: fn.Key) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    return make_data(fn.fold_in(key, "data"))


@pytest.fixture
def trained(key: fn.Key, data: tuple[NDArray[np.float64], NDArray[np.int64]]) -> TrainState[np.float64]:
    start = make_state(key, adam(0.01), np.float64, validation_fraction=0.2, metrics=("accuracy",), patience=50)
    return last_state(train_epochs(start, *data, epochs=3))


# --- round trips -------------------------------------------------------------------------------


def test_round_trip_of_a_full_state_is_bit_exact(tmp_path: Path, trained: TrainState[np.float64]) -> None:
    assert trained.epoch == 3 and trained.opt_state.count > 0 and len(trained.history.metrics) == 2
    path = save(tmp_path / "state.npz", trained, in_shape=IN_SHAPE)
    loaded = load(path, dtype=np.float64)
    assert_identical(trained, loaded)
    # Specs and key come back equal, the arrays read-only.
    assert loaded.model == MODEL and loaded.loss == LOSS and loaded.optimizer == adam(0.01)
    assert loaded.key == trained.key
    assert all(not a.flags.writeable for a in fn.tree_leaves(loaded.params))
    assert not loaded.history.cost.flags.writeable


@pytest.mark.parametrize(
    "optimizer",
    [fn.sgd(0.1), momentum(0.05, 0.9), adam(cosine_schedule(0.01, 40)), chain(l2(1e-3), fn.sgd(0.1, momentum=0.5))],
    ids=["sgd", "momentum", "adam+schedule", "chain"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_per_optimizer_and_dtype(
    tmp_path: Path,
    key: fn.Key,
    data: tuple[NDArray[np.float64], NDArray[np.int64]],
    optimizer: fn.Optimizer,
    dtype: type[np.floating],
) -> None:
    state = last_state(train_epochs(make_state(key, optimizer, dtype), *data, epochs=1))
    loaded = load(save(tmp_path / "s.npz", state, in_shape=IN_SHAPE))
    assert_identical(state, loaded)
    assert loaded.dtype == np.dtype(dtype)


def test_empty_subtrees_and_param_free_models_survive(tmp_path: Path, key: fn.Key) -> None:
    model = fn.Sequential(fn.ReLU())
    state = TrainState.create(model, fn.init(model, key, in_shape=(2,)), loss=fn.MSE(),
                              optimizer=momentum(0.1), key=key)
    assert "velocity" in state.opt_state.buffers  # an empty subtree the optimizer looks up
    loaded = load(save(tmp_path / "empty.npz", state, in_shape=(2,)), dtype=np.float64)
    assert_identical(state, loaded)
    x = np.ones((4, 2))
    assert last_state(train_epochs(loaded, x, x, epochs=1)).epoch == 1


@pytest.mark.parametrize("best_cost", [np.float64(0.25), 0.1, float("inf"), -0.0, None])
def test_plain_field_values_keep_value_and_type(
    tmp_path: Path, trained: TrainState[np.float64], best_cost: float | None
) -> None:
    state = attrs.evolve(trained, best_cost=best_cost, best_epoch=2)
    loaded = load(save(tmp_path / "s.npz", state, in_shape=IN_SHAPE), dtype=np.float64)
    assert_identical(state, loaded)
    assert str(loaded.best_cost) == str(best_cost)  # keeps -0.0 and inf apart from 0.0 and a big number


def test_shared_trees_are_stored_once(tmp_path: Path, trained: TrainState[np.float64]) -> None:
    same = attrs.evolve(trained, best_params=trained.params)
    path = save(tmp_path / "s.npz", same, in_shape=IN_SHAPE)
    names = zipfile.ZipFile(path).namelist()
    assert not any(n.startswith("best_params/") for n in names)
    loaded = load(path, dtype=np.float64)
    assert loaded.best_params is loaded.params
    assert_identical(same, loaded)


def test_saving_twice_gives_the_same_bytes(tmp_path: Path, trained: TrainState[np.float64]) -> None:
    a = save(tmp_path / "a.npz", trained, in_shape=IN_SHAPE).read_bytes()
    b = save(tmp_path / "b.npz", trained, in_shape=IN_SHAPE).read_bytes()
    assert a == b


def test_file_is_a_plain_npz_with_a_json_manifest(tmp_path: Path, trained: TrainState[np.float64]) -> None:
    path = save(tmp_path / "s.npz", trained, in_shape=IN_SHAPE)
    with np.load(path, allow_pickle=False) as npz:
        assert np.array_equal(npz["params/dense_0/w"], fn.tree_get(trained.params, "dense_0/w"))
        manifest = json.loads(npz["manifest.json"])
    assert manifest["format"] == "funcnn-checkpoint" and manifest["format_version"] == FORMAT_VERSION
    assert manifest["funcnn_version"] == fn.__version__
    assert manifest["dtype"] == "float64" and manifest["in_shape"] == [3]
    fields = manifest["state"]["fields"]
    assert fields["epoch"] == 3 and fields["step"] == trained.step
    assert fields["key"] == {"type": "key", "seed": trained.key.seed, "path": list(trained.key.path)}
    assert fields["model"]["config"]["layers"][0] == {
        "kind": "dense", "out_dim": 8, "w_init": {"kind": "glorot_uniform"}, "b_init": {"kind": "zeros"}, "name": None
    }
    w = manifest["arrays"]["params/dense_0/w"]
    assert w["shape"] == [3, 8] and w["dtype"] == "float64"
    import hashlib

    expected = hashlib.sha256(np.ascontiguousarray(fn.tree_get(trained.params, "dense_0/w")).tobytes()).hexdigest()
    assert w["sha256"] == expected


def test_checkpoint_info(tmp_path: Path, trained: TrainState[np.float64]) -> None:
    info = checkpoint_info(save(tmp_path / "s.npz", trained, in_shape=IN_SHAPE))
    assert (info.content, info.epoch, info.step, info.dtype, info.in_shape) == (
        "train_state", 3, trained.step, "float64", IN_SHAPE)
    assert info.model == MODEL and info.format_version == FORMAT_VERSION


def test_save_params_and_load_params(tmp_path: Path, key: fn.Key) -> None:
    params = fn.init(MODEL, key, in_shape=IN_SHAPE, dtype=np.float32)
    path = save_params(tmp_path / "model.npz", MODEL, params, in_shape=IN_SHAPE)
    model, loaded = load_params(path, dtype=np.float32)
    assert model == MODEL
    assert_identical(params, loaded)
    assert checkpoint_info(path).content == "params"
    with pytest.raises(CheckpointError, match="holds float32 arrays, but dtype=float64 was asked for"):
        load_params(path, dtype=np.float64)
    with pytest.raises(CheckpointError, match="not a training state; use load_params"):
        load(path)


def test_load_params_reads_a_training_state_too(tmp_path: Path, trained: TrainState[np.float64]) -> None:
    model, params = load_params(save(tmp_path / "s.npz", trained, in_shape=IN_SHAPE), dtype=np.float64)
    assert model == MODEL
    assert_identical(trained.params, params)


def test_save_needs_a_fitting_in_shape(tmp_path: Path, trained: TrainState[np.float64]) -> None:
    untrained = TrainState.create(
        MODEL, trained.params, loss=trained.loss, optimizer=trained.optimizer, key=trained.key
    )
    with pytest.raises(ValueError, match=r"in_shape=\.\.\. is needed"):
        save(tmp_path / "s.npz", untrained)
    assert trained.in_shape == IN_SHAPE  # recorded by the first epoch, so a trained state saves without it
    with pytest.raises(fn.ShapeError, match=r"params/dense_0/w: expected shape \(4, 8\), got \(3, 8\)"):
        save(tmp_path / "s.npz", trained, in_shape=(4,))
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_unsavable_fields_before_touching_the_disk(tmp_path: Path, key: fn.Key) -> None:
    state = make_state(key, fn.SGD(lambda step: 0.1))  # type: ignore[arg-type]  # a schedule that is not a spec
    with pytest.raises(CheckpointError, match=r"optimizer: .*SGD\.lr: expected plain data"):
        save(tmp_path / "s.npz", state, in_shape=IN_SHAPE)
    assert list(tmp_path.iterdir()) == []


# --- golden structures -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xor", "spiral", "mnist_mlp", "mnist_cnn"])
def test_reference_networks_match_their_golden_structure(name: str) -> None:
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    model = load_model_file(GOLDEN / golden["model"])
    dtype = np.dtype(golden["dtype"]).type
    params = fn.init(model, fn.key(0), in_shape=tuple(golden["in_shape"]), dtype=dtype)
    got = {path: [list(a.shape), str(a.dtype)] for path, a in fn.tree_flatten(params).items()}
    assert got == golden["params"]


def test_checkpoint_entry_names_match_golden(tmp_path: Path) -> None:
    golden = json.loads((GOLDEN / "spiral.json").read_text())
    model = load_model_file(GOLDEN / golden["model"])
    state = TrainState.create(model, fn.init(model, fn.key(0), in_shape=(2,)), loss=LOSS, optimizer=adam(),
                              key=fn.key(1))
    path = save(tmp_path / "spiral.npz", state, in_shape=(2,))
    names = sorted(n.removesuffix(".npy") for n in zipfile.ZipFile(path).namelist() if n != "manifest.json")
    assert names == golden["checkpoint_entries_adam"]


# --- resume ------------------------------------------------------------------------------------

OPTIMIZERS = [fn.sgd(0.1), momentum(0.05, 0.9), adam(0.01)]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=["sgd", "momentum", "adam"])
def test_resume_is_exact(
    tmp_path: Path, key: fn.Key, data: tuple[NDArray[np.float64], NDArray[np.int64]], optimizer: fn.Optimizer
) -> None:
    """6 epochs in one go == 3 epochs, save, load, 3 more (mini-batches of 8 of 50, shuffled, dropout)."""
    start = make_state(key, optimizer)
    straight = last_state(train_epochs(start, *data, epochs=6))

    half = last_state(train_epochs(start, *data, epochs=3))
    save(tmp_path / "half.npz", half, in_shape=IN_SHAPE)
    del half
    resumed = last_state(train_epochs(load(tmp_path / "half.npz", dtype=np.float64), *data, epochs=6))

    assert_identical(straight, resumed)
    for a, b in zip(fn.tree_leaves(straight.params), fn.tree_leaves(resumed.params), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(straight.history.cost, resumed.history.cost)
    assert straight.step == resumed.step == 6 * 7  # ceil(50 / 8) steps per epoch


def test_resume_is_exact_with_validation_early_stopping_bookkeeping_and_float32(
    tmp_path: Path, key: fn.Key, data: tuple[NDArray[np.float64], NDArray[np.int64]]
) -> None:
    start = make_state(key, adam(0.02), np.float32, validation_fraction=0.2, metrics=("accuracy",), patience=50)
    straight = fit(start, *data, epochs=6, restore_best=False)
    half = fit(start, *data, epochs=3, restore_best=False)
    resumed = fit(load(save(tmp_path / "h.npz", half, in_shape=IN_SHAPE), dtype=np.float32), *data, epochs=6,
                  restore_best=False)
    assert_identical(straight, resumed)
    assert fn.tree_get(resumed.params, "dense_0/w").dtype == np.float32


def test_resume_in_a_fresh_process_is_exact(
    tmp_path: Path, key: fn.Key, data: tuple[NDArray[np.float64], NDArray[np.int64]]
) -> None:
    """No hidden state in the process: a new interpreter continues the run bit for bit."""
    start = make_state(key, adam(0.01))
    straight = last_state(train_epochs(start, *data, epochs=4))
    save(tmp_path / "half.npz", last_state(train_epochs(start, *data, epochs=2)), in_shape=IN_SHAPE)
    np.save(tmp_path / "x.npy", data[0])
    np.save(tmp_path / "y.npy", data[1])
    script = (
        "import sys, numpy as np\n"
        "from funcnn.io.checkpoint import load, save\n"
        "from funcnn.training import last_state, train_epochs\n"
        "d = sys.argv[1]\n"
        "s = load(d + '/half.npz', dtype=np.float64)\n"
        "x, y = np.load(d + '/x.npy'), np.load(d + '/y.npy')\n"
        "save(d + '/done.npz', last_state(train_epochs(s, x, y, epochs=4)), in_shape=(3,))\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, env=env, timeout=120)
    assert_identical(straight, load(tmp_path / "done.npz", dtype=np.float64))


# --- run folders -------------------------------------------------------------------------------


def test_save_every_and_resume_from_the_run_folder(
    tmp_path: Path, key: fn.Key, data: tuple[NDArray[np.float64], NDArray[np.int64]]
) -> None:
    run = tmp_path / "run"
    start = make_state(key, momentum(0.05, 0.9))
    straight = last_state(train_epochs(start, *data, epochs=7))
    first = last_state(save_every(train_epochs(start, *data, epochs=5), run, every=2, in_shape=IN_SHAPE))
    assert [p.name for p in list_states(run)] == ["epoch-0002.npz", "epoch-0004.npz", "epoch-0005.npz"]
    assert (run / LATEST).read_bytes() == (run / "epoch-0005.npz").read_bytes()
    assert_identical(first, load(run, dtype=np.float64))  # a folder means its latest checkpoint
    # Resume from the folder into the same folder: numbering continues.
    final = last_state(save_every(train_epochs(load(run, dtype=np.float64), *data, epochs=7), run, every=2,
                                  in_shape=IN_SHAPE))
    assert [p.name for p in list_states(run)][-2:] == ["epoch-0006.npz", "epoch-0007.npz"]
    assert_identical(straight, final)
    assert_identical(straight, load(run / LATEST, dtype=np.float64))
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_epoch_paths_sort_by_number(tmp_path: Path) -> None:
    for epoch in (10000, 3, 20, 0):
        epoch_path(tmp_path, epoch).write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in list_states(tmp_path)] == [
        "epoch-0000.npz", "epoch-0003.npz", "epoch-0020.npz", "epoch-10000.npz"]
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        epoch_path(tmp_path, -1)


def test_load_of_a_folder_without_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"a folder without {LATEST}"):
        load(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load(tmp_path / "missing.npz")


# --- atomic writes -----------------------------------------------------------------------------


def _failing(after: Callable[..., None], error: BaseException) -> Callable[..., None]:
    def write(*args: object) -> None:
        after(*args)  # the temporary file is fully written ...
        raise error  # ... and then the save is interrupted

    return write


@pytest.mark.parametrize("error", [OSError("disk full (simulated)"), KeyboardInterrupt()])
def test_interrupted_save_keeps_the_previous_checkpoint(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: fn.Key,
    data: tuple[NDArray[np.float64], NDArray[np.int64]],
    error: BaseException,
) -> None:
    start = make_state(key, adam(0.01))
    old = last_state(train_epochs(start, *data, epochs=1))
    new = last_state(train_epochs(old, *data, epochs=2))
    path = save(tmp_path / "ckpt.npz", old, in_shape=IN_SHAPE)
    before = path.read_bytes()
    monkeypatch.setattr(ckpt, "write_npz", _failing(ckpt.write_npz, error))
    with pytest.raises(type(error)):
        save(path, new, in_shape=IN_SHAPE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]  # no stray temporary file
    assert path.read_bytes() == before
    monkeypatch.undo()
    assert_identical(old, load(path, dtype=np.float64))


def test_failed_replace_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained: TrainState[np.float64]
) -> None:
    def no_replace(src: object, dst: object) -> None:
        raise PermissionError("replace refused (simulated)")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(PermissionError):
        save(tmp_path / "new.npz", trained, in_shape=IN_SHAPE)
    assert list(tmp_path.iterdir()) == []


# --- bad checkpoints ---------------------------------------------------------------------------


def _rewrite(path: Path, target: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy a zip member by member; ``change(name, data)`` returns new data (or None to drop)."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            data = change(name, src.read(name))
            if data is not None:
                dst.writestr(name, data)


def _npy(a: NDArray[np.generic], allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


def _manifest_edit(edit: Callable[[dict[str, object]], None]) -> Callable[[str, bytes], bytes | None]:
    def change(name: str, data: bytes) -> bytes | None:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest).encode()

    return change


@pytest.fixture
def good(tmp_path: Path, trained: TrainState[np.float64]) -> Path:
    return save(tmp_path / "good.npz", trained, in_shape=IN_SHAPE)


def _refused(path: Path, match: str, **kwargs: object) -> CheckpointError:
    files = sorted(path.parent.iterdir())
    with pytest.raises(CheckpointError, match=match) as info:
        load(path, **kwargs)  # type: ignore[call-overload]
    assert str(path.name) in str(info.value)  # names the file
    assert sorted(path.parent.iterdir()) == files  # writes nothing
    return info.value


@pytest.mark.parametrize("keep", [0, 3, 100, 0.5, -22, -1])
def test_truncated_file(good: Path, keep: float) -> None:
    data = good.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    bad = good.with_name("truncated.npz")
    bad.write_bytes(data[:n])
    _refused(bad, r"truncated or corrupt|not a zip/\.npz archive")


def test_not_a_checkpoint(tmp_path: Path) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("just some text")
    _refused(text, r"not a funcnn checkpoint: not a zip/\.npz archive")
    npy = tmp_path / "array.npz"
    npy.write_bytes(_npy(np.zeros(3)))
    _refused(npy, r"not a funcnn checkpoint: not a zip/\.npz archive \(a single \.npy array\)")
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.zeros((2, 2)))
    _refused(plain, r"not a funcnn checkpoint: the \.npz has no manifest\.json")


def test_other_manifest_format(good: Path) -> None:
    bad = good.with_name("other.npz")
    _rewrite(good, bad, _manifest_edit(lambda m: m.update(format="someone-else")))
    _refused(bad, r"not a funcnn checkpoint: the manifest has no format tag 'funcnn-checkpoint'")


def test_newer_format_version_is_refused(good: Path) -> None:
    bad = good.with_name("newer.npz")
    _rewrite(good, bad, _manifest_edit(lambda m: m.update(format_version=FORMAT_VERSION + 1, funcnn_version="9.0")))
    _refused(bad, rf"format version {FORMAT_VERSION + 1} by funcnn 9\.0.*upgrade funcnn")


def test_changed_array_fails_its_sha256(good: Path) -> None:
    bad = good.with_name("tampered.npz")

    def change(name: str, data: bytes) -> bytes | None:
        if name == "params/dense_1/b.npy":
            a = np.load(io.BytesIO(data), allow_pickle=False)
            return _npy(a + 1e-12)  # same shape and dtype, a few bits differ
        return data

    _rewrite(good, bad, change)
    _refused(bad, r"params/dense_1/b: SHA-256 mismatch")


def test_flipped_bit_in_the_file_is_caught(good: Path) -> None:
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("params/dense_0/w.npy")
    # Flip one bit in the last data byte of the member (past its local header and .npy header).
    data[info.header_offset + 30 + len(info.filename) + info.file_size - 1] ^= 0x10
    bad = good.with_name("bitrot.npz")
    bad.write_bytes(bytes(data))
    _refused(bad, r"params/dense_0/w: (cannot be read \(truncated or corrupt\)|SHA-256 mismatch)")


def test_missing_and_extra_entries_are_all_reported(good: Path) -> None:
    bad = good.with_name("entries.npz")

    def change(name: str, data: bytes) -> bytes | None:
        if name == "opt_state/mu/dense_0/w.npy":
            return None
        return data

    _rewrite(good, bad, change)
    with zipfile.ZipFile(bad, "a") as z:
        z.writestr("extra/thing.npy", _npy(np.zeros(2)))
    error = _refused(bad, r"2 problems")
    assert "missing from the file: opt_state/mu/dense_0/w" in str(error)
    assert "not listed in the manifest (not read): extra/thing" in str(error)


def test_other_architecture_is_refused_with_every_mismatch(tmp_path: Path, trained: TrainState[np.float64]) -> None:
    earlier = fn.tree_map(lambda a: a * 0.5, trained.params)  # best params that differ from the live ones
    good = save(tmp_path / "good.npz", attrs.evolve(trained, best_params=earlier), in_shape=IN_SHAPE)
    other = fn.Sequential(fn.Dense(16), fn.Tanh(), fn.Dropout(0.25), fn.Dense(3))
    error = _refused(good, r"another architecture", model=other)
    text = str(error)
    for line in (
        "params/dense_0/w: expected shape (3, 16), got (3, 8)",
        "params/dense_0/b: expected shape (16,), got (8,)",
        "params/dense_1/w: expected shape (16, 3), got (8, 3)",
        "opt_state/mu/dense_0/w: expected shape (3, 16), got (3, 8)",
        "opt_state/nu/dense_1/w: expected shape (16, 3), got (8, 3)",
        "best_params/dense_0/w: expected shape (3, 16), got (3, 8)",
    ):
        assert line in text
    # The same architecture loads; another dtype is refused.
    assert load(good, model=MODEL, dtype=np.float64).model == MODEL
    _refused(good, r"holds float64 arrays, but dtype=float32 was asked for", dtype=np.float32)


def test_manifest_config_that_does_not_fit_the_arrays(good: Path) -> None:
    def widen(m: dict[str, object]) -> None:
        state = m["state"]
        assert isinstance(state, dict)
        state["fields"]["model"]["config"]["layers"][3]["out_dim"] = 4

    bad = good.with_name("edited.npz")
    _rewrite(good, bad, _manifest_edit(widen))
    error = _refused(bad, r"problems")
    assert "params/dense_1/w: expected shape (8, 4), got (8, 3)" in str(error)
    assert "opt_state/nu/dense_1/b: expected shape (4,), got (3,)" in str(error)


def test_bad_config_in_the_manifest_names_the_field(good: Path) -> None:
    bad = good.with_name("badconfig.npz")
    _rewrite(good, bad, _manifest_edit(lambda m: m["state"]["fields"]["loss"]["config"].update(logits=1)))  # type: ignore[index]
    _refused(bad, r"loss: config \(kind 'categorical_cross_entropy'\): unknown field 'logits'")


def _make_marker(path: str) -> None:
    Path(path).write_text("code ran")


class _Payload:
    """Unpickling this runs ``_make_marker``: a stand-in for malicious code in a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return (_make_marker, (self.marker,))


def test_pickled_object_is_refused_and_never_run(good: Path) -> None:
    marker = good.parent / "pwned.txt"
    payload = np.array([_Payload(marker)], dtype=object)
    bad = good.with_name("pickled.npz")
    _rewrite(good, bad, lambda n, d: _npy(payload, allow_pickle=True) if n == "params/dense_0/w.npy" else d)
    _refused(bad, r"params/dense_0/w: holds a pickled Python object; refused \(nothing was unpickled\)")
    assert not marker.exists()
    # A plain .npz holding only the pickled object is refused as well.
    plain = good.with_name("plain_pickle.npz")
    np.savez(plain, w=payload)
    _refused(plain, r"not a funcnn checkpoint")
    assert not marker.exists()
    # Control: the payload is live, so the checks above did prove that no code ran.
    with zipfile.ZipFile(bad) as z:
        np.load(io.BytesIO(z.read("params/dense_0/w.npy")), allow_pickle=True)
    assert marker.read_text() == "code ran"


def test_malformed_manifest(good: Path) -> None:
    bad = good.with_name("json.npz")
    _rewrite(good, bad, lambda n, d: b"{not json" if n == "manifest.json" else d)
    _refused(bad, r"the manifest is not valid JSON")
    worse = good.with_name("types.npz")
    _rewrite(good, worse, _manifest_edit(lambda m: m["state"]["fields"].update(opt_state={"type": "gizmo"})))  # type: ignore[index]
    _refused(worse, r"opt_state: unknown entry type 'gizmo'")


def test_checkpoint_error_is_a_value_error(good: Path) -> None:
    bad = good.with_name("x.npz")
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match="not a funcnn checkpoint"):
        load(bad)

