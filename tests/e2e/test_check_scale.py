"""`edi-engine check` on a home of more than a page of everything it reads (flows,
outputs, invoices, status flows: the ledger is read a thousand rows at a time, each page
found by an index): every row is looked at once, none twice, and a fault on either side
of a page's edge is named once.

The home is built as `python -m bench.check` builds it (bulk INSERTs of what a run
leaves, a real SQLite ledger and real files): 12,000 one-invoice flows, 1,200 status flows
to their supplier, 25,200 outputs."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.check import SUPPLIER, TOLD, build
from cli import main

FLOWS = 12_000  # twelve pages of flows and invoices, 1,200 status flows: two pages
EDGE = 1000  # the last row of the first page (integrity.reading.PAGE, status_flows.PAGE)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in [n for n in os.environ if n.startswith("EDI_ENGINE_")]:
            monkeypatch.delenv(name)
        build(path, FLOWS, present=0.1)
    return path


@pytest.fixture
def home(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith("EDI_ENGINE_")]:
        monkeypatch.delenv(name)
    copy = tmp_path / "home"
    shutil.copytree(built, copy)
    return copy


def _check(home: Path, code: int) -> dict:
    said = CliRunner().invoke(main, ["--home", str(home), "check", "--json"])
    assert said.exit_code == code, (said.stdout, said.stderr)
    return json.loads(said.stdout)


def test_every_row_of_every_page_is_checked_once(home: Path) -> None:
    found = _check(home, 0)

    assert found["sound"] is True and found["problems"] == []
    checked = found["checked"]
    statuses = FLOWS // TOLD
    assert (checked["flows"], checked["originals"], checked["invoices"]) == (FLOWS,) * 3
    assert checked["status_flows"] == statuses
    assert checked["outputs"] == 2 * FLOWS + statuses  # a CR and a pivot each, the statuses
    assert checked["outbox_files"] == (2 * FLOWS + statuses) // 10


def test_faults_on_both_sides_of_a_pages_edge_are_each_named_once(home: Path) -> None:
    with sqlite3.connect(home / "ledger.db", isolation_level=None) as ledger:
        # the status flow just after the first page's last is lost: a gap across the edge
        ledger.execute(
            "DELETE FROM status_flows WHERE partner_code = ? AND sequence = ?",
            (SUPPLIER, EDGE + 1),
        )
        # the 03 of the invoices on either side of the edge are lost: their first pivots,
        # delivered, were never told made available
        ledger.execute("DELETE FROM invoice_events WHERE invoice_id IN (?, ?)", (EDGE, EDGE + 1))

    found = _check(home, 1)

    assert sorted((p["kind"], p["where"]) for p in found["problems"]) == [
        ("first_delivery_missing", f"invoice {EDGE}"),
        ("first_delivery_missing", f"invoice {EDGE + 1}"),
        ("status_sequence_gap", f"partner {SUPPLIER}"),
    ]
    (gap,) = [p for p in found["problems"] if p["kind"] == "status_sequence_gap"]
    assert gap["message"].startswith(
        f"the status flows of partner {SUPPLIER} jump from {EDGE} to {EDGE + 2}: "
        f"number {EDGE + 1} is not in the ledger"
    )
    (pivot,) = [p for p in found["problems"] if p["where"] == f"invoice {EDGE}"]
    assert (
        f"its first pivot DEST01/PIVOT_DEST01_FL{EDGE:010d}_1.xml was delivered"
        in (pivot["message"])
    )
    assert found["checked"]["status_flows"] == FLOWS // TOLD - 1
