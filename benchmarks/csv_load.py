"""Time loading a numeric CSV of about 10 MB with :func:`funcnn.datasets.load_csv`.

    python benchmarks/csv_load.py [--mb 10] [--repeat 3]

Writes the file with the standard library's ``csv`` module into a temporary
folder (12 float features and an integer label per row), then prints the
median load time over ``--repeat`` runs. Timings on a shared machine are
indicative only.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from funcnn.datasets import load_csv


def write_numeric_csv(path: Path, megabytes: float, seed: int = 0) -> int:
    """Write about ``megabytes`` MB of numeric rows to ``path``; returns the number of rows."""
    rng = np.random.default_rng(seed)
    rows_per_mb = 1_000_000 // 110  # about 110 bytes per row of 12 floats and a label
    n = int(megabytes * rows_per_mb)
    x = np.round(rng.normal(size=(n, 12)), 6)
    y = rng.integers(0, 3, size=n)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(12)] + ["label"])
        for row, label in zip(x.tolist(), y.tolist(), strict=True):
            w.writerow([*row, label])
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "numeric.csv"
        n = write_numeric_csv(path, args.mb)
        size = path.stat().st_size / 1e6
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            ds = load_csv(path)
            times.append(time.perf_counter() - start)
        print(f"{size:.1f} MB, {n} rows, x {ds.x.shape}: median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f} s) over {args.repeat} loads")


if __name__ == "__main__":
    main()
