"""The whole benchmark suite in one command, with a closing summary against the performance targets.

    python benchmarks/run_all.py                 # everything (about 15-20 minutes on 2 cores)
    python benchmarks/run_all.py --quick         # a smoke run on 12,000 samples (about 2 minutes)
    python benchmarks/run_all.py --json results.json --skip matrix

Sections, each also runnable on its own:

1. headline (``mlp_compare.py``): one epoch of the 784-256-128-10 MLP, SGD and
   Adam, float32, batch 128, 1 thread: funcnn vs straight numpy vs PyTorch vs
   scikit-learn, interleaved, ``--runs`` timed epochs each;
2. matrix (``mlp_compare.py``): the other combinations of SGD/Adam x
   float32/float64 x 1/2 threads x batch 32/128/512, ``--matrix-runs`` each;
3. inference throughput (``inference.py``), batch 128 and 1000;
4. peak RSS of a training run, one process per contestant (``memory.py``);
5. ``funcnn --help`` start-up (``startup.py``, the CLI's own benchmark);
6. profile (``profile_epoch.py``): the matrix products' share of an SGD epoch.

PyTorch and scikit-learn are optional (``pip install -e ".[bench]"``): when
missing they are skipped with a note and their ratios are not reported.
Every contestant gets the same thread count (threadpoolctl for the BLAS of
numpy and scipy, ``torch.set_num_threads`` for PyTorch).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inference  # noqa: E402
import memory  # noqa: E402
import mlp_compare  # noqa: E402
import numpy as np  # noqa: E402
import profile_epoch  # noqa: E402
from _common import has_module  # noqa: E402
from _mlp import available, missing_note, synthetic_data  # noqa: E402

TARGETS = {
    "sgd_vs_torch": 0.85, "sgd_vs_sklearn": 0.80, "sgd_vs_numpy": 1.05, "adam_vs_torch": 0.85,
    "matmul_share": 0.80, "help_seconds": 0.25, "memory_over_data_mib": 150.0,
}


def banner(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 74 - len(title)), flush=True)


def startup(runs: int) -> dict[str, Any]:
    """Run the CLI's start-up benchmark and pick out the ``funcnn --help`` figures."""
    script = HERE / "startup.py"
    if not script.is_file():
        print("benchmarks/startup.py not found: start-up not measured")
        return {}
    out = subprocess.run([sys.executable, str(script), "--runs", str(runs)], capture_output=True, text=True)
    print(out.stdout.rstrip() or out.stderr.rstrip())
    m = re.search(r"funcnn --help\s+median ([\d.]+) s\s+\(min ([\d.]+), max ([\d.]+)\)", out.stdout)
    return {"median": float(m[1]), "min": float(m[2]), "max": float(m[3])} if m else {}


