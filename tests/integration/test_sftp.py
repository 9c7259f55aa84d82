"""The SFTP connector against a real OpenSSH sshd on 127.0.0.1 (issue 4 items 2, 3, 4, 7).

No mocks: files are dropped in the server's folders, connections are really cut, keys
really refused.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from connectors import sftp
from connectors.retry import RetryPolicy
from connectors.sftp import (
    AuthenticationRefused,
    HostKeyRefused,
    SftpError,
    TransientSftpError,
)

from .conftest import SSH_KEYGEN, SftpSite, SshServer, known_hosts_line

OLD = 1_700_000_000  # an mtime long past, so that order is decided by the tests


def drop(folder: Path, name: str, content: bytes, mtime: int | None = None) -> Path:
    path = folder / name
    path.write_bytes(content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def names(files: list[sftp.RemoteFile]) -> list[str]:
    return [f.name for f in files]


def openssh_fingerprint(public_key: Path) -> str:
    """What `ssh-keygen -lf` prints for the key: `256 SHA256:… comment (ED25519)`."""
    out = subprocess.run([SSH_KEYGEN, "-lf", public_key], capture_output=True, text=True)
    return out.stdout.split()[1]


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """The engine's local landing folder (the server's folders are elsewhere in tmp_path)."""
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def sftp_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "connectors.sftp"]


# -- pickup ---------------------------------------------------------------------------


def test_pickup_takes_stable_files_oldest_first_and_at_most_the_limit(sftp_site: SftpSite):
    drop(sftp_site.remote_in, "B.xml", b"<b/>", OLD + 20)
    drop(sftp_site.remote_in, "A.xml", b"<a/>", OLD + 20)  # same mtime: by name
    drop(sftp_site.remote_in, "C.xml", b"<c>older</c>", OLD)
    for temporary in (".hidden.xml", "up.xml.tmp", "up.xml.part", "up.xml.filepart"):
        drop(sftp_site.remote_in, temporary, b"half", OLD)
    (sftp_site.remote_in / "subfolder").mkdir()
    endpoint = sftp_site.endpoint()

    assert names(sftp.list_stable(endpoint, 0.1, limit=2)) == ["C.xml", "A.xml"]
    everything = sftp.list_stable(endpoint, 0.1, limit=10)
    assert names(everything) == ["C.xml", "A.xml", "B.xml"]
    assert everything[0] == sftp.RemoteFile("C.xml", len(b"<c>older</c>"), OLD)


def test_a_file_still_being_written_is_not_taken_until_it_stops_growing(sftp_site: SftpSite):
    drop(sftp_site.remote_in, "steady.xml", b"<done/>", OLD)
    growing = sftp_site.remote_in / "growing.xml"
    stop = threading.Event()

    def write_slowly() -> None:
        with open(growing, "ab") as handle:
            while not stop.is_set():
                handle.write(b"<line/>" * 100)
                handle.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        taken = sftp.list_stable(sftp_site.endpoint(), 0.4, limit=10)
    finally:
        stop.set()
        writer.join()
    assert names(taken) == ["steady.xml"]

    later = sftp.list_stable(sftp_site.endpoint(), 0.2, limit=10)
    assert names(later) == ["steady.xml", "growing.xml"]
    assert later[1].size == growing.stat().st_size


def test_with_markers_a_file_is_ready_when_its_done_marker_exists(sftp_site: SftpSite):
    drop(sftp_site.remote_in, "A.xml", b"<a/>")
    drop(sftp_site.remote_in, "A.xml.done", b"")
    drop(sftp_site.remote_in, "B.xml", b"<b/>", OLD)  # old and stable, but no marker yet
    drop(sftp_site.remote_in, "C.xml.done", b"")  # a marker without its file
    endpoint = sftp_site.endpoint(markers=True)

    started = time.monotonic()
    taken = sftp.list_stable(endpoint, stable_seconds=30, limit=10)
    assert time.monotonic() - started < 5, "markers mode does not wait for stability"
    assert names(taken) == ["A.xml"]

    sftp.acknowledge(endpoint, taken[0])
    assert sorted(os.listdir(sftp_site.remote_in)) == ["B.xml", "C.xml.done"]


# -- download and acknowledgement -------------------------------------------------------


def test_download_copies_the_exact_bytes_and_leaves_no_temporary_file(
    sftp_site: SftpSite, landing: Path
):
    content = os.urandom(3 * 1024 * 1024 + 17)
    drop(sftp_site.remote_in, "INV1.xml", content, OLD)
    endpoint = sftp_site.endpoint()
    [remote] = sftp.list_stable(endpoint, 0.1, limit=10)

    sftp.download(endpoint, remote, landing / "INV1.xml")

    assert (landing / "INV1.xml").read_bytes() == content
    assert os.listdir(landing) == ["INV1.xml"]
    assert (sftp_site.remote_in / "INV1.xml").exists(), "only acknowledge removes it"


def test_a_file_changed_since_the_listing_is_not_taken(sftp_site: SftpSite, landing: Path):
    source = drop(sftp_site.remote_in, "INV1.xml", b"<invoice/>", OLD)
    endpoint = sftp_site.endpoint(retry_attempts=3)
    [remote] = sftp.list_stable(endpoint, 0.1, limit=10)
    source.write_bytes(b"<invoice>rewritten, longer</invoice>")

    with pytest.raises(SftpError) as refused:
        sftp.download(endpoint, remote, landing / "INV1.xml")

    assert not isinstance(refused.value, TransientSftpError)
    assert "INV1.xml" in str(refused.value) and "no longer has the 10 bytes listed" in str(
        refused.value
    )
    assert os.listdir(landing) == []


def test_acknowledge_deletes_the_remote_file_once_and_for_all(sftp_site: SftpSite):
    drop(sftp_site.remote_in, "INV1.xml", b"<invoice/>", OLD)
    drop(sftp_site.remote_in, "INV2.xml", b"<invoice/>", OLD)
    endpoint = sftp_site.endpoint()
    first, _ = sftp.list_stable(endpoint, 0.1, limit=10)

    sftp.acknowledge(endpoint, first)
    sftp.acknowledge(endpoint, first)  # again, e.g. after a crash: nothing to do, no error

    assert os.listdir(sftp_site.remote_in) == ["INV2.xml"]


def test_acknowledge_moves_the_file_to_the_done_folder(sftp_site: SftpSite):
    drop(sftp_site.remote_in, "INV1.xml", b"<invoice>second</invoice>", OLD)
    drop(sftp_site.remote_done, "INV1.xml", b"<invoice>first</invoice>")  # same name, earlier
    endpoint = sftp_site.endpoint(remote_done=str(sftp_site.remote_done))
    [remote] = sftp.list_stable(endpoint, 0.1, limit=10)

    sftp.acknowledge(endpoint, remote)
    sftp.acknowledge(endpoint, remote)

    assert os.listdir(sftp_site.remote_in) == []
    assert (sftp_site.remote_done / "INV1.xml").read_bytes() == b"<invoice>second</invoice>"


# -- delivery --------------------------------------------------------------------------


def test_an_upload_appears_only_under_its_final_name_and_complete(
    sftp_site: SftpSite, tmp_path: Path
):
    content = os.urandom(24 * 1024 * 1024)
    local = drop(tmp_path, "CR.xml", content)
    name = "CR_ABC001_20250101000001.xml"
    seen: set[str] = set()
    partial_under_final_name: list[int] = []
    uploaded = threading.Event()

    def watch() -> None:
        while not uploaded.is_set():
            for entry in os.scandir(sftp_site.remote_out):
                seen.add(entry.name)
                if entry.name == name and entry.stat().st_size != len(content):
                    partial_under_final_name.append(entry.stat().st_size)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        sftp.upload(sftp_site.endpoint(), local, name)
    finally:
        uploaded.set()
        watcher.join()

    assert f".{name}.tmp" in seen, "the upload went through its temporary name"
    assert partial_under_final_name == []
    assert os.listdir(sftp_site.remote_out) == [name]
    assert (sftp_site.remote_out / name).read_bytes() == content


@pytest.mark.parametrize("server", ["sshd", "sshd_without_posix_rename"])
def test_uploading_again_replaces_rather_than_duplicates(
    sftp_site: SftpSite, tmp_path: Path, request: pytest.FixtureRequest, server: str
):
    sshd: SshServer = request.getfixturevalue(server)
    endpoint = sftp_site.endpoint(port=sshd.port, known_hosts=sshd.known_hosts)
    name = "PIVOT_ABC001_20250101000001.xml"

    sftp.upload(endpoint, drop(tmp_path, "v1.xml", b"<pivot>first run</pivot>"), name)
    sftp.upload(endpoint, drop(tmp_path, "v2.xml", b"<pivot>re-run</pivot>"), name)

    assert os.listdir(sftp_site.remote_out) == [name]
    assert (sftp_site.remote_out / name).read_bytes() == b"<pivot>re-run</pivot>"


# -- a dropped connection ----------------------------------------------------------------


def _cut_mid_download(sshd: SshServer, temp: Path) -> tuple[threading.Thread, dict[str, int]]:
    """Kill the server's session processes once the download has written 4 MiB."""
    cut: dict[str, int] = {}

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                written = temp.stat().st_size
            except FileNotFoundError:
                written = 0
            if written > 4 * 1024 * 1024:
                cut["at"] = written
                cut["killed"] = sshd.drop_connections()
                return
            time.sleep(0.001)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread, cut


