"""Nothing reaches a partner before the commit that records it, and everything once
(issue 13, item 1).

Tested the way it failed: a drainer process takes every file out of outbox/*/ as soon as
it appears, as a recipient's and suppliers' systems do, while `run --once` workers are
killed (SIGKILL) at moments a seeded generator picks; then every accepted invoice's
pivot was received exactly once, under the flow the ledger says, and every flow's CR
once. A rollback and a crash between a commit and its publication are tested the same
way, with a drainer watching."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

import pytest
from lxml import etree
from paused_workers import drainer, received_files

import config

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home, sample

REPO = Path(__file__).resolve().parents[2]
UNIT_START, UNIT_END = b"<CPPFacturePivotUnitaire", b"</CPPFacturePivotUnitaire>"
BIG_FLOW = 300  # invoices in the big pivot flow
FINAL = {"IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE"}

# `cli` with a fault: {hook} runs first in the child (a test double of a crash or a bug)
WITH_HOOK = """
import os, signal, sys, time
from cli import main
{hook}
main(sys.argv[1:])
"""


@pytest.fixture(autouse=True)
def quick_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed worker's flows are taken again after a second; never given up for it."""
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_LEASE_SECONDS", "1")
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_MAX_ATTEMPTS", "50")


def cli(home: Home, *args: str, hook: str = "") -> subprocess.Popen:
    command = [sys.executable, "-c", WITH_HOOK.format(hook=hook), "--home", str(home.path)]
    return subprocess.Popen(
        [*command, *args],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def replacing(target: str, body: str) -> str:
    """A hook replacing the function `target` (module.name) in the child by one running
    `body`, which may call the real one as `real` and keep what it likes in `done`."""
    module, name = target.rsplit(".", 1)
    return (
        f"import {module} as target\n"
        f"real, done = target.{name}, []\n"
        "def fault(*args, **kwargs):\n"
        f"{textwrap.indent(body, '    ')}\n"
        f"target.{name} = fault\n"
    )


def finish(process: subprocess.Popen) -> int:
    _, err = process.communicate(timeout=180)
    assert process.returncode in (0, -signal.SIGKILL), err.decode()
    return process.returncode


def pivot_flow(numbers: range) -> bytes:
    """The demo's first pivot invoice repeated under numbers P-<n>, in the demo's envelope."""
    demo = config.path("demo/pivot-multi.xml").read_bytes()
    start, end = demo.index(UNIT_START), demo.index(UNIT_END) + len(UNIT_END)
    head = demo[:start].replace(b'Compteur="3"', f'Compteur="{len(numbers)}"'.encode())
    unit, tail = demo[start:end], demo[demo.rindex(UNIT_END) + len(UNIT_END) :]
    units = (unit.replace(b"F02-2026-000502", f"P-{n:06d}".encode()) for n in numbers)
    return head + b"".join(units) + tail


def ubl(number: str) -> bytes:
    return sample("ubl-invoice.xml").replace(b"F01-2026-000101", number.encode())


def ledger(home: Home, query: str) -> list[tuple]:
    with sqlite3.connect(home.path / "ledger.db") as connection:
        return connection.execute(query).fetchall()


def received_pivots(received: Path) -> Counter:
    """(invoice number, pivot file) of each pivot the recipient received."""
    seen: Counter = Counter()
    for name, path in received_files(received, RECIPIENT):
        tree = etree.parse(str(path))
        for number in tree.iterfind(".//DonneesFacture/Id"):
            seen[(number.text, name)] += 1
    return seen


def delivered_in_ledger(home: Home) -> set[tuple[str, str]]:
    """(invoice number, pivot file) of every invoice the ledger says was delivered."""
    rows = ledger(home, "select number, pivot_file from invoices where pivot_file is not null")
    return set(rows)


def made_available(home: Home) -> tuple[list[tuple], list[tuple]]:
    """The status codes of the delivered invoices, and each 03 event's to_supplier."""
    codes = "select status_code from invoices where pivot_file is not null order by id"
    told = "select to_supplier from invoice_events where status_code = '03' order by id"
    return ledger(home, codes), ledger(home, told)


def assert_each_once(home: Home, received: Path) -> None:
    """Every delivered invoice's pivot received once, under the name the ledger gives it,
    nothing else; every flow's CR once, and no other CR."""
    pivots = received_pivots(received)
    assert [key for key, times in pivots.items() if times > 1] == []
    assert set(pivots) == delivered_in_ledger(home)
    numbers = Counter(number for number, _ in pivots)
    assert [n for n, times in numbers.items() if times > 1] == []  # never under two flows
    flows = ledger(home, "select partner_code, number from flows")
    crs = Counter(
        name
        for partner in (SUPPLIER_1, SUPPLIER_2)
        for name, _ in received_files(received, partner)
    )
    assert crs == Counter(f"CR_{partner}_{number}.xml" for partner, number in flows)
    assert ledger(home, "select file_name from outputs where staged is not null") == []


def test_workers_killed_at_random_deliver_every_invoice_and_cr_exactly_once(home: Home) -> None:
    rng = random.Random(13)
    home.drop(SUPPLIER_2, "big.xml", pivot_flow(range(BIG_FLOW)))
    for n in range(4):
        home.drop(SUPPLIER_1, f"small-{n}.xml", ubl(f"S-{n:06d}"))
    staging = home.path / "run" / "outgoing"
    # how each killed worker dies: while staging, at a moment drawn, once publishing
    kills = ["staging", "drawn", "publishing", "drawn"]
    with drainer(home.path) as received:
        for round_ in range(20):
            worker = cli(home, "run", "--once")
            try:
                if kills:
                    _kill(worker, kills.pop(0), rng, staging, received)
                finish(worker)
            finally:
                worker.kill()  # never left running when the round fails
                worker.wait()
                worker.stderr.close()
            if round_ == 0:  # the same invoice deposited again, in a flow of its own
                home.drop(SUPPLIER_2, "again.xml", pivot_flow(range(150, 151)))
            states = {s for (s,) in ledger(home, "select status from flows")}
            waiting = any((home.path / "inbox").rglob("*.xml"))
            # a worker killed after its commit leaves outputs the next run publishes
            unpublished = ledger(home, "select id from outputs where staged is not null")
            if not kills and states <= FINAL and not waiting and not unpublished:
                break
            time.sleep(1)  # a killed worker's lease expires
    assert {s for (s,) in ledger(home, "select status from flows")} <= FINAL
    assert len(ledger(home, "select id from flows")) == 6
    assert_each_once(home, received)
    accepted = {number for number, _ in delivered_in_ledger(home)}
    assert {f"P-{n:06d}" for n in range(BIG_FLOW)} | {f"S-{n:06d}" for n in range(4)} == accepted


def _kill(
    worker: subprocess.Popen, how: str, rng: random.Random, staging: Path, received: Path
) -> None:
    """SIGKILL the worker: once it wrote 50 pivots (staged, or visible to the recipient as
    they once were before the commit), at a moment drawn, or as soon as the recipient
    received a pivot from it (while it publishes)."""
    start, before = time.monotonic(), _count(received / RECIPIENT, "*")
    moment = rng.uniform(1.0, 4.0)
    while worker.poll() is None and time.monotonic() - start < 120:
        written = _count(staging, "*-PIVOT_*") + _count(received / RECIPIENT, "*")
        if how == "staging" and written - before >= 50:
            break
        if how == "drawn" and time.monotonic() - start >= moment:
            break
        if how == "publishing" and _count(received / RECIPIENT, "*") > before:
            break
        time.sleep(0.005)
    worker.send_signal(signal.SIGKILL)


def _count(folder: Path, pattern: str) -> int:
    """Files under folder named like pattern; a process's staging folder may vanish while
    it is walked (its worker finished), which os.walk passes over, unlike Path.rglob."""
    return sum(1 for _, _, names in os.walk(folder) for name in names if fnmatch(name, pattern))


def test_a_failure_after_pivots_were_staged_shows_nothing_to_the_recipient(
    home: Home,
) -> None:
    """The flow's CR fails after its two pivots were staged (half a second later, time
    enough for a drainer to take anything visible): the recipient receives nothing, the
    depositor the CR of the incident only."""
    hook = replacing(
        "edi_engine.processing.report.integration_report",
        "time.sleep(0.5)\nraise RuntimeError('bug in the CR')",
    )
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample("pivot-multi.xml"))
    with drainer(home.path) as received:
        worker = cli(home, "run", "--once", hook=hook)
        _, err = worker.communicate(timeout=180)
        assert worker.returncode == 3, err.decode()
    assert received_files(received, RECIPIENT) == []
    (number,) = ledger(home, "select number from flows where status = 'IN_INCIDENTE'")
    crs = [name for name, _ in received_files(received, SUPPLIER_2)]
    assert crs == [f"CR_{SUPPLIER_2}_{number[0]}.xml"]
    # what it staged is gone with the transaction
    assert [p for p in (home.path / "run" / "outgoing").rglob("*-PIVOT_*")] == []


