"""The monthly counters' parts: months and ranges, the upsert on SQLite and as PostgreSQL
reads it, the terminal chart's scale, and what migration 0007 counts in an existing ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from edi_engine.errors import UsageError
from edi_engine.ledger import counters, db

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def session(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    with Session(db.engine_for(url)) as session:
        yield session


def test_a_month_is_the_hubs() -> None:
    assert counters.month_of(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), PARIS) == "2026-12"
    assert counters.month_of(datetime(2026, 11, 30, 22, 59), PARIS) == "2026-11"  # naive: UTC


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "x"])
def test_a_bad_month_names_its_option(bad: str) -> None:
    with pytest.raises(UsageError, match=f"^--to {bad!r} is not a month"):
        counters.parse_month(bad, "--to")


def test_month_ranges() -> None:
    today = date(2027, 1, 15)
    default = counters.month_range(None, None, today)
    assert (default[0], default[-1], len(default)) == ("2026-02", "2027-01", 12)
    assert counters.month_range("2026-11", "2027-02", today) == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]
    assert counters.month_range("2026-12", None, today) == ["2026-12", "2027-01"]
    assert counters.month_range("2027-03", "2027-03", today) == ["2027-03"]
    with pytest.raises(UsageError, match="--from 2027-02 is after --to 2027-01"):
        counters.month_range("2027-02", None, today)


def test_the_upsert_adds_and_takes_back(session: Session) -> None:
    ubl = "IN_DP_E1_UBL_INVOICE"
    counters.add(session, "2026-11", "FOUR01", ubl, inbound_flows=1)
    counters.add(session, "2026-12", "FOUR01", "CR", outbound_flows=1)
    session.commit()
    counts = {"invoices_received": 3, "invoices_accepted": 2, "invoices_rejected": 1}
    counters.add(session, "2026-11", "FOUR01", ubl, inbound_flows=1, **counts)  # to its row
    counters.add(session, "2026-11", "FOUR01", None, inbound_flows=1)  # unidentified
    counters.add(session, "2026-12", "FOUR01", "CR", outbound_flows=-1)  # taken back
    counters.add(session, "2026-12", "FOUR02", "CR", outbound_flows=1)
    counters.add(session, "2026-12", "FOUR02", "CR", outbound_flows=-1)  # nets to nothing
    session.commit()
    counters.add(session, "2026-12", "FOUR03", "CR", outbound_flows=1)
    session.rollback()  # FOUR03's file was never written
    session.commit()
    rows = session.execute(text("select * from monthly_counters order by syntax")).all()
    assert [tuple(r) for r in rows] == [
        ("2026-12", "FOUR01", "CR", 0, 0, 0, 0, 0),
        ("2026-11", "FOUR01", ubl, 2, 0, 3, 2, 1),
        ("2026-11", "FOUR01", "UNKNOWN", 1, 0, 0, 0, 0),
    ]
    with pytest.raises(ValueError, match="no such counter: invoices"):
        counters.add(session, "2026-11", "FOUR01", "CR", invoices=1)


def test_reading_fills_every_month_and_group(session: Session) -> None:
    counters.add(session, "2026-11", "FOUR01", "IN_DP_E1_UBL_INVOICE", inbound_flows=2)
    counters.add(session, "2026-12", "DEST01", "PIVOT", outbound_flows=3)
    counters.add(session, "2026-12", "GONE01", "CR", outbound_flows=1)
    counters.add(session, "2026-12", "GONE01", "CR", outbound_flows=-1)  # all zeros: no group
    session.commit()
    months = ["2026-10", "2026-11", "2026-12"]
    assert [r["inbound_flows"] for r in counters.monthly(session, months)] == [0, 2, 0]
    by_partner = counters.monthly(session, months, "partner")
    assert [(r["month"], r["partner"]) for r in by_partner] == [
        (month, partner) for month in months for partner in ("DEST01", "FOUR01")
    ]
    assert counters.monthly(session, ["2027-01"], "syntax") == []
    with pytest.raises(UsageError, match="--by 'structure'"):
        counters.monthly(session, months, "structure")


def test_postgresql_reads_the_same_upsert() -> None:
    key = {"month": "2026-11", "partner_code": "FOUR01", "syntax": "CR"}
    values = dict.fromkeys(counters.COLUMNS, 0) | {"outbound_flows": 1}
    statement = counters.upsert("postgresql", key, values)
    sql = " ".join(str(statement.compile(dialect=postgresql.dialect())).split())
    assert "ON CONFLICT (month, partner_code, syntax) DO UPDATE SET" in sql
    assert "outbound_flows = (monthly_counters.outbound_flows + excluded.outbound_flows)" in sql
    assert counters.upsert("mssql", key, values) is None


def test_bars_scale_to_the_width() -> None:
    rows = [
        {"month": "2026-11", **dict.fromkeys(counters.COLUMNS, 0), "inbound_flows": 1000},
        {"month": "2026-11", **dict.fromkeys(counters.COLUMNS, 0), "outbound_flows": 500},
        {"month": "2026-12", **dict.fromkeys(counters.COLUMNS, 0), "outbound_flows": 1},
        {"month": "2027-01", **dict.fromkeys(counters.COLUMNS, 0)},
    ]
    assert counters.bar_lengths(rows, 40) == [
        ("2026-11", 1000, 500, 40, 20),  # grouped rows are added up per month
        ("2026-12", 0, 1, 0, 1),  # a count above zero always shows
        ("2027-01", 0, 0, 0, 0),
    ]


def test_csv_columns() -> None:
    rows = [{"month": "2026-11", "syntax": "CR", **dict.fromkeys(counters.COLUMNS, 1)}]
    assert counters.to_csv(rows, "syntax").splitlines() == [
        "month,syntax,inbound_flows,outbound_flows,invoices_received,invoices_accepted,"
        "invoices_rejected",
        "2026-11,CR,1,1,1,1,1",
    ]


def test_migration_0007_counts_what_the_ledger_already_holds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0006")
    flow = (
        "insert into flows (id, number, partner_code, file_name, content_hash, size, "
        "archive_path, syntax, status, received_at, updated_at, invoice_count, rejected_count, "
        "attempts) values (:id, :number, 'FOUR01', 'f.xml', 'h', 1, 'a', :syntax, :status, "
        ":at, :at, :invoices, :rejected, 1)"
    )
    output = (
        "insert into outputs (flow_id, kind, partner_code, file_name, written_at) "
        "values (:flow, :kind, :partner, :name, :at)"
    )
    with db.engine_for(url).begin() as connection:
        connection.execute(
            text(
                "insert into partners (code, name, channel, created_at) values "
                "('FOUR01', 'Supplier', 'local', '2026-01-01 00:00:00'), "
                "('DEST01', 'Recipient', 'local', '2026-01-01 00:00:00')"
            )
        )
        flows = [
            # 23:30 UTC on 30 November: December in Paris
            (1, "UBL", "IN_INTEGRE_PARTIEL", "2026-11-30 23:30:00.000000", 3, 1),
            (2, "STATUT", "IN_INTEGRE", "2026-11-10 09:00:00.000000", 4, 1),
            (3, None, "IN_RECU", "2026-11-10 09:00:00.000000", 0, 0),  # not processed yet
        ]
        for id_, syntax, status, at, invoices, rejected in flows:
            syntax = {"UBL": "IN_DP_E1_UBL_INVOICE", "STATUT": "IN_STATUT_CPP"}.get(syntax)
            values = dict(id=id_, number=f"N{id_}", syntax=syntax, status=status, at=at)
            connection.execute(text(flow), values | {"invoices": invoices, "rejected": rejected})
        for n, (flow_id, kind, partner, at) in enumerate(
            [
                (1, "CR", "FOUR01", "2026-11-30 23:30:00.000000"),
                (1, "PIVOT", "DEST01", "2026-11-30 23:30:00.000000"),
                (1, "PIVOT", "DEST01", "2026-11-30 23:30:00.000000"),
                (2, "CR", "FOUR01", "2026-11-10 09:00:00.000000"),
                (None, "STATUT", "FOUR01", "2026-11-10 10:00:00.000000"),
            ]
        ):
            name = f"{kind}_{partner}_{n}.xml"
            values = {"flow": flow_id, "kind": kind, "partner": partner, "name": name, "at": at}
            connection.execute(text(output), values)

    db.migrate(url)

    with db.engine_for(url).connect() as connection:
        rows = connection.execute(
            text("select * from monthly_counters order by month, partner_code, syntax")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("2026-11", "FOUR01", "CR", 0, 1, 0, 0, 0),
        ("2026-11", "FOUR01", "IN_STATUT_CPP", 1, 0, 0, 0, 0),  # statuses are no invoices
        ("2026-11", "FOUR01", "STATUT", 0, 1, 0, 0, 0),
        ("2026-12", "DEST01", "PIVOT", 0, 2, 0, 0, 0),
        ("2026-12", "FOUR01", "CR", 0, 1, 0, 0, 0),
        ("2026-12", "FOUR01", "IN_DP_E1_UBL_INVOICE", 1, 0, 3, 2, 1),
    ]
