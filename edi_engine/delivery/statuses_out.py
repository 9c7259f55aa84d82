"""Status flows to suppliers (issue 6): every change of their invoices, exactly once.

Two steps, each its own transaction. First the status flow is numbered and the changes it
carries are marked as its own (`invoice_events.emitted_in`); then its file is written from
those changes alone. A crash between the two leaves a numbered flow without a file: the
next emission writes that same file again, from the same changes, before anything new. A
change is thus in one status flow and only one, and nothing waits forever: what was not
emitted while the engine was down is in the next flow.

Each status is described as it happened: with the time its source produced it
(`Horodatage`: a partner's, or the hub's own for what the hub did) and the recipient and
service the invoice had then (a 04 on an invoice recycled since still names the structure
that refused it). Only statuses of an invoice addressed to a structure the hub knows can
be described (its Debiteur is a SIRET); the others were answered by the CR of their flow
alone. A change marked not for the supplier (a recipient's acknowledgement, a delivery
step it was already told) is never carried.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.orm import Session

from pivot_format import statut
from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier

from .. import clock, failpoints, siret
from ..errors import EngineError, RefusedError
from ..ledger.models import Flow, InvoiceEvent, Partner, Service, StatusFlow, Structure
from ..ledger.models import Invoice as InvoiceRow
from ..lifecycle.transitions import ENGINE, SET_BY
from ..partners.remote import ChannelReport
from ..reception.identify import STATUT
from ..settings import Settings
from . import outputs, uploads

KIND = "STATUT"
HUB_STEPS = frozenset(state.code for state, by in SET_BY.items() if ENGINE in by)
CHUNK = 500  # ids per UPDATE: SQLite bounds the parameters of one statement


class UnknownPartner(RefusedError):
    """No partner has this code."""


class DeliveryFailed(EngineError):
    """A status flow was written but could not be uploaded yet; it stays queued."""


@dataclass(frozen=True)
class Emitted:
    partner: str
    file_name: str
    changes: int

    def as_dict(self) -> dict[str, object]:
        return {"partner": self.partner, "file_name": self.file_name, "changes": self.changes}


def emit(settings: Settings, session: Session, partner: str | None = None) -> list[Emitted]:
    """Write the status flow of each supplier-side partner (or of one) that has changes
    not yet told; commits as it goes."""
    if partner is not None and session.get(Partner, partner) is None:
        raise UnknownPartner(f"No partner has the code {partner!r}; `edi-engine partners list`.")
    written = [_write(settings, session, pending) for pending in _unwritten(session, partner)]
    for code in _suppliers(session, partner):
        numbered = _number(session, code)
        if numbered is not None:
            failpoints.reached("mid-status-flow")
            written.append(_write(settings, session, numbered))
    return [emitted for emitted in written if emitted is not None]


def _unwritten(session: Session, partner: str | None) -> list[StatusFlow]:
    query = select(StatusFlow).where(StatusFlow.written_at.is_(None)).order_by(StatusFlow.id)
    if partner is not None:
        query = query.where(StatusFlow.partner_code == partner)
    return list(session.scalars(query))


def _suppliers(session: Session, partner: str | None) -> list[str]:
    """Partners that deposited invoices: the supplier side."""
    query = (
        select(Flow.partner_code)
        .where(select(InvoiceRow.id).where(InvoiceRow.flow_id == Flow.id).exists())
        .distinct()
        .order_by(Flow.partner_code)
    )
    if partner is not None:
        query = query.where(Flow.partner_code == partner)
    return list(session.scalars(query))


def told(partner: str, *columns: Any) -> Select:
    """Every change of the partner's invoices that a status flow tells it (or will), oldest
    first, by `columns` (the change's id by default): what the API's GET /v1/statuses
    answers too. Not a refusal at reception (told by the CR only) nor an acknowledgement,
    nor a change of an invoice addressed to a structure the hub does not know."""
    return (
        select(*(columns or (InvoiceEvent.id,)))
        .select_from(InvoiceEvent)
        .join(InvoiceRow, InvoiceRow.id == InvoiceEvent.invoice_id)
        .join(Flow, Flow.id == InvoiceRow.flow_id)
        .join(Structure, Structure.siret == InvoiceEvent.recipient_siret)
        .where(
            Flow.partner_code == partner,
            InvoiceEvent.to_supplier.is_(True),
            InvoiceRow.supplier_id.is_not(None),
        )
        .order_by(InvoiceEvent.id)
    )


def _pending(partner: str) -> Select:
    """Changes of the partner's invoices that no status flow carries yet, oldest first."""
    return told(partner).where(InvoiceEvent.emitted_in.is_(None))


def _number(session: Session, partner: str) -> StatusFlow | None:
    """Step one: a new status flow owns the pending changes (committed)."""
    ids = list(session.scalars(_pending(partner)))
    if not ids:
        session.rollback()  # end the write transaction the query began
        return None
    last = session.scalar(
        select(func.max(StatusFlow.sequence)).where(StatusFlow.partner_code == partner)
    )
    sequence = (last or 0) + 1
    numbered = StatusFlow(
        partner_code=partner,
        sequence=sequence,
        file_name=f"{KIND}_{partner}_{sequence}.xml",
        created_at=clock.now(),
        changes=len(ids),
    )
    session.add(numbered)
    session.flush()
    for chunk in _chunks(ids):
        taken = session.execute(
            update(InvoiceEvent)
            .where(InvoiceEvent.id.in_(chunk), InvoiceEvent.emitted_in.is_(None))
            .values(emitted_in=numbered.id)
        )
        if taken.rowcount != len(chunk):  # another emitter took some meanwhile
            session.rollback()
            return None
    session.commit()
    return numbered


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _write(settings: Settings, session: Session, numbered: StatusFlow) -> Emitted | None:
    """Step two: the file, from the changes the flow owns (the same bytes if written again).
    The flow is claimed first: of two emitters, one writes it, the other leaves it be."""
    claimed = session.execute(
        update(StatusFlow)
        .where(StatusFlow.id == numbered.id, StatusFlow.written_at.is_(None))
        .values(written_at=clock.now())
    )
    if claimed.rowcount != 1:
        session.rollback()
        return None
    content = written(settings, session, numbered)
    if content is None:  # its changes went with their invoices (retention): nothing to tell
        session.commit()
        return None
    with outputs.committed(session):
        outputs.deliver(
            settings, session, None, KIND, numbered.partner_code, numbered.file_name, content
        )
    return Emitted(numbered.partner_code, numbered.file_name, numbered.changes)


def written(settings: Settings, session: Session, numbered: StatusFlow) -> bytes | None:
    """The status flow's file, from the changes it owns alone: the same bytes each time it
    is written (`edi-engine check --repair-outputs` writes a lost one again so), as long
    as the referential names the structures and services as it did; None when it owns
    none any more."""
    service = and_(
        Service.siret == InvoiceEvent.recipient_siret, Service.code == InvoiceEvent.service_code
    )
    rows = session.execute(
        select(InvoiceEvent, InvoiceRow, Structure.designation, Service.name)
        .join(InvoiceRow, InvoiceRow.id == InvoiceEvent.invoice_id)
        .outerjoin(Structure, Structure.siret == InvoiceEvent.recipient_siret)
        .outerjoin(Service, service)
        .where(InvoiceEvent.emitted_in == numbered.id)
        .order_by(InvoiceEvent.id)
    ).all()
    if not rows:
        return None
    statuses = [_status(*row) for row in rows]
    stem = numbered.file_name.removesuffix(".xml")
    envelope = Envelope(
        flow_id=stem,
        produced_at=clock.aware(numbered.created_at).date(),
        sender_id=settings.hub.id,
        receiver_id=numbered.partner_code,
        sender_label=settings.hub.name,
    )
    content = statut.write_invoice_statuses(statuses, envelope)
    return outputs.checked(STATUT, content, numbered.file_name)


def _status(
    event: InvoiceEvent, invoice: InvoiceRow, name: str | None, service_name: str | None
) -> InvoiceStatus:
    """The status as it happened: its source's time, the recipient and service then (named
    as the referential names them now)."""
    identifier = invoice.supplier_id
    kind = invoice.supplier_id_type or ("1" if siret.is_valid(identifier) else "2")
    debiteur = Debiteur(event.recipient_siret, name, event.service_code, service_name)
    # the hub's own steps (01 to 03) keep their detail for the operator: it names the
    # recipient's connection and its pivot file, which are not the supplier's to know
    hub_step = event.status_code in HUB_STEPS
    return InvoiceStatus(
        code=event.status_code,
        supplier=Supplier(identifier, kind, invoice.supplier_name or identifier, ""),
        debiteur=debiteur,
        invoice_number=invoice.number,
        at=clock.aware(event.produced_at),
        invoice_date=invoice.issue_date,
        comment=None if hub_step else event.detail,
        mandate=event.mandate,
    )


def hand_over(settings: Settings, session: Session, emitted: list[Emitted]) -> ChannelReport:
    """Status flows for partners reached over SFTP are uploaded now (a local partner's
    outbox file is already its delivery); a failure leaves them queued for the next run."""
    report = ChannelReport()
    if emitted:
        uploads.deliver(settings, session, report, only={e.partner for e in emitted})
    return report
