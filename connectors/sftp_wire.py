"""What a partner's SFTP server answers, read as hostile input (docs/security.md).

paramiko's own readers trust the server: `listdir_attr` keeps a whole listing in memory
(a million entries is hundreds of MB), decodes every name as strict UTF-8 (one odd name
fails the whole listing), and loops as many times as an answer claims entries or
extensions: a count of 4 billion past the end of a packet is read as 4 billion empty
strings, hours of CPU. Here directory entries are read one packet at a time and handed
over one by one, names stay bytes until judged, and every count is held against the
bytes actually received. A name is taken only when it is a plain file name: it names
one file of the folder listed, whatever path it is joined to.
"""

from __future__ import annotations

import contextlib
import re
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import paramiko
from paramiko.sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_HANDLE,
    CMD_NAME,
    CMD_OPENDIR,
    CMD_READDIR,
    CMD_STAT,
)

from . import visible

NAME_MAX = 255  # bytes: the longest file name of Linux's file systems
SHOWN_MAX = 80  # characters of a refused name quoted in a report line
SEPARATORS = ("/", "\\")  # POSIX's, and Windows' for the tools a name may reach
_ODD_ASCII = re.compile(rb"[\x00-\x1f\x7f/\\]")  # what the quick path of name_problem sends on

_SIZE, _UIDGID, _PERMISSIONS, _ACMODTIME = 0x1, 0x2, 0x4, 0x8
_EXTENDED = 0x80000000


@dataclass(frozen=True)
class Entry:
    """One directory entry or file status as the server sent it; None: not announced."""

    raw: bytes  # the name, undecoded
    size: int | None
    mtime: int | None
    mode: int | None

    @property
    def regular(self) -> bool:
        return self.mode is not None and stat.S_ISREG(self.mode)

    @property
    def folder(self) -> bool:
        return self.mode is not None and stat.S_ISDIR(self.mode)


_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_USUAL = struct.Struct(">QIIIII")  # size, uid, gid, permissions, atime, mtime
_USUAL_FLAGS = _SIZE | _UIDGID | _PERMISSIONS | _ACMODTIME


class _Reader:
    """An SFTP packet's fields, never read past the bytes received (a million entries are
    read here: each field costs one unpack)."""

    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def _need(self, n: int) -> int:
        at = self.at
        if at + n > len(self.data):
            left = len(self.data) - at
            raise paramiko.SFTPError(
                f"malformed answer from the server: {n} bytes announced, {left} left"
            )
        self.at = at + n
        return at

    def u32(self) -> int:
        return _U32.unpack_from(self.data, self._need(4))[0]

    def string(self) -> bytes:
        n = self.u32()
        at = self._need(n)
        return self.data[at : at + n]

    def count(self, smallest: int) -> int:
        """A count of items at least ``smallest`` bytes each, checked against what is left."""
        n = self.u32()
        left = len(self.data) - self.at
        if n * smallest > left:
            raise paramiko.SFTPError(
                f"malformed answer from the server: {n} items announced in {left} bytes"
            )
        return n

    def attributes(self, raw: bytes) -> Entry:
        flags = self.u32()
        if flags == _USUAL_FLAGS:  # what servers send: one unpack
            size, _, _, mode, _, mtime = _USUAL.unpack_from(self.data, self._need(_USUAL.size))
            return Entry(raw, size, mtime, mode)
        size = _U64.unpack_from(self.data, self._need(8))[0] if flags & _SIZE else None
        if flags & _UIDGID:
            self._need(8)
        mode = self.u32() if flags & _PERMISSIONS else None
        mtime = None
        if flags & _ACMODTIME:
            self._need(4)  # atime
            mtime = self.u32()
        if flags & _EXTENDED:
            for _ in range(self.count(8)):  # a type and a value: two strings
                self.string()
                self.string()
        return Entry(raw, size, mtime, mode)


class Listing:
    """The entries of a folder one by one, '.' and '..' included as the server sends them.

    At most one answer (at most 16 MiB, paramiko's limit) is held at a time, and at most
    ``most`` entries are read: a server can list forever, with new names or with empty
    answers that never say the end (each answer counts as an entry). ``cut`` says that
    the listing was stopped there."""

    def __init__(self, sftp: paramiko.SFTPClient, folder: str, most: int) -> None:
        self.sftp, self.folder, self.most = sftp, folder, most
        self.cut = False

    def __iter__(self) -> Iterator[Entry]:
        t, msg = self.sftp._request(CMD_OPENDIR, self.folder)
        if t != CMD_HANDLE:
            raise paramiko.SFTPError(f"expected a folder handle from the server, got type {t}")
        handle = msg.get_binary()
        left = self.most
        try:
            while left > 0:
                try:
                    t, msg = self.sftp._request(CMD_READDIR, handle)
                except EOFError:  # the end of the folder
                    return
                if t != CMD_NAME:
                    raise paramiko.SFTPError(f"expected names from the server, got type {t}")
                packet = _Reader(msg.get_remainder())
                count = packet.count(12)  # name, long name, flags: 4 bytes at least each
                left -= max(1, count)
                for _ in range(count if left >= 0 else count + left):
                    raw = packet.string()
                    packet.string()  # the `ls -l` line: nothing the engine uses
                    yield packet.attributes(raw)
            self.cut = True
        finally:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException, paramiko.SFTPError):
                self.sftp._request(CMD_CLOSE, handle)


def status(sftp: paramiko.SFTPClient, path: str) -> Entry:
    """The file at ``path`` as the server says it is now (FileNotFoundError when gone)."""
    t, msg = sftp._request(CMD_STAT, path)
    if t != CMD_ATTRS:
        raise paramiko.SFTPError(f"expected attributes from the server, got type {t}")
    return _Reader(msg.get_remainder()).attributes(path.rsplit("/", 1)[-1].encode())


def name_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not a plain file name the engine may take, or None when it is.

    Plain: one name of the folder listed (no separator, not '.' nor '..'), at most 255
    bytes of UTF-8, no character that ends or rewrites a line (refused here, at listing:
    such a name is never fetched, never written, never acknowledged on the server)."""
    if raw.isascii() and len(raw) <= NAME_MAX and not _ODD_ASCII.search(raw):
        return None if raw not in (b"", b".", b"..") else _slow_problem(raw)
    return _slow_problem(raw)


def _slow_problem(raw: bytes) -> str | None:
    if not raw:
        return "its name is empty"
    if len(raw) > NAME_MAX:
        return f"its name is {len(raw)} bytes long, over {NAME_MAX}"
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "its name is not UTF-8"
    if any(separator in name for separator in SEPARATORS):
        return "its name holds a path separator: it is a path, not a file name"
    if name in (".", ".."):
        return "'.' and '..' name folders, not files"
    # a character that ends or rewrites a line (visible.control); other invisible ones
    # (bidi, zero-width) are taken, and shown as their code points wherever the name is
    control = next((c for c in name if visible.control(c)), None)
    if control is not None:
        return f"its name holds the control character {visible.escaped(control)}"
    return None


def shown(raw: bytes) -> str:
    """A name as a report line quotes it, between quotes (it may be empty, or end in a
    space): each hidden character written as its code point, as for a local file's name
    (a byte that is not UTF-8 as U+DC80 to U+DCFF), bounded."""
    return f"'{visible.escaped(raw.decode('utf-8', 'surrogateescape'), SHOWN_MAX)}'"


def server_text(text: str, limit: int = 200) -> str:
    """A message the server wrote (an error's text), on one line and bounded."""
    return visible.escaped(text, limit)
