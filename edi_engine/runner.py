"""`run --once` and the simple daemon loop: receive, lease, process, repeat."""

from __future__ import annotations

import errno
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from connectors.watch import InboxWatcher

from . import (
    channels,
    clock,
    controls,
    counters,
    db,
    home,
    intake,
    leasing,
    outputs,
    pipeline,
    publication,
)
from .errors import EngineError
from .models import Flow, FlowError, FlowEvent
from .problems import Problem
from .report import incident, incident_report
from .settings import Settings
from .states import FlowState

log = logging.getLogger(__name__)
MAX_DAEMON_PAUSE = 300.0  # seconds between two attempts after repeated failures
LEASE_BATCH = 20  # flows leased per transaction; released if asked to stop
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
    sftp: channels.ChannelReport = field(default_factory=lambda: channels.ChannelReport())
    unknown: list[Path] = field(default_factory=list)


def run_once(
    settings: Settings,
    progress: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    ready: Iterable[Path] = (),
) -> RunReport:
    """Receive every stable inbox file, then process every waiting flow."""
    report = RunReport()
    worker = leasing.worker_id()
    with db.session_scope(settings.database_url) as session:
        publication.finish(settings, session)  # what a stopped run committed, not published
        taken = intake.receive(settings, session, ready)
        report.received = len(taken.flow_ids)
        report.unknown = taken.unknown
        report.sftp = taken.sftp
        referential = controls.Referential.load(session)
        lease_seconds = settings.processing.lease_seconds
        while not should_stop() and (
            flows := leasing.lease(session, worker, LEASE_BATCH, lease_seconds)
        ):
            for flow in flows:
                if should_stop():
                    leasing.release(session, flow, worker)
                    continue
                if not leasing.renew(session, flow.id, worker, lease_seconds):
                    session.commit()
                    log.warning(
                        "flow %s: another worker took it once its lease expired; left to it",
                        flow.number, extra={"flow": flow.number, "partner": flow.partner_code},
                    )  # fmt: skip
                    continue
                if _killed_its_workers(settings, session, flow, worker, report):
                    continue
                process_one(
                    settings, session, flow, referential, worker, report, publish=False, held=True
                )
                if outputs.waiting(session) >= PUBLISH_EVERY:  # a large flow's, at once
                    outputs.published(session)
                if progress:
                    progress(flow.number)
            outputs.published(session)  # the lease batch's outputs, in one transaction
        if not should_stop():
            channels.deliver(settings, session, report.sftp)
    return report


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
) -> None:
    """Process one leased flow and commit; publish its outputs, or leave them to the
    caller's next `outputs.published` (`publish` False). `held`: the caller renewed its
    lease in this same transaction already. A technical failure rolls everything back
    (outputs withdrawn); a transient one (ledger busy, disk full, I/O) is tried again later,
    waiting longer each time, up to `processing.retry_attempts`, before the flow is left
    IN_INCIDENTE. Bad input is never retried: it is a rejection, not a failure."""
    number, flow_id, partner = flow.number, flow.id, flow.partner_code
    event = {"flow": number, "partner": partner}
    lease_seconds = settings.processing.lease_seconds
    try:
        if not held:
            leasing.hold(session, flow_id, worker, lease_seconds)  # ours until the commit
        run = pipeline.process_flow(settings, session, flow, referential, worker, rewrite)
        session.commit()
        if publish:  # its outputs reach partners now (or with the next ones), never before
            outputs.published(session)
        else:
            outputs.later(session)
        report.processed.append(number)
        log.info(
            "flow %s of %s: %s, %d invoice(s) integrated, %d rejected",
            number, partner, run.state, run.accepted, run.rejected,
            extra={**event, "outcome": str(run.state)},
        )  # fmt: skip
        if number in report.retrying:  # taken again in this same run, and done
            report.retrying.remove(number)
    except leasing.LeaseLost as lost:  # another worker processes it: nothing of ours stays
        session.rollback()
        outputs.withdraw(session)
        log.warning("flow %s: not processed here: %s", number, lost.message, extra=event)
    except Exception as exc:  # a bug or a technical failure must not stop the run
        session.rollback()
        for path in outputs.withdraw(session):
            log.warning("flow %s: withdrew %s written before the failure", number, path)
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
            report.retrying.append(number)
            return
        incident = {**event, "outcome": str(FlowState.IN_INCIDENTE)}
        if isinstance(exc, EngineError):
            log.error("flow %s: technical failure: %s", number, exc.message, extra=incident)
        else:
            log.exception("flow %s: technical failure", number, extra=incident)
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
    number, flow_id = flow.number, flow.id
    log.error(
        "flow %s: its processing stopped %d workers; given up", number, lost,
        extra={"flow": number, "partner": flow.partner_code, "outcome": "IN_INCIDENTE"},
    )  # fmt: skip
    _mark_incident(session, flow_id, worker, f"given up: {leasing.WORKER_LOST} {lost} times")
    _answer_incident(settings, session, flow_id, leasing.given_up(lost))
    report.incidents.append(number)
    return True


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


def run_daemon(settings: Settings, on_report: Callable[[RunReport], None]) -> None:
    """Process until SIGTERM or SIGINT; the current flow always finishes.

    inotify wakes the loop as soon as a file is written into an inbox; every
    ``daemon_poll_seconds`` a full scan runs anyway, for what the watch missed."""
    home.ensure_run(settings)  # a run/ that cannot serve the outbox stops it at start
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    pause = settings.processing.daemon_poll_seconds
    watcher = InboxWatcher()
    failures, ready = 0, set()
    try:
        while not stop.is_set():
            watcher.watch(_inbox_folders(settings))
            try:
                report = run_once(settings, should_stop=stop.is_set, ready=ready)
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
    finally:
        watcher.close()


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
