"""``--plugin MODULE``: import the user's modules before a command reads any model file or checkpoint.

A plugin module defines layers or gradient transforms of its own and registers
them with ``funcnn.register_kind``; importing it is all the command line does.
Nothing a run folder or checkpoint names is ever imported: plugins come only
from the command line.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import typer

from .errors import fail, usage_error

__all__ = ["load_plugins"]


def _from_file(path: Path) -> None:
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path.resolve():
            return
        raise usage_error("--plugin", f"{str(path)!r}: a module named {name!r} is already imported; rename the file")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise usage_error("--plugin", f"{str(path)!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def _import(name: str) -> None:
    here = os.getcwd()
    added = here not in sys.path
    if added:  # 'python -m' puts the current folder first; the installed 'funcnn' script does not
        sys.path.insert(0, here)
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing == name or name.startswith(missing + "."):
            raise usage_error(
                "--plugin",
                f"no module named {name!r} (looked in the current folder and the installed packages); "
                "give an importable module name or a path to a .py file",
            ) from None
        raise
    finally:
        if added:
            sys.path.remove(here)


def load_plugins(modules: Sequence[str] | None) -> None:
    """Import each module (a dotted name, or a path to a ``.py`` file) in order.

    Raises:
        typer.BadParameter: a module that cannot be found (exit code 2).
        typer.Exit: importing a module raised an error (exit code 1, the error printed); set
            ``FUNCNN_DEBUG=1`` for its traceback.
    """
    for module in modules or ():
        try:
            if module.endswith(".py"):
                path = Path(module)
                if not path.is_file():
                    raise usage_error("--plugin", f"{module!r} is not a file")
                _from_file(path)
            else:
                _import(module)
        except Exception as e:
            if isinstance(e, typer.BadParameter) or os.environ.get("FUNCNN_DEBUG"):
                raise
            fail(
                f"--plugin {module}: importing it failed: {type(e).__name__}: {e}",
                "fix the module (run again with FUNCNN_DEBUG=1 to see the traceback)",
            )
