"""`run --once` and the simple daemon loop: receive, lease, process, repeat."""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from connectors.watch import InboxWatcher

from .. import clock, controls
from ..delivery import outputs, publication, uploads
from ..errors import EngineError
from ..ledger import counters, db, home, leasing
from ..ledger.models import Flow, FlowError, FlowEvent
from ..ledger.states import FlowState
from ..partners import registry as partners
from ..partners.remote import ChannelReport
from ..problems import Problem
from ..reception import intake
from ..settings import Settings
from . import pipeline, preparing
from .report import incident, incident_report

log = logging.getLogger(__name__)
MAX_DAEMON_PAUSE = 300.0  # seconds between two attempts after repeated failures
# flows leased per transaction (released if asked to stop): a group's worth, no more, so
# that several workers share even a small backlog
LEASE_BATCH = 50
GROUP_FLOWS = 50  # flows committed together at most (`Group`),
GROUP_SECONDS = 1.0  # and processed for this long at most (a quarter of the lease, if less)
PUBLISH_EVERY = 500  # committed outputs published together, else once per lease batch
RERUN = "re-run"  # how a re-run's event begins: transient failures are counted since
TRANSIENT = "transient failure"
TRANSIENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.EAGAIN,
    errno.EBUSY,
    errno.ETIMEDOUT,
}


@dataclass
class RunReport:
    received: int = 0
    processed: list[str] = field(default_factory=list)  # flow numbers, in order
    incidents: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)  # transient failure: taken again later
    # SFTP channels: files fetched and delivered, one sentence per failure
    sftp: ChannelReport = field(default_factory=ChannelReport)
    unknown: list[Path] = field(default_factory=list)
    unreadable: dict[Path, str] = field(default_factory=dict)  # left in their inbox: why


def run_once(
    settings: Settings,
    progress: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    ready: Iterable[Path] = (),
    pool: preparing.Workers | None = None,
) -> RunReport:
    """Receive every stable inbox file, then process every waiting flow. `pool`: worker
    processes that prepare the flows (`run --workers N`); without it, this process
    prepares them itself as it goes."""
    report = RunReport()
    worker = leasing.worker_id()
    pool = pool if pool is not None and pool.count > 1 else None
    with db.session_scope(settings.database_url) as session:
        publication.finish(settings, session)  # what a stopped run committed, not published
        taken = intake.receive(settings, session, ready)
        report.received = len(taken.flow_ids)
        report.unknown = taken.unknown
        report.unreadable = taken.unreadable
        report.sftp = taken.sftp
        uploads.finish_renames(settings, session, report.sftp)  # before their answers
        group = Group(settings, session, controls.Referential.load(session), worker, report)
        group.progress, group.pool = progress, pool
        lease_seconds = settings.processing.lease_seconds
        while not should_stop() and (
            flows := leasing.lease(session, worker, LEASE_BATCH, lease_seconds)
        ):
            # taken again (a worker died, a transient failure): alone, in id order, first
            alone = [flow for flow in flows if flow.attempts > 1]
            flows = [flow for flow in flows if flow.attempts == 1]
            while alone and not should_stop():
                group.alone(alone.pop(0))
            flows = alone + flows
            jobs = (_job(settings, session, flow) for flow in flows)
            # without workers, none: each flow is read as it is processed
            prepared = pool.prepared(jobs) if pool else (ready for ready in ())
            with contextlib.closing(prepared):
                while flows and not should_stop():
                    flows = group.run(flows, should_stop, prepared)
            for flow in flows:  # asked to stop: given back, for the next run
                leasing.release(session, flow, worker)
            outputs.published(session)  # the lease batch's outputs, in one transaction
        if not should_stop():
            uploads.deliver(settings, session, report.sftp)
    return report


