"""A flow whose processing kills its worker is tried `processing.max_attempts` times, then
left IN_INCIDENTE with a CR saying so, never taken again (issue 13, point 3).

The workers are real `run --once` processes; the one processing the killing flow dies by
a real SIGKILL it sends itself as it starts on that flow (a test double of running out of
memory or of a crash), holding its lease; the next worker takes the flow once the lease
has expired. A worker processes new flows together, in a group commit: one that dies
there has no one culprit, so nothing is blamed and each flow is taken again alone; only
the deaths of workers processing the flow alone count. The flows the dead worker had
leased and not started are not blamed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import RECIPIENT, SUPPLIER_1, Home, sample

REPO = Path(__file__).resolve().parents[2]
KILLER = "a-killer.xml"  # received first: processed first in its lease batch
LEASE_SECONDS = 1
RUN = ("run", "--once", "--json")
INCIDENT_EXIT = 3  # run --once's exit when a flow ended IN_INCIDENTE

WORKER = """
import os, signal, sys, time
from cli import main
from edi_engine.processing import pipeline

taken = pipeline._take_flow

def dies_on_the_killer(run, *args):
    if run.flow.file_name == {killer!r}:
        os.kill(os.getpid(), signal.SIGKILL)
    return taken(run, *args)

pipeline._take_flow = dies_on_the_killer
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # until a dead worker's lease ran out
main(sys.argv[2:])
"""
# by home: the wall-clock time past which the lease a killed worker held has run out
_not_before: dict[Path, float] = {}


@pytest.fixture(autouse=True)
def short_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_LEASE_SECONDS", str(LEASE_SECONDS))
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_MAX_ATTEMPTS", "2")


def worker(home: Home) -> int:
    """One `run --once` whose processing of KILLER kills it; its exit code (-9 if killed).
    Once imported, it waits until the lease of the worker killed before it ran out (the
    second its import takes counts in that wait)."""
    not_before = str(_not_before.get(home.path, 0.0))
    program = [sys.executable, "-c", WORKER.format(killer=KILLER), not_before]
    done = subprocess.run(
        [*program, "--home", home.path, *RUN],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
    )
    assert done.returncode in (0, INCIDENT_EXIT, -signal.SIGKILL), done.stderr.decode()
    if done.returncode == -signal.SIGKILL:  # what it held is someone else's to take then
        _not_before[home.path] = time.time() + LEASE_SECONDS + 0.1
    return done.returncode


def ubl(number: str) -> bytes:
    return sample("ubl-invoice.xml").replace(b"F01-2026-000101", number.encode())


def test_a_flow_that_kills_its_worker_is_given_up_after_max_attempts(home: Home) -> None:
    home.drop(SUPPLIER_1, KILLER, ubl("F-KILL-1"))
    home.drop(SUPPLIER_1, "b-innocent.xml", ubl("F-OK-1"))
    home.drop(SUPPLIER_1, "c-innocent.xml", ubl("F-OK-2"))

    # max_attempts = 2: the first worker dies in a group of the three (no culprit), two
    # more die on it processing it alone, the fourth gives it up and goes on
    exits = [worker(home), worker(home), worker(home), worker(home)]
    assert exits == [-signal.SIGKILL, -signal.SIGKILL, -signal.SIGKILL, INCIDENT_EXIT]

    flows = {f["file_name"]: f for f in json.loads(home.invoke("flows", "list", "--json").stdout)}
    assert {name: f["status"] for name, f in flows.items()} == {
        KILLER: "IN_INCIDENTE",
        "b-innocent.xml": "IN_INTEGRE",  # leased with it by the dead workers, never blamed
        "c-innocent.xml": "IN_INTEGRE",
    }
    detail = home.show(flows[KILLER]["number"])
    (error,) = detail["errors"]
    assert (error["code"], error["value"]) == ("FLOW_KILLED_WORKER", "2")
    assert "2 fois" in error["message_fr"]
    (cr,) = [n for n in home.outbox(SUPPLIER_1) if flows[KILLER]["number"] in n]
    text = (home.path / "outbox" / SUPPLIER_1 / cr).read_text(encoding="utf-8")
    assert "FLOW_KILLED_WORKER" in text and "IN_INCIDENTE" in text
    assert len(home.outbox(RECIPIENT)) == 2  # the innocent flows' invoices, once each

    # never taken again: another worker finds nothing to do, the CR is not written twice
    assert worker(home) == 0
    assert home.show(flows[KILLER]["number"])["status"] == "IN_INCIDENTE"
    assert [n for n in home.outbox(SUPPLIER_1) if flows[KILLER]["number"] in n] == [cr]


def test_the_killer_in_the_middle_of_a_group_is_found_and_the_flows_around_it_integrated(
    home: Home,
) -> None:
    """Received between two innocent flows: the worker that dies in their group blames
    none of them; taken again alone, the flow before it is integrated, then the killer
    alone kills its workers, then it is given up and the flow after it integrated."""
    home.drop(SUPPLIER_1, "0-before.xml", ubl("F-OK-3"))
    home.drop(SUPPLIER_1, KILLER, ubl("F-KILL-3"))
    home.drop(SUPPLIER_1, "z-after.xml", ubl("F-OK-4"))

    exits = [worker(home) for _ in range(4)]

    assert exits == [-signal.SIGKILL, -signal.SIGKILL, -signal.SIGKILL, INCIDENT_EXIT]
    flows = {f["file_name"]: f for f in json.loads(home.invoke("flows", "list", "--json").stdout)}
    assert {name: f["status"] for name, f in flows.items()} == {
        "0-before.xml": "IN_INTEGRE",
        KILLER: "IN_INCIDENTE",
        "z-after.xml": "IN_INTEGRE",
    }
    (error,) = home.show(flows[KILLER]["number"])["errors"]
    assert (error["code"], error["value"]) == ("FLOW_KILLED_WORKER", "2")
    assert len(home.outbox(RECIPIENT)) == 2  # the innocent flows' invoices, once each


def test_an_operator_rerun_tries_it_again(home: Home) -> None:
    """Given up, the flow waits for an operator; a re-run starts the count again."""
    home.drop(SUPPLIER_1, KILLER, ubl("F-KILL-2"))
    for _ in range(4):
        worker(home)
    (flow,) = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert flow["status"] == "IN_INCIDENTE"

    # fixed meanwhile (the worker that killed it no longer does): it is processed
    home.invoke("flows", "rerun", flow["number"], "--reason", "memory raised")

    assert home.show(flow["number"])["status"] == "IN_INTEGRE"
