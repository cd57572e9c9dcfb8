"""Claiming a run folder: one writer at a time, with a lock file created exclusively.

:func:`claim` creates ``RUN/.funcnn.lock`` with ``O_CREAT | O_EXCL`` (atomic on
local file systems: of two processes that try at once, exactly one succeeds)
and writes the owner's process id, host name and start time into it. The lock
is removed when the claim ends (:meth:`RunLock.release`, or leaving the
``with`` block), also after an error or an interrupt.

A process killed with SIGKILL (or a machine that lost power) leaves its lock
behind. :func:`claim` recognises such a *stale* lock when it names a process of
this host that is no longer running, and takes it over only when asked
(``take_stale=True``); a lock of another host cannot be checked, so it is
reported as held.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

import attrs

from funcnn.errors import RunLockedError
from funcnn.io.layout import LOCK

__all__ = ["LockOwner", "RunLock", "claim", "lock_owner"]


@attrs.frozen
class LockOwner:
    """Who holds (or held) a run folder's lock."""

    pid: int
    host: str
    started: float  # seconds since the epoch

    @property
    def here(self) -> bool:
        """True if the owner ran on this host (only then can its liveness be checked)."""
        return self.host == socket.gethostname()

    @property
    def alive(self) -> bool:
        """False only if the owner ran on this host and its process is gone; unknown counts as alive."""
        return not self.here or _pid_alive(self.pid)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"process {self.pid} on {self.host} (since {when})"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: no signal is sent, only the existence of the process is checked
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    except OSError:
        return True
    return True


def lock_owner(folder: str | os.PathLike[str]) -> LockOwner | None:
    """The owner written in ``folder``'s lock file, or None when there is no lock.

    A lock file that cannot be parsed (e.g. cut short by a crash right after it
    was created) names an unknown owner on this host with pid 0: a stale lock.
    """
    return _owner_of(Path(folder) / LOCK)


def _owner_of(path: Path) -> LockOwner | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except FileNotFoundError:
        return None
    except OSError:
        return LockOwner(0, socket.gethostname(), 0.0)
    try:
        data = json.loads(text)
        return LockOwner(int(data["pid"]), str(data["host"]), float(data["started"]))
    except (ValueError, KeyError, TypeError, RecursionError):
        return LockOwner(0, socket.gethostname(), 0.0)


class RunLock:
    """A held claim on a run folder; release it once (a context manager releases it on exit)."""

    __slots__ = ("created", "folder", "replaced", "_released")

    def __init__(self, folder: Path, replaced: LockOwner | None, *, created: bool = False) -> None:
        self.folder = folder
        self.replaced = replaced  # the stale owner taken over, if any
        self.created = created  # the claim created the folder: removed on release if nothing else was written
        self._released = False

    @property
    def path(self) -> Path:
        return self.folder / LOCK

    def release(self) -> None:
        """Remove the lock file (once; later calls do nothing)."""
        if self._released:
            return
        self._released = True
        owner = lock_owner(self.folder)
        if owner is not None and owner.pid == os.getpid() and owner.here:
            with contextlib.suppress(OSError):
                self.path.unlink()
        if self.created:
            with contextlib.suppress(OSError):  # fails, as it should, unless the folder is empty
                self.folder.rmdir()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except FileNotFoundError:  # the folder was removed by a claimant that gave up: make it again
        path.parent.mkdir(parents=True, exist_ok=True)
        return _create(path)
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(owner) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return True


def claim(folder: str | os.PathLike[str], *, take_stale: bool = False) -> RunLock:
    """Claim ``folder`` (created if needed, and removed again on release if it stayed empty) for this process.

    Args:
        folder: the run folder.
        take_stale: take over a lock left by a process of this host that is no
            longer running (the returned lock's ``replaced`` names it).

    Raises:
        RunLockedError: another process holds the folder (its owner is named), or
            a stale lock was found and ``take_stale`` is False. ``error.owner``
            is the owner, ``error.stale`` tells which case it is.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with claim(d) as held:
    ...         try:
    ...             claim(d)
    ...         except RunLockedError as e:
    ...             print("refused:", e.stale, (Path(d) / LOCK).is_file())
    ...     print("after:", (Path(d) / LOCK).exists())
    refused: False True
    after: False
    """
    p = Path(folder)
    created = not p.exists()
    p.mkdir(parents=True, exist_ok=True)
    path = p / LOCK
    replaced: LockOwner | None = None
    for _ in range(3):  # a lock released between our two looks is simply tried again
        if _create(path):
            return RunLock(p, replaced, created=created)
        owner = lock_owner(p)
        if owner is None:
            continue
        if owner.alive:
            where = "" if owner.here else "on another host, "
            raise RunLockedError(
                f"{p}: in use by {owner.describe()}; wait until it ends or stop it "
                f"({where}if that process is not a funcnn run writing this folder, delete {path})",
                owner=owner,
                stale=False,
            )
        if not take_stale:
            raise RunLockedError(
                f"{p}: a lock left by {owner.describe()}, which is no longer running (killed or crashed)",
                owner=owner,
                stale=True,
            )
        # Stale: move it aside under a unique name, so that two processes cannot both remove it.
        aside = path.with_name(f"{LOCK}.stale-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            continue
        moved = _owner_of(aside)
        if moved is not None and moved != owner:
            # Claimed by someone else between our look and the move: put their lock back.
            with contextlib.suppress(OSError):
                os.link(aside, path)
            with contextlib.suppress(OSError):
                aside.unlink()
            who = moved.describe() if moved is not None else "another process"
            raise RunLockedError(f"{p}: claimed by {who} at the same moment", owner=moved, stale=False)
        with contextlib.suppress(OSError):
            aside.unlink()
        replaced = owner
    raise RunLockedError(f"{p}: could not claim the folder (its lock changed hands repeatedly)", owner=None)
