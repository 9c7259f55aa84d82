"""Faults of the hub's own servers in the middle of a run: its PostgreSQL server stopped
and started again, a partner's SFTP server killed while files are fetched from it and
while outputs are uploaded to it. Each is a real server, really stopped: the run reports
the failure and goes on where it can; the next run finishes the work; no flow is lost or
processed twice, no output is delivered twice or half."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest
from click.testing import CliRunner, Result
from paused_workers import DEADLINE, ended, program, reached, release, start

from cli import main
from connectors import sftp
from edi_engine.ledger import leasing

from .conftest import (
    HOST,
    RECIPIENT,
    REPO,
    SETUP,
    SSHD,
    SUPPLIER,
    SUPPLIER_SIRET,
    SshKeys,
    _config,
    _free_port,
    _wait_until_listening,
    known_hosts_line,
)
from .test_postgresql import _invoice

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

ENGINE_FAILED = 3  # run --once's exit when the ledger, a flow or a channel failed

# -- PostgreSQL: a private server, stopped in the middle of a run -----------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of this test alone (initdb in a temporary folder), which the
    test stops (`-m immediate`: as a crash, no checkpoint) and starts again."""

    folder: Path
    port: int
    bin: Path
    as_user: list[str]  # how the server's commands are run: as `postgres` when we are root
    database: str = "postgres"  # the test's own, once `fresh_database` made it

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{self.database}"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses={HOST} -c fsync=off"
        command = [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w"]
        command += ["-l", str(self.folder / "server.log"), "-o", options, *args]
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True)
        assert done.returncode == 0, (done.stdout, done.stderr)

    def start(self) -> None:
        self._ctl("start")

    def crash(self) -> None:
        self._ctl("stop", "-m", "immediate")

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://")) as db:
            return db.execute(sql).fetchall()

    def running(self) -> bool:
        done = subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "status"],
            capture_output=True,
        )
        return done.returncode == 0

    def new_database(self, name: str) -> None:
        """A database of the test's own on this server, which it addresses from now on."""
        if not self.running():  # a test that failed while it was down
            self.start()
        admin = f"postgresql://postgres@{HOST}:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        self.database = name


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no initdb (PostgreSQL's server binaries) on this machine")
    # outside pytest's tmp_path (mode 0700): the server's own user must reach its folder
    folder = Path(tempfile.mkdtemp(prefix="edi-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres account
        runuser = shutil.which("runuser")
        try:
            shutil.chown(folder, user="postgres")
        except (LookupError, PermissionError) as exc:
            shutil.rmtree(folder)
            pytest.skip(f"running as root, and no postgres account to run a server: {exc}")
        if runuser is None:
            shutil.rmtree(folder)
            pytest.skip("running as root, and no runuser to start a server as postgres")
        as_user = [runuser, "-u", "postgres", "--"]
    init = [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"]
    done = subprocess.run(
        [*as_user, *init, "--no-sync", "-E", "UTF8"], capture_output=True, text=True
    )
    if done.returncode != 0:
        shutil.rmtree(folder)
        pytest.skip(f"initdb cannot make a private server here: {done.stderr.strip()[-300:]}")
    server = PrivatePostgres(folder, _free_port(), bin_dir, as_user)
    server.start()
    try:
        yield server
    finally:
        if server.running():
            server.crash()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ledger_server(private_postgres: PrivatePostgres) -> PrivatePostgres:
    """The module's private server, running, with a database of this test's own."""
    private_postgres.new_database(f"edi_{uuid.uuid4().hex[:12]}")
    return private_postgres


def _home_on(url: str, home: Path) -> dict[str, str]:
    """A home whose ledger is `url`, set up as the integration homes are; its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDI_ENGINE_", "PG"))}
    env.update(
        EDI_ENGINE_HOME=str(home),
        EDI_ENGINE_DATABASE_URL=url,
        EDI_ENGINE_PICKUP_STABLE_SECONDS="0",
        EDI_ENGINE_PROCESSING_FSYNC="false",
        EDI_ENGINE_RULES_EN16931="false",  # about the ledger, not the rules
    )
    setup = [
        ["init", str(home)],
        *(["partners", "add", code, "--name", code] for code in (SUPPLIER, RECIPIENT)),
        ["partners", "suppliers", "add", SUPPLIER, SUPPLIER_SIRET],
        ["structures", "import", str(REPO / "config" / "demo" / "structures.csv")],
    ]
    done = subprocess.run(
        [sys.executable, "-c", SETUP, json.dumps(setup)],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return env


# `run --once` committing its flows five at a time, paused before its second group begins
# (the first five committed, their outputs staged, not yet published)
BETWEEN_GROUPS = program(
    """
from edi_engine.ledger import leasing
from edi_engine.processing import runner

runner.GROUP_FLOWS = 5
renew_all, groups = leasing.renew_all, []

def late(session, flow_ids, *args):
    groups.append(flow_ids)
    if len(groups) == 2:
        pause("between")
    return renew_all(session, flow_ids, *args)

leasing.renew_all = late
"""
)
FLOWS = 20


def test_the_ledger_server_stopped_mid_run_loses_nothing_and_the_next_run_ends_the_work(
    ledger_server: PrivatePostgres, tmp_path: Path
) -> None:
    server, home = ledger_server, tmp_path / "home"
    env = _home_on(server.url, home)
    inbox = home / "inbox" / SUPPLIER
    for n in range(FLOWS):
        (inbox / f"f{n:02}.xml").write_bytes(_invoice(f"F-PGDOWN-{n:02}"))
    child = start(BETWEEN_GROUPS, "", "run", "--once", "--workers", "2", env=env)
    reached(child, "between")
    done_before = server.query("select count(*) from flows where status = 'IN_INTEGRE'")[0][0]
    assert done_before == 5  # some flows done, the others leased or waiting

    server.crash()  # the server goes down under the running engine
    code, _, err = ended(child, "go\n")

    assert code == ENGINE_FAILED, err
    (said,) = [line for line in err.splitlines() if "The ledger failed" in line]
    assert "OperationalError" in said and "server closed the connection" in said, err
    assert "<U+000A>" not in said and not said.endswith(".."), said  # one plain sentence
    assert "Traceback" not in err, err
    assert list(inbox.iterdir()) == []  # every file was archived and recorded before

    server.start()  # back: the flows the stopped run held are taken once their lease ends
    server.query(
        "update flows set lease_expires_at = '2000-01-01T00:00:00Z' "
        f"where status = 'IN_EN_COURS_TRAITEMENT' and lease_owner like '%:{child.pid}:%' "
        "returning id"
    )  # as processing.lease_seconds having passed
    again = subprocess.run(
        [sys.executable, "-m", "cli", "run", "--once", "--workers", "2", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr

    flows = server.query("select file_name, status, attempts from flows order by file_name")
    assert [(name, status) for name, status, _ in flows] == [
        (f"f{n:02}.xml", "IN_INTEGRE") for n in range(FLOWS)
    ]  # each file one flow, each flow integrated
    invoices = server.query("select number, pivot_file from invoices order by number")
    assert [number for number, _ in invoices] == [f"F-PGDOWN-{n:02}" for n in range(FLOWS)]
    pivots = sorted(p.name for p in (home / "outbox" / RECIPIENT).iterdir())
    assert pivots == sorted(pivot for _, pivot in invoices)  # each invoice in one pivot
    crs = sorted(p.name for p in (home / "outbox" / SUPPLIER).iterdir())
    numbers = [number for (number,) in server.query("select number from flows order by number")]
    assert crs == [f"CR_{SUPPLIER}_{number}.xml" for number in numbers]  # each answered once
    answers = server.query("select flow_id, count(*) from outputs where kind = 'CR' group by 1")
    assert {count for _, count in answers} == {1}
    assert list((home / "run" / "outgoing").glob("*/*")) == []  # nothing left staged


def _settled(server: PrivatePostgres, flows: int) -> bool:
    """Every flow integrated and every output published."""
    integrated = server.query("select count(*) from flows where status = 'IN_INTEGRE'")[0][0]
    staged = server.query("select count(*) from outputs where staged is not null")[0][0]
    return integrated == flows and staged == 0


def test_a_daemon_rides_out_the_ledger_server_stopped_and_ends_the_work_once_it_is_back(
    ledger_server: PrivatePostgres, tmp_path: Path
) -> None:
    """The daemon's run fails while the server is down; it tries again, waiting longer each
    time, and once the server is back it takes back the flows it had leased itself at once
    (not after processing.lease_seconds, ten minutes by default) and processes each once.
    Its scheduler, which looks at the ledger every poll, says once that the ledger cannot
    be reached and once that it is back: no traceback at each poll of the outage."""
    server, home = ledger_server, tmp_path / "home"
    env = _home_on(server.url, home)
    env["EDI_ENGINE_PROCESSING_DAEMON_POLL_SECONDS"] = "0.2"
    inbox = home / "inbox" / SUPPLIER
    for n in range(FLOWS):
        (inbox / f"f{n:02}.xml").write_bytes(_invoice(f"F-PGDAEMON-{n:02}"))
    log = tmp_path / "daemon.log"  # a daemon logs every event: a file, never a full pipe
    with log.open("w") as stderr:
        daemon = subprocess.Popen(
            [sys.executable, "-c", BETWEEN_GROUPS, "now", "", "run", "--daemon",
             "--workers", "2"],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            text=True,
        )  # fmt: skip
    try:
        reached(daemon, "between")
        server.crash()
        release(daemon)
        # down for a few polls: the run fails twice, the scheduler tries at each poll
        _wait_for(lambda: TWICE in log.read_text(), daemon)
        server.start()
        _wait_for(lambda: _settled(server, FLOWS), daemon)
        _wait_for(lambda: any(s in log.read_text() for s in (BACK, "Traceback")), daemon)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
    err = log.read_text()

    assert daemon.returncode == 0, err[-3000:]
    (failed,) = [line for line in err.splitlines() if "run failed (1 in a row)" in line]
    assert "retrying: The ledger failed: OperationalError" in failed, failed
    assert "Traceback" not in err, err[-3000:]
    lines = err.splitlines()
    (lost,) = [n for n, line in enumerate(lines) if LOST in line]  # once for the outage
    (back,) = [n for n, line in enumerate(lines) if BACK in line]
    assert '"level": "error"' in lines[lost] and "OperationalError: " in lines[lost], lines[lost]
    assert "the daemon tries again every 0.2s" in lines[lost], lines[lost]
    polls = [line for line in lines[lost:back] if 'Running job \\"Sync' in line]
    assert len(polls) >= 2, lines[lost:back]  # the scheduler tried more than once meanwhile
    numbers = server.query("select number from invoices order by number")
    assert [n for (n,) in numbers] == [f"F-PGDAEMON-{n:02}" for n in range(FLOWS)]
    assert len(list((home / "outbox" / RECIPIENT).iterdir())) == FLOWS
    answers = server.query("select flow_id, count(*) from outputs where kind = 'CR' group by 1")
    assert len(answers) == FLOWS and {count for _, count in answers} == {1}
    taken_back = server.query(
        f"select count(distinct flow_id) from flow_events where detail = '{leasing.TAKEN_BACK}'"
    )[0][0]
    assert taken_back == FLOWS - 5  # those it held when its run stopped, none blamed


TWICE = "run failed (2 in a row)"
LOST = "the ledger cannot be reached ("
BACK = "the ledger can be reached again"


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen) -> None:
    """Wait until `condition()` holds, the process still running (DEADLINE at most)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert process.poll() is None, "the daemon stopped"
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


# -- SFTP: a partner's server killed while files are fetched and while they are sent ----


class PrivateSshd:
    """An OpenSSH server of this test alone, on a port of its own, which the test kills
    (the server and every session it serves, SIGKILL: a crash, a cut cable) and starts
    again on the same port with the same host key."""

    def __init__(self, keys: SshKeys, home: Path) -> None:
        self.port = _free_port()
        self.log = home / "sshd.log"
        self.config = _config(home, self.port, keys.host_key, keys.authorized, "internal-sftp")
        self.known_hosts = home / "known_hosts"
        self.known_hosts.write_text(known_hosts_line(self.port, keys.host_key.with_suffix(".pub")))
        self.client_key = keys.client_key
        self.process: subprocess.Popen | None = None
        self.killed = 0  # how often the test killed it

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", self.config, "-E", self.log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until_listening(self.process, self.port, self.log)

    def kill(self) -> None:
        if self.process is None:
            return
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        self.process, self.killed = None, self.killed + 1


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (sshd's sessions: each one's own session, not its group)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


@pytest.fixture
def partner_server(ssh_keys: SshKeys, tmp_path: Path) -> Iterator[PrivateSshd]:
    home = tmp_path / "sshd"
    home.mkdir()
    server = PrivateSshd(ssh_keys, home)
    check = subprocess.run([SSHD, "-t", "-f", server.config], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f"sshd refuses the test configuration here: {check.stderr.strip()}")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def sftp_hub(
    tmp_path: Path, partner_server: PrivateSshd, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """A home, driven in this process: FOUR01 deposits and DEST01 receives, each over SFTP
    (its folders on the partner's server: `server/<code>/in`, `…/out`) or locally (`local`);
    FOUR02, a local operator, deposits too. A channel that fails fails fast here."""
    for name in list(os.environ):
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.delenv(name)
    for name, value in {
        "PICKUP_STABLE_SECONDS": "0", "PROCESSING_FSYNC": "false", "RULES_EN16931": "false",
        "SFTP_RETRY_ATTEMPTS": "2", "SFTP_RETRY_BACKOFF_SECONDS": "0.05",
        "SFTP_CONNECT_TIMEOUT": "3", "SFTP_READ_TIMEOUT": "5",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"EDI_ENGINE_{name}", value)
    runner, home = CliRunner(), tmp_path / "home"

    def invoke(*args: object, code: int | None = 0) -> Result:
        result = runner.invoke(main, ["--home", str(home), *map(str, args)], catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    invoke.home = home  # type: ignore[attr-defined]
    invoke.server = tmp_path / "server"  # type: ignore[attr-defined]
    runner.invoke(main, ["init", str(home)], catch_exceptions=False)
    return invoke


def _partners(hub: Callable[..., Result], server: PrivateSshd, over_sftp: set[str]) -> None:
    channel = ["--sftp-host", HOST, "--sftp-port", server.port, "--sftp-user", getpass.getuser(),
               "--sftp-key", server.client_key, "--known-hosts", server.known_hosts]  # fmt: skip
    for code in (SUPPLIER, RECIPIENT):
        if code not in over_sftp:
            hub("partners", "add", code, "--name", code)
            continue
        folders = [hub.server / code / "in", hub.server / code / "out"]  # type: ignore[attr-defined]
        for folder in folders:
            folder.mkdir(parents=True)
        hub("partners", "add", code, "--name", code, *channel,
            "--remote-in", folders[0], "--remote-out", folders[1])  # fmt: skip
    hub("partners", "add", OTHER, "--name", OTHER, "--operator")
    hub("partners", "suppliers", "add", SUPPLIER, SUPPLIER_SIRET)
    hub("structures", "import", REPO / "config" / "demo" / "structures.csv")


OTHER = "FOUR02"  # a local partner: its flows go on whatever FOUR01's server does
BIG_PADDING = 400 * 1024  # a comment that makes an invoice, and its pivot, large
CUT_AFTER = 64 * 1024  # bytes of a large file moved before its server is killed


def _flows(hub: Callable[..., Result]) -> list[tuple[str, str, str]]:
    listed = json.loads(hub("flows", "list", "--json").stdout)
    return sorted((f["partner"], f["file_name"], f["status"]) for f in listed)


def _numbers(hub: Callable[..., Result]) -> list[str]:
    found = json.loads(hub("invoices", "search", "--json", "--limit", "100").stdout)
    return sorted(invoice["number"] for invoice in found)


class _KillingWriter:
    """The landing file of a download: once CUT_AFTER bytes are written, the server is
    killed, the download still under way."""

    def __init__(self, handle: BinaryIO, server: PrivateSshd) -> None:
        self.handle, self.server, self.written = handle, server, 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > CUT_AFTER and self.server.killed == 0:
            self.server.kill()
        return self.handle.write(data)


def test_a_partners_server_killed_mid_pickup_loses_and_doubles_nothing(
    sftp_hub: Callable[..., Result],
    partner_server: PrivateSshd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = sftp_hub
    _partners(hub, partner_server, over_sftp={SUPPLIER})
    remote_in = hub.server / SUPPLIER / "in"  # type: ignore[attr-defined]
    for n, name in enumerate("abcde"):  # fetched oldest first: a, b, then c, the large one
        path = remote_in / f"{name}.xml"
        path.write_bytes(_invoice(f"F-PICK-{name}") + (b"<!--" + b"x" * BIG_PADDING + b"-->"
                                                       if name == "c" else b""))  # fmt: skip
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
    (hub.home / "inbox" / OTHER / "local.xml").write_bytes(_invoice("F-LOCAL-1"))  # type: ignore[attr-defined]
    copy = sftp._copy_pipelined

    def cut_mid_download(client, remote, listed, limit, handle):
        if listed > BIG_PADDING:
            handle = _KillingWriter(handle, partner_server)
        return copy(client, remote, listed, limit, handle)

    monkeypatch.setattr(sftp, "_copy_pipelined", cut_mid_download)
    cut = hub("run", "--once", code=ENGINE_FAILED)

    assert partner_server.killed == 1, "killed while c.xml was being fetched"
    address = f"{HOST}:{partner_server.port}"  # the run says what was cut, then why it stops
    assert f"download of c.xml on SFTP server {address} failed" in cut.stderr, cut.stderr
    assert f"SFTP: partner {SUPPLIER}: connecting to SFTP server {address}" in cut.stderr
    # what was fetched before is processed; the other partner's flow too
    assert _flows(hub) == [
        (SUPPLIER, "a.xml", "IN_INTEGRE"),
        (SUPPLIER, "b.xml", "IN_INTEGRE"),
        (OTHER, "local.xml", "IN_INTEGRE"),
    ]
    landing = hub.home / "landing" / SUPPLIER  # type: ignore[attr-defined]
    assert not [p for p in landing.iterdir() if p.name.startswith(".")]  # no half file
    assert sorted(p.name for p in remote_in.iterdir()) == [f"{n}.xml" for n in "abcde"]

    partner_server.start()  # back: a and b met again are recognised, the rest fetched
    hub("run", "--once")

    assert _flows(hub) == [
        *((SUPPLIER, f"{name}.xml", "IN_INTEGRE") for name in "abcde"),
        (OTHER, "local.xml", "IN_INTEGRE"),
    ]  # each remote file one flow
    assert _numbers(hub) == sorted([*(f"F-PICK-{n}" for n in "abcde"), "F-LOCAL-1"])
    assert list(remote_in.iterdir()) == [] and list(landing.iterdir()) == []
    pivots = list((hub.home / "outbox" / RECIPIENT).iterdir())  # type: ignore[attr-defined]
    assert len(pivots) == 6


def test_a_partners_server_killed_mid_upload_shows_no_half_file_and_sends_each_once(
    sftp_hub: Callable[..., Result],
    partner_server: PrivateSshd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = sftp_hub
    _partners(hub, partner_server, over_sftp={RECIPIENT})
    inbox = hub.home / "inbox" / SUPPLIER  # type: ignore[attr-defined]
    for n, padding in enumerate((0, BIG_PADDING, 0)):  # the second pivot is the large one
        content = _invoice(f"F-UP-{n}") + (b"<!--" + b"x" * padding + b"-->" if padding else b"")
        (inbox / f"f{n}.xml").write_bytes(content)
        os.utime(inbox / f"f{n}.xml", (1_700_000_000 + n, 1_700_000_000 + n))
    upload = sftp.SftpConnection.upload

    def cut_mid_upload(self, local, remote_name, sent=None, renaming=None):
        def progress(done: int, total: int) -> None:
            if done > CUT_AFTER and total > BIG_PADDING and partner_server.killed == 0:
                partner_server.kill()

        return upload(self, local, remote_name, progress, renaming)

    monkeypatch.setattr(sftp.SftpConnection, "upload", cut_mid_upload)
    cut = hub("run", "--once", "--json", code=ENGINE_FAILED)

    assert partner_server.killed == 1, "killed while the large pivot was being sent"
    flows = sorted(json.loads(cut.stdout), key=lambda flow: flow["file_name"])
    assert [flow["status"] for flow in flows] == ["IN_INTEGRE"] * 3  # processing went on
    pivots = [f"PIVOT_{RECIPIENT}_{flow['number']}_1.xml" for flow in flows]
    address = f"{HOST}:{partner_server.port}"  # the run says what was cut, then why it stops
    assert f"upload of {pivots[1]} on SFTP server {address} failed" in cut.stderr, cut.stderr
    assert f"SFTP: partner {RECIPIENT}: connecting to SFTP server {address}" in cut.stderr
    remote_out = hub.server / RECIPIENT / "out"  # type: ignore[attr-defined]
    local_out = hub.home / "outbox"  # type: ignore[attr-defined]
    half = remote_out / f".{pivots[1]}.tmp"  # what the server got, under a temporary name
    assert sorted(p.name for p in remote_out.iterdir()) == sorted([pivots[0], half.name])
    assert half.stat().st_size < (local_out / RECIPIENT / pivots[1]).stat().st_size
    crs = sorted(p.name for p in (local_out / SUPPLIER).iterdir())
    assert crs == [f"CR_{SUPPLIER}_{flow['number']}.xml" for flow in flows]  # answered
    shown = json.loads(hub("flows", "show", flows[1]["number"], "--json").stdout)
    (error,) = [o["delivery_error"] for o in shown["outputs"] if o["kind"] == "PIVOT"]
    assert f"partner {RECIPIENT}: connecting to SFTP server {address}" in error, error

    partner_server.start()
    first_sent = (remote_out / pivots[0]).stat().st_mtime_ns
    hub("run", "--once")

    assert sorted(p.name for p in remote_out.iterdir()) == pivots  # no temporary left
    for name in pivots:  # each whole, as the hub wrote it
        assert (remote_out / name).read_bytes() == (local_out / RECIPIENT / name).read_bytes()
    assert (remote_out / pivots[0]).stat().st_mtime_ns == first_sent  # never sent twice
    invoices = json.loads(hub("invoices", "search", "--json").stdout)
    assert {i["status"] for i in invoices} == {"MISE_A_DISPOSITION"}
    assert sorted(i["number"] for i in invoices) == ["F-UP-0", "F-UP-1", "F-UP-2"]
