"""The invoice of a Factur-X PDF is found in bounded memory, and every file the PDF embeds
is an attachment bounded as the hub bounds attachments (issue 13, point 3)."""

from __future__ import annotations

import zlib

import pytest
from generated import hostile
from generated.hostile import Embedded, MiB

import config
from edi_engine.problems import FlowRejected
from edi_engine.reception import facturx_pdf
from edi_engine.reception.documents import document
from edi_engine.settings import LimitSettings, Settings

CII = config.path("demo/cii-invoice.xml").read_bytes()
LIMITS = LimitSettings(max_attachment_bytes=MiB, max_invoice_attachments_bytes=3 * MiB)


def _file(name: str, content: bytes, declared: int | None = None) -> Embedded:
    return Embedded(name, zlib.compress(content), len(content) if declared is None else declared)


def _refusal(pdf: bytes) -> tuple[str, str | None]:
    with pytest.raises(FlowRejected) as caught:
        facturx_pdf.invoice_xml(pdf, "f.pdf", LIMITS)
    (problem,) = caught.value.problems
    return problem.code, problem.value


def test_the_invoice_is_the_first_cii_among_the_xml_files() -> None:
    pdf = hostile._pdf(
        [
            _file("notes.txt", b"<CrossIndustryInvoice/>"),  # not *.xml: an attachment
            _file("order.xml", b"<Order/>"),
            _file("broken.xml", b"<a"),
            _file("factur-x.xml", CII),
        ]
    )
    assert facturx_pdf.invoice_xml(pdf, "f.pdf", LIMITS) == CII


def test_a_file_declaring_more_than_the_limit_is_refused_unread() -> None:
    """Its stream is not even valid deflate: only its declaration was looked at."""
    lying = Embedded("big.xml", b"not deflate at all", MiB + 1)
    assert _refusal(hostile._pdf([lying, _file("factur-x.xml", CII)])) == (
        "ATTACHMENT_TOO_LARGE",
        "big.xml",
    )


def test_a_file_inflating_past_the_limit_is_stopped_there() -> None:
    bomb = Embedded("annexe.pdf", hostile._zlib_of(64 * MiB), 10)
    assert _refusal(hostile._pdf([_file("factur-x.xml", CII), bomb])) == (
        "ATTACHMENT_TOO_LARGE",
        "annexe.pdf",
    )


def test_a_file_of_exactly_the_limit_is_taken() -> None:
    exact = Embedded("annexe.pdf", hostile._zlib_of(MiB), None)
    assert facturx_pdf.invoice_xml(hostile._pdf([exact, _file("factur-x.xml", CII)]), "f", LIMITS)


def test_embedded_files_are_bounded_together() -> None:
    files = [Embedded(f"a{n}.bin", hostile._zlib_of(MiB), MiB) for n in range(4)]
    assert _refusal(hostile._pdf([*files, _file("factur-x.xml", CII)])) == (
        "INVOICE_ATTACHMENTS_TOO_LARGE",
        str(4 * MiB),
    )


def test_a_pdf_without_a_cii_invoice() -> None:
    assert _refusal(hostile._pdf([_file("order.xml", b"<Order/>")]))[0] == "FACTURX_NO_XML"


def test_a_damaged_pdf_is_unreadable() -> None:
    pdf = hostile._pdf([_file("factur-x.xml", CII)])
    assert _refusal(pdf[: len(pdf) // 2])[0] in {"FACTURX_UNREADABLE", "FACTURX_NO_XML"}
    assert _refusal(b"%PDF-1.7\n" + b"\0" * 100)[0] == "FACTURX_UNREADABLE"


def test_an_embedded_invoice_with_a_doctype_is_refused_by_name(tmp_path) -> None:
    xml = CII.replace(b"?>", b"?><!DOCTYPE x [<!ENTITY e 'e'>]>", 1)
    found = document("f.pdf", hostile._pdf([_file("factur-x.xml", xml)]), Settings(tmp_path))
    assert [p.code for p in found.problems] == ["DTD_FORBIDDEN"]
