"""SFTP partners: fetch stable files from a partner's server, push outputs back (paramiko).

Knows files and partners' folders, not invoices (docs/architecture.md#layout-of-the-code).
The engine acknowledges a file at its source only after archiving and committing it, and
outputs appear under their final name only once complete
(docs/architecture.md#data-safety). A server is trusted only when its host key is in the
partner's own known-hosts file (issue 4 item 4). The server itself is hostile input
(issue 13 item 2): only plain file names are taken, a file's announced size is never
trusted (a download stops once past the endpoint's `max_file_bytes`), and nothing is
written outside the folder the caller downloads into (connectors/sftp_wire.py).
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

import paramiko
from paramiko.hostkeys import InvalidHostKey
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

from connectors import sftp_wire
from connectors.local import TEMP_SUFFIX, fsync_dir
from connectors.retry import RetryPolicy, with_retries

T = TypeVar("T")

log = logging.getLogger("connectors.sftp")

MARKER_SUFFIX = ".done"
READ_SIZE = 32 * 1024  # what every SFTP server answers in one read
READS_IN_FLIGHT = 64  # 2 MiB asked ahead, as paramiko's prefetch would
MiB = 1024 * 1024
REFUSALS_KEPT = 20  # refused entries described one by one per listing; the rest counted

# why a partner's remote entry is not taken (docs/errors.md#sftp-pickup); each stays on
# the partner's server, untouched, and is reported at every run while it is there
NAME_REFUSED = "REMOTE_NAME_REFUSED"
NOT_A_FILE = "REMOTE_NOT_A_FILE"
TOO_LARGE = "REMOTE_FILE_TOO_LARGE"
LISTING_CUT = "REMOTE_LISTING_TOO_LONG"


class SftpError(Exception):
    """A partner's SFTP server could not be used for an operation; not retried by itself."""


class HostKeyRefused(SftpError):
    """The server's host key is not the one in the partner's known-hosts file; never retried."""


class AuthenticationRefused(SftpError):
    """The server refused the partner's user and key; never retried."""


class TransientSftpError(SftpError):
    """The network failed or timed out; the same operation may succeed when tried again."""


@dataclass(frozen=True)
class Refusal:
    """A remote entry the engine does not take, and why; it is left on the server."""

    code: str  # NAME_REFUSED, NOT_A_FILE, TOO_LARGE or LISTING_CUT
    name: str  # as listed, escaped and bounded (sftp_wire.shown)
    reason: str

    def said(self, partner: str) -> str:
        """One line for the operator, the code first after the partner."""
        if self.code == LISTING_CUT:
            return f"partner {partner}: {self.code}: {self.reason}"
        return (
            f"partner {partner}: {self.code}: {self.name} on its SFTP server is not taken: "
            f"{self.reason}; it is left there"
        )


@dataclass
class Refusals:
    """One listing's refusals: the first REFUSALS_KEPT described, the others counted, so
    that a listing of a million bad names costs no more memory than twenty."""

    kept: list[Refusal] = field(default_factory=list)
    more: int = 0

    def add(self, refusal: Refusal) -> None:
        if len(self.kept) < REFUSALS_KEPT:
            self.kept.append(refusal)
        else:
            self.more += 1


