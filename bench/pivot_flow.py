"""One pivot flow carrying many invoices against as many one-invoice flows: throughput and
peak resident memory of `edi-engine run --once`, on SQLite or PostgreSQL (issue 14, item
5: 100,000 invoices under 300 MB, at no less than the one-invoice flows' speed per invoice).

Usage: .venv/bin/python bench/pivot_flow.py [--invoices N] [--singles N]
       [--database sqlite|postgresql|postgresql+psycopg://user@host/db] [--no-fsync]
       [--stream-bytes B] [--workers N] [--json]

The engine runs as its own process, `run --once` on a home prepared beforehand, so that
what is measured is the engine's: its VmHWM (the kernel's high-water mark of its resident
memory, read by the engine process itself as it exits) and the largest sum of the resident
memory of it and its children (workers), sampled. Not ru_maxrss: a child's counts its
parent's pages. The flows are written piece by piece; nothing is timed but the run.
PostgreSQL: a database of the benchmark's own is created on that server and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import config  # noqa: E402

UNIT_START, UNIT_END = b"<CPPFacturePivotUnitaire", b"</CPPFacturePivotUnitaire>"
TEMPLATE_NUMBER = b"F02-2026-000502"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SAMPLE_SECONDS = 0.05
SUPPLIER, RECIPIENT = "FOUR01", "DEST01"

# the engine as `edi-engine` runs it, writing its own VmHWM (KiB) to $BENCH_HWM as it exits
ENGINE = """
import atexit, os, sys

def high_water_mark():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_HWM"], "w") as out:
        out.write(kib)

atexit.register(high_water_mark)
from cli import main
main(sys.argv[1:])
"""

# the home as an operator sets it up (as bench/engine.py prepare does): an operator
# deposits for any supplier, so that every invoice is accepted
PREPARE = """
import sys
from pathlib import Path
import config
from edi_engine.ledger import db, home
from edi_engine.partners import registry as partners
from edi_engine.controls import structures

settings, _ = home.init(Path(sys.argv[1]))
with db.session_scope(settings.database_url) as session:
    for code in ("FOUR01", "DEST01"):
        partners.add(settings, session, code, code, operator=True)
    session.commit()
    structures.import_csv(session, config.path("demo/structures.csv"))
    session.commit()
"""


def _pieces() -> tuple[bytes, bytes, bytes]:
    """The demo's pivot envelope (head and tail) and its first invoice."""
    sample = config.path("demo/pivot-multi.xml").read_bytes()
    start, end = sample.index(UNIT_START), sample.index(UNIT_END) + len(UNIT_END)
    tail = sample[sample.rindex(UNIT_END) + len(UNIT_END) :]
    return sample[:start], sample[start:end], tail


def write_flow(target: Path, numbers: range, prefix: str = "P") -> None:
    """The demo's first invoice repeated under numbers <prefix>-<n>, in the demo's
    envelope, written a thousand invoices at a time."""
    head, unit, tail = _pieces()
    head = head.replace(b'Compteur="3"', f'Compteur="{len(numbers)}"'.encode())
    with open(target, "wb") as out:
        out.write(head)
        for start in range(numbers.start, numbers.stop, 1000):
            chunk = range(start, min(start + 1000, numbers.stop))
            out.write(b"".join(unit.replace(TEMPLATE_NUMBER, _number(prefix, n)) for n in chunk))
        out.write(tail)


def _number(prefix: str, n: int) -> bytes:
    return f"{prefix}-{n:09d}".encode()


def write_singles(inbox: Path, count: int) -> None:
    """`count` one-invoice pivot flows of the same invoice, numbered S-<n>."""
    head, unit, tail = _pieces()
    head = head.replace(b'Compteur="3"', b'Compteur="1"')
    for n in range(count):
        content = head + unit.replace(TEMPLATE_NUMBER, _number("S", n)) + tail
        (inbox / f"single-{n:09d}.xml").write_bytes(content)


