"""A flow whose preparation crashes the worker process of `run --workers 2` (a real
SIGSEGV, not a signal sent by the test) is tried `processing.max_attempts` times, then
left IN_INCIDENTE with a CR saying so (FLOW_KILLED_WORKER), never taken again; the flows
beside it are integrated and delivered once (issue 13, point 3).

tests/e2e/test_killed_worker.py proves it for a run without worker processes, whose
own process dies; tests/unit/test_preparing.py counts the deaths inside the pool. This
is the road between them: the run's process giving the flow up, answering it and going
on, as an operator and the supplier see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import RECIPIENT, SUPPLIER_1, Home, sample
from .segfaulting import KILLER

REPO = Path(__file__).resolve().parents[2]
INCIDENT_EXIT = 3  # run --once's exit when a flow ended IN_INCIDENTE

# the run as the operator starts it, its worker processes preparing with the crashing one
RUN = """
import sys
from cli import main
from edi_engine.processing import preparing
from tests.e2e.segfaulting import segfaults_on_the_killer

preparing.Workers.__init__.__defaults__ = (segfaults_on_the_killer,)
main(sys.argv[1:])
"""


def ubl(number: str) -> bytes:
    return sample("ubl-invoice.xml").replace(b"F01-2026-000101", number.encode())


def run_with_workers(home: Home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUN, "--home", home.path, "run", *args],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        timeout=300,
    )


def test_a_flow_that_segfaults_its_worker_processes_is_given_up_with_its_cr(home: Home) -> None:
    home.drop(SUPPLIER_1, KILLER, ubl("F-SEGV-1"))
    for n in range(4):
        home.drop(SUPPLIER_1, f"b-innocent-{n}.xml", ubl(f"F-OK-{n}"))

    done = run_with_workers(home, "--once", "--json", "--workers", "2")

    err = done.stderr.decode(errors="replace")
    assert done.returncode == INCIDENT_EXIT, err
    assert err.count("exit code -11") == 3, err  # SIGSEGV, max_attempts (3) times
    flows = {f["file_name"]: f for f in json.loads(done.stdout)}
    assert {name: f["status"] for name, f in flows.items()} == {
        KILLER: "IN_INCIDENTE",
        **{f"b-innocent-{n}.xml": "IN_INTEGRE" for n in range(4)},
    }
    number = flows[KILLER]["number"]
    detail = home.show(number)
    (error,) = detail["errors"]
    assert (error["code"], error["value"]) == ("FLOW_KILLED_WORKER", "3")
    cr = home.path / "outbox" / SUPPLIER_1 / f"CR_{SUPPLIER_1}_{number}.xml"
    text = cr.read_text(encoding="utf-8")
    assert "FLOW_KILLED_WORKER" in text and "IN_INCIDENTE" in text
    assert len(home.outbox(RECIPIENT)) == 4  # the innocent flows' pivots, once each
    assert len(home.outbox(SUPPLIER_1)) == 5  # a CR per flow

    # never taken again: the next run finds nothing to do, no worker dies, no CR again
    answered = home.outbox(SUPPLIER_1)
    again = run_with_workers(home, "--once", "--json", "--workers", "2")
    assert again.returncode == 0, again.stderr.decode(errors="replace")
    assert json.loads(again.stdout) == []
    assert b"exit code" not in again.stderr
    assert home.show(number)["status"] == "IN_INCIDENTE"
    assert home.outbox(SUPPLIER_1) == answered
