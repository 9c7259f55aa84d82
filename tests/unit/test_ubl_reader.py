"""pivot_format.ubl.read_invoice on the public EN 16931 UBL examples of ../shared/corpus.

Refusals are tested on corpus documents edited in memory, so each test shows the one
thing that breaks the conversion.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from pivot_format import ubl
from pivot_format.errors import ConversionError
from pivot_format.model import Invoice, VatLine

PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
NS = ubl.NS
SUPPLIER = "cac:AccountingSupplierParty/cac:Party/"
CUSTOMER = "cac:AccountingCustomerParty/cac:Party/"

# Parametrizing needs the names at collection time; same lookup as conftest.SHARED.
_SHARED = Path(
    os.environ.get("EDI_SHARED_DIR", Path(__file__).resolve().parents[2].parent / "shared")
)
UBL_NAMES = sorted(p.name for p in (_SHARED / "corpus/en16931-ubl").glob("*") if p.is_file())
ITALIAN = "FT G2G_TD01 con Allegato, Bonifico e Split Payment.xml"


@pytest.fixture
def load(corpus_dir: Path):
    """Parse a UBL corpus file; a fresh tree each time, so tests may edit it."""

    def _load(name: str) -> etree._Element:
        return etree.parse(str(corpus_dir / "en16931-ubl" / name), PARSER).getroot()

    return _load


def first(root: etree._Element, path: str) -> etree._Element:
    return root.xpath(path, namespaces=NS)[0]


def set_text(root: etree._Element, path: str, text: str, **attrib: str) -> None:
    element = first(root, path)
    element.text = text
    for key, value in attrib.items():
        element.set(key, value)


def remove(root: etree._Element, path: str) -> None:
    for element in root.xpath(path, namespaces=NS):
        element.getparent().remove(element)


def refused(root: etree._Element) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        ubl.read_invoice(root)
    return caught.value


# -- the corpus as it is ----------------------------------------------------------


@pytest.mark.parametrize("name", UBL_NAMES)
def test_every_ubl_corpus_file_is_read(load, name: str) -> None:
    invoice = ubl.read_invoice(load(name))

    assert invoice.type_code in {"380", "381"}
    assert invoice.number and len(invoice.number) <= 20
    assert invoice.payment_means_code in {"10", "20", "30", "31", "42", "48", "49", "97"}
    assert [line.number for line in invoice.lines] == list(range(1, len(invoice.lines) + 1))


def test_invoice_with_every_header_field(load) -> None:
    invoice = ubl.read_invoice(load("ubl-tc434-example2.xml"))

    assert invoice.number == "TOSL108"
    assert invoice.type_code == "380"
    assert invoice.issue_date == date(2013, 6, 30)
    assert invoice.delivery_date == date(2013, 6, 15)
    assert invoice.currency == "NOK"
    assert invoice.cadre == "A1"  # ProfileID "Invoicing on purchase order" is no A-code
    assert invoice.payment_means_code == "30"
    assert invoice.engagement_number == "123"
    assert invoice.contract_number == "Contract321"
    assert invoice.origin_invoice_id is None
    assert (invoice.amount_ht, invoice.amount_ttc, invoice.amount_net) == (
        Decimal("1436.50"),
        Decimal("1801.78"),
        Decimal("801.78"),
    )
    assert invoice.vat_lines == (
        VatLine(rate=Decimal("25"), base_ht=Decimal("1460.50"), amount=Decimal("365.13")),
        VatLine(rate=Decimal("15"), base_ht=Decimal("1.00"), amount=Decimal("0.15")),
        VatLine(rate=Decimal("0"), base_ht=Decimal("-25.00"), amount=Decimal("0.00")),
    )


def test_amounts_keep_the_scale_written(load) -> None:
    invoice = ubl.read_invoice(load("ubl-tc434-example1.xml"))

    assert str(invoice.amount_ht) == "229.60"
    assert str(invoice.lines[0].amount_ht) == "19.90"


# -- document totals for the controls (BT-106 to BT-114) ----------------------------

TOTAL = "cac:LegalMonetaryTotal/"


def add_total(root: etree._Element, tag: str, text: str) -> None:
    """A cbc amount in LegalMonetaryTotal, before PayableAmount as the schema orders them."""
    element = etree.Element(f"{{{NS['cbc']}}}{tag}", currencyID="EUR")
    element.text = text
    first(root, TOTAL + "cbc:PayableAmount").addprevious(element)


def totals(invoice: Invoice) -> tuple:
    return (
        invoice.line_total,
        invoice.allowance_total,
        invoice.charge_total,
        invoice.vat_total,
        invoice.prepaid,
        invoice.rounding,
    )


def test_document_totals_as_written(load) -> None:
    invoice = ubl.read_invoice(load("ubl-tc434-example2.xml"))

    assert [str(total) for total in totals(invoice)] == [
        "1436.50",  # BT-106
        "100.00",  # BT-107
        "100.00",  # BT-108
        "365.28",  # BT-110
        "1000.00",  # BT-113
        "0",  # BT-114: absent
    ]


def test_rounding_amount(load) -> None:
    root = load("ubl-tc434-example1.xml")
    add_total(root, "PayableRoundingAmount", "-0.33")

    assert str(ubl.read_invoice(root).rounding) == "-0.33"


def test_absent_allowances_charges_prepaid_and_rounding_are_zero(load) -> None:
    invoice = ubl.read_invoice(load("ubl-tc434-example1.xml"))

    assert totals(invoice) == (Decimal("229.60"), 0, 0, Decimal("20.73"), 0, 0)
    for zero in (invoice.allowance_total, invoice.charge_total, invoice.prepaid, invoice.rounding):
        assert str(zero) == "0"


def test_empty_total_counts_as_absent(load) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, TOTAL + "cbc:AllowanceTotalAmount", " ")

    assert str(ubl.read_invoice(root).allowance_total) == "0"


def test_absent_line_and_vat_totals_are_none(load) -> None:
    root = load("ubl-tc434-example1.xml")
    remove(root, TOTAL + "cbc:LineExtensionAmount")
    remove(root, "cac:TaxTotal")

    invoice = ubl.read_invoice(root)

    assert (invoice.line_total, invoice.vat_total) == (None, None)
    assert invoice.vat_lines == ()


@pytest.mark.parametrize(
    ("name", "vat_total"),
    [
        ("ubl-tc434-example10.xml", "20.73"),  # EUR invoice, VAT also given in SEK
        ("ubl-tc434-example5.xml", "675.00"),  # DKK invoice, VAT also given in EUR
    ],
)
def test_vat_total_is_the_one_in_the_invoice_currency(load, name: str, vat_total: str) -> None:
    root = load(name)
    in_tax_currency = root.xpath("cac:TaxTotal[2]", namespaces=NS)[0]

    assert str(ubl.read_invoice(root).vat_total) == vat_total
    first(root, "cac:TaxTotal[1]").addprevious(in_tax_currency)  # BT-111 first
    assert str(ubl.read_invoice(root).vat_total) == vat_total


def test_vat_total_without_currency_is_the_one_with_the_breakdown(load) -> None:
    root = load("ubl-tc434-example10.xml")
    first(root, "cac:TaxTotal[1]").addprevious(first(root, "cac:TaxTotal[2]"))
    for amount in root.xpath("cac:TaxTotal/cbc:TaxAmount", namespaces=NS):
        del amount.attrib["currencyID"]

    assert str(ubl.read_invoice(root).vat_total) == "20.73"


def test_only_vat_total_in_another_currency_is_taken(load) -> None:
    root = load("ubl-tc434-example1.xml")
    set_text(root, "cac:TaxTotal/cbc:TaxAmount", "20.73", currencyID="SEK")

    assert str(ubl.read_invoice(root).vat_total) == "20.73"


@pytest.mark.parametrize(
    ("path", "value", "element"),
    [
        (TOTAL + "cbc:LineExtensionAmount", "1436,50", None),
        (TOTAL + "cbc:AllowanceTotalAmount", "NaN", None),
        (TOTAL + "cbc:ChargeTotalAmount", "1e2", None),
        (TOTAL + "cbc:PrepaidAmount", "1 000.00", None),
        ("cac:TaxTotal/cbc:TaxAmount", "365.28 NOK", "cac:TaxTotal[1]/cbc:TaxAmount"),
    ],
)
def test_malformed_total(load, path: str, value: str, element: str | None) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, path, value)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", element or path, value)


def test_malformed_rounding_amount(load) -> None:
    root = load("ubl-tc434-example2.xml")
    add_total(root, "PayableRoundingAmount", "0,01")

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "INVALID_VALUE",
        TOTAL + "cbc:PayableRoundingAmount",
        "0,01",
    )


def test_malformed_vat_total_in_the_tax_currency_is_not_read(load) -> None:
    root = load("ubl-tc434-example10.xml")
    set_text(root, "cac:TaxTotal[2]/cbc:TaxAmount", "n/a")

    assert str(ubl.read_invoice(root).vat_total) == "20.73"


def test_lines_in_document_order(load) -> None:
    lines = ubl.read_invoice(load("ubl-tc434-example2.xml")).lines

    assert len(lines) == 5
    second = lines[1]
    assert (second.number, second.product_ref) == (2, "JB008")
    assert (second.unit_price, second.quantity, second.amount_ht) == (
        Decimal("3.96"),
        Decimal("-1"),
        Decimal("-3.96"),
    )
    assert second.vat_rate == Decimal("15")


def test_product_reference_falls_back_to_the_item_name(load) -> None:
    lines = ubl.read_invoice(load("ubl-tc434-example3.xml")).lines

    assert lines[0].product_ref == "Paper subscription"


def test_supplier_outside_the_eu_keeps_its_legal_id(load) -> None:
    supplier = ubl.read_invoice(load("ubl-tc434-example2.xml")).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("123456789", "3")
    assert (supplier.name, supplier.country_code) == ("Salescompany ltd.", "NO")
    assert (supplier.iban, supplier.bic) == ("NO9386011117947", "DNBANOKK")
    assert supplier.payee_name == "Ebeneser Scrooge AS"


def test_eu_supplier_is_identified_by_its_vat_number(load) -> None:
    supplier = ubl.read_invoice(load("ubl-tc434-example1.xml")).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("NL8200.98.395.B.01", "2")
    assert supplier.iban == "NL57 RABO 0107307510"  # the first of two payment means


def test_buyer_without_siret_keeps_what_it_carries(load) -> None:
    debiteur = ubl.read_invoice(load("ubl-tc434-example2.xml")).debiteur

    assert debiteur.siret is None
    assert (debiteur.raw_identifier, debiteur.raw_scheme) == ("3456789012098", "0088")
    assert debiteur.name == "The Buyercompany"


def test_fourteen_digits_without_scheme_in_party_identification_are_no_siret(load) -> None:
    debiteur = ubl.read_invoice(load("sample-discount-price.xml")).debiteur

    assert debiteur.siret is None
    assert (debiteur.raw_identifier, debiteur.raw_scheme) == ("12346830600751", None)


def test_embedded_attachment_is_decoded(load) -> None:
    (attachment,) = ubl.read_invoice(load("ubl-tc434-example2.xml")).attachments

    assert attachment.name == "test.pdf"
    assert attachment.mime_type == "application/pdf"
    assert attachment.content == b"Testing Base64 encoding"
    assert attachment.type_code == "02"


def test_large_embedded_pdf_is_decoded(load) -> None:
    (attachment,) = ubl.read_invoice(load(ITALIAN)).attachments

    assert attachment.name == "mappatura_ubl_sdi.pdf"
    assert attachment.content.startswith(b"%PDF-1.4")
    assert len(attachment.content) == 2464230


def test_credit_note_document(load) -> None:
    invoice = ubl.read_invoice(load("ubl-tc434-creditnote1.xml"))

    assert invoice.type_code == "381"
    assert invoice.number == "018304 / 28865"
    assert invoice.issue_date == date(2019, 9, 23)
    assert invoice.amount_ttc == Decimal("100.11")
    assert invoice.vat_lines == (
        VatLine(rate=Decimal("0.00"), base_ht=Decimal("100.11"), amount=Decimal("0.00")),
    )
    assert [(line.quantity, line.amount_ht) for line in invoice.lines] == [
        (Decimal("1.00"), Decimal("100.11"))
    ]
    assert invoice.supplier.identifier == "BE0000000196"
    assert invoice.debiteur.service_code == "018304 / 28865"
    assert invoice.payment_means_code == "30"  # "1", instrument not defined


def test_credit_note_reference_service_code_and_direct_debit(load) -> None:
    invoice = ubl.read_invoice(load("ubl-tc434-example5.xml"))

    assert invoice.origin_invoice_id == "TOSL109"
    assert invoice.debiteur.service_code == "qwerty"
    assert invoice.engagement_number == "PO4711"
    assert invoice.payment_means_code == "49"
    assert invoice.amount_net == Decimal("2337.50")
    assert [a.name for a in invoice.attachments] == ["EHF.pdf"]  # OBJ999 is a URI


def test_sepa_credit_transfer_is_a_credit_transfer(load) -> None:
    assert ubl.read_invoice(load("BIS3_Invoice_positive.XML")).payment_means_code == "30"


def test_tax_category_without_rate_is_zero(load) -> None:
    invoice = ubl.read_invoice(load("ubl-tc434-example7.xml"))

    assert invoice.vat_lines == (
        VatLine(rate=Decimal("0"), base_ht=Decimal("3200.00"), amount=Decimal("0.00")),
    )
    assert invoice.lines[0].vat_rate is None


# -- identifiers ------------------------------------------------------------------


def test_buyer_siret_under_scheme_0009(load) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, CUSTOMER + "cac:PartyIdentification/cbc:ID", "21690123100011", schemeID="0009")

    debiteur = ubl.read_invoice(root).debiteur

    assert debiteur.siret == "21690123100011"
    assert debiteur.raw_identifier is None


def test_buyer_siret_in_company_id_without_scheme(load) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, CUSTOMER + "cac:PartyLegalEntity/cbc:CompanyID", "216 901 231 00011")

    assert ubl.read_invoice(root).debiteur.siret == "21690123100011"


def test_buyer_siret_from_peppol_endpoint(load) -> None:
    root = load("ubl-tc434-example5.xml")
    set_text(root, CUSTOMER + "cbc:EndpointID", "21690123100011", schemeID="0009")

    assert ubl.read_invoice(root).debiteur.siret == "21690123100011"


def test_buyer_fourteen_digits_under_another_scheme_are_no_siret(load) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, CUSTOMER + "cac:PartyIdentification/cbc:ID", "21690123100011", schemeID="0088")

    debiteur = ubl.read_invoice(root).debiteur

    assert debiteur.siret is None
    assert (debiteur.raw_identifier, debiteur.raw_scheme) == ("21690123100011", "0088")


def test_service_code_of_older_flows_is_the_customer_contact_id(load) -> None:
    root = load("ubl-tc434-example2.xml")
    contact = first(root, CUSTOMER + "cac:Contact")
    identifier = etree.Element(f"{{{NS['cbc']}}}ID")
    identifier.text = "SERVICE-42"
    contact.insert(0, identifier)

    assert ubl.read_invoice(root).debiteur.service_code == "SERVICE-42"


def test_french_supplier_with_a_fourteen_digit_legal_id_is_a_siret(load) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, SUPPLIER + "cac:PostalAddress/cac:Country/cbc:IdentificationCode", "FR")
    set_text(root, SUPPLIER + "cac:PartyLegalEntity/cbc:CompanyID", "35600000000048")

    supplier = ubl.read_invoice(root).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("35600000000048", "1")


def test_supplier_siret_under_chorus_scheme_1(load) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, SUPPLIER + "cac:PartyIdentification/cbc:ID", "35600000000048", schemeID="1")

    supplier = ubl.read_invoice(root).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("35600000000048", "1")


def test_french_supplier_without_siret_is_refused(load) -> None:
    """The pivot names French suppliers by SIRET; a VAT number alone would read as type 3."""
    root = load("ubl-tc434-example2.xml")
    set_text(root, SUPPLIER + "cac:PostalAddress/cac:Country/cbc:IdentificationCode", "FR")

    error = refused(root)

    assert (error.code, error.element) == (
        "MISSING_ELEMENT",
        SUPPLIER + "cac:PartyLegalEntity/cbc:CompanyID",
    )
    assert "SIRET" in error.message


def test_eu_supplier_without_vat_number_keeps_its_legal_id(load) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, SUPPLIER + "cac:PostalAddress/cac:Country/cbc:IdentificationCode", "SE")
    remove(root, SUPPLIER + "cac:PartyTaxScheme")

    supplier = ubl.read_invoice(root).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("123456789", "3")


def test_party_name_is_kept_even_with_the_record_separator(load) -> None:
    root = load("ubl-tc434-example2.xml")
    set_text(root, SUPPLIER + "cac:PartyLegalEntity/cbc:RegistrationName", "A\ue000B")

    assert ubl.read_invoice(root).supplier.name == "A\ue000B"


# -- pivot vocabulary -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "pivot"),
    [(code, "380") for code in ("380", "384", "386", "326", "393", "82", "875")]
    + [(code, "381") for code in ("381", "81", "83", "396", "262", "532")],
)
def test_type_codes_the_pivot_accepts(load, code: str, pivot: str) -> None:
    root = load("ubl-tc434-example1.xml")
    set_text(root, "cbc:InvoiceTypeCode", code)

    assert ubl.read_invoice(root).type_code == pivot


@pytest.mark.parametrize("code", ["389", "261", "751", "325", "999"])
def test_type_codes_the_pivot_refuses(load, code: str) -> None:
    root = load("ubl-tc434-example1.xml")
    set_text(root, "cbc:InvoiceTypeCode", code)

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "UNSUPPORTED_TYPE",
        "cbc:InvoiceTypeCode",
        code,
    )


def test_credit_note_without_type_code_is_381(load) -> None:
    root = load("ubl-tc434-creditnote1.xml")
    remove(root, "cbc:CreditNoteTypeCode")

    assert ubl.read_invoice(root).type_code == "381"


@pytest.mark.parametrize(
    ("code", "pivot"),
    [(code, code) for code in ("10", "20", "30", "31", "42", "48", "49", "97")]
    + [("58", "30"), ("59", "49"), ("54", "48"), ("55", "48"), ("23", "20"), ("92", "20")]
    + [(code, "30") for code in ("1", "57", "68", "70", "ZZZ")],
)
def test_payment_means_codes(load, code: str, pivot: str) -> None:
    root = load("ubl-tc434-example1.xml")
    set_text(root, "cac:PaymentMeans/cbc:PaymentMeansCode", code)

    assert ubl.read_invoice(root).payment_means_code == pivot


def test_no_payment_means_is_a_credit_transfer(load) -> None:
    root = load("ubl-tc434-example1.xml")
    remove(root, "cac:PaymentMeans")

    invoice = ubl.read_invoice(root)

    assert invoice.payment_means_code == "30"
    assert invoice.supplier.iban is None


@pytest.mark.parametrize(("profile", "cadre"), [("A9", "A9"), ("A25", "A25"), ("P1", "A1")])
def test_cadre_from_profile_id(load, profile: str, cadre: str) -> None:
    root = load("sample-discount-price.xml")
    set_text(root, "cbc:ProfileID", profile)

    assert ubl.read_invoice(root).cadre == cadre


# -- refusals ---------------------------------------------------------------------


def test_invoice_number_longer_than_20(load) -> None:
    root = load("ubl-tc434-example1.xml")
    set_text(root, "cbc:ID", "F" * 21)

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "INVOICE_NUMBER_TOO_LONG",
        "cbc:ID",
        "F" * 21,
    )


@pytest.mark.parametrize(
    "path",
    [
        "cbc:ID",
        "cbc:IssueDate",
        "cbc:DocumentCurrencyCode",
        "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount",
        "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
        "cac:LegalMonetaryTotal/cbc:PayableAmount",
        SUPPLIER + "cac:PostalAddress/cac:Country/cbc:IdentificationCode",
        SUPPLIER + "cac:PartyLegalEntity/cbc:RegistrationName",
    ],
)
def test_missing_mandatory_element(load, path: str) -> None:
    root = load("ubl-tc434-example1.xml")
    remove(root, path)

    error = refused(root)

    assert (error.code, error.element) == ("MISSING_ELEMENT", path)


def test_supplier_without_any_identifier(load) -> None:
    root = load("ubl-tc434-example1.xml")
    remove(root, SUPPLIER + "cac:PartyLegalEntity/cbc:CompanyID")
    remove(root, SUPPLIER + "cac:PartyTaxScheme")

    error = refused(root)

    assert (error.code, error.element) == (
        "MISSING_ELEMENT",
        SUPPLIER + "cac:PartyLegalEntity/cbc:CompanyID",
    )


def _price_per(root: etree._Element, base: str) -> None:
    price = first(root, "cac:InvoiceLine[1]/cac:Price")
    quantity = etree.SubElement(price, f"{{{NS['cbc']}}}BaseQuantity", unitCode="EA")
    quantity.text = base


@pytest.mark.parametrize(
    ("price", "base", "amount", "unit_price"),
    [
        ("150.00", "100", "12.00", "1.50"),  # exact: the price's two decimals kept
        ("36109.00", "100.", "2888.72", "361.09"),
        ("10.00", "3", "26.67", "3.3333333333"),  # never ends: 10 decimals, half-even
        ("10.00", "1.000", "80.00", "10.00"),  # a base of one changes nothing
        ("2.00", "2.00", "16.00", "2.00"),  # the base copies the price and the line agrees
    ],
)
def test_unit_price_is_per_one_unit(
    load, price: str, base: str, amount: str, unit_price: str
) -> None:
    root = load("ubl-tc434-example1.xml")
    set_text(root, "cac:InvoiceLine[1]/cbc:InvoicedQuantity", "8")
    set_text(root, "cac:InvoiceLine[1]/cac:Price/cbc:PriceAmount", price)
    set_text(root, "cac:InvoiceLine[1]/cbc:LineExtensionAmount", amount)
    _price_per(root, base)

    line = ubl.read_invoice(root).lines[0]

    assert str(line.unit_price) == unit_price
    assert str(line.amount_ht) == amount


def test_price_base_quantity_of_zero_is_refused(load) -> None:
    root = load("ubl-tc434-example1.xml")
    _price_per(root, "0")

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "INVALID_VALUE",
        "cac:InvoiceLine[1]/cac:Price/cbc:BaseQuantity",
        "0",
    )


def test_line_without_price(load) -> None:
    root = load("ubl-tc434-example1.xml")
    remove(root, "cac:InvoiceLine[2]/cac:Price")

    error = refused(root)

    assert (error.code, error.element) == (
        "MISSING_ELEMENT",
        "cac:InvoiceLine[2]/cac:Price/cbc:PriceAmount",
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("cac:LegalMonetaryTotal/cbc:PayableAmount", "250,33"),
        ("cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount", "NaN"),
        ("cbc:IssueDate", "09/01/2015"),
        ("cbc:IssueDate", "2015-02-30"),
        ("cac:TaxTotal/cac:TaxSubtotal[2]/cbc:TaxAmount", "9.74 EUR"),
        ("cac:InvoiceLine[3]/cbc:InvoicedQuantity", "1e3"),
        ("cac:PaymentMeans/cbc:PaymentMeansCode", "XX"),
    ],
)
def test_invalid_value(load, path: str, value: str) -> None:
    root = load("ubl-tc434-example1.xml")
    set_text(root, path, value)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", path, value)


@pytest.mark.parametrize("profile", ["A11", "A26", "A0"])
def test_cadre_the_pivot_does_not_know(load, profile: str) -> None:
    root = load("sample-discount-price.xml")
    set_text(root, "cbc:ProfileID", profile)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", "cbc:ProfileID", profile)


def test_invalid_base64_attachment(load) -> None:
    root = load("ubl-tc434-example2.xml")
    binary = "cac:AdditionalDocumentReference[2]/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
    set_text(root, binary, "not base64!")

    error = refused(root)

    assert (error.code, error.element) == ("INVALID_VALUE", binary)


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("cac:OrderReference/cbc:ID", 50),
        ("cac:ContractDocumentReference/cbc:ID", 50),
        ("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", 20),
        ("cbc:BuyerReference", 100),
    ],
)
def test_reference_longer_than_the_pivot_allows(load, path: str, limit: int) -> None:
    root = load("ubl-tc434-example5.xml")
    set_text(root, path, "R" * (limit + 1))

    error = refused(root)

    assert (error.code, error.element, error.value) == ("VALUE_TOO_LONG", path, "R" * (limit + 1))


def test_reference_at_the_pivot_limit_is_kept(load) -> None:
    root = load("ubl-tc434-example5.xml")
    set_text(root, "cac:OrderReference/cbc:ID", "R" * 50)

    assert ubl.read_invoice(root).engagement_number == "R" * 50


def test_not_a_ubl_invoice() -> None:
    error = refused(etree.fromstring(b"<Order xmlns='urn:example'/>"))

    assert error.code == "UNSUPPORTED_DOCUMENT"
