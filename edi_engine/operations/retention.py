"""The retention policy: flows received more than `[retention] months` ago go, with their
invoices, archived originals and output files. Rows are deleted and committed first, files
after: a crash in between leaves files nobody needs, never a ledger row without its file.
An archived original is removed only when no flow refers to it, checked under the
archive's guard (edi_engine/reception/originals.py): a new file with the same bytes, received while
a purge runs, keeps the original its flow refers to.

The nightly job (jobs/schedule.py) and `edi-engine purge` apply it; a dry run counts what
would go without changing anything, and an operator's purge leaves its audit line in
`job_runs` as the nightly job does."""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from .. import clock, display
from ..ledger import jobruns
from ..ledger.db import LedgerError
from ..ledger.models import (
    Flow,
    FlowError,
    FlowEvent,
    Invoice,
    InvoiceEvent,
    InvoiceFinding,
    Output,
    PendingSource,
    ReceivedStatus,
    StatusFlow,
)
from ..reception import originals
from ..settings import Settings

BATCH = 500  # flows per transaction
JOB_ID = "purge"  # an operator's purge in `job_runs`, beside the nightly job's `retention`

log = logging.getLogger(__name__)


@dataclass
class Purged:
    before: datetime
    flows: int = 0
    invoices: int = 0
    files: int = 0
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        return (
            f"{verb} {self.flows} flow(s), {self.invoices} invoice(s) and {self.files} file(s) "
            f"from before {self.before:%Y-%m-%d}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "cutoff": self.before.isoformat(),
            "flows": self.flows,
            "invoices": self.invoices,
            "files": self.files,
        }


def cutoff(now: datetime, months: int) -> datetime:
    """The same day and time, `months` earlier (the last day of a shorter month)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    day = now.day
    while True:
        try:
            return now.replace(year=year, month=month + 1, day=day)
        except ValueError:
            day -= 1


def purge(settings: Settings, session: Session, now: datetime, dry_run: bool = False) -> Purged:
    """Apply the policy, or with `dry_run` only count what it would purge (the files that
    are there to remove), reading the ledger and the folders without changing either."""
    if dry_run:
        return _count(settings, session, cutoff(now, settings.retention.months))
    done = Purged(cutoff(now, settings.retention.months))
    while ids := list(session.scalars(_old_flows(done.before).order_by(Flow.id).limit(BATCH))):
        files, paths = _delete_flows(settings, session, ids, done)
        session.commit()
        try:  # the originals first: the ledger no longer names them, nothing else will
            done.files += _unlink_originals(settings, session, paths)
        finally:
            done.files += _unlink(files)
    files = _delete_status_flows(settings, session, done.before)
    session.commit()
    done.files += _unlink(files)
    return done


def by_operator(settings: Settings, session: Session, owner: str, dry_run: bool = False) -> Purged:
    """`edi-engine purge`: the policy applied now. A real purge is recorded in `job_runs`
    (job `purge`, the operator as owner, its outcome line) like each nightly run, and the
    line stays whether the purge succeeds or fails; a dry run records nothing."""
    now = clock.now()
    if dry_run:
        return purge(settings, session, now, dry_run=True)
    run_id = None
    for step in range(1000):  # two purges asked in the same microsecond are two runs
        run_id = jobruns.claim(session, JOB_ID, now + timedelta(microseconds=step), owner)
        if run_id is not None:
            break
    else:
        raise LedgerError(f"Cannot record the purge in job_runs at {now.isoformat()}.")
    try:
        done = purge(settings, session, now)
    except Exception as exc:
        session.rollback()
        jobruns.finish(
            session, run_id, f"failed: {type(exc).__name__}: {getattr(exc, 'message', exc)}"
        )
        raise
    jobruns.finish(session, run_id, f"ok: {done}")
    return done


def _count(settings: Settings, session: Session, before: datetime) -> Purged:
    """What `purge` would remove: rows counted in the ledger, files that exist."""
    old = _old_flows(before)
    counted = Purged(before, dry_run=True)
    counted.flows = session.scalar(select(func.count()).select_from(old.subquery())) or 0
    counted.invoices = (
        session.scalar(select(func.count(Invoice.id)).where(Invoice.flow_id.in_(old))) or 0
    )
    outputs = select(Output.partner_code, Output.file_name).where(Output.flow_id.in_(old))
    for partner, name in session.execute(outputs):
        counted.files += _removable(settings.outbox / partner / name)
    # duplicates share their original: it goes when no flow that stays keeps it
    kept = select(Flow.archive_path).where(Flow.id.not_in(old))
    originals = (
        select(Flow.archive_path).where(Flow.id.in_(old), Flow.archive_path.not_in(kept)).distinct()
    )
    for path in session.scalars(originals):
        counted.files += _removable(settings.archive / path)
    statuses = select(StatusFlow.partner_code, StatusFlow.file_name).where(
        _old_status_flows(before)
    )
    for partner, name in session.execute(statuses):
        counted.files += _removable(settings.outbox / partner / name)
    return counted


def _old_flows(before: datetime) -> Select:
    """Flows received before the cutoff whose invoices have not moved since: an invoice
    still on its road (a status this month, a change not yet told) keeps its flow."""
    moved = (
        select(Invoice.id).where(Invoice.flow_id == Flow.id, Invoice.status_date >= before).exists()
    )
    return select(Flow.id).where(Flow.received_at < before, ~moved)


def _old_status_flows(before: datetime) -> ColumnElement[bool]:
    """Status flows whose every change is gone with its invoice (or goes now), except each
    partner's last one: the next keeps counting from it, never reusing a name."""
    going = _old_flows(before)
    still_used = (
        select(InvoiceEvent.emitted_in)
        .join(Invoice, Invoice.id == InvoiceEvent.invoice_id)
        .where(InvoiceEvent.emitted_in.is_not(None), Invoice.flow_id.not_in(going))
    )
    last = select(func.max(StatusFlow.id)).group_by(StatusFlow.partner_code)
    return and_(
        StatusFlow.created_at < before,
        StatusFlow.id.not_in(still_used),
        StatusFlow.id.not_in(last),
    )


