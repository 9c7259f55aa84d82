"""What the daemon's scheduled jobs do, each run as the scheduler runs it (issue 6, item 5):
the monthly report, the retention policy, and one run per fire time."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from edi_engine import cron
from edi_engine.ledger import db, jobruns
from edi_engine.operations import retention
from edi_engine.settings import load
from jobs import schedule

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home

NOVEMBER = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def _at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr("edi_engine.clock.now", lambda: moment)


def _jobs(home: Home) -> dict[str, dict]:
    return {row["job"]: row for row in json.loads(home.invoke("jobs", "list", "--json").stdout)}


def test_the_monthly_report_counts_the_previous_month(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at(monkeypatch, NOVEMBER)
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_2, "b.xml", sample="pivot-multi.xml")
    home.run()
    _at(monkeypatch, datetime(2026, 12, 1, 0, 30, tzinfo=UTC))  # 01:30 in Paris
    home.drop(SUPPLIER_1, "c.xml", sample="ubl-creditnote.xml")
    home.run()

    schedule.run(load(home.path), schedule.MONTHLY, "0 1 1 * *")
    report = json.loads((home.path / "reports" / "monthly-2026-11.json").read_text())
    assert report == {
        "month": "2026-11",
        "inbound_flows": 2,
        "outbound_flows": 5,  # two CRs, three pivots
        "invoices_received": 4,
        "invoices_accepted": 3,
        "invoices_rejected": 1,
    }
    assert _jobs(home)[schedule.MONTHLY]["last_outcome"] == "ok: wrote monthly-2026-11.json"


def test_retention_purges_old_flows_with_their_files_and_keeps_recent_ones(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at(monkeypatch, NOVEMBER)
    home.drop(SUPPLIER_1, "old.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "old-again.xml", sample="ubl-invoice.xml")  # a duplicate flow
    home.run()
    home.invoke("statuses", "emit")
    _at(monkeypatch, datetime(2027, 1, 5, 9, 0, tzinfo=UTC))
    home.drop(SUPPLIER_1, "recent.xml", sample="ubl-creditnote.xml")
    (recent,) = home.run()
    archived = sorted(p for p in (home.path / "archive").rglob("*") if p.is_file())

    monkeypatch.setenv("EDI_ENGINE_RETENTION_MONTHS", "1")
    schedule.run(load(home.path), schedule.RETENTION, "30 2 * * *")

    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert [f["number"] for f in flows] == [recent["number"]]
    assert [i["flow"] for i in json.loads(home.invoke("invoices", "search", "--json").stdout)] == [
        recent["number"]
    ]
    # old CRs go; the status flow stays: it is the supplier's last, the next counts on
    assert home.outbox(SUPPLIER_1) == [f"CR_FOUR01_{recent['number']}.xml", "STATUT_FOUR01_1.xml"]
    assert home.outbox(RECIPIENT) == [f"PIVOT_DEST01_{recent['number']}_1.xml"]
    remaining = sorted(p for p in (home.path / "archive").rglob("*") if p.is_file())
    assert len(remaining) == len(archived) - 1  # the two old flows shared one original
    outcome = _jobs(home)[schedule.RETENTION]["last_outcome"]
    assert outcome.startswith("ok: purged 2 flow(s), 1 invoice(s)")


def test_a_fire_time_runs_once_however_many_daemons_fire_it(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at(monkeypatch, NOVEMBER)
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    home.run()
    for _ in range(2):
        schedule.run(load(home.path), f"{schedule.STATUSES}{SUPPLIER_1}", "0 * * * *")
    assert [p.name for p in (home.path / "outbox" / SUPPLIER_1).glob("STATUT_*")] == [
        "STATUT_FOUR01_1.xml"
    ]
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        runs = ledger.execute("select job_id from job_runs").fetchall()
    assert runs == [(f"{schedule.STATUSES}{SUPPLIER_1}",)]


def test_a_partner_may_have_its_own_status_schedule(home: Home) -> None:
    home.invoke("partners", "update", SUPPLIER_1, "--status-cron", "15 6 * * 1-5")
    jobs = _jobs(home)
    assert jobs[f"{schedule.STATUSES}{SUPPLIER_1}"]["schedule"] == "15 6 * * 1-5"
    assert jobs[f"{schedule.STATUSES}{SUPPLIER_2}"]["schedule"] == "0 * * * *"
    refused = home.invoke("partners", "update", SUPPLIER_1, "--status-cron", "every hour", code=2)
    assert "not a cron schedule" in refused.stderr


def test_cron_fields_and_month_arithmetic() -> None:
    zone = ZoneInfo("Europe/Paris")
    hourly = cron.trigger("0 * * * *", zone)
    after = hourly.get_next_fire_time(None, datetime(2026, 11, 27, 10, 30, tzinfo=zone))
    assert after == datetime(2026, 11, 27, 11, 0, tzinfo=zone)
    assert cron.problem("*/2 * * * * *") is None
    assert "5 fields" in cron.problem("* * *")
    assert retention.cutoff(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert retention.cutoff(datetime(2026, 11, 27, tzinfo=UTC), 120) == datetime(
        2016, 11, 27, tzinfo=UTC
    )


def test_cron_weekdays_count_from_sunday_as_in_crontab() -> None:
    zone = ZoneInfo("Europe/Paris")
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=zone)
    weekdays = cron.trigger("0 6 * * 1-5", zone).get_next_fire_time(None, friday)
    assert weekdays == datetime(2026, 11, 30, 6, 0, tzinfo=zone)  # Monday, not Saturday
    for sunday in ("0 6 * * 0", "0 6 * * 7", "0 6 * * sun"):
        fire = cron.trigger(sunday, zone).get_next_fire_time(None, friday)
        assert fire == datetime(2026, 11, 29, 6, 0, tzinfo=zone), sunday
    assert cron.weekdays("*/2") == "sun,tue,thu,sat"
    assert "goes backwards" in cron.problem("0 6 * * 5-1")


def test_jobs_list_gives_last_and_next_runs_in_the_hubs_time_zone(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at(monkeypatch, NOVEMBER)  # 09:00 UTC, 10:00 in Paris
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    home.run()
    schedule.run(load(home.path), f"{schedule.STATUSES}{SUPPLIER_1}", "0 * * * *")

    jobs = _jobs(home)

    statuses = jobs[f"{schedule.STATUSES}{SUPPLIER_1}"]
    assert statuses["last_run"] == "2026-11-10T10:00:00+01:00"
    assert statuses["next_run"] == "2026-11-10T11:00:00+01:00"
    assert jobs["process"]["last_run"] == "2026-11-10T10:00:00+01:00"
    assert jobs[schedule.MONTHLY]["next_run"] == "2026-12-01T01:00:00+01:00"


def test_a_partner_that_only_receives_invoices_has_no_status_job(home: Home) -> None:
    jobs = _jobs(home)
    assert f"{schedule.STATUSES}{SUPPLIER_1}" in jobs  # may deposit: has its job already
    assert f"{schedule.STATUSES}{RECIPIENT}" not in jobs  # serves structures, deposits nothing

    # it deposits an invoice after all (for a supplier it is now tied to)
    home.invoke("partners", "suppliers", "add", RECIPIENT, "81234567600025")
    home.drop(RECIPIENT, "a.xml", sample="ubl-invoice.xml")
    home.run()
    (emitted,) = json.loads(home.invoke("statuses", "emit", "--json").stdout)

    assert emitted["partner"] == RECIPIENT  # so statuses emit writes it one,
    assert f"{schedule.STATUSES}{RECIPIENT}" in _jobs(home)  # and it has its job


def test_each_poll_sees_a_new_depositor_and_nothing_else_when_nothing_changed(
    home: Home,
) -> None:
    url = load(home.path).database_url
    with db.session_scope(url, write=False) as session:
        known = jobruns.read_partners(session)
        unchanged = jobruns.refresh_partners(session, known)
    assert not unchanged.changed
    assert RECIPIENT not in known.status_partners()

    home.drop(RECIPIENT, "a.xml", sample="ubl-invoice.xml")
    home.run()
    with db.session_scope(url, write=False) as session:
        seen = jobruns.refresh_partners(session, unchanged)

    assert seen.changed
    assert RECIPIENT in seen.status_partners()
