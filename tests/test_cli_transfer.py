"""``funcnn train --init-from/--freeze/--unfreeze/--unfreeze-lr`` and ``--data FOLDER`` of class-per-subfolder images.

A base run on digits is grafted into a new run whose first layer stays frozen
(bit-identical through training and resume), then fine-tuned with that layer
unfrozen at its own learning rate; the source runs are never changed. Image
folders are tiny PNG trees written with Pillow.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from funcnn.io.checkpoint import load
from funcnn.transfer import frozen_layers
from funcnn_cli.main import app

runner = CliRunner()
MLP = ["--data", "digits", "--hidden", "16,8", "--epochs", "2", "--quiet", "--no-plot"]


def run(*words: str) -> Any:
    return runner.invoke(app, list(words))


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def params(folder: Path) -> Any:
    return load(folder / "checkpoint.npz", dtype=np.float32).params


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("transfer") / "base"
    result = run("train", *MLP, "--out", str(folder))
    assert result.exit_code == 0, result.output
    return folder


def test_a_grafted_frozen_layer_stays_bit_identical_through_training_and_resume(base: Path, tmp_path: Path) -> None:
    before = digest(base)
    out = tmp_path / "head"
    result = run("train", *MLP, "--init-from", f"{base}:dense_0", "--freeze", "dense_0", "--out", str(out))
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["init_from"] == f"{base.resolve()}:dense_0"
    assert config["settings"]["freeze"] == ["dense_0"]
    assert config["transfer"]["grafted"] == ["dense_0/b", "dense_0/w"]
    assert config["transfer"]["frozen"] == ["dense_0/b", "dense_0/w"]
    assert config["transfer"]["preprocess"] == "the source run's"
    assert config["optimizer"]["kind"] == "partition"
    src, new = params(base), params(out)
    assert np.array_equal(src["dense_0"]["w"], new["dense_0"]["w"])
    assert np.array_equal(src["dense_0"]["b"], new["dense_0"]["b"])
    assert not np.array_equal(src["dense_1"]["w"], new["dense_1"]["w"])  # not grafted: fresh, then trained
    resumed = run("train", "--resume", str(out), "--epochs", "3", "--quiet", "--no-plot")
    assert resumed.exit_code == 0, resumed.output
    state = load(out / "checkpoint.npz", dtype=np.float32)
    assert state.epoch == 3 and np.array_equal(params(out)["dense_0"]["w"], src["dense_0"]["w"])
    assert frozen_layers(state.optimizer, state.params) == {"dense_0"}  # the partition is saved and loaded back
    assert json.loads((out / "config.json").read_text())["transfer"] == config["transfer"]
    refused = run("train", "--resume", str(out), "--epochs", "4", "--freeze", "dense_1", "--quiet", "--no-plot")
    assert refused.exit_code == 1 and "--freeze dense_1 (the run has dense_0)" in refused.output
    assert digest(base) == before  # the source run is never changed


def test_init_from_reads_the_source_run_within_max_params(base: Path, tmp_path: Path) -> None:
    # The base has 64*16 + 16 + 16*8 + 8 + 8*10 + 10 = 1,266 parameters.
    refused = run("train", *MLP, "--init-from", str(base), "--max-params", "1000", "--out", str(tmp_path / "r"))
    assert refused.exit_code == 1, refused.output
    assert "1,266 parameters, more than max_params=1,000" in " ".join(refused.output.split())
    assert not (tmp_path / "r" / "config.json").exists()
    allowed = run("train", *MLP, "--init-from", str(base), "--max-params", "1266", "--out", str(tmp_path / "s"))
    assert allowed.exit_code == 0, allowed.output


def test_fine_tuning_keeps_the_source_runs_freeze_and_unfreezes_at_its_own_rate(base: Path, tmp_path: Path) -> None:
    head = tmp_path / "head"
    assert (
        run("train", *MLP, "--init-from", str(base), "--freeze", "dense_0,dense_1", "--out", str(head)).exit_code == 0
    )
    before = digest(head)
    tuned = tmp_path / "tuned"
    words = ["--init-from", str(head), "--unfreeze", "dense_1", "--unfreeze-lr", "1e-5", "--lr", "0.01"]
    words += ["--out", str(tuned)]
    result = run("train", *MLP, *words)
    assert result.exit_code == 0, result.output
    config = json.loads((tuned / "config.json").read_text())
    assert config["settings"]["freeze"] == ["dense_0", "dense_1"]  # kept from the source run
    assert config["transfer"]["frozen"] == ["dense_0/b", "dense_0/w"]
    rules = {glob: rule for glob, rule in config["optimizer"]["rules"]}
    assert rules["dense_0"]["kind"] == "frozen"
    assert rules["dense_1"]["lr"] == 1e-5 and rules["dense_2"]["lr"] == 0.01
    a, b = params(head), params(tuned)
    assert np.array_equal(a["dense_0"]["w"], b["dense_0"]["w"])
    assert not np.array_equal(a["dense_1"]["w"], b["dense_1"]["w"])  # learns again, slowly
    assert np.abs(a["dense_1"]["w"] - b["dense_1"]["w"]).max() < np.abs(a["dense_2"]["w"] - b["dense_2"]["w"]).max()
    assert digest(head) == before


@pytest.mark.parametrize(
    ("words", "code", "expected"),
    [
        (["--freeze", "conv*"], 2, "'conv*' matches no parameter of the model; its parameters: dense_0/b"),
        (["--freeze", "dense_0", "--unfreeze", "head*"], 2, "'head*' matches no parameter"),
        (["--unfreeze", "dense_0"], 2, "give --freeze too"),
        (["--freeze", "dense_*"], 2, "freezes every parameter"),
        (["--init-from", "BASE:conv*"], 1, "'conv*' matches no path of source"),
        (
            ["--init-from", "BASE", "--hidden", "12,8"],
            1,
            "dense_0/w: params hold float32(64, 12), source float32(64, 16)",
        ),
        (["--init-from", "nowhere"], 2, "'nowhere' is not a run folder"),
    ],
)
def test_bad_transfer_options_name_the_paths(
    base: Path, tmp_path: Path, words: list[str], code: int, expected: str
) -> None:
    words = [w.replace("BASE", str(base)) for w in words]
    result = run("train", *MLP, *words, "--out", str(tmp_path / "r"))
    assert result.exit_code == code, result.output
    assert expected in " ".join(result.output.split())
    assert not (tmp_path / "r" / "config.json").exists()


# --- image folders -------------------------------------------------------------------------------


def write_images(root: Path, counts: dict[str, int], seed: int = 0) -> None:
    from PIL import Image

    g = np.random.default_rng(seed)
    for c, (name, n) in enumerate(sorted(counts.items())):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = (g.random((6, 6)) * 120 + 120 * c).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / name / f"{i}.png")


def test_an_image_folder_is_split_by_the_run_with_its_class_names(tmp_path: Path) -> None:
    write_images(tmp_path / "imgs", {"cat": 10, "dog": 10})
    out = tmp_path / "run"
    words = ["--data", str(tmp_path / "imgs"), "--test-split", "0.2", "--val-split", "0.25", "--epochs", "2"]
    result = run("train", *words, "--out", str(out), "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["class_names"] == ["cat", "dog"]
    assert config["data"]["feature_shape"] == [6, 6, 3]
    assert config["split"] == {"train": 12, "validation": 4, "stratified": True, "test": 4, "fixed": False}
    again = tmp_path / "again"
    assert run("train", *words, "--out", str(again), "--quiet", "--no-plot").exit_code == 0
    assert json.loads((again / "config.json").read_text())["data"]["fingerprint"] == config["data"]["fingerprint"]


def test_an_image_folder_with_train_val_test_keeps_its_splits(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    write_images(root / "train", {"a": 5, "b": 4}, seed=1)
    write_images(root / "val", {"a": 2, "b": 2}, seed=2)
    write_images(root / "test", {"a": 3, "b": 3}, seed=3)
    out = tmp_path / "run"
    result = run("train", "--data", str(root), "--epochs", "1", "--out", str(out), "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["split"] == {"train": 9, "validation": 4, "stratified": True, "test": 6, "fixed": True}
    assert config["data"]["samples"] == 19 and config["data"]["class_names"] == ["a", "b"]


def test_image_folders_take_a_colour_mode_and_a_size(tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "imgs"
    write_images(root, {"a": 4, "b": 4})
    Image.fromarray(np.zeros((9, 7), dtype=np.uint8), mode="L").save(root / "a" / "odd.png")
    mixed = run("train", "--data", str(root), "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet", "--no-plot")
    assert mixed.exit_code == 1 and "images differ in size" in mixed.output
    out = tmp_path / "run"
    words = ["--data", str(root), "--color", "gray", "--image-size", "5,4", "--epochs", "1", "--out", str(out)]
    result = run("train", *words, "--quiet", "--no-plot")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["feature_shape"] == [5, 4, 1] and config["data"]["samples"] == 9
    assert config["settings"]["image_size"] == [5, 4] and config["settings"]["color"] == "gray"
    resumed = run("train", "--resume", str(out), "--epochs", "2", "--quiet", "--no-plot")
    assert resumed.exit_code == 0, resumed.output
    not_images = run("train", "--data", "digits", "--color", "gray", "--out", str(tmp_path / "d"), "--quiet")
    assert not_images.exit_code == 2 and "image" in not_images.output


def test_predict_reads_image_files_and_folders_at_the_runs_size(tmp_path: Path) -> None:
    from PIL import Image

    from funcnn.datasets.images import load_images

    root = tmp_path / "imgs"
    write_images(root, {"a": 4, "b": 4})
    out = tmp_path / "run"
    words = ["--data", str(root), "--color", "gray", "--epochs", "1", "--out", str(out), "--quiet", "--no-plot"]
    assert run("train", *words).exit_code == 0
    loose = tmp_path / "new"
    loose.mkdir()
    Image.fromarray(np.full((12, 12), 200, dtype=np.uint8), mode="L").save(loose / "big.png")  # resized to 6x6
    Image.fromarray(np.zeros((6, 6, 3), dtype=np.uint8), mode="RGB").save(loose / "small.bmp")  # made gray
    x, files = load_images(loose, size=6, color="gray")
    assert x.shape == (2, 6, 6, 1) and [Path(f).name for f in files] == ["big.png", "small.bmp"]
    folder = run("predict", str(out), str(loose))
    assert folder.exit_code == 0, folder.output
    rows = folder.stdout.strip().splitlines()
    assert rows[0] == "label,class" and len(rows) == 3 and all(r.split(",")[1] in ("a", "b") for r in rows[1:])
    one = run("predict", str(out), str(loose / "big.png"), "--proba")
    assert one.exit_code == 0, one.output
    assert one.stdout.splitlines()[0] == "p_a,p_b" and len(one.stdout.strip().splitlines()) == 2
    tree = run("predict", str(out), str(root))  # a labelled tree: every image, labels ignored
    assert tree.exit_code == 0 and len(tree.stdout.strip().splitlines()) == 9
