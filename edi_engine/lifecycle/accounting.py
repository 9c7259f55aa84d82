"""The accounting report (issue 6, item 3): of the invoices the hub delivered in a period,
how many reached an accounting status (09 MISE_A_DISPOSITION_COMPTABLE or 11
MISE_EN_PAIEMENT), and why each of the others has none.

Why it exists: the accountant (Hélios), or the recipient itself, can only give 09 or 11
to an invoice when its mandate names the invoice's number and the supplier's SIRET, and
one mandate pays one invoice. When invoices stall before payment, the hub has to show
which of those rules the recipients' accounting keeps breaking; the refused statuses kept
in `received_statuses` say it. Everything is counted in the database (one grouped query
and one for the grouped mandates), so that the report stays quick on a ledger of millions
of invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import groupby
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from ..errors import UsageError
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.models import InvoiceEvent, ReceivedStatus
from ..ledger.states import InvoiceState
from .statuses_in import CODES

DELIVERED = InvoiceState.MISE_A_DISPOSITION.code  # 03: the pivot reached the recipient
ACCOUNTING = (
    InvoiceState.MISE_A_DISPOSITION_COMPTABLE.code,  # 09
    InvoiceState.MISE_EN_PAIEMENT.code,  # 11
)
# the refusals of an accounting status that explain its absence (statuses_in's codes)
NUMBER_MISSING = CODES["STATUS_INVOICE_NUMBER_MISSING"].code
SUPPLIER_MISSING = CODES["STATUS_SUPPLIER_MISSING"].code
WITHOUT_SIRET = CODES["STATUS_MANDATE_WITHOUT_SIRET"].code

WITH = "with_accounting_status"
# why an invoice has no accounting status, the first that applies
REASONS = (
    "grouped_mandate",
    "mandate_without_invoice_number",
    "mandate_without_siret",
    "no_mandate_received",
)


@dataclass(frozen=True)
class GroupedMandate:
    mandate: str
    invoices: tuple[str, ...]  # their numbers, sorted


@dataclass(frozen=True)
class AccountingReport:
    start: date | None
    end: date | None
    delivered: int
    with_accounting_status: int
    without: dict[str, int]  # every reason of REASONS, in that order
    grouped_mandates: tuple[GroupedMandate, ...]

    @property
    def share(self) -> float:
        """The fraction delivered that has an accounting status; 0 when none was."""
        return round(self.with_accounting_status / self.delivered, 4) if self.delivered else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The public JSON of `stats accounting --json`; users' scripts rely on its keys."""
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "delivered": self.delivered,
            WITH: self.with_accounting_status,
            "share": self.share,
            "without": dict(self.without),
            "grouped_mandates": [
                {"mandate": g.mandate, "invoices": list(g.invoices)} for g in self.grouped_mandates
            ],
        }


def report(
    session: Session, zone: tzinfo, start: date | None = None, end: date | None = None
) -> AccountingReport:
    """The invoices first delivered (their first 03) from `start` to `end`, both included,
    as dates in the hub's time zone `zone`; a bound left out does not limit the period."""
    if start is not None and end is not None and start > end:
        raise UsageError(f"--from {start.isoformat()} is after --to {end.isoformat()}.")
    delivered = _first_delivered(zone, start, end).cte("delivered")
    reasons = (
        select(_reason().label("reason"))
        .select_from(InvoiceRow)
        .join(delivered, delivered.c.invoice_id == InvoiceRow.id)
        .subquery()
    )
    counts = dict(
        session.execute(select(reasons.c.reason, func.count()).group_by(reasons.c.reason)).all()
    )
    return AccountingReport(
        start=start,
        end=end,
        delivered=sum(counts.values()),
        with_accounting_status=counts.get(WITH, 0),
        without={reason: counts.get(reason, 0) for reason in REASONS},
        grouped_mandates=_grouped(session, delivered),
    )


def _first_delivered(zone: tzinfo, start: date | None, end: date | None) -> Select:
    """The id of each invoice whose first 03 falls in the period. The bounds become the
    UTC instants the hub's days begin, so that the ledger's timestamps are compared as
    they are stored (and their index, if any, can serve)."""
    query = (
        select(InvoiceEvent.invoice_id)
        .where(InvoiceEvent.status_code == DELIVERED)
        .group_by(InvoiceEvent.invoice_id)
    )
    after_end = _day_starts(end, zone, days=1) if end is not None else None
    if after_end is not None:  # a 03 after the period cannot be the first of one in it
        query = query.where(InvoiceEvent.at < after_end)
    begins = _day_starts(start, zone) if start is not None else None
    if begins is not None:
        query = query.having(func.min(InvoiceEvent.at) >= begins)
    return query


def _day_starts(day: date, zone: tzinfo, days: int = 0) -> datetime | None:
    """When `day` (+ `days`) begins at the hub, in UTC; None beyond the calendar's ends,
    where a bound limits nothing."""
    try:
        return datetime.combine(day + timedelta(days=days), time(), tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return None


def _reason() -> ColumnElement[str]:
    """For the invoice of the enclosing query: WITH, or the first reason of REASONS."""
    other = aliased(InvoiceRow)
    accounting_event = select(InvoiceEvent.id).where(
        InvoiceEvent.invoice_id == InvoiceRow.id, InvoiceEvent.status_code.in_(ACCOUNTING)
    )
    grouped = select(other.id).where(other.mandate == InvoiceRow.mandate, other.id != InvoiceRow.id)
    return case(
        (accounting_event.exists(), WITH),
        (grouped.exists(), "grouped_mandate"),
        (_refused(NUMBER_MISSING, ReceivedStatus.mandate == InvoiceRow.mandate).exists(),
         "mandate_without_invoice_number"),
        (or_(
            _refused(WITHOUT_SIRET, ReceivedStatus.invoice_id == InvoiceRow.id).exists(),
            _refused(SUPPLIER_MISSING, ReceivedStatus.mandate == InvoiceRow.mandate).exists(),
        ), "mandate_without_siret"),
        else_="no_mandate_received",
    )  # fmt: skip


def _refused(outcome: str, matches: ColumnElement[bool]) -> Select:
    """A received 09 or 11 refused with `outcome` that concerns the invoice."""
    return select(ReceivedStatus.id).where(
        ReceivedStatus.status_code.in_(ACCOUNTING), ReceivedStatus.outcome == outcome, matches
    )


def _grouped(session: Session, delivered: Any) -> tuple[GroupedMandate, ...]:
    """Each mandate number carried by more than one invoice delivered in the period."""
    shared = _mandated(delivered, InvoiceRow.mandate).group_by(InvoiceRow.mandate)
    shared = shared.having(func.count() > 1)
    carrying = _mandated(delivered, InvoiceRow.mandate, InvoiceRow.number)
    rows = sorted(session.execute(carrying.where(InvoiceRow.mandate.in_(shared))).all())
    return tuple(
        GroupedMandate(mandate, tuple(number for _, number in carried))
        for mandate, carried in groupby(rows, key=lambda row: row[0])
    )


def _mandated(delivered: Any, *columns: Any) -> Select:
    """`columns` of the invoices delivered in the period that carry a mandate number."""
    return (
        select(*columns)
        .join(delivered, delivered.c.invoice_id == InvoiceRow.id)
        .where(InvoiceRow.mandate.is_not(None))
    )
