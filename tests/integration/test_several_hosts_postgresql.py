"""Several engine hosts on one PostgreSQL ledger and one home (issue 14, item 4;
docs/scaling.md).

A host is a process with a host name of its own: each is started under `unshare --uts`
with `hostname` set, so that its worker id (leasing.worker_id) and its staging folder
(connectors/outgoing.py) name another host, as on a second machine. Partners' SFTP
servers are the real sshd of conftest.py; a drainer on the server side takes every file
uploaded as soon as it appears, as a partner's system does, so that an output uploaded
twice is received twice. Against the server on 127.0.0.1:5432; skipped, saying why,
without it or without `unshare` (root)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from lxml import etree
from paused_workers import draining

from edi_engine import settings
from edi_engine.ledger import db, leasing
from edi_engine.reception import intake
from jobs import schedule

from .conftest import RECIPIENT, REPO, SUPPLIER, SshServer
from .test_postgresql import _invoice

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

FINAL = {"IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE"}
DEADLINE = 120  # seconds a host is given to end a run; never a measure of speed
HOURLY = "0 * * * *"


@cache
def _unshare_fails() -> str | None:
    """Why hosts cannot be made here, or None."""
    try:
        done = subprocess.run(
            ["unshare", "--uts", "sh", "-c", "hostname edi-probe"], capture_output=True, text=True
        )
    except FileNotFoundError:
        return "unshare (util-linux) is missing"
    return None if done.returncode == 0 else f"unshare --uts fails: {done.stderr.strip()}"


def need_hosts() -> None:
    """Skip, saying why, where a process cannot be given a host name of its own."""
    why = _unshare_fails()
    if why:
        pytest.skip(f"two hosts need a UTS namespace of their own (root): {why}")


def host(name: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    """`edi-engine ARGS` on the host `name`: its own host name, the same home and ledger;
    its ledger sessions say its name (libpq's PGAPPNAME), as docs/scaling.md advises. A
    process group of its own: the host's processes, for a test that crashes the host."""
    return subprocess.Popen(
        ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name,
         sys.executable, "-m", "cli", *args],
        cwd=REPO, env={**env, "PGAPPNAME": name}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def intake_holder(url: str) -> str | None:
    """The host whose intake holds the intake lock now, by its sessions' name."""
    rows = ledger(
        url,
        "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.granted "
        "and ((l.classid::bigint << 32) | l.objid::bigint) = %s",
        intake.INTAKE_LOCK,
    )
    return rows[0][0] if rows else None


def kill_intake_when(
    url: str, racing: dict[str, subprocess.Popen], moment: Callable[[], bool]
) -> subprocess.Popen | None:
    """Kill (SIGKILL) the host holding the intake lock as soon as `moment()` is seen; None
    when both hosts ended first."""
    while any(process.poll() is None for process in racing.values()):
        if moment() and (name := intake_holder(url)) is not None:
            racing[name].send_signal(signal.SIGKILL)
            return racing[name]
        time.sleep(0.002)
    return None


def ended(process: subprocess.Popen, killed: bool = False) -> str:
    """The host's standard error once it has ended, on its own (or killed, if said)."""
    _, err = process.communicate(timeout=DEADLINE)
    assert process.returncode in ((0, -signal.SIGKILL) if killed else (0,)), err
    return err


def settled(url: str) -> bool:
    """Every flow final and every output published, and delivered if it is uploaded."""
    flows = {status for (status,) in ledger(url, "select distinct status from flows")}
    waiting = ledger(
        url, "select count(*) from outputs o join partners p on p.code = o.partner_code "
        "where o.staged is not null or (p.channel = 'sftp' and o.delivered_at is null)"
    )  # fmt: skip
    return flows <= FINAL and waiting == [(0,)]


def ledger(url: str, query: str, *args: object) -> list[tuple]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return connection.execute(query, args).fetchall()


def expire(url: str, pid: int) -> None:
    """The leases of a dead host's worker expire now, as they would once
    processing.lease_seconds had passed."""
    ledger(
        url,
        "update flows set lease_expires_at = '2000-01-01T00:00:00Z' "
        "where status = 'IN_EN_COURS_TRAITEMENT' and lease_owner like %s returning id",
        f"%:{pid}:%",
    )


def hosts_env(hub: Callable[..., subprocess.CompletedProcess]) -> dict[str, str]:
    """A live host keeps its leases however slow this machine is; a killed one's expire
    when the test says (`expire`), and a kill is no reason to give a flow up."""
    env = {**hub.env, "EDI_ENGINE_PROCESSING_LEASE_SECONDS": "600"}  # type: ignore[attr-defined]
    env["EDI_ENGINE_PROCESSING_MAX_ATTEMPTS"] = "50"
    return env


def sftp_partner(
    hub: Callable[..., subprocess.CompletedProcess],
    code: str,
    sshd: SshServer,
    server: Path,
    known_hosts: Path | None = None,
) -> tuple[Path, Path]:
    """The partner reached over SFTP from now on: its in and out folders on the server."""
    remote_in, remote_out = server / code / "in", server / code / "out"
    remote_in.mkdir(parents=True)
    remote_out.mkdir(parents=True)
    hub("partners", "update", code, "--sftp-host", sshd.host, "--sftp-port", str(sshd.port),
        "--sftp-user", sshd.user, "--sftp-key", str(sshd.client_key),
        "--known-hosts", str(known_hosts or sshd.known_hosts),
        "--remote-in", str(remote_in), "--remote-out", str(remote_out))  # fmt: skip
    return remote_in, remote_out


class Received:
    """What partners' systems took from their servers' out folders, duplicates included."""

    def __init__(self, folder: Path) -> None:
        self.root = folder

    def folder(self, partner: str) -> Path:
        return self.root / partner

    def __call__(self, partner: str) -> Counter:
        """By name as uploaded, the times the partner received it."""
        folder = self.folder(partner)
        names = os.listdir(folder) if folder.is_dir() else []
        return Counter(name.rsplit(".", 1)[0] for name in names)


@contextmanager
def server_drainer(*outs: Path) -> Iterator[Received]:
    """Partners' systems taking every file uploaded to them as soon as it appears."""
    base = outs[0].parents[2]
    received, stop = base / "server-received", base / "server-drainer.stop"
    sources = [str(item) for out in outs for item in (out.parent.name, out)]
    with draining(received, stop, *sources):
        yield Received(received)


def test_a_host_leasing_passes_over_the_flows_another_host_is_leasing(
    hub: Callable[..., subprocess.CompletedProcess],
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(a) Leasing takes the oldest waiting flows with FOR UPDATE SKIP LOCKED: while
    another host's lease transaction holds the oldest rows, this host leases the next ones
    at once, never the same and without waiting for it."""
    for name, value in hub.env.items():  # type: ignore[attr-defined]
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.setenv(name, value)
    inbox = hub.home / "inbox" / SUPPLIER  # type: ignore[attr-defined]
    for n in range(6):
        (inbox / f"f{n}.xml").write_bytes(_invoice(f"F-LEASE-{n}", str(n)))
    loaded = settings.load(hub.home)  # type: ignore[attr-defined]
    with db.session_scope(pg_url) as session:
        intake.receive(loaded, session)
        session.commit()
    ids = [i for (i,) in ledger(pg_url, "select id from flows order by id")]
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as other_host:  # in the middle of its own lease
        other_host.execute("select id from flows where id = any(%s) for update", (ids[:2],))
        with db.session_scope(pg_url) as session:
            session.connection().exec_driver_sql("set lock_timeout = '10s'")  # never hang
            leased = leasing.lease(session, "host-b:1:1", 3, 600)
            assert [flow.id for flow in leased] == ids[2:5]
        other_host.rollback()
    rows = ledger(pg_url, "select id, status, lease_owner from flows order by id")
    assert [(status, owner) for _, status, owner in rows] == [
        ("IN_RECU", None), ("IN_RECU", None),
        *[("IN_EN_COURS_TRAITEMENT", "host-b:1:1")] * 3,
        ("IN_RECU", None),
    ]  # fmt: skip


def test_two_hosts_racing_over_one_sftp_partner_make_each_remote_file_one_flow(
    hub: Callable[..., subprocess.CompletedProcess],
    pg_url: str,
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    """(b) Two hosts start `run --once` at the same moment, round after round, over one
    SFTP supplier holding many files; the one receiving is killed (SIGKILL) once as soon
    as files are fetched (not yet recorded), once as soon as they are recorded (not yet
    acknowledged, if the test is quick enough): every remote file becomes exactly one
    flow, answered by one CR uploaded once."""
    need_hosts()
    remote_in, remote_out = sftp_partner(hub, SUPPLIER, sshd, tmp_path / "server")
    names = [f"f{n:03}.xml" for n in range(24)]
    for n, name in enumerate(names):
        (remote_in / name).write_bytes(_invoice(f"F-SFTP-{n:03}", name))
    env = {**hosts_env(hub), "EDI_ENGINE_PICKUP_BATCH_SIZE": "8"}  # fetched 8 at a time
    landing = hub.home / "landing" / SUPPLIER  # type: ignore[attr-defined]
    count = lambda: ledger(pg_url, "select count(*) from flows")[0][0]  # noqa: E731
    recorded = count()
    moments = [
        lambda: landing.is_dir() and any(landing.iterdir()),  # fetched
        lambda: count() > recorded,  # recorded
    ]
    killed_any = []
    with server_drainer(remote_out) as received:
        for round_ in range(20):
            racing = {name: host(name, env, "run", "--once") for name in ("host-a", "host-b")}
            killed = None
            if round_ < len(moments):
                recorded = count()
                killed = kill_intake_when(pg_url, racing, moments[round_])
            for process in racing.values():
                ended(process, killed=process is killed)
            if killed is not None:
                killed_any.append(round_)
                expire(pg_url, killed.pid)
            if round_ >= 2 and not any(remote_in.iterdir()) and settled(pg_url):
                break

    assert killed_any == [0, 1]  # the intake was killed where the test meant
    flows = ledger(pg_url, "select file_name, number, status from flows order by id")
    assert sorted(name for name, _, _ in flows) == names  # each once
    assert {status for _, _, status in flows} == {"IN_INTEGRE"}
    assert received(SUPPLIER) == Counter(f"CR_{SUPPLIER}_{n}.xml" for _, n, _ in flows)
    assert list(remote_in.iterdir()) == []
    assert [p for p in landing.iterdir() if not p.is_dir()] == []
    assert ledger(pg_url, "select count(*) from pending_sources") == [(0,)]


def test_two_hosts_upload_each_queued_output_once(
    hub: Callable[..., subprocess.CompletedProcess],
    pg_url: str,
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    """(c) Outputs queued for an SFTP recipient (its server refused our connection until
    its host key was fixed) are uploaded by two hosts running at once: each pivot is
    received once, and each invoice made available once it is."""
    need_hosts()
    liar = tmp_path / "known_hosts_liar"
    liar.write_text(f"[{sshd.host}]:{sshd.port} {sshd.other_host_key_pub.read_text()}")
    _, dest_out = sftp_partner(hub, RECIPIENT, sshd, tmp_path / "server", known_hosts=liar)
    inbox = hub.home / "inbox" / SUPPLIER  # type: ignore[attr-defined]
    for n in range(30):
        (inbox / f"f{n:03}.xml").write_bytes(_invoice(f"F-UP-{n:03}", str(n)))
    hub("run", "--once", code=3)  # processed; the recipient's server refused: all queued
    queued = ledger(pg_url, "select file_name from outputs where delivered_at is null")
    assert len(queued) == 30
    hub("partners", "update", RECIPIENT, "--known-hosts", str(sshd.known_hosts))

    with server_drainer(dest_out) as received:
        for _ in range(3):  # what a host left to the other, the next round uploads
            for process in [host(f"host-{x}", hosts_env(hub), "run", "--once") for x in "ab"]:
                ended(process)
            if settled(pg_url):
                break

    assert received(RECIPIENT) == Counter(name for (name,) in queued)
    statuses = ledger(pg_url, "select distinct status from invoices")
    assert statuses == [("MISE_A_DISPOSITION",)]
    made_available = ledger(
        pg_url, "select invoice_id, count(*) from invoice_events where status_code = '03' "
        "group by invoice_id"
    )  # fmt: skip
    assert len(made_available) == 30 and {count for _, count in made_available} == {1}


def _status_units(folder: Path) -> list[tuple[str, str]]:
    """(invoice number, status code) of every status in the files a supplier received."""
    return [
        (unit.findtext("DonneesStatut/IdFacture"), unit.findtext("DonneesStatut/IdStatut"))
        for path in sorted(folder.iterdir()) if path.name.startswith("STATUT_")
        for unit in etree.parse(str(path)).iter("CPPFactureStatutUnitaire")
    ]  # fmt: skip


def test_two_daemon_hosts_send_each_status_flow_once(
    hub: Callable[..., subprocess.CompletedProcess],
    pg_url: str,
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    """(d) Two daemons on two hosts, the supplier's status flows due every two seconds
    and uploaded to its server with the CRs of its flows: each job's fire time is run by
    one of them only, each status flow and each CR is received once, and each change of an
    invoice told once."""
    need_hosts()
    remote_in, remote_out = sftp_partner(hub, SUPPLIER, sshd, tmp_path / "server")
    env = {**hosts_env(hub), "EDI_ENGINE_PROCESSING_DAEMON_POLL_SECONDS": "0.5"}
    env["EDI_ENGINE_JOBS_STATUSES_CRON"] = "*/2 * * * * *"
    daemons = [host(f"host-{x}", env, "run", "--daemon") for x in "ab"]
    try:
        with server_drainer(remote_out) as received:
            for n in range(6):  # deposits while both run: changes to tell, round after round
                (remote_in / f"f{n}.xml").write_bytes(_invoice(f"F-STAT-{n}", str(n)))
                time.sleep(1)
            deadline = time.monotonic() + DEADLINE
            while len(_status_units(received.folder(SUPPLIER))) < 18:  # 01, 02, 03 each
                assert time.monotonic() < deadline, [d.poll() for d in daemons]
                assert all(d.poll() is None for d in daemons)
                time.sleep(0.2)
            time.sleep(4)  # two more fire times with both daemons running
            for daemon in daemons:
                daemon.send_signal(signal.SIGTERM)
            for daemon in daemons:
                ended(daemon)
            units = _status_units(received.folder(SUPPLIER))
            got = received(SUPPLIER)
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.kill()
                daemon.communicate()

    assert sorted(units) == sorted(
        (f"F-STAT-{n}", code) for n in range(6) for code in ("01", "02", "03")
    )
    written = ledger(pg_url, "select file_name from status_flows where written_at is not null")
    flows = ledger(pg_url, "select number from flows")
    assert len(flows) == 6
    assert got == Counter(  # each status flow and each CR received once
        [name for (name,) in written] + [f"CR_{SUPPLIER}_{number}.xml" for (number,) in flows]
    )
    runs = ledger(
        pg_url, "select scheduled_for, count(*) from job_runs where job_id = %s "
        "group by scheduled_for", f"{schedule.STATUSES}{SUPPLIER}",
    )  # fmt: skip
    assert runs and {count for _, count in runs} == {1}
    assert all(moment.microsecond == 0 and moment.second % 2 == 0 for moment, _ in runs)
    hosts = {owner.split(":")[0] for (owner,) in ledger(pg_url, "select owner from job_runs")}
    assert hosts <= {"host-a", "host-b"}


def test_a_fire_time_one_daemon_runs_late_is_run_once(
    hub: Callable[..., subprocess.CompletedProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(d) A daemon whose job starts a minute and a half late (its executor busy with other
    jobs) does not run again the hourly fire time another daemon ran on time."""
    for name, value in hub.env.items():  # type: ignore[attr-defined]
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.setenv(name, value)
    (hub.home / "inbox" / SUPPLIER / "a.xml").write_bytes(_invoice("F-LATE-1"))  # type: ignore[attr-defined]
    hub("run", "--once")
    loaded = settings.load(hub.home)  # type: ignore[attr-defined]
    job = f"{schedule.STATUSES}{SUPPLIER}"
    on_time = datetime(2026, 11, 10, 9, 0, 0, 400_000, tzinfo=UTC)
    monkeypatch.setattr("edi_engine.clock.now", lambda: on_time)
    schedule.run(loaded, job, HOURLY)
    (hub.home / "inbox" / SUPPLIER / "b.xml").write_bytes(_invoice("F-LATE-2"))  # type: ignore[attr-defined]
    hub("run", "--once")  # a change the next fire time will tell
    late = datetime(2026, 11, 10, 9, 1, 30, tzinfo=UTC)
    monkeypatch.setattr("edi_engine.clock.now", lambda: late)
    schedule.run(loaded, job, HOURLY)

    statut = sorted((hub.home / "outbox" / SUPPLIER).glob("STATUT_*"))  # type: ignore[attr-defined]
    assert [path.name for path in statut] == [f"STATUT_{SUPPLIER}_1.xml"]
    runs = ledger(hub.env["EDI_ENGINE_DATABASE_URL"], "select scheduled_for from job_runs")  # type: ignore[attr-defined]
    assert runs == [(datetime(2026, 11, 10, 9, 0, tzinfo=UTC),)]
