"""Attachments held to Chorus Pro's rules end to end (issue 12, point 7): a file of at most
10 MiB, an invoice with its files of at most 120 MiB, names of at most 50 characters, only
the extensions Chorus Pro accepts; each configurable in `[limits]`. What breaks a rule is
refused with its own code, in French in the CR's `LibelleErreur` and in English in its
`DescriptionErreur`, naming the file; nothing of that invoice reaches its recipient, and a
supplier's file is never renamed (the deposited document, PJ 01, which the hub names itself,
gets its MIME type's extension when its own is not accepted)."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from lxml import etree

from .conftest import RECIPIENT, SUPPLIER_1, Home, sample

# the hub's attachment rules alone: EN 16931 lists fewer MIME types (BR-CL-24)
pytestmark = pytest.mark.usefixtures("rules_off")

UBL_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
BINARY = "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MiB = 1024 * 1024


def ubl(
    filename: str,
    content: bytes = b"PK\x03\x04 a small file",
    mime: str = "application/pdf",
    number: str = "F01-2026-000101",
) -> bytes:
    """ubl-invoice.xml (FOUR01 to Valbrune) whose embedded file is this one."""
    root = etree.fromstring(sample("ubl-invoice.xml"))
    root.find("{*}ID").text = number
    (binary,) = root.xpath(BINARY, namespaces=UBL_NS)
    binary.text = base64.b64encode(content).decode("ascii")
    binary.set("filename", filename)
    binary.set("mimeCode", mime)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def cr_lines(home: Home, flow: dict) -> list[tuple[str, str, str]]:
    """(CodeErreur, LibelleErreur, DescriptionErreur) of each line of the flow's CR."""
    path = home.path / "outbox" / SUPPLIER_1 / f"CR_{SUPPLIER_1}_{flow['number']}.xml"
    return [
        (
            line.findtext("CodeErreur"),
            line.findtext("LibelleErreur"),
            line.findtext("DescriptionErreur") or "",
        )
        for line in etree.parse(str(path)).iter("LigneErreurDetail")
    ]


def refused(home: Home, content: bytes, code: str) -> tuple[str, str, dict]:
    """Deposit one invoice; it is refused with `code` alone and its recipient gets nothing.
    Returns the CR's French label, its description, and the error as `flows show` gives it."""
    home.drop(SUPPLIER_1, "facture.xml", content)

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    assert home.outbox(RECIPIENT) == []
    ((found, french, description),) = cr_lines(home, flow)
    assert found == code
    (error,) = home.show(flow["number"])["errors"]
    assert error["code"] == code
    return french, description, error


def delivered_names(
    home: Home, content: bytes, deposited: str = "facture.xml"
) -> list[tuple[str, str | None]]:
    """Deposit one invoice; it is delivered: (NomPJ, NomPJOrigine) of each attachment."""
    home.drop(SUPPLIER_1, deposited, content)

    (flow,) = home.run()

    assert flow["status"] == "IN_INTEGRE", home.show(flow["number"])["errors"]
    (name,) = home.outbox(RECIPIENT)
    pivot = etree.parse(str(home.path / "outbox" / RECIPIENT / name))
    return [(pj.findtext("NomPJ"), pj.findtext("NomPJOrigine")) for pj in pivot.iter("PJ")]


# -- extensions ---------------------------------------------------------------------------


def test_a_docx_attachment_is_delivered_as_it_is_named(home: Home) -> None:
    names = delivered_names(home, ubl("Compte-rendu de chantier.DOCX", mime=DOCX))

    assert names == [
        ("facture.xml", None),
        ("Compte-rendu de chantier.DOCX", "Compte-rendu de chantier.DOCX"),
    ]


def test_the_deposited_document_travels_with_an_extension_the_hub_accepts(home: Home) -> None:
    """A UBL file named facture.ubl is PJ 01 of its pivot as facture.ubl.xml: the hub names
    the invoice itself, so the recipient can open it; the supplier's own file is untouched."""
    names = delivered_names(home, ubl("plan.pdf"), deposited="facture.ubl")

    assert names == [("facture.ubl.xml", None), ("plan.pdf", "plan.pdf")]


def test_an_exe_attachment_is_refused_not_renamed(home: Home) -> None:
    french, description, error = refused(
        home, ubl("outil.exe", mime="application/octet-stream"), "ATTACHMENT_TYPE_REFUSED"
    )

    assert french.startswith("La pièce jointe 'outil.exe' est refusée : son extension .exe")
    assert "BMP, BZ2, CSV, DOC, DOCX" in french and "XLSX, XML, ZIP" in french
    assert "en: The attachment 'outil.exe' is refused: its extension .exe" in description
    assert error["value"] == "outil.exe"
    assert ".bin" not in french + description


