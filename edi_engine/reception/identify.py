"""Tell what a document is: a batch, a PDF, or which XML syntax (docs/architecture.md#words)."""

from __future__ import annotations

from enum import StrEnum

from lxml import etree

from ..ledger.states import Syntax
from ..problems import FlowRejected, Problem

UBL_INVOICE = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
UBL_CREDIT_NOTE = "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"
CII = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
PIVOT = "CPPFacturePivot"
STATUT = "CPPStatut"

ROOTS = {
    UBL_INVOICE: Syntax.UBL,
    UBL_CREDIT_NOTE: Syntax.UBL,
    CII: Syntax.CII,
    PIVOT: Syntax.PIVOT,
    STATUT: Syntax.STATUT,
}


class Container(StrEnum):
    ZIP = "zip"
    TAR_GZ = "tar.gz"
    PDF = "pdf"
    XML = "xml"


def container(content: bytes) -> Container:
    """Sniff the first bytes; the file name is the depositor's and proves nothing."""
    if content.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Container.ZIP
    if content.startswith(b"\x1f\x8b"):
        return Container.TAR_GZ
    if content.lstrip()[:5] == b"%PDF-":
        return Container.PDF
    return Container.XML


def syntax_of(root: etree._Element) -> Syntax:
    syntax = ROOTS.get(root.tag)
    if syntax is None:
        raise FlowRejected(
            Problem(
                "UNKNOWN_SYNTAX",
                "The root element is not a UBL 2.1 Invoice or CreditNote, a CII "
                "CrossIndustryInvoice, a CPPFacturePivot or a CPPStatut.",
                line=root.sourceline,
                element=etree.QName(root).localname,
                value=root.tag,
            )
        )
    return syntax
