"""Local folders: find stable files in inboxes, write outputs atomically.

Knows files and partners' folders, not invoices (docs/architecture.md#layout-of-the-code).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import visible

TEMP_SUFFIX = ".tmp"
NAME_SHOWN = 255  # characters of a file name as the ledger keeps it (flows.file_name)
log = logging.getLogger(__name__)
_group_warned: set[Path] = set()  # folders whose group a file could not take: said once


@dataclass(frozen=True)
class InboxFile:
    """A plain file as listed: what it is (device, inode) and its size and time then."""

    partner: str
    path: Path
    size: int
    mtime_ns: int
    device: int
    inode: int

    def is_the_same(self, found: os.stat_result) -> bool:
        """Still this very plain file, unchanged: not another one renamed over it (a link, a
        FIFO, a copy with the same size and time), not written to since."""
        return stat.S_ISREG(found.st_mode) and (
            found.st_dev,
            found.st_ino,
            found.st_size,
            found.st_mtime_ns,
        ) == (self.device, self.inode, self.size, self.mtime_ns)


def _in_progress(name: str) -> bool:
    """Hidden and temporary names are uploads in progress (tools write, then rename)."""
    return name.startswith(".") or name.endswith((TEMP_SUFFIX, ".part", ".filepart"))


def _candidates(folder: Path) -> Iterable[os.DirEntry]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    return [e for e in entries if e.is_file(follow_symlinks=False) and not _in_progress(e.name)]


def strays(folders: dict[str, Path]) -> list[Path]:
    """Subfolders, links and devices in partners' inboxes: never taken, so reported."""
    found = []
    for folder in folders.values():
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        found += [
            Path(e.path)
            for e in entries
            if not e.is_file(follow_symlinks=False) and not _in_progress(e.name)
        ]
    return sorted(found)


def display_name(name: str) -> str:
    """A file name as the ledger, the CR and every screen carry it: each hidden character
    (a control, a bidi mark, a byte that is not UTF-8: U+DC80 to U+DCFF) written as its
    code point, `a<U+000A>b.xml`, so that the name is storable, valid in XML and on one
    line, yet says what it holds; cut to the 255 characters a name's column keeps."""
    return visible.escaped(name, NAME_SHOWN)


def unchanged(inbox_file: InboxFile) -> bool:
    """Still the very file that was judged stable (an upload may resume after a pause, a
    partner may rename another file or a link over it): its name is never followed."""
    try:
        found = os.lstat(inbox_file.path)
    except FileNotFoundError:
        return False
    return inbox_file.is_the_same(found)


def stable_files(
    folders: Iterable[tuple[str, Path]], stable_seconds: float, ready: Iterable[Path] = ()
) -> list[InboxFile]:
    """Files whose size and mtime stayed the same for ``stable_seconds``, oldest first.

    A file younger than the interval is looked at again once, after waiting just long
    enough, so that a single `run --once` takes what was dropped right before it. Files
    in ``ready`` were announced closed by their writer (inotify): no wait for them.
    """
    ready = set(ready)
    seen: dict[Path, InboxFile] = {}
    for partner, folder in folders:
        for entry in _candidates(folder):
            try:
                found = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            path = Path(entry.path)
            seen[path] = InboxFile(
                partner, path, found.st_size, found.st_mtime_ns, found.st_dev, found.st_ino
            )
    if not seen:
        return []
    waiting = [listed.mtime_ns for path, listed in seen.items() if path not in ready]
    youngest = max(waiting, default=0) / 1e9
    # a future mtime (a client's clock, `put -p`) must not make us wait until then
    wait = min(stable_seconds, stable_seconds - (time.time() - youngest)) if waiting else 0
    if wait > 0:
        time.sleep(wait)
    stable = [listed for listed in seen.values() if unchanged(listed)]  # a plain file still
    return sorted(stable, key=lambda f: (f.mtime_ns, f.path.name))