@dataclass
class Group:
    """Group commit: the flows of a lease batch processed in one transaction, each in a
    savepoint of its own (a technical failure rolls back that flow only), their outputs
    made durable by one sync barrier, the ledger committed once, then published. One
    commit per one-invoice flow cost more than all the rest of its work."""

    settings: Settings
    session: Session
    referential: controls.Referential
    worker: str
    report: RunReport
    progress: Callable[[str], None] | None = None
    pool: preparing.Workers | None = None  # worker processes, when more than one

    def run(
        self,
        flows: list[Flow],
        should_stop: Callable[[], bool],
        prepared: Iterator[preparing.Prepared],
    ) -> list[Flow]:
        """Process the first of `flows` until the group is full (GROUP_FLOWS, GROUP_SECONDS
        or PUBLISH_EVERY outputs) and commit them; the rest is returned for the next.
        `prepared`: the flows as worker processes prepared them, in their order (empty:
        this process prepares each itself)."""
        session, lease_seconds = self.session, self.settings.processing.lease_seconds
        ours = leasing.renew_all(session, [flow.id for flow in flows], self.worker, lease_seconds)
        intake.first_of_their_content(session, [flow.id for flow in flows[:GROUP_FLOWS]])
        # counted from the first flow's end: a worker process starting (and compiling the
        # rules' stylesheets) as the group begins does not cut the group short
        span, deadline = min(GROUP_SECONDS, lease_seconds / 4), math.inf
        done: list[tuple[Flow, pipeline.FlowRun]] = []
        failed: list[tuple[Flow, Exception]] = []
        tried: list[tuple[Flow, preparing.Prepared | None]] = []  # done or failed
        killers: list[tuple[Flow, int]] = []
        rest: list[Flow] = []
        for n, flow in enumerate(flows):
            if (done or failed) and (
                n >= GROUP_FLOWS
                or time.monotonic() > deadline
                or outputs.staged(session) >= PUBLISH_EVERY
                or should_stop()
            ):
                rest = flows[n:]  # those taken meanwhile too: their preparation is next
                break
            ready = _next(prepared, flow)
            if flow.id not in ours:
                _taken_meanwhile(flow)
                continue
            if ready is not None and ready.killed_workers:
                killers.append((flow, ready.killed_workers))
                continue
            staged, counted = outputs.mark(session), counters.mark(session)
            tried.append((flow, ready))
            try:
                with session.begin_nested():
                    run = pipeline.process_flow(
                        self.settings, session, flow, self.referential, self.worker,
                        prepared=ready,
                    )  # fmt: skip
            except Exception as exc:  # that flow only: answered once the group committed
                outputs.back_to(session, staged)
                counters.back_to(session, counted)
                failed.append((flow, exc))
            else:
                done.append((flow, run))
            deadline = min(deadline, time.monotonic() + span)
        session.info.pop(intake.FIRST_OF_THEIR_CONTENT, None)
        try:
            session.commit()
        except Exception:  # the ledger or the disk: each flow again, alone, as it fails
            session.rollback()
            outputs.withdraw(session)
            log.warning(
                "a group of %d flows could not be committed; each is processed alone",
                len(done) + len(failed),
                exc_info=True,
            )
            for flow, ready in tried:  # as prepared already: never sent to a worker again
                self.alone(flow, ready=ready)
            self._give_up(killers)
            return rest
        outputs.later(session)
        if outputs.waiting(session) >= PUBLISH_EVERY:
            outputs.published(session)
        for flow, run in done:
            _processed(self.report, flow, run)
            if self.progress:
                self.progress(flow.number)
        for flow, exc in failed:
            _failed(self.settings, session, flow, self.worker, self.report, exc)
        self._give_up(killers)
        return rest

    def _give_up(self, killers: list[tuple[Flow, int]]) -> None:
        """Flows whose preparation killed `processing.max_attempts` worker processes."""
        for flow, lost in killers:
            _give_up(self.settings, self.session, flow, self.worker, self.report, lost)

    def alone(self, flow: Flow, ready: preparing.Prepared | None = None) -> None:
        """One flow in a transaction of its own (taken again: the one that kills its
        worker is then known; or its group could not be committed). `ready`: the flow as
        a worker process prepared it already."""
        if not leasing.renew(
            self.session, flow.id, self.worker, self.settings.processing.lease_seconds
        ):
            self.session.commit()
            _taken_meanwhile(flow)
            return
        if _killed_its_workers(self.settings, self.session, flow, self.worker, self.report):
            return
        if ready is None and self.pool is not None:  # by a worker: one it kills is told
            self.session.commit()  # no lease row locked while it is prepared
            (ready,) = self.pool.prepared([_job(self.settings, self.session, flow)])
            if ready.killed_workers:
                settings, session = self.settings, self.session
                _give_up(settings, session, flow, self.worker, self.report, ready.killed_workers)
                return
            if not leasing.renew(
                self.session, flow.id, self.worker, self.settings.processing.lease_seconds
            ):
                self.session.commit()
                _taken_meanwhile(flow)
                return
        process_one(
            self.settings,
            self.session,
            flow,
            self.referential,
            self.worker,
            self.report,
            publish=False,
            held=True,
            prepared=ready,
        )
        if outputs.waiting(self.session) >= PUBLISH_EVERY:  # a large flow's, at once
            outputs.published(self.session)
        if self.progress:
            self.progress(flow.number)


