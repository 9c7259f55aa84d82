"""Recipients' acknowledgements of the pivots they receive
(docs/architecture.md#acknowledgements): a `CPPStatut` with `CPPFluxStatuts` deposited by
the partner a pivot was delivered to.

92 (received by the final recipient) is recorded in the invoice's history. 94 (reception
error at the final recipient) and 95 (transmission error) say that the invoice was not
really made available: it leaves MISE_A_DISPOSITION for EN_COURS_ACHEMINEMENT and is a
delivery incident until `invoices redeliver` delivers it again. None of this reaches the
supplier: it is between the hub and the recipient, and a supplier told 03 must never see
its invoice's lifecycle go back.

An acknowledgement names what it acknowledges by its `IdFlux`, the flow's identifier at
its producer, the hub: the pivot's file name (one invoice), or the `IdFlx` the pivot's
envelope carries, the number of the flow that brought the invoice (every pivot of that
flow the partner received).
"""

from __future__ import annotations

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from pivot_format.model import FlowStatus

from .. import clock
from ..delivery import publication
from ..ledger.models import Flow, ReceivedStatus
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.states import InvoiceState
from ..lifecycle import statuses_in
from ..lifecycle.statuses_in import APPLIED, CODES, Outcome
from ..problems import WARNING, Problem, shown

RECEIVED = "92"
NAMES = {
    RECEIVED: "RECUE_PAR_LE_DESTINATAIRE",
    "94": "ERREUR_RECEPTION_DESTINATAIRE",
    "95": "ERREUR_TRANSMISSION_DESTINATAIRE",
}
INCIDENTS = frozenset(NAMES) - {RECEIVED}
HUB_ANSWERS = {
    "why_fr": "90, 91, 93 et 96 sont ses réponses à un flux déposé ; un destinataire accuse "
    "réception d'une facture avec 92, 94 ou 95",
    "why_en": "90, 91, 93 and 96 are its answers to a deposited flow; a recipient "
    "acknowledges an invoice with 92, 94 or 95",
}


def take(session: Session, flow: Flow, acks: list[FlowStatus], first: int = 1) -> list[Outcome]:
    """Apply each acknowledgement of one document in order; the caller commits. Numbered
    across the flow as the CR is; one applied by a previous attempt is not applied twice."""
    applied = dict(
        session.execute(
            select(ReceivedStatus.seq, ReceivedStatus.invoice_number).where(
                ReceivedStatus.flow_id == flow.id, ReceivedStatus.outcome == APPLIED
            )
        ).all()
    )
    outcomes = []
    for seq, ack in enumerate(acks, first):
        if seq in applied:
            facts = {"status": NAMES.get(ack.code, ack.code), "number": applied[seq]}
            outcomes.append(Outcome([CODES[APPLIED].fails(ack.code, **facts)]))
            continue
        outcome, numbers = _apply(session, flow.partner_code, ack)
        session.execute(
            insert(ReceivedStatus).values(
                flow_id=flow.id,
                seq=seq,
                status_code=ack.code,
                invoice_number=shown(numbers) if numbers else None,
                invoice_id=outcome.invoice_id,
                outcome=next((p.code for p in outcome.problems if p.rejects), APPLIED),
            )
        )
        outcomes.append(outcome)
    return outcomes


def _apply(session: Session, partner: str, ack: FlowStatus) -> tuple[Outcome, str]:
    """The outcome, and the numbers of the invoices acknowledged (for a re-run's CR)."""
    if ack.code not in NAMES:
        return Outcome([CODES["STATUS_CODE_UNKNOWN"].fails(ack.code, **HUB_ANSWERS)]), ""
    delivered = _delivered(session, partner, ack.flow_id.strip())
    if not delivered:
        unknown = CODES["STATUS_ACK_PIVOT_UNKNOWN"].fails(shown(ack.flow_id), partner=partner)
        return Outcome([unknown]), ""
    taken: list[InvoiceRow] = []
    refused: list[Problem] = []
    for invoice in delivered:
        why = _refusal(invoice, ack.code)
        if why is None:
            _acknowledge(session, invoice, ack, f"partner:{partner}")
            taken.append(invoice)
            continue
        facts = {"status": NAMES[ack.code], "number": invoice.number, "current": invoice.status}
        refused.append(CODES["STATUS_ACK_REFUSED"].fails(ack.code, **why, **facts))
    if not taken:
        return Outcome(refused, delivered[0].id), ""
    numbers = ", ".join(invoice.number for invoice in taken)
    done = CODES[APPLIED].fails(ack.code, status=NAMES[ack.code], number=numbers)
    # a flow's other pivots the acknowledgement cannot concern are reported, not refused
    others = [problem.at(severity=WARNING) for problem in refused]
    only = taken[0].id if len(taken) == 1 else None
    return Outcome([done, *others], only), numbers


def _delivered(session: Session, partner: str, flow_id: str) -> list[InvoiceRow]:
    """The invoices whose current pivot went to `partner` and that `flow_id` names."""
    named = or_(InvoiceRow.pivot_file.in_({flow_id, f"{flow_id}.xml"}), Flow.number == flow_id)
    query = (
        select(InvoiceRow)
        .join(Flow, Flow.id == InvoiceRow.flow_id)
        .where(InvoiceRow.recipient_partner == partner, InvoiceRow.pivot_file.is_not(None))
        .where(named)
        .order_by(InvoiceRow.id)
        .with_for_update(of=InvoiceRow)  # the invoices, not their flows (leased by workers)
    )
    return list(session.scalars(query))


def _refusal(invoice: InvoiceRow, code: str) -> dict[str, str] | None:
    """Why the acknowledgement cannot concern this invoice now (French and English)."""
    if invoice.delivery_incident and invoice.delivery_incident != publication.NOT_PUBLISHED:
        incident = invoice.delivery_incident
        return {
            "why_fr": f"sa remise est déjà signalée en erreur ({incident}) ; elle sera remise "
            "à nouveau",
            "why_en": f"its delivery is already reported failed ({incident}); it will be "
            "delivered again",
        }
    if invoice.status == InvoiceState.EN_COURS_ACHEMINEMENT:
        return {
            "why_fr": "elle n'est pas encore mise à disposition",
            "why_en": "it is not made available yet",
        }
    if code in INCIDENTS and invoice.status != InvoiceState.MISE_A_DISPOSITION:
        return {
            "why_fr": "son destinataire lui a déjà donné un statut après l'avoir reçue",
            "why_en": "its recipient already gave it a status after receiving it",
        }
    return None


def _acknowledge(session: Session, invoice: InvoiceRow, ack: FlowStatus, actor: str) -> None:
    at = clock.now()
    said = ack.comment or ack.complement
    detail = f"pivot {invoice.pivot_file}" + (f": {said}" if said else "")
    if ack.code in INCIDENTS:  # not really made available: delivered again on request
        state = InvoiceState.EN_COURS_ACHEMINEMENT
        invoice.status, invoice.status_code, invoice.status_date = state, state.code, at
        invoice.delivery_incident = ack.code
    event = statuses_in.event(
        invoice, NAMES[ack.code], ack.code, actor, detail, at, ack.at, to_supplier=False
    )
    session.add(event)