@pytest.fixture
def big_file(sftp_site: SftpSite) -> bytes:
    content = os.urandom(1024 * 1024) * 64
    drop(sftp_site.remote_in, "BIG.xml", content, OLD)
    return content


def test_a_connection_dropped_mid_download_leaves_nothing_and_the_next_try_succeeds(
    sftp_site: SftpSite, sshd: SshServer, big_file: bytes, landing: Path
):
    endpoint = sftp_site.endpoint(retry_attempts=1)
    [remote] = sftp.list_stable(endpoint, 0.1, limit=10)
    target = landing / "BIG.xml"
    cutter, cut = _cut_mid_download(sshd, landing / ".BIG.xml.tmp")

    with pytest.raises(TransientSftpError) as dropped:
        sftp.download(endpoint, remote, target)
    cutter.join()

    assert cut.get("killed"), "the connection was cut while the file was being copied"
    assert cut["at"] < len(big_file)
    message = str(dropped.value)
    assert "ABC001" in message and f"127.0.0.1:{sshd.port}" in message
    assert "download of BIG.xml" in message
    assert os.listdir(landing) == [], "no partial file, not even a temporary one"

    sftp.download(endpoint, remote, target)
    assert target.read_bytes() == big_file
    assert (sftp_site.remote_in / "BIG.xml").exists()


