"""No temporary file is left in the outbox or the engine's own folders.

The engine's temporaries, as the code names them:
- `run/tmp/` (outputs and reports written under a unique name, then renamed) and
  `archive/tmp/` (copies being archived): anything there;
- `run/outgoing/<host>.<pid>.<random>/`, each process's staging folder, locked by
  `<folder>.lock` while the process lives: a dead process's folder, or a file in it that
  no committed output refers to (one that does is an output waiting to be published, and
  is checked with the outputs), and a lock file left without its folder;
- `landing/<PARTNER>/.<name>.tmp`, an SFTP download under way;
- `reports/.<name>.tmp`, a monthly report being written;
- `outbox/<PARTNER>/.CR_….xml.tmp` (and `.PIVOT_`, `.STATUT_`), what versions before `run/`
  wrote in partners' folders.
A live process's staging folder is its own; any other temporary younger than
`processing.lease_seconds` may be a live writer's (the engine's own sweeps wait as long),
and is not a problem."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import outgoing

from ...ledger import home
from ...ledger.models import Output, Partner
from ...reception import archive, pickup
from ...settings import Settings
from .. import monthly
from . import findings as kinds
from .findings import Findings, Problem
from .reading import IN_CHUNK, relative

RUN_ONCE = (
    "run `edi-engine run --once`: it removes the temporaries a stopped process left, once "
    "older than processing.lease_seconds."
)
FINISH = (
    "run `edi-engine run --once`: it publishes what a stopped process left committed in "
    "its staging folder and removes the rest, once older than processing.lease_seconds."
)
REMOVE = "remove it: no process of the engine writes or reads it any more."
TEMP_SUFFIX = ".tmp"


def check(settings: Settings, session: Session, found: Findings) -> None:
    quiet = settings.processing.lease_seconds
    old = time.time() - quiet
    for folder in (home.temp_dir(settings), settings.archive / archive.TEMP):
        for path in _entries(folder):
            found.count("temporaries")
            if _older(path, old):
                _left(settings, found, path, "a temporary a stopped process left", RUN_ONCE)
    _staging(settings, session, found, quiet, old)
    partners = list(session.scalars(select(Partner.code).order_by(Partner.code)))
    session.rollback()
    for code in partners:
        for path in _entries(pickup.landing(settings, code)):
            if path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX):
                found.count("temporaries")
                if _older(path, old):
                    _left(
                        settings,
                        found,
                        path,
                        "an SFTP download a stopped process left",
                        RUN_ONCE,
                        code,
                    )
        for path in _entries(settings.outbox / code):
            if path.name.startswith(home.LEGACY_TEMP_PREFIXES) and path.name.endswith(
                home.LEGACY_TEMP_SUFFIX
            ):
                found.count("temporaries")  # no writer any more, whatever its age
                _left(
                    settings,
                    found,
                    path,
                    "a temporary an earlier version left in a partner's folder",
                    REMOVE,
                    code,
                )
    for path in _entries(settings.home / monthly.REPORTS):
        if path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX):
            found.count("temporaries")
            if _older(path, old):
                _left(
                    settings, found, path, "a monthly report a stopped process was writing", REMOVE
                )


def _entries(folder: Path) -> Iterator[Path]:
    try:
        entries = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    with entries:
        for entry in entries:
            yield Path(entry.path)


def _older(path: Path, limit: float) -> bool:
    try:
        return os.lstat(path).st_mtime < limit
    except FileNotFoundError:
        return False  # removed meanwhile: by its writer, or a sweep


def _left(
    settings: Settings,
    found: Findings,
    path: Path,
    what: str,
    mend: str,
    partner: str | None = None,
) -> None:
    shown = relative(path, settings.home)
    message = f"{what[0].upper()}{what[1:]}."
    found.add(Problem(kinds.TEMPORARY_LEFT, shown, message, mend, partner=partner, path=shown))


def _staging(
    settings: Settings, session: Session, found: Findings, quiet: float, old: float
) -> None:
    root = home.outgoing_dir(settings)
    names = outgoing.folders(root)
    for name in names:
        found.count("staging_folders")
        if _alive(root, name, quiet):
            continue  # a live process's own
        folder = root / name
        empty = True
        for batch in _batches(_entries(folder)):
            empty = False
            tokens = {f"{name}/{path.name}": path for path in batch}
            known = set(
                session.scalars(select(Output.staged).where(Output.staged.in_(list(tokens))))
            )
            session.rollback()
            for token, path in tokens.items():
                found.count("temporaries")
                if token not in known and _older(path, old) and path.exists():
                    _left(
                        settings,
                        found,
                        path,
                        "a file a stopped process staged for a transaction that never committed",
                        FINISH,
                    )
        if empty and _older(folder, old):
            _left(settings, found, folder, "the staging folder of a process that stopped", FINISH)
    for lock in _entries(root):
        if lock.name.endswith(outgoing.LOCK_SUFFIX):
            name = lock.name.removesuffix(outgoing.LOCK_SUFFIX)
            if name not in names and _older(lock, old) and not _alive(root, name, quiet):
                _left(settings, found, lock, "the lock of a staging folder that is gone", REMOVE)


def _batches(paths: Iterator[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    for path in paths:
        batch.append(path)
        if len(batch) >= IN_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _alive(root: Path, name: str, quiet: float) -> bool:
    """Whether the process that staged in `name` lives: it holds the folder's lock (this
    host), or touched it within `quiet` seconds (another host's, whose lock may not be
    seen from here). Only tried, never waited for, and let go at once."""
    lock = root / f"{name}{outgoing.LOCK_SUFFIX}"
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # a live process keeps its lock file
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        other_host = not name.startswith(f"{outgoing.host()}.")
        return other_host and time.time() - os.fstat(fd).st_mtime < quiet
    finally:
        os.close(fd)
