"""The heap hint of funcnn's compute loops (``funcnn.thread_policy``): freed heap is kept for the next step.

A training step allocates the same mid-size arrays each time and frees them
all at its end. Measured in a fresh interpreter (the hint is given once per
process), in page faults, not time: a step-like round of twelve 3 MiB arrays
(under numpy's 4 MiB huge-page threshold, so the count is in small pages)
takes every page again before the first compute loop has run, and few after.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

ROUNDS = """
import json, resource
import numpy as np
import funcnn as fn

def faults_per_round(rounds=10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        arrays = [np.ones(3 * 2**18, dtype=np.float32) for _ in range(12)]  # twelve 3 MiB arrays, written, freed
        del arrays
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds

first = faults_per_round()
model = fn.Dense(2)
fn.predict(model, fn.init(model, fn.key(0), in_shape=(3,)), np.zeros((4, 3)))  # a compute loop
print(json.dumps({"before": first, "after": faults_per_round()}))
"""


GLIBC = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="the hint acts on glibc's malloc; other allocators ignore it")


def rounds(**malloc_env: str) -> dict[str, float]:
    """Page faults per round before and after the first compute loop, in a fresh interpreter."""
    # glibc's defaults unless asked: no MALLOC_* variable (Dask's nanny, used by other tests, sets
    # MALLOC_TRIM_THRESHOLD_ in this process's environment).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", ROUNDS], capture_output=True, text=True, check=True, timeout=120,
                         env=env | malloc_env)
    faults: dict[str, float] = json.loads(out.stdout)
    return faults


@GLIBC
def test_after_the_first_compute_loop_a_steps_freed_arrays_are_reused_not_faulted_in_again() -> None:
    faults = rounds()
    pages = 12 * 3 * 2**20 // 4096
    # Before: glibc maps each array afresh (or hands the freed heap back) and faults every page in again
    # each round (about 9,200 of the round's 9,216 pages here; fewer if the kernel gives huge pages).
    assert faults["before"] > pages / 4
    assert faults["after"] < faults["before"] / 4  # after: kept for the next round (about 900 here)



@GLIBC
def test_thresholds_the_user_fixed_are_left_alone() -> None:
    # A fixed trim threshold switches glibc's dynamic thresholds off: the hint changes nothing.
    faults = rounds(MALLOC_TRIM_THRESHOLD_="65536")
    assert faults["after"] > faults["before"] / 2 > 12 * 3 * 2**20 // 4096 / 8
