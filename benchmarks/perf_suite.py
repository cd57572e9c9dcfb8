"""Performance where users run: the CLI path, convolutions, threads under load, bounded memory (issue 14).

One command runs every section, writes every figure to a JSON file and the
tables to ``docs/performance.md`` (between the ``perf-suite`` markers)::

    python benchmarks/perf_suite.py                  # the full suite (about 15-25 minutes on 2 cores)
    python benchmarks/perf_suite.py --quick          # smaller data, fewer runs (about 5 minutes)
    python benchmarks/perf_suite.py --only mlp_threads cnn_torch --json /tmp/perf.json --no-docs

Sections (``--only`` picks some):

* ``cnn_paths``: the MNIST CNN (conv5-16, pool, conv5-32, pool, 128, 10;
  Adam, batch 64, float32) trained on 8,000 images: ``fn.train`` plain, with
  ``metrics=["accuracy"]`` and validation data (2,000 images), and ``funcnn
  train`` on a 10,000-image ``.npz`` (its 20% validation split, metrics on) and
  on the same images tiled to 60,000. Epoch seconds and the peak RSS of each
  process (one fresh process each).
* ``eval_memory``: ``fn.evaluate`` and ``fn.predict`` of the CNN on 60,000
  images, and ``funcnn evaluate`` / ``funcnn predict`` on the 60,000-image
  file: peak RSS and seconds.
* ``mlp_threads``: the 784-256-128-10 MLP epoch (SGD and Adam) at funcnn's
  default thread policy, at 1 and at 2 BLAS threads, idle and with one other
  process spinning on a core (the background load).
* ``mlp_peers``: the MLP epoch against PyTorch and scikit-learn at 1 and 2
  threads (interleaved, ``mlp_compare.run_config``).
* ``jax``: the MLP epoch against JAX (``jax.jit`` of a whole epoch as one
  ``lax.scan``, optax SGD/Adam) at 1 thread; skipped when JAX is missing.
* ``cnn_torch``: the CNN epoch against PyTorch at 1 thread (interleaved).

Timings are wall-clock seconds, reported as median, min and max over the
runs; ratios are ratios of medians from one run of the suite (contestants
interleaved, so a change in the machine's load hits both alike). Peers that are
not installed are skipped with a note. Not a test: figures depend on the
machine and its load; the JSON records the load average at the start.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOCS = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- perf-suite:begin -->", "<!-- perf-suite:end -->"
SECTIONS = ("cnn_paths", "eval_memory", "mlp_threads", "mlp_peers", "jax", "cnn_torch")


def stats(samples: Sequence[float]) -> dict[str, float]:
    """``{"median", "min", "max", "n"}`` of a list of samples."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "n": len(samples)}


def shown(s: dict[str, float], digits: int = 3) -> str:
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


# --- child processes: each measures one thing in a fresh process --------------------------------


def _peak_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cnn_model() -> Any:
    import funcnn as fn

    return fn.Sequential(
        fn.Conv2D(16, 5), fn.ReLU(), fn.MaxPool2D(2), fn.Conv2D(32, 5), fn.ReLU(), fn.MaxPool2D(2),
        fn.Flatten(), fn.Dense(128), fn.ReLU(), fn.Dense(10),
    )


def _images(n: int, seed: int = 0) -> tuple[Any, Any]:
    """``n`` MNIST-shaped float32 images in [0, 1) and labels (an epoch's time does not depend on the values)."""
    import numpy as np

    g = np.random.default_rng(seed)
    return g.random((n, 28, 28, 1), dtype=np.float32), g.integers(0, 10, size=n)


