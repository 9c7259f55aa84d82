"""Migration 0021 (outputs.uploaded_as): a ledger's outputs keep their rows both ways; an
output recorded before it is not taken for one whose rename may have happened."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from edi_engine.ledger import db

ROW = (
    "insert into outputs (kind, partner_code, file_name, written_at, delivery_attempts) "
    "values ('PIVOT', 'DEST01', 'PIVOT_DEST01_FL0000000001_1.xml', '2026-12-01 10:00:00', 2)"
)


def _columns(url: str) -> list[str]:
    return [c["name"] for c in inspect(db.engine_for(url)).get_columns("outputs")]


def test_upgrade_keeps_queued_outputs_as_never_uploaded_and_downgrade_keeps_the_rows(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0020")
    with db.engine_for(url).begin() as connection:
        connection.execute(text(ROW))

    db.migrate(url)

    query = "select file_name, delivery_attempts, delivered_at, uploaded_as from outputs"
    with db.engine_for(url).begin() as connection:
        row = tuple(connection.execute(text(query)).one())
        assert row == ("PIVOT_DEST01_FL0000000001_1.xml", 2, None, None)  # uploaded next run
        connection.execute(text("update outputs set uploaded_as = file_name"))

    command.downgrade(db.alembic_config(url), "0020")

    assert "uploaded_as" not in _columns(url)
    with db.engine_for(url).connect() as connection:
        row = tuple(
            connection.execute(text("select file_name, delivery_attempts from outputs")).one()
        )
    assert row == ("PIVOT_DEST01_FL0000000001_1.xml", 2)
    db.migrate(url)
    assert "uploaded_as" in _columns(url)
