"""The monthly report managers send on: inbound and outbound flows, invoices received,
accepted and rejected, for one calendar month in the hub's time zone."""

from __future__ import annotations

import json
from datetime import date, datetime, tzinfo
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors import local

from .models import Flow, Invoice, Output
from .settings import Settings

REPORTS = "reports"


def bounds(month: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, at the hub."""
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, datetime(following.year, following.month, 1, tzinfo=zone)


def previous_month(today: date) -> date:
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


def counts(session: Session, month: date, zone: tzinfo) -> dict[str, object]:
    start, end = bounds(month, zone)
    received = Flow.received_at >= start, Flow.received_at < end
    invoices = select(func.count(Invoice.id), func.count(Invoice.pivot_file)).join(
        Flow, Flow.id == Invoice.flow_id
    )
    total, accepted = session.execute(invoices.where(*received)).one()
    return {
        "month": f"{month:%Y-%m}",
        "inbound_flows": session.scalar(select(func.count(Flow.id)).where(*received)),
        "outbound_flows": session.scalar(
            select(func.count(Output.id)).where(Output.written_at >= start, Output.written_at < end)
        ),
        "invoices_received": total,
        "invoices_accepted": accepted,
        "invoices_rejected": total - accepted,
    }


def write_report(settings: Settings, session: Session, month: date) -> Path:
    """reports/monthly-YYYY-MM.json in the home; written again, it is replaced."""
    target = settings.home / REPORTS / f"monthly-{month:%Y-%m}.json"
    content = json.dumps(counts(session, month, settings.zone), indent=2) + "\n"
    local.write_atomic(target, content.encode(), settings.processing.fsync)
    return target
