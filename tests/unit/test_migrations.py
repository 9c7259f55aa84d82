"""Migrations are the only way the schema changes: head must match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

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
        assert MigrationContext.configure(connection).get_current_revision() == "0001"