class TreeSampler:
    """The largest sum of the proportional set size (Pss: a page shared by n processes
    counts 1/n in each; a sum of VmRSS counts a forked worker's shared pages twice) over
    a process and its descendants, sampled; and the largest VmHWM of a descendant."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kib, self.worker_hwm_kib = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            tree = self._tree()
            self.peak_kib = max(
                self.peak_kib, sum(_kib(pid, "smaps_rollup", "Pss") for pid in tree)
            )
            hwm = max((_kib(pid, "status", "VmHWM") for pid in tree[1:]), default=0)
            self.worker_hwm_kib = max(self.worker_hwm_kib, hwm)

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue  # gone meanwhile
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [self.pid], [self.pid]
        while todo:
            kids = children.get(todo.pop(), [])
            found += kids
            todo += kids
        return found


def _kib(pid: int, table: str, field: str) -> int:
    """A size /proc/<pid>/<table> gives in KiB (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/{table}") as lines:
            return next(int(line.split()[1]) for line in lines if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return 0


@dataclass
class Run:
    """One `run --once`: what it took in, how long, how much memory, what it made of it."""

    invoices: int
    bytes: int
    seconds: float
    invoices_per_s: float
    peak_rss_mb: float  # the engine process's VmHWM
    peak_tree_pss_mb: float  # the engine and its workers together (Pss), sampled
    peak_worker_rss_mb: float  # the largest VmHWM of a worker process, sampled
    flows: int
    statuses: dict[str, int]
    accepted: int


@contextmanager
def database(choice: str) -> Iterator[str | None]:
    """The ledger URL (None: the home's SQLite file); a PostgreSQL database of our own."""
    if choice == "sqlite":
        yield None
        return
    import psycopg

    server = PG_DEFAULT if choice == "postgresql" else choice
    admin_url = server.replace("postgresql+psycopg://", "postgresql://")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{server.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def engine_env(home: Path, url: str | None, fsync: bool, stream_bytes: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    env.update(
        EDI_ENGINE_HOME=str(home),
        EDI_ENGINE_PICKUP_STABLE_SECONDS="0",
        EDI_ENGINE_PROCESSING_FSYNC="true" if fsync else "false",
        EDI_ENGINE_LIMITS_MAX_FILE_BYTES=str(10**10),
    )
    if url:
        env["EDI_ENGINE_DATABASE_URL"] = url
    if stream_bytes is not None:
        env["EDI_ENGINE_LIMITS_STREAM_BYTES"] = str(stream_bytes)
    return env


def measure(home: Path, env: dict, invoices: int, workers: int) -> Run:
    """`run --once` on a prepared home whose inbox holds `invoices` invoices."""
    size = sum(p.stat().st_size for p in (home / "inbox").rglob("*") if p.is_file())
    hwm = home.parent / "engine.hwm"
    command = [sys.executable, "-c", ENGINE, "run", "--once", "--json"]
    command += ["--workers", str(workers)] if workers != 1 else []
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        engine = subprocess.Popen(command, cwd=REPO, env={**env, "BENCH_HWM": str(hwm)}, stdout=out)
        sampler = TreeSampler(engine.pid)
        engine.wait()
        elapsed = time.perf_counter() - start
        sampler.stop()
        if engine.returncode != 0:
            raise SystemExit(f"run --once exited with {engine.returncode}")
        out.seek(0)
        flows = json.load(out)
    statuses: dict[str, int] = {}
    for flow in flows:
        statuses[flow["status"]] = statuses.get(flow["status"], 0) + 1
    accepted = sum((f["invoices"] or 0) - (f["rejected"] or 0) for f in flows)
    return Run(
        invoices=invoices,
        bytes=size,
        seconds=round(elapsed, 2),
        invoices_per_s=round(invoices / elapsed, 1),
        peak_rss_mb=round(int(hwm.read_text()) / 1024, 1),
        peak_tree_pss_mb=round(sampler.peak_kib / 1024, 1),
        peak_worker_rss_mb=round(sampler.worker_hwm_kib / 1024, 1),
        flows=len(flows),
        statuses=statuses,
        accepted=accepted,
    )


def bench(args: argparse.Namespace, singles: bool) -> Run:
    """A fresh home (and ledger), its inbox filled, then `run --once`."""
    with tempfile.TemporaryDirectory(prefix="bench-pivot-") as tmp, database(args.database) as url:
        home = Path(tmp) / "home"
        env = engine_env(home, url, not args.no_fsync, args.stream_bytes)
        prepare = [sys.executable, "-c", PREPARE, str(home)]
        subprocess.run(prepare, cwd=REPO, env=env, check=True, capture_output=True)
        inbox = home / "inbox" / SUPPLIER
        if singles:
            write_singles(inbox, args.singles)
            return measure(home, env, args.singles, args.workers)
        write_flow(inbox / "big-pivot.xml", range(args.invoices))
        return measure(home, env, args.invoices, args.workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=2000, help="in the one pivot flow")
    parser.add_argument(
        "--singles", type=int, default=None, help="one-invoice flows (default: 1,000 at most)"
    )
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or a URL")
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--stream-bytes", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1, help="run --workers N (0: a core each)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.singles is None:
        args.singles = min(args.invoices, 1000)
    flow = bench(args, singles=False)
    single = bench(args, singles=True) if args.singles else None
    database = "sqlite" if args.database == "sqlite" else "postgresql"
    ratio = round(flow.invoices_per_s / single.invoices_per_s, 2) if single else None
    if args.json:
        result = {"database": database, "fsync": not args.no_fsync, "workers": args.workers}
        result["flow"] = asdict(flow)
        result |= {"singles": asdict(single) if single else None, "ratio_to_singles": ratio}
        print(json.dumps(result, indent=2))
        return
    fsync = "off" if args.no_fsync else "on"
    print(f"{database}, fsync {fsync}, workers {args.workers}")
    print(_line(f"one pivot flow of {flow.invoices} invoices", flow))
    if single:
        print(_line(f"{single.invoices} one-invoice pivot flows", single))
        print(f"per invoice, the large flow runs at {ratio}x the speed of one-invoice flows")


def _line(what: str, run: Run) -> str:
    return (
        f"{what} ({run.bytes / 1e6:.1f} MB): {run.seconds:.1f}s, {run.invoices_per_s:.0f} "
        f"invoices/s, peak RSS {run.peak_rss_mb:.0f} MiB (a worker {run.peak_worker_rss_mb:.0f} MiB"
        f", all together {run.peak_tree_pss_mb:.0f} MiB PSS), {run.accepted} accepted, "
        f"flows {run.statuses}"
    )


if __name__ == "__main__":
    main()
