"""The invoice lifecycle of docs/architecture.md#the-invoice-lifecycle as one state machine:
which change is allowed
from which status, and who may make it. A change that is not allowed is refused with its
reason, never applied silently."""

from __future__ import annotations

from .states import InvoiceState

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

SET_BY: dict[InvoiceState, str] = {
    S.DEPOSEE: ENGINE,
    S.EN_COURS_ACHEMINEMENT: ENGINE,
    S.MISE_A_DISPOSITION: ENGINE,
    S.A_RECYCLER: RECIPIENT,
    S.REJETEE: RECIPIENT,  # the engine too, at reception
    S.SUSPENDUE: RECIPIENT,
    S.SERVICE_FAIT: RECIPIENT,
    S.MANDATEE: RECIPIENT,
    S.MISE_A_DISPOSITION_COMPTABLE: ACCOUNTANT,
    S.COMPTABILISEE: ACCOUNTANT,
    S.MISE_EN_PAIEMENT: ACCOUNTANT,
    S.COMPLETEE: SUPPLIER,
}

# the side roads: sent back for its routing data, suspended then completed, rejected
SIDE_ROADS: dict[InvoiceState, frozenset[InvoiceState]] = {
    S.MISE_A_DISPOSITION: frozenset({S.A_RECYCLER, S.SUSPENDUE, S.REJETEE}),
    S.SERVICE_FAIT: frozenset({S.SUSPENDUE, S.REJETEE}),
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
        return "an invoice sent back for its routing data is re-addressed with `edi-engine invoices recycle`"
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
    if SET_BY[new] == ENGINE:
        return f"{new.value} is set by the engine when it delivers the invoice"
    return refusal(current, new)
