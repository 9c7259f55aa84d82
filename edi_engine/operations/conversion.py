"""`edi-engine convert`: one file to a pivot, or the precise reason it cannot be."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pivot_format import pivot

from .. import clock, siret
from ..delivery import outputs
from ..errors import DocumentInvalid
from ..problems import FlowRejected
from ..reception import documents, reading
from ..reception.identify import PIVOT
from ..settings import Settings


def convert_file(path: Path, settings: Settings, receiver: str) -> tuple[bytes, int]:
    """The pivot document and the number of invoices it carries."""
    try:
        found = list(documents.unpacked(path, path.name, settings).documents)
    except OSError as exc:
        raise DocumentInvalid(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except FlowRejected as rejected:
        raise DocumentInvalid(f"{path} cannot be converted: {rejected}") from rejected
    invoices = []
    for document in found:
        if document.problems:
            first = document.problems[0]
            line = f" (line {first.line})" if first.line else ""
            raise DocumentInvalid(
                f"{document.name} is not valid{line}: {first.message} "
                f"`edi-engine validate --explain` says more."
            )
        for read in reading.invoices(document, settings.limits):
            if read.problem:
                where = f" at {read.problem.element}" if read.problem.element else ""
                raise DocumentInvalid(
                    f"Invoice {read.number or '?'} of {document.name} cannot be converted: "
                    f"{read.problem.code}: {read.problem.message}{where}"
                )
            invoice = read.invoice
            if not invoice.debiteur.siret or not siret.is_valid(invoice.debiteur.siret):
                found = invoice.debiteur.siret or invoice.debiteur.raw_identifier
                carried = f"it is identified by {found!r}" if found else "it carries no identifier"
                raise DocumentInvalid(
                    f"Invoice {invoice.number} of {document.name} cannot be converted: the buyer "
                    f"has no valid SIRET ({carried}); the pivot's Debiteur is a French structure's SIRET."
                )
            invoices.append(
                replace(
                    invoice,
                    reception_date=invoice.reception_date
                    or clock.local_date(clock.now(), settings.zone),
                )
            )
    if not invoices:
        raise DocumentInvalid(f"{path} carries no invoice to convert.")
    content = pivot.write_pivot(invoices, outputs.envelope(settings, path.stem[:50], receiver))
    try:
        return outputs.checked(PIVOT, content, "the pivot"), len(invoices)
    except outputs.OutputInvalid as exc:
        raise DocumentInvalid(f"{path} cannot be converted: {exc.message}") from exc
