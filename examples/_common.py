"""Small helpers shared by the examples: the command line, tables and optional plots.

Nothing here does any maths: each example keeps its own gradients in view.
matplotlib is optional; :func:`pyplot` imports it only when a plot is asked
for and, if it is missing, says how to install it and lets the example go on.
:func:`save_figure` writes a finished figure with funcnn's one atomic writer.
"""

from __future__ import annotations

import argparse
import importlib
import io
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from funcnn.io.atomic import atomic_write

PLOT_HINT = 'matplotlib is not installed: no plot (pip install "funcnn[plot]")'


def parser(description: str, *, seed: int = 0, plot: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the options every example shares.

    ``--quick`` runs the same code on less data or fewer epochs (what the tests
    run); ``--seed`` is the root seed of every key; ``--plot PATH`` writes a
    figure (only when given: the examples write no file by default).
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a fast run of the same code (used by the tests)")
    p.add_argument("--seed", type=int, default=seed, help=f"root seed of every key (default {seed})")
    if plot:
        p.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write a figure to PATH (.png, .pdf)")
    return p


def pyplot() -> ModuleType | None:
    """``matplotlib.pyplot`` with a file-only backend, or None (after printing how to install it)."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        print(PLOT_HINT)
        return None
    matplotlib.use("Agg")  # write files only; never open a window
    return importlib.import_module("matplotlib.pyplot")


def save_figure(plt: ModuleType, fig: Any, path: Path) -> Path:
    """Lay ``fig`` out, write it to ``path`` (format from the suffix), close it and say so.

    The figure is drawn in memory and the file written atomically, so an
    interrupted run never leaves half an image behind.
    """
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    atomic_write(path, buffer.getvalue())
    print(f"plot written to {path}")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, right-aligned, one line per row (floats as given: format them first)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
