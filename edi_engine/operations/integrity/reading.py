"""Reading a large home in bounded memory: ledger rows a page at a time (keyset paging,
each page its own short read transaction: no snapshot held for the whole check, which on
SQLite would keep a live engine's WAL from being checkpointed), and files hashed a chunk
at a time."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

PAGE = 1000  # rows per page
IN_CHUNK = 500  # values per IN (…): SQLite bounds the parameters of one statement
CHUNK = 1024 * 1024  # bytes read at a time when hashing


def pages(
    session: Session, query: Select, key: InstrumentedAttribute[Any], size: int = PAGE
) -> Iterator[Sequence[Row]]:
    """The rows of `query` in order of `key` (unique, and among the columns selected), a
    page at a time; the read transaction ends after each page."""
    last = None
    name = key.key
    while True:
        page = query.order_by(key).limit(size)
        if last is not None:
            page = page.where(key > last)
        rows = session.execute(page).all()
        session.rollback()  # only read: end the transaction, keep no snapshot
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], name)


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class FileState:
    """What is at a path: nothing, something that is not a regular file, or a file."""

    exists: bool
    regular: bool = False
    size: int = 0
    sha256: str | None = None  # hashed only when asked
    error: str | None = None  # why it could not be read


def look(path: str | Path, hashed: bool = True) -> FileState:
    """The file at `path` as it is, its link never followed; hashed a chunk at a time."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return FileState(False)
    except NotADirectoryError:
        return FileState(False)
    except OSError as exc:
        return FileState(True, error=exc.strerror or str(exc))
    if not stat.S_ISREG(found.st_mode):
        return FileState(True)
    if not hashed:
        return FileState(True, True, found.st_size)
    digest = hashlib.sha256()
    size = 0
    try:  # never a link followed, never a pipe waited on (one may be swapped in since)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return FileState(False)
    except OSError as exc:
        return FileState(True, error=exc.strerror or str(exc))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return FileState(True)
        while block := handle.read(CHUNK):
            digest.update(block)
            size += len(block)
    return FileState(True, True, size, digest.hexdigest())


@dataclass(frozen=True)
class Roots:
    """The folders the checks look into, as text computed once: a home of a million
    flows builds two million paths, which pathlib made a third of the check's time.
    Each pair: the absolute folder, and how a problem names it (relative to the home)."""

    archive: tuple[str, str]
    outbox: tuple[str, str]
    outgoing: tuple[str, str]

    @classmethod
    def of(cls, archive: Path, outbox: Path, outgoing: Path, home: Path) -> Roots:
        def pair(folder: Path) -> tuple[str, str]:
            return str(folder), relative(folder, home)

        return cls(pair(archive), pair(outbox), pair(outgoing))

    @staticmethod
    def file(root: tuple[str, str], *parts: str) -> tuple[str, str]:
        """A file under a root: its absolute path, and its path as a problem names it."""
        return os.path.join(root[0], *parts), os.path.join(root[1], *parts)


def relative(path: Path, home: Path) -> str:
    """A path as a problem names it: relative to the home when inside it."""
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)
