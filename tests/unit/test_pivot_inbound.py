"""Inbound pivot flows written another way than ours: every lexical form the official
XSD accepts is accepted by our XSD too, read as the same value, and written back in the
writer's canonical form (which validates against both schemas).

Each document is checked against our schema, and against the official one too when
../shared is beside the clone (``pivot_schemas``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from edi_engine.problems import FlowRejected
from edi_engine.reception.identify import syntax_of
from pivot_format.errors import ConversionError
from pivot_format.model import (
    Attachment,
    Debiteur,
    Envelope,
    Invoice,
    Line,
    Supplier,
    VatLine,
)
from pivot_format.pivot import invoice_elements, read_envelope, read_invoice, write_pivot

D = Decimal
ENVELOPE = Envelope(
    flow_id="FLX20261102000001",
    produced_at=date(2026, 11, 2),
    sender_id="ABC001",
    receiver_id="CPPHUB",
)
INVOICE = Invoice(
    number="FA-2026-0107",
    type_code="380",
    issue_date=date(2026, 11, 2),
    currency="EUR",
    supplier=Supplier(
        identifier="73282932000074",
        identifier_type="1",
        name="Fournitures Durand SARL",
        country_code="FR",
        iban="FR7630006000011234567890189",
    ),
    debiteur=Debiteur(siret="19750001600014", service_code="INTENDANCE"),
    amount_ht=D("150.00"),
    amount_ttc=D("175.50"),
    amount_net=D("175.50"),
    payment_means_code="30",
    delivery_date=date(2026, 10, 30),
    reception_date=date(2026, 11, 3),
    engagement_number="EJ-2026-778",
    vat_lines=(VatLine(D("20.00"), D("100.00"), D("20.00")), VatLine(D("11"), D("50"), D("5.50"))),
    lines=(
        Line(1, D("12.500"), D("8"), D("100.00"), "CART-A4", D("20.00")),
        Line(2, D("25.00"), D("2.000"), D("50.00")),
    ),
    attachments=(
        Attachment("FA-2026-0107.xml", "application/xml", b"<Invoice/>", "01"),
        Attachment("devis.pdf", "application/pdf", b"%PDF-1.7 " + bytes(range(200)), "02"),
    ),
)
CANONICAL = write_pivot([INVOICE], ENVELOPE)


Schemas = list[tuple[str, etree.XMLSchema]]


def assert_valid(pivot_schemas: Schemas, root: etree._Element) -> None:
    for name, schema in pivot_schemas:
        assert schema.validate(root), f"{name}: {schema.error_log}"


def canonical() -> etree._Element:
    return etree.fromstring(CANONICAL)


def only_invoice(root: etree._Element) -> Invoice:
    (unit,) = invoice_elements(root)
    return read_invoice(unit)


def set_text(xpath: str, value: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        (element,) = root.xpath(xpath)
        element.text = value

    return mutate


def set_attribute(xpath: str, name: str, value: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        (element,) = root.xpath(xpath)
        element.set(name, value)

    return mutate


def insert_before(xpath: str, tag: str, text: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        (element,) = root.xpath(xpath)
        new = etree.Element(tag)
        new.text = text
        element.addprevious(new)

    return mutate


def add_validation_cycle(root: etree._Element) -> None:
    """A CycleDeValidation as another producer writes it; the engine reads past it."""
    unit = root.find("CPPFactures/CPPFacturePivotUnitaire")
    step = etree.SubElement(etree.SubElement(unit, "CycleDeValidation"), "ValidationUnitaire")
    for tag, text in (("DateStatut", "2026-11-02+01:00"), ("CodeStatut", "+07")):
        etree.SubElement(step, tag).text = text
    producer = etree.SubElement(step, "ProducteurStatut")
    for tag, text in (
        ("TypeIdentifiant", "01"),
        ("Id", ""),
        ("RaisonSociale", ""),
        ("CodePays", "fr"),
    ):
        etree.SubElement(producer, tag).text = text


def wrapped_base64(data: bytes) -> str:
    """Base64 as mail-style producers write it: CRLF every 16 characters, padded ends."""
    text = base64.b64encode(data).decode()
    return "\r\n  " + "\r\n".join(text[i : i + 16] for i in range(0, len(text), 16)) + "\r\n"


UNIT = "/CPPFacturePivot/CPPFactures/CPPFacturePivotUnitaire"
DATA = f"{UNIT}/DonneesFacture"

# Each form below means exactly the value the writer wrote: reading it gives INVOICE
# again, and writing that gives CANONICAL byte for byte.
SAME_VALUE = {
    "type-identifiant-01": set_text(f"{UNIT}/Fournisseur/TypeIdentifiant", "01"),
    "type-identifiant-plus": set_text(f"{UNIT}/Fournisseur/TypeIdentifiant", "+001"),
    "type-identifiant-padded": set_text(f"{UNIT}/Fournisseur/TypeIdentifiant", "\n  1\n"),
    "debiteur-type-01": set_text(f"{UNIT}/Debiteur/TypeIdentifiant", "01"),
    "debiteur-type-plus": set_text(f"{UNIT}/Debiteur/TypeIdentifiant", "+1"),
    "country-lower": set_text(f"{UNIT}/Fournisseur/CodePays", "fr"),
    "payment-030": set_text(f"{DATA}/ModePaiement/Code", "030"),
    "payment-plus": set_text(f"{DATA}/ModePaiement/Code", "+30"),
    "payment-padded": set_text(f"{DATA}/ModePaiement/Code", " 30 "),
    "issue-date-plus-1": set_text(f"{DATA}/DateEmissionFacture", "2026-11-02+01:00"),
    "issue-date-z": set_text(f"{DATA}/DateEmissionFacture", "2026-11-02Z"),
    "issue-date-minus-12": set_text(f"{DATA}/DateEmissionFacture", "2026-11-02-12:00"),
    "issue-date-plus-14": set_text(f"{DATA}/DateEmissionFacture", "2026-11-02+14:00"),
    "delivery-date-minus-0": set_text(f"{DATA}/DateLivraison", "2026-10-30-00:00"),
    "reception-date-z": set_text(f"{DATA}/DateReception", "2026-11-03Z"),
    "amount-plus": set_text(f"{DATA}/Montants/MontantTTC", "+175.50"),
    "amount-leading-zeros": set_text(f"{DATA}/Montants/MontantNetAPayer", "000175.50"),
    "amount-padded": set_text(f"{DATA}/Montants/MontantHT", "\n\t150.00 \n"),
    "vat-rate-plus": set_text(f"{DATA}/TVAs/TVA[2]/Taux", "+011"),
    "vat-base-dot": set_text(f"{DATA}/TVAs/TVA[2]/BaseHt", "50."),
    "price-leading-zero": set_text(f"{DATA}/Lignes/Ligne[1]/PrixUnitaire", "012.500"),
    "quantity-plus-dot": set_text(f"{DATA}/Lignes/Ligne[1]/Quantite", "+8."),
    "line-number-plus": set_attribute(f"{DATA}/Lignes/Ligne[1]", "NumOrdre", "+1"),
    "line-number-zeros": set_attribute(f"{DATA}/Lignes/Ligne[2]", "NumOrdre", " 002 "),
    "empty-origin-invoice": insert_before(f"{DATA}/Type", "IdFactureOrigine", ""),
    "mime-type-padded": set_text(f"{UNIT}/PJ[1]/MimeTypePJ", "\n  application/xml\n"),
    "attachment-name-padded": set_text(f"{UNIT}/PJ[2]/NomPJ", "\n  devis.pdf\n"),
    "content-wrapped": set_text(
        f"{UNIT}/PJ[2]/Contenu", wrapped_base64(INVOICE.attachments[1].content)
    ),
    "content-spaced": set_text(f"{UNIT}/PJ[1]/Contenu", "PElu dm9p Y2Uv Pg=="),
    "version-other-text": set_attribute("/CPPFacturePivot", "Version", "2.02"),
    "empty-extra-parameter": lambda root: root.find(".//Parametres").append(
        etree.fromstring("<ParametreIndiv><Code>Note1</Code><Valeurparametre/></ParametreIndiv>")
    ),
    "validation-cycle": add_validation_cycle,
}


def all_variants(root: etree._Element) -> None:
    for mutate in SAME_VALUE.values():
        mutate(root)


@pytest.mark.parametrize("name", sorted(SAME_VALUE))
def test_each_official_form_is_accepted_read_and_rewritten_canonically(
    name: str, pivot_schemas: Schemas
) -> None:
    root = canonical()
    SAME_VALUE[name](root)
    assert etree.tostring(root) != etree.tostring(canonical())  # the variant is in place
    assert_valid(pivot_schemas, root)
    read_back = only_invoice(root)
    assert read_back == INVOICE
    assert read_back.attachments == INVOICE.attachments
    assert write_pivot([read_back], ENVELOPE) == CANONICAL


def test_a_document_in_every_form_at_once(pivot_schemas: Schemas) -> None:
    root = canonical()
    all_variants(root)
    assert_valid(pivot_schemas, root)
    assert write_pivot([only_invoice(root)], ENVELOPE) == CANONICAL


def test_the_written_values_are_the_canonical_ones() -> None:
    """What the canonical form is, spelt out for the fields whose variants are read."""
    root = canonical()
    all_variants(root)
    rewritten = etree.fromstring(write_pivot([only_invoice(root)], ENVELOPE))

    def text(path: str) -> list[str]:
        return [str(value) for value in rewritten.xpath(path)]

    assert text(f"{UNIT}/Fournisseur/TypeIdentifiant/text()") == ["1"]
    assert text(f"{UNIT}/Fournisseur/CodePays/text()") == ["FR"]
    assert text(f"{UNIT}/Debiteur/TypeIdentifiant/text()") == ["1"]
    assert text(f"{DATA}/ModePaiement/Code/text()") == ["30"]
    assert text(f"{DATA}/DateEmissionFacture/text()") == ["2026-11-02"]
    assert text(f"{DATA}/DateLivraison/text()") == ["2026-10-30"]
    assert text(f"{DATA}/DateReception/text()") == ["2026-11-03"]
    assert text(f"{DATA}/Montants/*/text()") == ["150.00", "175.50", "175.50"]
    assert text(f"{DATA}/TVAs/TVA[2]/*/text()") == ["11", "50", "5.50"]
    assert text(f"{DATA}/Lignes/Ligne/@NumOrdre") == ["1", "2"]
    assert text(f"{DATA}/Lignes/Ligne[1]/PrixUnitaire/text()") == ["12.500"]
    assert text(f"{UNIT}/PJ/MimeTypePJ/text()") == ["application/xml", "application/pdf"]
    assert text(f"{UNIT}/PJ/NomPJ/text()") == ["FA-2026-0107.xml", "devis.pdf"]
    assert text("/CPPFacturePivot/@Version") == ["V2_02"]
    assert not rewritten.xpath(f"{DATA}/IdFactureOrigine | {UNIT}/CycleDeValidation")


@pytest.mark.parametrize(
    ("written", "value", "canonical_text"),
    [
        ("+12.0", "12.0", "12.0"),
        ("12.", "12", "12"),
        (".5", "0.5", "0.5"),
        ("-.5", "-0.5", "-0.5"),
        ("0012.50", "12.50", "12.50"),
        ("-0", "0", "0"),
        ("-0.00", "0.00", "0.00"),
        ("+0.000", "0.000", "0.000"),
        ("12345678901234567890.123456789", "12345678901234567890.123456789", None),
    ],
)
def test_decimals_in_any_xs_decimal_form(
    written: str,
    value: str,
    canonical_text: str | None,
    pivot_schemas: Schemas,
) -> None:
    """Same value, scale as written (the model keeps it); no sign on zero, no "+", no
    leading zeros in what the writer writes back."""
    root = canonical()
    set_text(f"{DATA}/Montants/MontantHT", written)(root)
    assert_valid(pivot_schemas, root)
    amount = only_invoice(root).amount_ht
    assert str(amount) == value
    assert not amount.is_signed() or amount < 0
    rewritten = etree.fromstring(write_pivot([only_invoice(root)], ENVELOPE))
    assert_valid(pivot_schemas, rewritten)
    (text,) = rewritten.xpath(f"{DATA}/Montants/MontantHT/text()")
    assert text == (canonical_text or value)


def test_envelope_production_date_with_a_time_zone() -> None:
    root = canonical()
    set_text("//ParametreIndiv[Code='DtPrd']/Valeurparametre", "2026-11-02+01:00")(root)
    assert read_envelope(root) == ENVELOPE


@pytest.mark.parametrize("written", ["12026-11-02", "-2026-11-02"])
def test_a_year_the_model_cannot_hold_rejects_the_invoice_not_the_flow(
    written: str, pivot_schemas: Schemas
) -> None:
    """Valid xs:date, so valid for both schemas: the reader refuses that one invoice."""
    root = canonical()
    set_text(f"{DATA}/DateEmissionFacture", written)(root)
    assert_valid(pivot_schemas, root)
    with pytest.raises(ConversionError) as caught:
        only_invoice(root)
    assert (caught.value.code, caught.value.value) == ("INVALID_DATE", written)
    assert caught.value.element == f"{DATA}/DateEmissionFacture"


def test_a_document_part_is_valid_but_the_engine_knows_no_such_document(
    pivot_schemas: Schemas,
) -> None:
    """The official schema declares every element globally, and ours as well: the engine
    tells documents by their root before any schema, and a lone Fournisseur is none."""
    part = canonical().find("CPPFactures/CPPFacturePivotUnitaire/Fournisseur")
    document = etree.fromstring(etree.tostring(part))
    assert_valid(pivot_schemas, document)
    with pytest.raises(FlowRejected) as caught:
        syntax_of(document)
    assert [problem.code for problem in caught.value.problems] == ["UNKNOWN_SYNTAX"]
    with pytest.raises(ConversionError) as refused:
        invoice_elements(document)
    assert refused.value.code == "NOT_A_PIVOT"


@pytest.mark.parametrize("written", [" 2026-11-02", "2026-11-02\n", "\n  2026-11-02Z  \n"])
def test_padded_dates_are_never_refused_where_the_official_schema_accepts_them(
    written: str, pivot_schemas: Schemas
) -> None:
    """xs:date collapses white space, yet libxml2 refuses it around a date of a built-in
    type: ours never refuses what the official accepts. Whatever is accepted reads as
    the date."""
    root = canonical()
    set_text(f"{DATA}/DateEmissionFacture", written)(root)
    judged = {name: schema.validate(root) for name, schema in pivot_schemas}
    assert judged["ours"] >= judged.get("official", False)
    assert only_invoice(root).issue_date == date(2026, 11, 2)
