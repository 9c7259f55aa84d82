"""A hostile partner's SFTP server for the tests, built on paramiko's server classes.

It listens on 127.0.0.1 (a free port, threads of the test's process) and serves the
listing a test chooses, whatever a real server would refuse to hold: names with
separators, '..', absolute paths, NUL, newlines and control characters, names over 255
bytes or not UTF-8, a name listed twice, links, a million entries made as they are sent,
sizes that lie, contents made as they are read and that never end, a malformed answer.
It records every request the engine makes (what was asked is in `requests`, the bytes
served in `served`), so that a test can say what was never fetched nor deleted. Its out
folder keeps what the engine uploads (CRs) in memory.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import stat
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.sftp import CMD_NAME, SFTP_EOF, SFTP_NO_SUCH_FILE, SFTP_OK

HOST = "127.0.0.1"
USER = "partner"
IN, OUT = "/in", "/out"
OLD = 1_700_000_000  # an mtime long past: every file is stable at once
REGULAR = stat.S_IFREG | 0o644
FOLDER = stat.S_IFDIR | 0o755
LINK = stat.S_IFLNK | 0o777
BATCH = 500  # entries per READDIR answer (paramiko's server sends 16)

Content = bytes | Callable[[int, int], bytes]  # the bytes, or what to send for (offset, length)


def endless(offset: int, length: int) -> bytes:
    """A file that never ends, made as it is read: nothing is held in memory."""
    return b"x" * length


@dataclass
class Remote:
    """One entry of the in folder as the server lists it and serves it."""

    name: str | bytes
    content: Content = b""
    size: int | None = None  # announced; None: the content's true length
    mode: int = REGULAR
    mtime: int = OLD

    def announced(self) -> int:
        if self.size is not None:
            return self.size
        return len(self.content) if isinstance(self.content, bytes) else 0

    def read(self, offset: int, length: int) -> bytes:
        if isinstance(self.content, bytes):
            return self.content[offset : offset + length]
        return self.content(offset, length)


def attributes(name: str | bytes, size: int, mode: int, mtime: int) -> paramiko.SFTPAttributes:
    attr = paramiko.SFTPAttributes()
    attr.filename = name
    attr.st_size, attr.st_mode = size, mode
    attr.st_uid = attr.st_gid = 1000
    attr.st_atime = attr.st_mtime = mtime
    return attr


class _Generated(list):
    """A listing paramiko's server takes for a list, made as it is sent: it asks for the
    next 16 names with [:16] and keeps [16:]; here both mean "the next BATCH"."""

    def __init__(self, entries: Iterator[paramiko.SFTPAttributes]) -> None:
        super().__init__()
        self.entries = entries

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice) and index.start is None:
            return list(itertools.islice(self.entries, BATCH))
        return self


@dataclass
class HostileServer:
    key_file: Path
    known_hosts: Path
    port: int = 0
    files: list[Remote] = field(default_factory=list)
    # entries made as they are listed, instead of `files` (a million is cheap this way)
    generated: Callable[[], Iterator[paramiko.SFTPAttributes]] | None = None
    forged_readdir: bytes | None = None  # sent as the body of every READDIR answer
    uploaded: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | bytes]] = field(default_factory=list)
    served: dict[str | bytes, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._host_key = paramiko.ECDSAKey.generate()
        client = paramiko.ECDSAKey.generate()
        client.write_private_key_file(str(self.key_file))
        self._client_key = client
        self._socket = socket.socket()
        self._socket.bind((HOST, 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        blob = self._host_key.get_base64()
        self.known_hosts.write_text(f"[{HOST}]:{self.port} {self._host_key.get_name()} {blob}\n")
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    # -- what a test looks at -------------------------------------------------------

    def asked(self, name: str | bytes) -> list[str]:
        """The operations the engine asked on ``name`` of the in folder."""
        raw = name.encode() if isinstance(name, str) else name
        path = IN.encode() + b"/" + raw
        return [op for op, p in self.requests if _raw(p) == path]

    def names(self) -> list[str | bytes]:
        return [f.name for f in self.files]

    # -- serving ----------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._socket.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        transport = paramiko.Transport(sock)
        self._transports.append(transport)
        transport.add_server_key(self._host_key)
        transport.set_subsystem_handler("sftp", _SftpServer, _Folders, hostile=self)
        with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
            transport.start_server(server=_Login(self._client_key))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting for it
        self._socket.close()
        for transport in self._transports:
            transport.close()
        self._thread.join(timeout=5)

    def find(self, path: str) -> Remote | None:
        if not path.startswith(IN + "/"):
            return None
        name = path[len(IN) + 1 :]
        return next((f for f in self.files if f.name == name), None)

    def listing(self, path: str) -> list | int:
        if path == OUT:
            return [attributes(n, len(b), REGULAR, OLD) for n, b in self.uploaded.items()]
        if path != IN:
            return SFTP_NO_SUCH_FILE
        if self.generated is not None:
            return _Generated(self.generated())
        made = (attributes(f.name, f.announced(), f.mode, f.mtime) for f in list(self.files))
        return _Generated(made)


def _raw(path: str | bytes) -> bytes:
    return path if isinstance(path, bytes) else path.encode("utf-8", "surrogateescape")


class _Login(paramiko.ServerInterface):
    def __init__(self, client_key: paramiko.PKey) -> None:
        self.client_key = client_key

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == USER and key.asbytes() == self.client_key.asbytes():
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _SftpServer(paramiko.SFTPServer):
    def _read_folder(self, request_number: int, folder: paramiko.SFTPHandle) -> None:
        forged = self.server.hostile.forged_readdir
        if forged is None:
            forged = _packed(folder._get_next_files())
            if forged is None:
                return self._send_status(request_number, SFTP_EOF)
        msg = paramiko.Message()
        msg.add_int(request_number)
        msg.add_bytes(forged)
        self._send_packet(CMD_NAME, msg)


_ENTRY = struct.Struct(">I1sIQIIIII")  # `ls -l` line, flags, size, uid, gid, mode, times


def _packed(entries: list[paramiko.SFTPAttributes]) -> bytes | None:
    """A READDIR answer's body, packed in one go (paramiko's server takes 10 µs an entry)."""
    if not entries:
        return None
    parts = [struct.pack(">I", len(entries))]
    for e in entries:
        name = e.filename if isinstance(e.filename, bytes) else e.filename.encode()
        times = (e.st_mtime, e.st_mtime)
        parts += (struct.pack(">I", len(name)), name)
        parts.append(_ENTRY.pack(1, b"-", 0xF, e.st_size, 1000, 1000, e.st_mode, *times))
    return b"".join(parts)


class _Reading(paramiko.SFTPHandle):
    def __init__(self, hostile: HostileServer, remote: Remote) -> None:
        super().__init__()
        self.hostile, self.remote = hostile, remote

    def read(self, offset: int, length: int) -> bytes:
        data = self.remote.read(offset, length)
        served = self.hostile.served
        served[self.remote.name] = served.get(self.remote.name, 0) + len(data)
        return data

    def stat(self) -> paramiko.SFTPAttributes:
        r = self.remote
        return attributes(r.name, r.announced(), r.mode, r.mtime)


class _Writing(paramiko.SFTPHandle):
    def __init__(self, hostile: HostileServer, name: str) -> None:
        super().__init__()
        self.hostile, self.name = hostile, name
        hostile.uploaded[name] = b""

    def write(self, offset: int, data: bytes) -> int:
        held = self.hostile.uploaded[self.name]
        self.hostile.uploaded[self.name] = held[:offset] + data + held[offset + len(data) :]
        return SFTP_OK

    def stat(self) -> paramiko.SFTPAttributes:
        return attributes(self.name, len(self.hostile.uploaded[self.name]), REGULAR, OLD)


class _Folders(paramiko.SFTPServerInterface):
    """The in folder as the test made it; the out folder in memory."""

    def __init__(self, server: paramiko.ServerInterface, hostile: HostileServer) -> None:
        super().__init__(server)
        self.hostile = hostile

    def _asked(self, operation: str, path: str) -> None:
        self.hostile.requests.append((operation, path))

    def list_folder(self, path: str) -> list | int:
        self._asked("list", path)
        return self.hostile.listing(path)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        self._asked("stat", path)
        if path.startswith(OUT + "/") and path[len(OUT) + 1 :] in self.hostile.uploaded:
            name = path[len(OUT) + 1 :]
            return attributes(name, len(self.hostile.uploaded[name]), REGULAR, OLD)
        remote = self.hostile.find(path)
        if remote is None:
            return SFTP_NO_SUCH_FILE
        return attributes(remote.name, remote.announced(), remote.mode, remote.mtime)

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle:
        self._asked("open", path)
        if path.startswith(OUT + "/"):
            return _Writing(self.hostile, path[len(OUT) + 1 :])
        remote = self.hostile.find(path)
        if remote is None:
            return SFTP_NO_SUCH_FILE
        return _Reading(self.hostile, remote)

    def remove(self, path: str) -> int:
        self._asked("remove", path)
        if path.startswith(OUT + "/"):
            gone = self.hostile.uploaded.pop(path[len(OUT) + 1 :], None) is None
            return SFTP_NO_SUCH_FILE if gone else SFTP_OK
        remote = self.hostile.find(path)
        if remote is None:
            return SFTP_NO_SUCH_FILE
        self.hostile.files.remove(remote)
        return SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        self._asked("rename", oldpath)
        old, new = oldpath[len(OUT) + 1 :], newpath[len(OUT) + 1 :]
        if not (oldpath.startswith(OUT + "/") and newpath.startswith(OUT + "/")):
            return SFTP_NO_SUCH_FILE
        self.hostile.uploaded[new] = self.hostile.uploaded.pop(old)
        return SFTP_OK

    rename = posix_rename

    def canonicalize(self, path: str) -> str:
        return path
