"""A flow read again from its archived original, never from the inbox: its parts (each
document with its invoices or statuses) and one invoice by its place. The one road for
processing a flow, preparing it in a worker, and finding one of its invoices again
(redelivery, recycling)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pivot_format import statut
from pivot_format.errors import ConversionError
from pivot_format.model import FlowStatus, InvoiceStatus

from ..ledger.models import Flow
from ..ledger.states import Syntax
from ..problems import Problem
from ..settings import Settings
from . import archive, documents, reading, streaming


@dataclass
class Part:
    """One document of an archived flow: its syntax, what is wrong with it as a whole, and
    its invoices, read one at a time."""

    name: str
    syntax: Syntax | None
    problems: list[Problem]
    reads: Iterable[reading.Read]
    statuses: list[InvoiceStatus] | list[FlowStatus] | None = None  # a CPPStatut's statuses


def parts(settings: Settings, flow: Flow) -> Iterator[Part]:
    """The documents of a flow from its archived original."""
    path = archive.path(settings.archive, flow.archive_path)
    if streaming.applies(path, flow.size, settings.limits):
        yield Part(
            flow.file_name, Syntax.PIVOT, [], streaming.reads(path, flow.file_name, settings.limits)
        )
        return
    for document in documents.unpacked(path, flow.file_name, settings).documents:
        problems, reads, statuses = list(document.problems), (), None
        if document.valid and document.syntax is Syntax.STATUT:
            statuses = _statuses(document, problems)
        elif document.valid:
            reads = reading.invoices(document, settings.limits)
        yield Part(document.name, document.syntax, problems, reads, statuses)


def _statuses(
    document: documents.Document, problems: list[Problem]
) -> list[InvoiceStatus] | list[FlowStatus]:
    """Invoice statuses (CPPFactureStatuts), or a recipient's acknowledgements of the pivots
    it received (CPPFluxStatuts)."""
    try:
        _, statuses = statut.read_statut(document.tree.getroot())
    except ConversionError as exc:
        problems.append(
            Problem(exc.code, exc.message, element=exc.element or None, document=document.name)
        )
        return []
    return statuses


def read_again(settings: Settings, flow: Flow, seq: int) -> reading.Read | None:
    """The `seq`-th invoice of a flow (numbered as when the flow was processed)."""
    counted = 0
    for part in parts(settings.for_rules(()), flow):  # accepted once: the rules said so
        for read in part.reads:
            counted += 1
            if counted == seq:
                return read
    return None
