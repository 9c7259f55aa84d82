"""The intake copies a batch into the archive without the archive's guard (review M7): a
purge never waits for the copying, and one that removes the very bytes meanwhile (the same
content, its old flow purged) does not leave the new flow without its original. Real
processes on the SQLite ledger; tests/e2e/test_races.py has the intake holding the guard
from its check to its commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import SUPPLIER_1, Home

REPO = Path(__file__).resolve().parents[2]
OLD = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
DEADLINE = 120  # seconds a child is given to reach a point; never a measure of speed

# the CLI in a process of its own, at a given time; "pause-archived" stops an intake once
# it has copied its batch into the archive, before it takes the guard, until a line comes
CHILD = """
import sys
from datetime import datetime
from edi_engine import clock, intake

moment = datetime.fromisoformat(sys.argv[1])
clock.now = lambda: moment
if sys.argv[2] == "pause-archived":
    archived = intake._archived

    def paused(*args, **kwargs):
        done = archived(*args, **kwargs)
        print("archived", flush=True)
        sys.stdin.readline()
        return done

    intake._archived = paused
from cli import main
main(sys.argv[3:])
"""


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    """The children a test starts: none outlives it."""
    children: list[subprocess.Popen] = []
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
            child.communicate()


def _child(
    home: Home, started: list[subprocess.Popen], moment: datetime, how: str, *args: str
) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, moment.isoformat(), how, "--home", str(home.path), *args],
        cwd=REPO,
        env=dict(os.environ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(child)
    return child


def _finished(child: subprocess.Popen, line: str = "") -> str:
    out, err = child.communicate(line, timeout=DEADLINE)
    assert child.returncode == 0, err
    return out


def test_a_purge_during_the_copy_neither_waits_nor_leaves_the_new_flow_without_its_original(
    home: Home, started: list[subprocess.Popen], monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "old.xml", sample="ubl-invoice.xml")
    _finished(_child(home, started, OLD, "plain", "run", "--once"))
    (original,) = [p for p in (home.path / "archive").rglob("*") if p.is_file()]
    home.drop(SUPPLIER_1, "new.xml", sample="ubl-invoice.xml")
    intake = _child(home, started, NOW, "pause-archived", "run", "--once", "--json")
    assert intake.stdout.readline().strip() == "archived", intake.stderr.read()

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
