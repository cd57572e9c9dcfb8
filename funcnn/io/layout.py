"""The names of a run folder's files, in one place, and the one epoch-file pattern.

==================== =================================================================
``config.json``      the resolved configuration of ``funcnn train`` (every default filled in)
``checkpoint.npz``   the latest training state
``epoch-NNNN.npz``   states kept every N epochs (:func:`epoch_path`)
``preprocess.npz``   the input preparation fitted on the training split
``schema.json``      what the data mean: feature names, task, classes (:class:`funcnn.datasets.Schema`)
``history.csv``      one row per epoch: costs, metrics, learning rate, seconds
``*.png``            plots, when matplotlib is installed
``.funcnn.lock``     present while a process writes the run (:mod:`funcnn.io.lock`)
==================== =================================================================
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from funcnn.errors import CheckpointError

__all__ = [
    "CONFIG",
    "HISTORY",
    "LATEST",
    "LOCK",
    "PLOTS",
    "PREPROCESS",
    "SCHEMA",
    "epoch_of",
    "epoch_path",
    "is_run_file",
    "list_states",
]

CONFIG = "config.json"
LATEST = "checkpoint.npz"
PREPROCESS = "preprocess.npz"
SCHEMA = "schema.json"
HISTORY = "history.csv"
LOCK = ".funcnn.lock"
PLOTS = ("history.png", "decision_boundary.png", "replay.png")

_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.npz$")
_RUN_FILES = frozenset({CONFIG, PREPROCESS, SCHEMA, HISTORY, LATEST, *PLOTS})


def epoch_path(run_dir: str | os.PathLike[str], epoch: int) -> Path:
    """The file of epoch ``epoch`` in a run folder: ``run_dir/epoch-0005.npz``.

    >>> epoch_path("runs/a", 5).name, epoch_path("runs/a", 12345).name
    ('epoch-0005.npz', 'epoch-12345.npz')
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch_path: epoch must be an int >= 0, got epoch={epoch!r}")
    return Path(run_dir) / f"epoch-{epoch:04d}.npz"


def epoch_of(name: str) -> int | None:
    """The epoch of an epoch file's name, or None for any other name.

    >>> epoch_of("epoch-0012.npz"), epoch_of("checkpoint.npz")
    (12, None)
    """
    m = _EPOCH_FILE.match(name)
    return int(m.group(1)) if m else None


def is_run_file(name: str) -> bool:
    """True for the names a run folder's files have (``config.json``, ``epoch-0005.npz``, ...)."""
    return name in _RUN_FILES or epoch_of(name) is not None


def list_states(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The ``epoch-NNNN.npz`` files of a run folder, in epoch order (other files are ignored).

    Raises:
        CheckpointError: ``run_dir`` is not a folder.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such run folder")
    found = [(epoch, p) for p in folder.iterdir() if (epoch := epoch_of(p.name)) is not None and p.is_file()]
    return [p for _, p in sorted(found)]
