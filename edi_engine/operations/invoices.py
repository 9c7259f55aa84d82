"""Invoices for operators: find them, see every decision about them, change their status,
recycle one sent back for its routing data (issue 5,
docs/architecture.md#the-invoice-lifecycle, docs/architecture.md#business-controls)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session, selectinload

from pivot_format.errors import ConversionError

from .. import clock, controls
from ..controls.visibility import visible
from ..errors import RefusedError, UsageError
from ..ledger.models import Flow, InvoiceEvent, InvoiceFinding, Output
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.states import LIFECYCLE, InvoiceState
from ..lifecycle import statuses_in
from ..lifecycle.transitions import REASON_REQUIRED, operator_refusal
from ..problems import REJECT
from ..processing import redelivery
from ..processing.recording import finding_row
from ..settings import Settings

DEFAULT_LIMIT = 50
# statuses an operator cannot record without the mandate number (IdMandatDP) they carry
NEEDS_MANDATE = frozenset({InvoiceState.MANDATEE})


def parse_status(text: str) -> InvoiceState:
    """A status as operators write it: its name (SERVICE_FAIT, any case) or its two-digit
    IdStatut (07, or 7)."""
    word = text.strip()
    if word.isdigit() and 1 <= int(word) <= len(LIFECYCLE):
        return LIFECYCLE[int(word) - 1]
    if word.upper() == InvoiceState.REFUSEE_RECEPTION:
        raise UsageError(
            f"{InvoiceState.REFUSEE_RECEPTION.value} is not a status of the lifecycle: the hub "
            "records it when it refuses an invoice at reception, and nothing can set it."
        )
    try:
        return InvoiceState(word.upper())
    except ValueError:
        known = ", ".join(named(s) for s in LIFECYCLE)
        raise UsageError(f"{text!r} is not an invoice status; one of {known}.") from None


def named(status: InvoiceState) -> str:
    """`08 MANDATEE`: how operators and the CR speak of a status."""
    return f"{status.code} {status.value}"


class InvoiceNotFound(RefusedError):
    """No invoice has this id."""


class StatusRefused(RefusedError):
    """This status change is not allowed."""


class RedeliveryRefused(RefusedError):
    """The invoice has no delivery incident to deliver it again for."""


class RecyclingRefused(RefusedError):
    """The invoice cannot be recycled this way; it stays A_RECYCLER."""


def operator() -> str:
    """Who acts from the CLI, as the history records it: $USER, as operators know it."""
    return f"operator:{os.environ.get('USER') or getpass.getuser()}"


def _iso(moment: datetime | None) -> str | None:
    return clock.aware(moment).isoformat() if moment else None


def _finding(finding: Any) -> dict[str, Any]:
    return {
        "code": finding.code,
        "message": finding.message,
        "message_fr": finding.message_fr,
        "element": finding.element,
        "value": finding.value,
    }


def as_dict(invoice: Any, flow_number: str, findings: Sequence[Any]) -> dict[str, Any]:
    """The public JSON keys of an invoice (issue 5); users' scripts rely on them.
    `in_lifecycle` is false for an invoice refused at reception (REFUSEE_RECEPTION): it
    has no status code, and its supplier learns of it from its flow's CR only."""
    return {
        "id": invoice.id,
        "number": invoice.number,
        "supplier": invoice.supplier_id,
        "recipient": invoice.recipient_siret,
        "service_code": invoice.service_code,
        "engagement": invoice.engagement,
        "status": invoice.status,
        "status_code": invoice.status_code or None,
        "in_lifecycle": InvoiceState(invoice.status).in_lifecycle,
        "status_date": _iso(invoice.status_date),
        "delivery_incident": invoice.delivery_incident,
        "flow": flow_number,
        "amount_ttc": invoice.amount_ttc,
        "currency": invoice.currency,
        "warnings": [_finding(f) for f in findings if f.severity != REJECT],
        "errors": [_finding(f) for f in findings if f.severity == REJECT],
    }


