"""What operators see of flows: lists and timelines, as plain dicts for JSON and tables.

The JSON keys are public contracts (issue 2): users' scripts read them.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import clock
from ..delivery import outputs
from ..errors import FlowNotFound, UsageError
from ..ledger.models import Flow, FlowError, Output
from ..ledger.states import InvoiceState, Syntax
from ..problems import INFO, REJECT, WARNING
from ..reception.intake import flow_number

# how operators read a finding's severity, in run --once and flows show
SEVERITY_WORDS = {REJECT: "rejected", WARNING: "warning", INFO: "info"}
NUMBER = re.compile(r"^(?:FL)?0*(\d{1,10})$", re.IGNORECASE)


def parse_number(text: str) -> str:
    """A flow number as operators type it: `FL0000000042`, `42`, `0042` or `fl42` are
    all the flow `FL0000000042`."""
    found = NUMBER.match(text.strip())
    if found is None:
        raise UsageError(
            f"{text!r} is not a flow number: FL0000000042, or its digits (42) without the "
            "FL prefix and leading zeros."
        )
    return flow_number(int(found.group(1)))


def _iso(moment: datetime | None) -> str | None:
    return clock.aware(moment).isoformat() if moment else None


def summary(flow: Flow) -> dict[str, Any]:
    """`invoices` and `rejected` keep their meaning for scripts; a status flow's lines are
    statuses, so it says so in `statuses` and `refused` (None for a flow of invoices)."""
    of_statuses = flow.syntax == Syntax.STATUT
    return {
        "number": flow.number,
        "partner": flow.partner_code,
        "file_name": flow.file_name,
        "syntax": flow.syntax,
        "status": flow.status,
        "received_at": _iso(flow.received_at),
        "invoices": flow.invoice_count,
        "rejected": flow.rejected_count,
        "statuses": flow.invoice_count if of_statuses else None,
        "refused": flow.rejected_count if of_statuses else None,
    }


def list_flows(
    session: Session,
    status: str | None = None,
    partner: str | None = None,
    numbers: list[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
    since: date | None = None,
    until: date | None = None,
    zone: tzinfo | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """Flows matching every filter, oldest first (or newest first); `since` and `until`
    bound the day each was received at the hub (`zone`), both days included."""
    if since is not None and until is not None and since > until:
        raise UsageError(f"--since {since.isoformat()} is after --until {until.isoformat()}.")
    query = select(Flow).order_by(Flow.id.desc() if newest_first else Flow.id)
    if since is not None:
        query = query.where(Flow.received_at >= _day_starts(since, zone))
    if until is not None:
        query = query.where(Flow.received_at < _day_starts(until + timedelta(days=1), zone))
    if status:
        query = query.where(Flow.status == status)
    if partner:
        query = query.where(Flow.partner_code == partner)
    if numbers is not None:
        query = query.where(Flow.number.in_(numbers))
    if limit:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return [summary(flow) for flow in session.scalars(query)]


def _day_starts(day: date, zone: tzinfo | None) -> datetime:
    """When `day` begins at the hub, in UTC as the ledger stores it."""
    return datetime.combine(day, time(), zone or UTC).astimezone(UTC)


def attempt_of(flow: Flow) -> int:
    """The flow's last attempt (the first while it was never answered), from its outputs,
    which every caller loads with it: `outputs.answers` counts the same in the ledger."""
    return max(1, sum(output.kind == outputs.CR for output in flow.outputs))


def found(flow: Flow, attempt: int) -> list[FlowError]:
    """What an attempt of the flow found: its CR's lines."""
    return [error for error in flow.errors if error.attempt == attempt]


def outcomes(session: Session, numbers: list[str]) -> dict[str, dict[str, Any]]:
    """The files each flow produced and what its last attempt found: `why` (one line per
    severity) and how many `rejections`, `warnings` and `infos`. Read as plain rows, a
    few hundred flows at a time, keeping only the first finding of each severity: a flow
    of 100,000 invoices loaded as objects took 66 MB for this report."""
    each: dict[str, dict[str, Any]] = {}
    for start in range(0, len(numbers), OUTCOMES_AT_ONCE):
        chunk = numbers[start : start + OUTCOMES_AT_ONCE]
        ids = dict(
            session.execute(select(Flow.id, Flow.number).where(Flow.number.in_(chunk))).all()
        )
        each.update(_outcomes(session, ids))
    return each


OUTCOMES_AT_ONCE = 500  # flows whose outcomes are read together


