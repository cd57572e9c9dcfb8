"""Where a funcnn training epoch spends its time, and the matrix products' share of it.

Two independent estimates of the share of the epoch spent in matrix products,
both divided by the median of unprofiled funcnn epochs timed in the same run:

1. **line profile** (needs ``line_profiler``): epochs with ``Dense.forward`` and
   ``Dense.backward`` line-profiled, interleaved with the unprofiled ones. The
   product lines (``x @ w``, ``x.T @ dy``, ``dy @ w.T``) are single C calls, so
   the profiler times them without distortion (it slows Python lines only);
   their sum per epoch is the numerator.
2. **GEMM replay** (no dependency): the very products of an epoch (same shapes,
   dtypes and operand layouts, on gathered batches) timed alone; for
   comparison the same replay over the straight-numpy epoch gives the share a
   numpy implementation without any library overhead reaches.

Then one epoch runs with every hot function line-profiled, to show where the
rest of the time goes (those times include the profiler's own overhead).

    python benchmarks/profile_epoch.py                     # SGD, float32, batch 128, 1 thread
    python benchmarks/profile_epoch.py --optimizer adam --lines 25
    python benchmarks/profile_epoch.py --pyinstrument      # also print a pyinstrument call tree
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _mlp  # noqa: E402
from _common import Stats, has_module, interleave, limit_threads, time_once  # noqa: E402

import funcnn.batching as batching  # noqa: E402
import funcnn.layers.activations as activations  # noqa: E402
import funcnn.layers.base as base  # noqa: E402
import funcnn.layers.dense as dense  # noqa: E402
import funcnn.losses as losses  # noqa: E402
import funcnn.network as network  # noqa: E402
import funcnn.optim as optim  # noqa: E402
import funcnn.training as train  # noqa: E402
import funcnn.tree as tree  # noqa: E402

_HOT_NAMES = (
    (train, "train_epochs"), (batching, "epoch_batches"), (batching, "prepare_data"),
    (network, "Sequential.forward"), (network, "Sequential.backward"),
    (dense, "Dense.forward"), (dense, "Dense.backward"),
    (activations, "ReLU.forward"), (activations, "ReLU.backward"), (activations, "softmax"),
    (losses, "CategoricalCrossEntropy.value_and_grad"), (losses, "_row_max"),
    (optim, "SGD.update"), (optim, "SGD._run"), (optim, "Adam.update"), (optim, "Adam._run"),
    (optim, "apply_step"), (optim, "apply_updates"), (optim, "_add"), (optim, "map_mirrored"), (optim, "_walk"),
    (base, "cache_of"), (base, "fresh"), (base, "no_dx"), (base, "readonly_view"),
    (tree, "FrozenTree.__init__"), (tree, "FrozenTree.leaf"), (tree, "FrozenTree.subtree"),
)


def _resolve(module: types.ModuleType, dotted: str) -> Callable[..., Any] | None:
    obj: Any = module
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, types.FunctionType) else None


# The functions of the training step that exist in this version of funcnn.
HOT: tuple[Callable[..., Any], ...] = tuple(
    f for f in (_resolve(m, name) for m, name in _HOT_NAMES) if f is not None
)


def _with_nested(funcs: tuple[Callable[..., Any], ...]) -> list[Callable[..., Any]]:
    """The functions plus the closures defined inside them (e.g. an optimizer's per-leaf maths)."""
    out: list[Callable[..., Any]] = []
    for f in funcs:
        out.append(f)
        for const in f.__code__.co_consts:
            if isinstance(const, types.CodeType) and const.co_name not in ("<genexpr>", "<listcomp>", "<dictcomp>"):
                cells = tuple(types.CellType() for _ in const.co_freevars)  # never called: only registers the code
                out.append(types.FunctionType(const, f.__globals__, closure=cells))
    return out


def _is_matmul(line: str) -> bool:
    code = line.split("#", 1)[0]
    return " @ " in code and not code.lstrip().startswith("@")


def line_profile(run_epoch: Callable[[], object], funcs: list[Callable[..., Any]]) -> tuple[float, dict[str, Any]]:
    """Run one epoch with ``funcs`` line-profiled; return its wall time and the lines' times.

    Line times are inclusive: a line that calls another profiled function
    includes that function's time.
    """
    from line_profiler import LineProfiler

    lp = LineProfiler()
    for f in funcs:
        lp.add_function(f)
    lp.enable_by_count()
    try:
        wall = time_once(run_epoch)
    finally:
        lp.disable_by_count()
    stats = lp.get_stats()
    lines: list[tuple[float, str]] = []
    matmul: list[tuple[float, str]] = []
    for (filename, _first, name), timings in stats.timings.items():
        try:
            source = Path(filename).read_text().splitlines()
        except OSError:
            source = []
        for lineno, _hits, t in timings:
            text = source[lineno - 1].strip() if 0 < lineno <= len(source) else "?"
            entry = (t * stats.unit, f"{Path(filename).stem}.{name}:{lineno}  {text}")
            lines.append(entry)
            if _is_matmul(text):
                matmul.append(entry)
    return wall, {"lines": sorted(lines, reverse=True), "matmul": sorted(matmul, reverse=True)}


def gemm_replay(x: np.ndarray, batch: int) -> Callable[[], None]:
    """The matrix products of one funcnn epoch (same shapes, dtypes and layouts), and nothing else."""
    g = np.random.default_rng(0)
    dt = x.dtype
    sizes = _mlp.SIZES
    ws = [g.standard_normal((sizes[i], sizes[i + 1])).astype(dt) for i in range(3)]
    n = x.shape[0]
    steps = [(s, min(s + batch, n)) for s in range(0, n, batch)]
    order = g.permutation(n)
    batches = [x[order[a:b]] for a, b in steps[:4]]  # a few gathered batches, reused (no gather timed)

    def run() -> None:
        w0, w1, w2 = ws
        for i, (a, b) in enumerate(steps):
            xb = batches[i % len(batches)][: b - a]
            h1 = xb @ w0
            h2 = h1 @ w1
            z = h2 @ w2
            _ = h2.T @ z  # dw2
            d2 = z @ w2.T  # dx of dense_2
            _ = h1.T @ d2  # dw1
            d1 = d2 @ w1.T  # dx of dense_1
            _ = xb.T @ d1  # dw0 (dense_0's dx is skipped in training)

    return run


def gather_replay(x: np.ndarray, batch: int) -> Callable[[], None]:
    """The batch gathers of one epoch (``np.take`` of shuffled rows, as ``train_epochs`` does), and nothing else."""
    g = np.random.default_rng(1)
    n = x.shape[0]
    targets = np.zeros((n, _mlp.SIZES[-1]), dtype=x.dtype)

    def run() -> None:
        order = g.permutation(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            np.take(x, idx, axis=0)
            np.take(targets, idx, axis=0)

    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=5, help="unprofiled epochs per contestant (and replays)")
    parser.add_argument("--lines", type=int, default=15, help="how many of the costliest lines to print")
    parser.add_argument("--pyinstrument", action="store_true", help="also print a pyinstrument call tree")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    x, y = _mlp.synthetic_data(args.samples, np.float32 if args.dtype == "float32" else np.float64)
    result: dict[str, Any] = {"optimizer": args.optimizer, "dtype": args.dtype, "batch": args.batch,
                              "threads": args.threads, "samples": args.samples}
    with limit_threads(args.threads) as note:
        fn_bench = _mlp.make("funcnn", x, y, optimizer=args.optimizer, batch=args.batch)
        np_bench = _mlp.make("numpy", x, y, optimizer=args.optimizer, batch=args.batch)
        contestants: dict[str, Callable[[], object]] = {
            "funcnn": fn_bench.epoch, "numpy": np_bench.epoch, "gemm replay": gemm_replay(x, args.batch),
            "gather replay": gather_replay(x, args.batch),
        }
        profiled = has_module("line_profiler")
        products_seconds: list[float] = []
        products: list[Any] = []
        if profiled:
            def profiled_epoch() -> None:
                nonlocal products
                _, prof = line_profile(fn_bench.epoch, [dense.Dense.forward, dense.Dense.backward])
                products = prof["matmul"]
                products_seconds.append(sum(t for t, _ in products))

            contestants["funcnn, profiled"] = profiled_epoch
        times, cpu = interleave(contestants, runs=args.runs, warmup=1)
        print(f"{args.optimizer} {args.dtype} batch {args.batch}, {args.samples} samples [{note}]")
        for name, t in times.items():
            print(f"  {name:<16} {Stats.of(t).text()}   cpu {Stats.of(cpu[name]).text()}")
        epoch_med = statistics.median(times["funcnn"])
        replay_med = statistics.median(times["gemm replay"])
        replay_share = replay_med / epoch_med
        numpy_replay_share = replay_med / statistics.median(times["numpy"])
        gather_share = statistics.median(times["gather replay"]) / epoch_med
        print(f"\nthe batch gathers alone take {gather_share:.1%} of the funcnn epoch (the same in any library "
              "that shuffles by index)")
        result["gather_share"] = gather_share
        print("\nmatrix products' share of the epoch:")
        print(f"  GEMM replay / funcnn epoch (medians): {replay_share:.1%}   "
              f"(straight numpy: GEMM replay / numpy epoch {numpy_replay_share:.1%})")
        result.update({"times": {k: Stats.of(v).as_dict() for k, v in times.items()},
                       "cpu": {k: Stats.of(v).as_dict() for k, v in cpu.items()},
                       "replay_share": {"funcnn": replay_share, "numpy": numpy_replay_share}})

        if profiled:
            products_seconds = products_seconds[1:]  # the first one was the warm-up
            mm = statistics.median(products_seconds)
            share = mm / epoch_med
            print(f"  line profile: products {Stats.of(products_seconds).text()} per epoch "
                  f"= {share:.1%} of the unprofiled funcnn epoch median")
            for t, text in products:
                print(f"    {t:7.3f} s  {text}")
            result.update({"matmul_share": {"funcnn": Stats.of([t / epoch_med for t in products_seconds]).as_dict()},
                           "matmul_seconds": Stats.of(products_seconds).as_dict()})

        if profiled:
            funcs = _with_nested(HOT)
            # A fresh run of one epoch, so the training loop's own lines are profiled too
            # (a generator started before the profiler is not traced).
            one = _mlp.make("funcnn", x, y, optimizer=args.optimizer, batch=args.batch)
            wall, prof = line_profile(one.epoch, funcs)
            calls = {f.__name__ + "(" for f in funcs} | {"fused(", "f(", "FrozenTree(", "layer.forward(",
                                                         "layer.backward(", "model.forward(", "model.backward("}
            own = [(t, text) for t, text in prof["lines"] if not any(c in text.split("  ", 1)[1] for c in calls)]
            print(f"\nwhere the time goes: the costliest lines of one epoch with every hot function profiled "
                  f"({wall:.3f} s under the profiler, which adds its own overhead to every Python line), "
                  "leaving out lines that call other profiled functions:")
            for t, text in own[: args.lines]:
                print(f"  {t:7.3f} s {t / wall:6.1%}  {text}")
            rest = sum(t for t, _ in own[args.lines :])
            print(f"  {rest:7.3f} s {rest / wall:6.1%}  (every other line)")
            result["top_lines"] = [[t, text] for t, text in own[: args.lines]]
        else:
            print("\nline_profiler not installed: no line profile (pip install line_profiler)")

        if args.pyinstrument:
            if has_module("pyinstrument"):
                from pyinstrument import Profiler

                p = Profiler(interval=0.0005)
                p.start()
                fn_bench.epoch()
                p.stop()
                print(p.output_text(unicode=False, color=False))
            else:
                print("pyinstrument not installed (pip install pyinstrument)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