def unknown_folders(inbox: Path, partners: Iterable[str]) -> list[Path]:
    """Entries of the inbox that belong to no registered partner (left untouched)."""
    known = set(partners)
    try:
        entries = sorted(os.scandir(inbox), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    return [Path(e.path) for e in entries if e.name not in known and not e.name.startswith(".")]


def fsync_dir(folder: Path) -> None:
    """Make a rename or an unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dirs(folders: Iterable[Path]) -> None:
    """Make the renames and unlinks of many files durable: one fsync per folder, however
    many files it had (a batch's acknowledgements)."""
    for folder in sorted(set(folders)):
        try:
            fsync_dir(folder)
        except FileNotFoundError:
            continue  # a landing folder removed meanwhile: nothing of it to keep


class ElsewhereError(OSError):
    """The temporary folder and the target are on different file systems: no atomic rename."""


def temp_path(temp_dir: Path, name: str) -> Path:
    """A temporary name no other process (of this host or another) will also choose."""
    return temp_dir / f"{name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def write_atomic(
    target: Path, content: bytes, fsync: bool = True, temp_dir: Path | None = None
) -> None:
    """Write under a temporary name, fsync, then rename: readers never see half a file.

    With ``temp_dir`` the temporary lives there, not beside the target: a partner's
    folder never shows a file being written, nor one a crash left behind. It then takes
    the group a file created in the target's folder would have (a setgid folder's)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if temp_dir is None:
        temp, mode = target.with_name(f".{target.name}{TEMP_SUFFIX}"), "wb"
    else:
        temp_dir.mkdir(parents=True, exist_ok=True)
        temp, mode = temp_path(temp_dir, target.name), "xb"  # a unique name: never there
    try:
        with open(temp, mode) as handle:
            handle.write(content)
            if temp_dir is not None:
                take_folders_group(handle.fileno(), target.parent)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.EXDEV:
            raise ElsewhereError(
                errno.EXDEV,
                f"cannot rename {temp} to {target}: {temp.parent} and {target.parent} are on "
                "different file systems",
            ) from exc
        raise
    if fsync:
        fsync_dir(target.parent)


def take_folders_group(fd: int, folder: Path) -> None:
    """Give a file made elsewhere the group it would have had if created in ``folder``: the
    folder's own when it is setgid (an SFTP landing shares a group with the partner's
    account that way), else ours. Its mode is already what creating it there would give
    (0666 less the umask); a chown by its owner keeps it."""
    st = folder.stat()
    group = st.st_gid if st.st_mode & stat.S_ISGID else os.getegid()
    if os.fstat(fd).st_gid == group:
        return
    try:
        os.fchown(fd, -1, group)
    except PermissionError:
        if folder not in _group_warned:
            _group_warned.add(folder)
            log.warning(
                "files written into %s cannot be given its group %d (this account is not a "
                "member): they keep group %d, which the partner's account may not read",
                folder, group, os.fstat(fd).st_gid,
            )  # fmt: skip


def sweep(temp_dir: Path, older_than: float) -> list[Path]:
    """Remove the temporaries a crashed writer left behind. Only those untouched for
    ``older_than`` seconds: a live writer (maybe on another host) renames its own soon."""
    try:
        entries = list(os.scandir(temp_dir))
    except FileNotFoundError:
        return []
    limit = time.time() - older_than
    removed = []
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < limit:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except FileNotFoundError:
            continue  # removed meanwhile by another sweeper
    return removed


def acknowledge(path: Path, fsync: bool = True) -> None:
    """Remove a file from its inbox once it is safely archived and recorded (without
    ``fsync``, the caller makes its folder durable: `fsync_dirs`)."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    if fsync:
        fsync_dir(path.parent)


@contextmanager
def exclusive(lock_file: Path) -> Iterator[bool]:
    """Try to hold an advisory file lock; yields False at once when another process holds
    it. The file stays (an empty file is harmless) and belongs in the engine's own folder."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