def _delete_flows(
    settings: Settings, session: Session, ids: list[int], done: Purged
) -> tuple[list[Path], set[str]]:
    """Delete the flows' rows; their output files, and the archive paths they referred to."""
    flows = list(session.scalars(select(Flow).where(Flow.id.in_(ids))))
    invoices = select(Invoice.id).where(Invoice.flow_id.in_(ids))
    done.invoices += len(session.scalars(invoices).all())
    outputs = list(session.scalars(select(Output).where(Output.flow_id.in_(ids))))
    for table, column in (
        (InvoiceFinding, InvoiceFinding.invoice_id),
        (InvoiceEvent, InvoiceEvent.invoice_id),
    ):
        session.execute(delete(table).where(column.in_(invoices)))
    session.execute(
        delete(ReceivedStatus).where(
            or_(ReceivedStatus.flow_id.in_(ids), ReceivedStatus.invoice_id.in_(invoices))
        )
    )
    for table, column in (
        (Invoice, Invoice.flow_id),
        (FlowError, FlowError.flow_id),
        (FlowEvent, FlowEvent.flow_id),
        (Output, Output.flow_id),
        (PendingSource, PendingSource.flow_id),
    ):
        session.execute(delete(table).where(column.in_(ids)))
    session.execute(delete(Flow).where(Flow.id.in_(ids)))
    done.flows += len(flows)
    files = [settings.outbox / o.partner_code / o.file_name for o in outputs]
    return files, {f.archive_path for f in flows}


def _unlink_originals(settings: Settings, session: Session, paths: set[str]) -> int:
    """Remove the archived originals no flow refers to once the purged rows are committed:
    duplicates of a content share one, which goes with the last of them, and a flow
    recorded meanwhile with the same bytes keeps it. Checked and removed under the
    archive's guard, which the intake holds from archiving to committing."""
    with originals.guard(settings, session):
        gone = originals.unreferenced(session, paths)
        removed = _unlink([settings.archive / path for path in sorted(gone)])
        session.commit()
    return removed


def _delete_status_flows(settings: Settings, session: Session, before: datetime) -> list[Path]:
    """Status flows to suppliers whose every change is gone with its invoice."""
    old = list(session.scalars(select(StatusFlow).where(_old_status_flows(before))))
    names = [(s.partner_code, s.file_name) for s in old]
    for partner, name in names:
        session.execute(
            delete(Output).where(Output.partner_code == partner, Output.file_name == name)
        )
    session.execute(delete(StatusFlow).where(StatusFlow.id.in_([s.id for s in old])))
    return [settings.outbox / partner / name for partner, name in names]


def _unlink(files: list[Path]) -> int:
    """Remove the files the purged rows named. A partner owns its outbox folder and may
    leave anything under an old output's name: only a regular file or a link (the link
    itself, never what it points to) is removed; a folder, a pipe or a device is left
    where it is with one WARNING, and a file that cannot be removed is logged and the
    rest go on, since the rows are committed already: stopping here would orphan the
    files after it."""
    removed = 0
    for path in files:
        try:
            mode = path.lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                log.warning(
                    "purge: %s is not a file the engine wrote (%s): left where it is",
                    display.escaped(path),
                    _kind(mode),
                )
                continue
            path.unlink()  # a folder swapped in since the lstat fails here, never emptied
            removed += 1
        except FileNotFoundError:
            pass  # already delivered and removed by the partner, or purged by a crashed run
        except OSError as exc:
            log.warning("purge: cannot remove %s: %s", display.escaped(path), exc.strerror)
    return removed


def _removable(path: Path) -> bool:
    """What `_unlink` would remove: a regular file or a link, as it is."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"