def test_a_dropped_download_is_retried_with_one_log_line(
    sftp_site: SftpSite,
    sshd: SshServer,
    big_file: bytes,
    landing: Path,
    caplog: pytest.LogCaptureFixture,
):
    endpoint = sftp_site.endpoint(retry_attempts=2, retry_backoff_seconds=0.05)
    [remote] = sftp.list_stable(endpoint, 0.1, limit=10)
    cutter, cut = _cut_mid_download(sshd, landing / ".BIG.xml.tmp")

    sftp.download(endpoint, remote, landing / "BIG.xml")
    cutter.join()

    assert cut.get("killed")
    assert os.listdir(landing) == ["BIG.xml"]
    assert (landing / "BIG.xml").read_bytes() == big_file
    [line] = sftp_records(caplog)
    assert line.levelno == logging.WARNING
    assert "download of BIG.xml" in line.getMessage()
    assert "try 1 of 2, trying again in 0.1 s" in line.getMessage()


# -- host keys and authentication --------------------------------------------------------


def _refused_quickly(endpoint: sftp.SftpEndpoint, kind: type[SftpError]) -> SftpError:
    started = time.monotonic()
    with pytest.raises(kind) as refused:
        sftp.list_stable(endpoint, 0.1, limit=10)
    assert time.monotonic() - started < 1, "refused at once: never retried"
    assert not isinstance(refused.value, TransientSftpError)
    return refused.value


