"""The hub's business controls, one entry each (docs/architecture.md#business-controls).

A code is a public contract: suppliers' and operators' scripts match on it. Each message
exists in French (the hub's language, first in the CR) and English, and names the element
and the value found; the severity is the default, which says whether the invoice is
refused or accepted with a warning, and which a hub may change in [controls.severity],
except for the controls that guard routing and integrity (`LOCKED`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..problems import REJECT, WARNING, Problem
from ..reception import rules


@dataclass(frozen=True)
class Control:
    code: str
    severity: str
    element: str  # where the value lives, in the pivot's vocabulary
    fr: str  # str.format templates: {value} is the value found, other names are facts
    en: str

    def fails(self, value: object = None, **facts: object) -> Problem:
        found = "" if value is None else str(value)
        return Problem(
            self.code,
            self.en.format(value=found, **facts),
            element=self.element,
            value=found or None,
            severity=self.severity,
            message_fr=self.fr.format(value=found, **facts),
        )


DEBITEUR = "Debiteur/Identifiant"
SERVICE = "Debiteur/CodeService"
ENGAGEMENT = "DonneesFacture/Engagement/NumeroEngagement"
AMOUNTS = "DonneesFacture/Montants"

CONTROLS = (
    Control(
        "RECIPIENT_MISSING", REJECT, DEBITEUR,
        "L'acheteur ne porte aucun SIRET{found_fr} ; la plateforme achemine les factures "
        "selon le SIRET de la structure destinataire.",
        "The buyer carries no SIRET{found_en}; the hub routes invoices by the recipient "
        "structure's SIRET.",
    ),
    Control(
        "RECIPIENT_INVALID", REJECT, DEBITEUR,
        "Le SIRET destinataire {value} n'est pas composé de 14 chiffres avec une clé de "
        "contrôle valide.",
        "The recipient SIRET {value} is not 14 digits with a valid check key.",
    ),
    Control(
        "RECIPIENT_UNKNOWN", REJECT, DEBITEUR,
        "Aucune structure de SIRET {value} n'est connue de la plateforme.",
        "No structure with SIRET {value} is known to the hub.",
    ),
    Control(
        "RECIPIENT_INACTIVE", REJECT, DEBITEUR,
        "La structure {value} ({name}) n'est pas ACTIVE et ne peut pas recevoir de factures.",
        "The structure {value} ({name}) is not ACTIVE and cannot receive invoices.",
    ),
    Control(
        "SERVICE_CODE_REQUIRED", REJECT, SERVICE,
        "La structure {siret} ({name}) exige un code service et la facture n'en porte pas.",
        "The structure {siret} ({name}) requires a service code and the invoice carries none.",
    ),
    Control(
        "SERVICE_CODE_UNKNOWN", REJECT, SERVICE,
        "Le code service {value} n'est pas un service de la structure {siret} ({name}).",
        "The service code {value} is not a service of the structure {siret} ({name}).",
    ),
    Control(
        "SERVICE_CODE_INACTIVE", REJECT, SERVICE,
        "Le service {value} de la structure {siret} ({name}) n'est pas actif.",
        "The service {value} of the structure {siret} ({name}) is not active.",
    ),
    Control(
        "ENGAGEMENT_REQUIRED", REJECT, ENGAGEMENT,
        "La structure {siret} ({name}) exige un numéro d'engagement et la facture n'en porte pas.",
        "The structure {siret} ({name}) requires a commitment number and the invoice carries "
        "none.",
    ),
    Control(
        "ENGAGEMENT_OR_SERVICE_CODE_REQUIRED", REJECT, ENGAGEMENT,
        "La structure {siret} ({name}) exige un numéro d'engagement ou un code service et la "
        "facture ne porte ni l'un ni l'autre.",
        "The structure {siret} ({name}) requires a commitment number or a service code and the "
        "invoice carries neither.",
    ),
    Control(
        "ENGAGEMENT_UNKNOWN", REJECT, ENGAGEMENT,
        "L'engagement {value} ne fait pas partie des engagements publiés par la structure "
        "{siret} ({name}) pour le fournisseur {supplier}.",
        "The commitment {value} is not one the structure {siret} ({name}) published for "
        "supplier {supplier}.",
    ),
    Control(
        "ENGAGEMENT_INACTIVE", REJECT, ENGAGEMENT,
        "L'engagement {value} de la structure {siret} ({name}) n'est plus actif.",
        "The commitment {value} of the structure {siret} ({name}) is no longer active.",
    ),
    Control(
        "ENGAGEMENT_SERVICE_MISMATCH", WARNING, ENGAGEMENT,
        "L'engagement {value} relève du service {engagement_service}, mais la facture est "
        "adressée au service {service}.",
        "The commitment {value} belongs to service {engagement_service}, but the invoice is "
        "addressed to service {service}.",
    ),
    Control(
        "INVOICE_DUPLICATE", REJECT, "DonneesFacture/Id",
        "Le fournisseur {supplier} a déjà déposé une facture numéro {value} en {year}{flow_fr} "
        "; un numéro de facture ne sert qu'une fois par an.",
        "Supplier {supplier} already deposited an invoice numbered {value} in {year}{flow_en}; "
        "an invoice number is used once a year.",
    ),
    Control(
        "INVOICE_NUMBER_INVISIBLE_CHARACTERS", REJECT, "DonneesFacture/Id",
        "Le numéro de facture {value} contient des caractères invisibles ou de contrôle "
        "({chars}) : il ressemblerait à un autre numéro sans l'être. Retirez-les.",
        "The invoice number {value} carries invisible or control characters ({chars}): it "
        "would look like another number without being it. Remove them.",
    ),
    Control(
        "SUPPLIER_NOT_ALLOWED", REJECT, "Fournisseur/Identifiant",
        "Le partenaire {partner} n'est pas habilité à déposer pour le fournisseur {value} : "
        "ce fournisseur n'est pas rattaché à son raccordement.",
        "Partner {partner} may not deposit for supplier {value}: this supplier is not tied "
        "to its connection.",
    ),
    Control(
        "ISSUE_DATE_AFTER_DEPOSIT", REJECT, "DonneesFacture/DateEmissionFacture",
        "La date d'émission {value} est postérieure à la date de dépôt {deposit}.",
        "The issue date {value} is after the deposit date {deposit}.",
    ),
    Control(
        # raised by the readers (pivot_format), which map the types the pivot can carry
        "UNSUPPORTED_TYPE", REJECT, "DonneesFacture/Type",
        "Le type de document {value} n'est pas accepté : la plateforme reçoit des factures "
        "(380) et des avoirs (381), et les types qui s'y ramènent.",
        "The document type {value} is not accepted: the hub takes invoices (380) and credit "
        "notes (381), and the types that map to them.",
    ),
    Control(
        "CURRENCY_UNKNOWN", REJECT, "DonneesFacture/Devise",
        "Le code devise {value} n'est pas une devise ISO 4217.",
        "The currency code {value} is not an ISO 4217 currency.",
    ),
    Control(
        "TOTAL_LINES_MISMATCH", REJECT, f"{AMOUNTS}/MontantHT",
        "Les lignes totalisent {lines} ; remises ({allowances}) déduites et charges "
        "({charges}) ajoutées, le montant HT devrait être {expected}, mais la facture indique "
        "{value} (tolérance {tolerance}).",
        "The lines add up to {lines}; less allowances ({allowances}) plus charges ({charges}), "
        "the amount without VAT should be {expected}, but the invoice says {value} (tolerance "
        "{tolerance}).",
    ),
    Control(
        "TOTAL_VAT_BASE_MISMATCH", REJECT, f"{AMOUNTS}/MontantHT",
        "Les bases du récapitulatif de TVA totalisent {expected}, mais le montant HT est "
        "{value} (tolérance {tolerance}).",
        "The taxable bases of the VAT breakdown add up to {expected}, but the amount without "
        "VAT is {value} (tolerance {tolerance}).",
    ),
    Control(
        "TOTAL_VAT_LINES_MISMATCH", REJECT, "DonneesFacture/TVAs/TVA/BaseHt",
        "Les lignes au taux de {rate} % totalisent {expected}, mais la base de TVA à ce taux "
        "est {value} (tolérance {tolerance}).",
        "The lines at {rate}% add up to {expected}, but the VAT base at that rate is {value} "
        "(tolerance {tolerance}).",
    ),
    Control(
        "TOTAL_VAT_AMOUNT_MISMATCH", REJECT, "DonneesFacture/TVAs/TVA/MontantTVA",
        "Au taux de {rate} %, la TVA sur une base de {base} est {expected}, mais la facture "
        "indique {value} (tolérance {tolerance}).",
        "At {rate}%, the VAT on a base of {base} is {expected}, but the invoice says {value} "
        "(tolerance {tolerance}).",
    ),
    Control(
        "TOTAL_VAT_SUM_MISMATCH", REJECT, "DonneesFacture/TVAs/TVA/MontantTVA",
        "Le récapitulatif de TVA totalise {expected}, mais le total de TVA de la facture "
        "(BT-110) est {value} (tolérance {tolerance}).",
        "The VAT breakdown adds up to {expected}, but the invoice's VAT total (BT-110) is "
        "{value} (tolerance {tolerance}).",
    ),
    Control(
        "TOTAL_TTC_MISMATCH", REJECT, f"{AMOUNTS}/MontantTTC",
        "Le montant HT ({ht}) plus la TVA ({vat}) font {expected}, mais le montant TTC est "
        "{value} (tolérance {tolerance}).",
        "The amount without VAT ({ht}) plus VAT ({vat}) is {expected}, but the amount with VAT "
        "is {value} (tolerance {tolerance}).",
    ),
    Control(
        "TOTAL_NET_MISMATCH", REJECT, f"{AMOUNTS}/MontantNetAPayer",
        "Le montant TTC ({ttc}) moins les acomptes ({prepaid}) plus l'arrondi ({rounding}) "
        "font {expected}, mais le net à payer est {value} (tolérance {tolerance}).",
        "The amount with VAT ({ttc}) less prepaid amounts ({prepaid}) plus rounding "
        "({rounding}) is {expected}, but the amount due is {value} (tolerance {tolerance}).",
    ),
    Control(
        "IBAN_INVALID", WARNING, "Fournisseur/ReferenceBancaire/Compte",
        "L'IBAN {value} n'est pas valide (format ou clé de contrôle ISO 13616).",
        "The IBAN {value} is not valid (ISO 13616 format or check digits).",
    ),
)  # fmt: skip

CATALOGUE: dict[str, Control] = {control.code: control for control in CONTROLS}

# -- what a hub may set in [controls.severity] ----------------------------------------

REJECTS, WARNS, OFF = "reject", "warn", "off"  # the values of [controls.severity]
LEVELS = (REJECTS, WARNS, OFF)

ROUTING = (
    "the hub routes each invoice by its recipient's SIRET to a known, ACTIVE structure; "
    "without one there is no one to deliver it to"
)
SCHEMA = "a document its schema refuses cannot be read faithfully"
TOTALS = "a recipient would be asked to pay totals that do not add up"

# controls that protect routing and integrity: they always reject. Besides the catalogue's,
# the flow's own checks, named here so that a hub trying to lower one is told why.
LOCKED: dict[str, str] = {
    "RECIPIENT_MISSING": ROUTING,
    "RECIPIENT_INVALID": ROUTING,
    "RECIPIENT_UNKNOWN": ROUTING,
    "RECIPIENT_INACTIVE": ROUTING,
    "INVOICE_DUPLICATE": "an invoice accepted twice would be delivered, and paid, twice",
    "INVOICE_NUMBER_INVISIBLE_CHARACTERS": (
        "a number that only looks like another would be accepted, and paid, twice"
    ),
    "SUPPLIER_NOT_ALLOWED": (
        "a partner would send invoices in the name of a company that did not entrust it with them"
    ),
    "DUPLICATE_FLOW": "the same content would be processed, and its invoices delivered, twice",
    "FIELD_TOO_LONG": (
        "a value that identifies an invoice (its supplier, its amounts), cut to fit the ledger, "
        "would identify another"
    ),
    "UNSUPPORTED_TYPE": (
        "the pivot carries invoices and credit notes only: a document of another type cannot "
        "be delivered"
    ),
    **{code: TOTALS for code in CATALOGUE if code.startswith("TOTAL_")},
    **dict.fromkeys(("XSD_INVALID", "NOT_XML", "DTD_FORBIDDEN", "UNKNOWN_SYNTAX"), SCHEMA),
    "MEMBER_NAME_TOO_LONG": (
        "a name longer than the ledger and the CR keep would be cut, and the CR would name "
        "another document; an unbounded one would be read whole"
    ),
    "FLOW_KILLED_WORKER": (
        "a flow that kills the worker processing it would be taken again forever, and stop "
        "every other partner's flows each time"
    ),
    # retired, never raised any more: named so that a configuration that set it (to
    # "reject", the only value it could take) still starts
    "UNSUPPORTED_SYNTAX": SCHEMA,
}


def default_severities() -> dict[str, str]:
    """Each control of the catalogue with the severity it has unless the hub sets another."""
    return {control.code: REJECTS if control.severity == REJECT else WARNS for control in CONTROLS}


def severity_refusal(code: str, level: object) -> str | None:
    """Why `code = level` cannot stand in [controls.severity] (a phrase to follow the key),
    or None when it can."""
    if code not in CATALOGUE and code not in LOCKED and not rules.known(code):
        close = difflib.get_close_matches(code.upper(), [*CATALOGUE, *LOCKED], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return (
            f"is not the code of a control whose severity the hub sets{hint}, nor a business "
            "rule's identifier; the codes are listed in docs/errors.md, the rules by "
            "`edi-engine rules list`"
        )
    if level not in LEVELS:
        return f'must be "reject", "warn" or "off"; found {level!r}'
    if level != REJECTS and code in LOCKED:
        return f"cannot be lowered to {level!r}: {LOCKED[code]}"
    return None


def severity_of(code: str, severity: Mapping[str, str]) -> str | None:
    """The hub's level for a code: its own line, else its rule family's, "BR-FR-12" for
    the French rule BR-FR-12_BT-49 (the norm names a rule and its variants so)."""
    return severity.get(code) or severity.get(code.split("_", 1)[0])


def graded(problems: Iterable[Problem], severity: Mapping[str, str]) -> list[Problem]:
    """Each finding as the hub set its control: it rejects, it warns, or (off) it is dropped
    and neither stored nor reported. A code the table does not name keeps its severity."""
    kept = []
    for problem in problems:
        level = severity_of(problem.code, severity)
        if level == OFF:
            continue
        if level is not None:
            problem = problem.at(severity=REJECT if level == REJECTS else WARNING)
        kept.append(problem)
    return kept


def in_french(problem: Problem) -> Problem:
    """Give a problem raised outside the controls (e.g. by a reader) the catalogue's French
    message when its code is one of the catalogue's."""
    control = CATALOGUE.get(problem.code)
    if control is None or problem.message_fr:
        return problem
    try:
        french = control.fails(problem.value).message_fr
    except KeyError:  # the template needs facts only the control itself knows
        return problem
    return problem.at(message_fr=french, severity=control.severity)
