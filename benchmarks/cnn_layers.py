"""Milliseconds per batch in each layer of the MNIST CNN, forward and backward, one BLAS thread.

The network of ``cnn_epoch.py`` (conv 5x5 16, ReLU, max-pool 2, conv 5x5 32,
ReLU, max-pool 2, flatten, dense 128, ReLU, dense 10), one batch of 64
float32 images: each layer's ``forward`` (training mode) and ``backward`` run
``--calls`` times in a row on the same input, and the median over ``--repeats``
such timings is printed. In a row, a layer's data stay in cache, so these are
lower bounds of the layer's share of an epoch; they show where the time goes.

    python benchmarks/cnn_layers.py [--calls 100] [--repeats 5] [--batch 64]

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable


def per_call_ms(f: Callable[[], object], calls: int, repeats: int) -> float:
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per timing (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per layer and pass; the median is shown")
    parser.add_argument("--batch", type=int, default=64, help="images per batch (default 64)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

    import numpy as np

    import funcnn as fn

    model = fn.Sequential(
        fn.Conv2D(16, 5), fn.ReLU(), fn.MaxPool2D(2), fn.Conv2D(32, 5), fn.ReLU(), fn.MaxPool2D(2),
        fn.Flatten(), fn.Dense(128), fn.ReLU(), fn.Dense(10),
    )  # fmt: skip
    params = fn.init(model, fn.key(0), in_shape=(28, 28, 1), dtype=np.float32)
    g = np.random.default_rng(0)
    x = g.random((args.batch, 28, 28, 1), dtype=np.float32)
    rows = []
    with fn.threads(1):
        for i, (name, layer) in enumerate(model.named_layers()):
            p = params.subtree(name) if name in params else fn.FrozenTree()
            y, cache = layer.forward(p, x, train=True)
            dy = g.standard_normal(y.shape).astype(np.float32)
            need_dx = i > 0  # training never needs the first layer's dx
            fwd = per_call_ms(lambda: layer.forward(p, x, train=True), args.calls, args.repeats)  # noqa: B023
            backward = lambda: layer.backward(p, cache, dy, need_dx=need_dx)  # noqa: B023, E731
            bwd = per_call_ms(backward, args.calls, args.repeats)
            rows.append((name, x.shape[1:], fwd, bwd))
            x = y
    print(f"MNIST CNN, batch {args.batch}, float32, 1 BLAS thread: "
          f"ms per call (median of {args.repeats} x {args.calls})")
    for name, shape, fwd, bwd in rows:
        print(f"  {name:<14} in {str(shape):<14} forward {fwd:7.3f}   backward {bwd:7.3f}")
    total = sum(f + b for _, _, f, b in rows)
    print(f"  total {total:.2f} ms per batch")


if __name__ == "__main__":
    main()
