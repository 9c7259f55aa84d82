"""The CII invoice a Factur-X PDF embeds, found in bounded memory.

A PDF's embedded files are deflated: a 6.8 MB PDF held a hundred files of 70 MB, and the
factur-x library (through pypdf, which keeps what it decodes) inflated each one it
looked at: 7 GB. Here every embedded file is an attachment of the invoice, bounded as
the hub bounds attachments (docs/errors.md#attachments-pj): its declared size is checked
first, then it is inflated with pypdf's decoders capped at ``limits.max_attachment_bytes``
(never a byte more), counted against ``limits.max_invoice_attachments_bytes``, and
dropped unless it is the invoice. The invoice is the first embedded ``*.xml`` whose root
is a CII ``CrossIndustryInvoice``, parsed with xmlsafe's rules, as the factur-x library
chose it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from lxml import etree

from pivot_format.cpp import shorten

from ..ledger.states import Syntax
from ..problems import FlowRejected, Problem
from ..settings import LimitSettings
from . import identify, xmlsafe

SHOWN = 80  # characters of an embedded file's name repeated in a message
# pypdf's caps on what one stream decodes to, all set to the attachment limit (plus one
# byte, so that a file of exactly the limit is taken and one byte more is refused)
DECODER_CAPS = (
    "zlib_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "brotli_maximum_output_length",
    "jbig2_maximum_output_length",
    "array_based_stream_maximum_output_length",
)


def invoice_xml(content: bytes, name: str, limits: LimitSettings) -> bytes:
    """The bytes of the CII invoice embedded in the PDF ``content``; FlowRejected when the
    PDF cannot be read, carries no CII invoice, or embeds a file over the limits."""
    import pypdf  # heavy to import: only PDF flows pay for it
    from pypdf.errors import LimitReachedError

    cap = limits.max_attachment_bytes + 1
    found = None
    try:
        with pypdf.apply_configuration(**dict.fromkeys(DECODER_CAPS, cap)):
            reader = pypdf.PdfReader(io.BytesIO(content))
            for file_name, data in _inflated(reader, limits):
                if found is None and _is_invoice(file_name, data, limits):
                    found = data
    except FlowRejected:
        raise
    except LimitReachedError as exc:  # a stream beyond the caps that is not a file's
        raise _unreadable(name, "a stream inflates beyond the hub's limits") from exc
    except Exception as exc:  # pypdf raises many kinds on a damaged PDF
        raise _unreadable(name, str(exc)) from exc
    if found is None:
        raise FlowRejected(
            Problem("FACTURX_NO_XML", f"The PDF {name!r} carries no embedded Factur-X XML.")
        )
    return found


def _inflated(reader, limits: LimitSettings) -> Iterator[tuple[str, bytes]]:
    """Each embedded file's name and content, each refused before it is inflated past
    max_attachment_bytes or the sum of them past max_invoice_attachments_bytes."""
    from pypdf.errors import LimitReachedError
    from pypdf.filters import decode_stream_data

    total = 0
    for attachment in reader.attachment_list:
        file_name = str(attachment.name)
        declared = attachment.size
        if isinstance(declared, int) and declared > limits.max_attachment_bytes:
            raise _too_large(file_name, declared, limits)
        try:
            # decoded without pypdf's cache (get_data keeps every stream it decodes)
            data = decode_stream_data(_stream(attachment))
        except LimitReachedError as exc:
            raise _too_large(file_name, None, limits) from exc
        if isinstance(data, str):
            data = data.encode("latin-1")
        if len(data) > limits.max_attachment_bytes:
            raise _too_large(file_name, len(data), limits)
        total += len(data)
        if total > limits.max_invoice_attachments_bytes:
            raise _all_too_large(file_name, total, limits)
        yield file_name, data


def _is_invoice(file_name: str, data: bytes, limits: LimitSettings) -> bool:
    """An ``*.xml`` file whose root is a CrossIndustryInvoice; anything else is an
    attachment. Only its root is read here: the invoice is parsed once, by the caller, with
    every rule of xmlsafe (a DOCTYPE is refused there, by name)."""
    if not file_name.lower().endswith(".xml"):
        return False
    options = xmlsafe.options(limits.huge_for(len(data)))
    try:
        for _, root in etree.iterparse(io.BytesIO(data), events=("start",), **options):
            return identify.ROOTS.get(root.tag) is Syntax.CII
    except etree.XMLSyntaxError:
        pass  # not XML: an attachment, as the factur-x library skips it
    return False


def _stream(attachment) -> object:
    """The embedded file's stream (its /EF entry, /UF first as pypdf reads it)."""
    files = attachment.pdf_object["/EF"].get_object()
    return files.get("/UF", files.get("/F")).get_object()


def _shown(file_name: str) -> str:
    return repr(shorten(file_name, SHOWN))


def _too_large(file_name: str, size: int | None, limits: LimitSettings) -> FlowRejected:
    limit = limits.max_attachment_bytes
    size_en = f"is {size} bytes" if size else "inflates to more bytes than that"
    size_fr = f"fait {size} octets" if size else "fait une fois décompressé davantage"
    return FlowRejected(
        Problem(
            "ATTACHMENT_TOO_LARGE",
            f"The file {_shown(file_name)} embedded in the PDF {size_en}, over the limit of "
            f"{limit} bytes for one attachment.",
            value=shorten(file_name, SHOWN),
            message_fr=f"Le fichier {_shown(file_name)} intégré au PDF {size_fr}, au-delà de "
            f"la limite de {limit} octets par pièce jointe.",
        )
    )


def _all_too_large(file_name: str, total: int, limits: LimitSettings) -> FlowRejected:
    limit = limits.max_invoice_attachments_bytes
    return FlowRejected(
        Problem(
            "INVOICE_ATTACHMENTS_TOO_LARGE",
            f"The files embedded in the PDF add up to {total} bytes at {_shown(file_name)}, "
            f"over the limit of {limit} bytes for one invoice.",
            value=str(total),
            message_fr=f"Les fichiers intégrés au PDF font {total} octets à "
            f"{_shown(file_name)}, au-delà de la limite de {limit} octets par facture.",
        )
    )


def _unreadable(name: str, reason: str) -> FlowRejected:
    return FlowRejected(
        Problem("FACTURX_UNREADABLE", f"The PDF {name!r} cannot be read: {shorten(reason, 200)}.")
    )
