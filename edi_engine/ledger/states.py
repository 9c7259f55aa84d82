"""Explicit states of flows and invoices (docs/architecture.md#flow-states,
docs/architecture.md#the-invoice-lifecycle)."""

from __future__ import annotations

from enum import StrEnum


class FlowState(StrEnum):
    IN_RECU = "IN_RECU"
    IN_EN_COURS_TRAITEMENT = "IN_EN_COURS_TRAITEMENT"
    IN_INTEGRE = "IN_INTEGRE"
    IN_INTEGRE_PARTIEL = "IN_INTEGRE_PARTIEL"
    IN_REJETE = "IN_REJETE"
    IN_INCIDENTE = "IN_INCIDENTE"


# CR flow-status codes (CPPFluxStatuts/IdStatut)
CR_RECEIVED = "90"
CR_REJECTED = "93"
CR_PARTIAL = "96"

CR_CODE = {
    FlowState.IN_INTEGRE: CR_RECEIVED,
    FlowState.IN_INTEGRE_PARTIEL: CR_PARTIAL,
    FlowState.IN_REJETE: CR_REJECTED,
    FlowState.IN_INCIDENTE: CR_REJECTED,  # ComplementStatut IN_INCIDENTE: send it again
}


class InvoiceState(StrEnum):
    DEPOSEE = "DEPOSEE"
    EN_COURS_ACHEMINEMENT = "EN_COURS_ACHEMINEMENT"
    MISE_A_DISPOSITION = "MISE_A_DISPOSITION"
    A_RECYCLER = "A_RECYCLER"
    REJETEE = "REJETEE"
    SUSPENDUE = "SUSPENDUE"
    SERVICE_FAIT = "SERVICE_FAIT"
    MANDATEE = "MANDATEE"
    MISE_A_DISPOSITION_COMPTABLE = "MISE_A_DISPOSITION_COMPTABLE"
    COMPTABILISEE = "COMPTABILISEE"
    MISE_EN_PAIEMENT = "MISE_EN_PAIEMENT"
    COMPLETEE = "COMPLETEE"
    # refused by the hub at reception (controls, routing, unreadable): reported in its
    # flow's CR only, it never enters the lifecycle and no status flow carries it
    REFUSEE_RECEPTION = "REFUSEE_RECEPTION"

    @property
    def code(self) -> str | None:
        """The two-digit IdStatut of CPPFactureStatuts; None for a refusal at reception,
        which has none (the ledger keeps "" in its non-null column)."""
        if self is InvoiceState.REFUSEE_RECEPTION:
            return None
        return f"{list(InvoiceState).index(self) + 1:02d}"

    @property
    def in_lifecycle(self) -> bool:
        return self is not InvoiceState.REFUSEE_RECEPTION


# the twelve statuses of the lifecycle, in the order of their codes
LIFECYCLE = tuple(state for state in InvoiceState if state.in_lifecycle)


class Syntax(StrEnum):
    """Flow syntaxes, named as Chorus Pro names them (docs/architecture.md#words)."""

    UBL = "IN_DP_E1_UBL_INVOICE"
    CII = "IN_DP_E1_CII_16B"
    FACTURX = "IN_DP_E2_CII_FACTURX"
    PIVOT = "IN_DP_E2_CPP_FACTURE"
    STATUT = "IN_STATUT_CPP"
    MIXED = "MIXED"  # a batch whose members are of several syntaxes
