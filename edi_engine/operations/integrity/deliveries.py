"""Every accepted invoice has exactly one first delivery.

An invoice the hub accepted gets one pivot at its acceptance, its first delivery:
`PIVOT_<recipient partner>_<flow>_<position in the flow>.xml` (a later delivery, after a
recycling, a completion or a delivery incident, takes the next number of its flow). That
first pivot is recorded once, and once delivered (published into a local partner's folder,
or uploaded) it is made available (03) once: the event names it ("pivot … published to
partner …", or "uploaded"). So, per accepted invoice:
- no first pivot recorded, or one delivered that no 03 names: no first delivery;
- two first pivots recorded (to two partners), or two 03 naming its first pivot: two.
The first pivot is looked for under the invoice's partner and under those its 03 events
name (a recycled invoice's first pivot went to its former recipient). An 03 from a ledger
older than these details names no pivot: an invoice with one is not judged on it.
Invoices are read a page at a time, with their 03 events and their first pivots."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from ...ledger.models import Flow, InvoiceEvent, Output
from ...ledger.models import Invoice as InvoiceRow
from ...ledger.states import InvoiceState
from . import findings as kinds
from .findings import Findings, Problem
from .reading import chunks, pages

MADE_AVAILABLE = InvoiceState.MISE_A_DISPOSITION.code
NAMED = re.compile(r"^pivot (\S+) (?:published|uploaded) to partner (\S+)$")
COLUMNS = (
    InvoiceRow.id,
    InvoiceRow.seq,
    InvoiceRow.number,
    InvoiceRow.recipient_partner,
    Flow.number.label("flow_number"),
    Flow.partner_code,
)


def check(session: Session, found: Findings) -> None:
    accepted = (
        select(*COLUMNS)
        .join(Flow, Flow.id == InvoiceRow.flow_id)
        .where(InvoiceRow.status != InvoiceState.REFUSEE_RECEPTION)
    )
    for page in pages(session, accepted, InvoiceRow.id):
        events = _made_available(session, [row.id for row in page])
        candidates = {row.id: _candidates(row, events.get(row.id, ())) for row in page}
        recorded = _recorded(session, {pair for pairs in candidates.values() for pair in pairs})
        for row in page:
            found.count("invoices")
            problem = _judged(row, events.get(row.id, ()), candidates[row.id], recorded)
            if problem is not None:
                found.add(problem)


def first_pivot(partner: str, flow: str, seq: int) -> str:
    return f"PIVOT_{partner}_{flow}_{seq}.xml"


def _made_available(session: Session, ids: list[int]) -> dict[int, list[str]]:
    """The details of each invoice's 03 events."""
    found: dict[int, list[str]] = defaultdict(list)
    for chunk in chunks(ids):
        query = select(InvoiceEvent.invoice_id, InvoiceEvent.detail).where(
            InvoiceEvent.invoice_id.in_(chunk), InvoiceEvent.status_code == MADE_AVAILABLE
        )
        for invoice_id, detail in session.execute(query):
            found[invoice_id].append(detail or "")
    session.rollback()
    return found


def _named(details: list[str] | tuple[()]) -> list[tuple[str, str]]:
    """(partner, pivot) of each 03 that names the pivot it made available."""
    return [(m.group(2), m.group(1)) for d in details if (m := NAMED.match(d))]


def _candidates(row: Row[Any], details: list[str] | tuple[()]) -> set[tuple[str, str]]:
    """Where its first pivot may be recorded: under its partner, and any its 03 name."""
    pairs = set()
    if row.recipient_partner:
        pairs.add(
            (row.recipient_partner, first_pivot(row.recipient_partner, row.flow_number, row.seq))
        )
    for partner, name in _named(details):
        if name == first_pivot(partner, row.flow_number, row.seq):
            pairs.add((partner, name))
    return pairs


def _recorded(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    """Which of these outputs the ledger records, each with whether it was delivered.
    Asked partner by partner, `file_name IN (…)`: the ledger's unique index on (partner,
    name) answers each name at once, where a row-value `(partner, name) IN (…)` read all
    the outputs on SQLite, once a page (a million flows: hours)."""
    names: dict[str, list[str]] = defaultdict(list)
    for partner, name in sorted(pairs):
        names[partner].append(name)
    found: dict[tuple[str, str], bool] = {}
    for partner, among in names.items():
        for chunk in chunks(among):
            query = select(Output.file_name, Output.delivered_at).where(
                Output.partner_code == partner, Output.file_name.in_(chunk)
            )
            for name, delivered_at in session.execute(query):
                found[(partner, name)] = delivered_at is not None
    session.rollback()
    return found


def _judged(
    row: Row[Any],
    details: list[str] | tuple[()],
    candidates: set[tuple[str, str]],
    recorded: dict[tuple[str, str], bool],
) -> Problem | None:
    named = _named(details)
    legacy = len(details) - len(named)  # an 03 that names no pivot: an older ledger's
    firsts = [
        (partner, name)
        for partner, name in named
        if name == first_pivot(partner, row.flow_number, row.seq)
    ]
    pivots = sorted(pair for pair in candidates if pair in recorded)
    invoice = f"invoice {row.number} (id {row.id}, flow {row.flow_number}, position {row.seq})"
    where = {"flow": row.flow_number, "partner": row.recipient_partner}
    shown = f"invoice {row.id}"
    if len(firsts) > 1:
        message = (
            f"{invoice} was made available (03) {len(firsts)} times by its first pivot "
            f"{firsts[0][1]}: a delivery is told once."
        )
        return Problem(kinds.FIRST_DELIVERY_TWICE, shown, message, _MEND_TWICE, **where)
    if len(pivots) > 1:
        names = ", ".join(f"{partner}/{name}" for partner, name in pivots)
        message = f"{invoice} has {len(pivots)} first pivots recorded: {names}."
        return Problem(kinds.FIRST_DELIVERY_TWICE, shown, message, _MEND_TWICE, **where)
    if legacy:
        return None
    if not pivots:
        expected = first_pivot(row.recipient_partner or "<PARTNER>", row.flow_number, row.seq)
        message = f"{invoice} is accepted, but no first pivot ({expected}) is recorded for it."
        mend = (
            f"`edi-engine flows rerun {row.flow_number} --force` writes the pivots of its "
            "accepted invoices again; find first how the ledger lost the output (a restore?)."
        )
        return Problem(kinds.FIRST_DELIVERY_MISSING, shown, message, mend, **where)
    pivot = pivots[0]
    if recorded[pivot] and not firsts:
        message = (
            f"{invoice}: its first pivot {pivot[0]}/{pivot[1]} was delivered, but no event "
            "records that it was made available (03)."
        )
        mend = (
            "find how the ledger lost the event (a restore?); record it with the time the "
            "pivot was delivered (`flows show` lists its outputs) so that the supplier's status "
            "flows and the accounting report count it."
        )
        return Problem(kinds.FIRST_DELIVERY_MISSING, shown, message, mend, **where)
    return None


_MEND_TWICE = (
    "find which delivery is the real one (`edi-engine invoices show ID` lists its history, "
    "`flows show` its outputs); the supplier and the accounting report count the invoice "
    "twice until the duplicate event or output is removed from the ledger."
)
