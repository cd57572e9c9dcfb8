"""Shared helpers for the benchmark scripts: thread limits, timing, memory."""

from __future__ import annotations

import contextlib
import resource
import statistics
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[str]:
    """Limit numpy's BLAS to ``n`` threads (needs threadpoolctl; says so if absent)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield "threadpoolctl not installed: BLAS threads not limited (pip install threadpoolctl)"
        return
    with threadpool_limits(limits=n):
        yield f"BLAS threads limited to {n}"


def time_once(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def summary(samples: list[float]) -> str:
    """``median (min .. max)`` in seconds."""
    return f"{statistics.median(samples):.3f} s (min {min(samples):.3f}, max {max(samples):.3f}, n={len(samples)})"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