def _job(settings: Settings, session: Session, flow: Flow) -> preparing.Job:
    """What a worker process needs of a flow, its partner's rule sets among it."""
    return preparing.Job.of(flow, settings.zone, partners.rule_sets(session, flow.partner_code))


def _next(prepared: Iterator[preparing.Prepared], flow: Flow) -> preparing.Prepared | None:
    """The flow's preparation by a worker process, or None (this process prepares it)."""
    ready = next(prepared, None)
    if ready is not None and ready.flow_id != flow.id:  # never another flow's
        raise RuntimeError(f"flow {flow.number}: prepared out of order ({ready.flow_id})")
    return ready


def _taken_meanwhile(flow: Flow) -> None:
    log.warning(
        "flow %s: another worker took it once its lease expired; left to it",
        flow.number, extra={"flow": flow.number, "partner": flow.partner_code},
    )  # fmt: skip


def _processed(report: RunReport, flow: Flow, run: pipeline.FlowRun) -> None:
    number = flow.number
    report.processed.append(number)
    log.info(
        "flow %s of %s: %s, %d invoice(s) integrated, %d rejected",
        number, flow.partner_code, run.state, run.accepted, run.rejected,
        extra={"flow": number, "partner": flow.partner_code, "outcome": str(run.state)},
    )  # fmt: skip
    if number in report.retrying:  # taken again in this same run, and done
        report.retrying.remove(number)


def process_one(
    settings: Settings,
    session: Session,
    flow: Flow,
    referential: controls.Referential,
    worker: str,
    report: RunReport,
    rewrite: bool = False,
    publish: bool = True,
    held: bool = False,
    prepared: preparing.Prepared | None = None,
) -> None:
    """Process one leased flow and commit; publish its outputs, or leave them to the
    caller's next `outputs.published` (`publish` False). `held`: the caller renewed its
    lease in this same transaction already (its row is locked until the commit). A
    technical failure rolls everything back (outputs withdrawn): `_failed` answers it."""
    number, flow_id = flow.number, flow.id
    event = {"flow": number, "partner": flow.partner_code}
    try:
        if not held:
            leasing.hold(session, flow_id, worker, settings.processing.lease_seconds)
        run = pipeline.process_flow(
            settings, session, flow, referential, worker, rewrite, prepared=prepared
        )
        session.commit()
    except leasing.LeaseLost as lost:  # another worker processes it: nothing of ours stays
        session.rollback()
        outputs.withdraw(session)
        log.warning("flow %s: not processed here: %s", number, lost.message, extra=event)
        return
    except Exception as exc:  # a bug or a technical failure must not stop the run
        session.rollback()
        for path in outputs.withdraw(session):
            log.warning("flow %s: withdrew %s written before the failure", number, path)
        _failed(settings, session, flow, worker, report, exc)
        return
    if publish:  # its outputs reach partners now (or with the next ones), never before
        outputs.published(session)
    else:
        outputs.later(session)
    _processed(report, flow, run)


