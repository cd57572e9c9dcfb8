"""Seconds per training epoch of the MNIST CNN in funcnn, and in PyTorch CPU if installed.

The network (the one of ``examples/mnist_cnn.py``), on channels-last
``(batch, 28, 28, 1)`` float32 images::

    conv 5x5 (16) -> ReLU -> max-pool 2 -> conv 5x5 (32) -> ReLU -> max-pool 2
    -> flatten -> dense 128 -> ReLU -> dense 10   (softmax cross-entropy on logits)

One epoch is ``--n`` images (default 8,000) in shuffled mini-batches of 64,
with Adam (lr 1e-3) when ``funcnn.optim.adam`` exists, else plain SGD (the
epoch time is dominated by the convolutions either way; the output says which).
The images are synthetic (uniform noise, fixed seed): an epoch's time does not
depend on the pixel values. Both libraries run in this one process with the same
thread count: numpy's BLAS is limited with threadpoolctl (and the usual
environment variables, set before numpy is imported), PyTorch with
``torch.set_num_threads``. After the warm-up epochs the timed epochs alternate
between the two libraries, so a change in the machine's load hits both alike.
funcnn's warm-up runs before PyTorch is imported, so the peak resident set size
read then is funcnn's alone (its memory does not grow after the first epoch).
funcnn's first compute loop gives glibc's malloc its heap hint (see
``funcnn.thread_policy``): from then on the process keeps freed arrays for the
next step instead of faulting their pages in again. PyTorch, in the same
process, profits from it too (its epoch alone in a fresh process took about
760,000 page faults against about 70,000 with the hint), so the ratio printed
is, if anything, kind to PyTorch.

Usage::

    python benchmarks/cnn_epoch.py [--threads 1] [--epochs 5] [--n 8000] [--no-torch]

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence

import attrs


@attrs.frozen
class Timing:
    """Per-epoch wall-clock seconds of one library (warm-up epochs excluded)."""

    label: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def row(self) -> str:
        s = self.seconds
        return f"{self.label:<28} median {self.median:6.3f} s   min {min(s):6.3f}   max {max(s):6.3f}   (n={len(s)})"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for numpy's BLAS and for PyTorch (default 1)")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per library (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default 1)")
    parser.add_argument("--n", type=int, default=8000, help="images per epoch (default 8000)")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default 64)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.epochs < 1 or args.warmup < 0 or args.n < 1 or args.batch_size < 1:
        parser.error("--threads, --epochs, --n and --batch-size must be >= 1 and --warmup >= 0")
    return args


def warm_up(run_epoch: Callable[[], None], epochs: int) -> None:
    for _ in range(epochs):
        run_epoch()


def timed(run_epoch: Callable[[], None]) -> float:
    start = time.perf_counter()
    run_epoch()
    return time.perf_counter() - start


def funcnn_runner(args: argparse.Namespace) -> tuple[Callable[[], None], str]:
    """A function running one funcnn training epoch per call, and the optimizer's name."""
    import numpy as np

    import funcnn as fn
    from funcnn.layers.conv import Conv2D
    from funcnn.layers.pool import MaxPool2D

    model = fn.Sequential(
        Conv2D(16, 5), fn.ReLU(), MaxPool2D(2),
        Conv2D(32, 5), fn.ReLU(), MaxPool2D(2),
        fn.Flatten(), fn.Dense(128), fn.ReLU(), fn.Dense(10),
    )  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.random((args.n, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, size=args.n)
    params = fn.init(model, fn.key(0), in_shape=(28, 28, 1), dtype=np.float32)
    optimizer: fn.Optimizer
    try:
        from funcnn.optim import adam  # type: ignore[attr-defined, unused-ignore]

        optimizer, opt_name = adam(1e-3), "Adam(lr=1e-3)"
    except ImportError:
        optimizer, opt_name = fn.sgd(0.01), "SGD(lr=0.01) (funcnn.optim.adam not found)"
    state = fn.TrainState.create(
        model, params, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=optimizer,
        key=fn.key(0), batch_size=args.batch_size,
    )  # fmt: skip
    states = fn.train_epochs(state, x, y, epochs=args.warmup + args.epochs)

    def run_epoch() -> None:
        last = next(states)
        assert fn.tree_get(last.params, "conv2d_0/w").dtype == np.float32

    return run_epoch, opt_name


def torch_runner(args: argparse.Namespace) -> tuple[Callable[[], None], str]:
    """A function running one PyTorch training epoch per call, and PyTorch's version."""
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((args.n, 1, 28, 28), generator=gen)  # PyTorch's own layout (NCHW)
    y = torch.randint(0, 10, (args.n,), generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def run_epoch() -> None:
        order = torch.randperm(args.n, generator=gen)
        for i in range(0, args.n, args.batch_size):
            idx = order[i : i + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()

    return run_epoch, f"PyTorch {torch.__version__}"


def run(args: argparse.Namespace) -> None:
    funcnn_epoch, opt_name = funcnn_runner(args)
    warm_up(funcnn_epoch, args.warmup)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; before torch
    torch_epoch: Callable[[], None] | None = None
    torch_label = ""
    if args.no_torch:
        torch_note = "PyTorch comparison skipped (--no-torch)"
    else:
        try:
            torch_epoch, torch_label = torch_runner(args)
            torch_note = ""
        except ImportError:
            torch_note = "PyTorch not installed: comparison skipped (pip install torch to add it)"
    if torch_epoch is not None:
        warm_up(torch_epoch, args.warmup)
    funcnn_s: list[float] = []
    torch_s: list[float] = []
    for _ in range(args.epochs):  # alternate, so both see the same machine load
        funcnn_s.append(timed(funcnn_epoch))
        if torch_epoch is not None:
            torch_s.append(timed(torch_epoch))
    print(f"funcnn optimizer: {opt_name}")
    funcnn_timing = Timing("funcnn (numpy)", tuple(funcnn_s))
    print(funcnn_timing.row())
    print(f"funcnn peak resident set size: {peak_rss_mib:.0f} MiB")
    if torch_epoch is None:
        print(torch_note)
        return
    torch_timing = Timing(torch_label, tuple(torch_s))
    print(torch_timing.row())
    print(f"ratio funcnn / PyTorch (medians): {funcnn_timing.median / torch_timing.median:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # numpy is imported after this, in funcnn_runner
    print(f"CNN epoch: {args.n} images, batch {args.batch_size}, float32, {args.threads} thread(s), "
          f"{args.epochs} timed epochs per library after {args.warmup} warm-up")
    try:
        from threadpoolctl import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
            threadpool_info,
            threadpool_limits,
        )
    except ImportError:
        print("threadpoolctl not installed: relying on the *_NUM_THREADS environment variables")
        run(args)
        return 0
    with threadpool_limits(limits=args.threads):
        run(args)
        blas = ", ".join(f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)" for p in threadpool_info())
    print(f"thread pools: {blas}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