def _outcomes(session: Session, numbers: dict[int, str]) -> dict[str, dict[str, Any]]:
    files: dict[int, list[str]] = {flow_id: [] for flow_id in numbers}
    answers: Counter[int] = Counter()
    written = select(Output.flow_id, Output.file_name, Output.kind)
    for flow_id, name, kind in session.execute(
        written.where(Output.flow_id.in_(numbers)).order_by(Output.id)
    ):
        files[flow_id].append(name)
        answers[flow_id] += kind == outputs.CR
    counted: Counter[tuple[int, str]] = Counter()
    first: dict[tuple[int, str], tuple[str, str]] = {}
    lines = select(
        FlowError.flow_id, FlowError.attempt, FlowError.severity, FlowError.code, FlowError.message
    )
    for flow_id, attempt, severity, code, message in session.execute(
        lines.where(FlowError.flow_id.in_(numbers)).order_by(FlowError.id)
    ):
        if attempt == max(1, answers[flow_id]):  # the last attempt's (attempt_of)
            counted[flow_id, severity] += 1
            first.setdefault((flow_id, severity), (code, message))
    each = {}
    for flow_id, number in numbers.items():
        # one line per severity found, rejections first, each labelled by what it is and
        # naming its first finding: a warning is never hidden behind an informational line
        lines_of = []
        for severity, word in SEVERITY_WORDS.items():
            if (flow_id, severity) in first:
                code, message = first[flow_id, severity]
                more = counted[flow_id, severity] - 1
                lines_of.append(f"{word} {code}{f' (+{more} more)' if more else ''}: {message}")
        each[number] = {
            "outputs": files[flow_id],
            "why": "\n".join(lines_of) or None,
            **{
                key: counted[flow_id, severity]
                for key, severity in (
                    ("rejections", REJECT),
                    ("warnings", WARNING),
                    ("infos", INFO),
                )
            },
        }
    return each


def show_flow(session: Session, number: str) -> dict[str, Any]:
    query = (
        select(Flow)
        .where(Flow.number == number)
        .options(
            selectinload(Flow.events),
            selectinload(Flow.errors),
            selectinload(Flow.invoices),
            selectinload(Flow.outputs),
        )
    )
    flow = session.scalars(query).first()
    if flow is None:
        raise FlowNotFound(
            f"No flow has the number {number!r}; `edi-engine flows list` shows them."
        )
    detail = summary(flow)
    detail["duplicate_of"] = flow.duplicate_of
    detail["producer_flow_id"] = flow.producer_flow_id  # its IdFlx, echoed in its CR
    detail["size"] = flow.size
    detail["sha256"] = flow.content_hash
    detail["events"] = [
        {"at": _iso(e.at), "status": e.status, "actor": e.actor, "detail": e.detail}
        for e in flow.events
    ]
    last = attempt_of(flow)
    detail["errors"] = [_error(e) for e in found(flow, last)]
    detail["invoice_list"] = [
        {
            "id": i.id,
            "number": i.number,
            "supplier": i.supplier_id,
            "recipient": i.recipient_siret,
            "status": i.status,
            "status_code": i.status_code or None,
            "in_lifecycle": InvoiceState(i.status).in_lifecycle,
            "pivot_file": i.pivot_file,
            "attempt": i.attempt,
        }
        for i in flow.invoices
    ]
    detail["attempts"] = attempts(flow, last)
    detail["outputs"] = [
        {
            "kind": o.kind,
            "partner": o.partner_code,
            "file_name": o.file_name,
            "written_at": _iso(o.written_at),
            "delivered_at": _iso(o.delivered_at),
            "delivery_error": o.delivery_error,
        }
        for o in flow.outputs
    ]
    return detail


def _error(e: FlowError) -> dict[str, Any]:
    return {
        "code": e.code,
        "severity": e.severity,
        "message": e.message,
        "message_fr": e.message_fr,
        "line": e.line,
        "path": e.path,
        "element": e.element,
        "value": e.value,
        "document": e.document,
        "invoice": e.invoice_seq,
    }


def attempts(flow: Flow, last: int) -> list[dict[str, Any]]:
    """Each attempt up to `last`, oldest first: its CR (the last attempt's under the flow's
    CR name, each earlier one's as CR_<P>_<FLOW>_<N>.xml) and what it found."""
    crs = {o.file_name: o for o in flow.outputs if o.kind == outputs.CR}
    each = []
    for n in range(1, last + 1):
        name = outputs.file_name(
            outputs.CR, flow.partner_code, flow.number, n if n < last else None
        )
        cr = crs.get(name)
        each.append(
            {
                "attempt": n,
                "cr": cr.file_name if cr else None,
                "written_at": _iso(cr.written_at) if cr else None,
                "errors": [_error(e) for e in found(flow, n)],
            }
        )
    return each