def _failed(
    settings: Settings,
    session: Session,
    flow: Flow,
    worker: str,
    report: RunReport,
    exc: Exception,
) -> None:
    """A flow's processing failed and was rolled back: a transient failure (ledger busy,
    disk full, I/O) is tried again later, waiting longer each time, up to
    `processing.retry_attempts`, before the flow is left IN_INCIDENTE and its depositor
    answered. Bad input is never retried: it is a rejection, not a failure."""
    number, flow_id = flow.number, flow.id
    event = {"flow": number, "partner": flow.partner_code}
    lease_seconds = settings.processing.lease_seconds
    if not leasing.renew(session, flow_id, worker, lease_seconds):  # and its row locked
        session.commit()
        log.warning("flow %s: failed, and taken by another worker meanwhile", number)
        return  # theirs to answer: never marked or answered twice
    failures = leasing.events_since(session, flow_id, TRANSIENT, RERUN) + 1
    if _transient(exc) and failures < settings.processing.retry_attempts:
        wait = settings.processing.retry_backoff_seconds * 2 ** (failures - 1)
        log.warning(
            "flow %s: %s %d, retried in %gs: %s", number, TRANSIENT, failures, wait, exc,
            extra={**event, "outcome": "retrying"},
        )  # fmt: skip
        _retry_later(session, flow_id, worker, exc, failures, wait)
        if number not in report.retrying:  # once, however often it failed in this run
            report.retrying.append(number)
        return
    incident = {**event, "outcome": str(FlowState.IN_INCIDENTE)}
    if isinstance(exc, EngineError):
        log.error("flow %s: technical failure: %s", number, exc.message, extra=incident)
    else:
        log.error(
            "flow %s: technical failure", number, extra=incident,
            exc_info=(type(exc), exc, exc.__traceback__),
        )  # fmt: skip
    _mark_incident(session, flow_id, worker, f"technical failure: {type(exc).__name__}: {exc}")
    _answer_incident(settings, session, flow_id)
    report.incidents.append(number)
    if number in report.retrying:
        report.retrying.remove(number)


def _killed_its_workers(
    settings: Settings, session: Session, flow: Flow, worker: str, report: RunReport
) -> bool:
    """A flow whose processing killed its worker `processing.max_attempts` times (out of
    memory, a crash: its lease expired while it was processed) would kill every worker
    that takes it: it is given up IN_INCIDENTE, its CR says why (FLOW_KILLED_WORKER), and
    it is never taken again (a re-run by an operator starts the count again)."""
    if flow.attempts <= 1:  # leased for the first time: no worker died on it
        return False
    lost = leasing.workers_lost(session, flow.id, RERUN)
    if lost < settings.processing.max_attempts:
        return False
    _give_up(settings, session, flow, worker, report, lost)
    return True


def _give_up(
    settings: Settings, session: Session, flow: Flow, worker: str, report: RunReport, lost: int
) -> None:
    number = flow.number
    log.error(
        "flow %s: its processing stopped %d workers; given up", number, lost,
        extra={"flow": number, "partner": flow.partner_code, "outcome": "IN_INCIDENTE"},
    )  # fmt: skip
    _mark_incident(session, flow.id, worker, f"given up: {leasing.WORKER_LOST} {lost} times")
    _answer_incident(settings, session, flow.id, leasing.given_up(lost))
    report.incidents.append(number)


def _transient(exc: BaseException) -> bool:
    """The ledger busy or gone, the disk full or failing: worth trying again unchanged."""
    while exc is not None:
        if isinstance(exc, OperationalError):
            return True
        if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _retry_later(
    session: Session, flow_id: int, worker: str, exc: Exception, failures: int, wait: float
) -> None:
    """Leased to nobody until `wait` has passed: the next run (or daemon loop) takes it."""
    flow = session.get(Flow, flow_id)
    at = clock.now()
    flow.lease_owner = None
    flow.lease_expires_at = at + timedelta(seconds=wait)
    flow.updated_at = at
    detail = f"{TRANSIENT} {failures}: {type(exc).__name__}: {exc}; retried in {wait:g}s"
    session.add(
        FlowEvent(
            flow_id=flow_id,
            at=at,
            status=FlowState.IN_EN_COURS_TRAITEMENT,
            actor=worker,
            detail=detail[:2000],
        )
    )
    session.commit()


