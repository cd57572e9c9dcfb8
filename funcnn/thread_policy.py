"""How funcnn uses BLAS threads: one by default, more when you ask.

The policy. Training steps and evaluation batches are small matrix products
(a 128 × 784 by 784 × 256 product is about 50 MFLOP, a millisecond on one
core). Splitting each over several BLAS threads gains little when the machine
is idle and loses badly when it is not: OpenBLAS threads spin-wait for each
other, so with one other busy process on a 2-core machine a 2-thread epoch of
the MNIST MLP took 10-20 times as long as a 1-thread epoch (see
``docs/performance.md``). So every compute loop of the library (``train`` and
its relatives, ``predict``, ``evaluate``, ``replay``) runs with **one** BLAS
thread unless the caller chose otherwise with :func:`threads`::

    with fn.threads(2):          # this block may use 2 BLAS threads
        state = fn.train(...)

``threads(None)`` switches the one-thread policy off inside the block and sets
no limit of its own: the BLAS library keeps its current setting (its default of
all cores, unless an enclosing block or the ``OPENBLAS_NUM_THREADS``-style
environment variables limited it). The choice is held in a
:class:`contextvars.ContextVar`, so it is scoped to the ``with`` block (and to
the thread or task that entered it), never a module global.

Limits are applied with `threadpoolctl <https://github.com/joblib/threadpoolctl>`_,
from the ``threads`` extra (``pip install 'funcnn[threads]'``), imported only
when a limit is applied. Without it nothing is limited: the policy silently
does nothing and :func:`threads` reports ``applied=False`` in the
:class:`ThreadLimits` it yields (the CLI prints a note).

The heap. A training step allocates the same few mid-size arrays every time
(a CNN's activations, im2col fields and their gradients: tens of MiB at batch
64) and frees them all at its end. glibc's ``malloc`` then gives the freed top
of its heap back to the kernel as soon as it exceeds its trim threshold, and
the next step takes every page again: on the MNIST CNN that was about 2,400
page faults a step and a third of the epoch's time (``docs/performance.md``).
glibc raises that threshold by itself, to twice the size of the largest
``mmap``-ed block a program has freed (up to 32 MiB), which is why a program
that once freed a large array trains faster than one that never did. So the
first compute loop of a process allocates one untouched block of
:data:`HEAP_HINT_BYTES` and frees it (no page is ever written, so it costs two
system calls and no memory): from then on blocks under 30 MiB come from the
heap and up to 60 MiB of freed heap is kept for the next step. It is the state
glibc reaches in any process that frees a 30 MiB array, it never lowers a
threshold, and it does nothing when the thresholds were fixed by the user
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``mallopt``) or on
other allocators. The cost: a process may keep up to 60 MiB of freed memory
resident after training, instead of returning it at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator

import attrs
import numpy as np

__all__ = [
    "DEFAULT_THREADS",
    "HEAP_HINT_BYTES",
    "ThreadLimits",
    "available",
    "blas_threads",
    "compute_threads",
    "threads",
]

# BLAS threads of funcnn's compute loops when the caller has not chosen.
DEFAULT_THREADS = 1

# The caller's choice inside a ``threads(...)`` block (None: no limit, numpy's default).
# Unset: no choice made, so the compute loops apply DEFAULT_THREADS.
_UNSET = -1
_chosen: contextvars.ContextVar[int | None] = contextvars.ContextVar("funcnn_threads", default=_UNSET)

INSTALL_HINT = "pip install 'funcnn[threads]'"

# The block whose allocation and release raise glibc's mmap and trim thresholds (see the module
# docstring): under glibc's dynamic ceiling of 32 MiB for the mmap threshold, with room for numpy's
# header and alignment.
HEAP_HINT_BYTES = 30 * 2**20


@attrs.frozen
class ThreadLimits:
    """What a :func:`threads` block does.

    Attributes:
        requested: the thread count asked for (None: the BLAS library's default).
        applied: True if a limit is in force (threadpoolctl is installed and a count was asked for).
        note: a line for a log, e.g. why nothing was limited.
    """

    requested: int | None
    applied: bool
    note: str


@functools.cache
def _controller() -> object | None:
    """One threadpoolctl controller for the process (finding the libraries is the slow part), or None."""
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    controller: object = ThreadpoolController()
    return controller


def available() -> bool:
    """True if thread limits can be applied (threadpoolctl is installed)."""
    return _controller() is not None


def blas_threads() -> int | None:
    """The BLAS thread count in force now (the largest over loaded BLAS libraries); None if unknown.

    >>> with threads(1):
    ...     blas_threads() in (1, None)
    True
    """
    controller = _controller()
    if controller is None:
        return None
    counts = [int(info["num_threads"]) for info in controller.select(user_api="blas").info()]  # type: ignore[attr-defined]
    return max(counts) if counts else None


@contextlib.contextmanager
def _limit(n: int) -> Iterator[bool]:
    controller = _controller()
    if controller is None:
        yield False
        return
    with controller.limit(limits=n, user_api="blas"):  # type: ignore[attr-defined]
        yield True


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[ThreadLimits]:
    """Run a block with ``n`` BLAS threads (None: no limit from funcnn), restoring them after.

    Inside the block funcnn's compute loops use this count instead of their
    default of one thread. Blocks nest; the innermost wins.

    Args:
        n: threads, an int >= 1, or None: no limit of funcnn's own (the BLAS library's
            current setting, all cores by default).

    Yields:
        A :class:`ThreadLimits` saying whether a limit is in force.

    Raises:
        ValueError: ``n`` is not None or an int >= 1.

    >>> import funcnn as fn
    >>> with fn.threads(1) as limits:
    ...     limits.requested
    1
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"threads: expected an int >= 1 or None (the BLAS default), got n={n!r}")
    token = _chosen.set(n)
    try:
        if n is None:
            yield ThreadLimits(None, False, "BLAS threads not limited by funcnn")
            return
        with _limit(n) as applied:
            note = f"BLAS threads limited to {n}" if applied else f"BLAS threads not limited: {INSTALL_HINT}"
            yield ThreadLimits(n, applied, note)
    finally:
        _chosen.reset(token)


@functools.cache
def _hint_heap() -> None:
    """Allocate and free one untouched :data:`HEAP_HINT_BYTES` block, once per process (see the module docstring)."""
    block = np.empty(HEAP_HINT_BYTES, dtype=np.uint8)  # mapped by malloc, never written: no page is taken
    del block


@contextlib.contextmanager
def compute_threads() -> Iterator[None]:
    """The policy around one of funcnn's compute loops: :data:`DEFAULT_THREADS` unless the caller chose.

    Cheap (about 20 µs to enter and leave): the training loop enters it once
    per epoch, and never across a ``yield``, so the caller's own code between
    epochs runs with its own thread settings. The first call in a process
    also gives the heap hint of the module docstring.
    """
    _hint_heap()
    if _chosen.get() != _UNSET:
        yield
        return
    token = _chosen.set(DEFAULT_THREADS)
    try:
        with _limit(DEFAULT_THREADS):
            yield
    finally:
        _chosen.reset(token)
