"""Operators process flows again from their archived original, never from the inbox
(issue 7): after an incident, or after fixing the referential. A flow that ended
IN_INTEGRE is taken again only when forced; a re-run keeps the invoices already delivered
and the statuses already applied, and writes its CR again under the same name.

A flow is taken for a re-run by a compare-and-set on its state and attempt (issue 13,
item 7): of two `flows rerun` of one flow started together, or a re-run racing the engine,
one takes it and the other is told the flow was taken meanwhile, and runs nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import clock, controls
from ..errors import RefusedError
from ..ledger import leasing
from ..ledger.models import Flow, FlowEvent
from ..ledger.states import FlowState
from ..reception import archive
from ..settings import Settings
from . import runner

WAITING = (FlowState.IN_RECU, FlowState.IN_EN_COURS_TRAITEMENT)
TAKEN_MEANWHILE = (
    "another process took it meanwhile (a re-run or the engine): it was not re-run twice"
)
ORIGINAL = "its archived original"  # how a refusal about the archived original begins


class NothingToRerun(RefusedError):
    """No flow matches."""


@dataclass
class Rerun:
    number: str
    before: str
    after: str | None = None  # None: not re-run (refused, or a dry run)
    why: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "before": self.before, "after": self.after, "why": self.why}


def select_flows(
    session: Session,
    numbers: tuple[str, ...] = (),
    status: str | None = None,
    since: date | None = None,
    partner: str | None = None,
    zone: Any = None,
) -> list[Flow]:
    if numbers:
        found = {f.number: f for f in session.scalars(select(Flow).where(Flow.number.in_(numbers)))}
        unknown = [n for n in numbers if n not in found]
        if unknown:
            raise NothingToRerun(f"No flow has the number {', '.join(unknown)}.")
        return [found[n] for n in numbers]
    query = select(Flow).where(Flow.status == status).order_by(Flow.id)
    if since is not None:
        start = datetime.combine(since, time(), zone).astimezone(UTC)  # stored in UTC
        query = query.where(Flow.received_at >= start)
    if partner is not None:
        query = query.where(Flow.partner_code == partner)
    return list(session.scalars(query))


def rerun(
    settings: Settings,
    session: Session,
    flows: list[Flow],
    actor: str,
    reason: str | None,
    force: bool = False,
    dry_run: bool = False,
    progress: Any = None,
) -> list[Rerun]:
    """Each flow re-run and committed on its own: one failing does not stop the others."""
    referential = controls.Referential.load(session)
    worker = leasing.worker_id()
    done = []
    for flow in flows:
        outcome = Rerun(flow.number, flow.status)
        outcome.why = _refusal(settings, flow, force)
        if outcome.why is None and not dry_run:
            if not _take(settings, session, flow, worker, actor, reason, force):
                outcome.why = TAKEN_MEANWHILE
                done.append(outcome)
                continue
            report = runner.RunReport()
            runner.process_one(settings, session, flow, referential, worker, report, force)
            session.refresh(flow)
            outcome.after = flow.status
        elif outcome.why is None:
            outcome.why = "would be re-run (dry run)"
        done.append(outcome)
        if progress:
            progress(flow.number)
    return done


def _refusal(settings: Settings, flow: Flow, force: bool) -> str | None:
    original = settings.archive / flow.archive_path
    if not original.is_file():
        return f"{ORIGINAL} {flow.archive_path} is missing: restore it first"
    altered = _altered(original, flow)
    if altered:
        return altered
    if flow.status in WAITING:
        return f"it is {flow.status}: the engine takes it anyway"
    if flow.status == FlowState.IN_INTEGRE and not force:
        return "it ended IN_INTEGRE: use --force to process it again"
    return None


def _altered(original: Path, flow: Flow) -> str | None:
    """Why the archived original is no longer the file received, if it is not: a re-run
    reads only the archive, and would answer (and deliver) bytes the partner never sent.
    The head kept of a file refused for its size (archive.store_head) has no hash of its
    own to compare."""
    if archive.is_head(flow.archive_path):
        return None
    try:
        found = archive.digest(original)
    except OSError as exc:
        return f"{ORIGINAL} {flow.archive_path} cannot be read ({exc.strerror})"
    if found == flow.content_hash:
        return None
    return (
        f"{ORIGINAL} {flow.archive_path} was altered: its SHA-256 is {found}, "
        f"not {flow.content_hash} as received; restore it from a backup of the archive"
    )


def _take(
    settings: Settings,
    session: Session,
    flow: Flow,
    worker: str,
    actor: str,
    reason: str | None,
    force: bool,
) -> bool:
    """Lease the flow for this process, saying who asked and why; False when it is no
    longer in the state and attempt it was chosen in: another process took it first."""
    now = clock.now()
    taken = session.execute(
        update(Flow)
        .where(Flow.id == flow.id, Flow.status == flow.status, Flow.attempts == flow.attempts)
        .values(
            status=FlowState.IN_EN_COURS_TRAITEMENT,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=settings.processing.lease_seconds),
            attempts=Flow.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        session.rollback()
        return False
    forced = " (forced)" if force else ""
    session.add(
        FlowEvent(
            flow_id=flow.id,
            at=now,
            status=FlowState.IN_EN_COURS_TRAITEMENT,
            actor=actor,
            detail=f"{runner.RERUN}{forced}: {reason or 'no reason given'}",
        )
    )
    session.commit()
    session.refresh(flow)
    return True
