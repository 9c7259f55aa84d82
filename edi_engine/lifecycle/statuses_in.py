"""Statuses returned by recipients and their accountant (issue 6,
docs/architecture.md#the-invoice-lifecycle).

Each status of an inbound `CPPFactureStatuts` is matched to one delivered invoice (supplier
identifier, invoice number by its key, and the year of `DateFacture` when given) among
those the depositing partner may know of (`visibility`: another partner's invoice is
unknown to it, as one that does not exist), and applied only if the partner serves the
invoice's structure in a role that sets that status,
gives the reason a rejection or a suspension needs, and the lifecycle allows the change.
The depositor's CR lists every status, applied or refused with its reason; each one is
kept in `received_statuses`. The history keeps when the status was produced at its source
(`Horodatage`) beside when the hub recorded it, and the recipient the invoice had then.
A status set over the API (`set_status`) names its invoice by id, among the same invoices,
and goes through the same rules, refusals and history; it has no CR, its answer says it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from pivot_format.model import InvoiceStatus

from .. import clock, number_key, siret
from ..controls import depositors
from ..controls.catalogue import CATALOGUE, Control
from ..controls.visibility import visible
from ..ledger import fields
from ..ledger.models import Flow, InvoiceEvent, ReceivedStatus, Structure
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.states import InvoiceState
from ..problems import INFO, REJECT, WARNING, Problem, shown
from .transitions import (
    ACCOUNTANT,
    DELIVERED_AT,
    ENGINE,
    MAIN_ROAD,
    REASON_REQUIRED,
    RECIPIENT,
    SET_BY,
    SUPPLIER,
    refusal,
)

APPLIED = "STATUS_APPLIED"
STATUS = "DonneesStatut/IdStatut"
NUMBER = "DonneesStatut/IdFacture"
SUPPLIER_ID = "Fournisseur/Identifiant"
MANDATE = "DonneesStatut/IdMandatDP"
REASON = "DonneesStatut/Commentaire"
FLOW_ID = "DonneesStatut/IdFlux"
ACCOUNTING = frozenset({InvoiceState.MISE_A_DISPOSITION_COMPTABLE, InvoiceState.MISE_EN_PAIEMENT})
WITH_MANDATE = frozenset({InvoiceState.MANDATEE, InvoiceState.MISE_A_DISPOSITION_COMPTABLE})

STATUS_CONTROLS = (
    Control(
        APPLIED, INFO, STATUS,
        "Statut {value} ({status}) appliqué à la facture {number}.",
        "Status {value} ({status}) applied to invoice {number}.",
    ),
    Control(
        "STATUS_INVOICE_NUMBER_MISSING", REJECT, NUMBER,
        "Le statut {value} ne donne pas de numéro de facture : il ne peut être rattaché à "
        "aucune facture.",
        "Status {value} gives no invoice number: it cannot be matched to an invoice.",
    ),
    Control(
        "STATUS_SUPPLIER_MISSING", REJECT, SUPPLIER_ID,
        "Le statut de la facture {value} ne donne pas le SIRET du fournisseur.",
        "The status of invoice {value} does not give the supplier's SIRET.",
    ),
    Control(
        "STATUS_CODE_UNKNOWN", REJECT, STATUS,
        "Le statut {value} n'est pas utilisé par la plateforme : {why_fr}.",
        "Status {value} is not used by the hub: {why_en}.",
    ),
    Control(
        "STATUS_INVOICE_UNKNOWN", REJECT, NUMBER,
        "La plateforme n'a remis aucune facture {value} du fournisseur {supplier}{year} "
        "adressée à une structure que le partenaire {partner} sert, ni déposée par lui.",
        "The hub delivered no invoice {value} of supplier {supplier}{year} addressed to a "
        "structure partner {partner} serves, nor deposited by it.",
    ),
    Control(
        "STATUS_INVOICE_AMBIGUOUS", REJECT, NUMBER,
        "Plusieurs factures {value} du fournisseur {supplier} concernent le partenaire "
        "{partner} (années {years}) : donnez DateFacture.",
        "Several invoices {value} of supplier {supplier} concern partner {partner} (years "
        "{years}): give DateFacture.",
    ),
    Control(
        "STATUS_NOT_YOURS_TO_SET", REJECT, STATUS,
        "Le partenaire {partner} ne peut pas donner le statut {value} ({status}) : {why_fr}.",
        "Partner {partner} cannot set status {value} ({status}): {why_en}.",
    ),
    Control(
        "STATUS_REASON_MISSING", REJECT, REASON,
        "Le statut {value} ({status}) de la facture {number} doit donner son motif "
        "(Commentaire) : un rejet ou une suspension dit pourquoi au fournisseur.",
        "Status {value} ({status}) of invoice {number} must give its reason (Commentaire): a "
        "rejection or a suspension tells the supplier why.",
    ),
    Control(
        "STATUS_TRANSITION_REFUSED", REJECT, STATUS,
        "La facture {number} ne peut pas passer de {current} à {status} ({value}) : {why}.",
        "Invoice {number} cannot go from {current} to {status} ({value}): {why}.",
    ),
    Control(
        "STATUS_MANDATE_WITHOUT_SIRET", REJECT, SUPPLIER_ID,
        "Le statut {status} de la facture {number} doit nommer le fournisseur par son SIRET "
        "(trouvé : {value}).",
        "Status {status} of invoice {number} must name the supplier by its SIRET (found: "
        "{value}).",
    ),
    Control(
        "STATUS_MANDATE_TOO_LONG", REJECT, MANDATE,
        "Le mandat {value} de la facture {number} dépasse les {limit} caractères que la "
        "plateforme conserve ; il n'est pas tronqué, car il identifie le paiement.",
        "Mandate {value} of invoice {number} is over the {limit} characters the hub keeps; it "
        "is not cut, as it identifies the payment.",
    ),
    Control(
        "STATUS_GROUPED_MANDATE", WARNING, MANDATE,
        "Le mandat {value} porte aussi la facture {other} : une facture, un mandat.",
        "Mandate {value} also carries invoice {other}: one invoice, one mandate.",
    ),
    Control(
        "STATUS_ACK_PIVOT_UNKNOWN", REJECT, FLOW_ID,
        "IdFlux {value} ne désigne aucune facture que la plateforme a remise au partenaire "
        "{partner} (donnez le nom du fichier pivot, ou son IdFlx).",
        "IdFlux {value} names no invoice the hub delivered to partner {partner} (give the "
        "pivot's file name, or its IdFlx).",
    ),
    Control(
        "STATUS_ACK_REFUSED", REJECT, STATUS,
        "L'accusé {value} ({status}) ne s'applique pas à la facture {number} ({current}) : "
        "{why_fr}.",
        "Acknowledgement {value} ({status}) does not apply to invoice {number} ({current}): "
        "{why_en}.",
    ),
)  # fmt: skip
CODES: dict[str, Control] = {control.code: control for control in STATUS_CONTROLS}
NOT_IN_LIFECYCLE = {
    "why_fr": "c'est un statut de CPPStatutPivot V1_19 hors du cycle de vie qu'elle tient "
    "(01 à 12)",
    "why_en": "it is a CPPStatutPivot V1_19 status outside the lifecycle the hub keeps (01 to 12)",
}


@dataclass
class Outcome:
    """What became of one status: applied (with warnings) or refused."""

    problems: list[Problem]
    invoice_id: int | None = None
    state: InvoiceState | None = None  # the status applied

    @property
    def applied(self) -> bool:
        return not any(p.rejects for p in self.problems)


def take(
    session: Session,
    flow: Flow,
    statuses: list[InvoiceStatus],
    completed: Callable[[InvoiceRow, str], None] | None = None,
    first: int = 1,
) -> list[Outcome]:
    """Apply each status of one document in order; the caller commits. The history names
    the partner who reported each change."""
    outcomes = []
    applied = dict(
        session.execute(
            select(ReceivedStatus.seq, ReceivedStatus.invoice_id).where(
                ReceivedStatus.flow_id == flow.id, ReceivedStatus.outcome == APPLIED
            )
        ).all()
    )  # by a previous attempt of this flow (a re-run): kept, not applied twice
    # numbered across the flow (a batch may hold several status documents), as the CR is
    for seq, status in enumerate(statuses, first):
        if seq in applied:
            facts = {"status": _state(status.code) or status.code, "number": status.invoice_number}
            outcomes.append(Outcome([CODES[APPLIED].fails(status.code, **facts)], applied[seq]))
            continue
        outcome = _apply(
            session, flow.partner_code, status, f"partner:{flow.partner_code}", completed
        )
        session.execute(
            insert(ReceivedStatus).values(
                **fields.fit_row(  # kept to be shown (the CR of a re-run), cut to fit
                    ReceivedStatus,
                    {
                        "flow_id": flow.id,
                        "seq": seq,
                        "status_code": status.code,
                        "invoice_number": status.invoice_number or None,
                        "supplier_id": status.supplier.identifier or None,
                        "mandate": status.mandate,
                        "invoice_id": outcome.invoice_id,
                        "outcome": next((p.code for p in outcome.problems if p.rejects), APPLIED),
                    },
                )
            )
        )
        outcomes.append(outcome)
    return outcomes


def _apply(
    session: Session,
    partner: str,
    status: InvoiceStatus,
    actor: str,
    completed: Callable[[InvoiceRow, str], None] | None,
) -> Outcome:
    found = _target(session, partner, status)
    if isinstance(found, Outcome):
        return found
    invoice, new = found
    asked = Asked(
        status.code, status.comment or status.complement, status.mandate, _is_siret(status)
    )
    unknown = _unknown(
        partner, status.supplier.identifier, status.invoice_number, status.invoice_date
    )
    return _change(session, partner, invoice, new, asked, actor, completed, unknown, status.at)


@dataclass(frozen=True)
class Asked:
    """What a partner asks of one invoice, whichever door it came by: a status code, its
    reason (Commentaire), a mandate, and whether the supplier is named by its SIRET."""

    code: str
    reason: str | None = None
    mandate: str | None = None
    supplier_is_siret: bool = True


def set_status(
    session: Session,
    partner: str,
    invoice_id: int,
    code: str,
    reason: str | None = None,
    mandate: str | None = None,
    completed: Callable[[InvoiceRow, str], None] | None = None,
) -> Outcome:
    """One status from a partner about one invoice named by its id (the API's door), under
    the rules, refusals and history of a status flow's line; the caller commits. An invoice
    the partner may not know of is STATUS_INVOICE_UNKNOWN, whether it exists or not."""
    new = _state(code)
    if new is None:
        return Outcome([CODES["STATUS_CODE_UNKNOWN"].fails(code, **NOT_IN_LIFECYCLE)])
    unknown = CODES["STATUS_INVOICE_UNKNOWN"].fails(
        f"#{invoice_id}", supplier="-", year="", partner=partner
    )
    query = select(InvoiceRow).where(
        InvoiceRow.id == invoice_id,
        InvoiceRow.pivot_file.is_not(None),  # delivered, as a status flow's invoice
        visible(partner),
    )
    invoice = session.scalars(query.with_for_update()).first()
    if invoice is None:
        return Outcome([unknown])
    asked = Asked(code, reason, mandate, supplier_is_siret(invoice))
    actor = f"partner:{partner}"  # as a status flow's: the history names who reported it
    return _change(session, partner, invoice, new, asked, actor, completed, unknown)


def _change(
    session: Session,
    partner: str,
    invoice: InvoiceRow,
    new: InvoiceState,
    asked: Asked,
    actor: str,
    completed: Callable[[InvoiceRow, str], None] | None,
    unknown: Problem,
    produced_at: datetime | None = None,
) -> Outcome:
    """The status applied to the invoice found, or why not: the same for every door."""
    refused = _not_for(session, partner, asked, invoice, new, unknown)
    if refused is not None:
        return refused
    problems = check_change(
        session, invoice, new, asked.supplier_is_siret, asked.mandate, partner=partner
    )
    if any(p.rejects for p in problems):
        return Outcome(problems, invoice.id)
    record(session, invoice, new, actor, asked.reason, asked.mandate, produced_at=produced_at)
    if new is InvoiceState.COMPLETEE and completed is not None:
        completed(invoice, actor)  # delivered again now: the next status follows from there
    facts = {"status": new.value, "number": invoice.number, "partner": partner}
    return Outcome([CODES[APPLIED].fails(asked.code, **facts), *problems], invoice.id, new)


def _target(
    session: Session, partner: str, status: InvoiceStatus
) -> tuple[InvoiceRow, InvoiceState] | Outcome:
    """The delivered invoice the status names among those the partner may know of, and the
    lifecycle status its code is, or why the status names none."""
    code, number = status.code, status.invoice_number
    if not number:
        return Outcome([CODES["STATUS_INVOICE_NUMBER_MISSING"].fails(code)])
    supplier = status.supplier.identifier
    if not supplier:
        return Outcome([CODES["STATUS_SUPPLIER_MISSING"].fails(number)])
    new = _state(code)
    if new is None:
        return Outcome([CODES["STATUS_CODE_UNKNOWN"].fails(code, **NOT_IN_LIFECYCLE)])
    found = _invoice(session, partner, supplier, number, status.invoice_date)
    return Outcome([found]) if isinstance(found, Problem) else (found, new)


def _not_for(
    session: Session,
    partner: str,
    asked: Asked,
    invoice: InvoiceRow,
    new: InvoiceState,
    unknown: Problem,
) -> Outcome | None:
    """Why this partner may not give this invoice this status (the invoice is not one it
    serves, the status is another role's, a rejection without its reason), or None."""
    structure = session.get(Structure, invoice.recipient_siret)
    depositor = session.scalar(select(Flow.partner_code).where(Flow.id == invoice.flow_id))
    roles = _roles(partner, structure, depositor)
    if not roles:  # its structure changed hands since it was found: unknown to the partner
        return Outcome([unknown])
    facts = {"status": new.value, "number": invoice.number, "partner": partner}
    why = _not_yours(new, roles)
    if why:
        refused = CODES["STATUS_NOT_YOURS_TO_SET"]
        return Outcome(
            [refused.fails(asked.code, why_fr=why[0], why_en=why[1], **facts)], invoice.id
        )
    # who may deposit for whom guards a supplier's 12 too
    if new is InvoiceState.COMPLETEE and depositors.refusal(session, partner, invoice.supplier_id):
        supplier = shown(invoice.supplier_id or "")
        return Outcome([CATALOGUE["SUPPLIER_NOT_ALLOWED"].fails(supplier, partner=partner)])
    if new in REASON_REQUIRED and not (asked.reason or "").strip():
        return Outcome([CODES["STATUS_REASON_MISSING"].fails(asked.code, **facts)], invoice.id)
    return None


def check_change(
    session: Session,
    invoice: InvoiceRow,
    new: InvoiceState,
    supplier_is_siret: bool,
    mandate: str | None,
    partner: str | None = None,
) -> list[Problem]:
    """The lifecycle and the accounting rules, for a partner's status or an operator's
    (`partner` None): a mandate carried twice is told a partner among its own invoices."""
    current = InvoiceState(invoice.status)
    facts = {"status": new.value, "number": invoice.number}
    why = refusal(current, new)
    if why:
        return [
            CODES["STATUS_TRANSITION_REFUSED"].fails(
                new.code, current=current.value, why=why, **facts
            )
        ]
    if new in ACCOUNTING and not supplier_is_siret:
        return [CODES["STATUS_MANDATE_WITHOUT_SIRET"].fails(invoice.supplier_id, **facts)]
    limit = fields.length(InvoiceRow.mandate) or 0
    if mandate and new in WITH_MANDATE and len(mandate) > limit:  # a key: never cut
        return [CODES["STATUS_MANDATE_TOO_LONG"].fails(shown(mandate), limit=limit, **facts)]
    if mandate and new in WITH_MANDATE:
        query = select(InvoiceRow.number).where(
            InvoiceRow.mandate == mandate, InvoiceRow.id != invoice.id
        )
        if partner is not None:
            query = query.where(visible(partner))
        others = session.scalars(query.order_by(InvoiceRow.id)).all()
        if others:
            return [CODES["STATUS_GROUPED_MANDATE"].fails(mandate, other=", ".join(others))]
    return []


def record(
    session: Session,
    invoice: InvoiceRow,
    new: InvoiceState,
    actor: str,
    detail: str | None,
    mandate: str | None = None,
    produced_at: datetime | None = None,
    at: datetime | None = None,
) -> None:
    """The invoice's new status and its event. `produced_at`: when its source produced it
    (a partner's Horodatage), else when the hub records it (`at`, now by default)."""
    at = at or clock.now()
    told = _tells_the_supplier(session, invoice, new)
    invoice.status, invoice.status_code, invoice.status_date = new, new.code, at
    if mandate and new in WITH_MANDATE:
        invoice.mandate = mandate
    mandate = mandate if new in WITH_MANDATE else None
    session.add(
        event(invoice, new, new.code, actor, detail, at, produced_at, told, mandate=mandate)
    )


def event(
    invoice: InvoiceRow,
    status: str,
    code: str,
    actor: str,
    detail: str | None,
    at: datetime,
    produced_at: datetime | None = None,
    to_supplier: bool = True,
    mandate: str | None = None,
) -> InvoiceEvent:
    """An event of the invoice's history, with the recipient and service it has now: a
    status flow describes each status with them, whatever recycling changes later."""
    return InvoiceEvent(
        invoice_id=invoice.id,
        at=at,
        produced_at=_utc(produced_at or at),
        status=status,
        status_code=code,
        actor=actor,
        detail=detail,
        mandate=mandate,
        recipient_siret=invoice.recipient_siret,
        service_code=invoice.service_code,
        to_supplier=to_supplier,
    )


def _utc(moment: datetime) -> datetime:
    """As the ledger stores every time; a partner's Horodatage at the calendar's very ends
    (year 1 or 9999 with an offset) is kept at that end."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def _tells_the_supplier(session: Session, invoice: InvoiceRow, new: InvoiceState) -> bool:
    """A delivery step its supplier was already told (the invoice delivered again after a
    delivery incident) is not told again: the supplier never sees its lifecycle go back."""
    if new not in MAIN_ROAD[: DELIVERED_AT + 1]:
        return True
    told = session.scalar(
        select(InvoiceEvent.status)
        .where(InvoiceEvent.invoice_id == invoice.id, InvoiceEvent.to_supplier.is_(True))
        .order_by(InvoiceEvent.id.desc())
        .limit(1)
    )
    return told not in MAIN_ROAD or MAIN_ROAD.index(told) < MAIN_ROAD.index(new)


def _state(code: str) -> InvoiceState | None:
    return next((state for state in InvoiceState if state.code == code), None)


def supplier_is_siret(invoice: InvoiceRow) -> bool:
    """Whether the invoice names its supplier by a SIRET (no scheme given, or scheme 1):
    what a status about it by id (an operator's, the API's) is checked against."""
    return invoice.supplier_id_type in (None, "1") and siret.is_valid(invoice.supplier_id or "")


def _is_siret(status: InvoiceStatus) -> bool:
    identifier = status.supplier.identifier
    return status.supplier.identifier_type == "1" and siret.is_valid(identifier)


def _invoice(
    session: Session, partner: str, supplier: str, number: str, invoice_date: date | None
) -> InvoiceRow | Problem:
    """The one invoice the status names among those the partner may know of, or why none:
    the answer is computed from those alone, so that it tells nothing of the others."""
    query = select(InvoiceRow).where(
        InvoiceRow.supplier_id == supplier,
        InvoiceRow.number_key == number_key.key(number),  # a lookalike number is the same
        InvoiceRow.pivot_file.is_not(None),  # delivered: refused at reception, it is nobody's
        visible(partner),
    )
    if invoice_date is not None:
        year = invoice_date.year
        query = query.where(InvoiceRow.issue_date.between(date(year, 1, 1), date(year, 12, 31)))
    # locked until the flow commits: two status flows about one invoice apply one by one
    found = session.scalars(query.order_by(InvoiceRow.id).with_for_update()).all()
    if not found:
        return _unknown(partner, supplier, number, invoice_date)
    if len(found) > 1:
        years = ", ".join(sorted({str(i.issue_date.year) for i in found if i.issue_date}))
        return CODES["STATUS_INVOICE_AMBIGUOUS"].fails(
            shown(number), supplier=shown(supplier), years=years, partner=partner
        )
    return found[0]


def _unknown(partner: str, supplier: str, number: str, invoice_date: date | None) -> Problem:
    """What a partner is told of an invoice it may not know of, whether it exists or not:
    from the status's own values alone."""
    year = f" ({invoice_date.year})" if invoice_date else ""
    return CODES["STATUS_INVOICE_UNKNOWN"].fails(
        shown(number), supplier=shown(supplier), year=year, partner=partner
    )


def _roles(partner: str, structure: Structure | None, depositor: str | None) -> set[str]:
    """What the partner is to this invoice: its recipient, its accountant, its supplier."""
    roles = set()
    if structure is not None and partner == structure.partner_code:
        roles.add(RECIPIENT)
    if structure is not None and partner == structure.accountant_partner:
        roles.add(ACCOUNTANT)
    if partner == depositor:
        roles.add(SUPPLIER)
    return roles


def _not_yours(new: InvoiceState, roles: set[str]) -> tuple[str, str] | None:
    allowed = SET_BY[new]
    if ENGINE in allowed:
        return "la plateforme le donne en remettant la facture", "the hub sets it by delivering"
    if allowed & roles:
        return None
    names = {RECIPIENT: ("destinataire", "recipient"), ACCOUNTANT: ("comptable", "accountant"),
             SUPPLIER: ("fournisseur", "supplier")}  # fmt: skip
    french = " ou le ".join(names[role][0] for role in sorted(allowed, key=list(names).index))
    english = " or ".join(names[role][1] for role in sorted(allowed, key=list(names).index))
    return f"seul le {french} de la facture le donne", f"only the invoice's {english} sets it"
