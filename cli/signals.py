"""Ctrl-C (SIGINT) and SIGTERM: one exception for both, exit codes 130 and 143, never a traceback.

:func:`install` is the first thing the ``funcnn`` command does (see
:mod:`cli.entry`): from then on either signal raises :class:`Interrupted` in the
main thread, a :class:`KeyboardInterrupt` that remembers which signal it was.
Training catches it, saves the last complete epoch and prints the resume
command; anywhere else the command exits at once with ``128 + signal`` (130
for SIGINT, 143 for SIGTERM, as shells report them).

Python cannot raise an exception out of every place a signal handler may run:
in a weakref callback or a ``__del__`` method (the import system runs one each
time it drops a module lock) the exception is printed as "Exception ignored"
and the program goes on as if no signal had come. :func:`install` therefore
also hooks :data:`sys.unraisablehook`: an :class:`Interrupted` lost that way is
raised again a millisecond later, in the main thread's own code.

This module imports only the standard library: it runs before anything else.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
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


REDELIVERY_DELAY = 0.001
"""Seconds after an interrupt was lost in a weakref callback or ``__del__`` until it is raised again."""


class _Redelivery:
    """The :data:`sys.unraisablehook` that raises a lost :class:`Interrupted` again, and the timer that does it.

    Signal handlers are process state; this object is the one place funcnn keeps theirs: the signal
    waiting to be raised again, and whether the hook is running (a handler must not raise inside it,
    or Python would print "Exception ignored in sys.unraisablehook" and lose the signal again).
    """

    def __init__(self, previous: Callable[[sys.UnraisableHookArgs], object]) -> None:
        self.previous = previous
        self.pending: int | None = None
        self.in_hook = False

    def __call__(self, unraisable: sys.UnraisableHookArgs) -> None:
        error = unraisable.exc_value
        if not isinstance(error, Interrupted) or threading.current_thread() is not threading.main_thread():
            self.previous(unraisable)
            return
        self.in_hook = True
        self.pending = error.signum
        self.arm()
        self.in_hook = False  # the last statement: nothing after it lets a handler run inside the hook

    def arm(self) -> None:
        """Send the pending interrupt again in :data:`REDELIVERY_DELAY` seconds, from the main thread's own code."""
        if hasattr(signal, "setitimer"):
            signal.signal(signal.SIGALRM, self.deliver)
            signal.setitimer(signal.ITIMER_REAL, REDELIVERY_DELAY)
        else:  # pragma: no cover - no interval timer (Windows): a timer thread simulates the signal instead
            import _thread

            signum = self.pending if self.pending is not None else signal.SIGINT
            self.pending = None
            timer = threading.Timer(REDELIVERY_DELAY, _thread.interrupt_main, args=(signum,))
            timer.daemon = True
            timer.start()

    def deliver(self, signum: int, frame: FrameType | None) -> None:
        """SIGALRM: raise the pending interrupt, or wait another moment if the hook is still running."""
        if self.in_hook:
            self.arm()
            return
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        pending, self.pending = self.pending, None
        if pending is not None:
            # Sent again, to whatever handles it now: funcnn's handler raises Interrupted here, in the main
            # thread's own code; deferred() holds it until its file is written; after the command finished,
            # the system's default action ends the process.
            signal.raise_signal(pending)


_redelivery: _Redelivery | None = None


def _raise(signum: int, frame: FrameType | None) -> None:
    if _redelivery is not None and _redelivery.in_hook:
        # Inside the hook an exception would be lost; keep the signal for the timer instead.
        _redelivery.pending = signum
        _redelivery.arm()
        return
    raise Interrupted(signum)


def install() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` (main thread only).

    A signal the parent process made this one ignore (a shell's background job ignores Ctrl-C)
    stays ignored, as Python itself does for SIGINT. An :class:`Interrupted` that Python had to
    swallow (raised inside a weakref callback or ``__del__``) is raised again shortly after.
    """
    global _redelivery
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, _raise)
        if not isinstance(sys.unraisablehook, _Redelivery):
            _redelivery = _Redelivery(sys.unraisablehook)
            sys.unraisablehook = _redelivery


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
