"""Start-up time of the command line: ``funcnn --help`` and ``funcnn datasets`` vs ``python -c "import numpy"``.

Each command runs in a fresh process, interleaved, ``--runs`` times; the
median wall time is what we quote (the machine is shared and noisy), with the
median CPU time (user + system) beside it, which a busy machine inflates less. The
``funcnn`` script installed beside this interpreter is used, not a shell shim
(pyenv shims add their own start-up).

    python benchmarks/startup.py
    python benchmarks/startup.py --runs 41
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import funcnn_script  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``(wall seconds, CPU seconds)`` of one run of ``command`` (CPU: user + system, of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    script = funcnn_script()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
        "funcnn --help": [script, "--help"],
        "funcnn datasets": [script, "datasets"],
    }
    # An installed package has its bytecode compiled; a checkout may not (PYTHONDONTWRITEBYTECODE), and then
    # every run would compile the sources again. The bytecode goes to a temporary folder, not the checkout.
    cache = tempfile.mkdtemp(prefix="funcnn-startup-pycache-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    for command in commands.values():  # warm the file cache and write the bytecode
        timed(command, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            wall, used = timed(command, env)
            times[name].append(wall)
            cpu[name].append(used)
    print(f"{args.runs} runs each, interleaved; {script}")
    for name, samples in times.items():
        print(
            f"{name:<28} median {statistics.median(samples):.3f} s  (min {min(samples):.3f}, max {max(samples):.3f}); "
            f"CPU median {statistics.median(cpu[name]):.3f} s"
        )
    ratio = statistics.median(times["funcnn --help"]) / statistics.median(times['python -c "import numpy"'])
    print(f"funcnn --help / import numpy (medians): {ratio:.2f}")
    print("(on a busy machine the wall times grow with the load; the CPU times much less)")
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
