"""Outputs staged in the engine's own folder, then published into a partner's by rename.

A file is staged (written, and made durable with the others of its transaction) before
the ledger commit that records it, in a folder only the engine uses; only after that
commit is it renamed into
``outbox/<PARTNER>/``. A partner therefore never sees a file the ledger may still take
back, and a rename (atomic) never shows it half written or twice.

What sits in a partner's folder under an output's name is looked at with ``lstat`` only:
a regular file there is replaced (an earlier output the partner has not taken, or a file
it left under a name the engine owns), anything else (a folder, a link, a pipe) leaves the
output staged. Nothing in a partner's folder is ever opened, read or followed.

Each process stages in a folder of its own, held by a file lock while it lives: another
process finishes the publication of a dead one's committed outputs, and only then removes
what the dead one staged for a transaction that never committed.

Knows files and folders, not the ledger (docs/architecture.md#layout-of-the-code).
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import errno
import fcntl
import os
import re
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import ClassVar, TextIO

from . import local

LOCK_SUFFIX = ".lock"
HEARTBEAT_SECONDS = 10.0  # a live process says so this often, for other hosts' sake
KINDS = {  # what lstat may find under an output's name, as an operator reads it
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}
BLOCKING_ERRNOS = {errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST}
NOT_A_FOLDER = "a file in place of the partner's folder"


class Outcome(enum.Enum):
    PUBLISHED = "published"
    GONE = "gone"  # the staged file is no longer there: published already
    BLOCKED = "blocked"  # something that is not a regular file holds the name


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    why: str = ""  # BLOCKED: what holds the name, in a sentence an operator can act on


def stage(path: Path, content: bytes, partner_folder: Path | None = None) -> None:
    """Write a staged file under its unique name; the caller makes it durable with the
    others of its transaction (connectors/durable.py) before the commit that records it.
    It takes the group a file created in `partner_folder` would have (a setgid folder's),
    since it is renamed there. A file it could not write whole (the disk full) is removed:
    never recorded, it would be left to fill the disk until swept, and fail the retries."""
    handle = open(path, "xb")  # noqa: SIM115 (closed below, before a failed file is removed)
    try:
        with handle:
            if partner_folder is not None and partner_folder.is_dir():
                local.take_folders_group(handle.fileno(), partner_folder)
            handle.write(content)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def holder(path: Path) -> str | None:
    """What holds `path`, when it is not free for an output: None for nothing or a regular
    file (replaced by the rename), else its kind. lstat only: a link is not followed."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return NOT_A_FOLDER
    if stat.S_ISREG(mode):
        return None
    return KINDS.get(stat.S_IFMT(mode), "something that is not a file")


def publish(staged: Path, target: Path, keep_as: str | None = None) -> Result:
    """Rename `staged` to `target`. `keep_as`: the earlier output the partner may not
    have taken yet, under `target`'s name, is first renamed to that name beside it (a
    rename too: the partner gets each file once, whichever of it and us moves it first)."""
    if not _exists(staged):
        return Result(Outcome.GONE)
    taken = holder(target)
    if taken is not None:
        return _blocked(target, taken)
    if keep_as is not None:
        kept = target.with_name(keep_as)
        taken = holder(kept)
        if taken is not None:
            return _blocked(kept, taken)
        _rename(target, kept, missing_ok=True)  # gone: the partner took it already
    try:
        _rename(staged, target)
    except FileNotFoundError:
        if not _exists(staged):  # published meanwhile by another process
            return Result(Outcome.GONE)
        target.parent.mkdir(parents=True, exist_ok=True)  # the partner's folder went
        _rename(staged, target)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise local.ElsewhereError(
                errno.EXDEV,
                f"cannot rename {staged} to {target}: {staged.parent} and {target.parent} "
                "are on different file systems",
            ) from exc
        if exc.errno not in BLOCKING_ERRNOS:
            raise
        return _blocked(target, holder(target) or "something that is not a file")
    return Result(Outcome.PUBLISHED)


def _blocked(path: Path, taken: str) -> Result:
    if taken == NOT_A_FOLDER:
        why = (
            f"outbox/{path.parent.name} is not a folder: the partner left a file in its "
            f"place, so {path.name} cannot be put there"
        )
    else:
        why = f"{path.parent.name}/{path.name} is taken by {taken} the partner left there"
    return Result(Outcome.BLOCKED, why)


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


def _rename(source: Path, target: Path, missing_ok: bool = False) -> None:
    try:
        os.rename(source, target)
    except FileNotFoundError:
        if not missing_ok or _exists(source):
            raise


# -- each process's own staging folder ---------------------------------------------------


class Stager:
    """This process's staging folder under `root`, locked while the process lives.

    The lock is taken before the folder is made: a folder another process can see is
    always locked by its owner, so it is never taken for a dead one's. A process that
    ends normally removes its folder and lock file when nothing waits there."""

    _lock = threading.Lock()
    _mine: ClassVar[dict[Path, Stager]] = {}

    def __init__(self, root: Path) -> None:
        self.name = f"{host()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self.root = root
        self.folder = root / self.name
        self._pid = os.getpid()
        root.mkdir(parents=True, exist_ok=True)
        self._handle = self._locked()
        self.folder.mkdir()
        self._serial = count(1)
        self._beat = 0.0
        self._unsettled: set[str] = set()  # staged, their transaction not yet ended
        self.beat()
        atexit.register(self.close)

    @property
    def lock_file(self) -> Path:
        return self.root / f"{self.name}{LOCK_SUFFIX}"

    def _locked(self) -> TextIO:
        handle = open(self.lock_file, "a")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when we die
        except OSError:
            handle.close()
            raise
        return handle

    @classmethod
    def of(cls, root: Path) -> Stager:
        """The folder this process stages in under `root` (made at its first output)."""
        with cls._lock:
            mine = cls._mine.get(root)
            if mine is None:
                mine = cls._mine[root] = cls(root)
            return mine

    @classmethod
    def mine(cls, root: Path) -> Stager | None:
        """This process's staging folder under `root`, if it staged anything there."""
        return cls._mine.get(root)

    @classmethod
    def current(cls, root: Path) -> str | None:
        mine = cls._mine.get(root)
        return mine.name if mine else None

    def token(self, name: str) -> str:
        """A staged file's name relative to the root, unique across processes and hosts;
        unsettled until its transaction ends (`settle`)."""
        self.beat()
        token = f"{self.name}/{next(self._serial):08d}-{name}"
        with self._lock:
            self._unsettled.add(token)
        return token

    def settle(self, tokens: list[str]) -> None:
        """Their transaction ended (committed or rolled back): what no committed output
        refers to among them may be tidied away."""
        with self._lock:
            self._unsettled.difference_update(tokens)

    def unsettled(self) -> set[str]:
        """Names, in the folder, of files staged for a transaction still open."""
        with self._lock:
            return {token.rsplit("/", 1)[-1] for token in self._unsettled}

    def make_folder(self) -> None:
        """Make the folder again (someone removed it, or run/outgoing/, while we lived),
        and our lock file with it: no other process may take the folder for a dead one's."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            same = os.stat(self.lock_file).st_ino == os.fstat(self._handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            old, self._handle = self._handle, self._locked()
            old.close()
        self.folder.mkdir(exist_ok=True)

    def beat(self) -> None:
        """Touch the lock file: another host, whose file locks may not see ours, leaves a
        folder alone while its lock file is fresh (touched at every staging, publication
        and run)."""
        now = time.monotonic()
        if now - self._beat >= HEARTBEAT_SECONDS:
            self._beat = now
            with contextlib.suppress(OSError):  # advice for other hosts, never a failure
                os.utime(self._handle.fileno())

    def close(self) -> None:
        """At a normal exit: remove the folder and its lock file when nothing waits there.
        A folder still holding a file (an output held back) stays, for another process to
        take over once this one is gone."""
        if os.getpid() != self._pid or self._handle.closed:
            return  # a forked child's copy: the folder is its parent's
        try:
            self.folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            return
        try:
            self.lock_file.unlink(missing_ok=True)
        finally:
            self._handle.close()
            with self._lock:
                if self._mine.get(self.root) is self:
                    del self._mine[self.root]


def host() -> str:
    """This host's name as a staging folder's name begins: <host>.<pid>.<random>."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def folders(root: Path) -> list[str]:
    """The staging folders under `root`, by name."""
    try:
        return sorted(e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


@contextmanager
def abandoned(root: Path, name: str, quiet_seconds: float) -> Iterator[bool]:
    """Hold the staging folder `name` of a process that is gone: yields False at once while
    its owner lives (it holds the lock, or, on another host, touched it in the last
    `quiet_seconds`). Two processes never both hold it."""
    lock_file = root / f"{name}{LOCK_SUFFIX}"
    with open(lock_file, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            other_host = not name.startswith(f"{host()}.")
            fresh = time.time() - os.fstat(handle.fileno()).st_mtime < quiet_seconds
            yield not (other_host and fresh)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def untouched(path: Path, seconds: float) -> bool:
    """True when `path` has not changed for `seconds` (a folder: no entry added or removed)."""
    try:
        return os.lstat(path).st_mtime < time.time() - seconds
    except FileNotFoundError:
        return True


def leftovers(folder: Path, kept: set[str], older_than: float) -> list[Path]:
    """Files of a staging folder, but those named in `kept`, untouched for `older_than`
    seconds: the ledger then says which of them no committed output refers to."""
    limit = time.time() - older_than
    found = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name in kept:
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime < limit:
                found.append(Path(entry.path))
        except FileNotFoundError:
            continue
    return found


def orphan_locks(root: Path, quiet_seconds: float) -> Iterator[Path]:
    """Remove the lock files left without their staging folder (a process killed between
    its lock and its folder, as it made it or as a folder was removed), untouched for
    `quiet_seconds` and held by no process; yields each removed. A process making its
    folder holds its lock, and a lock file just made is young: neither is taken."""
    try:
        names = [e.name for e in os.scandir(root) if e.name.endswith(LOCK_SUFFIX)]
    except FileNotFoundError:
        return
    for name in names:
        path, folder = root / name, root / name.removesuffix(LOCK_SUFFIX)
        if folder.exists() or not untouched(path, quiet_seconds):
            continue
        try:
            handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its process lives
        else:
            if not folder.exists():
                path.unlink(missing_ok=True)
                yield path
        finally:
            os.close(handle)


def remove_folder(root: Path, name: str) -> bool:
    """Remove an abandoned staging folder once empty, and its lock file; False if not empty."""
    try:
        (root / name).rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    (root / f"{name}{LOCK_SUFFIX}").unlink(missing_ok=True)
    return True
