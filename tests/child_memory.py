"""The peak resident memory of a child Python process, its own and nothing else.

`os.wait4(pid).ru_maxrss` is not it: subprocess starts children with vfork, and Linux
folds the high-water RSS of the memory the child leaves at exec (the test process's own,
several hundred MiB late in a full run) into the child's maxrss. So the child reports its
peak itself: a small wrapper, run with `python -c`, registers an exit hook that copies
VmHWM from /proc/self/status (the peak of the memory mapped since exec) to a file, then
runs the module as `python -m` would. The hook runs on a normal return, on sys.exit
(click's way out) and on an uncaught exception; a child killed by a signal reports
nothing, and its peak is None.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# argv: the report file, the module, its arguments
WRAPPER = """\
import atexit, runpy, sys

report = sys.argv[1]


def _peak():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                kib = int(line.split()[1])
    with open(report, "w", encoding="ascii") as out:
        out.write(str(kib * 1024))


atexit.register(_peak)
module = sys.argv[2]
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


@dataclass
class Measured:
    code: int  # the exit status; -9 if killed on timeout
    peak_bytes: int | None  # VmHWM at exit; None if the child never reached its exit

    @property
    def killed(self) -> bool:
        """Killed by SIGKILL: on timeout, or by the kernel out of memory."""
        return self.code == -signal.SIGKILL


def run_module(
    module: str,
    args: Sequence[object],
    *,
    cwd: Path,
    env: dict[str, str],
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
    stdin: IO[bytes] | int | None = subprocess.DEVNULL,
    timeout: float | None = None,
) -> Measured:
    """`python -m module args` in a child process, and that child's own peak memory.

    With ``timeout`` the child is killed (SIGKILL) when it takes longer: a hang is a
    failure to report, not to wait for."""
    with tempfile.TemporaryDirectory(prefix="child-memory-") as folder:
        report = Path(folder) / "peak"
        command = [sys.executable, "-c", WRAPPER, str(report), module, *map(str, args)]
        child = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr
        )
        watchdog = threading.Timer(timeout, child.kill) if timeout is not None else None
        if watchdog is not None:
            watchdog.start()
        try:
            code = child.wait()
        finally:
            if watchdog is not None:
                watchdog.cancel()
        text = report.read_text(encoding="ascii") if report.exists() else ""
    return Measured(code, int(text) if text else None)
