"""Migration 0024 (invoice_events AUTOINCREMENT on SQLite): a ledger's changes keep their
rows and ids both ways, and once upgraded a change never takes the id of one purged.

Why the id matters: GET /v1/statuses gives a supplier its changes in id order and its
cursor (`next`) is the last id given. An id given again after a purge is one a client's
cursor has passed: that client would never see the change."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import TextClause, inspect, text
from sqlalchemy.exc import IntegrityError

from edi_engine.ledger import db

SETUP = (
    "insert into partners (code, name, channel, created_at) "
    "values ('FOUR01', 'Supplier', 'local', '2026-01-01 00:00:00')",
    "insert into flows (id, number, partner_code, file_name, content_hash, size, "
    "archive_path, status, received_at, updated_at, invoice_count, rejected_count, attempts) "
    "values (1, 'FL0000000001', 'FOUR01', 'f.xml', '00', 1, 'a', 'IN_INTEGRE', "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 1, 0, 1)",
    "insert into invoices (id, flow_id, seq, number, status, status_code, status_date) "
    "values (1, 1, 1, 'F-1', 'MISE_A_DISPO', '03', '2026-01-01 00:00:00')",
    "insert into status_flows (id, partner_code, sequence, file_name, created_at, changes) "
    "values (4, 'FOUR01', 1, 'STATUT_FOUR01_1.xml', '2026-01-02 00:00:00', 2)",
)
# 3, 4, 6-8 purged already; 9 is the latest change, told in status flow 4
EVENTS = ((1, 4), (2, 4), (5, None), (9, None))
ROWS = "select id, invoice_id, status, emitted_in, to_supplier from invoice_events order by id"


def _event(event_id: int | None = None, emitted_in: int | None = None) -> TextClause:
    return text(
        "insert into invoice_events (id, invoice_id, at, status, status_code, actor, "
        "emitted_in, produced_at) values (:id, 1, '2026-01-02 00:00:00', 'MISE_A_DISPO', "
        "'03', 'hub', :emitted_in, '2026-01-02 00:00:00')"
    ).bindparams(id=event_id, emitted_in=emitted_in)


def _ledger_at_0023(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0023")
    with db.engine_for(url).begin() as connection:
        for statement in SETUP:
            connection.execute(text(statement))
        for event_id, emitted_in in EVENTS:
            connection.execute(_event(event_id, emitted_in))
    return url


def _next_id_after_purging_the_latest(url: str) -> int:
    """The id a new change takes once the two latest are purged (ids 5 and 9)."""
    with db.engine_for(url).begin() as connection:
        connection.execute(text("delete from invoice_events where id in (5, 9)"))
        connection.execute(_event())
        return connection.scalar(text("select max(id) from invoice_events"))


def _indexes(url: str) -> set[str]:
    return {i["name"] for i in inspect(db.engine_for(url)).get_indexes("invoice_events")}


def _references(url: str) -> set[tuple[str, str]]:
    keys = inspect(db.engine_for(url)).get_foreign_keys("invoice_events")
    return {(key["referred_table"], key["constrained_columns"][0]) for key in keys}


def test_upgrade_keeps_every_change_and_no_purged_id_is_given_again(tmp_path: Path) -> None:
    url = _ledger_at_0023(tmp_path)
    with db.engine_for(url).connect() as connection:
        before = connection.execute(text(ROWS)).all()

    db.migrate(url)  # as the engine does: its connections hold foreign_keys=ON

    with db.engine_for(url).connect() as connection:
        assert connection.execute(text(ROWS)).all() == before
        assert (
            connection.scalar(text("select seq from sqlite_sequence where name = 'invoice_events'"))
            == 9
        )
        assert connection.execute(text("pragma foreign_key_check")).all() == []
    assert _indexes(url) == {"ix_invoice_events_invoice_id", "ix_invoice_events_emitted_in"}
    assert _references(url) == {("invoices", "invoice_id"), ("status_flows", "emitted_in")}
    assert _next_id_after_purging_the_latest(url) == 10


def test_before_the_upgrade_sqlite_gives_a_purged_id_again(tmp_path: Path) -> None:
    """What the migration is for: a cursor at 9 would never see the change numbered 3."""
    url = _ledger_at_0023(tmp_path)
    assert _next_id_after_purging_the_latest(url) == 3


def test_a_change_still_needs_its_invoice_after_the_upgrade(tmp_path: Path) -> None:
    url = _ledger_at_0023(tmp_path)
    db.migrate(url)
    with pytest.raises(IntegrityError), db.engine_for(url).begin() as connection:
        connection.execute(text("update invoice_events set invoice_id = 2 where id = 1"))


def test_downgrade_keeps_every_change_and_upgrades_again(tmp_path: Path) -> None:
    url = _ledger_at_0023(tmp_path)
    db.migrate(url)
    with db.engine_for(url).begin() as connection:
        connection.execute(_event(12))
        after = connection.execute(text(ROWS)).all()

    command.downgrade(db.alembic_config(url), "0023")

    with db.engine_for(url).connect() as connection:
        assert connection.execute(text(ROWS)).all() == after
        table = connection.scalar(
            text("select sql from sqlite_master where name = 'invoice_events'")
        )
        assert "AUTOINCREMENT" not in table.upper()
    assert _indexes(url) == {"ix_invoice_events_invoice_id", "ix_invoice_events_emitted_in"}
    assert _references(url) == {("invoices", "invoice_id"), ("status_flows", "emitted_in")}
    db.migrate(url)
    with db.engine_for(url).connect() as connection:
        assert connection.execute(text(ROWS)).all() == after
        assert (
            connection.scalar(text("select seq from sqlite_sequence where name = 'invoice_events'"))
            == 12
        )


def test_a_new_ledger_never_gives_a_purged_change_id_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    with db.engine_for(url).begin() as connection:
        for statement in SETUP:
            connection.execute(text(statement))
        for event_id, emitted_in in EVENTS:
            connection.execute(_event(event_id, emitted_in))
    assert _next_id_after_purging_the_latest(url) == 10
