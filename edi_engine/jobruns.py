"""Runs of scheduled jobs, claimed in the ledger before they start: with several daemons on
one database (or a job that fires again while it still runs), one run per fire time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import clock
from .models import JobRun


def claim(session: Session, job_id: str, scheduled_for: datetime, owner: str) -> int | None:
    """The run's id, or None when another daemon already took this fire time."""
    run = JobRun(job_id=job_id, scheduled_for=scheduled_for, owner=owner, started_at=clock.now())
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return run.id


def finish(session: Session, run_id: int, outcome: str) -> None:
    session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(finished_at=clock.now(), outcome=outcome[:2000])
    )
    session.commit()


def latest(session: Session) -> dict[str, JobRun]:
    """The last run of each job."""
    last = select(func.max(JobRun.id)).group_by(JobRun.job_id)
    return {run.job_id: run for run in session.scalars(select(JobRun).where(JobRun.id.in_(last)))}
