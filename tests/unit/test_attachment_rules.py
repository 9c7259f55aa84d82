"""The hub's attachment rules (pivot_format/attachments.py) as the readers apply them, and
as `[limits]` configures them: each rule broken gives its code, the file's name and a
French and an English message; nothing is decoded before every rule holds."""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from generated import case_root
from lxml import etree

from edi_engine import settings
from edi_engine.errors import ConfigurationError
from pivot_format import cii, pivot, ubl
from pivot_format.attachments import (
    CHORUS_PRO_EXTENSIONS,
    AttachmentRules,
    accepted_extensions,
    decoded_size,
    deposited_name,
)
from pivot_format.errors import ConversionError
from pivot_format.model import Attachment, Debiteur, Envelope, Invoice, Supplier

UBL_FULL = "ubl-invoice-full.xml"  # bon-de-livraison.pdf (PDF) and detail.csv (CSV)
CII_FULL = "cii-invoice-full.xml"
UBL_NS = ubl.NS
BINARY = "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"


def _ubl(**changes: str) -> etree._Element:
    """The full UBL sample with its first embedded file's attributes (or text) changed."""
    root = case_root(UBL_FULL)
    binary = root.xpath(BINARY, namespaces=UBL_NS)[0]
    for name, value in changes.items():
        if name == "text":
            binary.text = value
        else:
            binary.set(name, value)
    return root


def _refused(root: etree._Element, rules: AttachmentRules) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        ubl.read_invoice(root, rules=rules)
    return caught.value


# -- sizes from the base64 length ---------------------------------------------------------


@pytest.mark.parametrize("size", range(0, 13))
@pytest.mark.parametrize("wrap", [0, 4, 76])
def test_decoded_size_is_the_size_base64_decodes_to(size: int, wrap: int) -> None:
    text = base64.b64encode(bytes(range(size))).decode()
    if wrap:
        text = "\n".join(text[i : i + wrap] for i in range(0, len(text), wrap)) + "\n  "
    assert decoded_size(text) == size


def test_a_file_too_large_is_refused_before_it_is_decoded() -> None:
    """Not base64 at all, and long: had it been decoded, INVALID_VALUE would say so."""
    error = _refused(_ubl(text="!" * 4000), AttachmentRules(max_bytes=2999))

    assert (error.code, error.value) == ("ATTACHMENT_TOO_LARGE", "bon-de-livraison.pdf")
    assert "3000 bytes" in error.message and "2999" in error.message
    assert error.message_fr.startswith("La pièce jointe 'bon-de-livraison.pdf' fait 3000 octets")
    assert error.element.endswith("cbc:EmbeddedDocumentBinaryObject")


def test_the_invoice_document_counts_in_the_invoice_total() -> None:
    files = sum(len(a.content) for a in ubl.read_invoice(_ubl()).attachments)
    exact = AttachmentRules(max_invoice_bytes=files + 1000, invoice_bytes=1000)
    assert len(ubl.read_invoice(_ubl(), rules=exact).attachments) == 2

    error = _refused(_ubl(), AttachmentRules(max_invoice_bytes=files + 999, invoice_bytes=1000))

    assert (error.code, error.value) == ("INVOICE_ATTACHMENTS_TOO_LARGE", str(files + 1000))
    assert "La facture et ses pièces jointes font" in error.message_fr


# -- names and extensions -----------------------------------------------------------------


def test_an_extension_the_hub_does_not_accept_is_refused_not_renamed() -> None:
    error = _refused(_ubl(filename="outil.exe"), AttachmentRules())

    assert (error.code, error.value) == ("ATTACHMENT_TYPE_REFUSED", "outil.exe")
    assert "'outil.exe'" in error.message and ".exe" in error.message
    assert "DOCX" in error.message and "PDF" in error.message  # the accepted list
    assert error.message_fr.startswith("La pièce jointe 'outil.exe' est refusée : son extension")


@pytest.mark.parametrize("name", ["Rapport.DOCX", "plan.Pdf", "archive.tar.gz", "scan.tiff"])
def test_accepted_extensions_in_any_case(name: str) -> None:
    (first, _) = ubl.read_invoice(_ubl(filename=name), rules=AttachmentRules()).attachments

    assert (first.name, first.original_name) == (name, name)


def test_a_name_without_extension_takes_its_mime_types() -> None:
    (first, _) = ubl.read_invoice(_ubl(filename="annexe"), rules=AttachmentRules()).attachments

    assert (first.name, first.original_name) == ("annexe.pdf", "annexe")


