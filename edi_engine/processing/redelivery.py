"""An invoice delivered again (docs/architecture.md#the-invoice-lifecycle): re-addressed after
A_RECYCLER (Renvoi
`Recyclée`), or completed by its supplier after SUSPENDUE (Renvoi `Complétée`). The new
pivot is built from the archived original, never from a copy, and gets the next
`PIVOT_<partner>_<flow>_<n>.xml` name of its flow: the first delivery's pivot stays."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pivot_format import pivot
from pivot_format.model import Invoice

from .. import clock
from ..delivery import outputs
from ..errors import EngineError
from ..ledger.models import Flow, InvoiceEvent, Output, Structure
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.states import InvoiceState
from ..lifecycle import statuses_in
from ..reception import flow_parts
from ..reception.identify import PIVOT
from ..settings import Settings

RECYCLED, COMPLETED = pivot.RENVOI_RECYCLED, pivot.RENVOI_COMPLETED


def original(settings: Settings, session: Session, row: InvoiceRow) -> Invoice:
    """The invoice as its supplier deposited it, read again from the archive."""
    flow = session.get(Flow, row.flow_id)
    read = flow_parts.read_again(settings, flow, row.seq)
    if read is None or read.invoice is None:
        raise EngineError(
            f"Invoice {row.id} can no longer be read from the archived original of flow "
            f"{flow.number}: the archive must be restored before it can be delivered again."
        )
    return read.invoice


def deliver(
    settings: Settings,
    session: Session,
    row: InvoiceRow,
    invoice: Invoice,
    partner: str,
    actor: str,
    why: str,
) -> str:
    """Write and hand over the pivot of `invoice` (its Renvoi set by the caller); the
    invoice goes EN_COURS_ACHEMINEMENT, then MISE_A_DISPOSITION once its pivot is published
    after the commit (publication.publish), or uploaded for a partner reached over SFTP.
    Raises ConversionError if the pivot cannot carry it: nothing is written then."""
    flow = session.get(Flow, row.flow_id)
    name = next_name(session, flow, partner)
    envelope = outputs.envelope(settings, flow.number, partner)
    invoice = replace(invoice, id_cpro=row.id)  # IdCPRO: the same invoice, the same id
    content = outputs.checked(PIVOT, pivot.write_pivot([invoice], envelope), name)
    outputs.deliver(settings, session, flow.id, outputs.PIVOT, partner, name, content)
    row.recipient_partner, row.pivot_file = partner, name
    # the address it is delivered to, before its events: each names its recipient then
    row.recipient_siret, row.service_code = invoice.debiteur.siret, invoice.debiteur.service_code
    detail = f"{why}; pivot {name} written (Renvoi {invoice.renvoi})"
    statuses_in.record(session, row, InvoiceState.EN_COURS_ACHEMINEMENT, actor, detail)
    return name


def addressed(
    invoice: Invoice,
    siret: str,
    service_code: str | None,
    engagement: str | None,
    designation: str,
) -> Invoice:
    """The invoice with the routing data the ledger holds now (recycling changes them):
    the names its supplier wrote stay only while it goes to the same structure (and, for the
    service's name, to the same service)."""
    debiteur = invoice.debiteur
    if siret != debiteur.siret:
        debiteur = replace(debiteur, siret=siret, name=designation, service_name=None)
    elif service_code != debiteur.service_code:
        debiteur = replace(debiteur, service_name=None)
    return replace(
        invoice,
        debiteur=replace(debiteur, service_code=service_code),
        engagement_number=engagement,
    )


def complete(settings: Settings, session: Session, row: InvoiceRow, actor: str) -> str:
    """The supplier completed a suspended invoice: its recipient gets it again."""
    invoice, partner = _as_routed(settings, session, row, original(settings, session, row))
    invoice = replace(invoice, renvoi=COMPLETED)
    return deliver(settings, session, row, invoice, partner, actor, "completed by its supplier")


def again(settings: Settings, session: Session, row: InvoiceRow, actor: str) -> str:
    """After a delivery incident (its recipient acknowledged 94 or 95): the same delivery
    once more, as a new pivot with the Renvoi of the one that failed."""
    invoice, partner = _as_routed(settings, session, row, original(settings, session, row))
    invoice = replace(invoice, renvoi=_renvoi(session, row))
    why = f"delivered again after a delivery incident ({row.delivery_incident})"
    row.delivery_incident = None
    return deliver(settings, session, row, invoice, partner, actor, why)


def _as_routed(
    settings: Settings, session: Session, row: InvoiceRow, deposited: Invoice
) -> tuple[Invoice, str]:
    """The deposited invoice addressed as the ledger routes it now, and its partner."""
    structure = session.get(Structure, row.recipient_siret)
    flow = session.get(Flow, row.flow_id)
    invoice = addressed(
        deposited,
        row.recipient_siret,
        row.service_code,
        row.engagement,
        structure.designation if structure else "",
    )
    invoice = replace(invoice, reception_date=clock.local_date(flow.received_at, settings.zone))
    return invoice, structure.partner_code if structure else row.recipient_partner


def next_name(session: Session, flow: Flow, partner: str) -> str:
    """`PIVOT_<partner>_<flow>_<n>.xml` (docs/architecture.md#pivot) with an n no pivot of the flow
    has used."""
    names = session.scalars(
        select(Output.file_name).where(Output.flow_id == flow.id, Output.kind == outputs.PIVOT)
    )
    used = [int(m.group(1)) for n in names if (m := re.search(r"_(\d+)\.xml$", n))]
    return outputs.file_name(
        outputs.PIVOT, partner, flow.number, max([flow.invoice_count, *used]) + 1
    )


def rewrite(settings: Settings, session: Session, row: InvoiceRow, deposited: Invoice) -> None:
    """A forced re-run writes a delivered invoice's pivot again as it was: same name, same
    recipient partner, same Renvoi; its lifecycle does not change."""
    content = current_pivot(settings, session, row, deposited)
    flow, partner = session.get(Flow, row.flow_id), row.recipient_partner
    outputs.deliver(settings, session, flow.id, outputs.PIVOT, partner, row.pivot_file, content)


def current_pivot(
    settings: Settings,
    session: Session,
    row: InvoiceRow,
    deposited: Invoice,
    produced_at: date | None = None,
) -> bytes:
    """The invoice's last pivot (`row.pivot_file`) as it was written: routed as the ledger
    routes it, with the Renvoi of its last delivery. `produced_at`: the day it was written
    (its envelope's DtPrd; default today), for a file written again byte for byte
    (`edi-engine check --repair-outputs`)."""
    invoice, _ = _as_routed(settings, session, row, deposited)
    invoice = replace(invoice, renvoi=_renvoi(session, row), id_cpro=row.id)
    flow = session.get(Flow, row.flow_id)
    envelope = outputs.envelope(settings, flow.number, row.recipient_partner)
    if produced_at is not None:
        envelope = replace(envelope, produced_at=produced_at)
    return outputs.checked(PIVOT, pivot.write_pivot([invoice], envelope), row.pivot_file)


def _renvoi(session: Session, row: InvoiceRow) -> str:
    """The Renvoi of the invoice's last delivery, as its history recorded it."""
    last = session.scalar(
        select(InvoiceEvent.detail)
        .where(
            InvoiceEvent.invoice_id == row.id,
            InvoiceEvent.status == InvoiceState.EN_COURS_ACHEMINEMENT,
        )
        .order_by(InvoiceEvent.id.desc())
        .limit(1)
    )
    for renvoi in (RECYCLED, COMPLETED):
        if f"(Renvoi {renvoi})" in (last or ""):
            return renvoi
    return pivot.RENVOI_FIRST
