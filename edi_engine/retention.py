"""The retention policy: flows received more than `[retention] months` ago go, with their
invoices, archived originals and output files. Rows are deleted and committed first, files
after: a crash in between leaves files nobody needs, never a ledger row without its file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from .models import (
    Flow,
    FlowError,
    FlowEvent,
    Invoice,
    InvoiceEvent,
    InvoiceFinding,
    Output,
    ReceivedStatus,
    StatusFlow,
)
from .settings import Settings

BATCH = 500  # flows per transaction


@dataclass
class Purged:
    before: datetime
    flows: int = 0
    invoices: int = 0
    files: int = 0

    def __str__(self) -> str:
        return (
            f"purged {self.flows} flow(s), {self.invoices} invoice(s) and {self.files} file(s) "
            f"from before {self.before:%Y-%m-%d}"
        )


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


def purge(settings: Settings, session: Session, now: datetime) -> Purged:
    done = Purged(cutoff(now, settings.retention.months))
    while ids := list(
        session.scalars(select(Flow.id).where(Flow.received_at < done.before).limit(BATCH))
    ):
        files = _delete_flows(settings, session, ids, done)
        session.commit()
        done.files += _unlink(files)
    files = _delete_status_flows(settings, session, done.before)
    session.commit()
    done.files += _unlink(files)
    return done


def _delete_flows(settings: Settings, session: Session, ids: list[int], done: Purged) -> list[Path]:
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
    ):
        session.execute(delete(table).where(column.in_(ids)))
    session.execute(delete(Flow).where(Flow.id.in_(ids)))
    done.flows += len(flows)
    files = [settings.outbox / o.partner_code / o.file_name for o in outputs]
    # duplicates of a content share its archived original: it goes with the last of them
    paths = {f.archive_path for f in flows}
    kept = set(session.scalars(select(Flow.archive_path).where(Flow.archive_path.in_(paths))))
    files += [settings.archive / path for path in paths - kept]
    return files


def _delete_status_flows(settings: Settings, session: Session, before: datetime) -> list[Path]:
    """Status flows to suppliers whose every change is gone with its invoice."""
    still_used = select(InvoiceEvent.emitted_in).where(InvoiceEvent.emitted_in.is_not(None))
    old = list(
        session.scalars(
            select(StatusFlow).where(
                StatusFlow.created_at < before, StatusFlow.id.not_in(still_used)
            )
        )
    )
    names = [(s.partner_code, s.file_name) for s in old]
    for partner, name in names:
        session.execute(
            delete(Output).where(Output.partner_code == partner, Output.file_name == name)
        )
    session.execute(delete(StatusFlow).where(StatusFlow.id.in_([s.id for s in old])))
    return [settings.outbox / partner / name for partner, name in names]


def _unlink(files: list[Path]) -> int:
    removed = 0
    for path in files:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass  # already delivered and removed by the partner, or purged by a crashed run
    return removed
