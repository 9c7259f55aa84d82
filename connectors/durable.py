"""One sync barrier for many files: what a group commit makes durable before the ledger
records it.

An fsync per file (and per folder entry) cost more than the rest of a one-invoice flow's
work; a batch of files written and closed is made durable by one ``syncfs`` of the file
system they are on (Linux), or, where there is none, by an fsync of each file and of
each folder they are in. Either way, once `sync` returns, the files and their names
survive a power cut.

Knows files and folders, not the ledger (docs/architecture.md#layout-of-the-code).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterable
from pathlib import Path


def _syncfs():
    """libc's syncfs, or None (not Linux, or a libc without it)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


SYNCFS = _syncfs()


def sync(files: Iterable[Path | str]) -> None:
    """Make these closed files and their folders' entries durable, in one barrier per
    file system (OSError if the disk says it failed: nothing may then be recorded). A file
    removed since it was written (its transaction's savepoint rolled back) is passed over."""
    files = [Path(path) for path in files]
    folders = {path.parent for path in files}
    if not folders:
        return
    if SYNCFS is not None:
        synced: set[int] = set()
        for folder in folders:
            device = os.stat(folder).st_dev
            if device not in synced:
                _syncfs_of(folder)
                synced.add(device)
        return
    for path in files:
        try:
            _fsync(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
    for folder in folders:
        _fsync(folder, os.O_RDONLY | os.O_DIRECTORY)


def _syncfs_of(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if SYNCFS(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs of {folder}: {os.strerror(error)}")
    finally:
        os.close(fd)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
