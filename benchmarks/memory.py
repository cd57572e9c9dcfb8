"""Peak memory (RSS) of a training run on 60,000 x 784 float32 samples, one fresh process per contestant.

Each contestant runs in its own child process (so one library's memory can
not hide another's): it imports its library, builds the data set straight in
float32, then trains ``--epochs`` epochs of the 784-256-128-10 MLP at batch
128. The child reports its resident set size (RSS) after the imports, after
the data is built and after each epoch, and its peak RSS (``VmHWM``, the high-water mark of this process image).
The training overhead is ``peak - RSS with the data``; funcnn's target is a
peak below ``data size + 150 MiB``. A peak that keeps growing epoch after
epoch would mean a per-epoch copy of the data (funcnn shuffles by index).

    python benchmarks/memory.py                     # SGD, 3 epochs, every installed contestant
    python benchmarks/memory.py --optimizer adam --contestants funcnn numpy
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGET_MIB = 150.0


def child(name: str, optimizer: str, epochs: int, samples: int) -> None:
    """Run in the child process: train, and print one JSON line of memory figures."""
    sys.path.insert(0, str(HERE))
    import numpy as np
    from _common import current_rss_mb, limit_threads, peak_rss_since_exec_mib

    if name == "torch":
        import torch  # noqa: F401
    elif name == "sklearn":
        import sklearn.neural_network  # noqa: F401
    import _mlp

    after_imports = current_rss_mb()
    x, y = _mlp.synthetic_data(samples, np.float32)
    data_mib = (x.nbytes + y.nbytes) / 2**20
    with_data = current_rss_mb()
    per_epoch = []
    with limit_threads(1):
        bench = _mlp.make(name, x, y, optimizer=optimizer, batch=128)
        for _ in range(epochs):
            bench.epoch()
            per_epoch.append(peak_rss_since_exec_mib())
    print(json.dumps({
        "name": name, "data_mib": data_mib, "after_imports_mib": after_imports, "with_data_mib": with_data,
        "peak_after_each_epoch_mib": per_epoch, "peak_mib": peak_rss_since_exec_mib(),
    }))


def measure(name: str, optimizer: str, epochs: int, samples: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--optimizer", optimizer, "--epochs", str(epochs),
         "--samples", str(samples)],
        capture_output=True, text=True, check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--contestants", nargs="+", default=["funcnn", "numpy", "torch", "sklearn"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.optimizer, args.epochs, args.samples)
        return []

    sys.path.insert(0, str(HERE))
    from _mlp import available, missing_note

    names = [n for n in available() if n in args.contestants]
    if missing_note(available()) and set(args.contestants) - set(names):
        print(missing_note(available()))
    print(f"peak RSS, {args.optimizer}, float32, batch 128, {args.samples} samples, {args.epochs} epochs, "
          "one process each (MiB)")
    head = f"{'imports':>8} {'+data':>8} {'peak':>8} {'peak-data':>10} {'training':>9}"
    print(f"  {'':<8} {head}   peak after each epoch")
    results = []
    for name in names:
        r = measure(name, args.optimizer, args.epochs, args.samples)
        r["training_mib"] = r["peak_mib"] - r["with_data_mib"]
        r["peak_minus_data_mib"] = r["peak_mib"] - r["data_mib"]
        results.append(r)
        epochs = ", ".join(f"{v:.0f}" for v in r["peak_after_each_epoch_mib"])
        print(f"  {name:<8} {r['after_imports_mib']:8.0f} {r['with_data_mib']:8.0f} {r['peak_mib']:8.0f} "
              f"{r['peak_minus_data_mib']:10.0f} {r['training_mib']:9.0f}   {epochs}")
    data = results[0]["data_mib"] if results else 0.0
    fn_result = next((r for r in results if r["name"] == "funcnn"), None)
    if fn_result is not None:
        ok = fn_result["peak_mib"] <= data + TARGET_MIB
        print(f"  data {data:.0f} MiB; funcnn peak {fn_result['peak_mib']:.0f} MiB vs target data + {TARGET_MIB:.0f} = "
              f"{data + TARGET_MIB:.0f} MiB: {'met' if ok else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
