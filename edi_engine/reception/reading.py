"""Read each invoice of a valid document into the model; a bad invoice never stops the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from lxml import etree

from pivot_format import cii, pivot, ubl
from pivot_format.attachments import AttachmentRules, deposited_name
from pivot_format.errors import ConversionError
from pivot_format.model import Attachment, Invoice

from ..ledger.states import Syntax
from ..problems import Problem
from ..settings import LimitSettings
from .documents import Document

_NUMBER = {
    Syntax.UBL: etree.XPath("string(*[local-name()='ID'])"),
    Syntax.CII: etree.XPath("string(*[local-name()='ExchangedDocument']/*[local-name()='ID'])"),
    Syntax.FACTURX: etree.XPath("string(*[local-name()='ExchangedDocument']/*[local-name()='ID'])"),
    Syntax.PIVOT: etree.XPath("string(*[local-name()='DonneesFacture']/*[local-name()='Id'])"),
}


@dataclass(frozen=True)
class Ahead:
    """An invoice's pivot written by a worker process before the writer ran the controls
    and recorded it: its bytes with stand-ins for its recipient and its ledger id
    (pivot.completed), or why it cannot be written: the pivot refuses a value
    (`conversion`), or our own schema refuses the pivot (`invalid`, its message)."""

    content: bytes | None = None
    conversion: Problem | None = None
    invalid: str | None = None


@dataclass(frozen=True)
class Read:
    """One invoice of a document: read, or the reason it could not be."""

    number: str  # best effort when unreadable, for the CR and the ledger
    document: str
    invoice: Invoice | None = None
    problem: Problem | None = None
    ahead: Ahead | None = None  # its pivot, when a worker process wrote it
    findings: tuple[Problem, ...] = ()  # the official business rules' (documents.Document)


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
    reader: Callable[..., Invoice],
    limits: LimitSettings,
    keep_attachments: bool = False,
) -> Read:
    """One invoice read with the hub's attachment rules. Unless the document is a pivot,
    which carries its own, the deposited document itself travels as PJ 01: counted in the
    invoice's total size, named by the hub with an extension it accepts."""
    number = _NUMBER[document.syntax](element).strip()
    original = None if keep_attachments else document.original
    rules = attachment_rules(limits, original)
    try:
        invoice = reader(element, rules=rules)
    except ConversionError as exc:
        problem = Problem(
            exc.code,
            exc.message,
            line=element.sourceline,
            element=exc.element or None,
            value=exc.value or None,
            document=document.name,
            message_fr=exc.message_fr,
        )
        return Read(number, document.name, problem=problem, findings=document.findings)
    if original is not None:
        original = replace(original, name=deposited_name(original, rules))
        invoice = replace(invoice, attachments=(original, *invoice.attachments))
    return Read(invoice.number, document.name, invoice=invoice, findings=document.findings)


def attachment_rules(limits: LimitSettings, original: Attachment | None) -> AttachmentRules:
    """The hub's rules for the attachments of one invoice (docs/mapping.md#attachments-pj)."""
    return AttachmentRules(
        max_bytes=limits.max_attachment_bytes,
        max_invoice_bytes=limits.max_invoice_attachments_bytes,
        max_name=limits.max_attachment_name,
        extensions=tuple(limits.attachment_extensions),
        invoice_bytes=len(original.content) if original is not None else 0,
    )
