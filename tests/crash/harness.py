"""The crash harness: the engine as real processes, killed with SIGKILL at random moments
and at each of its named crash points (edi_engine/failpoints.py), over flows of every
kind, restarted until the work is done; then every outcome checked (tests/crash/verify.py).

One home (SQLite, or a PostgreSQL database), four partners: FOUR01 depositing through its
inbox folder and FOUR03 through its SFTP server (operators, depositing for the
benchmark's forty suppliers), the recipient systems DEST01 (Valbrune, a local folder) and
DEST02 (Montclair, an SFTP server: the real OpenSSH sshd on 127.0.0.1). A drainer process
takes every file out of the partners' folders and servers as soon as it appears, as their
systems do, so that a file published twice is received twice. Recipients answer the pivots
they receive with status flows (07), sent again when the CR says one was refused.

Each round runs one process, `run --once --workers N`, `run --daemon --workers N` (its
status flows due every three seconds) or `statuses emit`, in a process group of its own,
and either lets it end (a daemon: SIGTERM after a while), kills the whole group at a
moment drawn, or arms one named point (`EDI_ENGINE_FAILPOINT`), where the process kills
itself; the group is killed after it, workers too. Some rounds run beside a daemon (two
writers on one ledger), which is killed or stopped once the round has ended. Leases are
short (LEASE_SECONDS), so that a dead worker's flows are taken again at once, and never
given up for its deaths.
Everything random comes from one seed (`Plan.seed`): a failure names it.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from sqlalchemy import text

from edi_engine import failpoints
from edi_engine.controls import structures
from edi_engine.ledger import db, home
from edi_engine.lifecycle import statuses_in
from edi_engine.partners import registry as partners
from edi_engine.settings import Settings
from tests.paused_workers import draining

from .flows import MONTCLAIR, VALBRUNE, Dropped, Received, Suppliers, read_pivot, status_flow

REPO = Path(__file__).resolve().parents[2]
SUPPLIER, SFTP_SUPPLIER = "FOUR01", "FOUR03"
RECIPIENT, SFTP_RECIPIENT = "DEST01", "DEST02"
HAUT_VERNAY_ROW = "25990303700010,Syndicat intercommunal des eaux du Haut-Vernay,false,DEST01"
FINAL = ("IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE", "IN_INCIDENTE")
LEASE_SECONDS = 2  # a killed worker's flows are taken again this soon
DEADLINE = 600  # seconds a process is given to end on its own; never a measure of speed
STOP_SECONDS = 120  # given to a daemon to stop after SIGTERM (the current flow finishes)
INTAKE_POINTS = ("after-archive", "after-record")
UPLOAD_POINTS = ("mid-upload", "before-remote-rename", "after-remote-rename")  # SFTP only
MAX_TRIES = 8  # runs armed with a point before it counts as never reached
SETTLE_ROUNDS = 60  # clean rounds given to finish the work once the kills are over
UNWRITTEN = "status flow(s) numbered, not written"
STUCK_ROUNDS = 6  # rounds in a row that change nothing: the work will not finish
RESENDS = 4  # times a recipient sends a status the hub refused before giving up
SCHEDULER = "Scheduler started"  # a daemon's log, once its jobs may run
KEPT_LOGS = 200  # logs of rounds kept (those that exited 3 or oddly), past which none


class SftpServer(Protocol):
    """The SFTP server partners use (tests/crash/sshd.py, or the suite's sshd fixture)."""

    host: str
    port: int
    user: str
    client_key: Path
    known_hosts: Path


@dataclass(frozen=True)
class Plan:
    """What one cycle does: `flows` suppliers' flows dropped in `waves`, `random_kills`
    kills at moments drawn, and one kill at each of `points`; then the soak starts the
    next cycle, the test settles and checks."""

    seed: int = 16
    flows: int = 70
    waves: int = 4
    random_kills: int = 4
    points: tuple[str, ...] = tuple(sorted(failpoints.POINTS))
    workers: int = 2
    rules: bool = False  # EN 16931's rules: off, as every process test (they cost a worker)
    fsync: bool = False  # SIGKILL kills processes, not the machine: the page cache stays
    database_url: str | None = None  # PostgreSQL; None: SQLite in the home
    sftp_share: float = 0.3  # of suppliers' flows deposited over SFTP
    answer_share: float = 0.5  # of the invoices a recipient receives, answered with 07
    beside_daemon: float = 0.2  # of the rounds with a kill, run while a daemon runs too


@dataclass(frozen=True)
class Kill:
    """How a round's process dies: at a moment drawn (point None), or at `point`, the
    `count`-th time it reaches it."""

    point: str | None = None
    count: int = 1

    @property
    def armed(self) -> str:
        return f"{self.point}:{self.count}"


@dataclass
class Tally:
    """What the harness did, for the summary."""

    rounds: Counter = field(default_factory=Counter)  # by mode
    kills: Counter = field(default_factory=Counter)  # by point, "random" for the others
    missed: Counter = field(default_factory=Counter)  # kills the process ended before
    exits: Counter = field(default_factory=Counter)  # (mode, exit code)
    dropped: Counter = field(default_factory=Counter)  # files by kind
    refusals: Counter = field(default_factory=Counter)  # recipients' statuses refused, by code
    pairs: int = 0  # rounds run beside a daemon
    problems: list[str] = field(default_factory=list)  # what the harness saw go wrong
    kept_logs: int = 0


class Harness:
    """A home, its partners' folders and servers, the drainer, and the rounds."""

    def __init__(self, root: Path, plan: Plan, server: SftpServer | None) -> None:
        self.root, self.plan, self.server = root, plan, server
        self.rng = random.Random(plan.seed)
        self.home = root / "home"
        self.logs = root / "logs"
        self.suppliers = Suppliers(plan.seed)
        self.dropped: dict[tuple[str, str], Dropped] = {}
        self.tally = Tally()
        self.remote: dict[str, tuple[Path, Path]] = {}  # SFTP partner: its in and out folders
        self.received = root / "received"  # what the drainer took: received/<partner>/
        self.planned: dict[str, tuple[str, Received]] = {}  # 07s to tell: by invoice number
        self.sends: Counter = Counter()  # times each planned 07 was sent
        self._waiting: dict[str, list[Received]] = {}  # 07s to send, by recipient
        self._read: set[Path] = set()  # pivots the recipients have read
        self._statuses = 0
        self._stack = contextlib.ExitStack()
        self.settings: Settings

    # -- the home, the partners, the drainer -------------------------------------------

    def __enter__(self) -> Harness:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.settings = self._init_home()
        self.env = self._environment()
        sources: list[str | Path] = [SUPPLIER, self.home / "outbox" / SUPPLIER]
        sources += [RECIPIENT, self.home / "outbox" / RECIPIENT]
        for partner, (_, out) in self.remote.items():
            sources += [partner, out]
        self._stack.enter_context(draining(self.received, self.root / "drainer.stop", *sources))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
        db.engine_for(self.settings.database_url).dispose()

    def stop_draining(self) -> None:
        """The partners' systems take what is left, then stop: nothing more arrives."""
        self._stack.close()

    @property
    def recipients(self) -> list[str]:
        return [RECIPIENT, *([SFTP_RECIPIENT] if self.server else [])]

    @property
    def suppliers_codes(self) -> list[str]:
        return [SUPPLIER, *([SFTP_SUPPLIER] if self.server else [])]

    def recipient_of(self, siret: str) -> str:
        return SFTP_RECIPIENT if self.server and siret == MONTCLAIR else RECIPIENT

    def _init_home(self) -> Settings:
        previous = os.environ.pop(home.URL_VARIABLE, None)
        if self.plan.database_url:
            os.environ[home.URL_VARIABLE] = self.plan.database_url
        try:
            settings, _ = home.init(self.home)
        finally:
            os.environ.pop(home.URL_VARIABLE, None)
            if previous is not None:
                os.environ[home.URL_VARIABLE] = previous
        referential = self.root / "structures.csv"
        referential.write_text(
            "siret,designation,active,partner\n"
            f"{VALBRUNE},Commune de Valbrune,true,{RECIPIENT}\n"
            f"{MONTCLAIR},Centre hospitalier de Montclair,true,{self.recipient_of(MONTCLAIR)}\n"
            f"{HAUT_VERNAY_ROW}\n"
        )
        with db.session_scope(settings.database_url) as session:
            partners.add(settings, session, SUPPLIER, "Opérateur de dépôt", operator=True)
            partners.add(settings, session, RECIPIENT, "Système de Valbrune")
            if self.server is not None:
                for code, name in ((SFTP_SUPPLIER, "Opérateur SFTP"), (SFTP_RECIPIENT, "CH")):
                    channel = self._sftp_folders(code)
                    operator = code == SFTP_SUPPLIER
                    partners.add(settings, session, code, name, channel, operator=operator)
            session.commit()
            structures.import_csv(session, referential)
            session.commit()
        return settings

    def _sftp_folders(self, code: str) -> partners.SftpChannel:
        server = self.server
        assert server is not None
        remote_in, remote_out = (self.root / "server" / code / way for way in ("in", "out"))
        remote_in.mkdir(parents=True)
        remote_out.mkdir(parents=True)
        self.remote[code] = (remote_in, remote_out)
        return partners.SftpChannel(
            host=server.host,
            port=server.port,
            user=server.user,
            key_file=str(server.client_key),
            known_hosts=str(server.known_hosts),
            remote_in=str(remote_in),
            remote_out=str(remote_out),
        )

    def _environment(self) -> dict[str, str]:
        plan = self.plan
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
        env.update(
            EDI_ENGINE_PICKUP_STABLE_SECONDS="0",
            EDI_ENGINE_PICKUP_BATCH_SIZE="25",
            EDI_ENGINE_PROCESSING_FSYNC=str(plan.fsync).lower(),
            EDI_ENGINE_PROCESSING_LEASE_SECONDS=str(LEASE_SECONDS),
            EDI_ENGINE_PROCESSING_MAX_ATTEMPTS="100000",  # a kill is no reason to give up
            EDI_ENGINE_PROCESSING_DAEMON_POLL_SECONDS="0.5",
            EDI_ENGINE_PROCESSING_RETRY_BACKOFF_SECONDS="0.5",
            EDI_ENGINE_JOBS_STATUSES_CRON="*/3 * * * * *",
            EDI_ENGINE_RULES_EN16931=str(plan.rules).lower(),
            EDI_ENGINE_SFTP_CONNECT_TIMEOUT="20",
            EDI_ENGINE_SFTP_READ_TIMEOUT="30",
            EDI_ENGINE_SFTP_RETRY_BACKOFF_SECONDS="0.2",
        )
        return env

    # -- the ledger, read as the test's eyes ----------------------------------------------

    def ledger(self, query: str, **values: object) -> list[tuple]:
        with db.engine_for(self.settings.database_url).connect() as connection:
            return [tuple(row) for row in connection.execute(text(query), values)]

    def recorded(self) -> set[tuple[str, str]]:
        return set(self.ledger("select partner_code, file_name from flows"))

    # -- what partners send -------------------------------------------------------------

    def drop(self, dropped: Dropped) -> None:
        """Deposit a file as a partner does: written under a hidden name, then renamed."""
        folder = self.remote[dropped.partner][0] if dropped.partner in self.remote else None
        folder = folder or self.home / "inbox" / dropped.partner
        key = (dropped.partner, dropped.name)
        assert key not in self.dropped, key
        temp = folder / f".{dropped.name}.part"
        temp.write_bytes(dropped.content)
        os.rename(temp, folder / dropped.name)
        self.dropped[key] = replace(dropped, content=b"")  # its bytes are on disk
        self.tally.dropped[dropped.kind] += 1

    def drop_suppliers(self, count: int, partner: str | None = None) -> None:
        """`count` suppliers' flows of kinds drawn (from `partner`, else from either); the
        first a file sent again, once there are flows recorded to send again."""
        recorded = self.recorded()
        for n in range(count):
            remote = self.server is not None and self.rng.random() < self.plan.sftp_share
            depositor = partner or (SFTP_SUPPLIER if remote else SUPPLIER)
            kind = "resend" if n == 0 and recorded else self.suppliers.kind()
            self.drop(self.suppliers.flow(depositor, kind, recorded))

    def files_waiting(self) -> bool:
        folders = [self.home / "inbox" / code for code in (SUPPLIER, RECIPIENT)]
        folders += [remote_in for remote_in, _ in self.remote.values()]
        return any(not p.name.startswith(".") for f in folders for p in f.iterdir())

    def answer(self) -> None:
        """Recipients read the pivots received since they last looked, plan a 07 for some
        of their invoices, send again those the hub refused (their flow ended without
        applying them), and send what is planned in status flows of one to five."""
        for recipient in self.recipients:
            folder = self.received / recipient
            found = sorted(folder.glob("PIVOT_*")) if folder.is_dir() else []
            for path in found:
                if path in self._read:
                    continue
                self._read.add(path)
                for invoice in read_pivot(path.read_bytes()):
                    if invoice.number in self.planned:
                        continue
                    if self.rng.random() < self.plan.answer_share:
                        self.planned[invoice.number] = (recipient, invoice)
                        self._waiting.setdefault(recipient, []).append(invoice)
        self._send_again()
        for recipient, waiting in self._waiting.items():
            while waiting:
                some = waiting[: self.rng.randint(1, 5)]
                del waiting[: len(some)]
                self._statuses += 1
                name = f"statuts-{recipient.lower()}-{self._statuses:06d}.xml"
                self.drop(status_flow(recipient, name, some))
                self.sends.update(invoice.number for invoice in some)

    def _send_again(self) -> None:
        """A recipient reads its CRs: a 07 refused (its invoice not made available yet, its
        upload killed after the rename) is sent again once the flow carrying it ended."""
        ended, applied, refused = set(), set(), Counter()
        rows = self.ledger(
            "select f.partner_code, f.file_name, f.status, r.invoice_number, r.outcome "
            "from flows f left join received_statuses r on r.flow_id = f.id "
            "where f.file_name like 'statuts-%'"
        )
        for partner, name, status, number, outcome in rows:
            if status in FINAL:
                ended.add((partner, name))
            if outcome == statuses_in.APPLIED:
                applied.add(number)
            elif outcome is not None:
                refused[number] = outcome
        in_flight = {
            number
            for key, dropped in self.dropped.items()
            if dropped.kind == "status" and key not in ended
            for number in dropped.statuses
        }
        for number, (recipient, invoice) in self.planned.items():
            if number in applied or number in in_flight or not self.sends[number]:
                continue
            if self.sends[number] >= RESENDS:
                continue
            if invoice not in self._waiting.get(recipient, []):
                self.tally.refusals[refused.get(number, "no answer")] += 1
                self._waiting.setdefault(recipient, []).append(invoice)

    def answers_due(self) -> bool:
        return any(self._waiting.values())

    # -- the engine's processes ----------------------------------------------------------

    def round(self, mode: str, kill: Kill | None = None) -> bool:
        """Run one process of `mode` (`once`, `daemon`, `emit`) and let it end, stop it,
        or kill it as `kill` says; True when it died by the kill meant."""
        process, log = self._start(mode, kill)
        try:
            code, ours = self._drive(process, mode, kill)
        finally:
            _kill_group(process)
        return self._ended(mode, kill, code, ours, log)

    def pair(self, mode: str, kill: Kill | None = None) -> bool:
        """A round of `mode` while a daemon runs beside it: two writers on one ledger, as
        an operator's `run --once` or `statuses emit` beside the daemon. Once the round
        has ended, the daemon is killed at a moment drawn, or stopped (SIGTERM)."""
        self.tally.pairs += 1
        daemon, log = self._start("daemon", None)
        killed = Kill() if self.rng.random() < 0.5 else None
        until = time.monotonic() + self.rng.uniform(1.5, 6.0)  # the daemon's life at least
        try:
            fired = self.round(mode, kill)
            alive = not _ended_within(daemon, max(0.0, until - time.monotonic()))
            if killed is not None and alive:
                os.killpg(daemon.pid, signal.SIGKILL)
                code, ours = daemon.wait(), True
            else:
                code, ours = self._drive(daemon, "daemon", None, at_once=True)
        finally:
            _kill_group(daemon)
        self._ended("daemon", killed, code, ours if killed else False, log)
        return fired

    def _start(self, mode: str, kill: Kill | None) -> tuple[subprocess.Popen, Path]:
        args = {
            "once": ["run", "--once", "--workers", str(self.plan.workers)],
            "daemon": ["run", "--daemon", "--workers", str(self.plan.workers)],
            "emit": ["statuses", "emit"],
        }[mode]
        env = dict(self.env)
        if kill is not None and kill.point is not None:
            env[failpoints.VARIABLE] = kill.armed
        number = sum(self.tally.rounds.values()) + 1
        self.tally.rounds[mode] += 1
        log = self.logs / f"round-{number:05d}-{mode}.log"
        with open(log, "wb") as errors:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", "--home", str(self.home), *args],
                cwd=REPO, env=env, start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
            )  # fmt: skip
        return process, log

    def _ended(self, mode: str, kill: Kill | None, code: int, ours: bool, log: Path) -> bool:
        """Count how the process ended; True when it died by the kill meant."""
        died = code == -signal.SIGKILL
        label = "random" if kill is None or kill.point is None else kill.point
        if kill is not None and died and (ours or kill.point is not None):
            self.tally.kills[label] += 1
        elif kill is not None:
            self.tally.missed[label] += 1
        self.tally.exits[(mode, code)] += 1
        self._judge(mode, code, died and kill is not None, log)
        return kill is not None and died

    def _drive(
        self, process: subprocess.Popen, mode: str, kill: Kill | None, at_once: bool = False
    ) -> tuple[int, bool]:
        """Wait for the process as the round says (a daemon: stopped after a while, or
        `at_once`); its exit code, and whether we killed it."""
        rng = self.rng
        if kill is not None and kill.point is None:  # killed at a moment drawn
            moment = {"once": (0.3, 4.0), "daemon": (0.5, 10.0), "emit": (0.2, 2.0)}[mode]
            if _ended_within(process, rng.uniform(*moment)):
                return process.returncode, False
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(), True
        if mode == "daemon":  # stopped as an operator does, unless it died at its point
            if not _ended_within(process, 0 if at_once else rng.uniform(2.0, 8.0)):
                process.send_signal(signal.SIGTERM)
                if not _ended_within(process, STOP_SECONDS):
                    self.tally.problems.append(
                        f"a daemon did not stop {STOP_SECONDS} s after SIGTERM"
                    )
            return process.wait(), False
        if not _ended_within(process, DEADLINE):
            self.tally.problems.append(f"`{mode}` did not end within {DEADLINE} s")
        return process.wait(), False

    def _judge(self, mode: str, code: int, killed: bool, log: Path) -> None:
        """An exit other than 0 is kept with its log: 3 (an SFTP server unreachable, a flow
        left IN_INCIDENTE) is told in the summary, anything else is a problem: a daemon's
        SIGTERM once its scheduler started, among them (it must stop cleanly then)."""
        text = log.read_text(errors="replace")
        # a daemon stopped before it could set up its stop (still importing) did nothing
        early_stop = mode == "daemon" and code == -signal.SIGTERM and SCHEDULER not in text
        if code == 0 or killed or early_stop:
            log.unlink()
            return
        said = text.strip().splitlines()[-3:]
        if code != 3:
            self.tally.problems.append(f"`{mode}` exited {code}: {' / '.join(said)} ({log})")
        if self.tally.kept_logs >= KEPT_LOGS:
            log.unlink()
        self.tally.kept_logs += 1

    # -- settled ---------------------------------------------------------------------------

    def progress(self) -> tuple[int, ...]:
        """Counts that grow as the engine works: flows, flow events, outputs published."""
        (row,) = self.ledger(
            "select (select count(*) from flows), (select count(*) from flow_events), "
            "(select count(*) from outputs where staged is null and delivered_at is not null), "
            "(select count(*) from status_flows)"
        )
        return tuple(row)

    def pending(self) -> list[str]:
        """What is not done yet: files waiting, flows not final, outputs not published or
        not uploaded, status flows numbered and not written, statuses to send."""
        said = []
        if self.files_waiting():
            said.append("files waiting in inboxes or on SFTP servers")
        landing = self.home / "landing"
        if landing.is_dir() and any(p.is_file() for f in landing.iterdir() for p in f.iterdir()):
            said.append("files fetched over SFTP not yet recorded")
        final = ", ".join(f"'{state}'" for state in FINAL)
        (open_flows,) = self.ledger(f"select count(*) from flows where status not in ({final})")
        if open_flows[0]:
            said.append(f"{open_flows[0]} flow(s) not final")
        (outputs,) = self.ledger(
            "select count(*) from outputs o join partners p on p.code = o.partner_code "
            "where o.staged is not null or (p.channel = 'sftp' and o.delivered_at is null)"
        )
        if outputs[0]:
            said.append(f"{outputs[0]} output(s) not published or not uploaded")
        (unwritten,) = self.ledger("select count(*) from status_flows where written_at is null")
        if unwritten[0]:
            said.append(f"{unwritten[0]} {UNWRITTEN}")
        if self.answers_due():
            said.append("recipients' statuses to send")
        return said


