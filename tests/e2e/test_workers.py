"""`run --once --workers N` (issue 14, item 3): worker processes read and validate the
flows, the run's own process writes the ledger and the files. The answers are those of a
run without workers, and a worker process that dies (SIGKILL, as the kernel's
out-of-memory killer does) gives its flows back: each is processed once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home, sample
from .test_engine_files import _batch_zip

REPO = Path(__file__).resolve().parents[2]
MANY = 120  # one-invoice flows: enough for a worker to die among them


def ubl(number: str) -> bytes:
    return sample("ubl-invoice.xml").replace(b"F01-2026-000101", number.encode())


def _every_kind(home: Home) -> None:
    home.drop(SUPPLIER_1, "a-ubl.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "b-credit.xml", sample="ubl-creditnote.xml")
    home.drop(SUPPLIER_1, "c-cii.xml", sample="cii-invoice.xml")
    home.drop(SUPPLIER_2, "d-pivot.xml", sample="pivot-multi.xml")
    home.drop(SUPPLIER_1, "e-batch.zip", _batch_zip())
    home.drop(SUPPLIER_1, "f-invalid.xml", sample="xsd-invalid.xml")
    home.drop(SUPPLIER_1, "g-inactive.xml", sample="ubl-inactive.xml")
    home.drop(SUPPLIER_1, "h-not-xml.xml", b"%PDF-1.4 not an invoice")


def _outcome(home: Home) -> tuple[list, dict[str, list[str]], list]:
    """What partners and operators see: each flow's state and counts, the files of each
    partner's outbox, each flow's findings."""
    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    states = sorted(
        (f["file_name"], f["syntax"], f["status"], f["invoices"], f["rejected"]) for f in flows
    )
    outboxes = {p: home.outbox(p) for p in (SUPPLIER_1, SUPPLIER_2, RECIPIENT)}
    findings = sorted(
        (f["file_name"], e["code"], e.get("invoice_seq"))
        for f in flows
        for e in home.show(f["number"])["errors"]
    )
    return states, outboxes, findings


def _run(home: Home, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "cli.py", "--home", str(home.path), "run", "--once", *args],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_two_workers_answer_every_kind_of_flow_as_one_process_does(
    home: Home, tmp_path: Path, run_cli
) -> None:
    alone = Home(
        tmp_path / "alone", lambda *a, code=0: run_cli("--home", alone.path, *a, code=code)
    )
    shutil.copytree(home.path, alone.path)  # the same partners and structures, no flow yet
    _every_kind(home)
    _every_kind(alone)

    with_workers = _run(home, "--workers", "2")
    _, err = with_workers.communicate(timeout=300)
    assert with_workers.returncode == 0, err.decode()
    alone.invoke("run", "--once")

    states, outboxes, findings = _outcome(home)
    assert (states, outboxes, findings) == _outcome(alone)
    for name in outboxes[RECIPIENT]:  # the pivots, written ahead by the workers, byte for byte
        pivot = Path("outbox", RECIPIENT, name)
        assert (home.path / pivot).read_bytes() == (alone.path / pivot).read_bytes()
    assert {state for _, _, state, _, _ in states} >= {"IN_INTEGRE", "IN_REJETE"}
    assert len(outboxes[RECIPIENT]) >= 5  # the invoices accepted, a pivot each


def test_a_worker_killed_gives_its_flows_back_and_each_is_processed_once(
    home: Home,
) -> None:
    for n in range(MANY):
        home.drop(SUPPLIER_1, f"f{n:04d}.xml", ubl(f"W-{n:04d}"))
    run = _run(home, "--workers", "2")
    killed = _kill_a_worker(run.pid, home.path / "run" / "outgoing")

    _, err = run.communicate(timeout=300)

    assert run.returncode == 0, err.decode()
    assert killed, "no worker process was found to kill"
    flows = json.loads(home.invoke("flows", "list", "--limit", "1000", "--json").stdout)
    assert len(flows) == MANY
    assert {f["status"] for f in flows} == {"IN_INTEGRE"}
    numbers = sorted(f["number"] for f in flows)
    assert home.outbox(RECIPIENT) == [f"PIVOT_{RECIPIENT}_{n}_1.xml" for n in numbers]
    assert home.outbox(SUPPLIER_1) == [f"CR_{SUPPLIER_1}_{n}.xml" for n in numbers]


def _kill_a_worker(writer: int, staging: Path) -> int | None:
    """SIGKILL one worker process (a grandchild of the run: its fork server's child) once
    the run has begun to stage outputs; its pid, or None if the run ended first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _alive(writer):
        staged = any(staging.glob("*/*")) if staging.is_dir() else False
        workers = [pid for child in _children(writer) for pid in _children(child)]
        if staged and workers:
            os.kill(workers[0], signal.SIGKILL)
            return workers[0]
        time.sleep(0.005)
    return None


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("workers", ["-1", "two"])
def test_a_wrong_number_of_workers_is_refused(home: Home, workers: str) -> None:
    result = home.invoke("run", "--once", "--workers", workers, code=2)
    assert "--workers" in result.stderr
