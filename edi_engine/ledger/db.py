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
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigurationError, EngineError

MIGRATIONS = Path(__file__).with_name("migrations")


class LedgerError(EngineError):
    """The ledger database could not be opened or migrated."""


class LedgerMissing(LedgerError):
    """There is no ledger yet: `edi-engine init DIR` creates it."""


IMMEDIATE = "edi_engine_immediate"  # execution option of the engine that writes


# libpq also takes the password as a query parameter: `…/db?password=…`
QUERY_SECRETS = ("password",)


def without_secrets(url: URL) -> URL:
    """The URL without its password, in the user part or in the query."""
    query = {k: v for k, v in url.query.items() if k not in QUERY_SECRETS}
    return url._replace(password=None, query=query)


URL_FORM = (
    "write it dialect+driver://user:password@host:port/database, an '@' of the password as %40"
)


def read(url: str) -> URL:
    """The URL read, or why not without quoting it: the rest of a password after an '@'
    not written %40 runs into the host or the port, where messages would show it
    (docs/security.md#secrets)."""
    try:
        found: URL | None = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        found = None
    if found is None or "@" in (found.host or ""):
        raise ConfigurationError(f"The database URL cannot be read: {URL_FORM}.")
    return found


def shown(url: str) -> str:
    """A URL fit for messages and logs: never its password (docs/architecture.md#data-safety)."""
    try:
        parsed = read(url)
    except ConfigurationError:
        return "<an invalid database URL>"
    query = {k: ("hidden" if k in QUERY_SECRETS else v) for k, v in parsed.query.items()}
    return parsed._replace(query=query).render_as_string(hide_password=True)


def describe(exc: SQLAlchemyError) -> str:
    """One sentence for an operator; a busy SQLite ledger says so plainly. The driver's
    message on one line, without its final stop (libpq's spans three lines: "server
    closed the connection unexpectedly / This probably means …")."""
    cause = getattr(exc, "orig", None) or exc
    if "database is locked" in str(cause):
        return "the ledger is busy: another edi-engine process kept it locked too long; try again"
    said = " ".join(str(cause).split()).rstrip(".")
    return f"{exc.__class__.__name__}: {said}"


@cache
def engine_for(url: str) -> Engine:
    """One engine per URL per process; SQLite tuned for safety with concurrent readers."""
    read(url)  # a URL that cannot be read is refused before it is quoted or connected to
    try:
        engine = create_engine(url)
    except ImportError as exc:
        raise LedgerError(
            f"The database driver for {shown(url)} is not installed ({exc.name}); "
            "for PostgreSQL: pip install 'psycopg[binary]'."
        ) from exc
    except (SQLAlchemyError, ValueError) as exc:
        raise LedgerError(f"Cannot open the ledger {shown(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(connection) -> None:
    """Writers take SQLite's write lock at BEGIN, so that two processes (a daemon and an
    operator's `run --once`) never lease the same flow from a stale snapshot; readers
    begin deferred and, with WAL, never wait for a writer."""
    if connection.get_execution_options().get(IMMEDIATE):
        # through SQLAlchemy: a lock not had within busy_timeout is its OperationalError
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # straight to the driver: a deferred BEGIN takes no lock and cannot wait, and going
        # through SQLAlchemy's execution cost a tenth of each API lookup
        connection.connection.dbapi_connection.execute("BEGIN")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by the hook above
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed flow survives a power cut
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # savepoints' journals (a group commit opens one per flow) in memory, not in a
    # temporary file: each flow wrote ~16 pages there, more than to the ledger itself
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, create: bool = True) -> None:
    """Apply pending migrations; a no-op (one cheap query) when already at head.

    Only `init` creates a ledger (``create``): any other command that finds none refuses
    it (issue 11), instead of answering from an empty SQLite file made on the spot."""
    engine = engine_for(url)
    file = _sqlite_file(url)
    if file is not None and not file.is_file():
        if not create:
            raise LedgerMissing(
                f"No ledger at {file}: run `edi-engine init DIR` to create the home's ledger, "
                "or set [database] url (or EDI_ENGINE_DATABASE_URL) to the one it uses."
            )
        engine.dispose()  # connections kept from before the file was deleted see it still
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return
        if current is None and not create:
            raise LedgerMissing(
                f"The database {shown(url)} holds no edi-engine ledger (no alembic_version "
                "table): run `edi-engine init DIR` with this database URL to create it."
            )
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise LedgerError(
            f"Cannot bring the ledger {shown(url)} up to date: {describe(exc)}."
        ) from exc


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite ledger (connecting would create it, empty), else None."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # engine_for says what is wrong with it
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:"):
        return None
    return None if path.startswith("file:") else Path(path)


@cache
def _sessions(url: str, write: bool) -> sessionmaker[Session]:
    migrate(url, create=False)
    engine = engine_for(url)
    bind = engine.execution_options(**{IMMEDIATE: True}) if write else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def session_scope(url: str, write: bool = True) -> Iterator[Session]:
    """A session whose caller commits; rolled back on error, always closed.
    Commands that only read pass ``write=False`` and never wait for a writer."""
    session = _sessions(url, write)()
    try:
        yield session
    except SQLAlchemyError as exc:
        session.rollback()
        raise LedgerError(f"The ledger failed: {describe(exc)}.") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
