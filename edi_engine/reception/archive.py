"""The archive: every original, stored once by content hash and made durable.

Content addressing makes a re-delivered file cost no space and gives the duplicate
check its key (docs/architecture.md#data-safety). An fsync per copy and per folder cost
the intake most of its time: a batch's copies are written into archive/tmp, made
durable by one sync barrier, then put in place (`Batch`). A file refused for its size is not
kept whole for ten years: only what proves what was refused, its hash and size (read
once, streaming) and its first bytes, under a name of its own (`store_head`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from types import TracebackType
from typing import BinaryIO, TypeVar

from connectors import durable
from connectors.local import InboxFile, fsync_dir

from ..display import escaped
from ..errors import StorageError

CHUNK = 1024 * 1024
HEAD_BYTES = 64 * 1024  # what is kept of a file over limits.max_file_bytes
HEAD_SUFFIX = ".head"
T = TypeVar("T")
R = TypeVar("R")
TEMP = "tmp"  # archive/tmp: copies being written, renamed into place once durable
# what opening a name with O_NOFOLLOW | O_NONBLOCK answers when it is no plain file: a
# link (ELOOP; EMLINK on some systems), a socket (ENXIO), a device without its driver
NOT_A_FILE = {errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP}


class SourceGone(StorageError):
    """The file to archive was removed or renamed by its depositor in the meantime."""


class SourceChanged(StorageError):
    """The file to archive is no longer the one listed: a link, a FIFO or another file was
    put in its place, or it was written to since. Nothing of it is archived; it is left
    where it is, and looked at afresh by a later run."""


class SourceUnreadable(StorageError):
    """The engine may not read the file to archive (its permissions): nothing of it is
    archived, and it is left where it is, taken once it can be read. It is that file's
    matter, not the hub's: the other files are taken."""


@dataclass(frozen=True)
class Archived:
    content_hash: str
    size: int
    relative_path: str  # inside the archive folder


def relative_path(content_hash: str) -> str:
    return f"{content_hash[:2]}/{content_hash[2:4]}/{content_hash}"


def is_head(relative: str) -> bool:
    """Whether an archived original holds only the first bytes of its file (`store_head`)."""
    return relative.endswith(HEAD_SUFFIX)


class Batch:
    """Copies put in place together, for the cost of two sync barriers instead of two
    fsyncs a copy. Each copy is written into archive/tmp with no fsync (`store` with
    ``into``); `place` makes them all durable by one barrier, renames each to its
    content's name, then makes the names durable by a second one. A name in the archive
    thus never holds a partial copy, whatever a power cut interrupts: a rename over the
    same bytes an earlier flow refers to puts durable bytes in their place, never fewer.
    A crash before `place` returns leaves only temporaries (swept by a later intake) and
    copies no flow refers to yet, which the next intake writes again. Used as a context
    manager: the temporaries of a batch left unplaced (an error) are removed."""

    def __init__(self, archive: Path, fsync: bool = True) -> None:
        self.archive, self.fsync = archive, fsync
        self.folder_made = False  # archive/tmp
        self._copies: list[tuple[Path, str]] = []  # temporary, relative path

    def add(self, temp: Path, relative: str) -> None:
        self._copies.append((temp, relative))

    def place(self) -> None:
        """Every copy durable and in place, or StorageError (then none may be recorded)."""
        copies, self._copies = self._copies, []
        placed: dict[str, Path] = {}
        made: set[Path] = set()  # new folders: their own entries too, where there is no syncfs
        try:
            if self.fsync:
                durable.sync([temp for temp, _ in copies])
            unique: dict[str, Path] = {}
            for temp, relative in copies:
                if relative in unique:  # the same bytes twice in one batch: once is enough
                    temp.unlink()
                else:
                    unique[relative] = temp

            def put(relative: str) -> None:
                target = self.archive / relative
                try:
                    target.parent.mkdir(parents=True)
                    made.update((target.parent, target.parent.parent))
                except FileExistsError:
                    pass
                os.replace(unique[relative], target)
                placed[relative] = target

            in_parallel(put, list(unique))
            if self.fsync:
                durable.sync([*placed.values(), *made])
        except OSError as exc:
            for temp, _ in copies:
                temp.unlink(missing_ok=True)
            raise StorageError(f"Cannot archive a batch of files: {exc.strerror or exc}.") from exc

    def discard(self) -> None:
        """Remove the temporaries not placed."""
        copies, self._copies = self._copies, []
        for temp, _ in copies:
            temp.unlink(missing_ok=True)

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()


FILE_THREADS = 4  # a file system answers several creations at once faster than in a row


