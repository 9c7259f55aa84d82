"""Who may remove an archived original (issue 13, item 7).

The archive is content-addressed (archive.relative_path): a new file with the bytes of a
flow being purged is archived at the very path the purge is about to remove. A purge
removes an original only when no flow refers to it, checked under `guard`. The intake
copies a batch into the archive without it (copying and fsyncing a batch takes long: no
purge, and on PostgreSQL no other host's intake, waits for that), then holds `guard` from
checking that each copy is still there (stored again if a purge removed it meanwhile) to
committing its flows. So either the new flow is committed before the purge looks (the
original stays), or the intake checks after the purge removed it (the original is
written again): never a flow without its original.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..ledger.models import Flow
from ..settings import Settings

ARCHIVE_LOCK = 0x6564692D61726368  # "edi-arch": PostgreSQL's advisory lock of the archive
LOCK_FILE = "archive.lock"  # in the engine's run/ folder, on SQLite


@contextmanager
def guard(settings: Settings, session: Session) -> Iterator[None]:
    """Wait for, then hold, the archive's lock; the caller commits before leaving. On
    PostgreSQL it is the transaction's own advisory lock (every host sharing the ledger
    takes the same, with no file lock on shared storage), ended by that commit; on
    SQLite a file lock in run/, taken before the transaction begins so that a writer
    never waits for it while holding the database."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ARCHIVE_LOCK)))
        yield
        return
    settings.run.mkdir(parents=True, exist_ok=True)
    with open(settings.run / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unreferenced(session: Session, paths: Iterable[str]) -> set[str]:
    """The archived originals no flow refers to (any more): those a purge may remove."""
    paths = set(paths)
    if not paths:
        return set()
    query = select(Flow.archive_path).where(Flow.archive_path.in_(paths))
    return paths - set(session.scalars(query))
