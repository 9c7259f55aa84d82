"""What the retention policy may have removed, read from what it records: each run of the
nightly job (`retention`) and each operator's `purge` leaves a line in `job_runs`, "ok:
purged N flow(s), M invoice(s) and K file(s) from before YYYY-MM-DD" (retention.Purged).
Nothing more is kept of what went, so the checks that a purge could explain (a status
flow sequence that starts past 1, a month whose figures outlived its flows) ask this
module whether one could have, and stay silent where it could."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ... import clock
from ...ledger.models import JobRun
from ...settings import Settings
from .. import retention

JOBS = ("retention", retention.JOB_ID)  # the nightly job's id, and an operator's purge
DONE = re.compile(
    r"^ok: purged (\d+) flow\(s\), (\d+) invoice\(s\) and (\d+) file\(s\) "
    r"from before (\d{4})-(\d{2})-(\d{2})$"
)


@dataclass(frozen=True)
class Purges:
    """`cutoff`: the latest moment before which a purge may have removed something (None:
    no purge ever ran); `removed`: whether one may have removed anything at all (a run
    that purged nothing says so; one that failed or is still running may have); `last_run`:
    when the last purge started, of those since the first that may have removed anything."""

    cutoff: datetime | None = None
    removed: bool = False
    last_run: datetime | None = None

    def explains(self, moment: datetime) -> bool:
        """Whether something made after `moment` may have been purged since."""
        return self.cutoff is not None and clock.aware(moment) < self.cutoff


def read(settings: Settings, session: Session) -> Purges:
    """Every purge run the ledger recorded (a few per day at most)."""
    runs = session.execute(
        select(JobRun.started_at, JobRun.outcome)
        .where(JobRun.job_id.in_(JOBS))
        .order_by(JobRun.started_at)
    ).all()
    session.rollback()
    cutoff, removed, last_run = None, False, None
    for started_at, outcome in runs:
        started = clock.aware(started_at)
        found = DONE.match(outcome or "")
        if found is not None:
            # the cutoff is shown as its day: the moment itself is before the next one
            day = datetime(*(int(g) for g in found.groups()[3:]), tzinfo=UTC).date()
            moment = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
            took = any(int(n) for n in found.groups()[:3])
        else:  # failed, still running, or a crash: it may have removed anything it reached
            moment = retention.cutoff(started, settings.retention.months)
            took = True
        cutoff = moment if cutoff is None else max(cutoff, moment)
        # status flows go with the last invoice they told of: a run that purged no flow
        # may remove some once an earlier one purged their invoices
        removed = removed or took
        if removed:
            last_run = started
    return Purges(cutoff, removed, last_run)
