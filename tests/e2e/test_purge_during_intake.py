"""The intake copies a batch into the archive without the archive's guard (review M7): a
purge never waits for the copying, and one that removes the very bytes meanwhile (the same
content, its old flow purged) does not leave the new flow without its original. Real
processes on the SQLite ledger; tests/e2e/test_races.py has the intake holding the guard
from its check to its commit."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import paused_workers
import pytest
from paused_workers import ended, program, reached, start

from .conftest import SUPPLIER_1, Home

OLD = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)

# "pause-archived" stops an intake once it has copied its batch into the archive, before
# it takes the guard
CHILD = program(
    """
from edi_engine.reception import intake

if how == "pause-archived":
    intake._archived = after(intake._archived, "archived")
"""
)

started = pytest.fixture(paused_workers.started)


def _child(
    home: Home, started: list[subprocess.Popen], moment: datetime, how: str, *args: str
) -> subprocess.Popen:
    return start(CHILD, how, "--home", str(home.path), *args, at=moment, started=started)


def _finished(child: subprocess.Popen, line: str = "") -> str:
    code, out, err = ended(child, line)
    assert code == 0, err
    return out


def test_a_purge_during_the_copy_neither_waits_nor_leaves_the_new_flow_without_its_original(
    home: Home, started: list[subprocess.Popen], monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "old.xml", sample="ubl-invoice.xml")
    _finished(_child(home, started, OLD, "plain", "run", "--once"))
    (original,) = [p for p in (home.path / "archive").rglob("*") if p.is_file()]
    home.drop(SUPPLIER_1, "new.xml", sample="ubl-invoice.xml")
    intake = _child(home, started, NOW, "pause-archived", "run", "--once", "--json")
    reached(intake, "archived")

    # the copy is done, the guard not taken: the purge runs to its end meanwhile, and
    # removes the original of the same bytes, which no flow refers to yet
    monkeypatch.setenv("EDI_ENGINE_RETENTION_MONTHS", "1")
    purged = json.loads(_finished(_child(home, started, NOW, "plain", "purge", "--json")))
    assert purged["flows"] == 1
    assert not original.exists()

    (new,) = json.loads(_finished(intake, "go\n"))  # stored again before it was recorded

    assert (new["file_name"], new["status"]) == ("new.xml", "IN_INTEGRE")
    assert original.is_file()
    (rerun,) = json.loads(home.invoke("flows", "rerun", new["number"], "--force", "--json").stdout)
    assert rerun["after"] == "IN_INTEGRE"  # its original is there to process again