def _ended_within(process: subprocess.Popen, seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def _kill_group(process: subprocess.Popen) -> None:
    """Nothing of a round outlives it: its worker processes and fork server included."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait()


# -- the driver ---------------------------------------------------------------------------


def cycle(h: Harness) -> None:
    """One plan's worth: its flows in waves, with a round after each, its kills spread
    over the rounds (each until it kills: a process may end before the moment drawn, or
    without reaching the point; up to MAX_TRIES runs)."""
    plan, rng = h.plan, h.rng
    waves = _split(plan.flows, plan.waves)
    points = [point for point in plan.points if h.server or point not in UPLOAD_POINTS]
    kills = [Kill(point, _count(point, rng)) for point in points]
    kills += [Kill() for _ in range(plan.random_kills)]
    rng.shuffle(kills)
    tries: Counter = Counter()
    while waves or kills:
        if waves and (not kills or rng.random() < 0.6):
            h.drop_suppliers(waves.pop())
        h.answer()
        kill = kills.pop(0) if kills else None
        if kill is not None:
            _work_for(h, kill)
        beside = kill is not None and rng.random() < plan.beside_daemon
        fired = (h.pair if beside else h.round)(_mode(kill, rng), kill)
        if kill is not None and not fired:  # the process ended first: again, later
            tries[kill.point] += 1
            if tries[kill.point] < MAX_TRIES:
                kills.insert(rng.randint(0, len(kills)), kill)
            elif kill.point is not None:
                h.tally.problems.append(f"{kill.point} was not reached in {MAX_TRIES} runs")


def _work_for(h: Harness, kill: Kill) -> None:
    """Something for the process to be killed in: files to receive (over SFTP, for an
    upload to die in), and for a status flow to die in, changes not yet told."""
    if kill.point in UPLOAD_POINTS:  # its CRs are uploaded to it, at least `count`
        h.drop_suppliers(2, SFTP_SUPPLIER)
    elif not h.files_waiting():
        h.drop_suppliers(2)
    if kill.point == "mid-status-flow" and not _changes_untold(h):
        h.round("once")  # processed: 01, 02 and 03 to tell


def settle(h: Harness) -> None:
    """Rounds without kills until nothing is left to do: every flow final, every output
    published and uploaded, every status the recipients meant applied, every change of
    an invoice written in a status flow. Given up, as a problem, once STUCK_ROUNDS rounds
    in a row changed nothing of what is left."""
    same, before = 0, None
    for n in range(SETTLE_ROUNDS):
        h.answer()
        left = h.pending()
        if not left:
            h.round("emit")  # the last changes (07s, 03s) told to suppliers
            if not h.pending() and not _changes_untold(h):
                return
            continue
        same = same + 1 if (left, h.progress()) == before else 0
        if same >= STUCK_ROUNDS:
            h.tally.problems.append(f"stuck for {same} rounds: {', '.join(left)}")
            return
        before = (left, h.progress())
        if any(UNWRITTEN in said for said in left):  # only an emission writes them
            h.round("emit")
        h.round("daemon" if n % 4 == 3 else "once")
    h.tally.problems.append(f"not settled after {SETTLE_ROUNDS} rounds: {h.pending()}")


def tidy(h: Harness) -> None:
    """What killed processes left in the engine's own folders (their staging folders,
    temporaries) is removed by a later run once a lease old: the run an operator makes
    once the work is done, before `edi-engine check`."""
    time.sleep(LEASE_SECONDS + 0.5)
    h.round("once")


def _changes_untold(h: Harness) -> bool:
    (untold,) = h.ledger(
        "select count(*) from invoice_events where emitted_in is null and to_supplier = :yes",
        yes=True,
    )
    return bool(untold[0])


def _split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def _count(point: str, rng: random.Random) -> int:
    """Which time the point kills: past the first, the middle of a batch of outputs."""
    if point in UPLOAD_POINTS:
        return rng.randint(1, 2)
    return {"mid-publication": rng.randint(1, 3)}.get(point, 1)


def _mode(kill: Kill | None, rng: random.Random) -> str:
    """The process a round runs: one that reaches the kill's point."""
    point = None if kill is None else kill.point
    if point in (*INTAKE_POINTS, "mid-publication", *UPLOAD_POINTS):  # emit: one upload
        return rng.choice(("once", "once", "daemon"))
    if point == "mid-status-flow":
        return rng.choice(("emit", "emit", "daemon"))
    return rng.choices(("once", "daemon", "emit"), (5, 3, 2))[0]
