"""Inference throughput of the 784-256-128-10 MLP: funcnn vs straight numpy vs PyTorch vs scikit-learn.

Each contestant predicts ``--samples`` synthetic MNIST-shaped inputs in
batches of ``--batch`` (the last one may be smaller), with the same weights
and the same thread count, interleaved run by run. funcnn, numpy and PyTorch
return logits (``fn.predict``, a hand-written forward, ``torch.inference_mode``);
scikit-learn has no logits API, so its ``predict_proba`` also pays a softmax
over 10 columns (negligible next to the matrix products).

    python benchmarks/inference.py                      # float32, batch 1000, 1 thread
    python benchmarks/inference.py --batch 1 128 10000 --threads 1 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Stats, interleave, limit_threads  # noqa: E402
from _mlp import CONTESTANTS, available, make, missing_note, synthetic_data  # noqa: E402
from mlp_compare import DTYPES, import_peers  # noqa: E402


def run_config(
    names: tuple[str, ...], xq: np.ndarray, *, batch: int, threads: int, runs: int, dtype: str
) -> dict[str, Any]:
    """Time ``runs`` passes over ``xq`` per contestant; print samples/s and ratios."""
    x_fit, y_fit = synthetic_data(512, DTYPES[dtype])
    with limit_threads(threads) as note:
        benches = {name: make(name, x_fit, y_fit, optimizer="sgd", batch=128) for name in names}
        if "sklearn" in benches:
            benches["sklearn"].epoch()  # scikit-learn cannot predict before a fit

        def passes(predict: Callable[[np.ndarray], object]) -> Callable[[], None]:
            def run() -> None:
                for start in range(0, xq.shape[0], batch):
                    predict(xq[start : start + batch])

            return run

        wall, _ = interleave({name: passes(b.predict) for name, b in benches.items()}, runs=runs, warmup=1)
    n = xq.shape[0]
    print(f"inference {dtype} batch {batch}, {threads} thread{'s' * (threads > 1)}: {n} samples per pass, "
          f"{runs} passes each [{note}]")
    rates = {name: Stats.of([n / t for t in ts]) for name, ts in wall.items()}
    for name in names:
        print(f"  {name:<8} {rates[name].median:12,.0f} samples/s (min {rates[name].min:,.0f}, "
              f"max {rates[name].max:,.0f})   {Stats.of(wall[name]).text()} per pass")
    ratios = {
        peer: statistics.median(wall["funcnn"]) / statistics.median(wall[peer]) for peer in names if peer != "funcnn"
    }
    if ratios:
        print("  time ratios of medians: " + ";  ".join(f"funcnn/{p} {r:.3f}" for p, r in ratios.items()))
    return {"dtype": dtype, "batch": batch, "threads": threads, "samples": n, "runs": runs,
            "samples_per_s": {k: v.as_dict() for k, v in rates.items()},
            "seconds": {k: Stats.of(v).as_dict() for k, v in wall.items()}, "ratios": ratios}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", nargs="+", type=int, default=[1000])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--dtype", nargs="+", choices=list(DTYPES), default=["float32"])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--contestants", nargs="+", choices=CONTESTANTS, default=list(CONTESTANTS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    names = tuple(n for n in available() if n in args.contestants)
    if "funcnn" not in names:
        names = ("funcnn", *names)
    if missing_note(available()) and set(args.contestants) - set(names):
        print(missing_note(available()))
    import_peers(names)
    results = []
    for dtype in args.dtype:
        xq, _ = synthetic_data(args.samples, DTYPES[dtype])
        for batch, threads in itertools.product(args.batch, args.threads):
            results.append(run_config(names, xq, batch=batch, threads=threads, runs=args.runs, dtype=dtype))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