def child_lib_cnn(n_train: int, n_val: int, epochs: int, full: bool) -> dict[str, Any]:
    import numpy as np

    import funcnn as fn

    x, y = _images(n_train)
    xv, yv = _images(n_val, seed=1)
    model = _cnn_model()
    params = fn.init(model, fn.key(0), in_shape=(28, 28, 1), dtype=np.float32)
    ticks = [time.perf_counter()]
    extra: dict[str, Any] = {"metrics": ["accuracy"], "validation": (xv, yv)} if full else {}
    fn.train(model, params, x, y, loss=fn.CategoricalCrossEntropy(from_logits=True), optimizer=fn.adam(1e-3),
             epochs=epochs, batch_size=64, key=fn.key(1), observer=lambda s: ticks.append(time.perf_counter()),
             **extra)
    seconds = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    return {"epoch_seconds": seconds, "peak_mib": _peak_mib(), "data_mib": (x.nbytes + xv.nbytes * full) / 2**20}


def child_lib_interleaved(n_train: int, n_val: int, runs: int) -> dict[str, Any]:
    """Epoch seconds of ``fn.train_epochs`` plain and with metrics and validation, interleaved in one process."""
    sys.path.insert(0, str(HERE))
    import numpy as np
    from _common import interleave

    import funcnn as fn

    x, y = _images(n_train)
    xv, yv = _images(n_val, seed=1)
    model = _cnn_model()
    params = fn.init(model, fn.key(0), in_shape=(28, 28, 1), dtype=np.float32)
    loss = fn.CategoricalCrossEntropy(from_logits=True)
    plain = fn.TrainState.create(model, params, loss=loss, optimizer=fn.adam(1e-3), key=fn.key(1), batch_size=64)
    full = fn.TrainState.create(model, params, loss=loss, optimizer=fn.adam(1e-3), key=fn.key(1), batch_size=64,
                                metrics=["accuracy"])
    runs_of = {
        "plain": fn.train_epochs(plain, x, y, epochs=10_000),
        "metrics+validation": fn.train_epochs(full, x, y, epochs=10_000, validation=(xv, yv)),
    }
    contestants: dict[str, Callable[[], object]] = {k: functools.partial(next, it) for k, it in runs_of.items()}
    wall, cpu = interleave(contestants, runs=runs)
    return {
        "wall": {k: stats(v) for k, v in wall.items()}, "cpu": {k: stats(v) for k, v in cpu.items()},
        "ratio": statistics.median(wall["metrics+validation"]) / statistics.median(wall["plain"]),
        "ratio_cpu": statistics.median(cpu["metrics+validation"]) / statistics.median(cpu["plain"]),
    }


def child_eval_cnn(n: int, what: str) -> dict[str, Any]:
    import numpy as np

    import funcnn as fn

    x, y = _images(n)
    model = _cnn_model()
    params = fn.init(model, fn.key(0), in_shape=(28, 28, 1), dtype=np.float32)
    start = time.perf_counter()
    if what == "evaluate":
        fn.evaluate(model, params, x, y, loss=fn.CategoricalCrossEntropy(from_logits=True))
    else:
        fn.predict(model, params, x)
    return {"seconds": time.perf_counter() - start, "peak_mib": _peak_mib(), "data_mib": x.nbytes / 2**20}


