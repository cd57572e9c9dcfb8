"""Errors on the command line: short messages on stderr and exit codes, never a traceback.

* Usage errors (a bad option value, a missing file named on the command line,
  options that contradict each other) print two lines, the problem and where
  to look for help, and exit with code 2.
* Run-time failures (a malformed data file, a damaged checkpoint, a model that
  does not fit the data, a cost that became NaN) print the problem and, when
  useful, a hint, and exit with code 1.
* Ctrl-C exits with code 130, SIGTERM with 143 (see :mod:`cli.signals`), at any moment.

An unexpected exception is a bug: it is reported in two lines as well; set
``FUNCNN_DEBUG=1`` to see its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from . import signals

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "FuncnnGroup",
    "deferred_interrupt",
    "echo_err",
    "fail",
    "handle_errors",
    "usage_error",
]

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # SIGINT; SIGTERM gives 143 (signals.exit_code)

# Typer (>= 0.24) vendors click; reach its ClickException through a public subclass
# rather than a private module path, so this works whichever click Typer uses.
_CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def echo_err(text: str) -> None:
    """Print ``text`` on stderr."""
    typer.echo(text, err=True)


def usage_error(option: str, message: str) -> typer.BadParameter:
    """A usage error about ``option`` (exit code 2); raise it."""
    return typer.BadParameter(message, param_hint=f"'{option}'" if option.startswith("-") else option)


def fail(message: str, hint: str | None = None, *, code: int = EXIT_RUNTIME) -> NoReturn:
    """Print ``error: message`` (and ``hint: ...``) on stderr and exit with ``code``."""
    echo_err(f"error: {message}")
    if hint:
        echo_err(f"hint: {hint}")
    raise typer.Exit(code)


def condense(message: str) -> str:
    """One line from a library message that lists several problems on separate lines.

    >>> condense("ckpt.npz: 3 problems:\\n  - params/w: missing\\n  - b: extra\\n  - c: extra")
    'ckpt.npz: 3 problems: params/w: missing (and 2 more)'
    """
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else message
    items = [line.removeprefix("- ") for line in lines[1:]]
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return f"{lines[0]} {items[0]}{more}"


def _hint(error: Exception) -> str | None:
    from funcnn.errors import CheckpointError, ConfigError

    text = str(error)
    unknown_kind = "unknown kind" in text and "--plugin" not in text  # the library may name --plugin itself
    plugin = "a layer or transform of your own: import the module that registers it with --plugin MODULE"
    if isinstance(error, CheckpointError):
        if "max_params=" in text:
            return "if you trust the file, raise the limit with --max-params N"
        if "unknown kind" in text:
            return plugin if unknown_kind else None
        return "give a run folder or a checkpoint written by 'funcnn train' (or funcnn.save)"
    if isinstance(error, ConfigError) and ("unknown" in text or "not valid" in text):
        model_file = "a model file is TOML or JSON with kind = \"sequential\" and [[layers]]; see 'funcnn train --help'"
        return f"{model_file}; {plugin}" if unknown_kind else model_file
    return None


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn the exceptions of a command into short messages and exit codes (see the module docstring)."""
    try:
        yield
    except (typer.Exit, typer.Abort, _CLICK_EXCEPTION):
        raise
    except KeyboardInterrupt as e:
        echo_err("interrupted")
        raise typer.Exit(signals.exit_code(e)) from None
    except MemoryError as e:
        # Files are checked (sizes, parameter counts) before anything is allocated for them, so this is
        # the computation itself; numpy's message says how much it asked for.
        detail = f": {condense(str(e))}" if str(e) else ""
        fail(f"out of memory{detail}", "if the model and data are as intended, a smaller --batch-size needs less")
    except Exception as e:
        from funcnn.errors import FuncnnError

        if isinstance(e, FuncnnError):
            fail(condense(str(e)), _hint(e))
        if isinstance(e, BrokenPipeError):
            raise  # the reader went away (e.g. '| head'): Typer exits quietly
        if isinstance(e, OSError):
            where = f"{e.filename}: " if e.filename else ""
            fail(f"{where}{e.strerror or e}", "check the path and its permissions")
        if os.environ.get("FUNCNN_DEBUG"):
            raise
        fail(
            f"internal error: {type(e).__name__}: {condense(str(e))}",
            "this is a bug in funcnn; run again with FUNCNN_DEBUG=1 to see the traceback, and please report it",
        )


def deferred_interrupt() -> AbstractContextManager[None]:
    """Hold Ctrl-C and SIGTERM back while a file is being written; the first is raised right after.

    (Files are written atomically anyway; this keeps a save from being cut short.)
    """
    return signals.deferred()


def _command_path(group: TyperGroup, prog: str, args: Sequence[str] | None) -> str:
    words = list(sys.argv[1:] if args is None else args)
    sub = next((w for w in words if not w.startswith("-")), None)
    return f"{prog} {sub}" if sub is not None and sub in group.commands else prog


class FuncnnGroup(TyperGroup):
    """The app's command group: usage errors in two plain lines instead of a framed panel.

    Its own help (``funcnn --help``: the commands and their first lines) is drawn by
    click's plain formatter, which needs no Rich: that keeps ``funcnn --help``
    fast, as Typer's Rich help imports Markdown and Pygments support on first use.
    The help of each command keeps Typer's Rich panels.
    """

    def format_help(self, ctx: Any, formatter: Any) -> None:  # click's Context and HelpFormatter
        super(TyperGroup, self).format_help(ctx, formatter)  # click's Command.format_help, not Typer's Rich one

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as e:  # while the options are parsed: no command has taken over yet
            echo_err("interrupted")
            raise typer.Exit(signals.exit_code(e)) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:  # outside a command's own handling (e.g. while it is looked up)
            echo_err("interrupted")
            raise typer.Exit(signals.exit_code(e)) from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        prog = prog_name or "funcnn"
        try:
            rv = super().main(args, prog, complete_var, standalone_mode=False, **extra)
        except _CLICK_EXCEPTION as e:
            code = int(getattr(e, "exit_code", EXIT_USAGE))
            if type(e).__name__ == "NoArgsIsHelpError":  # the help text itself
                text = e.format_message()  # type: ignore[attr-defined]
                if text.strip():
                    typer.echo(text)
                sys.exit(code)
            path = _command_path(self, prog, args)
            message = e.format_message()  # type: ignore[attr-defined]
            echo_err(f"{path}: error: {message[:1].lower()}{message[1:]}")
            echo_err(f"Try '{path} --help' for the options and examples.")
            sys.exit(code)
        except typer.Abort:
            echo_err("aborted")
            sys.exit(EXIT_RUNTIME)
        sys.exit(rv if isinstance(rv, int) else 0)
