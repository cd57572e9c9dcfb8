"""The settings class of ``funcnn train``: the options, config.json and --resume all come from its fields.

Also the optimizer table and the packaging of the command line (``python -m funcnn``,
``--version``, the library not importing the command line).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import funcnn as fn
from funcnn_cli.main import app
from funcnn_cli.optimizers import OPTIMIZERS, OptimizerName, build_optimizer
from funcnn_cli.options import with_settings_options
from funcnn_cli.settings import (
    TrainSettings,
    from_json,
    given_settings,
    number,
    option_name,
    resolve,
    setting,
    to_json,
)

runner = CliRunner()


def train_help() -> str:
    # Rich reads the width from COLUMNS; a narrow table would wrap the help words this file looks for.
    result = runner.invoke(app, ["train", "--help"], terminal_width=200, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_every_setting_is_an_option_of_train_with_its_help_and_default() -> None:
    text = train_help()
    for field in attrs.fields(TrainSettings):
        assert option_name(field) in text, field.name
        help_words = field.metadata["option"].help.split()[:3]
        assert " ".join(help_words) in " ".join(text.split()), field.name
    assert "Default: 64." in " ".join(text.split())  # the default of --hidden, shown from the field


def test_the_optimizer_choices_are_the_table() -> None:
    assert [o.value for o in OptimizerName] == list(OPTIMIZERS) and "adagrad" in OPTIMIZERS
    text = " ".join(train_help().split())
    for name in OPTIMIZERS:
        assert name in text
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        build_optimizer("lamb", 0.1)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_builds_what_its_name_says(name: str) -> None:
    opt = build_optimizer(name, 0.05)
    expected: object = {
        "sgd": fn.sgd(0.05),
        "momentum": fn.momentum(0.05, 0.9),
        "nesterov": fn.momentum(0.05, 0.9, nesterov=True),
        "adam": fn.adam(0.05),
        "rmsprop": fn.rmsprop(0.05),
        "adagrad": fn.adagrad(0.05),
    }[name]
    assert opt == expected


def test_adagrad_trains_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = runner.invoke(
        app, ["train", "--optimizer", "adagrad", "--epochs", "2", "--out", str(out), "-q", "--no-plot"]
    )
    assert result.exit_code == 0, result.output
    state = fn.load(out, dtype=np.float32)
    assert state.optimizer == fn.adagrad(OPTIMIZERS["adagrad"].default_lr)
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["optimizer"] == "adagrad"


def test_an_unknown_optimizer_in_config_json_cannot_fall_through(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert runner.invoke(app, ["train", "--epochs", "1", "--out", str(out), "-q", "--no-plot"]).exit_code == 0
    config = json.loads((out / "config.json").read_text())
    config["settings"]["optimizer"] = "lamb"
    (out / "config.json").write_text(json.dumps(config))
    result = runner.invoke(app, ["train", "--resume", str(out), "--epochs", "2"])
    assert result.exit_code == 1, result.output
    assert "optimizer" in result.stderr and "lamb" in result.stderr and "adagrad" in result.stderr
    assert "Traceback" not in result.output


def test_config_json_round_trips_the_settings() -> None:
    settings = resolve({"hidden": (8, 4), "optimizer": "nesterov", "batch_size": "full"})
    stored = json.loads(json.dumps(to_json(settings)))
    assert stored["hidden"] == [8, 4] and stored["lr"] == OPTIMIZERS["nesterov"].default_lr
    assert from_json(stored) == settings


def test_given_settings_are_parsed_and_checked_by_the_fields() -> None:
    values: dict[str, Any] = {f.name: None for f in attrs.fields(TrainSettings)}
    assert given_settings({**values, "hidden": "64,32", "batch_size": "full"}) == {
        "hidden": (64, 32),
        "batch_size": "full",
    }
    with pytest.raises(Exception, match="must be a number > 0"):
        given_settings({**values, "lr": -1.0})
    with pytest.raises(Exception, match="replaces --hidden"):
        given_settings({**values, "model_file": Path("m.toml"), "hidden": "4"})


def test_a_hand_edited_setting_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(fn.errors.ConfigError, match=r"run/config.json: settings.dropout = 3.0: must be in \[0, 1\)"):
        from_json({"dropout": 3.0}, "run/config.json")
    with pytest.raises(fn.errors.ConfigError, match="unknown setting 'hiden'"):
        from_json({"hiden": [3]}, "run/config.json")


def test_a_settings_class_becomes_options_that_typer_honours() -> None:
    @attrs.frozen(kw_only=True)
    class Demo:
        rate: float = setting(0.5, panel="P", help="A rate.", validator=number(0.0, hint="e.g. --rate 1"))
        fast: bool = setting(False, panel="P", help="Go fast.")

    attrs.resolve_types(Demo, globals(), locals())
    seen: dict[str, Any] = {}

    @with_settings_options(Demo)
    def command(verbose: bool = False, **options: Any) -> None:
        seen.clear()
        seen.update(options, verbose=verbose)

    demo = typer.Typer()
    demo.command()(command)
    demo.command("other")(lambda: None)  # two commands, so the command is named on the command line
    assert runner.invoke(demo, ["command", "--rate", "2", "--no-fast", "--verbose"]).exit_code == 0
    assert seen == {"rate": 2.0, "fast": False, "verbose": True}
    assert runner.invoke(demo, ["command", "--fast"]).exit_code == 0
    assert seen == {"rate": None, "fast": True, "verbose": False}  # None: not given
    text = " ".join(runner.invoke(demo, ["command", "--help"], terminal_width=200).stdout.split())
    assert "A rate. Default: 0.5." in text and "--fast --no-fast" in text


# --- packaging ---------------------------------------------------------------------------------------


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"funcnn {fn.__version__}"


def test_python_dash_m_funcnn(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "funcnn", "--version"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"funcnn {fn.__version__}"
    done = subprocess.run([sys.executable, "-m", "funcnn", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--install-completion" in done.stdout and "datasets" in done.stdout


def test_the_library_does_not_import_the_command_line() -> None:
    code = "import sys, funcnn; print(sorted(m for m in ('typer', 'funcnn_cli', 'cli') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_help_of_funcnn_imports_neither_numpy_nor_the_library() -> None:
    code = (
        "import sys\nfrom funcnn_cli.main import app\n"
        "print(sorted(m for m in ('numpy', 'funcnn', 'rich') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