def search(
    session: Session,
    sirets: Sequence[str] = (),
    siren: str | None = None,
    number: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    supplier: str | None = None,
    flow: str | None = None,
    delivery_incident: bool = False,
    since: datetime | None = None,
    visible_to: str | None = None,
) -> list[dict[str, Any]]:
    """Invoices matching every filter given, oldest first; several SIRETs are alternatives.
    `supplier` is the supplier's identifier as the invoice gives it (a SIRET most often),
    `flow` the number of the flow that brought the invoice; `delivery_incident`: only those
    whose recipient reported their delivery failed (94, 95), to deliver again, and those
    whose pivot is held back, not yet published (publication.NOT_PUBLISHED). `since`: whose
    current status was set then or later; `visible_to`: only those this partner may know
    of (controls.visibility: a partner's software over the API)."""
    query = (
        select(InvoiceRow, Flow.number)
        .join(Flow, Flow.id == InvoiceRow.flow_id)
        .options(selectinload(InvoiceRow.findings))
        .order_by(InvoiceRow.id)
        .limit(limit)
        .offset(offset)
    )
    if sirets:
        query = query.where(InvoiceRow.recipient_siret.in_(sirets))
    if siren:
        query = query.where(InvoiceRow.recipient_siret.startswith(siren, autoescape=True))
    if number:
        query = query.where(InvoiceRow.number == number)
    if status:
        query = query.where(InvoiceRow.status == status)
    if supplier:
        query = query.where(InvoiceRow.supplier_id == supplier)
    if flow:
        query = query.where(Flow.number == flow)
    if delivery_incident:
        query = query.where(InvoiceRow.delivery_incident.is_not(None))
    if since is not None:
        query = query.where(InvoiceRow.status_date >= since.astimezone(UTC))
    if visible_to is not None:
        query = query.where(visible(visible_to))
    return [as_dict(row, flow, row.findings) for row, flow in session.execute(query)]


def _get(session: Session, invoice_id: int, lock: bool = False) -> InvoiceRow:
    """`lock`: held until commit, so that two operators never change one invoice at once
    (PostgreSQL; SQLite serialises writers anyway)."""
    invoice = session.get(InvoiceRow, invoice_id, with_for_update=lock)
    if invoice is None:
        raise InvoiceNotFound(
            f"No invoice has the id {invoice_id}; `edi-engine invoices search` shows them."
        )
    return invoice


# Built once: a statement used again keeps its compiled form and its cache key, where one
# built at each call was keyed and looked up again (half an API lookup's time).
_INVOICE = (
    select(InvoiceRow.__table__, Flow.number.label("flow_number"))
    .join(Flow, Flow.id == InvoiceRow.flow_id)
    .where(InvoiceRow.id == bindparam("invoice_id"))
)
_VISIBLE_INVOICE = _INVOICE.where(visible(bindparam("partner")))
_FINDINGS = (
    select(InvoiceFinding.__table__)
    .where(InvoiceFinding.invoice_id == bindparam("invoice_id"))
    .order_by(InvoiceFinding.id)
)
_EVENTS = (
    select(InvoiceEvent.__table__)
    .where(InvoiceEvent.invoice_id == bindparam("invoice_id"))
    .order_by(InvoiceEvent.id)
)


def show(session: Session, invoice_id: int, visible_to: str | None = None) -> dict[str, Any]:
    """The invoice with its findings and history; `visible_to`: only if this partner may
    know of it (controls.visibility), not found otherwise. Read as rows, not as the
    ledger's objects: an answer, not something to change."""
    if visible_to is None:
        invoice = session.execute(_INVOICE, {"invoice_id": invoice_id}).first()
    else:
        found = session.execute(_VISIBLE_INVOICE, {"invoice_id": invoice_id, "partner": visible_to})
        invoice = found.first()
    if invoice is None:
        raise InvoiceNotFound(
            f"No invoice has the id {invoice_id}; `edi-engine invoices search` shows them."
        )
    findings = session.execute(_FINDINGS, {"invoice_id": invoice_id}).all()
    events = session.execute(_EVENTS, {"invoice_id": invoice_id}).all()
    detail = as_dict(invoice, invoice.flow_number, findings)
    detail.update(
        type_code=invoice.type_code,
        issue_date=invoice.issue_date.isoformat() if invoice.issue_date else None,
        supplier_name=invoice.supplier_name,
        recipient_partner=invoice.recipient_partner,
        amount_ht=invoice.amount_ht,
        amount_net=invoice.amount_net,
        pivot_file=invoice.pivot_file,
        mandate=invoice.mandate,
        history=[
            {
                "at": _iso(e.at),
                "produced_at": _iso(e.produced_at),
                "status": e.status,
                "status_code": e.status_code or None,
                "actor": e.actor,
                "detail": e.detail,
                "mandate": e.mandate,
                "recipient": e.recipient_siret,
                "service_code": e.service_code,
                "to_supplier": e.to_supplier,
            }
            for e in events
        ],
    )
    return detail


