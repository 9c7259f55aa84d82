"""Large pivot flows, read invoice by invoice in bounded memory (issue 2: flows of
100,000 invoices).

Two passes over the archived file. The first checks the schema and keeps nothing, so an
invalid flow is refused whole before any pivot is written
(docs/architecture.md#the-road-of-a-flow): each
invoice is validated inside a copy of the envelope, which gives the same errors, lines
and paths as validating the whole tree; the document's own frame is validated at the end
with its first invoice put back. The second pass reads each CPPFacturePivotUnitaire and
drops it once read.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from pivot_format import pivot

from ..ledger.states import Syntax
from ..problems import FlowRejected, Problem
from ..settings import LimitSettings
from . import identify, reading, validation, xmlsafe
from .documents import Document

UNIT = "CPPFacturePivotUnitaire"
INVOICES = "CPPFactures"
HEAD_BYTES = 64 * 1024


def applies(path: Path, size: int, limits: LimitSettings) -> bool:
    """A pivot flow at least ``limits.stream_bytes`` long; anything else is read whole. A
    DOCTYPE, wherever it stands, is refused by `check` as the whole road refuses it."""
    if size < limits.stream_bytes:
        return False
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
        if identify.container(head) is not identify.Container.XML:
            return False  # batches and PDFs take the usual road
        handle.seek(0)
        try:
            for _, element in etree.iterparse(
                handle, events=("start",), **xmlsafe.options(limits.huge_for(size))
            ):
                return element.tag == identify.PIVOT
        except etree.XMLSyntaxError:
            return False  # the usual road says precisely why
    return False


def _drop(element: etree._Element) -> None:
    """Free what was read: the element and the siblings before it."""
    element.clear()
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]


class _Checker:
    """Validates one invoice at a time inside a frame: the root and envelope, copied once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.schema = validation.compiled(identify.PIVOT)
        self.frame: etree._Element | None = None
        self.invoices: etree._Element | None = None
        self.first: etree._Element | None = None
        self.count = 0
        self.problems: list[Problem] = []

    def start_invoices(self, root: etree._Element, invoices: etree._Element) -> None:
        self.frame = etree.Element(root.tag, root.attrib, nsmap=root.nsmap)
        for child in root:
            if child is not invoices:
                self.frame.append(copy.deepcopy(child))
        self.invoices = etree.SubElement(
            self.frame, INVOICES, invoices.attrib, nsmap=invoices.nsmap
        )

    def invoice(self, element: etree._Element) -> None:
        self.count += 1
        unit = copy.deepcopy(element)
        if self.invoices is None:  # an invoice outside CPPFactures: the frame check says so
            return
        self.invoices.append(unit)
        self._collect(self.frame.getroottree(), inside_unit=True)
        self.invoices.remove(unit)
        if self.first is None:
            self.first = unit

    def frame_problems(self, root: etree._Element) -> None:
        """Root, envelope and what surrounds the invoices, with one invoice back in place."""
        invoices = root.find(INVOICES)
        if invoices is not None and self.first is not None:
            invoices.append(self.first)
        self._collect(root.getroottree(), inside_unit=False)

    def _collect(self, tree: etree._ElementTree, inside_unit: bool) -> None:
        if self.schema.validate(tree):
            return
        for entry in self.schema.error_log:
            path = entry.path or ""
            if (f"/{UNIT}" in path) != inside_unit:
                continue  # each error is reported once: by its invoice, or by the frame
            if inside_unit:
                path = path.replace(f"/{UNIT}", f"/{UNIT}[{self.count}]", 1)
            self.problems.append(
                Problem(
                    "XSD_INVALID",
                    entry.message,
                    line=entry.line or None,
                    path=path or None,
                    document=self.name,
                )
            )


def _doctype(root: etree._Element, name: str) -> list[Problem]:
    """xmlsafe's rule on the streamed road: a DOCTYPE comes before the root element, so it
    is known at the root's start event, however many bytes of comments precede it."""
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is None and not docinfo.doctype:
        return []
    return [Problem("DTD_FORBIDDEN", xmlsafe.DTD_MESSAGE, document=name)]


def check(path: Path, name: str, limits: LimitSettings) -> list[Problem]:
    """Every schema error of a pivot flow (up to validation.MAX_ERRORS), in bounded memory;
    a DOCTYPE refuses it at once, as xmlsafe refuses it in a whole document."""
    checker = _Checker(name)
    root = None
    try:
        with open(path, "rb") as handle:
            for event, element in etree.iterparse(
                handle,
                events=("start", "end"),
                **xmlsafe.options(limits.huge_for(path.stat().st_size)),
            ):
                if root is None:
                    root = element
                    if refused := _doctype(root, name):
                        return refused
                elif event == "start":
                    if element.tag == INVOICES and element.getparent() is root:
                        checker.start_invoices(root, element)
                elif element.tag == UNIT:
                    checker.invoice(element)
                    _drop(element)
                    if len(checker.problems) >= validation.MAX_ERRORS:
                        return checker.problems
    except etree.XMLSyntaxError as exc:
        message = f"The document is not well-formed XML: {exc.msg}."
        return [Problem("NOT_XML", message, line=exc.lineno or None, document=name)]
    checker.frame_problems(root)
    return checker.problems


def reads(path: Path, name: str, limits: LimitSettings) -> Iterator[reading.Read]:
    """Each invoice of a pivot flow, read and then forgotten; FlowRejected if it is invalid."""
    problems = check(path, name, limits)
    if problems:
        raise FlowRejected(*problems)
    document = Document(name, Syntax.PIVOT, None, (), None)
    with open(path, "rb") as handle:
        for _, element in etree.iterparse(
            handle,
            events=("end",),
            tag=UNIT,
            **xmlsafe.options(limits.huge_for(path.stat().st_size)),
        ):
            yield reading.read_one(
                document, element, pivot.read_invoice, limits, keep_attachments=True
            )
            _drop(element)
