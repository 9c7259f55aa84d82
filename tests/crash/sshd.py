"""A real OpenSSH sshd on 127.0.0.1 for the soak, which runs outside pytest: the same
server as the `sshd` fixture of tests/integration/conftest.py (its own host key, one
authorised client key, internal-sftp for the current user, so that the server's folders
are plain local folders), started by a context manager that says why when it cannot."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path(os.environ.get("SSH_KEYGEN", "/usr/bin/ssh-keygen"))
PRIVSEP_DIR = Path("/run/sshd")
HOST = "127.0.0.1"
START_SECONDS = 10  # given to sshd to listen; never a measure of speed


class SshdUnavailable(Exception):
    """OpenSSH's sshd cannot serve here; the message says why."""


@dataclass(frozen=True)
class Server:
    """What a partner's SFTP settings need (the fields of the fixture's SshServer)."""

    host: str
    port: int
    user: str
    client_key: Path
    known_hosts: Path


def keygen(path: Path) -> Path:
    """An ed25519 key pair without passphrase: `path` and `path.pub`."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", path],
        check=True,
        capture_output=True,
    )
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def known_hosts_line(port: int, public_key: Path) -> str:
    """A known_hosts entry as OpenSSH writes it for a port other than 22."""
    key_type, blob = public_key.read_text().split()[:2]
    return f"[{HOST}]:{port} {key_type} {blob}\n"


@contextmanager
def serving(folder: Path) -> Iterator[Server]:
    """sshd serving SFTP on a free port of 127.0.0.1 until the block ends; its keys,
    configuration and log in `folder` (created)."""
    for tool in (SSHD, SSH_KEYGEN):
        if not os.access(tool, os.X_OK):
            raise SshdUnavailable(f"{tool} is missing (OpenSSH: apt-get install openssh-server)")
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        raise SshdUnavailable(f"sshd needs its folder {PRIVSEP_DIR}: {exc.strerror}") from exc
    folder.mkdir(parents=True, exist_ok=True)
    host_key, client_key = keygen(folder / "host_ed25519"), keygen(folder / "client_ed25519")
    authorized = folder / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    port, user = free_port(), getpass.getuser()
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress {HOST}\nPort {port}\nHostKey {host_key}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {authorized}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PermitRootLogin prohibit-password\nAllowUsers {user}\nAllowTcpForwarding no\n"
        "X11Forwarding no\nUseDNS no\nMaxStartups 100\nSubsystem sftp internal-sftp\n"
        "LogLevel INFO\n"
    )
    checked = subprocess.run([SSHD, "-t", "-f", config], capture_output=True, text=True)
    if checked.returncode != 0:
        raise SshdUnavailable(f"sshd refuses its configuration here: {checked.stderr.strip()}")
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(known_hosts_line(port, host_key.with_suffix(".pub")))
    log = folder / "sshd.log"
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", config, "-E", log],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _listening(process, port, log)
        yield Server(HOST, port, user, client_key, known_hosts)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise SshdUnavailable(f"sshd exited at start ({process.returncode}): {tail}")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SshdUnavailable(f"sshd did not listen on {HOST}:{port} within {START_SECONDS} s")
