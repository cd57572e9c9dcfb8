"""Ctrl-C (SIGINT) and SIGTERM: one exception for both, exit codes 130 and 143, never a traceback.

:func:`install` is the first thing the ``funcnn`` command does (see
:mod:`cli.entry`): from then on either signal raises :class:`Interrupted` in the
main thread, a :class:`KeyboardInterrupt` that remembers which signal it was.
Training catches it, saves the last complete epoch and prints the resume
command; anywhere else the command exits at once with ``128 + signal`` (130
for SIGINT, 143 for SIGTERM, as shells report them).

This module imports only the standard library: it runs before anything else.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["HANDLED", "Interrupted", "deferred", "exit_code", "install"]

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = signum


def exit_code(error: BaseException) -> int:
    """``128 + signal number`` for an interrupt: 130 for SIGINT (and a plain KeyboardInterrupt), 143 for SIGTERM."""
    return 128 + int(getattr(error, "signum", signal.SIGINT))


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def install() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` (main thread only).

    A signal the parent process made this one ignore (a shell's background job ignores Ctrl-C)
    stays ignored, as Python itself does for SIGINT.
    """
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, _raise)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while a file is written; the first one is raised right after.

    (Files are written atomically anyway; this keeps a save from being cut short.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {signum: signal.signal(signum, remember) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            raise Interrupted(pending[0])
