"""Inference throughput of the 784-256-128-10 MLP: funcnn vs straight numpy vs PyTorch vs scikit-learn.

Each contestant predicts ``--samples`` synthetic MNIST-shaped inputs in
batches of ``--batch`` (the last one may be smaller), with the same weights
and the same thread count, interleaved run by run. funcnn, numpy and PyTorch
return logits (``fn.predict``, a hand-written forward, ``torch.inference_mode``);
scikit-learn has no logits API, so its ``predict_proba`` also pays a softmax
over 10 columns (negligible next to the matrix products).

    python benchmarks/inference.py                      # float32, batch 1000, 1 thread
    python benchmarks/inference.py --batch 1 128 10000 --threads 1 2

``--exported`` times instead the *exported* models (``funcnn.export``): the same
MLP and a small CNN run by ``fn.predict``, by onnxruntime on the graph from
``to_onnx`` and, when installed, by PyTorch on the module from ``to_torch``, in
one interleaved run per batch size (default batch 1 and 1,024):

    python benchmarks/inference.py --exported --threads 1
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
from _common import Stats, has_module, interleave, limit_threads  # noqa: E402
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


def exported_models(dtype: type[np.floating]) -> dict[str, tuple[Any, Any, tuple[int, ...]]]:
    """``{name: (model, params, in_shape)}``: the 784-256-128-10 MLP and a small MNIST CNN."""
    import funcnn as fn

    mlp = fn.Sequential(fn.Dense(256), fn.ReLU(), fn.Dense(128), fn.ReLU(), fn.Dense(10))
    cnn = fn.Sequential(fn.Conv2D(8, 3, padding="same"), fn.ReLU(), fn.MaxPool2D(2), fn.Conv2D(16, 3),
                        fn.ReLU(), fn.MaxPool2D(2), fn.Flatten(), fn.Dense(10))
    return {name: (model, fn.init(model, fn.key(0), in_shape=shape, dtype=dtype), shape)
            for name, model, shape in (("mlp", mlp, (784,)), ("cnn", cnn, (28, 28, 1)))}


def run_exported(*, batches: list[int], threads: int, runs: int, samples: int, dtype: str) -> list[dict[str, Any]]:
    """Samples/s of fn.predict, onnxruntime (and torch) on each exported model, interleaved per batch size."""
    import importlib

    import onnxruntime as ort  # type: ignore[import-untyped]

    import funcnn as fn
    from funcnn.export import to_onnx, to_torch

    torch: Any = importlib.import_module("torch") if has_module("torch") else None
    if torch is None:
        print("PyTorch not installed: torch column skipped (pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu)")
    results = []
    rng = np.random.default_rng(0)
    for name, (model, params, shape) in exported_models(DTYPES[dtype]).items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        session = ort.InferenceSession(to_onnx(model, params, shape).SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        net = to_torch(model, params, shape) if torch is not None else None
        for batch in batches:
            n = max(batch, min(samples, 256 * batch))  # batch 1: fewer samples, so a pass stays short
            x = rng.standard_normal((n, *shape)).astype(DTYPES[dtype])
            xt = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x
            chunks = [x[i : i + batch] for i in range(0, n, batch)]

            def funcnn_pass(m: Any = model, p: Any = params, cs: list[Any] = chunks) -> object:
                return [fn.predict(m, p, c) for c in cs]

            def onnx_pass(s: Any = session, cs: list[Any] = chunks) -> object:
                return [s.run(["y"], {"x": c}) for c in cs]

            contestants: dict[str, Callable[[], object]] = {"funcnn": funcnn_pass, "onnxruntime": onnx_pass}
            if net is not None and torch is not None:
                tchunks = [torch.from_numpy(xt[i : i + batch]) for i in range(0, n, batch)]

                def torch_pass(net: Any = net, tchunks: list[Any] = tchunks) -> object:
                    with torch.inference_mode():
                        return [net(c) for c in tchunks]

                contestants["torch"] = torch_pass
            with limit_threads(threads) as note:
                if torch is not None:
                    torch.set_num_threads(threads)
                wall, _ = interleave(contestants, runs=runs, warmup=1)
            rates = {k: Stats.of([n / t for t in ts]) for k, ts in wall.items()}
            ratios = {peer: statistics.median(wall[peer]) / statistics.median(wall["funcnn"])
                      for peer in wall if peer != "funcnn"}
            print(f"exported {name} {dtype} batch {batch}, {threads} thread{'s' * (threads > 1)}: "
                  f"{n} samples per pass, {runs} passes [{note}]")
            for k, r in rates.items():
                print(f"  {k:<12} {r.median:12,.0f} samples/s (min {r.min:,.0f}, max {r.max:,.0f})")
            print("  funcnn speed relative to: " + ";  ".join(f"{p} {r:.2f}x" for p, r in ratios.items()))
            results.append({"model": name, "dtype": dtype, "batch": batch, "threads": threads, "samples": n,
                            "runs": runs, "samples_per_s": {k: v.as_dict() for k, v in rates.items()},
                            "funcnn_speed_ratio": ratios})
    return results


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", nargs="+", type=int, default=[1000])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--dtype", nargs="+", choices=list(DTYPES), default=["float32"])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--contestants", nargs="+", choices=CONTESTANTS, default=list(CONTESTANTS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--exported", action="store_true",
                        help="time the exported MLP and CNN (onnxruntime, torch) against fn.predict")
    args = parser.parse_args(argv)
    if args.exported:
        batches = args.batch if "--batch" in (argv if argv is not None else sys.argv) else [1, 1024]
        results = [r for dtype in args.dtype for threads in args.threads
                   for r in run_exported(batches=batches, threads=threads, runs=args.runs, samples=args.samples,
                                         dtype=dtype)]
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return results

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