def _spinner() -> subprocess.Popen[bytes]:
    """One other process spinning on a core: the background load."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def child_mlp_threads(optimizer: str, samples: int, runs: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import _mlp
    import numpy as np
    from _common import interleave

    import funcnn as fn

    x, y = _mlp.synthetic_data(samples, np.float32)
    setups: dict[str, int | None | str] = {"default": "policy", "1 thread": 1, "2 threads": 2}
    benches = {name: _mlp.make("funcnn", x, y, optimizer=optimizer, batch=128) for name in setups}

    def under(name: str) -> Callable[[], None]:
        n = setups[name]

        def run() -> None:
            if n == "policy":
                benches[name].epoch()
                return
            with fn.threads(n if isinstance(n, int) else None):
                benches[name].epoch()

        return run

    contestants = {name: under(name) for name in setups}
    out: dict[str, Any] = {}
    idle, idle_cpu = interleave(contestants, runs=runs)
    out["idle"] = {name: stats(v) for name, v in idle.items()}
    out["idle_cpu"] = {name: stats(v) for name, v in idle_cpu.items()}
    spin = _spinner()
    try:
        time.sleep(0.5)
        loaded, loaded_cpu = interleave(contestants, runs=runs)
    finally:
        spin.kill()
        spin.wait()
    out["loaded"] = {name: stats(v) for name, v in loaded.items()}
    out["loaded_cpu"] = {name: stats(v) for name, v in loaded_cpu.items()}
    one = statistics.median(idle["1 thread"])
    out["ratios_to_idle_1_thread"] = {
        f"{state} {name}": statistics.median(times[name]) / one
        for state, times in (("idle", idle), ("loaded", loaded)) for name in setups
    }
    return out


def child_mlp_peers(optimizer: str, threads: int, samples: int, runs: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import io

    import _mlp
    import mlp_compare
    import numpy as np

    names = _mlp.available()
    mlp_compare.import_peers(names)
    x, y = _mlp.synthetic_data(samples, np.float32)
    result = mlp_compare.run_config(names, x, y, optimizer=optimizer, batch=128, threads=threads, runs=runs,
                                    out=io.StringIO())
    result["missing"] = _mlp.missing_note(names)
    return result


def child_jax(optimizer: str, samples: int, runs: int) -> dict[str, Any]:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    sys.path.insert(0, str(HERE))
    import _mlp
    import numpy as np
    from _common import interleave, limit_threads

    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError as e:
        return {"skipped": f"JAX not installed ({e.name}): pip install jax jaxlib optax"}
    batch = 128
    n = samples - samples % batch  # a scan needs equal batches: every contestant gets the same n
    x, y = _mlp.synthetic_data(n, np.float32)
    weights = _mlp.initial_weights(np.float32)
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights]
    opt = optax.sgd(_mlp.lr_of(optimizer)) if optimizer == "sgd" else optax.adam(_mlp.lr_of(optimizer))
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def cost(p: Any, xb: Any, yb: Any) -> Any:
        h = xb
        for w, b in p[:-1]:
            h = jax.nn.relu(h @ w + b)
        logits = h @ p[-1][0] + p[-1][1]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def epoch(p: Any, state: Any, key: Any) -> Any:
        order = jax.random.permutation(key, n).reshape(-1, batch)

        def step(carry: Any, idx: Any) -> Any:
            p, state = carry
            value, grads = jax.value_and_grad(cost)(p, xj[idx], yj[idx])
            updates, state = opt.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), value

        (p, state), values = jax.lax.scan(step, (p, state), order)
        return p, state, values.mean()

    box = {"p": params, "s": opt.init(params), "k": jax.random.PRNGKey(0)}

    def jax_epoch() -> None:
        box["k"], sub = jax.random.split(box["k"])
        box["p"], box["s"], c = epoch(box["p"], box["s"], sub)
        c.block_until_ready()

    from profile_epoch import gemm_replay

    with limit_threads(1):
        fb = _mlp.make("funcnn", x, y, optimizer=optimizer, batch=batch)
        # The epoch's matrix products alone in numpy's BLAS (same shapes and layouts, nothing else):
        # a floor for any numpy implementation of the epoch, to set beside JAX's whole epoch.
        contestants = {"funcnn": fb.epoch, "jax": jax_epoch, "gemm": gemm_replay(x, batch)}
        wall, _ = interleave(contestants, runs=runs)
    return {
        "samples": n, "jax": jax.__version__, "optax": optax.__version__,
        "funcnn": stats(wall["funcnn"]), "jax_epoch": stats(wall["jax"]), "gemm_replay": stats(wall["gemm"]),
        "ratio": statistics.median(wall["funcnn"]) / statistics.median(wall["jax"]),
        "ratio_gemm": statistics.median(wall["gemm"]) / statistics.median(wall["jax"]),
    }


def child_cnn_torch(n: int, runs: int) -> dict[str, Any]:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    sys.path.insert(0, str(HERE))
    import cnn_epoch
    from _common import has_module, interleave, limit_threads

    args = cnn_epoch.parse_args(["--n", str(n), "--threads", "1"])
    funcnn_epoch, opt_name = cnn_epoch.funcnn_runner(args)
    contestants: dict[str, Callable[[], object]] = {"funcnn": funcnn_epoch}
    out: dict[str, Any] = {"images": n, "optimizer": opt_name}
    if has_module("torch"):
        torch_epoch, label = cnn_epoch.torch_runner(args)
        contestants["torch"] = torch_epoch
        out["torch_version"] = label
    else:
        out["skipped"] = "PyTorch not installed: pip install torch"
    with limit_threads(1):
        wall, cpu = interleave(contestants, runs=runs)
    out.update({name: stats(v) for name, v in wall.items()})
    out["cpu"] = {name: stats(v) for name, v in cpu.items()}
    if "torch" in wall:
        out["ratio"] = statistics.median(wall["funcnn"]) / statistics.median(wall["torch"])
        out["ratio_cpu"] = statistics.median(cpu["funcnn"]) / statistics.median(cpu["torch"])
    return out


def child_cnn_torch_alone(n: int, runs: int) -> dict[str, Any]:
    """PyTorch's CNN epoch in a process where funcnn never ran: glibc's heap as PyTorch users have it."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    sys.path.insert(0, str(HERE))
    import cnn_epoch
    from _common import has_module, interleave

    if not has_module("torch"):
        return {"skipped": "PyTorch not installed: pip install torch"}
    args = cnn_epoch.parse_args(["--n", str(n), "--threads", "1"])
    torch_epoch, label = cnn_epoch.torch_runner(args)
    wall, cpu = interleave({"torch": torch_epoch}, runs=runs)
    return {"images": n, "torch_version": label, "torch": stats(wall["torch"]), "cpu": stats(cpu["torch"])}


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "lib_cnn": child_lib_cnn, "lib_interleaved": child_lib_interleaved, "eval_cnn": child_eval_cnn,
    "mlp_threads": child_mlp_threads,
    "mlp_peers": child_mlp_peers, "jax": child_jax, "cnn_torch": child_cnn_torch,
    "cnn_torch_alone": child_cnn_torch_alone,
}


