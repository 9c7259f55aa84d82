"""SFTP partners: fetch stable files from a partner's server, push outputs back (paramiko).

Knows files and partners' folders, not invoices (docs/architecture.md#layout-of-the-code).
The engine acknowledges a file at its source only after archiving and committing it, and
outputs appear under their final name only once complete
(docs/architecture.md#data-safety). A server is trusted only when its host key is in the
partner's own known-hosts file (issue 4 item 4).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import os
import posixpath
import stat
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import paramiko
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

from connectors.local import TEMP_SUFFIX, fsync_dir
from connectors.retry import RetryPolicy, with_retries

T = TypeVar("T")

log = logging.getLogger("connectors.sftp")

MARKER_SUFFIX = ".done"
READ_SIZE = 32 * 1024  # what every SFTP server answers in one read
READS_IN_FLIGHT = 64  # 2 MiB asked ahead, as paramiko's prefetch would


class SftpError(Exception):
    """A partner's SFTP server could not be used for an operation; not retried by itself."""


class HostKeyRefused(SftpError):
    """The server's host key is not the one in the partner's known-hosts file; never retried."""


class AuthenticationRefused(SftpError):
    """The server refused the partner's user and key; never retried."""


class TransientSftpError(SftpError):
    """The network failed or timed out; the same operation may succeed when tried again."""


@dataclass(frozen=True)
class SftpEndpoint:
    """Where and how to reach one partner's SFTP server (no secret beyond a key file's path)."""

    partner: str
    host: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    remote_in: str
    remote_out: str
    remote_done: str | None = None  # acknowledged files are moved there instead of deleted
    markers: bool = False  # a file is ready when `<name>.done` exists beside it
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retry_attempts: int = 3  # tries in all, the first included
    retry_backoff_seconds: float = 1.0  # doubled after each failure

    def __post_init__(self) -> None:
        if not (self.partner and self.host and self.user):
            raise ValueError("an SFTP endpoint needs a partner, a host and a user")
        if not 0 < self.port < 65536:
            raise ValueError(f"partner {self.partner}: SFTP port {self.port} is not a TCP port")
        if not (self.remote_in and self.remote_out):
            raise ValueError(f"partner {self.partner}: remote in and out folders are required")
        if self.remote_done is not None and _same_folder(self.remote_done, self.remote_in):
            raise ValueError(f"partner {self.partner}: the done folder cannot be the in folder")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError(f"partner {self.partner}: SFTP timeouts must be positive")
        RetryPolicy(self.retry_attempts, self.retry_backoff_seconds)  # refuses bad values now

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retry_attempts, self.retry_backoff_seconds)


@dataclass(frozen=True)
class RemoteFile:
    """A file in a partner's remote in folder, as listed (mtime in whole seconds, as SFTP)."""

    name: str
    size: int
    mtime: int


def fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint as OpenSSH prints it: SHA256 of the key blob, unpadded base64."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _same_folder(a: str, b: str) -> bool:
    return posixpath.normpath(a) == posixpath.normpath(b)


def _in_progress(name: str) -> bool:
    """Hidden and temporary names are uploads in progress (same rule as local inboxes)."""
    return name.startswith(".") or name.endswith((TEMP_SUFFIX, ".part", ".filepart"))


def _check_name(name: str) -> None:
    if not name or "/" in name or _in_progress(name) or name.endswith(MARKER_SUFFIX):
        raise ValueError(f"{name!r} cannot be the name of an uploaded file")


class _RefuseUnknownHost(paramiko.RejectPolicy):
    """RejectPolicy that says which key the server offered, for the operator to check."""

    def __init__(self, endpoint: SftpEndpoint) -> None:
        self.endpoint = endpoint

    def missing_host_key(self, client, hostname, key) -> None:
        e = self.endpoint
        raise HostKeyRefused(
            f"partner {e.partner}: SFTP server {e.address} offered host key {key.get_name()} "
            f"{fingerprint(key)}, which is not in the partner's known-hosts file "
            f"{e.known_hosts}; connection refused (check the fingerprint with the partner "
            f"before adding it)"
        )


