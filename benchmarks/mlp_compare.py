"""MLP epoch time: funcnn vs straight numpy vs PyTorch vs scikit-learn, interleaved in one process.

A 784-256-128-10 ReLU/softmax MLP (softmax cross-entropy on logits), one
epoch of ``--samples`` synthetic MNIST-shaped samples per timing, plain SGD
(lr 0.01) or Adam (lr 1e-3). Every contestant gets the same thread count
(threadpoolctl for the BLAS of numpy/scipy, ``torch.set_num_threads`` for
PyTorch), one untimed warm-up epoch, then ``--runs`` timed epochs, round by
round with the starting contestant rotated. Quote the printed ratios: they
come from one process run, so the load of a shared machine hits everyone alike.

    python benchmarks/mlp_compare.py                                  # SGD, float32, 1 thread, batch 128
    python benchmarks/mlp_compare.py --optimizer sgd adam --dtype float32 float64 \\
        --threads 1 2 --batch 32 128 512 --runs 3                     # the whole matrix
    python benchmarks/mlp_compare.py --contestants funcnn numpy       # without the peers

PyTorch and scikit-learn are optional (``pip install -e ".[bench]"``); a
missing one is skipped with a note.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Stats, interleave, limit_threads, ratio  # noqa: E402
from _mlp import CONTESTANTS, available, make, missing_note, synthetic_data  # noqa: E402

DTYPES: dict[str, type[np.floating]] = {"float32": np.float32, "float64": np.float64}


def import_peers(names: tuple[str, ...]) -> None:
    """Import the peers' libraries before the thread limits are set (threadpoolctl sees loaded libraries only)."""
    if "torch" in names:
        import torch  # noqa: F401
    if "sklearn" in names:
        import sklearn.neural_network  # noqa: F401


def run_config(
    names: tuple[str, ...], x: np.ndarray, y: np.ndarray, *, optimizer: str, batch: int, threads: int, runs: int,
    out: Any = sys.stdout,
) -> dict[str, Any]:
    """Time one configuration; print and return medians, mins, maxes and ratios."""
    dtype = str(x.dtype)
    with limit_threads(threads) as note:
        benches = {name: make(name, x, y, optimizer=optimizer, batch=batch) for name in names}
        costs: dict[str, float] = {}

        def timed(name: str) -> Any:
            def run() -> None:
                costs[name] = float(benches[name].epoch())  # type: ignore[arg-type]

            return run

        times, cpu = interleave({name: timed(name) for name in names}, runs=runs, warmup=1)
    head = f"{optimizer} {dtype} batch {batch}, {threads} thread{'s' * (threads > 1)}"
    print(f"{head}: {x.shape[0]} samples, {runs} timed epochs each [{note}]", file=out)
    stats = {name: Stats.of(t) for name, t in times.items()}
    cpu_stats = {name: Stats.of(t) for name, t in cpu.items()}
    for name in names:
        print(f"  {name:<8} {stats[name].text()}   cpu {cpu_stats[name].median:.3f} s   "
              f"last epoch cost {costs[name]:.4f}", file=out)
    ratios: dict[str, dict[str, float]] = {}
    parts = []
    for peer in names[1:]:
        r = ratio(times, "funcnn", peer)
        r_cpu = ratio(cpu, "funcnn", peer)
        assert r is not None and r_cpu is not None
        r_min = stats["funcnn"].min / stats[peer].min
        ratios[peer] = {"median": r, "min": r_min, "cpu_median": r_cpu}
        parts.append(f"funcnn/{peer} {r:.3f} (mins {r_min:.3f}, cpu {r_cpu:.3f})")
    if parts:
        print("  ratios of medians: " + ";  ".join(parts), file=out)
    return {
        "optimizer": optimizer, "dtype": dtype, "batch": batch, "threads": threads, "samples": int(x.shape[0]),
        "runs": runs, "times": {n: s.as_dict() for n, s in stats.items()},
        "cpu": {n: s.as_dict() for n, s in cpu_stats.items()}, "ratios": ratios, "costs": costs,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizer", nargs="+", choices=["sgd", "adam"], default=["sgd"])
    parser.add_argument("--dtype", nargs="+", choices=list(DTYPES), default=["float32"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--batch", nargs="+", type=int, default=[128])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=5, help="timed epochs per contestant and configuration")
    parser.add_argument("--contestants", nargs="+", choices=CONTESTANTS, default=list(CONTESTANTS))
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    names = tuple(n for n in available() if n in args.contestants)
    if "funcnn" not in names:
        names = ("funcnn", *names)
    note = missing_note(available())
    if note and set(args.contestants) - set(names):
        print(note)
    import_peers(names)
    results = []
    for dtype_name in args.dtype:
        x, y = synthetic_data(args.samples, DTYPES[dtype_name])
        for optimizer, threads, batch in itertools.product(args.optimizer, args.threads, args.batch):
            results.append(
                run_config(names, x, y, optimizer=optimizer, batch=batch, threads=threads, runs=args.runs)
            )
        del x, y
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
