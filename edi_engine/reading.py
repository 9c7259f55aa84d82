"""Read each invoice of a valid document into the model; a bad invoice never stops the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from lxml import etree

from pivot_format import cii, pivot, ubl
from pivot_format.errors import ConversionError
from pivot_format.model import Invoice

from .documents import Document
from .problems import Problem
from .settings import LimitSettings
from .states import Syntax

_NUMBER = {
    Syntax.UBL: etree.XPath("string(*[local-name()='ID'])"),
    Syntax.CII: etree.XPath("string(*[local-name()='ExchangedDocument']/*[local-name()='ID'])"),
    Syntax.FACTURX: etree.XPath("string(*[local-name()='ExchangedDocument']/*[local-name()='ID'])"),
    Syntax.PIVOT: etree.XPath("string(*[local-name()='DonneesFacture']/*[local-name()='Id'])"),
}


@dataclass(frozen=True)
class Read:
    """One invoice of a document: read, or the reason it could not be."""

    number: str  # best effort when unreadable, for the CR and the ledger
    document: str
    invoice: Invoice | None = None
    problem: Problem | None = None


def invoices(document: Document, limits: LimitSettings) -> Iterator[Read]:
    if document.tree is None or document.syntax is None:
        return
    root = document.tree.getroot()
    if document.syntax is Syntax.PIVOT:
        for element in pivot.invoice_elements(root):
            yield read_one(document, element, pivot.read_invoice, limits, keep_attachments=True)
    elif document.syntax is Syntax.UBL:
        yield read_one(document, root, ubl.read_invoice, limits)
    elif document.syntax in (Syntax.CII, Syntax.FACTURX):
        yield read_one(document, root, cii.read_invoice, limits)


def read_one(
    document: Document,
    element: etree._Element,
    reader: Callable[[etree._Element], Invoice],
    limits: LimitSettings,
    keep_attachments: bool = False,
) -> Read:
    number = _NUMBER[document.syntax](element).strip()
    try:
        invoice = reader(element)
    except ConversionError as exc:
        problem = Problem(
            exc.code,
            exc.message,
            line=element.sourceline,
            element=exc.element or None,
            value=exc.value or None,
            document=document.name,
        )
        return Read(number, document.name, problem=problem)
    if not keep_attachments and document.original is not None:
        # the deposited document itself travels with the pivot as PJ 01
        invoice = replace(invoice, attachments=(document.original, *invoice.attachments))
    line = element.sourceline
    problem = _attachments_problem(invoice, limits)
    if problem is not None:
        return Read(
            invoice.number, document.name, problem=problem.at(line=line, document=document.name)
        )
    return Read(invoice.number, document.name, invoice=invoice)


def _attachments_problem(invoice: Invoice, limits: LimitSettings) -> Problem | None:
    """docs/architecture.md#data-safety: attachments are bounded one by one and per invoice
    (configurable)."""
    total = 0
    for attachment in invoice.attachments:
        size = len(attachment.content)
        total += size
        if size > limits.max_attachment_bytes:
            return Problem(
                "ATTACHMENT_TOO_LARGE",
                f"The attachment {attachment.name!r} is {size} bytes, over the limit of "
                f"{limits.max_attachment_bytes} bytes for one attachment.",
                element="PJ",
                value=attachment.name,
            )
    if total > limits.max_invoice_attachments_bytes:
        return Problem(
            "INVOICE_ATTACHMENTS_TOO_LARGE",
            f"The attachments of invoice {invoice.number} add up to {total} bytes, over the "
            f"limit of {limits.max_invoice_attachments_bytes} bytes for one invoice.",
            element="PJ",
            value=str(total),
        )
    return None
