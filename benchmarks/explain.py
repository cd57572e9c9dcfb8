"""Occlusion maps of MNIST digits through the MNIST CNN: funcnn vs Captum, throughput and memory.

For ``--images`` test digits (default 100), each map slides a ``--window``
square of zeros (default 4x4) at ``--stride`` (default 2) over the 28x28 image:
13 x 13 = 169 occluded copies per digit, each one forward pass of the CNN of
``examples/mnist_cnn.py`` (float32), at the class the network predicts. The
figure of merit is images (maps) per second with ``--threads`` threads
(default 1). funcnn runs ``--batch`` occluded copies per forward pass; Captum's
``perturbations_per_eval`` is set so its forward batches are as large.

Peak RSS is measured for funcnn alone in a fresh child process (this script
with ``--rss-child``), before PyTorch is ever imported. When PyTorch and Captum
are installed, Captum's ``Occlusion`` runs on a PyTorch copy of the same
network and weights, interleaved with funcnn run by run, and the two maps are
compared value by value.

    python benchmarks/explain.py                       # 100 images, 1 thread, 3 runs
    python benchmarks/explain.py --images 20 --runs 1  # a quick look
    python benchmarks/explain.py --params cnn.npz      # trained weights (fn.save_params)

Without the MNIST folder (``--folder``, default ``../shared/data/mnist10k``
beside the repository) the digits are random images (said in the output);
without ``--params`` the weights are freshly initialised: the speed of a
forward pass does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import Stats, has_module, interleave, limit_threads, peak_rss_since_exec_mib  # noqa: E402

import funcnn as fn  # noqa: E402
from funcnn import explain  # noqa: E402


def _load_example(name: str) -> ModuleType:
    # examples/ has its own _common module: load the example by path rather than through sys.path
    spec = importlib.util.spec_from_file_location(f"funcnn_example_{name}", HERE.parent / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_model = _load_example("mnist_cnn").build_model

F32 = NDArray[np.float32]
DEFAULT_FOLDER = HERE.parent.parent / "shared" / "data" / "mnist10k"


def load_digits(folder: Path, n: int) -> tuple[F32, str]:
    """``n`` standardised test digits ``(n, 28, 28, 1)`` (the last images of the file), or random ones."""
    if not folder.is_dir():
        x = fn.rng.generator(fn.key(0)).standard_normal((n, 28, 28, 1)).astype(np.float32)
        return x, f"random images ({folder} not found)"
    data = fn.datasets.load_mnist(folder)
    x = np.asarray(data.x, dtype=np.float32).reshape(-1, 28, 28, 1)
    train = x[:8000]
    mean, std = float(train.mean()), float(train.std()) or 1.0
    return (x[-n:] - mean) / std, f"MNIST test digits from {folder}"


def setup(args: argparse.Namespace) -> tuple[fn.Sequential, fn.FrozenTree[np.float32], F32, NDArray[np.int64], str]:
    model = build_model()
    if args.params is not None:
        _, params = fn.load_params(args.params, dtype=np.float32, model=model)
    else:
        params = fn.init(model, fn.key(0), in_shape=(28, 28, 1), dtype=np.float32)
    x, source = load_digits(args.folder, args.images)
    target = np.argmax(fn.predict(model, params, x), axis=1).astype(np.int64)
    return model, params, x, target, source


def funcnn_maps(model: fn.Sequential, params: fn.FrozenTree[np.float32], x: F32, target: NDArray[np.int64],
                args: argparse.Namespace) -> F32:
    return explain.occlusion(model, params, x, target, window=args.window, stride=args.stride, batch_size=args.batch)


def rss_child(args: argparse.Namespace) -> None:
    """One funcnn run in this (fresh) process; print its peak RSS as JSON."""
    model, params, x, target, _ = setup(args)
    with limit_threads(args.threads):
        start = time.perf_counter()
        funcnn_maps(model, params, x, target, args)
        seconds = time.perf_counter() - start
    print(json.dumps({"peak_rss_mib": peak_rss_since_exec_mib(), "seconds": seconds}))


def torch_copy(model: fn.Sequential, params: fn.FrozenTree[np.float32]) -> Any:
    """The same CNN in PyTorch (NCHW), with funcnn's weights; flattening in funcnn's (h, w, c) order."""
    import torch

    class ChannelsLast(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x.permute(0, 2, 3, 1)

    def conv(name: str) -> Any:
        w = fn.tree_get(params, f"{name}/w")  # (kh, kw, c_in, c_out)
        layer = torch.nn.Conv2d(w.shape[2], w.shape[3], w.shape[:2])
        layer.weight = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))))
        layer.bias = torch.nn.Parameter(torch.from_numpy(np.array(fn.tree_get(params, f"{name}/b"))))
        return layer

    def dense(name: str) -> Any:
        w = fn.tree_get(params, f"{name}/w")  # (in, out)
        layer = torch.nn.Linear(w.shape[0], w.shape[1])
        layer.weight = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(w.T)))
        layer.bias = torch.nn.Parameter(torch.from_numpy(np.array(fn.tree_get(params, f"{name}/b"))))
        return layer

    assert model.names == ("conv2d_0", "relu_0", "max_pool2d_0", "conv2d_1", "relu_1", "max_pool2d_1",
                           "flatten_0", "dense_0", "relu_2", "dense_1"), model.names
    net = torch.nn.Sequential(
        conv("conv2d_0"), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        conv("conv2d_1"), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        ChannelsLast(), torch.nn.Flatten(), dense("dense_0"), torch.nn.ReLU(), dense("dense_1"),
    )  # fmt: skip
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100, help="digits to map (default 100)")
    p.add_argument("--window", type=int, default=4, help="occluding square (default 4)")
    p.add_argument("--stride", type=int, default=2, help="window step (default 2)")
    p.add_argument("--batch", type=int, default=512, help="occluded copies per forward pass (default 512)")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads (default 1)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per contestant (default 3)")
    p.add_argument("--folder", type=Path, default=DEFAULT_FOLDER, help="MNIST IDX folder")
    p.add_argument("--params", type=Path, default=None, help="trained CNN params (fn.save_params file)")
    p.add_argument("--json", action="store_true", help="print the results as JSON too")
    p.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        rss_child(args)
        return 0

    child = [sys.executable, __file__, "--rss-child", *(argv if argv is not None else sys.argv[1:])]
    rss = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])

    model, params, x, target, source = setup(args)
    side = len(explain.window_starts(28, args.window, args.stride))
    print(f"occlusion maps: {args.images} images ({source}), window {args.window}x{args.window}, stride "
          f"{args.stride}: {side}x{side} = {side * side} occluded copies per image, float32")
    contestants = {"funcnn": lambda: funcnn_maps(model, params, x, target, args)}
    ours = funcnn_maps(model, params, x, target, args)
    theirs = None
    if has_module("torch") and has_module("captum"):
        import torch
        from captum.attr import Occlusion  # type: ignore[import-untyped,import-not-found,unused-ignore]

        net = torch_copy(model, params)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        with torch.no_grad():
            agree = np.max(np.abs(net(xt).numpy() - fn.predict(model, params, x)))
        print(f"PyTorch copy of the CNN: max |logit difference| {agree:.2e}")
        per_eval = max(1, args.batch // args.images)
        occ = Occlusion(net)
        tt = torch.from_numpy(target)

        def captum_maps() -> Any:
            with torch.no_grad():
                return occ.attribute(xt, sliding_window_shapes=(1, args.window, args.window),
                                     strides=(1, args.stride, args.stride), baselines=0.0, target=tt,
                                     perturbations_per_eval=per_eval)

        contestants["captum"] = captum_maps
        theirs = captum_maps().numpy().transpose(0, 2, 3, 1)
        diff = float(np.max(np.abs(theirs - ours)))
        scale = float(np.max(np.abs(theirs))) or 1.0
        print(f"Captum {getattr(sys.modules['captum'], '__version__', '?')} (perturbations_per_eval={per_eval}, "
              f"{per_eval * args.images} copies per forward): max |map difference| {diff:.2e} "
              f"({diff / scale:.1e} of the largest value)")
    else:
        print("Captum not installed: funcnn only (pip install torch captum)")
    with limit_threads(args.threads) as note:
        wall, cpu = interleave(contestants, runs=args.runs, warmup=1)
    print(f"[{note}]")
    results: dict[str, Any] = {"images": args.images, "window": args.window, "stride": args.stride,
                               "batch": args.batch, "threads": args.threads, "source": source}
    for name, times in wall.items():
        rate = Stats.of([args.images / t for t in times])
        print(f"  {name:<7} {rate.median:8.1f} images/s (min {rate.min:.1f}, max {rate.max:.1f})   "
              f"{Stats.of(times).text()} per run, CPU {Stats.of(cpu[name]).text()}")
        results[name] = {"images_per_s": rate.as_dict(), "seconds": Stats.of(times).as_dict()}
    print(f"  funcnn alone in a fresh process: peak RSS {rss['peak_rss_mib']:.0f} MiB "
          f"(one run, {rss['seconds']:.2f} s)")
    results["funcnn_peak_rss_mib"] = rss["peak_rss_mib"]
    if "captum" in wall:
        ratio = float(np.median(wall["captum"]) / np.median(wall["funcnn"]))
        print(f"  funcnn / Captum throughput: {ratio:.2f}x")
        results["funcnn_over_captum"] = ratio
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