@pytest.mark.parametrize(
    ("name", "mime", "extensions", "expected"),
    [
        ("facture.ubl", "application/xml", CHORUS_PRO_EXTENSIONS, "facture.ubl.xml"),
        ("x.dat", "application/pdf", CHORUS_PRO_EXTENSIONS, "x.dat.pdf"),
        ("facture", "application/xml", CHORUS_PRO_EXTENSIONS, "facture.xml"),
        ("facture.XML", "application/xml", CHORUS_PRO_EXTENSIONS, "facture.XML"),
        ("facture.txt", "application/xml", CHORUS_PRO_EXTENSIONS, "facture.txt"),
        ("facture.xml", "application/xml", ("PDF",), "facture.xml"),
        ("facture.txt", "application/pdf", ("PDF",), "facture.txt.pdf"),
    ],
)
def test_the_deposited_document_gets_its_mime_types_extension_unless_its_own_is_accepted(
    name: str, mime: str, extensions: tuple[str, ...], expected: str
) -> None:
    """PJ 01 is named by the hub: never refused, never left with an extension it refuses."""
    rules = AttachmentRules(extensions=extensions)

    assert deposited_name(Attachment(name, mime, b"<x/>", "01"), rules) == expected


def test_a_name_without_extension_nor_known_mime_type_is_refused() -> None:
    root = _ubl(filename="annexe", mimeCode="application/x-msdownload")

    error = _refused(root, AttachmentRules())

    assert error.code == "ATTACHMENT_TYPE_REFUSED"
    assert "no extension" in error.message and "application/x-msdownload" in error.message


def test_a_name_over_the_limit_is_refused_not_cut() -> None:
    name = "843312_2026-01-31_FR_RELEVE-DE-CONSOMMATION-000001.pdf"  # 54

    error = _refused(_ubl(filename=name), AttachmentRules())

    assert (error.code, error.value) == ("ATTACHMENT_NAME_TOO_LONG", name)
    assert "54 characters" in error.message and "50" in error.message
    assert "compte 54 caractères" in error.message_fr


def test_the_extension_a_mime_type_adds_counts_in_the_length() -> None:
    error = _refused(_ubl(filename="a" * 48), AttachmentRules())

    assert error.code == "ATTACHMENT_NAME_TOO_LONG"
    assert "52 characters, with the extension .pdf" in error.message


def test_a_huge_name_is_shown_bounded() -> None:
    error = _refused(_ubl(filename="x" * 5000 + ".pdf"), AttachmentRules())

    assert error.code == "ATTACHMENT_NAME_TOO_LONG"
    assert len(error.message) < 300 and len(error.value) <= 80


def test_configured_rules_are_the_readers() -> None:
    rules = AttachmentRules(max_name=12, extensions=("csv",))
    root = _ubl(filename="bon.csv")

    assert [a.name for a in ubl.read_invoice(root, rules=rules).attachments] == [
        "bon.csv",
        "detail.csv",
    ]
    assert _refused(_ubl(), rules).code == "ATTACHMENT_TYPE_REFUSED"  # .pdf, not listed now


def test_cii_attachments_keep_the_rules_too() -> None:
    root = case_root(CII_FULL)
    binary = root.find(".//{*}AttachmentBinaryObject")
    binary.set("filename", "macro.xlsm")

    with pytest.raises(ConversionError) as caught:
        cii.read_invoice(root, rules=AttachmentRules())

    assert (caught.value.code, caught.value.value) == ("ATTACHMENT_TYPE_REFUSED", "macro.xlsm")


def test_without_rules_the_readers_read_every_file() -> None:
    """The readers alone are a library: the hub passes its rules."""
    (first, _) = ubl.read_invoice(_ubl(filename="outil.exe")).attachments

    assert first.name == "outil.exe"


# -- a deposited pivot --------------------------------------------------------------------


def _pivot_unit(*attachments: Attachment) -> etree._Element:
    invoice = Invoice(
        number="FA-1",
        type_code="380",
        issue_date=date(2026, 1, 15),
        currency="EUR",
        supplier=Supplier("81234567600025", "1", "Papeteries Delorme SAS", "FR"),
        debiteur=Debiteur("21990101400015"),
        amount_ht=Decimal("100.00"),
        amount_ttc=Decimal("120.00"),
        amount_net=Decimal("120.00"),
        payment_means_code="30",
        attachments=attachments,
    )
    envelope = Envelope("FLX1", date(2026, 1, 15), "FOUR01", "EDIHUB")
    document = pivot.write_pivot([invoice], envelope)
    return next(pivot.invoice_elements(etree.fromstring(document)))


