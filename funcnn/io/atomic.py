"""The one atomic writer: every file funcnn writes goes through :func:`atomic_write`.

A temporary file is created in the target's folder, written, flushed and
fsynced, then moved over the target with ``os.replace``, and the folder is
fsynced so the rename itself survives a crash (where the platform allows).
On any error the temporary file is removed and the target is left as it was:
a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "temporary_name"]


def temporary_name(path: Path) -> Path:
    """A fresh hidden name beside ``path``: ``.name.<pid>-<random>.tmp``.

    >>> name = temporary_name(Path("runs/a/history.png"))
    >>> name.parent.as_posix(), name.name.startswith(".history.png."), name.suffix
    ('runs/a', True, '.tmp')
    """
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def atomic_write(path: str | os.PathLike[str], data: bytes | Callable[[IO[bytes]], None]) -> Path:
    """Write ``path`` atomically: ``data`` bytes, or a function that writes to the open file.

    The folder is created if needed; the umask applies to the new file, as for ``open``.

    Returns:
        The path written.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = atomic_write(Path(d) / "a.txt", b"one")
    ...     _ = atomic_write(p, lambda f: f.write(b"two"))
    ...     p.read_bytes(), sorted(q.name for q in Path(d).iterdir())
    (b'two', ['a.txt'])
    """
    target = Path(path)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes | bytearray | memoryview):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    return target


def _fsync_folder(folder: Path) -> None:
    # Makes the rename durable; not possible on every platform (Windows), hence the suppress.
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
