"""CPPStatut V1_19 ↔ status model: integration reports (CR) and invoice status flows.

A ``CPPStatut`` carries either ``CPPFluxStatuts`` — the hub's answer about each
deposited flow — or ``CPPFactureStatuts`` — lifecycle changes of invoices, outbound to
suppliers and inbound from recipients and their accountant. Both share the envelope
and parties of the pivot (``pivot_format.cpp``).

The writers write IdStatut with two digits and Horodatage with an offset. The reader
takes every form the official XSD accepts: IdStatut is an integer there, so ``7``,
``07`` and ``+7`` all are ``07``; a Horodatage without an offset is read as UTC. It reads
an invoice status whose supplier has an empty name or identifier, or a country or
recipient that is no ISO code or SIRET, as both XSDs allow: the engine finds the invoice
by its supplier's identifier and number, and refuses a status without them by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from pivot_format.cpp import (
    check_one_of,
    check_present,
    date_text,
    datetime_text,
    integer_text,
    kids,
    missing,
    optional_text,
    parse_date,
    parse_datetime,
    path_of,
    read_debiteur,
    read_envelope,
    required,
    required_text,
    shorten,
    sub,
    sub_opt,
    to_bytes,
    write_debiteur,
    write_envelope,
    write_supplier_identity,
    write_units,
)
from pivot_format.errors import ConversionError
from pivot_format.model import Envelope, ErrorLine, FlowStatus, InvoiceStatus, Supplier

__all__ = [
    "STATUT_VERSION",
    "read_statut",
    "write_flow_statuses",
    "write_invoice_statuses",
]

_Element = etree._Element

STATUT_VERSION = "V1_19"
FLOW_STATUS_CODES = frozenset({"90", "91", "92", "93", "94", "95", "96"})
INVOICE_STATUS_CODES = frozenset(f"{n:02d}" for n in range(1, 42))
MAX_FLOW_COMPLEMENT = 40  # CPPFluxStatuts/…/ComplementStatut


# --------------------------------------------------------------------------- writing


def write_flow_statuses(statuses: Sequence[FlowStatus], envelope: Envelope) -> bytes:
    """The integration report (CR) of deposited flows: one unit per flow."""
    root = _root(envelope, statuses)
    parent = sub(root, "CPPFluxStatuts", compteur=str(len(statuses)))
    write_units(parent, "CPPFluxStatutUnitaire", statuses, _write_flow_status)
    return to_bytes(root)


def write_invoice_statuses(statuses: Sequence[InvoiceStatus], envelope: Envelope) -> bytes:
    """A status flow: one unit per lifecycle change of an invoice."""
    root = _root(envelope, statuses)
    parent = sub(root, "CPPFactureStatuts", compteur=str(len(statuses)))
    write_units(parent, "CPPFactureStatutUnitaire", statuses, _write_invoice_status)
    return to_bytes(root)


def _root(envelope: Envelope, statuses: Sequence[object]) -> _Element:
    if not statuses:
        raise ConversionError("NO_STATUS", "a status flow carries at least one status")
    root = etree.Element("CPPStatut", Version=STATUT_VERSION)
    write_envelope(root, envelope)
    return root


def _write_flow_status(unit: _Element, status: FlowStatus) -> None:
    check_one_of(status.code, FLOW_STATUS_CODES, "DonneesStatut/IdStatut")
    check_present(status.flow_id, "DonneesStatut/IdFlux")
    data = sub(unit, "DonneesStatut")
    sub(data, "IdStatut", status.code)
    sub_opt(data, "ComplementStatut", shorten(status.complement, MAX_FLOW_COMPLEMENT))
    sub_opt(data, "Commentaire", status.comment)
    sub_opt(data, "Note", status.note)
    sub(data, "Horodatage", datetime_text(status.at, "DonneesStatut/Horodatage"))
    sub(data, "IdFlux", status.flow_id)
    if status.errors:
        details = sub(data, "Details", NbLignesErreur=str(len(status.errors)))
        for error in status.errors:
            _write_error(details, error)


def _write_error(details: _Element, error: ErrorLine) -> None:
    if error.line_id:
        line = sub(details, "LigneErreurDetail", IdLigne=error.line_id)
    else:
        line = sub(details, "LigneErreurDetail")
    sub(line, "NatureErreur", error.nature)
    sub(line, "CodeErreur", error.code)
    sub(line, "LibelleErreur", error.message)
    sub_opt(line, "DescriptionErreur", error.detail)


def _write_invoice_status(unit: _Element, status: InvoiceStatus) -> None:
    check_one_of(status.code, INVOICE_STATUS_CODES, "DonneesStatut/IdStatut")
    # no length limit: a status may concern an invoice refused for a too long number
    check_present(status.invoice_number, "DonneesStatut/IdFacture")
    write_supplier_identity(sub(unit, "Fournisseur"), status.supplier, country_required=False)
    write_debiteur(unit, status.debiteur)
    data = sub(unit, "DonneesStatut")
    sub(data, "IdStatut", status.code)
    sub_opt(data, "ComplementStatut", status.complement)
    sub_opt(data, "Commentaire", status.comment)
    sub(data, "Horodatage", datetime_text(status.at, "DonneesStatut/Horodatage"))
    if status.producer_id is not None:
        sub(data, "Producteur", Id=status.producer_id)
    sub(data, "IdFacture", status.invoice_number)
    if status.invoice_date is not None:
        sub(data, "DateFacture", date_text(status.invoice_date))
    sub_opt(data, "IdMandatDP", status.mandate)


# --------------------------------------------------------------------------- reading


def read_statut(root: _Element) -> tuple[Envelope, list[FlowStatus] | list[InvoiceStatus]]:
    """The envelope and the statuses of a parsed CPPStatut, whichever kind it carries."""
    if root.tag != "CPPStatut":
        raise ConversionError(
            "NOT_A_STATUT", "the document is not a CPPStatut", path_of(root), str(root.tag)
        )
    envelope = read_envelope(root)
    flows = root.find("CPPFluxStatuts")
    if flows is not None:
        units = flows.iterchildren("CPPFluxStatutUnitaire")
        return envelope, [_read_flow_status(unit) for unit in units]
    invoices = root.find("CPPFactureStatuts")
    if invoices is None:
        raise missing(root, "CPPFactureStatuts")
    units = invoices.iterchildren("CPPFactureStatutUnitaire")
    return envelope, [_read_invoice_status(unit) for unit in units]


def _read_flow_status(unit: _Element) -> FlowStatus:
    data = required(unit, kids(unit), "DonneesStatut")
    found = kids(data)
    details = found.get("Details")
    return FlowStatus(
        code=_two_digits(required_text(data, found, "IdStatut")),
        flow_id=required_text(data, found, "IdFlux"),
        at=parse_datetime(required(data, found, "Horodatage")),
        complement=optional_text(found, "ComplementStatut"),
        comment=optional_text(found, "Commentaire"),
        note=optional_text(found, "Note"),
        errors=()
        if details is None
        else tuple(_read_error(line) for line in details.iterchildren("LigneErreurDetail")),
    )


def _read_error(line: _Element) -> ErrorLine:
    found = kids(line)
    return ErrorLine(
        code=optional_text(found, "CodeErreur") or "",
        message=optional_text(found, "LibelleErreur") or "",
        nature=optional_text(found, "NatureErreur") or "",
        detail=optional_text(found, "DescriptionErreur"),
        line_id=line.get("IdLigne"),
    )


def _read_invoice_status(unit: _Element) -> InvoiceStatus:
    children = kids(unit)
    data = required(unit, children, "DonneesStatut")
    found = kids(data)
    producer = found.get("Producteur")
    invoice_date = found.get("DateFacture")
    return InvoiceStatus(
        code=_two_digits(required_text(data, found, "IdStatut")),
        supplier=_read_supplier(required(unit, children, "Fournisseur")),
        debiteur=read_debiteur(required(unit, children, "Debiteur")),
        # empty when the status names no invoice: the engine refuses that status, not the flow
        invoice_number=optional_text(found, "IdFacture") or "",
        at=parse_datetime(required(data, found, "Horodatage")),
        invoice_date=parse_date(invoice_date) if invoice_date is not None else None,
        complement=optional_text(found, "ComplementStatut"),
        comment=optional_text(found, "Commentaire"),
        mandate=optional_text(found, "IdMandatDP"),
        producer_id=producer.get("Id") if producer is not None else None,
    )


def _read_supplier(element: _Element) -> Supplier:
    """Fournisseur of a status: only TypeIdentifiant must have a value (an integer)."""
    found = kids(element)
    return Supplier(
        identifier_type=integer_text(required_text(element, found, "TypeIdentifiant")),
        identifier=optional_text(found, "Identifiant") or "",
        name=optional_text(found, "RaisonSociale") or "",
        country_code=(optional_text(found, "CodePays") or "").upper(),
    )


def _two_digits(code: str) -> str:
    """IdStatut is an integer in the official XSD: "7", "007" and "+7" all mean "07"."""
    code = integer_text(code)
    return code.zfill(2) if code.isdigit() else code
