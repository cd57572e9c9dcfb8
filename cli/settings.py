"""The settings of ``funcnn train``: one frozen class, one field per option that shapes a run.

Each field of :class:`TrainSettings` holds the value as ``config.json`` stores it,
its default, its validator and, in its metadata (an :class:`OptionInfo`), the
help text and how the command line spells and parses it. Everything else is
derived from the fields:

* the options of ``funcnn train`` (:func:`cli.options.settings_parameters`),
* the settings table of ``config.json`` (:func:`to_json`, :func:`from_json`),
* what ``--resume`` compares (:func:`differences`; a field marked ``resumable``
  may change when a run is continued).

Adding an option is one field here plus its use in ``cli/commands/train.py``.

Every option is ``None`` on the command line unless given. A new run fills in
the field defaults; a resumed run takes what is not given from its
``config.json`` and must agree with it on everything else.

This module is imported when the command line starts: standard library, attrs
and Typer only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from enum import Enum, StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import typer

from .errors import usage_error
from .optimizers import OPTIMIZERS, OptimizerName

__all__ = [
    "DATA",
    "MODEL",
    "OUTPUT",
    "TRAINING",
    "Activation",
    "ColorChoice",
    "DType",
    "LossChoice",
    "OptionInfo",
    "ScaleChoice",
    "TaskChoice",
    "TrainSettings",
    "differences",
    "from_json",
    "given_settings",
    "number",
    "one_of",
    "option_name",
    "optional",
    "parse_augment",
    "glob_parser",
    "parse_batch_size",
    "parse_columns",
    "parse_delimiter",
    "parse_init_from",
    "parse_hidden",
    "parse_image_size",
    "resolve",
    "setting",
    "text",
    "to_json",
    "whole",
]

# Help panels of ``funcnn train --help``.
DATA = "Data"
MODEL = "Model"
TRAINING = "Training"
OUTPUT = "Run folder and output"


# The choices of the options that take one of a few words: one line each (the value is what is typed).
Activation = StrEnum("Activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
LossChoice = StrEnum(
    "LossChoice",
    [("auto", "auto"), ("cross_entropy", "cross-entropy"), ("binary_cross_entropy", "binary-cross-entropy"),
     ("mse", "mse")],
)
DType = StrEnum("DType", ["float32", "float64"])
ScaleChoice = StrEnum("ScaleChoice", ["auto", "standard", "minmax", "none"])
ColorChoice = StrEnum("ColorChoice", ["rgb", "gray"])
TaskChoice = StrEnum("TaskChoice", ["auto", "classification", "regression"])


# --- how a field becomes an option ---------------------------------------------------------------


# An attrs validator: (instance, field, value) -> None, raising on a bad value.
Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


@attrs.frozen(kw_only=True)
class OptionInfo:
    """How the command line shows and reads one setting (a field's ``metadata["option"]``).

    Attributes:
        help: what the option does, one or two sentences.
        panel: its help panel (:data:`DATA`, :data:`MODEL`, :data:`TRAINING`, :data:`OUTPUT`).
        name: the long option name; default ``--`` + the field name with ``-`` for ``_``.
        short: further names, e.g. ``("-d",)``.
        cli_type: the type the command line parses when it is not the stored one
            (an Enum of choices, ``str`` for a value :attr:`parse` reads, ``Path``).
        parse: command-line value -> stored value (Enum members and paths become their text
            without it).
        default_text: the default as ``--help`` shows it; default: the field default, if not None.
        metavar: the value's placeholder in ``--help``.
        resumable: may differ when a run is resumed (it does not change the run's results).
        typer: further ``typer.Option`` arguments (``exists=True``, ...).
    """

    help: str
    panel: str
    name: str | None = None
    short: tuple[str, ...] = ()
    cli_type: object = None
    parse: Callable[[Any], object] | None = None
    default_text: str | None = None
    metavar: str | None = None
    resumable: bool = False
    typer: Mapping[str, Any] = attrs.field(factory=dict, converter=MappingProxyType)


def setting(
    default: object,
    *,
    help: str,
    panel: str,
    validator: Validator | None = None,
    converter: Callable[[Any], Any] | None = None,
    **option: Any,
) -> Any:
    """An attrs field that is also a ``funcnn train`` option (see :class:`OptionInfo` for ``option``)."""
    info = OptionInfo(help=help, panel=panel, **option)
    return attrs.field(default=default, validator=validator, converter=converter, metadata={"option": info})


def option_name(field: attrs.Attribute[Any]) -> str:
    """``--hidden`` for the field ``hidden``; the :attr:`OptionInfo.name` where one is set."""
    info: OptionInfo = field.metadata["option"]
    return info.name or "--" + field.name.replace("_", "-")


def _option_of(attribute: attrs.Attribute[Any]) -> str:
    return option_name(attribute) if "option" in attribute.metadata else attribute.name


# --- validators (each names the option it checks) -----------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(low: float, high: float | None = None, *, strict: bool = False, hint: str) -> Validator:
    """A finite number ``>= low`` (``> low`` if ``strict``) and, if ``high``, ``< high``."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        ok = _is_number(value) and math.isfinite(value) and (value > low if strict else value >= low)
        if ok and high is not None:
            ok = value < high
        if not ok:
            if high is not None:
                wanted = f"must be in [{low:g}, {high:g})"
            else:
                wanted = f"must be a number {'>' if strict else '>='} {low:g}"
            shown = f"{value:g}" if _is_number(value) else repr(value)
            raise usage_error(_option_of(attribute), f"{wanted}, got {shown}; {hint}")

    return check


def whole(at_least: int, *, hint: str) -> Validator:
    """A whole number ``>= at_least``."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not _is_whole(value, at_least):
            raise usage_error(_option_of(attribute), f"must be at least {at_least}, got {value!r}; {hint}")

    return check


def one_of(choices: Sequence[str] | Mapping[str, object] | type[Enum]) -> Validator:
    """One of ``choices`` (names, a table's keys, or an Enum's values)."""
    names = [str(c.value) for c in choices] if isinstance(choices, type) else [str(c) for c in choices]

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in names:
            raise usage_error(_option_of(attribute), f"must be one of {', '.join(names)}, got {value!r}")

    return check


def text(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise usage_error(_option_of(attribute), f"must be a non-empty text, got {value!r}")


def optional(check: Validator) -> Validator:
    """``None`` or what ``check`` accepts."""

    def either(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return either


def _is_whole(value: object, at_least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= at_least


def _widths(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not all(_is_whole(w, 1) for w in value):
        message = f"expected layer widths like 64,32 (whole numbers >= 1), got {_show(value)}"
        raise usage_error(_option_of(attribute), message)


def _batch(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value != "full" and not _is_whole(value, 1):
        raise usage_error(
            _option_of(attribute), f"expected 'full' or a whole number >= 1 (1 = stochastic), got {value!r}"
        )


def _as_float(value: Any) -> Any:
    """Whole numbers (from JSON or the command line) as floats; anything else is left to the validator."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _as_widths(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# --- parsers of command-line text ----------------------------------------------------------------


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"64,32"`` -> ``(64, 32)``; ``"none"`` (or an empty string) -> ``()`` (no hidden layer).

    Raises:
        typer.BadParameter: not a comma-separated list of whole numbers >= 1.
    """
    cleaned = text.strip().lower()
    if cleaned in ("", "none", "0"):
        return ()
    sizes: list[int] = []
    for part in cleaned.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            message = f"expected layer widths like 64,32 (whole numbers >= 1) or 'none', got {text!r}"
            raise usage_error("--hidden", message)
        sizes.append(int(part))
    return tuple(sizes)


def parse_augment(text: str) -> str:
    """``"flip, rotate=15"`` -> ``"flip,rotate=15"``, checked by :meth:`funcnn.augment.Compose.from_text`.

    Raises:
        typer.BadParameter: an unknown item or a bad value (the message names it).
    """
    from funcnn.augment import Compose

    cleaned = ",".join(part.strip() for part in text.split(",") if part.strip())
    try:
        Compose.from_text(cleaned)
    except ValueError as e:
        raise usage_error("--augment", str(e)) from None
    return cleaned


def parse_image_size(text: str) -> tuple[int, int]:
    """``"28"`` -> ``(28, 28)``; ``"32,48"`` -> ``(32, 48)`` (height, width).

    Raises:
        typer.BadParameter: not one or two whole numbers >= 1.
    """
    parts = [p.strip() for p in text.split(",")]
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise usage_error("--image-size", f"expected a size like 28 or 32,48 (height,width), got {text!r}")
    sizes = [int(p) for p in parts]
    return (sizes[0], sizes[-1])


def _image_size(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or len(value) != 2 or not all(_is_whole(v, 1) for v in value):
        raise usage_error(_option_of(attribute), f"expected (height, width) of whole numbers >= 1, got {value!r}")


def parse_batch_size(text: str) -> int | str:
    """``"full"`` -> ``"full"`` (full-batch gradient descent); ``"32"`` -> 32.

    Raises:
        typer.BadParameter: neither ``full`` nor a whole number >= 1.
    """
    cleaned = text.strip().lower()
    if cleaned == "full":
        return "full"
    if not cleaned.isdigit() or int(cleaned) < 1:
        raise usage_error("--batch-size", f"expected 'full' or a whole number >= 1 (1 = stochastic), got {text!r}")
    return int(cleaned)


def glob_parser(option: str) -> Callable[[str], tuple[str, ...]]:
    """A parser of ``"conv*, dense_0"`` -> ``("conv*", "dense_0")``: parameter path globs for ``option``.

    The parser raises typer.BadParameter for a text without a glob.
    """

    def parse(text: str) -> tuple[str, ...]:
        globs = tuple(g.strip() for g in text.split(",") if g.strip())
        if not globs:
            raise usage_error(option, f"expected parameter path globs like conv*,dense_0, got {text!r}")
        return globs

    return parse


def parse_init_from(text: str) -> str:
    """``"runs/base:conv*"`` -> ``"/abs/runs/base:conv*"``, after checking that the run folder exists.

    Raises:
        typer.BadParameter: the folder is not a run folder (no checkpoint.npz), or an empty glob list.
    """
    from .planning import parse_init_from as split_init_from

    folder, globs = split_init_from(text)
    if not (folder / "checkpoint.npz").is_file():
        raise usage_error(
            "--init-from", f"{str(folder)!r} is not a run folder (it has no checkpoint.npz); give RUN[:GLOB,...]"
        )
    if text.rstrip().endswith(":") and not globs:
        raise usage_error("--init-from", f"expected globs after ':' (e.g. {folder}:conv*), got {text!r}")
    return str(folder.resolve()) + (":" + ",".join(globs) if globs else "")


def _globs(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not value or not all(isinstance(g, str) and g for g in value):
        raise usage_error(_option_of(attribute), f"expected parameter path globs like conv*,dense_0, got {value!r}")


def parse_columns(text: str) -> tuple[str, ...]:
    """``"id, name"`` -> ``("id", "name")``: CSV columns by header name or position from 1.

    Raises:
        typer.BadParameter: no column named.
    """
    columns = tuple(c.strip() for c in text.split(",") if c.strip())
    if not columns:
        raise usage_error("--drop", f"expected column names or positions like id,3, got {text!r}")
    return columns


def parse_delimiter(text: str) -> str:
    """``"tab"`` or ``"\\t"`` -> a tab; any other single character as it is.

    Raises:
        typer.BadParameter: not one character.
    """
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "space": " ", "pipe": "|"}
    value = named.get(text.lower(), text)
    if len(value) != 1 or value in "\r\n\"'":
        raise usage_error("--delimiter", f"expected one character such as ';' or 'tab', got {text!r}")
    return value


def _column_list(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not value or not all(isinstance(c, str) and c for c in value):
        raise usage_error(_option_of(attribute), f"expected column names or positions like id,3, got {value!r}")


def _delimiter(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n\"'":
        raise usage_error(_option_of(attribute), f"expected one character such as ';' or 'tab', got {value!r}")


def _optimizer_help() -> str:
    return "; ".join(f"{name}: {choice.about}" for name, choice in OPTIMIZERS.items()) + "."


def _default_lrs() -> str:
    return ", ".join(f"{choice.default_lr:g} for {name}" for name, choice in OPTIMIZERS.items())


# --- the settings --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TrainSettings:
    """Every setting of a ``funcnn train`` run, as ``config.json`` stores it (see the module docstring).

    ``lr`` is None until :func:`resolve` fills in the optimizer's default; ``hidden``,
    ``activation`` and ``dropout`` are None when a model file gives the model.
    """

    data: str = setting(
        "spiral",
        validator=text,
        panel=DATA,
        short=("-d",),
        resumable=True,
        help="A built-in data set (see 'funcnn datasets'), a CSV file (label in the last column unless "
        "--label-column), an .npz file with arrays x and y, or MNIST IDX files (a folder, or the "
        "...-images-idx3-ubyte file with its labels file beside it).",
    )
    label_column: str | None = setting(
        None,
        validator=optional(text),
        panel=DATA,
        resumable=True,
        default_text="the last column",
        help="CSV only: the label column, by header name or position counted from 1 (-1 = the last), as in "
        "messages.",
    )
    drop: tuple[str, ...] | None = setting(
        None,
        converter=_as_widths,
        validator=optional(_column_list),
        panel=DATA,
        resumable=True,
        cli_type=str,
        parse=parse_columns,
        metavar="COL,...",
        help="CSV only: columns to ignore, such as an ID column (header names or positions from 1).",
    )
    delimiter: str | None = setting(
        None,
        validator=optional(_delimiter),
        panel=DATA,
        resumable=True,
        parse=parse_delimiter,
        metavar="CHAR",
        default_text="sniffed from the file (, tab ; |)",
        help="CSV only: the cell separator; 'tab' for a tab.",
    )
    header: bool | None = setting(
        None,
        panel=DATA,
        resumable=True,
        default_text="detected",
        help="CSV only: whether the first row holds column names.",
    )
    prefix: str | None = setting(
        None,
        validator=optional(text),
        panel=DATA,
        resumable=True,
        metavar="PREFIX",
        help="A folder of IDX files holding several pairs: which to use, e.g. train or t10k.",
    )
    task: str = setting(
        "auto",
        validator=one_of(TaskChoice),
        panel=DATA,
        cli_type=TaskChoice,
        help="What the labels are: classification (classes) or regression (numbers to predict). auto: text "
        "labels and integers with at most 20 distinct values (or exactly 0..k-1) are classes, other numbers "
        "regression; the choice and its reason are printed. --loss mse means regression.",
    )
    scale_target: bool = setting(
        False,
        panel=DATA,
        help="Scale the targets of a regression to mean 0, std 1 for training; predictions and metrics come back "
        "in the original units.",
    )
    samples: int | None = setting(
        None,
        validator=optional(whole(1, hint="for example --samples 500")),
        panel=DATA,
        metavar="N",
        default_text="the data set's own",
        help="Built-in synthetic data only: samples per class (classification) or in all (regression).",
    )
    noise: float | None = setting(
        None,
        converter=_as_float,
        validator=optional(number(0.0, hint="for example --noise 0.3")),
        panel=DATA,
        default_text="the data set's own",
        help="Built-in synthetic data only: the noise level (the standard deviation of the noise, or of the "
        "angle jitter for spiral).",
    )
    classes: int | None = setting(
        None,
        validator=optional(whole(2, hint="for example --classes 5")),
        panel=DATA,
        metavar="K",
        default_text="the data set's own",
        help="Built-in synthetic data with a class count only (spiral, blobs): the number of classes.",
    )
    seed: int = setting(
        0,
        validator=whole(0, hint="for example --seed 1"),
        panel=DATA,
        help="Seed of every random choice: synthetic data, validation split, initial weights, shuffling, dropout.",
    )
    val_split: float = setting(
        0.2,
        converter=_as_float,
        validator=number(0.0, 1.0, hint="0 turns validation off"),
        panel=DATA,
        help="Share of the samples held out for validation (stratified by class); 0 turns validation off.",
    )
    image_size: tuple[int, int] | None = setting(
        None,
        converter=_as_widths,
        validator=optional(_image_size),
        panel=DATA,
        cli_type=str,
        parse=parse_image_size,
        metavar="H[,W]",
        default_text="as found (all images must have one size)",
        help="Image folders only: resize every image to this size (bilinear).",
    )
    color: str = setting(
        "rgb",
        validator=one_of(ColorChoice),
        panel=DATA,
        cli_type=ColorChoice,
        help="Image folders only: read images as rgb (3 channels) or gray (1 channel).",
    )
    test_split: float = setting(
        0.0,
        converter=_as_float,
        validator=number(0.0, 1.0, hint="0 keeps no test part"),
        panel=DATA,
        help="Share of the samples held out as a test part that training never sees (stratified, drawn before "
        "the validation part); an image folder with train/ and test/ subfolders uses its own.",
    )
    scale: str = setting(
        "auto",
        validator=one_of(ScaleChoice),
        panel=DATA,
        cli_type=ScaleChoice,
        help="Input scaling fitted on the training split: standard (mean 0, std 1 per feature), minmax "
        "(to [0, 1]), or none. auto: minmax for integer pixels, standard otherwise.",
    )
    model_file: str | None = setting(
        None,
        validator=optional(text),
        panel=MODEL,
        name="--model",
        short=("-m",),
        cli_type=Path,
        typer={"exists": True, "dir_okay": False, "readable": True},
        help='A model spec in TOML or JSON (kind = "sequential" with \\[\\[layers]]); replaces --hidden, '
        "--activation and --dropout.",
    )
    hidden: tuple[int, ...] | None = setting(
        (64,),
        converter=_as_widths,
        validator=optional(_widths),
        panel=MODEL,
        cli_type=str,
        parse=parse_hidden,
        metavar="WIDTHS",
        default_text="64",
        help="Widths of the hidden layers, e.g. 64,32; 'none' for a linear model. The output layer and the "
        "loss follow from the data.",
    )
    activation: str | None = setting(
        "relu",
        validator=optional(one_of(Activation)),
        panel=MODEL,
        cli_type=Activation,
        help="Activation after each hidden layer.",
    )
    dropout: float | None = setting(
        0.0,
        converter=_as_float,
        validator=optional(number(0.0, 1.0, hint="for example --dropout 0.2")),
        panel=MODEL,
        help="Dropout rate after each hidden activation, in [0, 1).",
    )
    loss: str = setting(
        "auto",
        validator=one_of(LossChoice),
        panel=MODEL,
        cli_type=LossChoice,
        help="auto: softmax + cross-entropy for several classes, sigmoid + binary cross-entropy for two, "
        "mse for real-valued targets.",
    )
    optimizer: str = setting(
        "adam",
        validator=one_of(OPTIMIZERS),
        panel=TRAINING,
        cli_type=OptimizerName,
        help=_optimizer_help(),
    )
    lr: float | None = setting(
        None,
        converter=_as_float,
        validator=optional(number(0.0, strict=True, hint="for example --lr 0.01")),
        panel=TRAINING,
        default_text=_default_lrs(),
        help="Learning rate (> 0).",
    )
    lr_decay: float = setting(
        0.0,
        converter=_as_float,
        validator=number(0.0, hint="for example --lr-decay 0.001"),
        panel=TRAINING,
        help="Inverse-time decay: the learning rate at step t is lr / (1 + lr_decay * t).",
    )
    l2: float = setting(
        0.0,
        converter=_as_float,
        validator=number(0.0, hint="for example --l2 0.0001"),
        panel=TRAINING,
        help="L2 weight decay: adds l2/2 * sum(w^2) over the weights (not biases) to the cost.",
    )
    epochs: int = setting(
        200,
        validator=whole(1, hint="for example --epochs 100"),
        panel=TRAINING,
        short=("-e",),
        resumable=True,
        help="Total number of epochs (with --resume: the total to reach).",
    )
    batch_size: int | str = setting(
        32,
        validator=_batch,
        panel=TRAINING,
        short=("-b",),
        cli_type=str,
        parse=parse_batch_size,
        metavar="SIZE",
        help="Samples per step: a number, 1 (stochastic), or full (full-batch gradient descent).",
    )
    augment: str | None = setting(
        None,
        validator=optional(text),
        panel=TRAINING,
        parse=parse_augment,
        metavar="SPEC",
        help="Augment every training batch of images, e.g. flip,rotate=15,shift=0.1,shear=10,zoom=0.1,fill=nearest "
        "(items: flip[=vertical|both], rotate, shift, shear, zoom, brightness, fill, value, interpolation).",
    )
    init_from: str | None = setting(
        None,
        validator=optional(text),
        panel=MODEL,
        parse=parse_init_from,
        metavar="RUN[:GLOB,...]",
        default_text="fresh random weights",
        help="Start from the weights of another run: all of them, or only the parameters the globs name "
        "(e.g. runs/base:conv*), shape-checked. The run is read, never changed; its input scaling is reused. "
        "Its --freeze is kept unless you give one.",
    )
    freeze: tuple[str, ...] | None = setting(
        None,
        converter=_as_widths,
        validator=optional(_globs),
        panel=MODEL,
        cli_type=str,
        parse=glob_parser("--freeze"),
        metavar="GLOB,...",
        help="Keep these parameters fixed (globs over parameter paths such as conv2d_0/w; a layer name takes "
        "all its parameters); no gradients are computed below the lowest layer that learns.",
    )
    unfreeze: tuple[str, ...] | None = setting(
        None,
        converter=_as_widths,
        validator=optional(_globs),
        panel=MODEL,
        cli_type=str,
        parse=glob_parser("--unfreeze"),
        metavar="GLOB,...",
        help="Let these of the --freeze parameters learn again (fine-tuning), at --unfreeze-lr.",
    )
    unfreeze_lr: float | None = setting(
        None,
        converter=_as_float,
        validator=optional(number(0.0, strict=True, hint="for example --unfreeze-lr 0.0001")),
        panel=TRAINING,
        default_text="--lr",
        help="Learning rate of the parameters --unfreeze names (fine-tuning usually takes a small one).",
    )
    tol: float | None = setting(
        None,
        converter=_as_float,
        validator=optional(number(0.0, strict=True, hint="for example --tol 0.001")),
        panel=TRAINING,
        help="Stop when the norm of the full-data gradient at the end of an epoch falls below this (converged).",
    )
    early_stopping: int | None = setting(
        None,
        validator=optional(whole(1, hint="the patience is counted in epochs")),
        panel=TRAINING,
        metavar="PATIENCE",
        help="Stop after this many epochs without a lower validation cost and keep the best epoch's weights.",
    )
    dtype: str = setting(
        "float32",
        validator=one_of(DType),
        panel=TRAINING,
        cli_type=DType,
        help="Floating-point type of the weights and data.",
    )
    threads: int | None = setting(
        None,
        validator=optional(whole(0, hint="for example --threads 2, or 0 for every core")),
        panel=TRAINING,
        metavar="N",
        resumable=True,
        default_text="1 (funcnn's thread policy)",
        help="BLAS threads for the matrix products; 0 lets the BLAS library use every core. One thread is "
        "the default because mini-batch products are small: more threads gain little on an idle machine and "
        "can run many times slower when another program is busy. Needs threadpoolctl.",
    )
    checkpoint_every: int | None = setting(
        None,
        validator=optional(whole(1, hint="for example --checkpoint-every 5")),
        panel=OUTPUT,
        metavar="N",
        resumable=True,
        help="Also keep the state of every N-th epoch as epoch-NNNN.npz (for 'funcnn replay').",
    )


attrs.resolve_types(TrainSettings)

_MODEL_OPTIONS = ("hidden", "activation", "dropout")


# --- from the command line, to and from config.json, resume ------------------------------------


def _stored(field: attrs.Attribute[Any], value: object) -> object:
    info: OptionInfo = field.metadata["option"]
    if info.parse is not None:
        return info.parse(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def given_settings(values: Mapping[str, object]) -> dict[str, Any]:
    """The settings given on the command line (``None``: not given), checked, in their stored form.

    Raises:
        typer.BadParameter: a value a field's validator refuses, or options that exclude each other.
    """
    given: dict[str, Any] = {
        f.name: _stored(f, values[f.name]) for f in attrs.fields(TrainSettings) if values.get(f.name) is not None
    }
    attrs.evolve(TrainSettings(), **given)  # runs every validator on the given values
    if "model_file" in given:
        clash = [option_name(getattr(attrs.fields(TrainSettings), k)) for k in _MODEL_OPTIONS if k in given]
        if clash:
            raise usage_error("--model", f"replaces {', '.join(clash)}; give either a model file or those options")
    return given


def resolve(given: Mapping[str, Any], prior: TrainSettings | None = None) -> TrainSettings:
    """Every setting: given on the command line, else the run's (when resuming), else the default."""
    settings = attrs.evolve(prior if prior is not None else TrainSettings(), **given)
    fields = attrs.fields(TrainSettings)
    if settings.model_file is not None:
        settings = attrs.evolve(settings, hidden=None, activation=None, dropout=None)
    else:
        missing: dict[str, Any] = {
            k: getattr(fields, k).default for k in _MODEL_OPTIONS if getattr(settings, k) is None
        }
        settings = attrs.evolve(settings, **missing)
    if settings.lr is None:
        settings = attrs.evolve(settings, lr=OPTIMIZERS[settings.optimizer].default_lr)
    return settings


def to_json(settings: TrainSettings) -> dict[str, object]:
    """The settings table of ``config.json`` (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.asdict(settings, recurse=False).items()}


def from_json(table: object, where: str = "config.json") -> TrainSettings:
    """The settings stored in a ``config.json``'s ``settings`` table.

    Raises:
        ConfigError: not a table, an unknown setting, or a value its field refuses (the message
            names ``where`` and the setting).
    """
    from funcnn.errors import ConfigError

    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: 'settings' must be a table of the run's options, got {type(table).__name__}")
    names = {f.name for f in attrs.fields(TrainSettings)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} in 'settings'; known: {', '.join(sorted(names))}")
    for field in attrs.fields(TrainSettings):  # each value checked by its field, so the message can name it
        if field.name not in table:
            continue
        value = table[field.name]
        try:
            converted = field.converter(value) if callable(field.converter) else value
            if field.validator is not None:
                field.validator(None, field, converted)
        except typer.BadParameter as e:
            raise ConfigError(f"{where}: settings.{field.name} = {value!r}: {e.message}") from None
    return TrainSettings(**{str(k): v for k, v in table.items()})


def _show(value: object) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) or "none"
    return str(value)


# Parts of config.json that must be equal for a run to be resumed.
_SECTIONS = ("data", "split", "preprocess", "model", "in_shape", "loss", "optimizer", "metrics")


def differences(prior: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between a run's ``config.json`` and the config of this command."""
    out: list[str] = []
    old_s, new_s = from_json(prior.get("settings", {})), from_json(new["settings"])
    for field in attrs.fields(TrainSettings):
        info: OptionInfo = field.metadata["option"]
        old_v, new_v = getattr(old_s, field.name), getattr(new_s, field.name)
        if not info.resumable and old_v != new_v:
            out.append(f"{option_name(field)} {_show(new_v)} (the run has {_show(old_v)})")
    if prior.get("data", {}).get("fingerprint") != new["data"]["fingerprint"] and old_s.seed == new_s.seed:
        old = prior.get("data", {})
        out.append(
            f"the data ({new['data']['source']}, {new['data']['samples']} samples) are not the run's "
            f"({old.get('source')}, {old.get('samples')} samples)"
        )
    if not out:
        out += [f"its {section}" for section in _SECTIONS if prior.get(section) != new.get(section)]
    return out
