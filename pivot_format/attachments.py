"""What a hub accepts as an attachment (PJ), checked before any content is decoded.

Chorus Pro's rules by default, as the public connectors that talk to it apply them: an
attachment of at most 10 MiB, an invoice with its attachments of at most 120 MiB, a name
of at most 50 characters (``NomPJ``'s own limit) ending with one of the extensions the
hub accepts. A hub may set each otherwise (the engine's ``[limits]``). The size of an
attachment is known from the length of its base64 text, so no memory is spent decoding
one that is refused. Each refusal has its code and says, in French and in English, which
file broke which rule (docs/errors.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from .cpp import shorten
from .errors import ConversionError
from .model import Attachment

MiB = 1024 * 1024
NAME_MAX = 50  # NomPJ, NomPJOrigine and CategoriePJ in CPPFacturePivot_V2_02.xsd
# fmt: off
CHORUS_PRO_EXTENSIONS = (
    "BMP", "BZ2", "CSV", "DOC", "DOCX", "FAX", "GIF", "GZ", "GZIP", "HTM", "HTML", "JPEG",
    "JPG", "ODP", "ODS", "ODT", "P7S", "PDF", "PNG", "PPS", "PPT", "PPTX", "RTF", "SVG",
    "TGZ", "TIF", "TIFF", "TXT", "XHTML", "XLC", "XLM", "XLS", "XLSX", "XML", "ZIP",
)
# fmt: on
# a name without an extension gets the one its MIME type gives (lower case, as usual)
MIME_EXTENSIONS = {
    "application/pdf": "pdf",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/plain": "txt",
    "text/csv": "csv",
    "text/html": "html",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/tiff": "tif",
    "image/gif": "gif",
    "application/zip": "zip",
    "application/msword": "doc",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}")
_SHOWN = 80  # characters of a partner's file name repeated in a message


@dataclass(frozen=True)
class AttachmentRules:
    """One hub's rules; ``invoice_bytes`` is the size of the deposited document itself
    (PJ 01, which the engine adds), counted in the invoice's total only."""

    max_bytes: int = 10 * MiB
    max_invoice_bytes: int = 120 * MiB
    max_name: int = NAME_MAX
    extensions: tuple[str, ...] = CHORUS_PRO_EXTENSIONS
    invoice_bytes: int = 0

    @cached_property
    def _accepted(self) -> frozenset[str]:
        return frozenset(extension.upper() for extension in self.extensions)

    def accepts(self, extension: str) -> bool:
        return extension.upper() in self._accepted


class Found(NamedTuple):
    """An attachment as its source carries it, not decoded yet."""

    name: str  # as the source gives it
    mime_type: str
    content: str  # base64, possibly wrapped
    element: str  # where the name is, for messages


def extension_of(name: str) -> str | None:
    """The extension a file name ends with, None when it has none."""
    stem, dot, extension = name.rpartition(".")
    return extension if dot and stem.strip() and _EXTENSION.fullmatch(extension) else None


def mime_extension(mime_type: str) -> str | None:
    return MIME_EXTENSIONS.get(mime_type.split(";", 1)[0].strip().lower())


def decoded_size(text: str) -> int:
    """How many bytes base64 ``text`` decodes to, white space ignored, without decoding."""
    characters = len(text) - sum(text.count(space) for space in " \t\r\n")
    end = len(text)
    while end and text[end - 1].isspace():
        end -= 1
    padding = (end >= 1 and text[end - 1] == "=") + (end >= 2 and text[end - 2] == "=")
    return max(characters // 4 * 3 - padding, 0)


def check(found: Sequence[Found], rules: AttachmentRules) -> list[str]:
    """The pivot name (NomPJ) of each attachment once all of them keep every rule; else
    the first rule broken, before a single byte is decoded."""
    names = [_pivot_name(attachment, rules) for attachment in found]
    total = rules.invoice_bytes
    for attachment in found:
        size = decoded_size(attachment.content)
        if size > rules.max_bytes:
            shown = _shown(attachment.name)
            raise ConversionError(
                "ATTACHMENT_TOO_LARGE",
                f"The attachment {shown} is {size} bytes, over the limit of {rules.max_bytes} "
                "bytes for one attachment.",
                attachment.element,
                attachment.name[:_SHOWN],
                message_fr=f"La pièce jointe {shown} fait {size} octets, au-delà de la limite "
                f"de {rules.max_bytes} octets par pièce jointe.",
            )
        total += size
    if total > rules.max_invoice_bytes:
        raise ConversionError(
            "INVOICE_ATTACHMENTS_TOO_LARGE",
            f"The invoice and its attachments add up to {total} bytes, over the limit of "
            f"{rules.max_invoice_bytes} bytes for one invoice.",
            found[-1].element if found else "",
            str(total),
            message_fr=f"La facture et ses pièces jointes font {total} octets, au-delà de la "
            f"limite de {rules.max_invoice_bytes} octets par facture.",
        )
    return names


def deposited_name(original: Attachment, rules: AttachmentRules) -> str:
    """PJ 01's name: the deposited document's own when the hub accepts its extension, else
    with its MIME type's (xml, pdf) added, so the recipient can open it (``facture.ubl`` is
    delivered as ``facture.ubl.xml``). The hub names the invoice itself: never refused, and
    its MIME type's extension is always its own, even where a hub leaves it out."""
    own = MIME_EXTENSIONS[original.mime_type]
    extension = extension_of(original.name)
    if extension is not None and (rules.accepts(extension) or extension.lower() == own):
        return original.name
    return f"{original.name}.{own}"


def _pivot_name(attachment: Found, rules: AttachmentRules) -> str:
    """The name as given when it ends with an accepted extension; a name without any gets
    its MIME type's; anything else is refused, never renamed."""
    given = extension_of(attachment.name)
    extension = _accepted_extension(attachment, given, rules)
    pivot_name = attachment.name if given else f"{attachment.name}.{extension}"
    _check_name_length(attachment, pivot_name, None if given else extension, rules)
    return pivot_name


def _accepted_extension(attachment: Found, given: str | None, rules: AttachmentRules) -> str:
    """The extension the name ``given`` has, or its MIME type's; refused unless accepted."""
    extension = given or mime_extension(attachment.mime_type)
    if extension is not None and rules.accepts(extension):
        return extension
    if given:
        found_en, found_fr = f"its extension .{given}", f"son extension .{given}"
    elif extension:
        found_en = f"it has no extension and its MIME type gives .{extension}"
        found_fr = f"il n'a pas d'extension et son type MIME donne .{extension}"
    else:
        mime = _shown(attachment.mime_type)
        found_en = f"it has no extension and its MIME type {mime} gives none"
        found_fr = f"il n'a pas d'extension et son type MIME {mime} n'en donne aucune"
    shown = _shown(attachment.name)
    accepted = ", ".join(sorted({e.upper() for e in rules.extensions}))
    raise ConversionError(
        "ATTACHMENT_TYPE_REFUSED",
        f"The attachment {shown} is refused: {found_en} is not one the hub accepts ({accepted}).",
        attachment.element,
        attachment.name[:_SHOWN],
        message_fr=f"La pièce jointe {shown} est refusée : {found_fr}, qui n'est pas une "
        f"extension acceptée par la plateforme ({accepted}).",
    )


def _check_name_length(
    attachment: Found, pivot_name: str, added: str | None, rules: AttachmentRules
) -> None:
    """``pivot_name`` fits the hub's limit; ``added`` is the extension its MIME type gave."""
    if len(pivot_name) <= rules.max_name:
        return
    added_en = f", with the extension .{added} its MIME type gives," if added else ""
    added_fr = f", avec l'extension .{added} de son type MIME," if added else ""
    shown = _shown(attachment.name)
    raise ConversionError(
        "ATTACHMENT_NAME_TOO_LONG",
        f"The name of the attachment {shown} has {len(pivot_name)} characters{added_en} "
        f"over the limit of {rules.max_name}.",
        attachment.element,
        attachment.name[:_SHOWN],
        message_fr=f"Le nom de la pièce jointe {shown} compte {len(pivot_name)} "
        f"caractères{added_fr} au-delà de la limite de {rules.max_name}.",
    )


def _shown(name: str) -> str:
    """A partner's file name quoted in a message, bounded."""
    return repr(shorten(name, _SHOWN))


def accepted_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    """Extensions as a hub writes them (``pdf``, ``.PDF``), upper case without dot; a
    ValueError names one that cannot be a file name's extension."""
    cleaned = []
    for extension in extensions:
        bare = extension.strip().lstrip(".")
        if not _EXTENSION.fullmatch(bare):
            raise ValueError(f"{extension!r} is not an extension (1 to 10 letters or digits)")
        cleaned.append(bare.upper())
    return tuple(dict.fromkeys(cleaned))
