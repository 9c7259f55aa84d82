"""Route an invoice to its recipient structure: known, well formed and ACTIVE (ARCHITECTURE §6)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pivot_format.model import Invoice

from . import siret as siret_rules
from .models import Partner, Structure
from .problems import Problem

ELEMENT = "Debiteur/Identifiant"


@dataclass(frozen=True)
class Recipient:
    siret: str
    designation: str
    active: bool
    partner_code: str
    remote: bool = False  # its partner is reached over SFTP: delivered once uploaded


def directory(session: Session) -> dict[str, Recipient]:
    """Every structure, read once per run: routing must not cost a query per invoice."""
    rows = session.execute(
        select(
            Structure.siret,
            Structure.designation,
            Structure.active,
            Structure.partner_code,
            Partner.channel == "sftp",
        ).join(Partner, Partner.code == Structure.partner_code)
    )
    return {row[0]: Recipient(*row) for row in rows}


def route(invoice: Invoice, structures: dict[str, Recipient]) -> Recipient | Problem:
    debiteur = invoice.debiteur
    siret = debiteur.siret
    if not siret:
        found = debiteur.raw_identifier
        scheme = f" (scheme {debiteur.raw_scheme})" if debiteur.raw_scheme else ""
        message = (
            f"The buyer is identified by {found!r}{scheme}, which is not a SIRET; "
            "the hub routes invoices by the recipient structure's SIRET."
            if found
            else "The buyer carries no SIRET; the hub routes invoices by the recipient structure's SIRET."
        )
        return Problem("RECIPIENT_MISSING", message, element=ELEMENT, value=found)
    if not siret_rules.is_valid(siret):
        return Problem(
            "RECIPIENT_INVALID",
            f"The recipient SIRET {siret} is not 14 digits with a valid check key.",
            element=ELEMENT,
            value=siret,
        )
    recipient = structures.get(siret)
    if recipient is None:
        return Problem(
            "RECIPIENT_UNKNOWN",
            f"No structure with SIRET {siret} is known to the hub.",
            element=ELEMENT,
            value=siret,
        )
    if not recipient.active:
        return Problem(
            "RECIPIENT_INACTIVE",
            f"The structure {siret} ({recipient.designation}) is not ACTIVE and cannot receive invoices.",
            element=ELEMENT,
            value=siret,
        )
    return recipient
