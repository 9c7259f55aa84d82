"""Work one process at a time across every host sharing the ledger: the intake, the uploads
to one SFTP partner (docs/scaling.md).

On PostgreSQL a session advisory lock, which every host sees and a dead process releases
with its connection (a host that vanishes without closing it: once the server's TCP
keepalives give up on it, docs/scaling.md). The work is done in a session bound to the
very connection that holds the lock, so that each of its commits succeeds only while the
lock is held: a process whose lock was lost with its connection (a network cut, a session
ended by the server) stops at its next commit instead of going on beside the process that
took the lock over. On SQLite (one host) a file lock in run/.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from connectors import local

from ..settings import Settings

UPLOADS = 0x65646955  # "ediU": the high half of the keys of partners' upload locks


def upload_key(partner: str) -> int:
    """The advisory lock of a partner's uploads: "ediU" and a CRC of its code (two codes
    that share one only take turns)."""
    return (UPLOADS << 32) | zlib.crc32(partner.encode())


@contextmanager
def held(
    settings: Settings, session: Session, key: int, lock_file: str
) -> Iterator[Session | None]:
    """The session to do the work in while the lock is held, or None at once when another
    process holds it. `session` has no transaction open (the caller committed): on
    PostgreSQL the work's session is another one, on a connection of its own."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        with local.exclusive(settings.run / lock_file) as mine:
            yield session if mine else None
        return
    with bind.connect() as connection:
        mine = bool(connection.scalar(select(func.pg_try_advisory_lock(key))))
        connection.commit()
        if not mine:
            yield None
            return
        own = Session(bind=connection, expire_on_commit=False)
        try:
            yield own
        finally:
            try:
                own.close()
            finally:
                _unlock(connection, key)


def _unlock(connection: Connection, key: int) -> None:
    try:
        connection.execute(select(func.pg_advisory_unlock(key)))
        connection.commit()
    except SQLAlchemyError:
        connection.invalidate()  # its server session ends, and the lock with it