@pytest.mark.parametrize("renamed", [0, 1, 2], ids=["before", "after-one", "after-all"])
def test_a_crash_between_commit_and_publication_is_finished_once_by_the_next_run(
    home: Home, renamed: int
) -> None:
    """The worker dies after its commit, once it has renamed `renamed` of the flow's three
    outputs (two pivots, the CR): the next run publishes the others from what the ledger
    says, and the drainer receives each output once."""
    hook = replacing(
        "connectors.outgoing.publish",
        f"if len(done) == {renamed}:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "done.append(real(*args, **kwargs))\n"
        "return done[-1]",
    )
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample("pivot-multi.xml"))
    with drainer(home.path) as received:
        assert finish(cli(home, "run", "--once", hook=hook)) == -signal.SIGKILL
        committed = ledger(home, "select status from flows")
        staged = ledger(home, "select file_name from outputs where staged is not null")
        # committed, and not one marked published: the renames come first
        assert committed == [("IN_INTEGRE_PARTIEL",)] and len(staged) == 3
        # nor made available (03): that is recorded with the publication
        assert made_available(home) == ([("02",), ("02",)], [])
        assert finish(cli(home, "run", "--once")) == 0
    assert_each_once(home, received)
    assert len(received_pivots(received)) == 2
    # made available once published, each invoice once, its supplier to be told
    assert made_available(home) == ([("03",), ("03",)], [(1,), (1,)])
    # the dead worker's staging folder is tidied
    assert list((home.path / "run" / "outgoing").rglob("*-PIVOT_*")) == []


