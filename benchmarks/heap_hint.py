"""The heap hint's effect on the MNIST CNN epoch: fresh processes with it on and off, alternating.

funcnn's first compute loop allocates and frees one untouched 30 MiB block so
that glibc keeps a step's freed arrays for the next step (see
``funcnn.thread_policy``). Each child process here trains the CNN of
``cnn_epoch.py`` (8,000 images, batch 64, Adam, float32, one BLAS thread) for
one warm-up and ``--epochs`` timed epochs, with the hint as shipped ("on") or
replaced by a no-op ("off"), and reports the epochs' wall time, minor page
faults and system time. Rounds alternate which setting goes first.

    python benchmarks/heap_hint.py [--rounds 3] [--epochs 3] [--n 8000]

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, os, resource, sys, time
os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path.insert(0, {here!r})
if {mode!r} == "off":
    import funcnn.thread_policy as policy
    policy._hint_heap = lambda: None
import cnn_epoch
from threadpoolctl import threadpool_limits

args = cnn_epoch.parse_args(["--n", "{n}", "--threads", "1"])
with threadpool_limits(limits=1):
    run, _ = cnn_epoch.funcnn_runner(args)
    run()
    before = resource.getrusage(resource.RUSAGE_SELF)
    seconds = []
    for _ in range({epochs}):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": seconds, "faults": (after.ru_minflt - before.ru_minflt) / {epochs},
                  "system": (after.ru_stime - before.ru_stime) / {epochs}}}))
"""


def child(mode: str, n: int, epochs: int) -> dict[str, Any]:
    code = CHILD.format(here=str(HERE), mode=mode, n=n, epochs=epochs)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one process per setting (default 3)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per process (default 3)")
    parser.add_argument("--n", type=int, default=8000, help="images per epoch (default 8000)")
    args = parser.parse_args(argv)
    results: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    for r in range(args.rounds):
        for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
            results[mode].append(child(mode, args.n, args.epochs))
    for mode, runs in results.items():
        seconds = [float(s) for run in runs for s in run["seconds"]]
        faults = statistics.median(float(run["faults"]) for run in runs)
        system = statistics.median(float(run["system"]) for run in runs)
        print(f"hint {mode:<3}  epoch median {statistics.median(seconds):.3f} s (min {min(seconds):.3f}, "
              f"max {max(seconds):.3f}, n={len(seconds)})   page faults/epoch {faults:,.0f}   "
              f"system s/epoch {system:.3f}")


if __name__ == "__main__":
    main()
