"""The monthly report managers send on: inbound and outbound flows, invoices received,
accepted and rejected, for one calendar month in the hub's time zone, read from the
monthly counters (edi_engine/ledger/counters.py) so that it still adds up once flows are purged."""

from __future__ import annotations

import json
from datetime import date, tzinfo
from pathlib import Path

from sqlalchemy.orm import Session

from connectors import local

from ..ledger import counters
from ..settings import Settings

REPORTS = "reports"


def previous_month(today: date) -> date:
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


def counts(session: Session, month: date, zone: tzinfo) -> dict[str, object]:
    """The month's figures from the monthly counters, which outlive the flows they count
    (`zone`, the hub's, placed each count in its month when it was made)."""
    (row,) = counters.monthly(session, [f"{month:%Y-%m}"])
    return row


def write_report(settings: Settings, session: Session, month: date) -> Path:
    """reports/monthly-YYYY-MM.json in the home; written again, it is replaced."""
    target = settings.home / REPORTS / f"monthly-{month:%Y-%m}.json"
    content = json.dumps(counts(session, month, settings.zone), indent=2) + "\n"
    local.write_atomic(target, content.encode(), settings.processing.fsync)
    return target
