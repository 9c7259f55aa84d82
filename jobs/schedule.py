"""The daemon's scheduled jobs (issue 6): APScheduler 3 with its job store in the ledger.

Each job is a thin call into edi_engine: a status flow per supplier-side partner (its own
cron, else `[jobs] statuses_cron`; none for a partner that only receives invoices), the
monthly report, the retention policy. A running daemon looks at the ledger every poll
(`daemon_poll_seconds`) and applies a changed schedule or a new partner then. A job never
overlaps itself (one instance, missed runs coalesced), and every run is first claimed in
the ledger (`job_runs`) for its fire time, so that two daemons on one database never run
the same job twice; each job is also safe to run again (statuses are sent exactly once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from edi_engine import clock, cron
from edi_engine.delivery import statuses_out
from edi_engine.ledger import db, jobruns, leasing
from edi_engine.ledger.models import FlowEvent
from edi_engine.operations import monthly, retention
from edi_engine.settings import Settings

from .outage import Outage, SchedulerLog, unreachable

log = logging.getLogger("edi_engine.jobs")

JOBSTORE_TABLE = "apscheduler_jobs"
STATUSES = "statuses-"  # + partner code
MONTHLY = "monthly-report"
RETENTION = "retention"
LOCAL = "local"  # this daemon's own housekeeping, not shared through the ledger
FULL_SYNC_SECONDS = 300  # the whole picture again (structures served, purged partners)
ONE_TICK = timedelta(microseconds=1)
LOOK_BACK = timedelta(days=1500)  # how far a fire time is looked for: February 29th's
STARTING_LOCK = 0x6564692D6A6F6273  # "edi-jobs": one daemon at a time sets the store up
_running: Settings  # the settings of the daemon this process is, set by `start`
_outage = Outage(0)  # whether its ledger can be reached, set by `start`


@dataclass(frozen=True)
class JobDefinition:
    id: str
    description: str
    cron: str


def definitions(settings: Settings, partners: jobruns.Partners) -> list[JobDefinition]:
    jobs = [
        JobDefinition(
            f"{STATUSES}{code}",
            f"status flow to {code}",
            partners.crons[code] or settings.jobs.statuses_cron,
        )
        for code in partners.status_partners()
    ]
    jobs.append(JobDefinition(MONTHLY, "monthly report", settings.jobs.monthly_report_cron))
    jobs.append(JobDefinition(RETENTION, "retention policy", settings.jobs.retention_cron))
    return jobs


def _statuses(settings: Settings, session: Session, partner: str) -> str:
    emitted = statuses_out.emit(settings, session, partner)
    handed = statuses_out.hand_over(settings, session, emitted)
    if handed.problems:  # the flows stay queued: the next run uploads them
        raise statuses_out.DeliveryFailed("; ".join(handed.problems))
    return ", ".join(e.file_name for e in emitted) or "no change to send"


def _monthly(settings: Settings, session: Session, _arg: str) -> str:
    month = monthly.previous_month(clock.local_date(clock.now(), settings.zone))
    return f"wrote {monthly.write_report(settings, session, month).name}"


def _retention(settings: Settings, session: Session, _arg: str) -> str:
    return str(retention.purge(settings, session, clock.now()))


def _task(job_id: str) -> tuple[Callable[[Settings, Session, str], str], str]:
    if job_id.startswith(STATUSES):
        return _statuses, job_id.removeprefix(STATUSES)
    return {MONTHLY: _monthly, RETENTION: _retention}[job_id], ""


def fire_time(schedule: str, now: datetime, zone: tzinfo) -> datetime:
    """The fire time a run belongs to, as every daemon computes it: the schedule's last
    fire time at or before now (UTC). A run that starts late (its daemon's executor busy
    with other jobs) belongs to the same fire time as another daemon's punctual run, and
    its claim is refused: not a second run because a minute (a second) had passed."""
    trigger = cron.trigger(schedule, zone)
    span = timedelta(seconds=1)
    while True:  # back twice as far each time: a few steps, whatever the schedule
        fire = trigger.get_next_fire_time(None, now - span)
        if fire is not None and fire <= now:
            while (later := trigger.get_next_fire_time(None, fire + ONE_TICK)) and later <= now:
                fire = later
            return fire.astimezone(UTC)
        if span >= LOOK_BACK:
            return now.replace(microsecond=0)  # a schedule that has not fired for years
        span = min(span * 2, LOOK_BACK)


def run_job(job_id: str, schedule: str) -> None:
    """What the job store calls. Its arguments are plain text, and name no home: with one
    ledger shared by several hosts, each daemon runs a job with its own settings."""
    try:
        run(_running, job_id, schedule)
    except Exception as exc:
        if (lost := unreachable(exc)) is None:
            raise
        _outage.lost(lost)  # once per outage, not a traceback per job
        log.error(
            "job %s did not run to its end: the ledger cannot be reached; it runs at its "
            "next fire time",
            job_id,
            extra={"job": job_id},
        )


def run(settings: Settings, job_id: str, schedule: str) -> None:
    task, argument = _task(job_id)
    with db.session_scope(settings.database_url) as session:
        run_id = jobruns.claim(
            session, job_id, fire_time(schedule, clock.now(), settings.zone), leasing.worker_id()
        )
        if run_id is None:
            log.info("job %s: already run by another daemon", job_id)
            return
        try:
            outcome = f"ok: {task(settings, session, argument)}"
        except Exception as exc:  # reported in `jobs list`; the next run tries again
            session.rollback()
            log.error("job %s failed", job_id, exc_info=unreachable(exc) is None)
            outcome = f"failed: {type(exc).__name__}: {getattr(exc, 'message', exc)}"
        jobruns.finish(session, run_id, outcome)
        log.info("job %s: %s", job_id, outcome, extra={"job": job_id, "outcome": outcome})


def start(settings: Settings) -> BackgroundScheduler:
    """A running scheduler holding exactly the jobs the settings and partners define; the
    list is brought up to date every poll (a partner added, a cron changed)."""
    db.migrate(settings.database_url, create=False)  # the store would make a missing ledger
    # SQLite: the store writes inside transactions that begin by reading; taking the write
    # lock at BEGIN makes a second daemon wait its turn instead of failing at once
    engine = db.engine_for(settings.database_url).execution_options(**{db.IMMEDIATE: True})
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    poll = settings.processing.daemon_poll_seconds
    global _running, _outage
    _running, _outage = settings, Outage(poll)
    scheduler = BackgroundScheduler(
        jobstores={"default": store, LOCAL: MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(4)},
        # a run missed while no daemon was up (the monthly report on the 1st...) is made
        # as soon as one is, once however many were missed
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=settings.zone,
        logger=SchedulerLog(_outage),
    )
    syncing = Sync(scheduler, settings)
    with _alone(engine):
        scheduler.start(paused=True)  # creates the job store's table when it is missing
        syncing()  # a ledger that cannot be reached at start stops the daemon
    scheduler.add_job(syncing.poll, "interval", seconds=poll, jobstore=LOCAL, id="sync")
    scheduler.resume()
    return scheduler


@contextmanager
def _alone(engine: Engine) -> Iterator[None]:
    """Daemons starting together on PostgreSQL would race to create the job store's table
    (and to add the same jobs): they take turns. SQLite's writers take turns already."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(select(func.pg_advisory_lock(STARTING_LOCK)))
        connection.commit()
        try:
            yield
        finally:
            connection.execute(select(func.pg_advisory_unlock(STARTING_LOCK)))
            connection.commit()


