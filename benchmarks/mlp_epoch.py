"""One training epoch of a 784-256-128-10 ReLU/softmax MLP: funcnn against straight numpy.

The core yardstick: 60,000 synthetic samples of MNIST shape, batch 128,
float32, plain SGD, 1 BLAS thread, the same maths written out by hand in
straight numpy in the same process, interleaved epoch by epoch; it prints the
median (min, max) of each and the ratio of medians. It is
``mlp_compare.py`` limited to those two contestants, with the same options:

    python benchmarks/mlp_epoch.py                       # SGD, float32, 1 thread
    python benchmarks/mlp_epoch.py --optimizer adam
    python benchmarks/mlp_epoch.py --dtype float64 --threads 2 --batch 512

``python benchmarks/mlp_compare.py`` adds PyTorch and scikit-learn when installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mlp_compare import main as compare  # noqa: E402

if __name__ == "__main__":
    compare(["--contestants", "funcnn", "numpy", *sys.argv[1:]])
