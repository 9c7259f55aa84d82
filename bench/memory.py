"""Peak resident memory of a process and all its descendants, read from /proc.

``getrusage(RUSAGE_CHILDREN)`` cannot be used: a child started by vfork counts the
parent's pages in its ru_maxrss until it execs. Instead a thread samples every ~50 ms the
VmRSS of each process of the tree and keeps the largest sum (what the machine had to
hold at once), and keeps each process's VmHWM (its own high-water mark, exact between
samples). A process that exits between two samples loses at most its last 50 ms.
"""

from __future__ import annotations

import threading
from pathlib import Path

PROC = Path("/proc")
INTERVAL = 0.05


class TreeMemory:
    """Samples the tree of ``pid`` from start() to stop(); sizes in KiB as /proc gives them."""

    def __init__(self, pid: int, interval: float = INTERVAL) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss_kib = 0  # the largest sum of VmRSS over the tree at one sample
        self.hwm_kib: dict[int, int] = {}  # each process's VmHWM, last read
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def start(self) -> TreeMemory:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_hwm_kib(self) -> int:
        """The sum of every process's own peak: an upper bound of the tree's peak."""
        return sum(self.hwm_kib.values())

    @property
    def processes(self) -> int:
        return len(self.hwm_kib)

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                return

    def sample(self) -> None:
        total = 0
        for pid in tree(self.pid):
            status = _status(pid)
            if not status:
                continue
            total += status.get("VmRSS", 0)
            hwm = status.get("VmHWM", 0)
            self.hwm_kib[pid] = max(hwm, self.hwm_kib.get(pid, 0))
        self.peak_rss_kib = max(self.peak_rss_kib, total)
        self.samples += 1


def tree(root: int) -> list[int]:
    """``root`` and its descendants alive now, by the parent each process names in
    /proc/<pid>/stat (/proc/<pid>/task/*/children needs a kernel option not always set)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            parent = _parent(entry)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _parent(entry: Path) -> int | None:
    try:
        stat = (entry / "stat").read_text()
    except OSError:  # gone meanwhile
        return None
    # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _status(pid: int) -> dict[str, int]:
    """The memory lines of /proc/<pid>/status in KiB; empty once the process is gone
    (a zombie has no VmRSS line)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0])
    return values
