"""`edi-engine purge [--dry-run]` (issue 7, item 5): the retention policy applied by an
operator, counted first without changing anything, and audited in `job_runs` like the
nightly job, end to end through the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edi_engine.operations import invoices
from jobs import schedule

from .conftest import RECIPIENT, SUPPLIER_1, Home

OLD = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
CUTOFF = "2026-12-05T09:00:00+00:00"  # one month before NOW


def _at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr("edi_engine.clock.now", lambda: moment)


@pytest.fixture
def aged(home: Home, monkeypatch: pytest.MonkeyPatch) -> tuple[Home, dict]:
    """Two old flows (the second a duplicate of the first, sharing its original), a status
    flow about the old invoice, and one recent flow; a retention of one month."""
    _at(monkeypatch, OLD)
    home.drop(SUPPLIER_1, "old.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "old-again.xml", sample="ubl-invoice.xml")
    home.run()
    home.invoke("statuses", "emit")
    _at(monkeypatch, NOW)
    home.drop(SUPPLIER_1, "recent.xml", sample="ubl-creditnote.xml")
    (recent,) = home.run()
    monkeypatch.setenv("EDI_ENGINE_RETENTION_MONTHS", "1")
    return home, recent


def _snapshot(home: Home) -> dict[str, str]:
    """Every file of the home (the ledger included) and its content."""
    return {
        str(path.relative_to(home.path)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(home.path.rglob("*"))
        if path.is_file()
    }


def _runs(home: Home) -> list[tuple]:
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        return ledger.execute(
            "select job_id, owner, outcome, finished_at is not null from job_runs order by id"
        ).fetchall()


def _purge(home: Home, *args: str, code: int = 0) -> dict:
    return json.loads(home.invoke("purge", *args, "--json", code=code).stdout)


def test_a_dry_run_counts_what_would_go_and_changes_nothing(aged: tuple[Home, dict]) -> None:
    home, _ = aged
    before = _snapshot(home)
    result = home.invoke("purge", "--dry-run", "--json")
    counted = json.loads(result.stdout)
    # two flows, the one invoice of the first (the duplicate has none), and four files:
    # two CRs, one pivot, the shared original (the status flow about the old invoice stays:
    # it is the supplier's last, the next one counts on from it)
    assert counted == {"dry_run": True, "cutoff": CUTOFF, "flows": 2, "invoices": 1, "files": 4}
    assert result.stderr.strip() == (
        "Retention (1 month(s)): would purge 2 flow(s), 1 invoice(s) and 4 file(s) from "
        "before 2026-12-05 (dry run: nothing changed)."
    )
    assert _snapshot(home) == before
    assert _runs(home) == []  # a dry run is not a purge: no audit line

    table = home.invoke("purge", "--dry-run").stdout
    assert "cutoff" in table and "flows" in table and CUTOFF in table
    assert _snapshot(home) == before


def test_purge_removes_old_flows_with_their_files_and_keeps_recent_ones(
    aged: tuple[Home, dict],
) -> None:
    home, recent = aged
    archived = sorted(p for p in (home.path / "archive").rglob("*") if p.is_file())
    counted = _purge(home, "--dry-run")

    result = home.invoke("purge", "--json")
    done = json.loads(result.stdout)
    assert done == {**counted, "dry_run": False}  # the dry run said exactly this
    assert result.stderr.strip() == (
        "Retention (1 month(s)): purged 2 flow(s), 1 invoice(s) and 4 file(s) from before "
        "2026-12-05."
    )

    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert [f["number"] for f in flows] == [recent["number"]]
    found = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert [i["flow"] for i in found] == [recent["number"]]
    assert home.outbox(SUPPLIER_1) == [f"CR_FOUR01_{recent['number']}.xml", "STATUT_FOUR01_1.xml"]
    assert home.outbox(RECIPIENT) == [f"PIVOT_DEST01_{recent['number']}_1.xml"]
    remaining = sorted(p for p in (home.path / "archive").rglob("*") if p.is_file())
    assert len(remaining) == len(archived) - 1
    assert home.show(recent["number"])["status"] == "IN_INTEGRE"

    # the audit line: who purged, when, and what
    expected = (
        "purge",
        invoices.operator(),
        "ok: purged 2 flow(s), 1 invoice(s) and 4 file(s) from before 2026-12-05",
        1,
    )
    assert _runs(home) == [expected]
    # nothing left to purge; a second purge at the same instant is a second line
    assert _purge(home) == {**done, "flows": 0, "invoices": 0, "files": 0}
    assert _runs(home) == [
        expected,
        (
            *expected[:2],
            "ok: purged 0 flow(s), 0 invoice(s) and 0 file(s) from before 2026-12-05",
            1,
        ),
    ]
    # `jobs list` shows the daemon's jobs only; the nightly job has not run
    jobs = {row["job"]: row for row in json.loads(home.invoke("jobs", "list", "--json").stdout)}
    assert "purge" not in jobs and jobs[schedule.RETENTION]["last_outcome"] is None


def test_the_default_retention_keeps_everything_younger_than_ten_years(
    aged: tuple[Home, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = aged
    monkeypatch.delenv("EDI_ENGINE_RETENTION_MONTHS")
    before = _snapshot(home)
    assert _purge(home, "--dry-run") == {
        "dry_run": True,
        "cutoff": "2017-01-05T09:00:00+00:00",
        "flows": 0,
        "invoices": 0,
        "files": 0,
    }
    table = home.invoke("purge").stdout
    assert "2017-01-05" in table
    assert len(json.loads(home.invoke("flows", "list", "--json").stdout)) == 3
    after = _snapshot(home)
    assert {k for k in after if not k.startswith("ledger.db")} == {
        k for k in before if not k.startswith("ledger.db")
    }
    assert [run[2] for run in _runs(home)] == [
        "ok: purged 0 flow(s), 0 invoice(s) and 0 file(s) from before 2017-01-05"
    ]


def test_a_failed_purge_changes_nothing_and_leaves_its_audit_line(
    aged: tuple[Home, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = aged
    files = sorted(p for p in home.path.rglob("*") if p.is_file() and "ledger.db" not in p.name)

    def broken(*_args: object) -> list[Path]:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr("edi_engine.operations.retention._delete_flows", broken)
    home.invoke("purge", code=3)
    assert len(json.loads(home.invoke("flows", "list", "--json").stdout)) == 3
    assert (
        sorted(p for p in home.path.rglob("*") if p.is_file() and "ledger.db" not in p.name)
        == files
    )
    ((job, owner, outcome, finished),) = _runs(home)
    assert (job, owner, finished) == ("purge", invoices.operator(), 1)
    assert outcome == "failed: RuntimeError: the disk is on fire"


def test_an_old_flow_whose_invoice_still_moves_is_kept_and_status_flows_count_on(
    aged: tuple[Home, dict],
) -> None:
    home, _ = aged
    old_invoice = json.loads(home.invoke("invoices", "search", "--json").stdout)[0]
    home.invoke("invoices", "set-status", old_invoice["id"], "SERVICE_FAIT")  # this month
    done = _purge(home)
    assert done["flows"] == 1  # the duplicate flow only: the invoice's flow is still in use
    found = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert old_invoice["id"] in [i["id"] for i in found]
    (emitted,) = json.loads(home.invoke("statuses", "emit", "--json").stdout)
    assert emitted["file_name"] == "STATUT_FOUR01_2.xml"  # the service fait is told


def test_what_partners_left_under_old_output_names_stays_and_the_purge_completes(
    aged: tuple[Home, dict], tmp_path: Path
) -> None:
    """A partner owns its outbox folder: under the names of outputs about to be purged it
    may leave a folder, a named pipe or a link. The purge removes the link itself (not
    what it points to), leaves the folder and the pipe unopened with one warning each,
    and still removes the old flows' archived original."""
    home, recent = aged
    home.invoke("statuses", "emit")  # about the recent flow: the old status flow can go now
    supplier, recipient = home.path / "outbox" / SUPPLIER_1, home.path / "outbox" / RECIPIENT
    assert home.outbox(SUPPLIER_1) == [
        "CR_FOUR01_FL0000000001.xml",
        "CR_FOUR01_FL0000000002.xml",
        f"CR_FOUR01_{recent['number']}.xml",
        "STATUT_FOUR01_1.xml",
        "STATUT_FOUR01_2.xml",
    ]
    folder = supplier / "CR_FOUR01_FL0000000001.xml"
    pivot_pipe = recipient / "PIVOT_DEST01_FL0000000001_1.xml"
    status_pipe = supplier / "STATUT_FOUR01_1.xml"
    link = supplier / "CR_FOUR01_FL0000000002.xml"
    for path in (folder, pivot_pipe, status_pipe, link):
        path.unlink()
    folder.mkdir()
    (folder / "mine.txt").write_text("the supplier's own")
    os.mkfifo(pivot_pipe)
    os.mkfifo(status_pipe)
    target = tmp_path / "elsewhere.txt"
    target.write_text("not the engine's")
    link.symlink_to(target)
    originals = sorted(p for p in (home.path / "archive").rglob("*") if p.is_file())

    result = home.invoke("purge", "--json")

    # the rows go; of the files, the link and the shared original
    assert json.loads(result.stdout) == {
        "dry_run": False, "cutoff": CUTOFF, "flows": 2, "invoices": 1, "files": 2,
    }  # fmt: skip
    assert (
        len(sorted(p for p in (home.path / "archive").rglob("*") if p.is_file()))
        == len(originals) - 1
    )
    assert not os.path.lexists(link) and target.read_text() == "not the engine's"
    assert (folder / "mine.txt").read_text() == "the supplier's own"
    assert stat.S_ISFIFO(pivot_pipe.lstat().st_mode) and stat.S_ISFIFO(status_pipe.lstat().st_mode)
    warnings = [line for line in result.stderr.splitlines() if "not a file the engine" in line]
    assert len(warnings) == 3
    assert [any(p.name in w for w in warnings) for p in (folder, pivot_pipe, status_pipe)] == [
        True, True, True,
    ]  # fmt: skip
    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert [f["number"] for f in flows] == [recent["number"]]
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        kept = ledger.execute("select file_name from status_flows").fetchall()
    assert kept == [("STATUT_FOUR01_2.xml",)]
