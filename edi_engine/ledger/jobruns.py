"""Runs of scheduled jobs, claimed in the ledger before they start: with several daemons on
one database (or a job that fires again while it still runs), one run per fire time; and
which partners have a status flow job, read cheaply enough for every daemon poll."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import func, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from .models import Flow, Invoice, JobRun, Partner, Structure


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


@dataclass(frozen=True)
class Partners:
    """What decides the status flow jobs: each partner's own cron, the partners serving a
    structure (its recipient or its accountant) and those that deposited invoices."""

    crons: dict[str, str | None]
    serving: frozenset[str]
    depositors: frozenset[str]
    invoice_mark: int = 0  # the last invoice id looked at for new depositors
    changed: bool = field(default=True, compare=False)

    def status_partners(self) -> list[str]:
        """Partners that may get a status flow. statuses_out.emit writes one to a partner
        that deposited invoices; one that only serves structures never deposited any, and
        never gets one; a partner that has done neither yet may still deposit."""
        return sorted(c for c in self.crons if c not in self.serving or c in self.depositors)


def read_partners(session: Session) -> Partners:
    """The whole picture (`jobs list`, a daemon's start, and every few minutes)."""
    crons = dict(session.execute(select(Partner.code, Partner.status_cron)).all())
    serving = frozenset(
        session.scalars(
            union(
                select(Structure.partner_code),
                select(Structure.accountant_partner).where(
                    Structure.accountant_partner.is_not(None)
                ),
            )
        )
    )
    mark = session.scalar(select(func.max(Invoice.id))) or 0
    # only a serving partner needs the question: the others have their job anyway
    depositors = frozenset(code for code in serving if _deposited(session, code))
    return Partners(crons, serving, depositors, mark)


def refresh_partners(session: Session, known: Partners) -> Partners:
    """What changed since ``known``, in a few indexed queries (every daemon poll): the
    partners table (small) and the invoices recorded since; ``changed`` says whether the
    jobs need another look. Structures newly served are seen by the next read_partners."""
    crons = dict(session.execute(select(Partner.code, Partner.status_cron)).all())
    if crons.keys() != known.crons.keys():
        return read_partners(session)  # a partner added or removed
    mark = session.scalar(select(func.max(Invoice.id))) or 0
    new = frozenset()
    if mark > known.invoice_mark:
        new = frozenset(
            session.scalars(
                select(Flow.partner_code)
                .join(Invoice, Invoice.flow_id == Flow.id)
                .where(Invoice.id > known.invoice_mark)
                .distinct()
            )
        )
    depositors = known.depositors | (new & known.serving)
    changed = crons != known.crons or depositors != known.depositors
    return replace(known, crons=crons, depositors=depositors, invoice_mark=mark, changed=changed)


def _deposited(session: Session, partner: str) -> bool:
    """Whether one of the partner's flows carries invoices (statuses_out's supplier side)."""
    carries = select(Invoice.id).where(Invoice.flow_id == Flow.id).exists()
    query = select(Flow.id).where(Flow.partner_code == partner, carries).limit(1)
    return session.scalar(query) is not None
