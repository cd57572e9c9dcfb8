"""Start-up time of the command line: ``funcnn --help`` and ``funcnn datasets`` vs ``python -c "import numpy"``.

Each command runs in a fresh process, interleaved, ``--runs`` times; the
median wall time is what we quote (the machine is shared and noisy). The
``funcnn`` script installed beside this interpreter is used, not a shell shim
(pyenv shims add their own start-up).

    python benchmarks/startup.py
    python benchmarks/startup.py --runs 41
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def funcnn_script() -> str:
    beside = Path(sys.executable).with_name("funcnn")
    found = str(beside) if beside.is_file() else shutil.which("funcnn")
    if found is None:
        raise SystemExit("the funcnn command is not installed: pip install -e .")
    return found


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


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
    for command in commands.values():  # warm the file cache
        wall(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(wall(command))
    print(f"{args.runs} runs each, interleaved; {script}")
    for name, samples in times.items():
        print(f"{name:<28} median {statistics.median(samples):.3f} s  (min {min(samples):.3f}, max {max(samples):.3f})")
    ratio = statistics.median(times["funcnn --help"]) / statistics.median(times['python -c "import numpy"'])
    print(f"funcnn --help / import numpy (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
