"""Open zip and tar.gz batches safely: bounded sizes, no path that leaves its folder.

A member's declared size is not trusted: reads stop at the limit (zip bombs).
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from connectors.local import display_name

from .problems import FlowRejected, Problem
from .settings import LimitSettings


@dataclass(frozen=True)
class Member:
    name: str
    content: bytes


def _reject(code: str, message: str, value: str | None = None) -> FlowRejected:
    return FlowRejected(Problem(code, message, value=value))


def check_member_name(name: str) -> str:
    """Refuse absolute paths, drive letters and '..': a member cannot leave its folder."""
    normalised = display_name(name).replace("\\", "/")
    parts = PurePosixPath(normalised).parts
    if normalised.startswith("/") or (parts and ":" in parts[0]) or ".." in parts or not parts:
        raise _reject(
            "UNSAFE_MEMBER_PATH",
            f"Batch member {name!r} has a path that leaves the batch folder; the batch is refused.",
            name,
        )
    return normalised


class _Budget:
    """Counts what a batch inflates to and stops at the first limit crossed: first on the
    sizes members declare, then on the bytes actually read (declarations can lie)."""

    def __init__(self, limits: LimitSettings, packed_size: int) -> None:
        self.limits = limits
        self.packed = max(packed_size, 1)
        self.declared = 0
        self.read_so_far = 0
        self.count = 0

    def admit(self, name: str, declared: int) -> None:
        self.count += 1
        if self.count > self.limits.max_batch_members:
            raise _reject(
                "ARCHIVE_BOMB",
                f"The batch holds more than {self.limits.max_batch_members} members.",
            )
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


def zip_members(path: Path, limits: LimitSettings) -> Iterator[Member]:
    """Every member's name and declared size is checked before the first is read."""
    budget = _Budget(limits, path.stat().st_size)
    try:
        with zipfile.ZipFile(path) as batch:
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


def tar_members(path: Path, limits: LimitSettings) -> Iterator[Member]:
    """A first pass reads every header, so a bad member refuses the batch before any is used."""
    budget = _Budget(limits, path.stat().st_size)
    try:
        with tarfile.open(path, mode="r:gz") as batch:
            infos = []
            for info in batch:
                if info.isdir():
                    continue
                name = check_member_name(info.name)
                if not info.isfile():
                    raise _reject(
                        "UNSAFE_MEMBER_PATH",
                        f"Batch member {name!r} is a link or device, not a file.",
                        name,
                    )
                budget.admit(name, info.size)
                infos.append((name, info))
            for name, info in infos:
                stream = batch.extractfile(info)
                yield Member(name, budget.read(name, stream) if stream else b"")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise _reject("CORRUPT_ARCHIVE", f"The tar.gz batch cannot be read: {exc}.") from exc
