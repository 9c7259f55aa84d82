"""`run --daemon` with its scheduled jobs (issue 6, item 5), as real processes: status flows
on a short cron, two daemons on one ledger running each job once, SIGTERM stopping both
cleanly, and `jobs list` saying what ran and what comes next."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home

EVERY_TWO_SECONDS = "*/2 * * * * *"


def _environment(home: Home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    env.update(
        EDI_ENGINE_HOME=str(home.path),
        EDI_ENGINE_PICKUP_STABLE_SECONDS="0",
        EDI_ENGINE_PROCESSING_FSYNC="false",
        EDI_ENGINE_PROCESSING_DAEMON_POLL_SECONDS="0.5",
        EDI_ENGINE_JOBS_STATUSES_CRON=EVERY_TWO_SECONDS,
    )
    return env


@pytest.fixture
def daemons(home: Home) -> Iterator[Callable[[], subprocess.Popen]]:
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--daemon"],
            cwd=Path(__file__).resolve().parents[2],
            env=_environment(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def _status_flows(home: Home) -> list[Path]:
    return sorted((home.path / "outbox" / SUPPLIER_1).glob("STATUT_*.xml"))


def test_two_daemons_send_each_status_once_and_stop_on_sigterm(
    home: Home, daemons: Callable[[], subprocess.Popen], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_JOBS_STATUSES_CRON", EVERY_TWO_SECONDS)  # for `jobs list`
    first, second = daemons(), daemons()
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    _wait_for(lambda: bool(_status_flows(home)))
    time.sleep(5)  # several fire times pass with both daemons running

    numbers = [
        (unit.findtext("DonneesStatut/IdStatut"), unit.findtext("DonneesStatut/IdFacture"))
        for path in _status_flows(home)
        for unit in etree.parse(str(path)).iter("CPPFactureStatutUnitaire")
    ]
    assert numbers == [("01", "F01-2026-000101"), ("02", "F01-2026-000101"),
                       ("03", "F01-2026-000101")]  # fmt: skip

    jobs = {row["job"]: row for row in json.loads(home.invoke("jobs", "list", "--json").stdout)}
    statuses = jobs[f"statuses-{SUPPLIER_1}"]
    assert statuses["schedule"] == EVERY_TWO_SECONDS
    assert statuses["last_run"] and statuses["next_run"]
    assert statuses["last_outcome"].startswith("ok")
    assert jobs["process"]["last_run"]
    assert {"monthly-report", "retention"} <= set(jobs)

    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    for process in (first, second):
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors

    runs = json.loads(home.invoke("jobs", "list", "--json").stdout)
    assert all(
        row["last_outcome"] is None or not row["last_outcome"].startswith("failed") for row in runs
    )


def _runs_of(home: Home, job: str) -> int:
    """Runs of the job the ledger has recorded (the daemon's own account of its work)."""
    ledger = sqlite3.connect(home.path / "ledger.db", timeout=30)
    try:
        return ledger.execute("select count(*) from job_runs where job_id = ?", (job,)).fetchone()[
            0
        ]
    finally:
        ledger.close()


def test_a_running_daemon_applies_a_changed_schedule_and_a_new_partner_at_once(
    home: Home, daemons: Callable[[], subprocess.Popen]
) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    home.run()  # FOUR01 has statuses to receive, on a schedule that will not fire for months
    home.invoke("partners", "update", SUPPLIER_1, "--status-cron", "0 0 1 1 *")
    daemon = daemons()
    _wait_for(lambda: _runs_of(home, f"statuses-{SUPPLIER_2}") > 0)  # its jobs are running
    assert _runs_of(home, f"statuses-{SUPPLIER_1}") == 0

    home.invoke("partners", "update", SUPPLIER_1, "--status-cron", EVERY_TWO_SECONDS)
    # before issue 11 the daemon looked again after 5 minutes: these waits would time out
    _wait_for(lambda: bool(_status_flows(home)))
    home.invoke("partners", "add", "FOUR03", "--name", "A supplier added meanwhile")
    _wait_for(lambda: _runs_of(home, "statuses-FOUR03") > 0)

    daemon.send_signal(signal.SIGTERM)
    _, errors = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, errors
    assert _runs_of(home, f"statuses-{RECIPIENT}") == 0  # it only receives invoices
