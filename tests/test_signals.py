"""The installed ``funcnn`` executable under SIGTERM, early Ctrl-C, and two processes claiming one folder.

Real processes, like the SIGINT test in ``test_cli_process.py`` (issue 12, items 3, 5 and 6).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_processes import assert_saved_on_interrupt, finish, start, wait_for_epochs

import funcnn
import funcnn_cli
from funcnn.io.checkpoint import checkpoint_info
from funcnn.io.layout import LOCK


def test_sigterm_saves_the_last_epoch_and_exits_143(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start("train", "--epochs", "100000", "--out", str(out))
    try:
        wait_for_epochs(proc, out / "history.csv", 2)
        proc.send_signal(signal.SIGTERM)
    finally:
        stdout, stderr = finish(proc)
    assert proc.returncode == 143, (stdout, stderr)
    assert_saved_on_interrupt(out, stderr, 100000, at_least=2)
    assert not (out / LOCK).exists()


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.08, 0.15, 0.3, 0.6])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_early_interrupt_never_prints_a_traceback(tmp_path: Path, delay: float, signum: int) -> None:
    proc = start("train", "--epochs", "3", "--out", str(tmp_path / "run"), "--no-plot")
    time.sleep(delay)
    proc.send_signal(signum)
    stdout, stderr = finish(proc)
    if "Traceback" in stderr and not _frames_of_funcnn(stderr):
        # The interrupt came before funcnn's first statement ran: the interpreter was still starting (running
        # the .pth files of site-packages, or the launcher's import machinery looking for funcnn_cli). That is
        # Python's own start-up, out of any Python program's reach; from cli/entry.py's first line on, the
        # handlers hold and no traceback may appear.
        assert proc.returncode in (1, -signum), (proc.returncode, stderr)
        return
    assert "Traceback" not in stderr, stderr
    # Exit 128 + signal once Python runs funcnn's code; killed by the signal itself (a negative code) if it came
    # while the interpreter itself was starting; 0 if the short run had already finished.
    assert proc.returncode in (0, 128 + signum, -signum), (proc.returncode, stderr)


SIGNAL_WHILE_SWITCHING = """
import signal
from funcnn_cli import entry
from funcnn_cli.signals import Interrupted, install

install()
real = signal.getsignal
calls = []

def getsignal(signum):
    calls.append(signum)
    if len(calls) == 1:  # SIGTERM arrives just as the finished command switches to the default actions
        raise Interrupted(signal.SIGTERM)
    return real(signum)

signal.getsignal = getsignal
entry._default_actions()
print("not reached")
"""


def test_a_signal_while_the_handlers_are_switched_at_the_end_leaves_quietly() -> None:
    # The window CI once hit: the run had finished (SystemExit 0 on its way out) when SIGTERM came, during
    # the switch to the default actions, and a traceback was printed.
    proc = subprocess.run([sys.executable, "-c", SIGNAL_WHILE_SWITCHING], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (143, "", "interrupted\n")


LOST_IN_A_CALLBACK = """
import os, signal, sys, time, weakref
from funcnn_cli.signals import Interrupted, install

install()
where = sys.argv[1]

class Holder:
    def __del__(self):
        if where == "__del__":
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs inside __del__, where Python cannot raise

def callback(ref):
    os.kill(os.getpid(), signal.SIGTERM)  # the handler runs inside the weakref callback

holder = Holder()
ref = weakref.ref(holder, callback if where == "weakref" else None)
try:
    del holder
    for _ in range(200):
        time.sleep(0.01)
    print("interrupt lost")
except Interrupted as e:
    print("interrupted", e.signum)
