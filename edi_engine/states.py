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

    @property
    def code(self) -> str:
        """The two-digit IdStatut of CPPFactureStatuts."""
        return f"{list(InvoiceState).index(self) + 1:02d}"


class Syntax(StrEnum):
    """Flow syntaxes, named as Chorus Pro names them (docs/architecture.md#words)."""

    UBL = "IN_DP_E1_UBL_INVOICE"
    CII = "IN_DP_E1_CII_16B"
    FACTURX = "IN_DP_E2_CII_FACTURX"
    PIVOT = "IN_DP_E2_CPP_FACTURE"
    STATUT = "IN_STATUT_CPP"
    MIXED = "MIXED"  # a batch whose members are of several syntaxes
