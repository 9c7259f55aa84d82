"""Migrations on PostgreSQL: alembic run directly leaves no connection behind, and
migration 0016 seeds flow numbers there as on SQLite. Skips, saying why, without the
server."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

from edi_engine.ledger import db
from edi_engine.reception import intake

from .conftest import PG_ADMIN

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")


def _sessions_on(database: str) -> int:
    """Sessions the server holds open on the test's database."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        return admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()[0]


@pytest.fixture
def ledger(pg_url: str) -> str:
    db.migrate(pg_url)
    db.engine_for(pg_url).dispose()  # the engine's own pool: not what is measured here
    return pg_url


def test_alembic_run_directly_leaves_no_connection_open(ledger: str, pg_database: str) -> None:
    """It kept its connection in a pool of its own, closed only when the garbage collector
    got to it (a ResourceWarning in whichever test ran then)."""
    assert _sessions_on(pg_database) == 0

    command.downgrade(db.alembic_config(ledger), "0015")
    command.upgrade(db.alembic_config(ledger), "head")

    assert _sessions_on(pg_database) == 0


def test_a_ledger_whose_flows_were_all_purged_numbers_on_from_what_was_counted(
    ledger: str,
) -> None:
    """No flow and an id sequence never called (as after a restore): the flows the monthly
    counters counted say how many numbers were given."""
    engine = db.engine_for(ledger)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO monthly_counters (month, partner_code, syntax, inbound_flows) "
                "VALUES ('2026-01', 'FOUR01', 'IN_DP_E1_UBL_INVOICE', 40), "
                "('2026-02', 'FOUR02', 'IN_STATUT_CPP', 1)"
            )
        )
    engine.dispose()
    command.downgrade(db.alembic_config(ledger), "0015")

    db.migrate(ledger)

    try:
        with Session(engine) as session, session.begin():
            assert intake.next_number(session) == "FL0000000042"
    finally:
        engine.dispose()  # the test's database is dropped afterwards