class RemoteFileTooLarge(SftpError):
    """More than `max_file_bytes` were read, whatever size was announced; nothing is kept.

    Not logged by the connector: the caller reports it with its refusal's code."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


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
    max_file_bytes: int = 100 * MiB  # a download stops once past it, whatever was announced
    max_listing_entries: int = 1_000_000  # of the in folder, read per listing

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
        if self.max_file_bytes < 1 or self.max_listing_entries < 1:
            raise ValueError(f"partner {self.partner}: SFTP limits must be at least 1")
        RetryPolicy(self.retry_attempts, self.retry_backoff_seconds)  # refuses bad values now

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retry_attempts, self.retry_backoff_seconds)

    @property
    def done_inside(self) -> str | None:
        """The done folder's name when it is a folder of the in folder: listed there, and
        no stray to report."""
        if self.remote_done is None:
            return None
        parent, name = posixpath.split(posixpath.normpath(self.remote_done))
        return name if _same_folder(parent, self.remote_in) else None


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


def _temporary_name(remote_name: str) -> str:
    """Where an upload's bytes go before its rename: hidden, never taken as a file."""
    return f".{remote_name}{TEMP_SUFFIX}"


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
        self.refused = Refusals()  # what the last listing refused, for the caller to report

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
        names, folders and links are never returned. A name that is not a plain file name,
        a name listed twice, and an entry that is not a regular file are put in
        ``self.refused`` instead ('.' and '..' and the done folder are not reported).
        A listing of any length is read in memory for about 2 * ``limit`` files.
        """
        if limit < 1:
            raise ValueError(f"at most {limit} files: the limit must be at least 1")
        where = f"listing {self.endpoint.remote_in}"
        return self._run(where, lambda sftp: self._list_stable(sftp, stable_seconds, limit))

    def download(self, remote_file: RemoteFile, target: Path) -> None:
        """Copy the file to ``target`` through a temporary name beside it, fsynced.

        The bytes read are what counts, whatever size was listed; reading stops past
        ``max_file_bytes`` (RemoteFileTooLarge). The file must still be as listed once
        read. Only ``target`` and that temporary are ever written, both in
        ``target.parent``; nothing is left there when the copy fails.
        """
        _plain(self.endpoint, remote_file.name)
        where = f"download of {remote_file.name}"
        self._run(where, lambda sftp: self._download(sftp, remote_file, target))

    def acknowledge(self, remote_file: RemoteFile) -> None:
        """Delete the file (and its marker) at the source, or move it to the done folder.

        Call only once the file is archived and its ledger row committed
        (docs/architecture.md#data-safety).
        A file already gone counts as acknowledged.
        """
        _plain(self.endpoint, remote_file.name)
        where = f"acknowledgement of {remote_file.name}"
        self._run(where, lambda sftp: self._acknowledge(sftp, remote_file))

    def upload(
        self,
        local: Path,
        remote_name: str,
        sent: Callable[[int, int], None] | None = None,
        renaming: Callable[[], None] | None = None,
    ) -> None:
        """Put ``local`` in the remote out folder as ``remote_name``, replacing any file there.

        The bytes go to `.<name>.tmp`, their size is checked, then the file is renamed: the
        final name never shows a partial file. `sent(bytes so far, total)` is told as the
        bytes go (the crash tests die there). `renaming()` is called once the temporary is
        whole, just before the rename: the caller records there that the rename may happen,
        so that one killed past it finishes with `rename_upload`, never uploads again. A
        failure before `renaming` removes the temporary when the connection still can; from
        `renaming` on, it is never removed: its absence then means the rename happened.
        """
        _check_name(remote_name)
        where = f"upload of {remote_name}"
        self._run(where, lambda sftp: self._put(sftp, local, remote_name, sent))
        if renaming is not None:
            renaming()
        self.rename_upload(remote_name, remote_name)

    def rename_upload(self, uploaded_as: str, remote_name: str) -> bool:
        """Rename the temporary of an upload made as ``uploaded_as`` to ``remote_name``.

        False when no temporary is there: the rename happened already (asked by a process
        that died, or by a try whose answer was lost), and nothing is done. The temporary
        is never removed: a rename that fails leaves it for the next try.
        """
        _check_name(uploaded_as)
        _check_name(remote_name)
        where = f"rename of {_temporary_name(uploaded_as)} to {remote_name}"
        return self._run(where, lambda sftp: self._rename_upload(sftp, uploaded_as, remote_name))

    # -- connecting and errors -----------------------------------------------------

    def _run(self, operation: str, action: Callable[[paramiko.SFTPClient], T]) -> T:
        def attempt() -> T:
            sftp = self._open()
            try:
                return action(sftp)
            except (OSError, EOFError, paramiko.SSHException, paramiko.SFTPError) as exc:
                raise self._failure(operation, exc) from exc
            except UnicodeError as exc:  # paramiko decodes a server's error text as UTF-8
                raise self._failure(operation, paramiko.SFTPError("unreadable answer")) from exc

        try:
            return with_retries(attempt, self.endpoint.retry_policy, TransientSftpError, log)
        except SftpError as exc:
            # transient ones are logged by the retries, refusals by the caller with a code
            if not isinstance(exc, (TransientSftpError, RemoteFileTooLarge)):
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

    def _files(self, sftp: paramiko.SFTPClient, report: bool) -> Iterator[RemoteFile]:
        """The regular files of the in folder with plain names, as listed, one by one."""
        e = self.endpoint
        listing = sftp_wire.Listing(sftp, e.remote_in, e.max_listing_entries)
        for entry in listing:
            judged = self._judge(entry)
            if isinstance(judged, RemoteFile):
                yield judged
            elif judged is not None and report:
                self.refused.add(judged)
        if listing.cut and report:  # said first, whatever else was refused
            most = e.max_listing_entries
            reason = (
                f"its SFTP server lists {most} entries or more in {e.remote_in!r}, what one "
                f"listing reads; only those were looked at, the others wait"
            )
            self.refused.kept.insert(0, Refusal(LISTING_CUT, repr(e.remote_in), reason))

    def _judge(self, entry: sftp_wire.Entry) -> RemoteFile | Refusal | None:
        """The file to consider, a refusal to report, or None: nothing to say."""
        if entry.raw in (b".", b"..") and entry.folder:
            return None  # every listing holds them
        problem = sftp_wire.name_problem(entry.raw)
        if problem is not None:
            return Refusal(NAME_REFUSED, sftp_wire.shown(entry.raw), problem)
        name = entry.raw.decode("utf-8")
        if _in_progress(name) or (entry.folder and name == self.endpoint.done_inside):
            return None
        if not entry.regular:
            return Refusal(NOT_A_FILE, sftp_wire.shown(entry.raw), _kind(entry.mode))
        return RemoteFile(name, entry.size or 0, entry.mtime or 0)

    def _list_stable(
        self, sftp: paramiko.SFTPClient, stable_seconds: float, limit: int
    ) -> list[RemoteFile]:
        self.refused = Refusals()
        if self.endpoint.markers:
            return self._marked(sftp, limit)
        oldest = _Oldest(limit)
        for remote in self._files(sftp, report=True):
            if not remote.name.endswith(MARKER_SUFFIX):
                oldest.add(remote)
        first = oldest.files(self.refused)
        if not first:
            return []
        time.sleep(stable_seconds)
        second = self._again(sftp, set(first))
        return _in_order(f for n, f in first.items() if second.get(n) == f)[:limit]

    def _marked(self, sftp: paramiko.SFTPClient, limit: int) -> list[RemoteFile]:
        """The files whose `<name>.done` marker is among the ``limit`` oldest markers."""
        markers = _Oldest(limit)
        for remote in self._files(sftp, report=True):
            if remote.name.endswith(MARKER_SUFFIX):
                markers.add(remote)
        marked = {name[: -len(MARKER_SUFFIX)] for name in markers.files(self.refused)}
        ready = self._again(sftp, marked) if marked else {}
        return _in_order(f for f in ready.values() if f is not None)[:limit]

    def _again(self, sftp: paramiko.SFTPClient, names: set[str]) -> dict[str, RemoteFile | None]:
        """``names`` as a new listing shows them (None: listed twice, differently)."""
        found: dict[str, RemoteFile | None] = {}
        for remote in self._files(sftp, report=False):
            if remote.name in names:
                seen = found.get(remote.name, remote)
                found[remote.name] = remote if seen == remote else None
        return found

    def _download(self, sftp: paramiko.SFTPClient, remote_file: RemoteFile, target: Path) -> None:
        e = self.endpoint
        source = posixpath.join(e.remote_in, remote_file.name)
        temp = _temporary(target)
        try:
            with _created(temp) as handle:
                with sftp.open(source, "rb") as remote:
                    size = _copy_pipelined(sftp, remote, remote_file.size, e.max_file_bytes, handle)
                if size is not None and size > e.max_file_bytes:
                    raise self._too_large(remote_file)
                handle.flush()
                os.fsync(handle.fileno())
            if size is None or self._now(sftp, source) != remote_file:
                raise SftpError(
                    f"partner {e.partner}: {remote_file.name} on SFTP server {e.address} no "
                    f"longer has the {remote_file.size} bytes listed; not taken (it changed "
                    f"after the listing and will be looked at again)"
                )
            if size != remote_file.size:
                log.warning(
                    "partner %s: %s on SFTP server %s was listed at %d bytes, but %d were "
                    "read (the server says it is unchanged); the %d bytes read are taken",
                    e.partner, remote_file.name, e.address, remote_file.size, size, size,
                )  # fmt: skip
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def _too_large(self, remote_file: RemoteFile) -> RemoteFileTooLarge:
        e = self.endpoint
        reason = (
            f"more than the {e.max_file_bytes} bytes the hub accepts were read (it was listed "
            f"at {remote_file.size} bytes); reading stopped there and nothing was kept "
            f"(limits.max_file_bytes)"
        )
        refusal = Refusal(TOO_LARGE, sftp_wire.shown(remote_file.name.encode()), reason)
        return RemoteFileTooLarge(
            refusal, f"partner {e.partner}: {TOO_LARGE}: {refusal.name} on SFTP server "
            f"{e.address}: {reason}"
        )  # fmt: skip

    def _now(self, sftp: paramiko.SFTPClient, source: str) -> RemoteFile | None:
        """The file as it is now (None when gone): rewritten in place, it is another file."""
        try:
            entry = sftp_wire.status(sftp, source)
        except FileNotFoundError:
            return None
        return RemoteFile(posixpath.basename(source), entry.size or 0, entry.mtime or 0)

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

    def _put(
        self,
        sftp: paramiko.SFTPClient,
        local: Path,
        remote_name: str,
        sent: Callable[[int, int], None] | None = None,
    ) -> None:
        """The bytes to the temporary, whole, or the temporary removed (best effort)."""
        e = self.endpoint
        temp = posixpath.join(e.remote_out, _temporary_name(remote_name))
        try:
            with open(local, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                sftp.putfo(handle, temp, file_size=size, callback=sent, confirm=False)
            written = sftp_wire.status(sftp, temp).size
            if written != size:
                raise SftpError(
                    f"partner {e.partner}: upload of {remote_name} to SFTP server {e.address} "
                    f"left {written} bytes instead of {size}; not renamed"
                )
        except BaseException:
            if self._active():  # else the next upload of this name overwrites the temporary file
                _discard(sftp, temp)
            raise

    def _rename_upload(self, sftp: paramiko.SFTPClient, uploaded_as: str, name: str) -> bool:
        out = self.endpoint.remote_out
        try:
            _replace(
                sftp, posixpath.join(out, _temporary_name(uploaded_as)), posixpath.join(out, name)
            )
        except FileNotFoundError:
            return False  # no temporary: renamed already
        return True


class _EarlyAnswers(dict):
    """Read answers that arrive before the one being waited for (paramiko hands them here)."""

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:
        self[num] = (t, msg)


def _copy_pipelined(
    sftp: paramiko.SFTPClient,
    remote: paramiko.SFTPFile,
    listed: int,
    limit: int,
    handle: BinaryIO,
) -> int | None:
    """Copy a remote file to ``handle`` with reads in flight, in this thread, until its end
    or one byte past ``limit``; return the bytes written (``limit`` + 1: too large).

    None: the server answered with a hole, the file changed while it was read (or short
    reads took it to the limit without its end).

    Waiting for each read in turn costs a round trip per 32 KiB (64 MiB took 14 s on
    loopback). paramiko's prefetch pipelines, but sends its requests from a thread of its
    own that dies with a traceback on stderr when the connection drops; this does the same
    pipelining here, so that a drop is one exception in the caller. Reads go on until the
    server says the file ends, whatever size was ``listed``: nothing is asked past
    ``limit`` + 32 KiB, nothing past ``limit`` + 1 is written, an answer longer than asked
    is refused. The listed size only paces the asking: up to one read past it at once
    (a small file costs two reads, not 64), then twice what has come, as data keeps coming.
    """
    answers = _EarlyAnswers()
    in_flight: deque[tuple[int, int]] = deque()
    asked = written = 0
    while True:
        ahead = max(listed, 2 * written)
        while len(in_flight) < READS_IN_FLIGHT and asked <= limit:
            if asked > ahead and in_flight:
                break
            num = sftp._async_request(answers, CMD_READ, remote.handle, int64(asked), READ_SIZE)
            in_flight.append((num, asked))
            asked += READ_SIZE
        if not in_flight:  # short reads up to the limit, and no end said: no file to trust
            return None
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
        if len(data) > READ_SIZE:
            raise paramiko.SFTPError(
                f"the server answered a read of {READ_SIZE} bytes with {len(data)} bytes"
            )
        if offset != written:  # a short read before the end: the file changed meanwhile
            return None
        data = data[: limit + 1 - written]
        handle.write(data)
        written += len(data)
        if written > limit:
            return written


def _private_key(e: SftpEndpoint) -> paramiko.PKey:
    """Load the partner's key; the error names the file, never its content."""
    try:
        return paramiko.PKey.from_path(e.key_file)
    except (paramiko.PasswordRequiredException, TypeError) as exc:
        # paramiko 4+ reads keys with `cryptography`, which says TypeError for a key that
        # wants a password (OpenSSH's bcrypt format as ssh-keygen -N writes it, or PEM)
        if isinstance(exc, TypeError) and "password" not in str(exc).lower():
            raise
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
    except (OSError, paramiko.SSHException, ValueError, InvalidHostKey) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if isinstance(exc, InvalidHostKey):  # it quotes the line: of a private key, say
            reason = "a line of it is not a host key"
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
        return sftp_wire.server_text(exc.strerror)
    return sftp_wire.server_text(str(exc).rstrip(": ") or type(exc).__name__)


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp_wire.status(sftp, path)
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
    docs/architecture.md#data-safety); FileNotFoundError when there is no source, and then
    the target is left as it is."""
    try:
        sftp.posix_rename(source, target)
        return
    except OSError as exc:
        # without posix-rename@openssh.com the server answers "unsupported" (no errno here)
        # or, when the request is denied (sftp-server -P), permission denied
        if exc.errno not in (None, errno.EACCES):
            raise
    # a plain SFTP rename refuses an existing target: remove it first, once the source is
    # known to be there to take its place (a rename made already must not cost the target)
    sftp_wire.status(sftp, source)
    _remove(sftp, target)
    sftp.rename(source, target)


def _plain(e: SftpEndpoint, name: str) -> None:
    """A name joined to a remote folder or to a local one names one file there, or nothing
    is done: whoever built the RemoteFile, a path never reaches the server's folders."""
    raw = name.encode("utf-8", "surrogateescape")
    problem = sftp_wire.name_problem(raw)
    if problem is not None:
        raise SftpError(f"partner {e.partner}: {sftp_wire.shown(raw)}: {problem}")


def _kind(mode: int | None) -> str:
    if mode is None:
        return "the server did not say what it is; only regular files are taken"
    kind = "a folder" if stat.S_ISDIR(mode) else "a link" if stat.S_ISLNK(mode) else "special"
    return f"it is {kind}, not a regular file; only regular files are taken"


class _Oldest:
    """The ``limit`` oldest files of a listing of any length, holding at most 2 * ``limit``.

    A name listed twice is no file to take (which of the two would it be?)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.found: dict[str, tuple[RemoteFile, bool]] = {}  # name -> oldest seen, twice

    def add(self, remote: RemoteFile) -> None:
        seen = self.found.get(remote.name)
        if seen is not None:
            remote = min(seen[0], remote, key=_age)
        self.found[remote.name] = (remote, seen is not None)
        if len(self.found) >= 2 * self.limit:
            kept = sorted(self.found.values(), key=lambda found: _age(found[0]))[: self.limit]
            self.found = {remote.name: (remote, twice) for remote, twice in kept}

    def files(self, refused: Refusals) -> dict[str, RemoteFile]:
        """The files kept, by name; a name listed twice goes to ``refused`` instead."""
        kept = sorted(self.found.values(), key=lambda found: _age(found[0]))[: self.limit]
        for remote, twice in kept:
            if twice:
                name = sftp_wire.shown(remote.name.encode())
                refused.add(Refusal(NAME_REFUSED, name, "the server lists this name twice"))
        return {remote.name: remote for remote, twice in kept if not twice}


def _age(remote: RemoteFile) -> tuple[int, str]:
    return remote.mtime, remote.name


def _in_order(files: Iterable[RemoteFile]) -> list[RemoteFile]:
    return sorted(files, key=_age)


def _temporary(target: Path) -> Path:
    """Beside the target, hidden (never taken as a file), a name of at most 255 bytes."""
    name = f".{target.name}{TEMP_SUFFIX}"
    if len(os.fsencode(name)) > sftp_wire.NAME_MAX:
        name = f".{hashlib.sha256(os.fsencode(target.name)).hexdigest()[:40]}{TEMP_SUFFIX}"
    return target.with_name(name)


@contextlib.contextmanager
def _created(temp: Path) -> Iterator[BinaryIO]:
    """A new file at ``temp``: whatever was there (a file, a link to elsewhere) is removed,
    never opened, so that nothing outside the folder is ever written or truncated."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temp, flags, 0o666)
    except FileExistsError:  # left by a fetch that was killed
        temp.unlink()
        fd = os.open(temp, flags, 0o666)
    with os.fdopen(fd, "wb") as handle:
        yield handle


def sweep(folder: Path) -> list[Path]:
    """Remove the temporaries downloads killed meanwhile left in ``folder`` (a landing
    folder only the engine writes, swept under its intake lock)."""
    removed = []
    for entry in os.scandir(folder) if folder.is_dir() else ():
        temporary = entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX)
        if temporary and not entry.is_dir(follow_symlinks=False):  # a link itself, not its target
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


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
