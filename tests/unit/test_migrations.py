"""Migrations are the only way the schema changes: head must match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from edi_engine import db
from edi_engine.models import Base


def test_head_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    with db.engine_for(url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    db.migrate(url)
    with db.engine_for(url).connect() as connection:
        assert (
            MigrationContext.configure(connection).get_current_revision()
            == ScriptDirectory.from_config(db.alembic_config(url)).get_current_head()
        )


def test_a_ledger_from_the_first_release_upgrades_with_its_data(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0001")
    with db.engine_for(url).begin() as connection:
        connection.execute(
            text(
                "insert into partners (code, name, channel, created_at) "
                "values ('OLD001', 'Old partner', 'local', '2026-01-01 00:00:00')"
            )
        )

    db.migrate(url)

    with db.engine_for(url).connect() as connection:
        row = connection.execute(text("select code, channel, markers from partners")).one()
    assert tuple(row) == ("OLD001", "local", 0)