def test_a_deposited_pivot_keeps_its_original_names_and_categories() -> None:
    unit = _pivot_unit(
        Attachment("facture.pdf", "application/pdf", b"%PDF", "01"),
        Attachment(
            "bl.pdf", "application/pdf", b"%PDF", "02", "BL 12 mars.pdf", "Bon de livraison"
        ),
    )

    (own, delivery) = pivot.read_invoice(unit, rules=AttachmentRules()).attachments

    assert (own.original_name, own.category) == (None, None)
    assert (delivery.name, delivery.original_name, delivery.category) == (
        "bl.pdf",
        "BL 12 mars.pdf",
        "Bon de livraison",
    )
    written = etree.fromstring(
        pivot.write_pivot(
            [pivot.read_invoice(unit)], Envelope("FLX2", date(2026, 1, 15), "EDIHUB", "DEST01")
        )
    )
    (pj,) = written.xpath("//PJ[TypePJ='02']")
    assert [child.tag for child in pj] == [
        "Contenu",
        "NomPJ",
        "NomPJOrigine",
        "CategoriePJ",
        "TypePJ",
        "MimeTypePJ",
    ]


def test_every_pj_of_a_deposited_pivot_keeps_the_rules() -> None:
    unit = _pivot_unit(
        Attachment("facture.pdf", "application/pdf", b"%PDF", "01"),
        Attachment("setup.exe", "application/pdf", b"MZ", "02"),
    )

    with pytest.raises(ConversionError) as caught:
        pivot.read_invoice(unit, rules=AttachmentRules())

    assert (caught.value.code, caught.value.value) == ("ATTACHMENT_TYPE_REFUSED", "setup.exe")
    assert caught.value.element.endswith("/PJ[2]/NomPJ")


# -- configuration ------------------------------------------------------------------------


def _load(tmp_path: Path, text: str = "") -> settings.Settings:
    (tmp_path / settings.CONFIG_FILE).write_text(text)
    return settings.load(tmp_path)


def test_defaults_are_chorus_pros(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAX_ATTACHMENT_BYTES", "ATTACHMENT_EXTENSIONS", "MAX_ATTACHMENT_NAME"):
        monkeypatch.delenv(f"EDI_ENGINE_LIMITS_{name}", raising=False)
    limits = _load(tmp_path).limits

    assert limits.max_attachment_bytes == 10 * 1024 * 1024
    assert limits.max_invoice_attachments_bytes == 120 * 1024 * 1024
    assert limits.max_attachment_name == 50
    assert len(limits.attachment_extensions) == 35
    assert set(limits.attachment_extensions) == set(CHORUS_PRO_EXTENSIONS)


def test_extensions_from_the_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDI_ENGINE_LIMITS_ATTACHMENT_EXTENSIONS", raising=False)
    loaded = _load(tmp_path, '[limits]\nattachment_extensions = ["pdf", ".XML"]\n')
    assert loaded.limits.attachment_extensions == ["pdf", ".XML"]

    monkeypatch.setenv("EDI_ENGINE_LIMITS_ATTACHMENT_EXTENSIONS", "pdf, png")
    assert _load(tmp_path).limits.attachment_extensions == ["pdf", "png"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("max_attachment_name = 60", "must be 1 to 50"),
        ("max_attachment_name = 0", "must be 1 to 50"),
        ("max_attachment_bytes = 0", "must be at least 1"),
        ('attachment_extensions = ["pdf", "tar.gz"]', "'tar.gz' is not an extension"),
        ("attachment_extensions = []", "names no extension"),
        ("attachment_extensions = 3", "must be a list of strings"),
    ],
)
def test_rules_that_cannot_work_are_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, said: str
) -> None:
    for name in ("MAX_ATTACHMENT_BYTES", "ATTACHMENT_EXTENSIONS", "MAX_ATTACHMENT_NAME"):
        monkeypatch.delenv(f"EDI_ENGINE_LIMITS_{name}", raising=False)
    with pytest.raises(ConfigurationError, match=said):
        _load(tmp_path, f"[limits]\n{text}\n")


def test_accepted_extensions_are_cleaned() -> None:
    assert accepted_extensions([" .pdf", "Xml", "PDF"]) == ("PDF", "XML")