def _mark_incident(session: Session, flow_id: int, worker: str, detail: str) -> None:
    flow = session.get(Flow, flow_id)
    at = clock.now()
    flow.status = FlowState.IN_INCIDENTE
    flow.updated_at = at
    flow.lease_owner = None
    flow.lease_expires_at = None
    session.add(
        FlowEvent(
            flow_id=flow_id, at=at, status=FlowState.IN_INCIDENTE, actor=worker, detail=detail
        )
    )
    session.commit()


def _answer_incident(
    settings: Settings, session: Session, flow_id: int, problem: Problem | None = None
) -> None:
    """Tell the depositor, in a CR of its own, that its flow was not processed (and, unless
    an earlier attempt integrated some of it, must be sent again): once committed
    IN_INCIDENTE, in a transaction of its own, so that a CR that cannot be written (the disk
    that failed the flow, say) never undoes the incident. A flow answered already (a failed
    re-run) is answered as one more attempt: its CR stays beside the new one, as
    CR_<P>_<FLOW>_<N>.xml, as a re-run keeps it."""
    flow = session.get(Flow, flow_id)
    try:
        with outputs.committed(session):
            attempt = outputs.answers(session, flow_id) + 1
            problem = (problem or incident(session, flow)).at(document=flow.file_name)
            name, content = incident_report(settings, flow, problem)
            outputs.keep_previous_cr(settings, session, flow.partner_code, flow.number, attempt)
            outputs.deliver(
                settings, session, flow_id, outputs.CR, flow.partner_code, name, content
            )
            session.add(FlowError(flow_id=flow_id, attempt=attempt, **problem.as_dict()))
            if attempt == 1:  # a flow answered is counted once: taken back if processed again
                counters.count_flow(session, flow, settings.zone)
    except Exception:  # the incident stays recorded; a re-run answers the flow
        log.exception(
            "flow %s: the CR of its incident could not be written", flow.number,
            extra={"flow": flow.number, "partner": flow.partner_code, "outcome": "no CR"},
        )  # fmt: skip


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set instead of ending the process: what runs finishes
    first. The daemon sets it up before it starts anything, its scheduler's jobs included."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def run_daemon(
    settings: Settings,
    on_report: Callable[[RunReport], None],
    workers: int = 1,
    stop: threading.Event | None = None,
) -> None:
    """Process until SIGTERM or SIGINT (or `stop`, from `stop_on_signals`, is set); the
    current flow always finishes.

    inotify wakes the loop as soon as a file is written into an inbox; every
    ``daemon_poll_seconds`` a full scan runs anyway, for what the watch missed. `workers`
    processes prepare the flows, started once for the daemon's life."""
    home.ensure_run(settings)  # a run/ that cannot serve the outbox stops it at start
    stop = stop if stop is not None else stop_on_signals()
    pause = settings.processing.daemon_poll_seconds
    failures, ready = 0, set()
    with (
        preparing.Workers(settings, workers) as pool,
        contextlib.closing(InboxWatcher()) as watcher,
    ):
        while not stop.is_set():
            watcher.watch(_inbox_folders(settings))
            try:
                report = run_once(settings, should_stop=stop.is_set, ready=ready, pool=pool)
            except EngineError as exc:  # the ledger or the disk: wait, longer each time
                failures += 1
                log.error("run failed (%d in a row), retrying: %s", failures, exc.message)
                stop.wait(min(pause * 2**failures, MAX_DAEMON_PAUSE))
                continue
            failures = 0
            if report.received or report.processed or report.incidents:
                _show(on_report, report)
            if not stop.is_set():
                ready = watcher.wait(pause, stop.is_set)


def _show(on_report: Callable[[RunReport], None], report: RunReport) -> None:
    """Showing a run never stops the daemon: what it recorded is committed already."""
    try:
        on_report(report)
    except Exception:  # a display bug must not stop every partner's flows
        log.exception("the report of a run could not be shown; the daemon goes on")


def _inbox_folders(settings: Settings) -> list[Path]:
    """Every partner folder of the inbox (folders of unknown partners are reported, not watched)."""
    try:
        return [p for p in settings.inbox.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except FileNotFoundError:
        return []