def published(session: Session, invoice_id: int) -> dict[str, Any]:
    """The invoice once the outputs of its change are published (a pivot delivered again
    makes it available then, not at the commit): read again."""
    session.expire_all()
    return show(session, invoice_id)


def set_status(
    settings: Settings,
    session: Session,
    invoice_id: int,
    status: InvoiceState,
    comment: str | None,
    actor: str,
    mandate: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """An operator records a status for a recipient, an accountant or a supplier, under the
    rules a partner's status flow follows. Returns the invoice and any warning."""
    if status in NEEDS_MANDATE and not (mandate or "").strip():
        raise UsageError(f"--mandate is required for {named(status)}: the mandate number.")
    invoice = _get(session, invoice_id, lock=True)
    if invoice.status == InvoiceState.REFUSEE_RECEPTION:
        flow = session.get(Flow, invoice.flow_id)
        raise StatusRefused(
            f"Invoice {invoice.id} ({invoice.number}) was refused at reception in flow "
            f"{flow.number}: it never entered the lifecycle, so no status can be set; its "
            f"supplier deposits it again once corrected."
        )
    reason = operator_refusal(InvoiceState(invoice.status), status)
    if reason:
        raise StatusRefused(
            f"Invoice {invoice.id} ({invoice.number}) cannot become {status.value}: {reason}."
        )
    if status in REASON_REQUIRED and not (comment or "").strip():
        raise UsageError(
            f"--comment is required for {named(status)} (STATUS_REASON_MISSING): a rejection "
            "or a suspension tells the supplier why."
        )
    problems = statuses_in.check_change(
        session, invoice, status, statuses_in.supplier_is_siret(invoice), mandate
    )
    refused = [p for p in problems if p.rejects]
    if refused:
        raise StatusRefused(f"{refused[0].code}: {refused[0].message}")
    statuses_in.record(session, invoice, status, actor, comment, mandate)
    if status is InvoiceState.COMPLETEE:  # its recipient gets it again
        redelivery.complete(settings, session, invoice, actor)
    session.flush()
    session.expire(invoice, ["events"])
    return show(session, invoice_id), [f"{p.code}: {p.message}" for p in problems]


def redeliver(settings: Settings, session: Session, invoice_id: int, actor: str) -> dict[str, Any]:
    """Deliver again an invoice whose recipient reported its delivery failed (94, 95)."""
    row = _get(session, invoice_id, lock=True)
    if not row.delivery_incident:
        raise RedeliveryRefused(
            f"Invoice {row.id} ({row.number}) has no delivery incident: only an invoice whose "
            "recipient reported a reception or transmission error (94, 95) is delivered again."
        )
    _refuse_if_held_back(session, row)
    try:
        redelivery.again(settings, session, row, actor)
    except ConversionError as exc:  # the pivot can no longer carry it (limits changed)
        raise RedeliveryRefused(
            f"Invoice {row.id} ({row.number}) cannot be delivered again: {exc.message}."
        ) from exc
    session.flush()
    session.expire(row, ["events"])
    return show(session, invoice_id)


def _refuse_if_held_back(session: Session, row: InvoiceRow) -> None:
    """A pivot the engine could not publish yet (something the partner left under its name)
    is published as soon as the name is free: a second pivot would deliver it twice."""
    held = select(Output.delivery_error).where(
        Output.partner_code == row.recipient_partner,
        Output.file_name == row.pivot_file,
        Output.staged.is_not(None),
    )
    found = session.execute(held).first()
    if found is not None:
        why = f" ({found.delivery_error})" if found.delivery_error else ""
        raise RedeliveryRefused(
            f"Invoice {row.id} ({row.number}) is not delivered again: its pivot "
            f"{row.pivot_file} is not published yet{why}; every run tries again and "
            "publishes it once its name is free."
        )


def recycle(
    settings: Settings,
    session: Session,
    invoice_id: int,
    siret: str,
    service_code: str | None,
    engagement: str | None,
    actor: str,
) -> dict[str, Any]:
    """Re-address an invoice sent back for its routing data and deliver it again.

    Only the recipient SIRET, service code and engagement change (an option left out keeps
    its value, an empty one clears it). Everything is checked before anything is written:
    the new structure must be ACTIVE, the service code an active service of it, and the
    invoice must pass the controls again."""
    row = _get(session, invoice_id, lock=True)
    if row.status != InvoiceState.A_RECYCLER:
        raise RecyclingRefused(
            f"Invoice {row.id} ({row.number}) is {row.status}: only an invoice in "
            f"{InvoiceState.A_RECYCLER.value} can be recycled."
        )
    referential = controls.Referential.load(session)
    _check_new_address(referential, siret, service_code, row)
    flow = session.get(Flow, row.flow_id)
    invoice = redelivery.addressed(
        redelivery.original(settings, session, row),
        siret,
        row.service_code if service_code is None else service_code or None,
        row.engagement if engagement is None else engagement or None,
        referential.structures[siret].designation,
    )
    deposit_date = clock.local_date(flow.received_at, settings.zone)
    reception = controls.Reception(
        referential,
        controls.Duplicates(session),
        flow.number,
        deposit_date,
        settings.controls.amount_tolerance,
        settings.controls.vat_amount_tolerance,
        severity=settings.controls.severity,
    )
    to, findings = controls.check(invoice, reception, itself=row.id)
    rejections = [f for f in findings if f.rejects]
    if to is None or rejections:
        reasons = "; ".join(f"{f.code}: {f.message}" for f in rejections)
        raise RecyclingRefused(
            f"Invoice {row.id} ({row.number}) cannot be recycled to {siret}: {reasons} "
            f"It stays {InvoiceState.A_RECYCLER.value}."
        )
    invoice = replace(invoice, reception_date=deposit_date, renvoi=redelivery.RECYCLED)
    before = _address(row.recipient_siret, row.service_code, row.engagement)
    after = _address(siret, invoice.debiteur.service_code, invoice.engagement_number)
    try:
        redelivery.deliver(
            settings, session, row, invoice, to.partner_code, actor,
            f"recycled from {before} to {after}",
        )  # fmt: skip
    except ConversionError as exc:  # e.g. an engagement longer than the pivot allows
        raise RecyclingRefused(
            f"Invoice {row.id} ({row.number}) cannot be recycled: {exc.message}. "
            f"It stays {InvoiceState.A_RECYCLER.value}."
        ) from exc
    row.recipient_siret = siret
    row.service_code = invoice.debiteur.service_code
    row.engagement = invoice.engagement_number
    session.execute(delete(InvoiceFinding).where(InvoiceFinding.invoice_id == row.id))
    if findings:
        rows = [{**finding_row(f), "invoice_id": row.id} for f in findings]
        session.execute(insert(InvoiceFinding), rows)
    session.flush()
    session.expire(row, ["events", "findings"])
    return show(session, invoice_id)


def _address(siret: str | None, service_code: str | None, engagement: str | None) -> str:
    parts = [f"SIRET {siret}"]
    if service_code:
        parts.append(f"service {service_code}")
    if engagement:
        parts.append(f"engagement {engagement}")
    return "(" + ", ".join(parts) + ")"


def _check_new_address(
    referential: controls.Referential, siret: str, service_code: str | None, row: InvoiceRow
) -> None:
    """The recipient must exist and be ACTIVE, and a service code given must be one of its
    active services: otherwise the command refuses, naming the structure and why."""
    stays = f"Invoice {row.id} ({row.number}) stays {InvoiceState.A_RECYCLER.value}."
    structure = referential.structures.get(siret)
    if structure is None:
        raise RecyclingRefused(f"No structure with SIRET {siret} is known to the hub. {stays}")
    named = f"{siret} ({structure.designation})"
    if not structure.active:
        raise RecyclingRefused(f"The structure {named} is not ACTIVE. {stays}")
    if service_code:
        active = referential.services.get((siret, service_code))
        if active is None:
            raise RecyclingRefused(
                f"{service_code!r} is not a service of the structure {named}. {stays}"
            )
        if not active:
            raise RecyclingRefused(
                f"The service {service_code!r} of the structure {named} is not active. {stays}"
            )
