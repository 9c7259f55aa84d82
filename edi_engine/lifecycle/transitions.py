"""The invoice lifecycle of docs/architecture.md#the-invoice-lifecycle as one state machine:
which change is allowed
from which status, and who may make it. A change that is not allowed is refused with its
reason, never applied silently."""

from __future__ import annotations

from ..ledger.states import InvoiceState

S = InvoiceState

# the main road; the steps after MISE_A_DISPOSITION are optional, never taken backwards
MAIN_ROAD = (
    S.DEPOSEE,
    S.EN_COURS_ACHEMINEMENT,
    S.MISE_A_DISPOSITION,
    S.SERVICE_FAIT,
    S.MANDATEE,
    S.MISE_A_DISPOSITION_COMPTABLE,
    S.COMPTABILISEE,
    S.MISE_EN_PAIEMENT,
)
TERMINAL = frozenset({S.REJETEE, S.MISE_EN_PAIEMENT})

ENGINE = "engine"
RECIPIENT = "recipient"
ACCOUNTANT = "accountant"
SUPPLIER = "supplier"

# who may set each status (Chorus Pro): the recipient may set the accountant's 09 and 11
# itself, whether or not its structure has an accountant partner (Hélios), who sends 09 at
# the mandate's reception and 11; 10 is the recipient's alone
SET_BY: dict[InvoiceState, frozenset[str]] = {
    S.DEPOSEE: frozenset({ENGINE}),
    S.EN_COURS_ACHEMINEMENT: frozenset({ENGINE}),
    S.MISE_A_DISPOSITION: frozenset({ENGINE}),
    S.A_RECYCLER: frozenset({RECIPIENT}),
    S.REJETEE: frozenset({RECIPIENT}),
    S.SUSPENDUE: frozenset({RECIPIENT}),
    S.SERVICE_FAIT: frozenset({RECIPIENT}),
    S.MANDATEE: frozenset({RECIPIENT}),
    S.MISE_A_DISPOSITION_COMPTABLE: frozenset({ACCOUNTANT, RECIPIENT}),
    S.COMPTABILISEE: frozenset({RECIPIENT}),
    S.MISE_EN_PAIEMENT: frozenset({ACCOUNTANT, RECIPIENT}),
    S.COMPLETEE: frozenset({SUPPLIER}),
}

# a rejection or a suspension is told to the supplier with its reason (Commentaire)
REASON_REQUIRED = frozenset({S.A_RECYCLER, S.REJETEE, S.SUSPENDUE})

# the side roads: sent back for its routing data, suspended then completed, rejected (also
# once mandated: the accountant may refuse the mandate, and the recipient then rejects it)
SIDE_ROADS: dict[InvoiceState, frozenset[InvoiceState]] = {
    S.MISE_A_DISPOSITION: frozenset({S.A_RECYCLER, S.SUSPENDUE, S.REJETEE}),
    S.SERVICE_FAIT: frozenset({S.SUSPENDUE, S.REJETEE}),
    S.MANDATEE: frozenset({S.REJETEE}),
    S.MISE_A_DISPOSITION_COMPTABLE: frozenset({S.REJETEE}),
    S.A_RECYCLER: frozenset({S.EN_COURS_ACHEMINEMENT, S.MISE_A_DISPOSITION, S.REJETEE}),
    S.SUSPENDUE: frozenset({S.COMPLETEE, S.REJETEE}),
    S.COMPLETEE: frozenset({S.EN_COURS_ACHEMINEMENT, S.MISE_A_DISPOSITION}),
}

DELIVERED_AT = MAIN_ROAD.index(S.MISE_A_DISPOSITION)


def refusal(current: InvoiceState, new: InvoiceState) -> str | None:
    """Why the change from `current` to `new` is not allowed; None when it is."""
    if current in TERMINAL:
        return f"{current.value} ends the invoice's road: no status can follow it"
    if new == current:
        return f"the invoice is already {current.value}"
    if new in SIDE_ROADS.get(current, ()):
        return None
    if current == S.A_RECYCLER:
        return (
            "an invoice sent back for its routing data is re-addressed with "
            "`edi-engine invoices recycle`"
        )
    if current in MAIN_ROAD and new in MAIN_ROAD:
        step, target = MAIN_ROAD.index(current), MAIN_ROAD.index(new)
        if target < step:
            return f"{new.value} would take the invoice back from {current.value}"
        if target > DELIVERED_AT and step < DELIVERED_AT:
            return f"the recipient has not received the invoice yet (it is {current.value})"
        return None
    return f"{new.value} cannot follow {current.value}"


def operator_refusal(current: InvoiceState, new: InvoiceState) -> str | None:
    """An operator may act for a recipient, an accountant or a supplier, not for the engine:
    delivery statuses follow what was actually delivered, and recycling has its command."""
    if ENGINE in SET_BY[new]:
        return f"{new.value} is set by the engine when it delivers the invoice"
    return refusal(current, new)
