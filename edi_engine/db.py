"""The one place that opens the ledger database and brings its schema up to date."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .errors import EngineError

MIGRATIONS = Path(__file__).with_name("migrations")


class LedgerError(EngineError):
    """The ledger database could not be opened or migrated."""


@cache
def engine_for(url: str) -> Engine:
    """One engine per URL per process; SQLite tuned for safety with concurrent readers."""
    try:
        engine = create_engine(url, future=True)
    except (SQLAlchemyError, ValueError) as exc:
        raise LedgerError(f"Cannot open the ledger {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_begin_immediate(connection) -> None:
    """Take SQLite's write lock at BEGIN: two processes (a daemon and an operator's
    `run --once`) then never lease the same flow from a stale snapshot."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by the hook above
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed flow survives a power cut
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Apply pending migrations; a no-op (one cheap query) when already at head."""
    engine = engine_for(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise LedgerError(f"Cannot migrate the ledger {url!r}: {exc}") from exc


@cache
def _sessions(url: str) -> sessionmaker[Session]:
    migrate(url)
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session whose caller commits (STYLE §10); rolled back on error, always closed."""
    session = _sessions(url)()
    try:
        yield session
    except SQLAlchemyError as exc:
        session.rollback()
        raise LedgerError(
            f"The ledger failed: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}"
        ) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
