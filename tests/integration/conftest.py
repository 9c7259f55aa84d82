"""A real OpenSSH sshd on 127.0.0.1 for the SFTP connector (issue 4 item 7).

The server gets its own host key, an authorised client key and a config file in a
temporary folder; it serves SFTP (internal-sftp) to the current user, so the server-side
folders are plain local folders the tests can look into. Without OpenSSH, or when sshd
cannot start here, the tests skip and say why.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import config
from connectors.sftp import SftpEndpoint
from tests.crash.sshd import free_port as _free_port
from tests.crash.sshd import keygen as _keygen
from tests.crash.sshd import known_hosts_line

if TYPE_CHECKING:
    import psycopg

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path(os.environ.get("SSH_KEYGEN", "/usr/bin/ssh-keygen"))
PRIVSEP_DIR = Path("/run/sshd")
HOST = "127.0.0.1"


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    client_key: Path  # authorised
    stranger_key: Path  # a valid key the server does not know
    host_key_pub: Path
    other_host_key_pub: Path  # not the server's
    known_hosts: Path  # holds the server's real host key
    log: Path
    pid: int

    def session_pids(self) -> list[int]:
        """The processes sshd forked for open connections (all its descendants)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        found, todo = [], [self.pid]
        while todo:
            kids = children.get(todo.pop(), [])
            found += kids
            todo += kids
        return found

    def drop_connections(self) -> int:
        """Kill every process serving a connection, as a crash or a cut cable would."""
        pids = self.session_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)


@dataclass(frozen=True)
class SftpSite:
    """One test's server-side folders (absolute; the server sees the same paths)."""

    remote_in: Path
    remote_out: Path
    remote_done: Path
    endpoint: Callable[..., SftpEndpoint]


def _config(home: Path, port: int, host_key: Path, authorized: Path, subsystem: str) -> Path:
    config = home / "sshd_config"
    config.write_text(
        f"""ListenAddress {HOST}
Port {port}
HostKey {host_key}
PidFile {home / "sshd.pid"}
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowUsers {getpass.getuser()}
AllowTcpForwarding no
X11Forwarding no
UseDNS no
Subsystem sftp {subsystem}
LogLevel VERBOSE
"""
    )
    return config


def _wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            pytest.skip(f"sshd exited at start ({process.returncode}): {' / '.join(tail)}")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.skip(f"sshd did not listen on {HOST}:{port} within 10 s (log: {log})")


@dataclass(frozen=True)
class SshKeys:
    home: Path
    host_key: Path
    other_host_key: Path  # a host key no server uses, for known-hosts files that lie
    client_key: Path
    stranger_key: Path
    authorized: Path


@pytest.fixture
def quick_pickup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine as the SFTP tests run it: no EDI_ENGINE_ setting of the caller's, files
    taken as soon as listed, no fsync."""
    for name in [n for n in os.environ if n.startswith("EDI_ENGINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EDI_ENGINE_PICKUP_STABLE_SECONDS", "0")
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "false")


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SshKeys:
    for tool in (SSHD, SSH_KEYGEN):
        if not os.access(tool, os.X_OK):
            pytest.skip(
                f"{tool} is missing: the SFTP tests need OpenSSH (`make test` installs "
                f"openssh-server when it runs as root)"
            )
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        pytest.skip(f"sshd needs its privilege separation folder {PRIVSEP_DIR}: {exc.strerror}")
    home = tmp_path_factory.mktemp("ssh-keys")
    client_key = _keygen(home / "client_ed25519")
    authorized = home / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    return SshKeys(
        home=home,
        host_key=_keygen(home / "ssh_host_ed25519_key"),
        other_host_key=_keygen(home / "other_host_ed25519_key"),
        client_key=client_key,
        stranger_key=_keygen(home / "stranger_ed25519"),
        authorized=authorized,
    )


def _serve(keys: SshKeys, home: Path, subsystem: str) -> Iterator[SshServer]:
    """Run sshd in the foreground until the generator is closed."""
    port = _free_port()
    config = _config(home, port, keys.host_key, keys.authorized, subsystem)
    check = subprocess.run([SSHD, "-t", "-f", config], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f"sshd refuses the test configuration here: {check.stderr.strip()}")
    known_hosts = home / "known_hosts"
    known_hosts.write_text(known_hosts_line(port, keys.host_key.with_suffix(".pub")))
    log = home / "sshd.log"
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", config, "-E", log],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(process, port, log)
        yield SshServer(
            host=HOST,
            port=port,
            user=getpass.getuser(),
            client_key=keys.client_key,
            stranger_key=keys.stranger_key,
            host_key_pub=keys.host_key.with_suffix(".pub"),
            other_host_key_pub=keys.other_host_key.with_suffix(".pub"),
            known_hosts=known_hosts,
            log=log,
            pid=process.pid,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def sshd(ssh_keys: SshKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    yield from _serve(ssh_keys, tmp_path_factory.mktemp("sshd"), "internal-sftp")


@pytest.fixture(scope="session")
def sshd_without_posix_rename(
    ssh_keys: SshKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SshServer]:
    """A server that denies posix-rename@openssh.com, as some partners' servers lack it."""
    home = tmp_path_factory.mktemp("sshd-no-posix-rename")
    yield from _serve(ssh_keys, home, "internal-sftp -P posix-rename")


