"""Shared helpers for the benchmark scripts: thread limits, interleaved timing, statistics, memory, the CLI."""

from __future__ import annotations

import contextlib
import importlib.util
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


def funcnn_script() -> str:
    """The installed ``funcnn`` command: beside this Python first, else on ``PATH``."""
    beside = Path(sys.executable).with_name("funcnn")
    found = str(beside) if beside.is_file() else shutil.which("funcnn")
    if found is None:
        raise SystemExit("the funcnn command is not installed: pip install -e .")
    return found


def has_module(name: str) -> bool:
    """True if ``name`` can be imported (without importing it)."""
    return importlib.util.find_spec(name) is not None


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[str]:
    """Limit numpy's BLAS to ``n`` threads (needs threadpoolctl; says so if absent)."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        yield "threadpoolctl not installed: BLAS threads not limited (pip install threadpoolctl)"
        return
    with threadpool_limits(limits=n):
        yield f"BLAS threads limited to {n}"


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[str]:
    """Give every contestant ``n`` threads: numpy's (and scipy's) BLAS and OpenMP, PyTorch, and funcnn's policy.

    Enter it after every contestant's library is imported: threadpoolctl only
    limits the libraries loaded at that moment.
    """
    notes = []
    torch_before: int | None = None
    if "torch" in sys.modules:
        import torch

        torch_before = torch.get_num_threads()
        torch.set_num_threads(n)
        notes.append(f"torch.set_num_threads({n})")
    try:
        with blas_threads(n) as note, contextlib.ExitStack() as stack:
            notes.insert(0, note)
            if "funcnn" in sys.modules:  # funcnn's loops run 1 BLAS thread unless told otherwise
                import funcnn

                stack.enter_context(funcnn.threads(n))
                notes.append(f"funcnn.threads({n})")
            yield "; ".join(notes)
    finally:
        if torch_before is not None:
            import torch

            torch.set_num_threads(torch_before)


def time_once(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def summary(samples: list[float]) -> str:
    """``median (min .. max)`` in seconds."""
    return f"{statistics.median(samples):.3f} s (min {min(samples):.3f}, max {max(samples):.3f}, n={len(samples)})"


@dataclass(frozen=True)
class Stats:
    """Median, min and max of a list of samples (seconds, or any unit)."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def text(self, unit: str = "s", digits: int = 3) -> str:
        return f"{self.median:.{digits}f} {unit} (min {self.min:.{digits}f}, max {self.max:.{digits}f}, n={self.n})"

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "max": self.max, "n": self.n}


def interleave(
    contestants: Mapping[str, Callable[[], object]], *, runs: int, warmup: int = 1
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Time each contestant ``runs`` times, round by round, rotating who goes first.

    Every contestant is called ``warmup`` times untimed first. Interleaving
    spreads the load of a shared machine over all contestants alike, so the
    ratios of medians from one call are what to quote. Returns the wall-clock
    seconds and the process CPU seconds of every call (CPU time leaves out the
    time other processes held the cores: a steadier cross-check with 1 thread).
    """
    names = list(contestants)
    for _ in range(warmup):
        for name in names:
            contestants[name]()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(runs):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            c0, w0 = time.process_time(), time.perf_counter()
            contestants[name]()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu


def ratio(times: Mapping[str, list[float]], a: str, b: str) -> float | None:
    """``median(a) / median(b)``, or None if either is missing."""
    if a not in times or b not in times:
        return None
    return statistics.median(times[a]) / statistics.median(times[b])


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_since_exec_mib() -> float:
    """Peak RSS of this process image in MiB: ``VmHWM``, which starts afresh at ``exec``.

    ``ru_maxrss`` survives ``execve``, so a child started by a big parent would
    report the parent's peak; the high-water mark of ``/proc/self/status`` does
    not. Falls back to ``ru_maxrss`` where ``/proc`` is missing.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def current_rss_mb() -> float:
    """The resident set size of this process now, in MB (Linux only; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return 0.0
    return pages * resource.getpagesize() / 2**20
