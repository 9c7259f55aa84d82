"""The invoice model every reader produces and every writer consumes.

Frozen dataclasses so that layers pass values, not live objects.
Amounts are ``Decimal`` exactly as the source wrote them (scale kept), dates are
``datetime.date``. Field names follow the pivot's own vocabulary where it has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

INVOICE = "380"
CREDIT_NOTE = "381"

# TypeIdentifiant of Fournisseur (docs/mapping.md)
ID_SIRET = "1"
ID_EU_VAT = "2"
ID_OUTSIDE_EU = "3"


@dataclass(frozen=True)
class Supplier:
    """Fournisseur: who issued the invoice."""

    identifier: str
    identifier_type: str  # TypeIdentifiant, "1".."7"
    name: str
    country_code: str  # ISO 3166-1 alpha-2
    iban: str | None = None  # ReferenceBancaire/Compte
    bic: str | None = None  # ReferenceBancaire/Etablissement
    bank_reference_type: str = "IBAN"  # "IBAN" or "RIB"
    payee_name: str | None = None  # ReferenceBancaire/RaisonSocialeEncaisseur


@dataclass(frozen=True)
class Debiteur:
    """The recipient structure (and service) the invoice is addressed to."""

    siret: str | None  # None when the source carries no identifier at all
    name: str | None = None
    service_code: str | None = None
    service_name: str | None = None
    # what the source carried when it is not a SIRET, for precise rejections
    raw_identifier: str | None = None
    raw_scheme: str | None = None


@dataclass(frozen=True)
class VatLine:
    """One TVA entry: a rate with its taxable base and tax amount."""

    rate: Decimal
    base_ht: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Line:
    """One invoice line (Ligne), numbered from 1 in document order."""

    number: int
    unit_price: Decimal
    quantity: Decimal
    amount_ht: Decimal
    product_ref: str | None = None
    vat_rate: Decimal | None = None


@dataclass(frozen=True)
class Attachment:
    """PJ: a file carried with the invoice; ``type_code`` 01 = the invoice itself."""

    name: str
    mime_type: str
    content: bytes
    type_code: str = "02"
    original_name: str | None = None  # NomPJOrigine, at most 50: the name the supplier gave
    category: str | None = None  # CategoriePJ, at most 50: "Devis", "Bon de livraison"…


@dataclass(frozen=True)
class Invoice:
    """One invoice or credit note, independent of the syntax it arrived in."""

    number: str  # DonneesFacture/Id
    type_code: str  # "380" or "381"
    issue_date: date
    currency: str
    supplier: Supplier
    debiteur: Debiteur
    amount_ht: Decimal
    amount_ttc: Decimal
    amount_net: Decimal
    payment_means_code: str | None = None
    payment_means_label: str | None = None  # ModePaiement/Libelle
    delivery_date: date | None = None  # the pivot writes the issue date when absent
    cadre: str = "A1"
    origin_invoice_id: str | None = None  # IdFactureOrigine, for credit notes
    renvoi: str | None = None  # "Non", "Complétée", "Recyclée"
    # IdCPRO: the hub's own technical identifier of the invoice (its ledger id), set by the
    # engine when it delivers; a deposited pivot's own is read, never trusted
    id_cpro: int | None = None
    engagement_number: str | None = None  # NumeroEngagement (BT-13)
    contract_number: str | None = None  # NumeroMarche (BT-12)
    vat_lines: tuple[VatLine, ...] = ()
    lines: tuple[Line, ...] = ()
    attachments: tuple[Attachment, ...] = field(default=(), repr=False)
    reception_date: date | None = None  # DateReception; set by the hub at deposit
    # Document totals read for the business controls (issue 5), never written to the pivot,
    # which has no place for them: the pivot reader leaves them None. From UBL and CII, the
    # allowances, charges, prepaid and rounding amounts are 0 when absent (the source could
    # have said and did not); the line and VAT totals are None when absent.
    line_total: Decimal | None = None  # BT-106, sum of the invoice line net amounts
    allowance_total: Decimal | None = None  # BT-107, document-level allowances
    charge_total: Decimal | None = None  # BT-108, document-level charges
    vat_total: Decimal | None = None  # BT-110, total VAT in the invoice currency
    prepaid: Decimal | None = None  # BT-113, amount already paid
    rounding: Decimal | None = None  # BT-114, rounding of the amount due

    @property
    def year(self) -> int:
        """The year that, with supplier and number, makes an invoice unique."""
        return self.issue_date.year


@dataclass(frozen=True)
class Envelope:
    """Enveloppe of a pivot or status file: who sends it to whom, which flow."""

    flow_id: str  # IdFlx
    produced_at: date  # DtPrd
    sender_id: str  # Emetteur/Id, 3 to 8 characters
    receiver_id: str  # Recepteur/Id, 3 to 8 characters
    sender_label: str | None = None
    receiver_label: str | None = None


@dataclass(frozen=True)
class ErrorLine:
    """LigneErreurDetail of an integration report."""

    code: str  # CodeErreur, stable
    message: str  # LibelleErreur
    nature: str = "Fichier"  # NatureErreur: "Fichier", "Facture", "Avertissement", …
    detail: str | None = None  # DescriptionErreur: the invoice, where, the value found
    line_id: str | None = None  # IdLigne: the invoice's position in the flow, "0" the flow


@dataclass(frozen=True)
class FlowStatus:
    """CPPFluxStatutUnitaire: the hub's answer about one deposited flow (CR)."""

    code: str  # IdStatut: "90", "93" or "96"
    flow_id: str  # IdFlux
    at: datetime  # Horodatage, timezone-aware
    complement: str | None = None  # ComplementStatut, at most 40 characters
    comment: str | None = None  # Commentaire
    errors: tuple[ErrorLine, ...] = ()
    note: str | None = None  # Note


@dataclass(frozen=True)
class InvoiceStatus:
    """CPPFactureStatutUnitaire: one lifecycle change of one invoice."""

    code: str  # IdStatut, two digits
    supplier: Supplier
    debiteur: Debiteur
    invoice_number: str  # IdFacture
    at: datetime  # Horodatage, timezone-aware
    invoice_date: date | None = None  # DateFacture
    complement: str | None = None
    comment: str | None = None
    mandate: str | None = None  # IdMandatDP
    producer_id: str | None = None  # Producteur/@Id