def test_a_name_without_extension_takes_its_mime_types_and_keeps_its_own(home: Home) -> None:
    names = delivered_names(home, ubl("bon de livraison", mime="application/pdf"))

    assert names[1] == ("bon de livraison.pdf", "bon de livraison")


def test_a_name_without_extension_nor_known_mime_type_is_refused(home: Home) -> None:
    french, description, _ = refused(
        home, ubl("annexe", mime="application/octet-stream"), "ATTACHMENT_TYPE_REFUSED"
    )

    assert "n'a pas d'extension" in french
    assert "application/octet-stream" in description


# -- names --------------------------------------------------------------------------------


def test_a_name_of_50_characters_is_delivered(home: Home) -> None:
    name = "r" * 46 + ".pdf"

    assert delivered_names(home, ubl(name))[1] == (name, name)


def test_a_name_over_50_characters_is_refused_not_cut(home: Home) -> None:
    name = "843312_2026-01-31_FR_RELEVE-DE-CONSOMMATION-000001.pdf"  # 54

    french, description, error = refused(home, ubl(name), "ATTACHMENT_NAME_TOO_LONG")

    assert french == (
        f"Le nom de la pièce jointe '{name}' compte 54 caractères au-delà de la limite de 50."
    )
    assert f"en: The name of the attachment '{name}' has 54 characters" in description
    assert error["value"] == name


# -- sizes --------------------------------------------------------------------------------


def test_a_file_of_10_mib_is_delivered_and_one_byte_more_is_refused(home: Home) -> None:
    """Chorus Pro's 10 MiB: 14 MB of base64, beyond what the XML parser takes by default."""
    home.drop(SUPPLIER_1, "a.xml", ubl("plan.pdf", b"%" * (10 * MiB), number="F01-A"))
    home.drop(SUPPLIER_1, "b.xml", ubl("plan.pdf", b"%" * (10 * MiB + 1), number="F01-B"))

    flows = {flow["file_name"]: flow for flow in home.run()}

    assert (flows["a.xml"]["status"], flows["b.xml"]["status"]) == ("IN_INTEGRE", "IN_REJETE")
    assert len(home.outbox(RECIPIENT)) == 1
    ((code, french, _),) = cr_lines(home, flows["b.xml"])
    assert code == "ATTACHMENT_TOO_LARGE"
    assert french == (
        f"La pièce jointe 'plan.pdf' fait {10 * MiB + 1} octets, au-delà de la limite de "
        f"{10 * MiB} octets par pièce jointe."
    )


# -- configured rules ---------------------------------------------------------------------


def test_configured_extensions_are_the_only_ones(home: Home) -> None:
    """The home's edi-engine.toml lists Chorus Pro's; the hub keeps two of them."""
    config = home.path / "edi-engine.toml"
    text = config.read_text(encoding="utf-8")
    start = text.index("attachment_extensions = [")
    end = text.index("]", start) + 1
    changed = text[:start] + 'attachment_extensions = ["pdf", "xml"]' + text[end:]
    config.write_text(changed, encoding="utf-8")

    french, _, _ = refused(home, ubl("rapport.docx", mime=DOCX), "ATTACHMENT_TYPE_REFUSED")

    assert french.endswith("(PDF, XML).")


@pytest.mark.parametrize(
    ("variable", "value", "content", "code"),
    [
        ("MAX_ATTACHMENT_BYTES", "1000", b"x" * 1001, "ATTACHMENT_TOO_LARGE"),
        ("MAX_ATTACHMENT_NAME", "10", b"x", "ATTACHMENT_NAME_TOO_LONG"),  # rapport.pdf: 11
        ("MAX_INVOICE_ATTACHMENTS_BYTES", "9000", b"x" * 1000, "INVOICE_ATTACHMENTS_TOO_LARGE"),
    ],
)
def test_configured_limits_are_honoured(
    home: Home,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    content: bytes,
    code: str,
) -> None:
    """The invoice document itself (about 8 KB) counts in the invoice's total."""
    monkeypatch.setenv(f"EDI_ENGINE_LIMITS_{variable}", value)

    french, _, _ = refused(home, ubl("rapport.pdf", content), code)

    assert value in french


def test_in_a_batch_only_the_invoice_with_the_refused_file_is_refused(home: Home) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.xml", ubl("plan.pdf", number="F01-OK"))
        archive.writestr("ko.xml", ubl("macro.xlsm", number="F01-KO"))
    home.drop(SUPPLIER_1, "lot.zip", buffer.getvalue())

    (flow,) = home.run()

    assert flow["status"] == "IN_INTEGRE_PARTIEL"
    (pivot,) = home.outbox(RECIPIENT)
    content = (home.path / "outbox" / RECIPIENT / pivot).read_text(encoding="utf-8")
    assert "F01-OK" in content and "macro" not in content
    assert [code for code, _, _ in cr_lines(home, flow)] == ["ATTACHMENT_TYPE_REFUSED"]
