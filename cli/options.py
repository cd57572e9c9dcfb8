"""Options shared by several commands, and the ``train`` options built from :class:`cli.settings.TrainSettings`.

Standard library, attrs and Typer only: imported when the command line starts.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import attrs
import typer

from .settings import DATA, OptionInfo, option_name

__all__ = [
    "DataOption",
    "DelimiterOption",
    "HeaderOption",
    "JsonOption",
    "LabelColumnOption",
    "MaxParamsOption",
    "PlotScale",
    "PluginOption",
    "PrefixOption",
    "RunPath",
    "SeedOption",
    "SplitChoice",
    "SplitOption",
    "ThreadsOption",
    "settings_parameters",
    "with_settings_options",
]


PlotScale = StrEnum("PlotScale", ["log", "linear"])
SplitChoice = StrEnum("SplitChoice", ["all", "train", "val", "test"])


def _data_option(*names: str, help: str, **more: Any) -> Any:
    """An option of the Data panel whose default, None, means "as the run has it" (so none is shown)."""
    return typer.Option(*names, help=help, show_default=False, rich_help_panel=DATA, **more)


RunPath = Annotated[
    Path,
    typer.Argument(
        metavar="RUN",
        exists=True,
        help="A run folder (its latest checkpoint.npz is used) or a checkpoint file such as epoch-0050.npz.",
        show_default=False,
    ),
]
DataOption = Annotated[
    str | None,
    _data_option(
        "--data",
        "-d",
        help="A built-in data set (see 'funcnn datasets'), a CSV file, an .npz file with x and y, or MNIST IDX "
        "files. Default: the run's own training data.",
    ),
]
LabelColumnOption = Annotated[
    str | None,
    _data_option(
        help="CSV only: the label column, by header name or position counted from 1 (-1 = the last). Default: "
        "the training data's label column, else the last column."
    ),
]
SeedOption = Annotated[
    int | None,
    _data_option(
        min=0,
        help="Seed of a synthetic data set (spiral, moons, ...). Default: the run's seed, i.e. its training data; "
        "another seed draws fresh samples.",
    ),
]
SplitOption = Annotated[
    SplitChoice | None,
    _data_option(
        help="Which samples to use: all, or the run's own train, val or test part (needs the run's data). "
        "Default: the validation part when the run has one and --data is not given, else all."
    ),
]
HeaderOption = Annotated[
    bool | None,
    _data_option("--header/--no-header", help="CSV only: whether the first row holds column names. Default: detected."),
]
DelimiterOption = Annotated[
    str | None,
    _data_option(
        metavar="CHAR", help="CSV only: the cell separator ('tab' for a tab). Default: sniffed from the file."
    ),
]
PrefixOption = Annotated[
    str | None,
    _data_option(metavar="PREFIX", help="A folder of IDX files with several pairs: which to read, e.g. t10k."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
MaxParamsOption = Annotated[
    int | None,
    typer.Option(
        "--max-params",
        min=1,
        metavar="N",
        help="Refuse a checkpoint whose model has more parameters than this (checked before anything is "
        "allocated). Default: 500,000,000. Raise it for a larger model you trust.",
        show_default=False,
    ),
]
PluginOption = Annotated[
    list[str] | None,
    typer.Option(
        "--plugin",
        metavar="MODULE",
        help="Import this Python module first (a module name importable from the current folder or installed, "
        "or a path to a .py file), so the layers and transforms it registers with funcnn.register_kind can be "
        "read from model files and checkpoints. Repeat for several modules.",
        show_default=False,
    ),
]

ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=0,
        metavar="N",
        help="BLAS threads for the matrix products; 0 lets the BLAS library use every core. Default: 1 "
        "(funcnn's thread policy: see the performance guide). Needs threadpoolctl.",
        show_default=False,
    ),
]


# --- the train options, from the settings class --------------------------------------------------


def _cli_type(field: attrs.Attribute[Any]) -> Any:
    info: OptionInfo = field.metadata["option"]
    if info.cli_type is not None:
        return info.cli_type
    kinds = [t for t in typing.get_args(field.type) if t is not type(None)]
    return kinds[0] if kinds else field.type


def _help(field: attrs.Attribute[Any]) -> str:
    info: OptionInfo = field.metadata["option"]
    shown = info.default_text
    if shown is None and field.default is not None:
        value = field.default
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return info.help if shown is None else f"{info.help} Default: {shown}."


def settings_parameters(cls: type[Any]) -> list[inspect.Parameter]:
    """One keyword parameter per field of ``cls``: ``Annotated[T | None, typer.Option(...)] = None``.

    The option's names, help text, panel and type come from the field (see
    :class:`cli.settings.OptionInfo`); ``None`` means "not given". A ``bool`` field
    becomes a switch, ``--name/--no-name``.
    """
    parameters = []
    for field in attrs.fields(cls):
        info: OptionInfo = field.metadata["option"]
        kind = _cli_type(field)
        name = option_name(field)
        if kind is bool and "/" not in name:  # a switch: --x/--no-x, so a resumed run can be told either way
            name = f"{name}/--no-{name.removeprefix('--')}"
        option = typer.Option(
            name,
            *info.short,
            help=_help(field),
            show_default=False,
            rich_help_panel=info.panel,
            metavar=info.metavar,
            **info.typer,
        )
        annotated: Any = Annotated  # the type is only known here, at run time
        annotation = annotated[kind | None, option]
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters.append(inspect.Parameter(field.name, keyword, default=None, annotation=annotation))
    return parameters


F = TypeVar("F", bound=Callable[..., Any])


def with_settings_options(cls: type[Any]) -> Callable[[F], F]:
    """Give a command one option per field of the settings class ``cls``, before its own options.

    The command takes them as ``**settings`` (``None``: not given). Typer reads a
    command's options from its signature and type hints: both are set here.
    """

    def decorate(command: F) -> F:
        own = inspect.signature(command, eval_str=True)
        hints = typing.get_type_hints(command, include_extras=True)
        kept = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in own.parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        generated = settings_parameters(cls)
        signature = own.replace(parameters=[*generated, *kept])
        vars(command)["__signature__"] = signature
        command.__annotations__ = {**{p.name: p.annotation for p in generated}, **hints}
        return command

    return decorate