"""


@pytest.mark.parametrize("where", ["weakref", "__del__"])
def test_an_interrupt_python_swallows_in_a_callback_is_raised_again(where: str) -> None:
    # CI once hit it: SIGINT came while the import system ran a module lock's weakref callback; the
    # exception was printed as "Exception ignored in ..." and the run went on as if nothing had come.
    proc = subprocess.run(
        [sys.executable, "-c", LOST_IN_A_CALLBACK, where], capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"interrupted {int(signal.SIGTERM)}\n", "")


LOST_BEFORE_A_WRITE = """
import os, signal, time, weakref
from funcnn_cli import signals

signals.install()
signals.REDELIVERY_DELAY = 0.1  # time enough to enter the write below before the signal is sent again

class Holder:
    pass

holder = Holder()
ref = weakref.ref(holder, lambda ref: os.kill(os.getpid(), signal.SIGTERM))
try:
    del holder  # SIGTERM lost in the callback; sent again in 0.1 s
    with signals.deferred():
        time.sleep(0.3)  # writing a file: the signal comes back meanwhile and is held until the block ends
        print("write finished")
    print("interrupt lost")
except signals.Interrupted as e:
    print("interrupted", e.signum)
"""


def test_an_interrupt_raised_again_waits_for_a_file_being_written() -> None:
    proc = subprocess.run([sys.executable, "-c", LOST_BEFORE_A_WRITE], capture_output=True, text=True, timeout=60)
    expected = f"write finished\ninterrupted {int(signal.SIGTERM)}\n"
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, expected, "")


OTHER_UNRAISABLE = """
import weakref
from funcnn_cli.signals import install

install()

class Holder:
    pass

def callback(ref):
    raise ValueError("a bug in a callback")

holder = Holder()
ref = weakref.ref(holder, callback)
del holder
print("went on")
"""


def test_other_exceptions_in_callbacks_are_still_reported_by_python() -> None:
    proc = subprocess.run([sys.executable, "-c", OTHER_UNRAISABLE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "went on\n"
    assert "Exception ignored in" in proc.stderr and "ValueError: a bug in a callback" in proc.stderr


SIGNAL_DURING_THE_HOOK = """
import signal, time
from funcnn_cli import signals

signals.install()
hook = signals._redelivery
assert hook is not None
hook.in_hook = True  # as if SIGINT came while the hook itself was running
signal.raise_signal(signal.SIGINT)
time.sleep(0.05)  # the timer fires meanwhile, sees the hook still running, and waits
hook.in_hook = False
try:
    for _ in range(200):
        time.sleep(0.01)
    print("interrupt lost")
except signals.Interrupted as e:
    print("interrupted", e.signum)
"""


def test_a_signal_during_the_hook_itself_is_kept_for_later() -> None:
    proc = subprocess.run([sys.executable, "-c", SIGNAL_DURING_THE_HOOK], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"interrupted {int(signal.SIGINT)}\n", "")


def test_two_trainings_into_one_folder_never_mix(tmp_path: Path) -> None:
    out = tmp_path / "run"
    procs = [start("train", "--epochs", "20", "--out", str(out), "--quiet", "--no-plot") for _ in range(2)]
    results = [(p, *finish(p)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes[0] == 0 and codes[1] != 0, [(p.returncode, err) for p, _, err in results]
    loser = next(err for p, _, err in results if p.returncode != 0)
    assert "Traceback" not in loser
    assert "in use by process" in loser or "already holds a run" in loser, loser
    config = json.loads((out / "config.json").read_text())
    info = checkpoint_info(out)
    assert info.run is not None and info.run.id == config["run"]["id"]
    assert not (out / LOCK).exists()


def _frames_of_funcnn(stderr: str) -> list[str]:
    """The traceback frames in funcnn's own files (the library or the command line), not Python's start-up."""
    packages = (Path(funcnn.__file__).parent, Path(funcnn_cli.__file__).parent)
    homes = {str(p) for package in packages for p in (package, package.resolve())}
    frames = [line.strip() for line in stderr.splitlines() if line.strip().startswith('File "')]
    return [f for f in frames if any(f'File "{home}' in f for home in homes)]
