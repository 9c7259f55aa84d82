"""The archive: every original, stored once by content hash and fsynced.

Content addressing makes a re-delivered file cost no space and gives the duplicate
check its key (docs/architecture.md#data-safety). A file refused for its size is not
kept whole for ten years: only what proves what was refused, its hash and size (read
once, streaming) and its first bytes, under a name of its own (`store_head`).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from connectors.local import fsync_dir

from .errors import StorageError

CHUNK = 1024 * 1024
HEAD_BYTES = 64 * 1024  # what is kept of a file over limits.max_file_bytes
HEAD_SUFFIX = ".head"


class SourceGone(StorageError):
    """The file to archive was removed or renamed by its depositor in the meantime."""


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


def store(archive: Path, source: Path, fsync: bool = True) -> Archived:
    """Copy ``source`` into the archive, hashing it on the way."""
    return _store(archive, source, fsync, None)


def store_head(archive: Path, source: Path, fsync: bool = True) -> Archived:
    """Hash ``source`` whole but keep only its first HEAD_BYTES, as ``<hash>.head``: never in
    the place of the whole original of the same content (kept under a larger limit)."""
    return _store(archive, source, fsync, HEAD_BYTES)


def _store(archive: Path, source: Path, fsync: bool, keep: int | None) -> Archived:
    temp_dir = archive / "tmp"
    temp = temp_dir / uuid.uuid4().hex
    digest = hashlib.sha256()
    size = 0
    try:
        temp_dir.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as reader, open(temp, "wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                if keep is None or size < keep:
                    writer.write(chunk if keep is None else chunk[: keep - size])
                size += len(chunk)
            if fsync:
                writer.flush()
                os.fsync(writer.fileno())
        content_hash = digest.hexdigest()
        relative = relative_path(content_hash) + ("" if keep is None else HEAD_SUFFIX)
        target = archive / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)
        if fsync:
            fsync_dir(target.parent)
    except FileNotFoundError as exc:
        temp.unlink(missing_ok=True)
        if not source.exists():
            raise SourceGone(f"{source} disappeared before it was archived.") from exc
        raise StorageError(f"Cannot archive {source}: {exc.strerror or exc}.") from exc
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise StorageError(f"Cannot archive {source}: {exc.strerror or exc}.") from exc
    return Archived(content_hash, size, relative)


def path(archive: Path, relative: str) -> Path:
    """The archived original, which must still be there."""
    found = archive / relative
    if not found.is_file():
        raise StorageError(f"The archived original {found} is missing.")
    return found