class SftpConnection:
    """One SSH connection to a partner's server, opened on first use and again after a drop.

    Each operation is retried on transient errors as far as the endpoint allows; use it as
    a context manager so that the connection is closed. One thread at a time.
    """

    def __init__(self, endpoint: SftpEndpoint) -> None:
        self.endpoint = endpoint
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __enter__(self) -> SftpConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = self._sftp = None

    # -- the interface -------------------------------------------------------------

    def list_stable(self, stable_seconds: float, limit: int) -> list[RemoteFile]:
        """Files ready in the remote in folder, oldest first (then by name), at most ``limit``.

        Ready: the same size and mtime in two listings ``stable_seconds`` apart, or, for a
        partner using markers, a `<name>.done` beside it. Markers, hidden and temporary
        names, folders and links are never returned.
        """
        if limit < 1:
            raise ValueError(f"at most {limit} files: the limit must be at least 1")
        where = f"listing {self.endpoint.remote_in}"
        return self._run(where, lambda sftp: self._list_stable(sftp, stable_seconds, limit))

    def download(self, remote_file: RemoteFile, target: Path) -> None:
        """Copy the file to ``target`` through a temporary name beside it, fsynced, size checked.

        Nothing is left at ``target`` or beside it when the copy fails.
        """
        where = f"download of {remote_file.name}"
        self._run(where, lambda sftp: self._download(sftp, remote_file, target))

    def acknowledge(self, remote_file: RemoteFile) -> None:
        """Delete the file (and its marker) at the source, or move it to the done folder.

        Call only once the file is archived and its ledger row committed
        (docs/architecture.md#data-safety).
        A file already gone counts as acknowledged.
        """
        where = f"acknowledgement of {remote_file.name}"
        self._run(where, lambda sftp: self._acknowledge(sftp, remote_file))

    def upload(self, local: Path, remote_name: str) -> None:
        """Put ``local`` in the remote out folder as ``remote_name``, replacing any file there.

        The bytes go to `.<name>.tmp`, their size is checked, then the file is renamed: the
        final name never shows a partial file.
        """
        _check_name(remote_name)
        where = f"upload of {remote_name}"
        self._run(where, lambda sftp: self._upload(sftp, local, remote_name))

    # -- connecting and errors -----------------------------------------------------

    def _run(self, operation: str, action: Callable[[paramiko.SFTPClient], T]) -> T:
        def attempt() -> T:
            sftp = self._open()
            try:
                return action(sftp)
            except (OSError, EOFError, paramiko.SSHException, paramiko.SFTPError) as exc:
                raise self._failure(operation, exc) from exc

        try:
            return with_retries(attempt, self.endpoint.retry_policy, TransientSftpError, log)
        except SftpError as exc:
            if not isinstance(exc, TransientSftpError):  # transient ones are logged by the retries
                log.error("%s", exc)
            raise

    def _failure(self, operation: str, exc: BaseException) -> SftpError:
        """Wrap an error from paramiko, the socket or a file in one sentence."""
        e = self.endpoint
        lost = isinstance(exc, (EOFError, TimeoutError, ConnectionError, paramiko.SSHException))
        transient = lost or not self._active()
        if transient:
            self.close()
        kind = TransientSftpError if transient else SftpError
        reason = _reason(exc, e.read_timeout)
        return kind(f"partner {e.partner}: {operation} on SFTP server {e.address} failed: {reason}")

    def _active(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def _open(self) -> paramiko.SFTPClient:
        if self._sftp is not None and self._active():
            return self._sftp
        self.close()
        e = self.endpoint
        key = _private_key(e)
        client = paramiko.SSHClient()
        try:
            _load_known_hosts(client, e)
            client.set_missing_host_key_policy(_RefuseUnknownHost(e))
            client.connect(
                e.host,
                e.port,
                username=e.user,
                pkey=key,
                look_for_keys=False,  # only the partner's key, never ~/.ssh nor an agent
                allow_agent=False,
                timeout=e.connect_timeout,
                banner_timeout=e.connect_timeout,
                auth_timeout=e.connect_timeout,
                channel_timeout=e.connect_timeout,
            )
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(e.read_timeout)
        except BaseException as exc:
            client.close()
            if isinstance(exc, (OSError, EOFError, paramiko.SSHException)):
                raise _connect_failure(e, exc) from exc
            raise
        self._client, self._sftp = client, sftp
        return sftp

    # -- the operations, on an open connection ---------------------------------------

    def _listing(self, sftp: paramiko.SFTPClient) -> dict[str, RemoteFile]:
        found = {}
        for attr in sftp.listdir_attr(self.endpoint.remote_in):
            name = attr.filename
            if not isinstance(name, str):  # paramiko leaves a name that is not UTF-8 as bytes
                log.warning(
                    "partner %s: skipping %r in %s, its name is not UTF-8",
                    self.endpoint.partner,
                    name,
                    self.endpoint.remote_in,
                )
                continue
            if attr.st_mode is None or not stat.S_ISREG(attr.st_mode) or _in_progress(name):
                continue
            found[name] = RemoteFile(name, attr.st_size or 0, attr.st_mtime or 0)
        return found

    def _list_stable(
        self, sftp: paramiko.SFTPClient, stable_seconds: float, limit: int
    ) -> list[RemoteFile]:
        first = self._listing(sftp)
        files = {n: f for n, f in first.items() if not n.endswith(MARKER_SUFFIX)}
        if self.endpoint.markers:
            ready = [f for n, f in files.items() if n + MARKER_SUFFIX in first]
        elif not files:
            return []
        else:
            time.sleep(stable_seconds)
            second = self._listing(sftp)
            ready = [f for n, f in files.items() if second.get(n) == f]
        return sorted(ready, key=lambda f: (f.mtime, f.name))[:limit]

    def _download(self, sftp: paramiko.SFTPClient, remote_file: RemoteFile, target: Path) -> None:
        source = posixpath.join(self.endpoint.remote_in, remote_file.name)
        temp = target.with_name(f".{target.name}{TEMP_SUFFIX}")
        try:
            with open(temp, "wb") as handle, sftp.open(source, "rb") as remote:
                size = _copy_pipelined(sftp, remote, remote_file.size, handle)
                handle.flush()
                os.fsync(handle.fileno())
            if size != remote_file.size or self._now(sftp, source) != remote_file:
                e = self.endpoint
                raise SftpError(
                    f"partner {e.partner}: {remote_file.name} on SFTP server {e.address} no "
                    f"longer has the {remote_file.size} bytes listed; not taken (it changed "
                    f"after the listing and will be looked at again)"
                )
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def _now(self, sftp: paramiko.SFTPClient, source: str) -> RemoteFile | None:
        """The file as it is now (None when gone): rewritten in place, it is another file."""
        try:
            attr = sftp.stat(source)
        except FileNotFoundError:
            return None
        return RemoteFile(posixpath.basename(source), attr.st_size or 0, attr.st_mtime or 0)

    def _acknowledge(self, sftp: paramiko.SFTPClient, remote_file: RemoteFile) -> None:
        source = posixpath.join(self.endpoint.remote_in, remote_file.name)
        now = self._now(sftp, source)
        if now is not None and now != remote_file:
            # the partner sent a new version meanwhile: it is another flow, keep it
            log.warning(
                "partner %s: %s changed on %s since it was fetched; left there to be fetched again",
                self.endpoint.partner,
                remote_file.name,
                self.endpoint.address,
            )
            return
        # the marker goes first: a crash in between leaves a file waiting for a new marker,
        # never a stale marker that would make a later upload of the same name look ready
        if self.endpoint.markers:
            _remove(sftp, source + MARKER_SUFFIX)
        if self.endpoint.remote_done is None:
            _remove(sftp, source)
            return
        done = self.endpoint.remote_done
        try:
            _replace(sftp, source, posixpath.join(done, remote_file.name))
        except FileNotFoundError as exc:
            if not _exists(sftp, source):
                return  # already acknowledged
            e = self.endpoint
            raise SftpError(
                f"partner {e.partner}: cannot move {remote_file.name} to the done folder {done} "
                f"on SFTP server {e.address}: that folder does not exist"
            ) from exc

    def _upload(self, sftp: paramiko.SFTPClient, local: Path, remote_name: str) -> None:
        e = self.endpoint
        final = posixpath.join(e.remote_out, remote_name)
        temp = posixpath.join(e.remote_out, f".{remote_name}{TEMP_SUFFIX}")
        try:
            with open(local, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                sftp.putfo(handle, temp, file_size=size, confirm=False)
            written = sftp.stat(temp).st_size
            if written != size:
                raise SftpError(
                    f"partner {e.partner}: upload of {remote_name} to SFTP server {e.address} "
                    f"left {written} bytes instead of {size}; not renamed"
                )
            _replace(sftp, temp, final)
        except BaseException:
            if self._active():  # else the next upload of this name overwrites the temporary file
                _discard(sftp, temp)
            raise


class _EarlyAnswers(dict):
    """Read answers that arrive before the one being waited for (paramiko hands them here)."""

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:
        self[num] = (t, msg)


def _copy_pipelined(
    sftp: paramiko.SFTPClient, remote: paramiko.SFTPFile, expected: int, handle: BinaryIO
) -> int | None:
    """Copy a remote file to ``handle`` with reads in flight, in this thread; return its size.

    None: the server answered with a hole, the file changed while it was read.

    Waiting for each read in turn costs a round trip per 32 KiB (64 MiB took 14 s on
    loopback). paramiko's prefetch pipelines, but sends its requests from a thread of its
    own that dies with a traceback on stderr when the connection drops; this does the same
    pipelining here, so that a drop is one exception in the caller. Reads go one past the
    listed size: a file that grew is seen to be longer, not cut to the listed size.
    """
    answers = _EarlyAnswers()
    in_flight: deque[tuple[int, int]] = deque()
    asked = written = 0
    while True:
        while len(in_flight) < READS_IN_FLIGHT and asked <= expected:
            num = sftp._async_request(answers, CMD_READ, remote.handle, int64(asked), READ_SIZE)
            in_flight.append((num, asked))
            asked += READ_SIZE
        if not in_flight:
            return written
        num, offset = in_flight.popleft()
        try:  # paramiko raises SSHException, not EOFError, when the connection drops
            t, msg = answers.pop(num) if num in answers else sftp._read_response(num)
            if t == CMD_STATUS:
                sftp._convert_status(msg)  # EOFError at the end of the file, OSError otherwise
        except EOFError:
            return written
        if t != CMD_DATA:
            raise paramiko.SFTPError(f"expected data from the server, got message type {t}")
        data = msg.get_string()
        if offset != written:  # a short read before the end: the file changed meanwhile
            return None
        handle.write(data)
        written += len(data)


def _private_key(e: SftpEndpoint) -> paramiko.PKey:
    """Load the partner's key; the error names the file, never its content."""
    try:
        return paramiko.PKey.from_path(e.key_file)
    except paramiko.PasswordRequiredException as exc:
        reason = "it is protected by a passphrase, which the engine cannot type"
        cause: BaseException = exc
    except OSError as exc:
        reason, cause = exc.strerror or type(exc).__name__, exc
    except (paramiko.SSHException, paramiko.UnknownKeyType, ValueError) as exc:
        reason, cause = "it is not a private key paramiko can read", exc
    raise SftpError(
        f"partner {e.partner}: cannot use the private key file {e.key_file}: {reason}"
    ) from cause


def _load_known_hosts(client: paramiko.SSHClient, e: SftpEndpoint) -> None:
    """Only the partner's own file: never ~/.ssh/known_hosts, never saved back."""
    try:
        client.get_host_keys().load(os.fspath(e.known_hosts))
    except (OSError, paramiko.SSHException, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SftpError(
            f"partner {e.partner}: cannot read the known-hosts file {e.known_hosts}: {reason}"
        ) from exc


def _connect_failure(e: SftpEndpoint, exc: BaseException) -> SftpError:
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyRefused(
            f"partner {e.partner}: SFTP server {e.address} offered host key "
            f"{exc.key.get_name()} {fingerprint(exc.key)}, but the partner's known-hosts file "
            f"{e.known_hosts} holds {exc.expected_key.get_name()} "
            f"{fingerprint(exc.expected_key)} for it; connection refused (the server was "
            f"reinstalled, or this is not the partner's server)"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return AuthenticationRefused(
            f"partner {e.partner}: SFTP server {e.address} refused user {e.user!r} with the "
            f"key in {e.key_file} (authentication failed: {exc})"
        )
    return TransientSftpError(
        f"partner {e.partner}: connecting to SFTP server {e.address} as {e.user!r} failed: "
        f"{_reason(exc, e.connect_timeout)}"
    )


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, (EOFError, ConnectionError)):
        return "the connection was lost"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).rstrip(": ") or type(exc).__name__


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def _remove(sftp: paramiko.SFTPClient, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(path)


def _discard(sftp: paramiko.SFTPClient, path: str) -> None:
    """Best effort: the error being raised matters more than a leftover temporary file."""
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        sftp.remove(path)


def _replace(sftp: paramiko.SFTPClient, source: str, target: str) -> None:
    """Rename over an existing target, as rename(2) does (a re-run replaces,
    docs/architecture.md#data-safety)."""
    try:
        sftp.posix_rename(source, target)
        return
    except OSError as exc:
        # without posix-rename@openssh.com the server answers "unsupported" (no errno here)
        # or, when the request is denied (sftp-server -P), permission denied
        if exc.errno not in (None, errno.EACCES):
            raise
    # a plain SFTP rename refuses an existing target: remove it first
    _remove(sftp, target)
    sftp.rename(source, target)


def list_stable(endpoint: SftpEndpoint, stable_seconds: float, limit: int) -> list[RemoteFile]:
    """`SftpConnection.list_stable` on a connection of its own."""
    with SftpConnection(endpoint) as connection:
        return connection.list_stable(stable_seconds, limit)


def download(endpoint: SftpEndpoint, remote_file: RemoteFile, target: Path) -> None:
    """`SftpConnection.download` on a connection of its own."""
    with SftpConnection(endpoint) as connection:
        connection.download(remote_file, target)


def acknowledge(endpoint: SftpEndpoint, remote_file: RemoteFile) -> None:
    """`SftpConnection.acknowledge` on a connection of its own."""
    with SftpConnection(endpoint) as connection:
        connection.acknowledge(remote_file)


def upload(endpoint: SftpEndpoint, local: Path, remote_name: str) -> None:
    """`SftpConnection.upload` on a connection of its own."""
    with SftpConnection(endpoint) as connection:
        connection.upload(local, remote_name)
