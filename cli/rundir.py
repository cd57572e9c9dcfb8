"""The run folder's plumbing: a fresh folder name, which files belong to a run, ``history.csv``.

(File names and the one epoch-file pattern live in :mod:`funcnn.io.layout`; reading a run
back and ``config.json`` in :mod:`funcnn.io.runs`.)
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from funcnn.errors import CheckpointError
from funcnn.io.atomic import atomic_write
from funcnn.io.layout import is_run_file
from funcnn.io.runs import write_json
from funcnn.training import TrainState

__all__ = [
    "HistoryLog",
    "check_output",
    "check_run_config",
    "history_columns",
    "history_row",
    "is_run_file",
    "new_run_dir",
    "read_history",
    "run_files",
    "write_json",
]


def run_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The files in ``folder`` that belong to a run (empty if the folder does not exist)."""
    p = Path(folder)
    if not p.is_dir():
        return []
    return sorted(q for q in p.iterdir() if is_run_file(q.name))


def _safe_stem(stem: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")
    return cleaned or "run"


def new_run_dir(parent: str | os.PathLike[str], stem: str, *, now: datetime) -> Path:
    """Create and return a fresh folder ``parent/<stem>-YYYYmmdd-HHMMSS[-n]``; never reuses one.

    >>> import tempfile
    >>> from datetime import datetime
    >>> with tempfile.TemporaryDirectory() as d:
    ...     t = datetime(2024, 6, 1, 12, 30, 5)
    ...     a, b = new_run_dir(d, "spiral", now=t), new_run_dir(d, "my data", now=t)
    ...     c = new_run_dir(d, "spiral", now=t)
    >>> a.name, b.name, c.name
    ('spiral-20240601-123005', 'my_data-20240601-123005', 'spiral-20240601-123005-2')
    """
    base = f"{_safe_stem(stem)}-{now:%Y%m%d-%H%M%S}"
    root = Path(parent)
    root.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = root / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()  # atomic: two runs started in the same second get different folders
        except FileExistsError:
            n += 1
            continue
        return folder


def check_output(path: Path, option: str, *, force: bool) -> None:
    """Refuse to write ``path`` over a run's own file (even with ``--force``) or over any file without it.

    A run's own files are those a run folder holds (``checkpoint.npz``,
    ``epoch-NNNN.npz``, ``config.json``, ``history.csv``, ``preprocess.npz``,
    plots, the lock) in a folder that holds a run.

    Raises:
        typer.BadParameter: naming ``option`` and the file (exit code 2).
    """
    from funcnn.io.layout import CONFIG, LATEST, LOCK

    from .errors import usage_error

    folder = path.parent
    own = path.name == LOCK or (
        is_run_file(path.name) and ((folder / LATEST).is_file() or (folder / CONFIG).is_file())
    )
    if own:
        raise usage_error(
            option,
            f"{path} is a file of the run in {folder} ({path.name}); no command writes over a run's own files, "
            "not even with --force: write somewhere else",
        )
    if path.is_dir():
        raise usage_error(option, f"{path} is a folder; give a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise usage_error(option, f"{path} exists; pass --force to replace it, or choose another file")


# --- config.json -----------------------------------------------------------------------------

# The tables of config.json that --resume reads, and what each entry must be.
_CONFIG_TABLES: dict[str, dict[str, tuple[type | tuple[type, ...], str]]] = {
    "data": {
        "source": (str, "the data's name or path"),
        "fingerprint": (str, "a text fingerprint"),
        "name": (str, "a name"),
        "samples": (int, "a whole number"),
        "task": (str, "'classification' or 'regression'"),
    },
}
_OPTIONAL_TABLES = ("run", "transfer", "split", "preprocess", "model", "loss", "optimizer")


def check_run_config(config: Mapping[str, Any], where: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's ``config.json``, checked with the rules of the command line before ``--resume`` uses it.

    The settings are checked by the validators of
    :class:`~cli.settings.TrainSettings` (the same as for the options), the
    other tables for the entries a resumed run reads.

    Raises:
        ConfigError: naming the file and the field, e.g. ``config.json: settings.lr = -1: ...``.
    """
    from funcnn.errors import ConfigError

    from .settings import from_json

    def bad(field: str, expected: str, value: object) -> ConfigError:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return ConfigError(
            f"{where}: {field}: expected {expected}, got {shown}; restore the file, or start a new run "
            "(a hand-edited config.json cannot be resumed)"
        )

    if "settings" not in config:
        raise bad("settings", "the table of the run's options (written by 'funcnn train')", None)
    from_json(config["settings"], str(where))
    for table, fields in _CONFIG_TABLES.items():
        node = config.get(table)
        if not isinstance(node, dict):
            raise bad(table, "a table", node)
        for name, (kind, expected) in fields.items():
            value = node.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise bad(f"{table}.{name}", expected, value)
    if config["data"]["task"] not in ("classification", "regression"):
        raise bad("data.task", "'classification' or 'regression'", config["data"]["task"])
    for table in _OPTIONAL_TABLES:
        if table in config and not isinstance(config[table], dict):
            raise bad(table, "a table", config[table])
    run = config.get("run")
    if run is not None and (not isinstance(run.get("id"), str) or not 0 < len(run["id"]) <= 200):
        raise bad("run.id", "the run's id (text)", run.get("id"))
    return dict(config)


# --- history.csv -----------------------------------------------------------------------------


def history_columns(metrics: Sequence[str], *, validation: bool) -> tuple[str, ...]:
    """The columns of ``history.csv`` for a run with these metrics (and validation data or not).

    >>> history_columns(["accuracy"], validation=True)
    ('epoch', 'step', 'cost', 'val_cost', 'accuracy', 'val_accuracy', 'lr', 'seconds')
    """
    cols = ["epoch", "step", "cost"] + (["val_cost"] if validation else [])
    cols += list(metrics)
    cols += [f"val_{m}" for m in metrics] if validation else []
    return (*cols, "lr", "seconds")


def history_row(state: TrainState[Any], *, lr: float, seconds: float) -> dict[str, float | int]:
    """The ``history.csv`` row of the epoch ``state`` has just finished."""
    h = state.history
    row: dict[str, float | int] = {"epoch": state.epoch, "step": state.step, "cost": float(h.cost[-1])}
    if len(h.val_cost):
        row["val_cost"] = float(h.val_cost[-1])
    for name in h.metrics:
        row[name] = float(h.metrics.leaf(name)[-1])
    row["lr"] = lr
    row["seconds"] = seconds
    return row


def _cell(value: float | int | str) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class HistoryLog:
    """Append-only writer of ``history.csv``: one line per epoch, flushed as it is written.

    Use :meth:`create` for a new run and :meth:`reopen` to continue one; as
    a context manager it closes the file.
    """

    def __init__(self, path: Path, columns: tuple[str, ...], f: IO[str]) -> None:
        self.path = path
        self.columns = columns
        self._f = f
        self._writer = csv.writer(f, lineterminator="\n")

    @classmethod
    def create(cls, path: str | os.PathLike[str], columns: Sequence[str]) -> HistoryLog:
        """Start a new ``history.csv`` holding only the header."""
        p = Path(path)
        atomic_write(p, (",".join(columns) + "\n").encode("utf-8"))
        return cls(p, tuple(columns), open(p, "a", encoding="utf-8", newline=""))  # noqa: SIM115

    @classmethod
    def reopen(cls, path: str | os.PathLike[str], columns: Sequence[str], *, through_epoch: int) -> HistoryLog:
        """Continue a ``history.csv``, dropping rows after ``through_epoch`` (written after the last save).

        A missing file is started afresh.

        Raises:
            CheckpointError: the file's header is not ``columns``.
        """
        p = Path(path)
        if not p.is_file():
            return cls.create(p, columns)
        with open(p, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        if not rows or tuple(rows[0]) != tuple(columns):
            found = ",".join(rows[0]) if rows else "an empty file"
            raise CheckpointError(
                f"{p}: expected the columns {','.join(columns)}, found {found}; the run's history does not match"
            )
        kept = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= through_epoch]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([rows[0], *kept])
        atomic_write(p, buffer.getvalue().encode("utf-8"))
        return cls(p, tuple(columns), open(p, "a", encoding="utf-8", newline=""))  # noqa: SIM115

    def append(self, row: Mapping[str, float | int]) -> None:
        """Write one row (missing columns are left empty) and flush it."""
        self._writer.writerow([_cell(row[c]) if c in row else "" for c in self.columns])
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> HistoryLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_history(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """The columns of a ``history.csv`` as lists of floats (empty cells are NaN)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, body = rows[0], [r for r in rows[1:] if r]
    return {name: [float(r[i]) if i < len(r) and r[i] else math.nan for r in body] for i, name in enumerate(header)}
