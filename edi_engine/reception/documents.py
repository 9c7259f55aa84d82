"""From a flow's bytes to its documents: unpacked, parsed once, identified, validated.

Used by the pipeline and by `edi-engine validate`, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from pivot_format.model import Attachment

from ..ledger.states import Syntax
from ..problems import FlowRejected, Problem
from ..settings import Settings
from . import facturx_pdf, identify, origin, rules, unpack, validation, xmlsafe
from .identify import Container

XML_MIME = "application/xml"
PDF_MIME = "application/pdf"


@dataclass(frozen=True)
class Document:
    """One XML document of a flow; ``tree`` is None when it could not be taken further."""

    name: str
    syntax: Syntax | None
    tree: etree._ElementTree | None
    problems: tuple[Problem, ...]
    original: Attachment | None  # the document as deposited: PJ 01 of its pivot
    # what the official business rules say of its invoice (edi_engine/reception/rules.py): they
    # reject or warn about the invoice, the document itself is valid
    findings: tuple[Problem, ...] = ()

    @property
    def valid(self) -> bool:
        return self.tree is not None and not self.problems


@dataclass(frozen=True)
class Unpacked:
    """A flow opened: its documents come one at a time, so a batch is never held whole."""

    container: Container
    documents: Iterator[Document]


def combined_syntax(syntaxes: Iterable[Syntax | None]) -> str | None:
    """A batch's syntax is its members' when they agree, MIXED otherwise."""
    found = {s for s in syntaxes if s}
    if len(found) == 1:
        return found.pop()
    return Syntax.MIXED if found else None


def unpacked(path: Path, name: str, settings: Settings) -> Unpacked:
    """Raises FlowRejected when the flow as a whole cannot be opened (OSError if unreadable)."""
    limits = settings.limits
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head:
        raise FlowRejected(Problem("EMPTY_FILE", f"The file {name!r} is empty."))
    kind = identify.container(head)
    if kind is Container.ZIP:
        return Unpacked(kind, _batch(unpack.zip_members(path, limits), name, settings))
    if kind is Container.TAR_GZ:
        return Unpacked(kind, _batch(unpack.tar_members(path, limits), name, settings))
    return Unpacked(kind, iter((document(name, path.read_bytes(), settings),)))


def _batch(members: Iterator[unpack.Member], name: str, settings: Settings) -> Iterator[Document]:
    empty = True
    for member in members:
        empty = False
        yield _member(member, settings)
    if empty:
        raise FlowRejected(Problem("EMPTY_BATCH", f"The batch {name!r} holds no document."))


def _member(member: unpack.Member, settings: Settings) -> Document:
    if identify.container(member.content) in (Container.ZIP, Container.TAR_GZ):
        problem = Problem(
            "NESTED_ARCHIVE",
            f"Batch member {member.name!r} is itself an archive; batches cannot be nested.",
        )
        return _failed(member.name, problem)
    return document(member.name, member.content, settings)


def document(name: str, content: bytes, settings: Settings) -> Document:
    """Parse, identify and validate one document; never raises for bad input."""
    try:
        if not content:
            raise FlowRejected(Problem("EMPTY_FILE", f"The document {name!r} is empty."))
        if identify.container(content) is Container.PDF:
            return _facturx(name, content, settings)
        return _xml(name, content, settings, Attachment(name, XML_MIME, content, "01"))
    except FlowRejected as rejected:
        return _failed(name, *rejected.problems)


def _xml(name: str, content: bytes, settings: Settings, original: Attachment) -> Document:
    tree = xmlsafe.parse(content, settings.limits.huge_for(len(content)))
    syntax = identify.syntax_of(tree.getroot())
    refused = validation.problems(tree, settings.cii_schema)  # the CR names its invoice:
    named = origin.naming(refused, tree.getroot())  # read now, while the tree is parsed
    problems = tuple(p.at(document=name) for p in named)
    findings: tuple[Problem, ...] = ()
    if not problems and settings.rules.sets:  # never on what the XSD refused
        found = rules.check(content, tree, settings.rules.sets)
        findings = tuple(p.at(document=name) for p in found)
    return Document(name, syntax, tree, problems, original, findings)


def _facturx(name: str, content: bytes, settings: Settings) -> Document:
    """A Factur-X PDF: its embedded CII is the invoice, the PDF itself is PJ 01; its embedded
    files are inflated within the attachment limits only (facturx_pdf)."""
    xml = facturx_pdf.invoice_xml(content, name, settings.limits)
    found = _xml(name, xml, settings, Attachment(name, PDF_MIME, content, "01"))
    if found.syntax is not Syntax.CII:
        problem = Problem("FACTURX_NO_XML", f"The XML embedded in {name!r} is not a CII invoice.")
        return _failed(name, problem)
    return Document(
        name, Syntax.FACTURX, found.tree, found.problems, found.original, found.findings
    )


def _failed(name: str, *problems: Problem) -> Document:
    return Document(name, None, None, tuple(p.at(document=name) for p in problems), None)


def all_problems(documents: Iterable[Document]) -> list[Problem]:
    return [p for d in documents for p in d.problems]