class Sync:
    """Brings the scheduler's jobs in line with the ledger: cheaply every poll (the partners
    table and the invoices recorded since), the whole picture every few minutes."""

    def __init__(self, scheduler: BackgroundScheduler, settings: Settings) -> None:
        self.scheduler, self.settings = scheduler, settings
        self.partners: jobruns.Partners | None = None
        self.full_at = 0.0

    def __call__(self) -> None:
        full = self.partners is None or time.monotonic() - self.full_at >= FULL_SYNC_SECONDS
        with db.session_scope(self.settings.database_url, write=False) as session:
            if full or self.partners is None:
                self.partners, self.full_at = jobruns.read_partners(session), time.monotonic()
            else:
                self.partners = jobruns.refresh_partners(session, self.partners)
        if full or self.partners.changed:
            apply(self.scheduler, self.settings, definitions(self.settings, self.partners))

    def poll(self) -> None:
        """Every poll: while the ledger cannot be reached, one line says so (not a traceback
        each time), and one when it is back."""
        try:
            self()
        except Exception as exc:
            if (lost := unreachable(exc)) is None:
                raise
            _outage.lost(lost)
        else:
            _outage.back()


def apply(scheduler: BackgroundScheduler, settings: Settings, jobs: list[JobDefinition]) -> None:
    wanted = {job.id: job for job in jobs}
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id not in wanted:
            job.remove()  # a partner removed, or a job of an older version
            log.info("job %s removed", job.id, extra={"job": job.id})
    for job in wanted.values():
        current = scheduler.get_job(job.id, jobstore="default")
        if current is not None and tuple(current.args) == (job.id, job.cron):
            continue  # keep its next run time: re-adding would reset it
        scheduler.add_job(
            run_job,
            trigger=cron.trigger(job.cron, settings.zone),
            args=[job.id, job.cron],
            id=job.id,
            name=job.description,
            jobstore="default",
            replace_existing=True,
        )
        log.info("job %s scheduled: %s", job.id, job.cron, extra={"job": job.id})


def listing(settings: Settings) -> list[dict[str, object]]:
    """Each job: its schedule, last run, next run and last outcome (`jobs list`)."""
    now = clock.now()
    with db.session_scope(settings.database_url, write=False) as session:
        wanted = definitions(settings, jobruns.read_partners(session))
        last = jobruns.latest(session)
    rows = [_processing(settings)]
    for job in wanted:
        run = last.get(job.id)
        # a fire time already claimed is not the next one, even in its own second
        after = max(now, clock.aware(run.scheduled_for) + ONE_TICK) if run else now
        upcoming = cron.trigger(job.cron, settings.zone).get_next_fire_time(None, after)
        rows.append(
            {
                "job": job.id,
                "description": job.description,
                "schedule": job.cron,
                "last_run": _at_hub(settings, run.started_at if run else None),
                "next_run": _at_hub(settings, upcoming),
                "last_outcome": (run.outcome or "running") if run else None,
            }
        )
    return rows


def _processing(settings: Settings) -> dict[str, object]:
    """Flows are taken continuously, not on a schedule: its last run is the last flow."""
    with db.session_scope(settings.database_url, write=False) as session:
        last = session.execute(
            select(FlowEvent.at, FlowEvent.status).order_by(FlowEvent.id.desc()).limit(1)
        ).first()
    return {
        "job": "process",
        "description": "pick up and process flows",
        "schedule": f"continuous (inotify, full scan every {settings.processing.daemon_poll_seconds:g}s)",
        "last_run": _at_hub(settings, last[0] if last else None),
        "next_run": None,
        "last_outcome": f"ok: last flow {last[1]}" if last else None,
    }


def _at_hub(settings: Settings, moment: datetime | None) -> str | None:
    """Every time of `jobs list` in the hub's zone, ISO 8601 with its offset: a last run
    (stored in UTC) and a next run side by side read alike."""
    if moment is None:
        return None
    return clock.aware(moment).astimezone(settings.zone).isoformat(timespec="seconds")