def test_a_server_whose_key_differs_from_known_hosts_is_refused_and_named(
    sftp_site: SftpSite, sshd: SshServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    lying = tmp_path / "known_hosts"
    lying.write_text(known_hosts_line(sshd.port, sshd.other_host_key_pub))
    endpoint = sftp_site.endpoint(known_hosts=lying, retry_attempts=3, retry_backoff_seconds=5)

    refused = str(_refused_quickly(endpoint, HostKeyRefused))

    assert "partner ABC001" in refused
    assert f"127.0.0.1:{sshd.port}" in refused
    assert openssh_fingerprint(sshd.host_key_pub) in refused
    assert openssh_fingerprint(sshd.other_host_key_pub) in refused  # what was expected
    assert lying.read_text() == known_hosts_line(sshd.port, sshd.other_host_key_pub)
    assert [r.getMessage() for r in sftp_records(caplog)] == [refused]


def test_a_server_missing_from_known_hosts_is_refused_not_accepted(
    sftp_site: SftpSite, sshd: SshServer, tmp_path: Path
):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    user_known_hosts = Path.home() / ".ssh" / "known_hosts"
    before = user_known_hosts.read_bytes() if user_known_hosts.exists() else None
    endpoint = sftp_site.endpoint(known_hosts=empty, retry_attempts=3, retry_backoff_seconds=5)

    refused = str(_refused_quickly(endpoint, HostKeyRefused))

    assert "partner ABC001" in refused and f"127.0.0.1:{sshd.port}" in refused
    assert openssh_fingerprint(sshd.host_key_pub) in refused
    assert "not in the partner's known-hosts file" in refused
    assert empty.read_text() == "", "no automatic acceptance"
    after = user_known_hosts.read_bytes() if user_known_hosts.exists() else None
    assert after == before


def test_a_wrong_client_key_is_a_clear_authentication_error_never_retried(
    sftp_site: SftpSite, sshd: SshServer, caplog: pytest.LogCaptureFixture
):
    endpoint = sftp_site.endpoint(
        key_file=sshd.stranger_key, retry_attempts=3, retry_backoff_seconds=5
    )

    refused = str(_refused_quickly(endpoint, AuthenticationRefused))

    assert "partner ABC001" in refused and f"127.0.0.1:{sshd.port}" in refused
    assert repr(sshd.user) in refused and str(sshd.stranger_key) in refused
    assert "authentication failed" in refused
    assert len(sftp_records(caplog)) == 1
    secret_lines = sshd.stranger_key.read_text().splitlines()[1:-1]
    for line in secret_lines:
        assert line not in refused and line not in caplog.text


def test_an_unreadable_key_file_is_named_and_not_retried(sftp_site: SftpSite, tmp_path: Path):
    endpoint = sftp_site.endpoint(key_file=tmp_path / "missing_key", retry_attempts=3)

    refused = str(_refused_quickly(endpoint, SftpError))

    assert f"cannot use the private key file {tmp_path / 'missing_key'}" in refused


# -- timeouts and retries ---------------------------------------------------------------


def test_retries_back_off_and_stop_at_the_limit(
    sftp_site: SftpSite, caplog: pytest.LogCaptureFixture
):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    endpoint = sftp_site.endpoint(
        port=closed_port, retry_attempts=3, retry_backoff_seconds=0.1, connect_timeout=1
    )

    started = time.monotonic()
    with pytest.raises(TransientSftpError) as failed:
        sftp.list_stable(endpoint, 0.1, limit=10)

    assert time.monotonic() - started >= 0.1 + 0.2
    assert f"connecting to SFTP server 127.0.0.1:{closed_port}" in str(failed.value)
    lines = [r.getMessage() for r in sftp_records(caplog)]
    assert len(lines) == 3
    assert lines[0].endswith("(try 1 of 3, trying again in 0.1 s)")
    assert lines[1].endswith("(try 2 of 3, trying again in 0.2 s)")
    assert lines[2].endswith("(try 3 of 3, giving up)")


def test_a_server_that_never_answers_times_out(sftp_site: SftpSite):
    with socket.socket() as silent:  # accepts connections (backlog) but never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        endpoint = sftp_site.endpoint(port=silent.getsockname()[1], connect_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(TransientSftpError, match="connecting to SFTP server"):
            sftp.list_stable(endpoint, 0.1, limit=10)
    assert time.monotonic() - started < 3


def test_the_retry_policy_doubles_the_wait_up_to_a_cap_and_a_limit():
    policy = RetryPolicy(attempts=5, backoff_seconds=1, max_backoff_seconds=3)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 3, 3, None]
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
