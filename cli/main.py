"""The ``funcnn`` app: the commands of :mod:`cli.commands`, assembled.

No maths lives in the command line: every number comes from the :mod:`funcnn`
library. Importing this module imports Typer, attrs and the command modules,
which import numpy, funcnn and Rich only when a command runs, so
``funcnn --help`` starts fast (``benchmarks/startup.py`` measures it).
"""

from __future__ import annotations

from typing import Annotated

import typer

from .commands.datasets import datasets
from .commands.evaluate import evaluate
from .commands.explain import explain
from .commands.export import export
from .commands.inspect import inspect
from .commands.predict import predict
from .commands.replay import replay
from .commands.sweep import sweep
from .commands.train import train
from .errors import FuncnnGroup

__all__ = ["app"]

app = typer.Typer(
    name="funcnn",
    cls=FuncnnGroup,
    help="Train, evaluate and inspect small neural networks built with funcnn (numpy only).\n\n"
    "\b\nStart with:\n"
    "  funcnn train              train a classifier on the built-in spiral\n"
    "  funcnn datasets           list the built-in data sets\n"
    "  funcnn COMMAND --help     the options and examples of a command",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("funcnn")
    except PackageNotFoundError:  # a checkout that is not installed
        from funcnn import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"funcnn {_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version of funcnn and exit."),
    ] = False,
) -> None:
    """funcnn: a typed functional neural-network library on numpy."""


app.command(no_args_is_help=False)(train)
app.command()(evaluate)
app.command()(predict)
app.command()(inspect)
app.command()(replay)
app.command()(datasets)
app.command()(export)
app.command()(explain)
app.command()(sweep)


if __name__ == "__main__":
    app()
