"""What operators see of flows: lists and timelines, as plain dicts for JSON and tables.

The JSON keys are public contracts (issue 2): users' scripts read them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from . import clock
from .errors import FlowNotFound
from .models import Flow
from .problems import REJECT


def _iso(moment: datetime | None) -> str | None:
    return clock.aware(moment).isoformat() if moment else None


def summary(flow: Flow) -> dict[str, Any]:
    return {
        "number": flow.number,
        "partner": flow.partner_code,
        "file_name": flow.file_name,
        "syntax": flow.syntax,
        "status": flow.status,
        "received_at": _iso(flow.received_at),
        "invoices": flow.invoice_count,
        "rejected": flow.rejected_count,
    }


def list_flows(
    session: Session,
    status: str | None = None,
    partner: str | None = None,
    numbers: list[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = select(Flow).order_by(Flow.id)
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


def outcomes(session: Session, numbers: list[str]) -> dict[str, dict[str, Any]]:
    """The files each flow produced and, when something was refused, the first reason."""
    query = (
        select(Flow)
        .where(Flow.number.in_(numbers))
        .options(selectinload(Flow.outputs), selectinload(Flow.errors))
    )
    found = {}
    for flow in session.scalars(query):
        why = None
        if flow.errors:
            # a rejection says more than a warning about what happened to the flow
            first = min(flow.errors, key=lambda e: e.severity != REJECT)
            more = f" (+{len(flow.errors) - 1} more)" if len(flow.errors) > 1 else ""
            label = "" if first.severity == REJECT else "warning "
            why = f"{label}{first.code}: {first.message}{more}"
        found[flow.number] = {"outputs": [o.file_name for o in flow.outputs], "why": why}
    return found


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
    detail["size"] = flow.size
    detail["sha256"] = flow.content_hash
    detail["events"] = [
        {"at": _iso(e.at), "status": e.status, "actor": e.actor, "detail": e.detail}
        for e in flow.events
    ]
    detail["errors"] = [
        {
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
        for e in flow.errors
    ]
    detail["invoice_list"] = [
        {
            "id": i.id,
            "number": i.number,
            "supplier": i.supplier_id,
            "recipient": i.recipient_siret,
            "status": i.status,
            "status_code": i.status_code,
            "pivot_file": i.pivot_file,
        }
        for i in flow.invoices
    ]
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
