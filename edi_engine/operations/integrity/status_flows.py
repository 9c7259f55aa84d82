"""Each supplier's status flows are numbered 1, 2, 3… with no gap and no number twice,
and each one numbered is written.

A status flow's number is its file's name (`STATUT_<PARTNER>_<n>.xml`): a supplier's
software reads them in order and notices one missing. The retention removes old status
flows (never a partner's last one), so a gap is explained when a purge may have removed
it: one whose cutoff is after the status flow before the gap was made (`purges`). A
status flow numbered and not written is the first step of an emission that stopped: the
next emission writes it, so it is a problem only once older than
`processing.lease_seconds`. The status flows are read in order, a page at a time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ... import clock
from ...ledger.models import StatusFlow
from ...settings import Settings
from . import findings as kinds
from .findings import Findings, Problem
from .purges import Purges

PAGE = 1000
EMIT = (
    "run `edi-engine statuses emit --partner {partner}`: it writes the status flows "
    "numbered and not yet written."
)


def check(settings: Settings, session: Session, found: Findings, purges: Purges) -> None:
    quiet = clock.now() - timedelta(seconds=settings.processing.lease_seconds)
    previous = None  # (partner, sequence, created_at) of the row before
    last = None
    while True:
        query = select(
            StatusFlow.id,
            StatusFlow.partner_code,
            StatusFlow.sequence,
            StatusFlow.created_at,
            StatusFlow.written_at,
        ).order_by(StatusFlow.partner_code, StatusFlow.sequence, StatusFlow.id)
        if last is not None:  # a row value: the index seeks it (an OR of terms read all)
            query = query.where(
                tuple_(StatusFlow.partner_code, StatusFlow.sequence, StatusFlow.id) > tuple_(*last)
            )
        rows = session.execute(query.limit(PAGE)).all()
        session.rollback()
        if not rows:
            return
        for row in rows:
            found.count("status_flows")
            same = previous is not None and previous[0] == row.partner_code
            _sequence(found, row, previous if same else None, purges)
            if row.written_at is None and clock.aware(row.created_at) < quiet:
                name = f"STATUT_{row.partner_code}_{row.sequence}.xml"
                message = (
                    f"status flow {row.sequence} of partner {row.partner_code} ({name}) was "
                    f"numbered at {clock.aware(row.created_at):%Y-%m-%d %H:%M:%S} UTC with its "
                    "changes, and never written: the partner has not been told them."
                )
                mend = EMIT.format(partner=row.partner_code)
                found.add(
                    Problem(
                        kinds.STATUS_FLOW_UNWRITTEN, name, message, mend, partner=row.partner_code
                    )
                )
            previous = (row.partner_code, row.sequence, row.created_at)
        last = (rows[-1].partner_code, rows[-1].sequence, rows[-1].id)


def _sequence(found: Findings, row, previous, purges: Purges) -> None:
    partner, sequence = row.partner_code, row.sequence
    where = f"partner {partner}"
    if previous is not None and sequence == previous[1]:
        message = f"status flow number {sequence} of partner {partner} was given twice."
        mend = (
            "keep the one whose file the partner received (`STATUT_…` in its outbox, its "
            "written_at) and number the other after the partner's last: two files under one "
            "name overwrite each other."
        )
        found.add(Problem(kinds.STATUS_SEQUENCE_DUPLICATE, where, message, mend, partner=partner))
        return
    if previous is None:
        expected, after = 1, None
    else:
        expected, after = previous[1] + 1, previous[2]
    if sequence <= expected:
        return
    # a purge removes status flows made before its cutoff: one made after the one before
    # the gap may have gone only if that one is older than a cutoff
    explained = purges.explains(after) if after is not None else purges.cutoff is not None
    if explained:
        return
    missing = f"{expected}" if sequence == expected + 1 else f"{expected} to {sequence - 1}"
    message = (
        f"the status flows of partner {partner} jump from {expected - 1} to {sequence}: "
        f"number {missing} is not in the ledger, and no purge can have removed it."
    )
    mend = (
        f"find what removed the row (a restore of an older ledger?); the partner's software "
        f"waits for STATUT_{partner}_{expected}.xml, so tell the partner, or restore the row "
        "and its file from a backup."
    )
    found.add(Problem(kinds.STATUS_SEQUENCE_GAP, where, message, mend, partner=partner))
