"""Open zip and tar.gz batches safely: bounded sizes, no path that leaves its folder.

A member's declared size is not trusted: reads stop at the limit (zip bombs). Whatever a
batch declares is bounded before it is read: every entry counts, folders included (a
million of them cost half a gigabyte), a tar's GNU long name or PAX header is refused
before tarfile reads it whole (800 MB of one name cost 9 GB), and a zip's directory is
counted before zipfile loads it.
"""

from __future__ import annotations

import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from connectors.local import display_name

from ..problems import FlowRejected, Problem
from ..settings import LimitSettings

MAX_NAME = 255  # characters of a member's name: what the ledger and the CR keep of it
NAME_HEADER_MAX = 4096  # bytes of a GNU long name or long link (PATH_MAX)
PAX_HEADER_MAX = 64 * 1024  # bytes of a PAX header: a path, times, owners, a few xattrs
EXTENDED_RUN_MAX = 8  # extended headers in a row before one entry (three in practice)


@dataclass(frozen=True)
class Member:
    name: str
    content: bytes


def _reject(code: str, message: str, value: str | None = None) -> FlowRejected:
    return FlowRejected(Problem(code, message, value=value))


def check_member_name(name: str) -> str:
    """Refuse absolute paths, drive letters and '..': a member cannot leave its folder; and
    names longer than the ledger and the CR keep."""
    if len(name) > MAX_NAME:
        raise _too_long(len(name), "characters")
    path = name.replace("\\", "/")  # judged as written: the name as shown may be cut
    parts = PurePosixPath(path).parts
    shown = display_name(name).replace("\\", "/")
    if path.startswith("/") or (parts and ":" in parts[0]) or ".." in parts or not parts:
        raise _reject(
            "UNSAFE_MEMBER_PATH",
            f"Batch member '{shown}' has a path that leaves the batch folder; the batch is "
            "refused.",
            shown,
        )
    return shown


def _too_long(size: int, unit: str) -> FlowRejected:
    return _reject(
        "MEMBER_NAME_TOO_LONG",
        f"A batch member's name is {size} {unit} long, over the limit of {MAX_NAME} characters; "
        "the batch is refused.",
        str(size),
    )


class _Budget:
    """Counts what a batch inflates to and stops at the first limit crossed: first on the
    sizes members declare, then on the bytes actually read (declarations can lie)."""

    def __init__(self, limits: LimitSettings, packed_size: int) -> None:
        self.limits = limits
        self.packed = max(packed_size, 1)
        self.declared = 0
        self.read_so_far = 0
        self.count = 0

    def enter(self) -> None:
        """One more entry, a folder or a link too: refused past max_batch_members."""
        self.count += 1
        if self.count > self.limits.max_batch_members:
            raise _too_many(self.limits)

    def admit(self, name: str, declared: int) -> None:
        self.declared += declared
        self._check(name, declared, self.declared)

    def read(self, name: str, stream: IO[bytes]) -> bytes:
        data = stream.read(self.limits.max_member_bytes + 1)
        self.read_so_far += len(data)
        self._check(name, len(data), self.read_so_far)
        return data

    def _check(self, name: str, size: int, total: int) -> None:
        limits = self.limits
        if size > limits.max_member_bytes:
            raise _reject(
                "ARCHIVE_BOMB",
                f"Batch member {name!r} inflates beyond {limits.max_member_bytes} bytes.",
                name,
            )
        if total > limits.max_batch_bytes or total > limits.max_batch_ratio * self.packed:
            raise _reject(
                "ARCHIVE_BOMB",
                f"The batch inflates beyond its limits ({limits.max_batch_bytes} bytes, "
                f"{limits.max_batch_ratio} times its packed size) at member {name!r}.",
                name,
            )


def _too_many(limits: LimitSettings) -> FlowRejected:
    return _reject(
        "ARCHIVE_BOMB",
        f"The batch holds more than {limits.max_batch_members} entries (folders included).",
    )


def _zip_entries(path: Path, limit: int) -> int:
    """The entries of a zip's central directory, counted up to ``limit + 1`` before zipfile
    loads them all (it keeps each one in memory); a directory that cannot be walked is left
    for zipfile to refuse."""
    sizes = struct.Struct("<28xHHH12x")  # a central header: three lengths follow it
    with open(path, "rb") as handle:
        end = zipfile._EndRecData(handle)  # the standard library's own reading of the end
        if not end:
            return 0
        start = end[zipfile._ECD_LOCATION] - end[zipfile._ECD_SIZE]
        if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
            start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
        handle.seek(max(start, 0))
        count = 0
        while count <= limit:
            fixed = handle.read(sizes.size)
            if len(fixed) < sizes.size or fixed[:4] != zipfile.stringCentralDir:
                break
            handle.seek(sum(sizes.unpack(fixed)), 1)
            count += 1
        return count


