"""Who may deposit for whom (docs/errors.md#who-may-deposit-for-whom).

A partner (a connection) deposits invoices, and statuses, only for the suppliers tied to
it, unless it is registered as an operator, who may deposit for any supplier. A supplier
is known by the identifier its invoices carry (`Fournisseur/Identifiant`): its SIRET, or,
without one, its VAT number or another identifier.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import Session

from .. import clock, csvfile, siret
from ..errors import RefusedError, UsageError
from ..ledger.models import Partner, PartnerSupplier
from ..partners import registry as partners
from ..problems import shown

SIRET, VAT, OTHER = "siret", "vat", "other"
SCHEMES = (SIRET, VAT, OTHER)
MAX_LENGTH = 100  # invoices.supplier_id
VAT_SHAPE = re.compile(r"[A-Z]{2}[A-Z0-9+*]{2,13}")  # country prefix, then 2 to 13
CSV_COLUMNS = ("identifier",)  # and optionally scheme


class SupplierNotTied(RefusedError):
    """The partner is not tied to this supplier."""


def normalized(identifier: str) -> str:
    """How identifiers are compared: spaces removed, upper case (`FR 12 345…` is
    `FR12345…`)."""
    return "".join(identifier.split()).upper()


def refusal(session: Session, partner_code: str, supplier_id: str | None) -> str | None:
    """None when the partner may deposit for this supplier, else why not (English, naming
    the partner and the supplier)."""
    partner = session.get(Partner, partner_code)
    if partner is None:
        return f"Partner {partner_code} is not registered: it may deposit for no supplier."
    if partner.operator:
        return None
    identifier = normalized(supplier_id or "")
    if not identifier:
        return f"Partner {partner_code} may deposit only for its suppliers; no supplier is named."
    if session.get(PartnerSupplier, (partner_code, identifier[:MAX_LENGTH])) is not None:
        return None
    return (
        f"Partner {partner_code} may not deposit for supplier {shown(supplier_id or '')}: "
        "it is not one of the suppliers its connection is tied to."
    )


def checked(identifier: str, scheme: str | None = None) -> tuple[str, str]:
    """(identifier as compared, scheme), or UsageError saying what is wrong. Without a
    scheme: 14 digits are a SIRET, a country prefix and 2 to 13 letters or digits a VAT
    number; anything else needs the scheme `other`."""
    value = normalized(identifier)
    if not value:
        raise UsageError("A supplier identifier is empty.")
    if len(value) > MAX_LENGTH or not value.isprintable():
        raise UsageError(
            f"Supplier identifier {shown(identifier)!r} is not an identifier: at most "
            f"{MAX_LENGTH} printable characters."
        )
    if scheme is None or scheme == "":
        scheme = SIRET if value.isdigit() and len(value) == 14 else None
        scheme = scheme or (VAT if VAT_SHAPE.fullmatch(value) else None)
        if scheme is None:
            raise UsageError(
                f"Supplier identifier {value!r} is neither a SIRET (14 digits) nor a VAT "
                "number (country prefix and 2 to 13 letters or digits); give its scheme "
                "as other if it is the identifier its invoices carry."
            )
    scheme = scheme.strip().lower()
    if scheme not in SCHEMES:
        raise UsageError(f"Scheme {shown(scheme)!r} is not one of {', '.join(SCHEMES)}.")
    if scheme == SIRET and not siret.is_valid(value):
        raise UsageError(f"SIRET {value!r} is not 14 digits with a valid check key.")
    if scheme == VAT and not VAT_SHAPE.fullmatch(value):
        raise UsageError(
            f"VAT number {value!r} is not a country prefix and 2 to 13 letters or digits."
        )
    return value, scheme


def add(session: Session, code: str, identifiers: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Tie checked (identifier, scheme) pairs to a partner; the caller commits. Returns the
    identifiers added and those already tied (whose scheme becomes the one given)."""
    partner = partners.get(session, code)
    tied = {s.identifier: s for s in partner.suppliers}
    added, already, at = [], [], clock.now()
    for identifier, scheme in identifiers:
        if identifier in tied:
            tied[identifier].scheme = scheme
            already.append(identifier)
            continue
        tied[identifier] = PartnerSupplier(identifier=identifier, scheme=scheme, added_at=at)
        partner.suppliers.append(tied[identifier])
        added.append(identifier)
    return {"added": added, "already": already}


def remove(session: Session, code: str, identifiers: list[str]) -> list[str]:
    """Untie suppliers from a partner, all or none: one it is not tied to refuses the lot."""
    partner = partners.get(session, code)
    tied = {s.identifier: s for s in partner.suppliers}
    wanted = [normalized(i) for i in identifiers]
    unknown = [shown(i) for i, key in zip(identifiers, wanted, strict=True) if key not in tied]
    if unknown:
        raise SupplierNotTied(
            f"Partner {code} is not tied to {', '.join(unknown)}; nothing was removed "
            f"(`edi-engine partners suppliers list {code}`)."
        )
    for key in dict.fromkeys(wanted):
        partner.suppliers.remove(tied[key])
    return list(dict.fromkeys(wanted))


def read_csv(path: Path) -> list[tuple[str, str]]:
    """identifier[,scheme] lines, every bad one named, nothing kept of a bad file."""
    seen: dict[str, int] = {}

    def row(
        line: int, value: dict[str, str], _header: set[str]
    ) -> tuple[tuple[str, str] | None, str | None]:
        try:
            identifier, scheme = checked(value["identifier"], value.get("scheme"))
        except UsageError as exc:
            return None, exc.message
        if identifier in seen:
            return None, f"{identifier} already appears on line {seen[identifier]}"
        seen[identifier] = line
        return (identifier, scheme), None

    return csvfile.read(path, CSV_COLUMNS, row)