def test_a_supplier_is_told_03_only_once_its_pivots_are_published(home: Home) -> None:
    """A worker dies right after its commit, before any rename: a status flow written
    meanwhile tells the supplier its invoices were received and are on their way (01, 02),
    not that they were made available; the run that publishes them records 03, told by
    the next status flow, once."""
    hook = replacing("connectors.outgoing.publish", "os.kill(os.getpid(), signal.SIGKILL)")
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample("pivot-multi.xml"))
    assert finish(cli(home, "run", "--once", hook=hook)) == -signal.SIGKILL

    home.invoke("statuses", "emit")
    assert told(home, "STATUT_FOUR02_1.xml") == ["01", "01", "02", "02"]
    assert finish(cli(home, "run", "--once")) == 0
    home.invoke("statuses", "emit")
    assert told(home, "STATUT_FOUR02_2.xml") == ["03", "03"]
    home.invoke("statuses", "emit")  # nothing more to tell
    assert sorted(home.outbox(SUPPLIER_2)) == [
        *(f"CR_FOUR02_{n}.xml" for (n,) in ledger(home, "select number from flows")),
        "STATUT_FOUR02_1.xml",
        "STATUT_FOUR02_2.xml",
    ]


def told(home: Home, name: str) -> list[str]:
    tree = etree.parse(str(home.path / "outbox" / SUPPLIER_2 / name))
    return sorted(code.text for code in tree.iterfind(".//IdStatut"))


def test_outputs_staged_in_a_folder_this_host_lacks_are_never_taken_for_published(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker dies after its commit, before any rename, and its staging folder is not
    there for the next run (another host's, whose run/ is not shared, as it must be): its
    outputs stay unpublished, and the run says why, until the folder is back."""
    hook = replacing("connectors.outgoing.publish", "os.kill(os.getpid(), signal.SIGKILL)")
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample("pivot-multi.xml"))
    assert finish(cli(home, "run", "--once", hook=hook)) == -signal.SIGKILL
    outgoing = home.path / "run" / "outgoing"
    (dead,) = [p for p in outgoing.iterdir() if p.is_dir()]
    away = home.path.parent / "elsewhere"
    dead.rename(away)

    home.invoke("run", "--once")

    unpublished = "select file_name from outputs where published_at is null"
    assert len(ledger(home, unpublished)) == 3  # two pivots and the CR
    assert home.outbox(RECIPIENT) == []
    assert "must share the home's run/ folder" in caplog.text
    away.rename(dead)
    home.invoke("run", "--once")
    assert ledger(home, unpublished) == []
    assert len(home.outbox(RECIPIENT)) == 2
