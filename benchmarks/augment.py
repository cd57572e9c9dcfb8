"""Augmentation throughput, and the training step with a frozen convolutional base against the full step.

1. Images per second of ``Compose([RandomRotation(45), RandomShift(0.2, 0.2),
   RandomShear(0.2 rad), RandomZoom(0.2), RandomFlip()])`` on batches of 128
   MNIST images (float32, channels-last ``(128, 28, 28, 1)``), with nearest and
   bilinear interpolation. Each call draws new parameters for every image,
   builds one affine map per image and samples the batch once. When
   torchvision is installed, its per-sample ``RandomAffine`` (+ flip) on the
   same images runs in the same process, interleaved; otherwise the output
   says it was not measured.
2. Seconds per training step (forward, loss, backward, Adam update) of the
   model of ``examples/transfer_learning.py`` (conv 5x5 16 -> pool -> conv 5x5
   32 -> pool -> dense 128 -> dropout -> dense 128 -> dropout -> dense 5), with
   every layer trained ("full") and with the two convolutional layers frozen
   by ``fn.partition({"conv*": fn.frozen(), "dense*": fn.adam()})``, where the
   backward pass stops below the first dense layer. The issue's target is a
   frozen-base step of at most 0.6x the full step.

The images are the first ones of ``../shared/data/mnist10k`` next to the
repository when present (``--data``), else uniform noise (timings do not
depend on pixel values). numpy's BLAS is limited to ``--threads`` (default 1)
with threadpoolctl. Timed calls of the contestants are interleaved, so load
on a shared machine hits them alike; quote the ratios.

Usage::

    python benchmarks/augment.py [--threads 1] [--runs 20] [--batch 128] [--step-batch 32]

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from _common import has_module, interleave, limit_threads
from numpy.typing import NDArray

import funcnn as fn
from funcnn.augment import Compose, RandomFlip, RandomRotation, RandomShear, RandomShift, RandomZoom
from funcnn.layers.conv import Conv2D
from funcnn.layers.pool import MaxPool2D
from funcnn.transfer import frozen, frozen_layers, partition

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist10k"
SHEAR_DEGREES = math.degrees(0.2)  # the chapter's shear 0.2, read as radians


def images(folder: Path, n: int) -> tuple[NDArray[np.float32], str]:
    if folder.is_dir():
        data = fn.datasets.load_mnist(folder)
        x = np.asarray(data.x[:n], dtype=np.float32).reshape(-1, 28, 28, 1) / 255.0
        return x, f"MNIST images from {folder}"
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), "uniform noise (no MNIST folder found)"


def spec(interpolation: str) -> Compose:
    kw = {"fill": "nearest", "interpolation": interpolation}
    return Compose([
        RandomRotation(45.0, **kw), RandomShift(0.2, 0.2, **kw), RandomShear(SHEAR_DEGREES, **kw),  # type: ignore[arg-type]
        RandomZoom(0.2, **kw), RandomFlip(),  # type: ignore[arg-type]
    ])  # fmt: skip


def augment_contestants(x: NDArray[np.float32]) -> dict[str, Callable[[], object]]:
    calls: dict[str, Callable[[], object]] = {}
    for interp in ("nearest", "bilinear"):
        aug, counter = spec(interp), iter(range(10**9))

        def run(aug: Compose = aug, counter: object = counter) -> object:
            return aug(fn.fold_in(fn.key(0), next(counter)), x)  # type: ignore[call-overload]

        calls[f"funcnn Compose ({interp})"] = run
    if has_module("torchvision"):
        import torch
        from torchvision.transforms import v2

        affine = v2.Compose([
            v2.RandomAffine(degrees=45.0, translate=(0.2, 0.2), shear=SHEAR_DEGREES, scale=(0.8, 1.2)),
            v2.RandomHorizontalFlip(),
        ])  # fmt: skip
        batch = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

        def per_sample() -> object:
            return torch.stack([affine(img) for img in batch])

        calls["torchvision RandomAffine per sample"] = per_sample
    return calls


def step_contestants(x: NDArray[np.float32], batch: int) -> dict[str, Callable[[], object]]:
    model = fn.Sequential(
        Conv2D(16, 5), fn.ReLU(), MaxPool2D(2), Conv2D(32, 5), fn.ReLU(), MaxPool2D(2), fn.Flatten(),
        fn.Dense(128), fn.ReLU(), fn.Dropout(0.5), fn.Dense(128), fn.ReLU(), fn.Dropout(0.5), fn.Dense(5),
    )  # fmt: skip
    params = fn.init(model, fn.key(0), in_shape=(28, 28, 1), dtype=np.float32)
    xb = x[:batch]
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    t = fn.one_hot(np.arange(batch) % 5, 5, dtype=np.float32)
    calls: dict[str, Callable[[], object]] = {}
    for name, optimizer in (("full step", fn.adam(1e-3)),
                            ("frozen-base step", partition({"conv*": frozen(), "dense*": fn.adam(1e-3)}))):
        # The body of the training loop (funcnn.training): forward, loss, backward, fused update.
        skip = frozen_layers(optimizer, params)
        state = optimizer.init(params)

        def one_step(optimizer: fn.Optimizer = optimizer, skip: frozenset[str] = skip,
                     state: fn.OptState[np.float32] = state) -> object:
            yb, cache = model.forward(params, xb, key=fn.key(2), train=True)
            _, dy = loss.value_and_grad(yb, t)
            grads, _ = model.backward(params, cache, dy, need_dx=False, frozen=skip)
            return fn.apply_step(optimizer, grads, state, params)

        calls[name] = one_step
    return calls


def report(title: str, wall: dict[str, list[float]], cpu: dict[str, list[float]], per_call: int, unit: str) -> None:
    """Medians of wall-clock and of process CPU time (the steadier one on a loaded machine with 1 thread)."""
    print(title)
    for name, times in wall.items():
        w, c = statistics.median(times), statistics.median(cpu[name])
        if unit == "images":
            text = f"{per_call / w:8.0f} images/s wall, {per_call / c:8.0f} images/s CPU"
        else:
            text = f"{1000 * w:8.2f} ms/step wall, {1000 * c:8.2f} ms/step CPU"
        print(f"  {name:<38} {text}   (medians of {len(times)})")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--runs", type=int, default=20, help="timed calls per contestant (default 20)")
    p.add_argument("--batch", type=int, default=128, help="images per augmentation call (default 128)")
    p.add_argument("--step-batch", type=int, default=32, help="batch of a training step (default 32, the example's)")
    p.add_argument("--data", type=Path, default=DATA, help="an MNIST IDX folder (default: ../shared/data/mnist10k)")
    args = p.parse_args(argv)
    if min(args.threads, args.runs, args.batch, args.step_batch) < 1:
        p.error("--threads, --runs, --batch and --step-batch must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    x, source = images(args.data, max(args.batch, args.step_batch))
    aug_calls = augment_contestants(x[: args.batch])
    step_calls = step_contestants(x, args.step_batch)
    with limit_threads(args.threads) as note:
        print(f"{source}; {note}")
        wall, cpu = interleave(aug_calls, runs=args.runs, warmup=2)
        report(f"augmentation of a batch of {args.batch} (28x28x1 float32):", wall, cpu, args.batch, "images")
        if not has_module("torchvision"):
            print("  torchvision is not installed: its per-sample RandomAffine was not measured")
        wall, cpu = interleave(step_calls, runs=args.runs, warmup=2)
        report(f"training step, batch {args.step_batch}, the transfer example's CNN:", wall, cpu, args.step_batch,
               "steps")
        for what, times in (("wall", wall), ("CPU", cpu)):
            ratio = statistics.median(times["frozen-base step"]) / statistics.median(times["full step"])
            print(f"  frozen-base / full step, {what} time: {ratio:.2f} (target <= 0.6)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
