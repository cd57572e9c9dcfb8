"""The ``funcnn`` executable's entry point: signal handlers first, then the app.

The handlers are installed before Typer, numpy or funcnn are imported, so an
interrupt at any moment ends the command quietly: during start-up with
``interrupted`` and exit code 130 (143 for SIGTERM), during training after
saving the last complete epoch.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _leave_at_once(signum: int, frame: FrameType | None) -> None:
    # Nothing has started yet, so nothing needs saving: leave quietly with the shell's code.
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(128 + signum)


# The very first statements the ``funcnn`` executable runs (this module is its entry point and is
# imported by nothing else): until :func:`install` takes over, an interrupt ends the process at
# once, with no traceback, instead of raising KeyboardInterrupt inside the imports below.
for _signum in (signal.SIGINT, signal.SIGTERM):
    if signal.getsignal(_signum) is not signal.SIG_IGN:
        signal.signal(_signum, _leave_at_once)

from .signals import Interrupted, exit_code, install  # noqa: E402

__all__ = ["main"]


def main() -> None:
    """Run the ``funcnn`` command line (``python -m funcnn`` and the ``funcnn`` script)."""
    try:
        install()
        from .main import app

        app(prog_name="funcnn")
    except KeyboardInterrupt as e:  # an interrupt before a command took over (or after it finished)
        _quiet_exit(exit_code(e) if isinstance(e, Interrupted) else 130)
    finally:
        _default_actions()


def _default_actions() -> None:
    """From here to the end of the process (interpreter shutdown), the system's default action for both signals.

    The process then ends at once on a signal, as a shell expects, with no Python code left to print a
    traceback. A signal that arrives while the handlers are being switched (the command has finished,
    or is leaving with an error) still finds funcnn's handler: it ends the process as interrupted.
    """
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
    except KeyboardInterrupt as e:
        _quiet_exit(exit_code(e) if isinstance(e, Interrupted) else 130)


def _quiet_exit(code: int) -> None:
    # A second interrupt while leaving must not print a traceback either.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    sys.exit(code)
