"""Alembic environment: runs on the connection the engine hands over (edi_engine.ledger.db)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from edi_engine.ledger.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    # alembic run directly (a test's downgrade): one connection, closed at the end, not
    # left in a pool that outlives the run and is only collected later, still open
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
    try:
        with engine.begin() as own:
            _run_on(own)
    finally:
        engine.dispose()


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """APScheduler keeps its job store in the ledger; that table is its own, not ours."""
    return not (type_ == "table" and name == "apscheduler_jobs")


def _run_on(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_ours,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
