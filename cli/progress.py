"""A Rich progress bar over the epochs of a run, on stderr (off with ``--quiet`` or when not a terminal).

It is updated once per epoch and redrawn then, at most twice a second,
in the training thread: no background thread competes with the training for
the interpreter, so the bar costs next to nothing (about a millisecond per
redraw).
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["EpochProgress"]


class EpochProgress:
    """``with EpochProgress(total, start) as bar: ... bar.update(epoch, text)``."""

    def __init__(self, total: int, start: int, *, quiet: bool) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal,
            auto_refresh=False,
        )
        self._task = self._progress.add_task("train", total=total, completed=start, info="")
        self._total = total
        self._drawn = 0.0

    def update(self, epoch: int, info: str) -> None:
        """Show ``epoch`` epochs done, with a short text such as the latest costs."""
        self._progress.update(self._task, completed=epoch, info=info)
        now = time.monotonic()
        if now - self._drawn >= 0.5 or epoch >= self._total:
            self._progress.refresh()
            self._drawn = now

    def __enter__(self) -> EpochProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()