def in_child(name: str, **kwargs: Any) -> dict[str, Any]:
    """Run ``CHILDREN[name](**kwargs)`` in a fresh Python process; its JSON result."""
    proc = subprocess.run([sys.executable, __file__, "--child", name, json.dumps(kwargs)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- the command line, measured from outside ------------------------------------------------------


def run_cli(args: list[str]) -> dict[str, Any]:
    """Run ``funcnn ARGS`` in a child process: its wall seconds, peak RSS and exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "funcnn", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    out: dict[str, Any] = {
        "seconds": seconds, "peak_mib": usage.ru_maxrss / 1024, "exit": os.waitstatus_to_exitcode(status)
    }
    if out["exit"] != 0:
        out["error"] = err.strip().splitlines()[-1] if err.strip() else ""
    return out


def epoch_seconds(run_dir: Path) -> list[float]:
    lines = (run_dir / "history.csv").read_text().splitlines()
    at = lines[0].split(",").index("seconds")
    return [float(line.split(",")[at]) for line in lines[1:]]


def save_images(path: Path, n: int, tile_from: int | None = None) -> None:
    import numpy as np

    g = np.random.default_rng(0)
    base = tile_from or n
    x = (g.random((base, 28, 28, 1)) * 255).astype(np.uint8)
    y = g.integers(0, 10, size=base)
    if tile_from:
        reps = -(-n // base)
        x, y = np.tile(x, (reps, 1, 1, 1))[:n], np.tile(y, reps)[:n]
    np.savez(path, x=x, y=y)


# --- sections -------------------------------------------------------------------------------------


def section_cnn_paths(q: bool, tmp: Path) -> dict[str, Any]:
    n, epochs, rounds = (2_000, 2, 2) if q else (10_000, 2, 3)
    n_train, n_val = int(n * 0.8), n - int(n * 0.8)
    out: dict[str, Any] = {"images": n, "epochs": epochs, "rounds": rounds}
    # Epoch time of the two library paths: interleaved in one process, so the load hits both alike.
    r = in_child("lib_interleaved", n_train=n_train, n_val=n_val, runs=3 if q else 5)
    out["library interleaved"] = r
    if "error" not in r:
        out["ratio_full_to_plain"] = r["ratio"]
        print(f"  library: plain {shown(r['wall']['plain'])} s, metrics+validation "
              f"{shown(r['wall']['metrics+validation'])} s; ratio {r['ratio']:.2f} (CPU time {r['ratio_cpu']:.2f})",
              flush=True)
    # Peak RSS of each path, one fresh process each; the command line alternates with the plain library
    # run round by round, and each round's ratio of epoch medians is kept.
    import funcnn as fn

    # The CLI reads the same model the library runs: one spec, written out as its config.
    (tmp / "cnn.json").write_text(json.dumps(fn.to_config(_cnn_model())))
    data = tmp / f"images{n}.npz"
    save_images(data, n)
    full = in_child("lib_cnn", n_train=n_train, n_val=n_val, epochs=epochs, full=True)
    out["library metrics+validation"] = full
    plain_runs: list[dict[str, Any]] = []
    cli_runs: list[dict[str, Any]] = []
    for i in range(rounds):
        plain = in_child("lib_cnn", n_train=n_train, n_val=n_val, epochs=epochs, full=False)
        run = tmp / f"run{n}-{i}"
        cli = run_cli(["train", "--model", str(tmp / "cnn.json"), "--data", str(data), "--batch-size", "64",
                       "--optimizer", "adam", "--lr", "0.001", "--epochs", str(epochs), "--out", str(run),
                       "--quiet", "--no-plot"])
        if cli["exit"] == 0:
            cli["epoch_seconds"] = epoch_seconds(run)
        plain_runs.append(plain)
        cli_runs.append(cli)
    if all("error" not in p for p in plain_runs) and all(c["exit"] == 0 for c in cli_runs):
        ratios = [statistics.median(c["epoch_seconds"]) / statistics.median(p["epoch_seconds"])
                  for p, c in zip(plain_runs, cli_runs, strict=True)]
        out["ratio_cli_to_plain"] = statistics.median(ratios)
        out["ratio_cli_to_plain_rounds"] = stats(ratios)
        out["library plain"] = {"epoch": stats([t for p in plain_runs for t in p["epoch_seconds"]]),
                                "peak_mib": max(p["peak_mib"] for p in plain_runs)}
        out["cli"] = {"epoch": stats([t for c in cli_runs for t in c["epoch_seconds"]]),
                      "peak_mib": max(c["peak_mib"] for c in cli_runs)}
    else:
        out["library plain"], out["cli"] = plain_runs[-1], cli_runs[-1]
    if "epoch_seconds" in full:
        out["library metrics+validation"]["epoch"] = stats(full["epoch_seconds"])
    # The same images tiled to 6n: memory must follow the batch, not the data.
    big = tmp / f"images{6 * n}.npz"
    save_images(big, 6 * n, tile_from=n)
    run = tmp / f"run{6 * n}"
    tiled = run_cli(["train", "--model", str(tmp / "cnn.json"), "--data", str(big), "--batch-size", "64",
                     "--optimizer", "adam", "--lr", "0.001", "--epochs", "1", "--out", str(run), "--quiet",
                     "--no-plot"])
    if tiled["exit"] == 0:
        tiled["epoch"] = stats(epoch_seconds(run))
    out["cli tiled x6"] = tiled
    for label in ("library plain", "library metrics+validation", "cli", "cli tiled x6"):
        v = out[label]
        took = v.get("error") or (shown(v["epoch"]) + " s/epoch" if "epoch" in v else "")
        print(f"  {label:<30} {took}  peak {v.get('peak_mib', float('nan')):.0f} MiB", flush=True)
    if "ratio_cli_to_plain" in out:
        print(f"  cli / library plain (median of {rounds} rounds): {out['ratio_cli_to_plain']:.2f}", flush=True)
    return out


def section_eval_memory(q: bool, tmp: Path) -> dict[str, Any]:
    n = 12_000 if q else 60_000
    out: dict[str, Any] = {"images": n}
    for what in ("evaluate", "predict"):
        r = in_child("eval_cnn", n=n, what=what)
        out[f"library {what}"] = r
        took = r.get("error") or f"{r['seconds']:.2f} s"
        print(f"  library {what:<22} {took}  peak {r.get('peak_mib', 0):.0f} MiB (data {r.get('data_mib', 0):.0f} MiB)",
              flush=True)
    run = tmp / f"run{6 * (2_000 if q else 10_000)}"  # trained by section_cnn_paths
    data = tmp / f"images{n}.npz"
    if not data.exists():
        save_images(data, n, tile_from=n // 6)
    if run.exists():
        for what, args in (("evaluate", ["evaluate", str(run), "--data", str(data), "--split", "all"]),
                           ("predict", ["predict", str(run), str(data), "--output", str(tmp / "pred.csv"),
                                        "--force"])):
            r = run_cli(args)
            out[f"cli {what}"] = r
            took = r.get("error") or f"{r['seconds']:.2f} s"
            print(f"  cli {what:<26} {took}  peak {r['peak_mib']:.0f} MiB", flush=True)
    else:
        out["cli"] = "skipped: needs the run folder of the cnn_paths section"
    return out


def section_mlp_threads(q: bool) -> dict[str, Any]:
    samples, runs = (12_000, 3) if q else (60_000, 5)
    out: dict[str, Any] = {"samples": samples, "runs": runs}
    for opt in ("sgd", "adam"):
        r = in_child("mlp_threads", optimizer=opt, samples=samples, runs=runs)
        out[opt] = r
        if "error" in r:
            print(f"  {opt}: {r['error']}")
            continue
        for state in ("idle", "loaded"):
            row = "  ".join(f"{k} {shown(v)}" for k, v in r[state].items())
            print(f"  {opt:<5} {state:<7} {row}", flush=True)
    return out


def section_mlp_peers(q: bool) -> dict[str, Any]:
    samples, runs = (12_000, 3) if q else (60_000, 5)
    out: dict[str, Any] = {"samples": samples, "runs": runs}
    for opt in ("sgd", "adam"):
        for threads in (1, 2):
            r = in_child("mlp_peers", optimizer=opt, threads=threads, samples=samples, runs=runs)
            out[f"{opt} {threads}"] = r
            ratios = r.get("ratios", {})
            shown_ratios = "  ".join(f"funcnn/{k} {v['median']:.2f}" for k, v in ratios.items())
            print(f"  {opt:<5} {threads} thread(s)  {r.get('error') or shown_ratios}", flush=True)
    return out


def section_jax(q: bool) -> dict[str, Any]:
    samples, runs = (12_000, 3) if q else (60_000, 5)
    out: dict[str, Any] = {}
    for opt in ("sgd", "adam"):
        r = in_child("jax", optimizer=opt, samples=samples, runs=runs)
        out[opt] = r
        text = r.get("error") or r.get("skipped") or f"funcnn/jax {r['ratio']:.2f}"
        print(f"  {opt:<5} {text}", flush=True)
    return out


def section_cnn_torch(q: bool) -> dict[str, Any]:
    n, runs = (2_000, 3) if q else (8_000, 5)
    r = in_child("cnn_torch", n=n, runs=runs)
    text = r.get("error") or r.get("skipped") or f"funcnn/torch {r['ratio']:.2f} (cpu time {r['ratio_cpu']:.2f})"
    print(f"  {text}", flush=True)
    if "ratio" in r:
        # In the interleaved process PyTorch profits from funcnn's heap hint too (funcnn.thread_policy);
        # alone in a fresh process it runs with glibc's heap as its users have it (not interleaved).
        alone = in_child("cnn_torch_alone", n=n, runs=runs)
        r["torch_alone"] = alone
        if "torch" in alone:
            r["ratio_alone"] = r["funcnn"]["median"] / alone["torch"]["median"]
            print(f"  funcnn/torch alone in a fresh process {r['ratio_alone']:.2f} (not interleaved)", flush=True)
    return r


# --- the report -----------------------------------------------------------------------------------


def _row(label: str, r: dict[str, Any], key: str = "epoch") -> str:
    if "error" in r:
        return f"| {label} | error: {r['error']} | |"
    value = shown(r[key]) if key in r else f"{r.get('seconds', float('nan')):.2f}"
    return f"| {label} | {value} | {r.get('peak_mib', float('nan')):.0f} |"


def markdown(results: dict[str, Any], command: str) -> str:
    """The tables of ``docs/performance.md`` from the suite's results."""
    lines = [
        BEGIN,
        f"Measured by `{command}` on {results['when']} ({results['machine']}; load average "
        f"{results['load_before']} at the start: {results['note']}). Seconds are median (min-max) over the runs.",
        "",
    ]
    if "cnn_paths" in results:
        r = results["cnn_paths"]
        lines += ["### The CNN: library path and command line", "",
                  f"{r['images']} images (80% trained on, 20% validation where used), batch 64, Adam, float32.", "",
                  "| path | epoch seconds | peak RSS (MiB) |", "|---|---|---|"]
        for label in ("library plain", "library metrics+validation", "cli", "cli tiled x6"):
            if label in r:
                lines.append(_row(label, r[label]))
        inter = r.get("library interleaved", {})
        if "wall" in inter:
            wall = inter["wall"]
            lines += ["", "Interleaved in one process (epoch seconds, the load hitting both alike): plain "
                      f"{shown(wall['plain'])}, metrics+validation {shown(wall['metrics+validation'])}; "
                      f"CPU-time ratio {inter['ratio_cpu']:.2f}."]
        if "ratio_cli_to_plain_rounds" in r:
            lines += ["", f"The command line alternated with the plain library run, {r['rounds']} rounds; per-round "
                      f"ratios {shown(r['ratio_cli_to_plain_rounds'], 2)}."]
        for k in ("ratio_full_to_plain", "ratio_cli_to_plain"):
            if k in r:
                lines.append(f"\n{k.replace('_', ' ')}: **{r[k]:.2f}** (target <= 1.15)")
        lines.append("")
    if "eval_memory" in results:
        r = results["eval_memory"]
        lines += ["### Evaluation memory", "", f"{r['images']} images through the CNN.", "",
                  "| what | seconds | peak RSS (MiB) |", "|---|---|---|"]
        for label, v in r.items():
            if isinstance(v, dict):
                lines.append(_row(label, v, key="_"))
        lines.append("")
    if "mlp_threads" in results:
        r = results["mlp_threads"]
        lines += ["### Threads under load (MLP 784-256-128-10, batch 128, float32)", "",
                  "Background load: one more process spinning on a core, started by the suite (\"idle\" means "
                  "without it; other programs on the machine run in both columns).", "",
                  "Wall seconds per epoch; CPU seconds of the process beside them (CPU time above wall time "
                  "is threads spinning).", "",
                  "| optimizer | setting | idle wall | loaded wall | loaded CPU | loaded wall / idle 1 thread |",
                  "|---|---|---|---|---|---|"]
        for opt in ("sgd", "adam"):
            if opt not in r or "error" in r[opt]:
                continue
            for name in r[opt]["idle"]:
                ratio = r[opt]["ratios_to_idle_1_thread"][f"loaded {name}"]
                lines.append(f"| {opt} | {name} | {shown(r[opt]['idle'][name])} | {shown(r[opt]['loaded'][name])} "
                             f"| {shown(r[opt]['loaded_cpu'][name])} | {ratio:.2f} |")
        lines.append("")
    if "mlp_peers" in results:
        r = results["mlp_peers"]
        lines += ["### MLP epoch against peers (ratios of medians, funcnn / peer)", "",
                  "| optimizer | threads | funcnn s | ratios |", "|---|---|---|---|"]
        for key, v in r.items():
            if not isinstance(v, dict) or "times" not in v:
                continue
            opt, threads = key.split()
            ratios = ", ".join(f"{k} {x['median']:.2f}" for k, x in v.get("ratios", {}).items())
            lines.append(f"| {opt} | {threads} | {shown(v['times']['funcnn'])} | {ratios} |")
        lines.append("")
    if "jax" in results:
        lines += ["### MLP epoch against JAX (1 thread; `jax.jit` of the whole epoch in one `lax.scan`)", "",
                  "*Products alone*: the epoch's matrix products in numpy's BLAS and nothing else",
                  "(`profile_epoch.gemm_replay`), a floor for any numpy implementation.", "",
                  "| optimizer | funcnn s | JAX s | products alone s | funcnn / JAX | products alone / JAX |",
                  "|---|---|---|---|---|---|"]
        for opt, v in results["jax"].items():
            if "ratio" in v and "gemm_replay" in v:
                lines.append(f"| {opt} | {shown(v['funcnn'])} | {shown(v['jax_epoch'])} | {shown(v['gemm_replay'])} "
                             f"| {v['ratio']:.2f} | {v['ratio_gemm']:.2f} |")
            elif "ratio" in v:  # a results file from before the products were timed
                lines.append(f"| {opt} | {shown(v['funcnn'])} | {shown(v['jax_epoch'])} | | {v['ratio']:.2f} | |")
            else:
                lines.append(f"| {opt} | {v.get('skipped') or v.get('error')} | | | | |")
        lines.append("")
    if "cnn_torch" in results:
        v = results["cnn_torch"]
        lines += ["### CNN epoch against PyTorch (1 thread)", ""]
        if "ratio" in v:
            lines += ["| | funcnn s | PyTorch s | funcnn / PyTorch |", "|---|---|---|---|",
                      f"| wall | {shown(v['funcnn'])} | {shown(v['torch'])} | {v['ratio']:.2f} |",
                      f"| CPU | {shown(v['cpu']['funcnn'])} | {shown(v['cpu']['torch'])} | {v['ratio_cpu']:.2f} |"]
            if "ratio_alone" in v:
                lines += [f"| wall, PyTorch alone in a fresh process | {shown(v['funcnn'])} "
                          f"| {shown(v['torch_alone']['torch'])} | {v['ratio_alone']:.2f} |", "",
                          "In the interleaved process PyTorch profits from funcnn's heap hint too (see *The heap* "
                          "above); the last row times it alone in a process where funcnn never ran, as its users "
                          "run it (one after the other, not interleaved: a rougher ratio)."]
        else:
            lines.append(str(v.get("skipped") or v.get("error")))
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def write_docs(text: str, path: Path = DOCS) -> None:
    """Replace the perf-suite section of ``path`` (appended under a heading the first time)."""
    old = path.read_text() if path.exists() else "# Performance\n"
    if BEGIN in old and END in old:
        new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: text, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n## Where users run (benchmarks/perf_suite.py)\n\n" + text + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer runs (a smoke run)")
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "perf_suite.json",
                        help="write every figure here (default: benchmarks/results/perf_suite.json)")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--note", default="taken while other processes shared the machine",
                        help="a line about the machine's state, printed with the figures")
    parser.add_argument("--docs-from", type=Path, metavar="JSON",
                        help="only rewrite the docs tables from a results file of an earlier run")
    parser.add_argument("--child", nargs=2, metavar=("NAME", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](**json.loads(args.child[1]))))
        return {}
    if args.docs_from:
        saved: dict[str, Any] = json.loads(args.docs_from.read_text())
        write_docs(markdown(saved, saved["command"]))
        print(f"updated {DOCS} from {args.docs_from}")
        return saved
    chosen = args.only or list(SECTIONS)
    command = "python benchmarks/perf_suite.py" + (" --quick" if args.quick else "") + (
        f" --only {' '.join(chosen)}" if args.only else "")
    results: dict[str, Any] = {
        "command": command, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()), "note": args.note,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in chosen:
            print(f"\n=== {name} " + "=" * (70 - len(name)), flush=True)
            section = globals()[f"section_{name}"]
            results[name] = section(args.quick, tmp) if name in ("cnn_paths", "eval_memory") else section(args.quick)
    results["seconds"] = time.perf_counter() - started
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.json} ({results['seconds']:.0f} s)")
    if not args.no_docs:
        write_docs(markdown(results, command))
        print(f"updated {DOCS}")
    return results


if __name__ == "__main__":
    main()