def in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`work` on each item by a few threads, the results in the items' order; the first
    error is raised once all are done. Creating, renaming and removing files is mostly
    waiting for the file system, during which a thread holds no lock of Python's: a batch's
    copies made one after the other took a quarter of a run."""
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(min(FILE_THREADS, len(items))) as pool:
        futures = [pool.submit(work, item) for item in items]
    return [future.result() for future in futures]


def store(
    archive: Path,
    source: Path,
    fsync: bool = True,
    listed: InboxFile | None = None,
    into: Batch | None = None,
) -> Archived:
    """Copy ``source`` into the archive, hashing it on the way. With ``listed``, only the
    very file that was listed, and no more than its listed size (`_opened`, `_copied`).
    With ``into``, only written: in place, and durable, once ``into.place()`` returns."""
    return _store(archive, source, fsync, None, listed, into)


def store_head(
    archive: Path,
    source: Path,
    fsync: bool = True,
    listed: InboxFile | None = None,
    into: Batch | None = None,
) -> Archived:
    """Hash ``source`` whole but keep only its first HEAD_BYTES, as ``<hash>.head``: never in
    the place of the whole original of the same content (kept under a larger limit)."""
    return _store(archive, source, fsync, HEAD_BYTES, listed, into)


def _store(
    archive: Path,
    source: Path,
    fsync: bool,
    keep: int | None,
    listed: InboxFile | None,
    into: Batch | None,
) -> Archived:
    temp = archive / TEMP / uuid.uuid4().hex
    fsync = fsync and into is None  # a batch's copies: one barrier for all (Batch.place)
    try:
        if into is None or not into.folder_made:  # a batch makes it once
            temp.parent.mkdir(parents=True, exist_ok=True)
        with _opened(source, listed) as reader, open(temp, "xb") as writer:
            content_hash, size = _copied(source, reader, writer, keep, listed)
            if fsync:
                writer.flush()
                os.fsync(writer.fileno())
        relative = relative_path(content_hash) + ("" if keep is None else HEAD_SUFFIX)
        if into is not None:
            into.add(temp, relative)
            into.folder_made = True
            return Archived(content_hash, size, relative)
        target = archive / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)
        if fsync:
            fsync_dir(target.parent)
    except StorageError:  # SourceGone, SourceChanged: nothing of it enters the archive
        temp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise StorageError(f"Cannot archive {escaped(source)}: {exc.strerror or exc}.") from exc
    return Archived(content_hash, size, relative)


def _opened(source: Path, listed: InboxFile | None) -> BinaryIO:
    """The file itself, never what a link points to (another partner's file, /dev/zero),
    and without waiting on a FIFO: a plain file, and the very one listed (same device,
    inode, size and modification time), or SourceChanged."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise SourceGone(f"{escaped(source)} disappeared before it was archived.") from exc
    except PermissionError as exc:  # its mode, owner or ACL: that file only
        raise SourceUnreadable(f"{escaped(source)} cannot be read ({exc.strerror}).") from exc
    except OSError as exc:
        if exc.errno not in NOT_A_FILE:
            raise
        said = f"{escaped(source)} is no longer a plain file ({exc.strerror})."
        raise SourceChanged(said) from exc
    reader = os.fdopen(fd, "rb")
    found = os.fstat(fd)
    if not S_ISREG(found.st_mode):
        reader.close()
        raise SourceChanged(f"{escaped(source)} is no longer a plain file.")
    if listed is not None and not listed.is_the_same(found):
        reader.close()
        raise SourceChanged(f"{escaped(source)} was replaced or written to since it was listed.")
    return reader


def _copied(
    source: Path, reader: BinaryIO, writer: BinaryIO, keep: int | None, listed: InboxFile | None
) -> tuple[str, int]:
    """Copy and hash; the hash and the size read. Never more than one byte past the listed
    size: a byte more, or fewer bytes, or a new modification time once read, and the file
    changed while it was read (SourceChanged): a file a partner keeps appending to costs
    a temporary of its listed size and a byte, removed at once, and nothing archived."""
    digest = hashlib.sha256()
    size, limit = 0, None if listed is None else listed.size + 1
    while chunk := reader.read(CHUNK if limit is None else min(CHUNK, limit - size)):
        digest.update(chunk)
        if keep is None or size < keep:
            writer.write(chunk if keep is None else chunk[: keep - size])
        size += len(chunk)
    if listed is not None:
        after = os.fstat(reader.fileno())
        if size != listed.size or not listed.is_the_same(after):
            raise SourceChanged(f"{escaped(source)} changed while it was archived.")
    return digest.hexdigest(), size


def digest(path: Path) -> str:
    """The SHA-256 of a file, read in chunks: whether an archived original is still the
    file received (its name, and its flow's `content_hash`)."""
    content = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            content.update(chunk)
    return content.hexdigest()


def path(archive: Path, relative: str) -> Path:
    """The archived original, which must still be there."""
    found = archive / relative
    if not found.is_file():
        raise StorageError(f"The archived original {found} is missing.")
    return found
