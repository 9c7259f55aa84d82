"""The pivot writer and reader: valid against our XSD (and the official one when ../shared
is beside the clone), values at their place, lossless round trip, and precise errors for
what cannot be converted."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from pivot_format.attachments import AttachmentRules
from pivot_format.errors import ConversionError
from pivot_format.model import (
    CREDIT_NOTE,
    ID_EU_VAT,
    Attachment,
    Debiteur,
    Envelope,
    Invoice,
    Line,
    Supplier,
    VatLine,
)
from pivot_format.pivot import (
    invoice_elements,
    pivot_attachment_name,
    read_envelope,
    read_invoice,
    write_pivot,
)

D = Decimal
LONG_NAME = "Bon-de-livraison-chantier-Lycee-Jean-Moulin-lot-3-mai-24.pdf"  # 60 characters
ENVELOPE = Envelope(
    flow_id="FLX20240502000001",
    produced_at=date(2024, 5, 2),
    sender_id="CPPHUB",
    receiver_id="REC001",
    sender_label="Hub",
    receiver_label="Lycée Jean Moulin",
)


def make_invoice(**changes: object) -> Invoice:
    """A complete French invoice: IBAN supplier, two VAT rates, a line without product ref."""
    invoice = Invoice(
        number="FA-2024-0042",
        type_code="380",
        issue_date=date(2024, 4, 30),
        currency="EUR",
        supplier=Supplier(
            identifier="73282932000074",
            identifier_type="1",
            name="Fournitures Durand SARL",
            country_code="FR",
            iban="FR7630006000011234567890189",
            bic="AGRIFRPP",
        ),
        debiteur=Debiteur(
            siret="19750001600014",
            name="Lycée Jean Moulin",
            service_code="INTENDANCE",
            service_name="Intendance",
        ),
        amount_ht=D("150.00"),
        amount_ttc=D("175.50"),
        amount_net=D("175.50"),
        payment_means_code="30",
        delivery_date=date(2024, 4, 28),
        reception_date=date(2024, 5, 2),
        engagement_number="EJ-2024-778",
        contract_number="MARCHE-12",
        vat_lines=(
            VatLine(D("20.00"), D("100.00"), D("20.00")),
            VatLine(D("10.0"), D("50.00"), D("5.50")),
        ),
        lines=(
            Line(1, D("12.500"), D("8"), D("100.00"), "CART-A4", D("20.00")),
            Line(2, D("25.00"), D("2.000"), D("50.00"), None, D("10.0")),
        ),
        attachments=(
            Attachment("FA-2024-0042.xml", "application/xml", b"<Invoice/>", "01"),
            Attachment("devis.pdf", "application/pdf", b"%PDF-1.7 \x00\xff", "02"),
        ),
    )
    return dataclasses.replace(invoice, **changes)


def credit_note() -> Invoice:
    """A credit note from an EU supplier known by VAT number, several rates, no bank data."""
    return make_invoice(
        number="AV-2024-7",
        type_code=CREDIT_NOTE,
        origin_invoice_id="FA-2024-0042",
        supplier=Supplier("DE123456789", ID_EU_VAT, "Bürobedarf GmbH", "DE"),
        amount_ht=D("30.00"),
        amount_ttc=D("34.05"),
        amount_net=D("34.05"),
        engagement_number=None,
        contract_number=None,
        renvoi="Recyclée",
        vat_lines=(
            VatLine(D("20"), D("10.00"), D("2.00")),
            VatLine(D("5.5"), D("10.00"), D("0.55")),
            VatLine(D("15.0"), D("10.00"), D("1.50")),
        ),
        lines=(Line(1, D("10.00"), D("3"), D("30.00")),),
        attachments=(Attachment(LONG_NAME, "application/pdf", b"%PDF", "01"),),
    )


def parse(document: bytes) -> etree._Element:
    return etree.fromstring(document)


def texts(root: etree._Element, xpath: str) -> list[str]:
    return [str(value) for value in root.xpath(xpath)]


Schemas = list[tuple[str, etree.XMLSchema]]


def assert_valid(pivot_schemas: Schemas, root: etree._Element) -> None:
    for name, schema in pivot_schemas:
        assert schema.validate(root), f"{name}: {schema.error_log}"


# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize(
    "invoices",
    [[make_invoice()], [credit_note()], [make_invoice(), credit_note(), make_invoice()]],
    ids=["invoice", "credit-note", "three-invoices"],
)
def test_output_validates(invoices: list[Invoice], pivot_schemas: Schemas) -> None:
    assert_valid(pivot_schemas, parse(write_pivot(invoices, ENVELOPE)))


def test_minimal_invoice_validates(pivot_schemas: Schemas) -> None:
    """No lines, no VAT breakdown, no commitment, no bank data: optional parts omitted."""
    bare = make_invoice(
        supplier=Supplier("73282932000074", "1", "Durand", "FR"),
        debiteur=Debiteur("19750001600014"),
        vat_lines=(),
        lines=(),
        engagement_number=None,
        contract_number=None,
        delivery_date=None,
        reception_date=None,
    )
    root = parse(write_pivot([bare], Envelope("F1", date(2024, 5, 2), "HUB", "REC")))
    assert_valid(pivot_schemas, root)
    for absent in ("TVAs", "Engagement", "Lignes", "IdFactureOrigine", "Renvoi"):
        assert not root.xpath(f"//DonneesFacture/{absent}")
    assert not root.xpath("//ReferenceBancaire | //Debiteur/Nom | //Debiteur/CodeService")


# --------------------------------------------------------------------------- values


def test_values_at_their_xpath() -> None:
    root = parse(write_pivot([make_invoice(), credit_note()], ENVELOPE))
    unit = "/CPPFacturePivot/CPPFactures/CPPFacturePivotUnitaire"
    assert root.get("Version") == "V2_02"
    params = "/CPPFacturePivot/Enveloppe/EnveloppeUnitaire/Parametres/ParametreIndiv"
    assert texts(root, f"{params}[Code='DtPrd']/Valeurparametre/text()") == ["2024-05-02"]
    assert texts(root, f"{params}[Code='IdFlx']/Valeurparametre/text()") == [ENVELOPE.flow_id]
    partners = "/CPPFacturePivot/Enveloppe/EnveloppeUnitaire/Partenaires"
    assert texts(root, f"{partners}/Recepteur/Id/text()") == ["REC001"]
    assert texts(root, f"{partners}/Recepteur/Libelle/text()") == ["Lycée Jean Moulin"]
    assert texts(root, f"{partners}/Emetteur/Id/text()") == ["CPPHUB"]
    first, second = f"{unit}[@NumOrdre='1']", f"{unit}[@NumOrdre='2']"
    bank = f"{first}/Fournisseur/ReferenceBancaire"
    assert texts(root, f"{bank}/@Type") == ["IBAN"]
    assert texts(root, f"{bank}/Compte/text()") == ["FR7630006000011234567890189"]
    assert texts(root, f"{bank}/Etablissement/text()") == ["AGRIFRPP"]
    assert texts(root, f"{first}/Fournisseur/ModeEmission/text()") == ["flux"]
    assert texts(root, f"{first}/Debiteur/TypeIdentifiant/text()") == ["1"]
    assert texts(root, f"{first}/Debiteur/Identifiant/text()") == ["19750001600014"]
    assert texts(root, f"{first}/Debiteur/CodeService/text()") == ["INTENDANCE"]
    data = f"{first}/DonneesFacture"
    assert texts(root, f"{data}/DateLivraison/text()") == ["2024-04-28"]
    assert texts(root, f"{data}/DateReception/text()") == ["2024-05-02"]
    assert texts(root, f"{data}/ModePaiement/Code/text()") == ["30"]
    assert texts(root, f"{data}/Montants/MontantTTC/text()") == ["175.50"]
    assert texts(root, f"{data}/Engagement/NumeroMarche/text()") == ["MARCHE-12"]
    assert texts(root, f"{data}/Engagement/NumeroEngagement/text()") == ["EJ-2024-778"]
    assert texts(root, f"{data}/Lignes/Ligne/@NumOrdre") == ["1", "2"]
    assert texts(root, f"{data}/Lignes/Ligne[1]/ReferenceProduit/text()") == ["CART-A4"]
    assert not root.xpath(f"{data}/Lignes/Ligne[2]/ReferenceProduit")
    assert texts(root, f"{first}/PJ/@NumOrdre") == ["1", "2"]
    assert texts(root, f"{first}/PJ[2]/Contenu/text()") == [
        base64.b64encode(b"%PDF-1.7 \x00\xff").decode()
    ]
    credit = f"{second}/DonneesFacture"
    assert texts(root, f"{credit}/Type/text()") == ["381"]
    assert texts(root, f"{credit}/IdFactureOrigine/text()") == ["FA-2024-0042"]
    assert texts(root, f"{credit}/Renvoi/text()") == ["Recyclée"]
    assert texts(root, f"{credit}/TVAs/TVA/Taux/text()") == ["20", "5.5", "15.0"]
    assert texts(root, f"{second}/Fournisseur/TypeIdentifiant/text()") == ["2"]
    assert texts(root, f"{second}/Fournisseur/Identifiant/text()") == ["DE123456789"]
    assert texts(root, f"{second}/Fournisseur/CodePays/text()") == ["DE"]


def test_multi_invoice_flow_counts_and_numbers() -> None:
    invoices = [make_invoice(number=f"FA-{n}") for n in range(1, 6)]
    root = parse(write_pivot(invoices, ENVELOPE))
    assert root.xpath("/CPPFacturePivot/CPPFactures/@Compteur") == ["5"]
    units = list(invoice_elements(root))
    assert [unit.get("NumOrdre") for unit in units] == ["1", "2", "3", "4", "5"]
    assert [read_invoice(unit).number for unit in units] == [f"FA-{n}" for n in range(1, 6)]


def test_document_is_utf8_with_declaration() -> None:
    document = write_pivot([credit_note()], ENVELOPE)
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "Bürobedarf GmbH".encode() in document


def test_decimals_keep_their_scale() -> None:
    invoice = make_invoice(amount_ht=D("150.000"), amount_net=D("1E+2"), amount_ttc=D("-0.50"))
    root = parse(write_pivot([invoice], ENVELOPE))
    assert texts(root, "//Montants/MontantHT/text()") == ["150.000"]
    assert texts(root, "//Montants/MontantNetAPayer/text()") == ["100"]
    assert texts(root, "//Montants/MontantTTC/text()") == ["-0.50"]


def test_missing_dates_default_to_issue_date() -> None:
    invoice = make_invoice(delivery_date=None, reception_date=None)
    root = parse(write_pivot([invoice], ENVELOPE))
    assert texts(root, "//DateLivraison/text()") == ["2024-04-30"]
    assert texts(root, "//DateReception/text()") == ["2024-04-30"]


# --------------------------------------------------------------------------- attachment names


def test_long_attachment_name_is_shortened_keeping_extension() -> None:
    root = parse(write_pivot([credit_note()], ENVELOPE))
    (name,) = texts(root, "//PJ/NomPJ/text()")
    assert len(LONG_NAME) == 60
    assert len(name) <= 50
    assert name.endswith(".pdf")
    assert LONG_NAME.startswith(name.removesuffix(".pdf"))


@pytest.mark.parametrize(
    ("name", "mime", "expected"),
    [
        ("facture.pdf", "application/pdf", "facture.pdf"),
        ("facture", "application/pdf", "facture.pdf"),
        ("", "application/xml", "PJ.xml"),
        ("a" * 47 + ".xml", "application/xml", "a" * 46 + ".xml"),
        ("rapport annuel.  final" + "x" * 40, "text/plain", None),
    ],
)
def test_pivot_attachment_name(name: str, mime: str, expected: str | None) -> None:
    result = pivot_attachment_name(name, mime)
    assert len(result) <= 50
    assert "." in result.strip(".")
    if expected is not None:
        assert result == expected


def test_a_name_the_mime_type_cannot_complete_is_refused_not_named_bin() -> None:
    with pytest.raises(ConversionError) as caught:
        pivot_attachment_name("facture", "application/x-unknown")
    assert (caught.value.code, caught.value.value) == ("ATTACHMENT_TYPE_REFUSED", "facture")


def test_shortened_names_stay_distinct() -> None:
    attachments = tuple(
        Attachment("x" * 55 + f"-{n}.pdf", "application/pdf", b"%PDF", "02") for n in (1, 2, 3)
    )
    invoice = make_invoice(attachments=attachments)
    names = texts(parse(write_pivot([invoice], ENVELOPE)), "//PJ/NomPJ/text()")
    assert len(set(names)) == 3
    assert all(len(name) <= 50 and name.endswith(".pdf") for name in names)


# --------------------------------------------------------------------------- round trip


def read_all(document: bytes) -> tuple[Envelope, list[Invoice]]:
    root = parse(document)
    return read_envelope(root), [read_invoice(unit) for unit in invoice_elements(root)]


def test_round_trip_is_lossless() -> None:
    invoices = [make_invoice(), make_invoice(number="FA-2", cadre="A9", payment_means_code="49")]
    envelope, read_back = read_all(write_pivot(invoices, ENVELOPE))
    assert envelope == ENVELOPE
    assert read_back == invoices
    assert read_back[0].amount_ttc.as_tuple() == D("175.50").as_tuple()  # scale kept
    assert read_back[0].attachments == invoices[0].attachments  # not part of repr/eq gaps


def test_round_trip_keeps_everything_but_the_shortened_name() -> None:
    original = credit_note()
    _, (read_back,) = read_all(write_pivot([original], ENVELOPE))
    (attachment,) = read_back.attachments
    assert len(attachment.name) <= 50
    expected = dataclasses.replace(
        original,
        attachments=(dataclasses.replace(original.attachments[0], name=attachment.name),),
    )
    assert read_back == expected


def test_reader_accepts_what_other_producers_add(pivot_schemas: Schemas) -> None:
    """IdCPRO and ModePaiement/Libelle of another producer are read; wrapped base64 too."""
    root = parse(write_pivot([make_invoice()], ENVELOPE))
    data = root.find(".//DonneesFacture")
    id_cpro = etree.Element("IdCPRO")
    id_cpro.text = "123456"
    data.find("Id").addnext(id_cpro)
    libelle = etree.SubElement(data.find("ModePaiement"), "Libelle")
    libelle.text = "Virement"
    content = root.find(".//PJ[2]/Contenu")
    content.text = content.text[:4] + "\n" + content.text[4:]
    assert_valid(pivot_schemas, root)
    assert read_invoice(next(invoice_elements(root))) == dataclasses.replace(
        make_invoice(), id_cpro=123456, payment_means_label="Virement"
    )


# --------------------------------------------------------------------------- writer refusals


@pytest.mark.parametrize(
    ("changes", "code", "element"),
    [
        ({"attachments": ()}, "MISSING_ATTACHMENT", "PJ"),
        ({"payment_means_code": None}, "MISSING_VALUE", "DonneesFacture/ModePaiement/Code"),
        ({"payment_means_code": "58"}, "VALUE_NOT_ALLOWED", "DonneesFacture/ModePaiement/Code"),
        ({"type_code": "384"}, "VALUE_NOT_ALLOWED", "DonneesFacture/Type"),
        ({"cadre": "A11"}, "VALUE_NOT_ALLOWED", "DonneesFacture/Cadre"),
        ({"renvoi": "Oui"}, "VALUE_NOT_ALLOWED", "DonneesFacture/Renvoi"),
        ({"number": "F" * 21}, "VALUE_TOO_LONG", "DonneesFacture/Id"),
        ({"number": ""}, "MISSING_VALUE", "DonneesFacture/Id"),
        ({"currency": "eur"}, "INVALID_FORMAT", "DonneesFacture/Devise"),
        (
            {"engagement_number": "E" * 51},
            "VALUE_TOO_LONG",
            "DonneesFacture/Engagement/NumeroEngagement",
        ),
        ({"debiteur": Debiteur(None)}, "MISSING_VALUE", "Debiteur/Identifiant"),
        ({"debiteur": Debiteur("1975000160001")}, "INVALID_FORMAT", "Debiteur/Identifiant"),
        (
            {"debiteur": Debiteur("19750001600014", service_code="S" * 101)},
            "VALUE_TOO_LONG",
            "Debiteur/CodeService",
        ),
        (
            {"supplier": Supplier("X", "8", "N", "FR")},
            "VALUE_NOT_ALLOWED",
            "Fournisseur/TypeIdentifiant",
        ),
        ({"supplier": Supplier("X", "1", "N", "France")}, "INVALID_FORMAT", "Fournisseur/CodePays"),
        (
            {"supplier": Supplier("X", "1", "N", "FR", iban="FR76", bank_reference_type="BBAN")},
            "VALUE_NOT_ALLOWED",
            "Fournisseur/ReferenceBancaire/@Type",
        ),
        ({"amount_ht": D("NaN")}, "INVALID_DECIMAL", "DonneesFacture/Montants/MontantHT"),
        ({"attachments": (Attachment("a.pdf", "pdf", b""),)}, "INVALID_FORMAT", "PJ[1]/MimeTypePJ"),
        (
            {"attachments": (Attachment("a.pdf", "application/pdf", b"", "03"),)},
            "VALUE_NOT_ALLOWED",
            "PJ[1]/TypePJ",
        ),
        ({"contract_number": "M\x01"}, "INVALID_CHARACTER", "Engagement/NumeroMarche"),
    ],
)
def test_writer_refuses_what_the_pivot_cannot_carry(
    changes: dict[str, object], code: str, element: str
) -> None:
    invoices = [make_invoice(), make_invoice(**changes)]
    with pytest.raises(ConversionError) as caught:
        write_pivot(invoices, ENVELOPE)
    assert caught.value.code == code
    assert caught.value.element == f"CPPFacturePivotUnitaire[2]/{element}"


def test_writer_refuses_empty_flow_and_bad_envelope() -> None:
    with pytest.raises(ConversionError) as caught:
        write_pivot([], ENVELOPE)
    assert caught.value.code == "NO_INVOICE"
    with pytest.raises(ConversionError) as caught:
        write_pivot([make_invoice()], dataclasses.replace(ENVELOPE, receiver_id="AB"))
    assert (caught.value.code, caught.value.element) == ("INVALID_FORMAT", "Recepteur/Id")


# --------------------------------------------------------------------------- reader errors


def first_unit(mutate: Callable[[etree._Element], None]) -> etree._Element:
    root = parse(write_pivot([make_invoice()], ENVELOPE))
    mutate(root)
    return next(invoice_elements(root))


def set_text(xpath: str, value: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        (element,) = root.xpath(xpath)
        element.text = value

    return mutate


def remove(xpath: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        for element in root.xpath(xpath):
            element.getparent().remove(element)

    return mutate


UNIT = "/CPPFacturePivot/CPPFactures/CPPFacturePivotUnitaire"


@pytest.mark.parametrize(
    ("mutate", "code", "element", "value"),
    [
        (
            set_text("//DateEmissionFacture", "30/04/2024"),
            "INVALID_DATE",
            f"{UNIT}/DonneesFacture/DateEmissionFacture",
            "30/04/2024",
        ),
        (
            set_text("//DateLivraison", "2024-02-30"),
            "INVALID_DATE",
            f"{UNIT}/DonneesFacture/DateLivraison",
            "2024-02-30",
        ),
        (
            set_text("//Montants/MontantTTC", "175,50"),
            "INVALID_DECIMAL",
            f"{UNIT}/DonneesFacture/Montants/MontantTTC",
            "175,50",
        ),
        (
            set_text("//TVA[2]/Taux", "1e1"),
            "INVALID_DECIMAL",
            f"{UNIT}/DonneesFacture/TVAs/TVA[2]/Taux",
            "1e1",
        ),
        (
            set_text("//Ligne[1]/Quantite", "NaN"),
            "INVALID_DECIMAL",
            f"{UNIT}/DonneesFacture/Lignes/Ligne[1]/Quantite",
            "NaN",
        ),
        (
            remove("//Montants/MontantHT"),
            "MISSING_ELEMENT",
            f"{UNIT}/DonneesFacture/Montants/MontantHT",
            "",
        ),
        (remove("//DonneesFacture/Id"), "MISSING_ELEMENT", f"{UNIT}/DonneesFacture/Id", ""),
        (
            remove("//Fournisseur/RaisonSociale"),
            "MISSING_ELEMENT",
            f"{UNIT}/Fournisseur/RaisonSociale",
            "",
        ),
        (
            set_text("//PJ[1]/Contenu", "not base64!"),
            "INVALID_BASE64",
            f"{UNIT}/PJ[1]/Contenu",
            "not base64!",
        ),
        (remove("//PJ[2]/Contenu"), "MISSING_ELEMENT", f"{UNIT}/PJ[2]/Contenu", ""),
    ],
)
def test_reader_names_code_element_and_value(
    mutate: Callable[[etree._Element], None], code: str, element: str, value: str
) -> None:
    unit = first_unit(mutate)
    with pytest.raises(ConversionError) as caught:
        read_invoice(unit)
    assert (caught.value.code, caught.value.element, caught.value.value) == (code, element, value)


def test_reader_refuses_bad_line_number() -> None:
    def mutate(root: etree._Element) -> None:
        root.find(".//Ligne").set("NumOrdre", "un")

    with pytest.raises(ConversionError) as caught:
        read_invoice(first_unit(mutate))
    assert caught.value.code == "INVALID_INTEGER"
    assert caught.value.element.endswith("/Lignes/Ligne[1]")


def test_reader_limits_attachment_size() -> None:
    big = make_invoice(attachments=(Attachment("big.pdf", "application/pdf", b"x" * 3000, "01"),))
    unit = next(invoice_elements(parse(write_pivot([big], ENVELOPE))))
    rules = AttachmentRules(max_bytes=3000)
    assert read_invoice(unit, rules=rules).attachments[0].content == b"x" * 3000
    with pytest.raises(ConversionError) as caught:
        read_invoice(unit, rules=AttachmentRules(max_bytes=2999))
    assert caught.value.code == "ATTACHMENT_TOO_LARGE"


def test_reader_refuses_other_documents_and_broken_envelopes() -> None:
    with pytest.raises(ConversionError) as caught:
        invoice_elements(etree.fromstring(b"<Invoice/>"))
    assert caught.value.code == "NOT_A_PIVOT"
    root = parse(write_pivot([make_invoice()], ENVELOPE))
    remove("//ParametreIndiv[Code='IdFlx']")(root)
    with pytest.raises(ConversionError) as caught:
        read_envelope(root)
    assert caught.value.code == "MISSING_ELEMENT"
    assert "IdFlx" in caught.value.element
    root = parse(write_pivot([make_invoice()], ENVELOPE))
    set_text("//ParametreIndiv[Code='DtPrd']/Valeurparametre", "hier")(root)
    with pytest.raises(ConversionError) as caught:
        read_envelope(root)
    assert (caught.value.code, caught.value.value) == ("INVALID_DATE", "hier")


# --------------------------------------------------------------------------- schema spot checks

REFUSED_BY_BOTH = {
    "type-384": set_text("//DonneesFacture/Type", "384"),
    "cadre-A11": set_text("//DonneesFacture/Cadre", "A11"),
    "payment-58": set_text("//ModePaiement/Code", "58"),
    "currency-lower": set_text("//Devise", "eur"),
    "id-21-chars": set_text("//DonneesFacture/Id", "F" * 21),
    "siret-13-digits": set_text("//Debiteur/Identifiant", "1975000160001"),
    "nompj-51-chars": set_text("//PJ[1]/NomPJ", "n" * 47 + ".pdf"),
    "typepj-03": set_text("//PJ[1]/TypePJ", "03"),
    "amount-comma": set_text("//Montants/MontantHT", "150,00"),
    "date-french": set_text("//DateEmissionFacture", "30/04/2024"),
    "partner-id-9": set_text("//Recepteur/Id", "REC000001"),
    "no-attachment": remove("//PJ"),
    "no-payment-means": remove("//ModePaiement"),
    "no-fournisseur": remove("//Fournisseur"),
    # near misses of the lexical forms both accept (test_pivot_inbound.py)
    "type-identifiant-8": set_text("//Fournisseur/TypeIdentifiant", "08"),
    "type-identifiant-0": set_text("//Fournisseur/TypeIdentifiant", "00"),
    "type-identifiant-decimal": set_text("//Fournisseur/TypeIdentifiant", "1.0"),
    "debiteur-type-2": set_text("//Debiteur/TypeIdentifiant", "+2"),
    "payment-decimal": set_text("//ModePaiement/Code", "30.0"),
    "typepj-1": set_text("//PJ[1]/TypePJ", "1"),  # xs:string: "01" only
    "type-padded": set_text("//DonneesFacture/Type", " 380"),  # xs:string: no collapse
    "date-with-time": set_text("//DateEmissionFacture", "2024-04-30T00:00:00"),
    "date-zone-15h": set_text("//DateEmissionFacture", "2024-04-30+15:00"),
    "date-zone-no-colon": set_text("//DateEmissionFacture", "2024-04-30+0200"),
    "date-year-0": set_text("//DateEmissionFacture", "0000-04-30"),
    "amount-exponent": set_text("//Montants/MontantHT", "1.5E2"),
    "amount-dot-only": set_text("//Montants/MontantHT", "."),
    "amount-inner-space": set_text("//Montants/MontantHT", "150 .00"),
    "country-3-letters": set_text("//Fournisseur/CodePays", "FRA"),
    "line-number-negative": lambda root: root.find(".//Ligne").set("NumOrdre", "-1"),
}


@pytest.mark.parametrize("name", sorted(REFUSED_BY_BOTH))
def test_what_the_official_schema_refuses_ours_refuses(name: str, pivot_schemas: Schemas) -> None:
    root = parse(write_pivot([make_invoice()], ENVELOPE))
    REFUSED_BY_BOTH[name](root)
    for schema_name, schema in pivot_schemas:
        assert not schema.validate(root), f"{schema_name} schema accepts it"
