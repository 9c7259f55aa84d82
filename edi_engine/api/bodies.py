"""A deposited flow read from its request as it arrives: the multipart field `file`
written straight to a file of the engine's own, never held whole in memory, and refused
as soon as it passes the hub's file limit. The name the partner gave is kept (the flow's
file name, as an inbox file's), once checked: it names a file in a folder of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser, parse_options_header

FIELD = "file"
MAX_NAME_BYTES = 255  # a file name on every file system the home may be on
SLACK = 64 * 1024  # multipart framing beside the file, in a body's announced length


class BodyRefused(Exception):
    """A body the API cannot take: `field` names what is wrong, as a 422 says it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


class BodyTooLarge(Exception):
    """The file passes the hub's max_file_bytes."""


def announced_too_large(length: str | None, limit: int) -> bool:
    return length is not None and length.isdigit() and int(length) > limit + SLACK


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise BodyRefused(
            "content-type",
            "a flow is deposited as multipart/form-data, its file in the field 'file'",
        )
    return options[b"boundary"]


def checked_name(raw: bytes | None) -> str:
    """The partner's file name, or a refusal: a plain name, no folder in it."""
    if not raw:
        raise BodyRefused(FIELD, "the field 'file' must carry the file's name (filename=…)")
    name = raw.decode("utf-8", "surrogateescape")
    if name in (".", "..") or any(c in name for c in "/\\\0"):
        raise BodyRefused(FIELD, "the file's name must be a plain name, without '/' or '\\'")
    if len(raw) > MAX_NAME_BYTES:
        raise BodyRefused(FIELD, f"the file's name is longer than {MAX_NAME_BYTES} bytes")
    return name


async def receive_file(
    chunks: AsyncIterator[bytes], boundary: bytes, folder: Path, limit: int
) -> Path:
    """Write the field `file` to `folder`/<its name>; its path. Any other field, a second
    file, a missing one, or more than `limit` bytes is refused, the rest unread."""
    reading = _Reading(folder, limit)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": reading.part_begins,
            "on_header_field": reading.header_field,
            "on_header_value": reading.header_value,
            "on_header_end": reading.header_ends,
            "on_headers_finished": reading.headers_finished,
            "on_part_data": reading.data,
            "on_part_end": reading.part_ends,
        },
    )
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except ParseError as exc:
        why = f"the body is not multipart/form-data as announced: {exc}"
        raise BodyRefused("multipart", why) from None
    finally:
        reading.close()
    if reading.path is None:
        raise BodyRefused(FIELD, "the multipart field 'file' holding the flow is missing")
    return reading.path


class _Reading:
    """The parser's callbacks: one part at a time, its headers, then its bytes."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder, self.limit = folder, limit
        self.path: Path | None = None
        self.out: BinaryIO | None = None
        self.written = 0
        self.headers: dict[bytes, bytes] = {}
        self._field = self._value = b""

    def part_begins(self) -> None:
        self.headers = {}

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_ends(self) -> None:
        self.headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        field = options.get(b"name", b"").decode("utf-8", "replace")
        if field != FIELD:
            raise BodyRefused(
                field or "multipart", f"unknown field {field!r}: only 'file' is taken"
            )
        if self.path is not None:
            raise BodyRefused(FIELD, "one flow a call: the field 'file' is given twice")
        self.path = self.folder / checked_name(options.get(b"filename"))
        self.out = self.path.open("xb")

    def data(self, data: bytes, start: int, end: int) -> None:
        self.written += end - start
        if self.written > self.limit:
            raise BodyTooLarge()
        assert self.out is not None
        self.out.write(data[start:end])

    def part_ends(self) -> None:
        self.close()

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
