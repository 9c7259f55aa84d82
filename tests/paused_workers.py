"""The CLI in a child process a test pauses at a point of its choosing, and a drainer that
takes every output as partners' systems do: the harness of the race, slow-worker and
exactly-once tests, on SQLite (tests/e2e) and PostgreSQL (tests/integration) alike.

A paused child prints the name of the point it reached, then waits there for a line on
its standard input: the test decides what happens meanwhile, with no sleep to guess at.
DEADLINE bounds every wait for a child; it never measures a speed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEADLINE = 120  # seconds a child is given to reach a point; never a measure of speed

# The child's program before the test's hooks: argv[1] is the time it runs at (ISO), or
# "now" for the real clock; argv[2] (`how`) tells the hooks where to pause; the CLI's own
# arguments follow. Hooks pause with pause(said), or wrap a function with before/after.
_PREAMBLE = """
import sys
from datetime import datetime
from edi_engine import clock

if sys.argv[1] != "now":
    moment = datetime.fromisoformat(sys.argv[1])
    clock.now = lambda: moment
how = sys.argv[2]

def pause(said):
    print(said, flush=True)
    sys.stdin.readline()

def before(real, said):
    def paused(*args, **kwargs):
        pause(said)
        return real(*args, **kwargs)
    return paused

def after(real, said):
    def paused(*args, **kwargs):
        done = real(*args, **kwargs)
        pause(said)
        return done
    return paused
"""


def program(hooks: str) -> str:
    """The child's program: the preamble, the test's hooks, then the CLI."""
    return f"{_PREAMBLE}\n{hooks}\nfrom cli import main\nmain(sys.argv[3:])\n"


SLOW = "a-slow.xml"  # received first: the first of its lease batch
FILES = (SLOW, "b.xml", "c.xml")

# `run --once` slowed where the test says: "slow-flow" inside the processing of SLOW;
# "slow-between" once it has committed its first flow (in a group commit of its own),
# before it renews its lease on the next (no row of its is locked then on PostgreSQL, so
# what it holds does expire)
SLOW_WORKER = program(
    """
from edi_engine.ledger import leasing
from edi_engine.processing import pipeline

if how == "slow-flow":
    take = pipeline._take_flow

    def slow(run, *args):
        if run.flow.file_name == "a-slow.xml":
            pause("processing")
        return take(run, *args)

    pipeline._take_flow = slow
elif how == "slow-between":
    from edi_engine.processing import runner

    runner.GROUP_FLOWS = 1  # a group commit of one flow each: the pause falls between two
    renew_all, groups = leasing.renew_all, []

    def late(session, flow_ids, *args):
        groups.append(flow_ids)
        if len(groups) == 2:  # before the second group renews what it holds
            pause("between")
        return renew_all(session, flow_ids, *args)

    leasing.renew_all = late
"""
)


def start(
    child_program: str,
    how: str,
    *args: str,
    at: datetime | None = None,
    env: Mapping[str, str] | None = None,
    started: list[subprocess.Popen] | None = None,
) -> subprocess.Popen:
    """The CLI with `args`, in a child running `child_program` paused as `how` says, at
    the time `at` (the real clock without it); kept in `started` when given. The business
    rules are off unless `env` says otherwise: these children are about processes stopped
    and killed, and each would compile the rules' stylesheets again (about 0.7 s)."""
    environment = {"EDI_ENGINE_RULES_EN16931": "false", **(os.environ if env is None else env)}
    child = subprocess.Popen(
        [sys.executable, "-c", child_program, at.isoformat() if at else "now", how, *args],
        cwd=REPO,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if started is not None:
        started.append(child)
    return child


def started() -> Iterator[list[subprocess.Popen]]:
    """The children a test starts: none outlives it, even one it failed to release. A
    fixture in the tests that use it: `started = pytest.fixture(paused_workers.started)`."""
    children: list[subprocess.Popen] = []
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
            child.communicate()


def reached(child: subprocess.Popen, said: str) -> subprocess.Popen:
    """The child, once it has paused at the point it names `said`."""
    assert child.stdout.readline().strip() == said, child.communicate(timeout=DEADLINE)
    return child


def release(child: subprocess.Popen) -> None:
    """Let a paused child go on, without waiting for it."""
    child.stdin.write("go\n")
    child.stdin.flush()


def ended(child: subprocess.Popen, line: str = "") -> tuple[int, str, str]:
    """The child's exit code, standard output and error, `line` given on its input."""
    out, err = child.communicate(line, timeout=DEADLINE)
    return child.returncode, out, err


def wait_while(busy: Callable[[], bool], child: subprocess.Popen) -> None:
    """Wait while `busy()` holds, the child still running: it is what the test awaits."""
    deadline = time.monotonic() + DEADLINE
    while busy():
        assert child.poll() is None and time.monotonic() < deadline, ended(child)
        time.sleep(0.05)


# takes every file out of partners' folders as soon as it appears, under a unique name in
# received/<partner>/ (a file received twice is kept twice), until `stop` exists. Its
# sources come in pairs, PARTNER FOLDER: a partner's folder (an SFTP server's out folder,
# whose hidden names are upload temporaries, left alone), or "" OUTBOX: each folder of the
# engine's outbox, named after its partner
_DRAINER = """
import os, sys, time
received, stop, *sources = sys.argv[1:]
taken = 0

def folders():
    for partner, folder in zip(sources[::2], sources[1::2]):
        if partner:
            yield partner, folder, True
            continue
        for partner in os.listdir(folder):
            yield partner, os.path.join(folder, partner), False

def sweep():
    global taken
    for partner, folder, uploads in folders():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if uploads and name.startswith("."):
                continue
            os.makedirs(os.path.join(received, partner), exist_ok=True)
            taken += 1
            try:
                os.rename(os.path.join(folder, name),
                          os.path.join(received, partner, f"{name}.{taken}"))
            except FileNotFoundError:
                pass

while not os.path.exists(stop):
    sweep()
    time.sleep(0.01)
sweep()
"""


@contextmanager
def draining(received: Path, stop: Path, *sources: str | Path) -> Iterator[Path]:
    """The drainer above over `sources` (pairs: a partner, or "", and a folder), putting
    what it takes in `received`."""
    received.mkdir()
    process = subprocess.Popen([sys.executable, "-c", _DRAINER, received, stop, *sources])
    try:
        yield received
    finally:
        stop.touch()
        process.wait(timeout=60)


@contextmanager
def drainer(home: Path) -> Iterator[Path]:
    """A process taking every output of the engine's `home` as soon as it appears, as a
    recipient's and suppliers' systems do; yields where it puts them (beside `home`)."""
    received, stop = home.parent / "received", home.parent / "drainer.stop"
    with draining(received, stop, "", home / "outbox") as taken:
        yield taken


def received_files(received: Path, partner: str) -> list[tuple[str, Path]]:
    """(name as published, file) of each file the partner received, duplicates included."""
    folder = received / partner
    found = sorted(folder.iterdir()) if folder.is_dir() else []
    return [(path.name.rsplit(".", 1)[0], path) for path in found]