def zip_members(path: Path, limits: LimitSettings) -> Iterator[Member]:
    """Every member's name and declared size is checked before the first is read."""
    budget = _Budget(limits, path.stat().st_size)
    try:
        if _zip_entries(path, limits.max_batch_members) > limits.max_batch_members:
            raise _too_many(limits)
        with zipfile.ZipFile(path) as batch:
            for _ in batch.infolist():
                budget.enter()
            infos = sorted(
                (i for i in batch.infolist() if not i.is_dir()), key=lambda i: i.filename
            )
            for info in infos:
                name = check_member_name(info.filename)
                if info.flag_bits & 0x1:
                    raise _reject("CORRUPT_ARCHIVE", f"Batch member {name!r} is encrypted.", name)
                budget.admit(name, info.file_size)
            for info in infos:
                with batch.open(info) as stream:
                    name = check_member_name(info.filename)
                    yield Member(name, budget.read(name, stream))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        NotImplementedError,
        zlib.error,
    ) as exc:
        raise _reject("CORRUPT_ARCHIVE", f"The zip batch cannot be read: {exc}.") from exc


class _Header(tarfile.TarInfo):
    """tarfile reads a GNU long name or a PAX header whole, whatever size it declares: here
    each is refused beyond its bound before a byte of it is read, and so is a run of them;
    sparse members, never a partner's document, are refused before their maps are read."""

    def _proc_gnulong(self, batch: tarfile.TarFile) -> tarfile.TarInfo:
        _extended(batch)
        if self.size > NAME_HEADER_MAX:
            raise _too_long(self.size, "bytes")
        return super()._proc_gnulong(batch)

    def _proc_pax(self, batch: tarfile.TarFile) -> tarfile.TarInfo:
        _extended(batch)
        if self.size > PAX_HEADER_MAX:
            raise _reject(
                "ARCHIVE_BOMB",
                f"A tar header of the batch declares {self.size} bytes, over the limit of "
                f"{PAX_HEADER_MAX} bytes; the batch is refused.",
                str(self.size),
            )
        return super()._proc_pax(batch)

    def _proc_sparse(self, batch: tarfile.TarFile) -> tarfile.TarInfo:
        raise _not_a_file(self.name)

    def _proc_gnusparse_00(self, entry: tarfile.TarInfo, *_: object) -> None:
        raise _not_a_file(entry.name)

    _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00


class _Batch(tarfile.TarFile):
    """Counts the extended headers read before each entry (`_Header`)."""

    tarinfo = _Header
    extended = 0

    def next(self) -> tarfile.TarInfo | None:
        self.extended = 0
        return super().next()


def _extended(batch: tarfile.TarFile) -> None:
    batch.extended += 1
    if batch.extended > EXTENDED_RUN_MAX:
        raise _reject(
            "ARCHIVE_BOMB",
            f"A tar entry of the batch has more than {EXTENDED_RUN_MAX} extended headers.",
        )


def _not_a_file(name: str) -> FlowRejected:
    shown = display_name(name)[:MAX_NAME]
    return _reject(
        "UNSAFE_MEMBER_PATH",
        f"Batch member {shown!r} is a link, a device or a sparse file, not a file.",
        shown,
    )


def tar_members(path: Path, limits: LimitSettings) -> Iterator[Member]:
    """A first pass reads every header, so a bad member refuses the batch before any is used."""
    budget = _Budget(limits, path.stat().st_size)
    try:
        with _Batch.open(path, mode="r:gz") as batch:
            infos = []
            for info in batch:
                budget.enter()
                if info.isdir():
                    continue
                name = check_member_name(info.name)
                if not info.isfile():
                    raise _not_a_file(name)
                budget.admit(name, info.size)
                infos.append((name, info))
            for name, info in infos:
                stream = batch.extractfile(info)
                yield Member(name, budget.read(name, stream) if stream else b"")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise _reject("CORRUPT_ARCHIVE", f"The tar.gz batch cannot be read: {exc}.") from exc