@pytest.fixture
def sftp_site(sshd: SshServer, tmp_path: Path) -> SftpSite:
    """Fresh in, out and done folders on the server, and endpoints that point at them."""
    folders = {name: tmp_path / "server" / name for name in ("in", "out", "done")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    base = SftpEndpoint(
        partner="ABC001",
        host=sshd.host,
        port=sshd.port,
        user=sshd.user,
        key_file=sshd.client_key,
        known_hosts=sshd.known_hosts,
        remote_in=str(folders["in"]),
        remote_out=str(folders["out"]),
        connect_timeout=5,
        read_timeout=5,
        retry_attempts=1,
        retry_backoff_seconds=0.01,
    )

    def endpoint(**changes: object) -> SftpEndpoint:
        return replace(base, **changes)

    return SftpSite(folders["in"], folders["out"], folders["done"], endpoint)


# -- PostgreSQL: the server on 127.0.0.1:5432 (database `test`, user postgres, trust) ----

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
REPO = Path(__file__).resolve().parents[2]
SUPPLIER, RECIPIENT = "FOUR01", "DEST01"
SUPPLIER_SIRET = "81234567600025"  # the supplier of the demo's FOUR01 samples


def _admin() -> psycopg.Connection:
    """A connection to the server's `test` database, autocommit; the test skips without it."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
    try:
        return psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 (database test, user postgres): {exc}")


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The name of an empty database of this test, dropped afterwards."""
    admin = _admin()
    name = f"edi_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    return _pg_url(pg_database)


# runs each command as `edi-engine` would, stopping at the first that fails
SETUP = """
import json, sys
from cli import main
for args in json.loads(sys.argv[1]):
    try:
        main(args)
    except SystemExit as exc:
        if exc.code:
            raise
"""


def _pg_url(database: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


def _hub_env(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    env.update(
        EDI_ENGINE_HOME=str(home),
        EDI_ENGINE_DATABASE_URL=url,
        EDI_ENGINE_PICKUP_STABLE_SECONDS="0",
        EDI_ENGINE_PROCESSING_FSYNC="false",
        # what these tests are about is the ledger on PostgreSQL; each process would
        # compile the rules' stylesheets again (tests/e2e/test_rules.py runs the rules)
        EDI_ENGINE_RULES_EN16931="false",
    )
    return env


@dataclass(frozen=True)
class HubTemplate:
    database: str
    home: Path


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubTemplate]:
    """A home and its database set up once per test process as `hub` needs them; each
    `hub` copies both (CREATE DATABASE ... TEMPLATE, the folder copied), as the setup's
    process alone cost 1.3 s a test."""
    admin = _admin()
    name = f"edi_tpl_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        home = tmp_path_factory.mktemp("hub-template") / "home"
        setup = [
            ["init", str(home)],
            *(["partners", "add", code, "--name", code] for code in (SUPPLIER, RECIPIENT)),
            ["partners", "suppliers", "add", SUPPLIER, SUPPLIER_SIRET],
            ["structures", "import", str(config.path("demo/structures.csv"))],
        ]
        # the same commands an operator types, in one interpreter: a process each cost 1 s
        done = subprocess.run(
            [sys.executable, "-c", SETUP, json.dumps(setup)],
            cwd=REPO, env=_hub_env(home, _pg_url(name)), capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield HubTemplate(name, home)
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def hub(
    tmp_path: Path, pg_database: str, pg_url: str, hub_template: HubTemplate
) -> Callable[..., subprocess.CompletedProcess]:
    """A home whose ledger is the test's PostgreSQL database, driven as real processes:
    `init`, the two partners, FOUR01's SIRET and the demo's structures, copied from
    `hub_template` (nothing in the ledger names its home; the home's edi-engine.toml
    names its database)."""
    admin = _admin()
    try:
        admin.execute(f"DROP DATABASE {pg_database}")
        admin.execute(f"CREATE DATABASE {pg_database} TEMPLATE {hub_template.database}")
    finally:
        admin.close()
    home = tmp_path / "home"
    shutil.copytree(hub_template.home, home, symlinks=True)
    toml = home / "edi-engine.toml"
    recorded = toml.read_text()
    assert f'url = "{_pg_url(hub_template.database)}"' in recorded
    toml.write_text(recorded.replace(_pg_url(hub_template.database), pg_url))
    env = _hub_env(home, pg_url)

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "cli", *args], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert done.returncode == code, done.stderr
        return done

    run.home = home  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    return run


def read_in_process(hub: Callable[..., subprocess.CompletedProcess], *args: str) -> str:
    """The output of a command that only reads the ledger (`flows show --json`, ...), run in
    this process with the hub's settings: the same output as `hub(...)` without the second
    a process of its own costs to start, for tests that read many. Commands a test is about
    as processes stay `hub(...)`."""
    from click.testing import CliRunner

    from cli import main
    from edi_engine.ledger import db

    given: dict[str, str] = hub.env  # type: ignore[attr-defined]
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("EDI_ENGINE_")}
    env.update({k: v for k, v in given.items() if k.startswith("EDI_ENGINE_")})
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    db.engine_for(given["EDI_ENGINE_DATABASE_URL"]).dispose()  # no connection left open
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout
