"""Hostile files, each small on disk and built to cost the engine memory, disk or time, with
the coded answer the engine must give it (docs/errors.md).

Each function returns a ``Hostile``: the file's name and bytes, the code its CR must carry,
and the settings (``EDI_ENGINE_*`` variables) the case needs. The sizes are those that cost
the engine gigabytes before it bounded what it reads; the files stay under about a
megabyte because what they declare or inflate to is zeros or repeats. Build them with
``CORPUS`` or one function at a time.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import config

MiB = 1024 * 1024
CHUNK = MiB
CII_NS = b"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"


@dataclass(frozen=True)
class Hostile:
    name: str  # as deposited in an inbox
    content: bytes
    code: str  # what the CR must say
    env: dict[str, str] = field(default_factory=dict)  # settings the case runs with
    depositor: str = "FOUR01"  # the demo partner whose supplier the documents name


def _gzip(pieces: Iterable[bytes]) -> bytes:
    """One gzip member of ``pieces``, compressed as they come (never joined first)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [compressor.compress(piece) for piece in pieces]
    out.append(compressor.flush())
    return b"".join(out)


def _zeros(size: int, byte: bytes = b"\0") -> Iterable[bytes]:
    chunk = byte * CHUNK
    full, rest = divmod(size, CHUNK)
    yield from (chunk for _ in range(full))
    yield byte * rest


def _raw_header(name: str, kind: bytes, size: int) -> bytes:
    """One bare 512-byte ustar header of any type, L and x included, declaring ``size``."""
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(tarfile.USTAR_FORMAT)


def _padded(size: int) -> int:
    return -size % tarfile.BLOCKSIZE


def _invoice_member() -> list[bytes]:
    content = config.path("demo/ubl-invoice.xml").read_bytes()
    return [_raw_header("facture.xml", tarfile.REGTYPE, len(content)), content,
            bytes(_padded(len(content)))]  # fmt: skip


def _end() -> bytes:
    return bytes(2 * tarfile.BLOCKSIZE)


def tar_gnu_long_name(size: int = 256 * MiB) -> Hostile:
    """A tar.gz whose first header is a GNU long name (type L) of ``size`` bytes, then an
    invoice. tarfile reads such a name whole: 800 MB cost 9.1 GB. Refused by its header,
    before a byte of the name is read."""

    def pieces() -> Iterable[bytes]:
        yield _raw_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, size)
        yield from _zeros(size - 1, b"a")  # a name of letters, its NUL last
        yield bytes(1 + _padded(size))
        yield from _invoice_member()
        yield _end()

    return Hostile("long-name.tar.gz", _gzip(pieces()), "MEMBER_NAME_TOO_LONG")


def tar_pax_header(size: int = 768 * MiB) -> Hostile:
    """A tar.gz whose first header is a PAX extended header (type x) of ``size`` bytes:
    tarfile reads it whole (800 MB cost 942 MB). Refused by its header."""

    def pieces() -> Iterable[bytes]:
        yield _raw_header("././@PaxHeader", tarfile.XHDTYPE, size)
        record = b"%d comment=" % 0
        yield record
        yield from _zeros(size - len(record))
        yield bytes(_padded(size))
        yield from _invoice_member()
        yield _end()

    return Hostile("pax-header.tar.gz", _gzip(pieces()), "ARCHIVE_BOMB")


def tar_million_directories(count: int = 1_000_000) -> Hostile:
    """A tar.gz of ``count`` directory entries and one invoice: directories were not
    counted against ``limits.max_batch_members`` and tarfile keeps every entry (a million
    cost 558 MB). Refused once the count passes the limit."""
    entry = _raw_header("d", tarfile.DIRTYPE, 0)
    per_chunk = CHUNK // len(entry)

    def pieces() -> Iterable[bytes]:
        block = entry * per_chunk
        full, rest = divmod(count, per_chunk)
        yield from (block for _ in range(full))
        yield entry * rest
        yield from _invoice_member()
        yield _end()

    return Hostile("directories.tar.gz", _gzip(pieces()), "ARCHIVE_BOMB")


def tar_long_member_name(length: int = 300) -> Hostile:
    """A tar.gz whose invoice has a name of ``length`` characters (a GNU long name of a
    bounded header): longer than the ledger and the CR hold a document's name."""
    content = config.path("demo/ubl-invoice.xml").read_bytes()
    name = "n" * (length - 4) + ".xml"
    encoded = name.encode() + b"\0"
    pieces = [
        _raw_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, len(encoded)),
        encoded,
        bytes(_padded(len(encoded))),
        _raw_header(name[:100], tarfile.REGTYPE, len(content)),
        content,
        bytes(_padded(len(content))),
        _end(),
    ]
    return Hostile("long-member.tar.gz", _gzip(pieces), "MEMBER_NAME_TOO_LONG")


def zip_many_entries(count: int = 10_001) -> Hostile:
    """A zip of ``count`` directory entries and one invoice: every entry, a folder too,
    counts against ``limits.max_batch_members`` (10,000 by default), counted before the
    zip's directory is read into memory."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as batch:
        for n in range(count):
            batch.writestr(zipfile.ZipInfo(f"d{n}/"), b"")
        batch.writestr("facture.xml", config.path("demo/ubl-invoice.xml").read_bytes())
    return Hostile("entries.zip", buffer.getvalue(), "ARCHIVE_BOMB")


# -- Factur-X PDFs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Embedded:
    name: str
    deflated: bytes  # the stream as stored, FlateDecode
    declared: int | None  # /Params /Size: what the PDF says it inflates to


def _pdf(files: list[Embedded]) -> bytes:
    """A one-page PDF embedding ``files`` in its EmbeddedFiles name tree."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [%s] >> >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    names = []
    for file in files:
        spec, stream = len(objects) + 1, len(objects) + 2
        names.append(b"(%s) %d 0 R" % (file.name.encode(), spec))
        objects.append(
            b"<< /Type /Filespec /F (%s) /UF (%s) /EF << /F %d 0 R /UF %d 0 R >> >>"
            % (file.name.encode(), file.name.encode(), stream, stream)
        )
        params = b"" if file.declared is None else b" /Params << /Size %d >>" % file.declared
        objects.append(
            b"<< /Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode /Length %d%s >>\n"
            b"stream\n%s\nendstream" % (len(file.deflated), params, file.deflated)
        )
    objects[0] = objects[0] % b" ".join(names)
    out = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(sum(map(len, out)))
        out.append(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = sum(map(len, out))
    out.append(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out += [b"%010d 00000 n \n" % offset for offset in offsets]
    out.append(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return b"".join(out)


def facturx_invoice() -> bytes:
    """The demo's CII invoice (FOUR02's supplier) as a Factur-X PDF: the engine takes it."""
    xml = config.path("demo/cii-invoice.xml").read_bytes()
    return _pdf([Embedded("factur-x.xml", zlib.compress(xml), len(xml))])


def facturx_attachment_bomb(count: int = 30, size: int = 30 * MiB) -> Hostile:
    """A Factur-X PDF with ``count`` embedded files of ``size`` zeros each, deflated, each
    declaring 100 bytes, before its invoice: 100 of 70 MB cost 7 GB. Refused at the first
    one once it inflates past ``limits.max_attachment_bytes``."""
    deflated = _zlib_of(size)
    xml = config.path("demo/cii-invoice.xml").read_bytes()
    files = [Embedded(f"annexe-{n:03}.xml", deflated, 100) for n in range(count)]
    files.append(Embedded("factur-x.xml", zlib.compress(xml), len(xml)))
    return Hostile("bomb.pdf", _pdf(files), "ATTACHMENT_TOO_LARGE", depositor="FOUR02")


def _zlib_of(size: int) -> bytes:
    """``size`` zeros as a zlib stream (FlateDecode), compressed as they come."""
    compressor = zlib.compressobj(6)
    out = [compressor.compress(chunk) for chunk in _zeros(size)]
    out.append(compressor.flush())
    return b"".join(out)


# -- XML and sizes -----------------------------------------------------------------------


def pivot_doctype_after_comments(padding: int = 70 * 1024) -> Hostile:
    """A pivot flow, streamed (``limits.stream_bytes`` set to 1), whose DOCTYPE declares an
    entity after ``padding`` bytes of comments: the streamed road looked for a DOCTYPE in
    the first 64 KiB only. Refused as DTD_FORBIDDEN, nothing delivered."""
    content = config.path("demo/pivot-multi.xml").read_bytes()
    declaration, _, body = content.partition(b"?>")
    doctype = b'<!DOCTYPE CPPFacturePivot [<!ENTITY boom "boom">]>'
    padded = declaration + b"?>\n<!--" + b"x" * padding + b"-->\n" + doctype + body
    return Hostile(
        "doctype.xml",
        padded,
        "DTD_FORBIDDEN",
        env={"EDI_ENGINE_LIMITS_STREAM_BYTES": "1"},
        depositor="FOUR02",
    )


def oversized_file(size: int = 4 * MiB, limit: int = MiB) -> Hostile:
    """A file of ``size`` bytes over a ``limit`` of ``max_file_bytes``: refused, and the
    archive keeps its hash, size and first bytes, not the file."""
    head = config.path("demo/ubl-invoice.xml").read_bytes()
    content = head + b"<!--" + b"z" * (size - len(head) - 7) + b"-->"
    return Hostile(
        "huge.xml",
        content,
        "FILE_TOO_LARGE",
        env={"EDI_ENGINE_LIMITS_MAX_FILE_BYTES": str(limit)},
    )


CORPUS: dict[str, Callable[[], Hostile]] = {
    "tar_gnu_long_name": tar_gnu_long_name,
    "tar_pax_header": tar_pax_header,
    "tar_million_directories": tar_million_directories,
    "tar_long_member_name": tar_long_member_name,
    "zip_many_entries": zip_many_entries,
    "facturx_attachment_bomb": facturx_attachment_bomb,
    "pivot_doctype_after_comments": pivot_doctype_after_comments,
    "oversized_file": oversized_file,
}