def verdict(value: float | None, target: float, *, at_least: bool = False) -> str:
    if value is None:
        return "not measured"
    ok = value >= target if at_least else value <= target
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="12,000 samples, 2 runs, no matrix")
    parser.add_argument("--runs", type=int, default=7, help="timed epochs per contestant in the headline")
    parser.add_argument("--matrix-runs", type=int, default=3, help="timed epochs per contestant in the matrix")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["matrix", "inference", "memory", "startup", "profile"])
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    samples = 12_000 if args.quick else 60_000
    runs = 2 if args.quick else args.runs
    matrix_runs = 2 if args.quick else args.matrix_runs
    skip = set(args.skip) | ({"matrix"} if args.quick else set())
    started = time.perf_counter()

    names = available()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; contestants: {', '.join(names)}")
    if missing_note(names):
        print(missing_note(names))
    mlp_compare.import_peers(names)
    results: dict[str, Any] = {"samples": samples}

    banner("1. headline: SGD and Adam, float32, batch 128, 1 thread")
    x32, y32 = synthetic_data(samples, np.float32)
    headline = {
        opt: mlp_compare.run_config(names, x32, y32, optimizer=opt, batch=128, threads=1, runs=runs)
        for opt in ("sgd", "adam")
    }
    results["headline"] = headline

    if "matrix" not in skip:
        banner("2. matrix: optimizer x dtype x threads x batch")
        matrix = []
        for dtype in ("float32", "float64"):
            x, y = (x32, y32) if dtype == "float32" else synthetic_data(samples, np.float64)
            for opt, threads, batch in itertools.product(("sgd", "adam"), (1, 2), (32, 128, 512)):
                if dtype == "float32" and threads == 1 and batch == 128:
                    continue  # the headline
                matrix.append(mlp_compare.run_config(names, x, y, optimizer=opt, batch=batch, threads=threads,
                                                     runs=matrix_runs))
        results["matrix"] = matrix

    if "inference" not in skip:
        banner("3. inference throughput")
        results["inference"] = inference.main(
            ["--batch", "128", "1000", "--samples", str(min(samples, 10_000)), "--runs", str(max(runs, 3))]
        )

    if "memory" not in skip:
        banner("4. peak RSS of a training run")
        results["memory"] = memory.main(["--samples", str(samples), "--epochs", "2" if args.quick else "3"])

    if "startup" not in skip:
        banner("5. funcnn --help start-up")
        results["startup"] = startup(5 if args.quick else 21)

    if "profile" not in skip:
        banner("6. profile of an SGD epoch (float32, batch 128, 1 thread)")
        results["profile"] = profile_epoch.main(["--samples", str(samples), "--runs", str(max(runs // 2, 2))])

    banner("summary (ratios of medians from this run; targets from issue 8)")
    sgd, adam = headline["sgd"]["ratios"], headline["adam"]["ratios"]

    def r(table: dict[str, Any], peer: str) -> float | None:
        return table[peer]["median"] if peer in table else None

    rows: list[tuple[str, float | None, str, str]] = [
        ("SGD epoch funcnn/torch", r(sgd, "torch"), "<= 0.85", verdict(r(sgd, "torch"), TARGETS["sgd_vs_torch"])),
        ("SGD epoch funcnn/sklearn", r(sgd, "sklearn"), "<= 0.80",
         verdict(r(sgd, "sklearn"), TARGETS["sgd_vs_sklearn"])),
        ("SGD epoch funcnn/numpy", r(sgd, "numpy"), "<= 1.05", verdict(r(sgd, "numpy"), TARGETS["sgd_vs_numpy"])),
        ("Adam epoch funcnn/torch", r(adam, "torch"), "<= 0.85",
         verdict(r(adam, "torch"), TARGETS["adam_vs_torch"])),
    ]
    share = results.get("profile", {}).get("matmul_share", {}).get("funcnn", {}).get("median")
    rows.append(("matmul share of SGD epoch", share, ">= 0.80",
                 verdict(share, TARGETS["matmul_share"], at_least=True)))
    help_s = results.get("startup", {}).get("median")
    rows.append(("funcnn --help median (s)", help_s, "<= 0.25", verdict(help_s, TARGETS["help_seconds"])))
    mem = next((m for m in results.get("memory", []) if m["name"] == "funcnn"), None)
    over = None if mem is None else mem["peak_minus_data_mib"]
    rows.append(("peak RSS - data (MiB)", over, "<= 150", verdict(over, TARGETS["memory_over_data_mib"])))
    print(f"| {'figure':<28} | {'value':>8} | {'target':>8} | {'':<12} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 10}|{'-' * 14}|")
    for label, value, target, status in rows:
        shown = "-" if value is None else f"{value:.3f}"
        print(f"| {label:<28} | {shown:>8} | {target:>8} | {status:<12} |")
    if args.quick:
        print("(--quick: 12,000 samples and 2 epochs each, a smoke run; quote the ratios of a full run)")
    if not has_module("line_profiler") and "profile" not in skip:
        print("(matmul share needs line_profiler: pip install line_profiler)")
    results["summary"] = [{"figure": a, "value": b, "target": c, "status": d} for a, b, c, d in rows]
    print(f"\nsuite took {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
