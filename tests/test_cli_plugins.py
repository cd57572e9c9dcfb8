"""``--plugin MODULE``: a layer of the user's own, registered with ``fn.register_kind``, through the command line.

Each command runs in its own process (``python -m funcnn``), so the kind this
test registers never enters the registry of the test process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = '''
"""A layer of a user's own: y = 2 x."""

from typing import ClassVar

import attrs

import funcnn as fn


@fn.register_kind
@attrs.frozen
class Double:
    kind: ClassVar[str] = "double_cli_plugin_test"
    uses_key: ClassVar[bool] = False
    name: str | None = attrs.field(default=None, kw_only=True)

    def init(self, key, in_shape, dtype):
        return in_shape, fn.FrozenTree()

    def forward(self, params, x, *, key=None, train=False):
        return 2 * x, fn.FrozenTree()

    def backward(self, params, cache, dy, *, need_dx=True):
        return fn.FrozenTree(), 2 * dy
'''

MODEL = """kind = "sequential"
[[layers]]
kind = "dense"
out_dim = 8
[[layers]]
kind = "double_cli_plugin_test"
[[layers]]
kind = "relu"
[[layers]]
kind = "dense"
out_dim = 3
"""


def funcnn(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "funcnn", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the plugin module, a model file that uses its layer, and a run trained with both."""
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "double_layer.py").write_text(PLUGIN)
    (folder / "model.toml").write_text(MODEL)
    done = funcnn(
        folder, "train", "--model", "model.toml", "--plugin", "double_layer.py", "--epochs", "2", "--out", "run",
        "--checkpoint-every", "1", "--quiet", "--no-plot",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder


def test_a_registered_layer_trains_and_is_saved(project: Path) -> None:
    done = funcnn(project, "inspect", "run", "--plugin", "double_layer", "--json")  # by module name this time
    assert done.returncode == 0, done.stderr
    assert "Double(" in done.stdout


@pytest.mark.parametrize("command", ["evaluate", "replay", "predict"])
def test_the_other_commands_load_it_with_the_plugin(project: Path, command: str) -> None:
    extra = ["spiral"] if command == "predict" else (["--no-plot"] if command == "replay" else [])
    done = funcnn(project, command, "run", *extra, "--plugin", "double_layer")
    assert done.returncode == 0, done.stderr


def test_resume_with_the_plugin(project: Path) -> None:
    done = funcnn(project, "train", "--resume", "run", "--epochs", "3", "--plugin", "double_layer", "-q", "--no-plot")
    assert done.returncode == 0, done.stderr


def test_without_the_plugin_the_message_says_how_to_load_it(project: Path) -> None:
    done = funcnn(project, "inspect", "run")
    assert done.returncode == 1
    assert "double_cli_plugin_test" in done.stderr and "--plugin MODULE" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_plugin_is_a_usage_error(project: Path) -> None:
    done = funcnn(project, "inspect", "run", "--plugin", "no_such_module_here")
    assert done.returncode == 2
    assert "no module named 'no_such_module_here'" in done.stderr and "Traceback" not in done.stderr
    done = funcnn(project, "inspect", "run", "--plugin", "missing.py")
    assert done.returncode == 2 and "'missing.py' is not a file" in done.stderr


def test_a_plugin_that_fails_to_import_is_reported(project: Path) -> None:
    (project / "broken_plugin.py").write_text("raise RuntimeError('half-written plugin')\n")
    done = funcnn(project, "inspect", "run", "--plugin", "broken_plugin")
    assert done.returncode == 1
    assert "--plugin broken_plugin: importing it failed: RuntimeError: half-written plugin" in done.stderr
    assert "Traceback" not in done.stderr
