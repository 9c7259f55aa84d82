"""pivot_format.ubl.read_invoice on UBL documents the suite writes (tests/generated).

The generated set covers what the public EN 16931 corpus covers (invoices and credit
notes, allowances and charges, VAT categories and exemptions, attachments, identifier
schemes, prepaid amounts and rounding); the corpus files of ../shared are read too when
they are beside the clone, as further cases of the same tests. Refusals are tested on
generated documents edited in memory, so each test shows the one thing that breaks the
conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from generated import SAMPLES, case_root, corpus_cases, samples_where
from generated.catalogue import (
    BUYER_SIRET,
    CSV,
    GLN_BUYER,
    LARGE,
    PDF,
    SELLER_BIC,
    SELLER_IBAN,
    SELLER_SIRET,
    SERVICE_CODE,
    SWISS_IBAN,
)
from lxml import etree

from pivot_format import ubl
from pivot_format.errors import ConversionError
from pivot_format.model import Invoice, VatLine

NS = ubl.NS
SUPPLIER = "cac:AccountingSupplierParty/cac:Party/"
CUSTOMER = "cac:AccountingCustomerParty/cac:Party/"
FULL = "ubl-invoice-full.xml"
MINIMAL = "ubl-minimal.xml"
NO_BUYER_SIRET = "ubl-buyer-without-siret.xml"
OUTSIDE_EU = "ubl-supplier-outside-eu.xml"
USD = "ubl-eu-supplier-usd.xml"
GENERATED = samples_where(lambda s: s.syntax == "ubl")
CASES = GENERATED + corpus_cases("en16931-ubl")


def load(name: str) -> etree._Element:
    """A fresh tree of a generated sample (or a corpus file), so tests may edit it."""
    return case_root(name)


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


# -- every document as it is --------------------------------------------------------


def _str(*values: object) -> tuple[str, ...]:
    return tuple(str(value) for value in values)


# What the corpus files of ../shared say, checked when they are there: (value read, as str)
CORPUS_VALUES: dict[str, list[tuple[Callable[[Invoice], tuple], tuple]]] = {
    "ubl-tc434-example2.xml": [
        (
            lambda i: _str(i.number, i.type_code, i.issue_date, i.delivery_date, i.currency),
            ("TOSL108", "380", "2013-06-30", "2013-06-15", "NOK"),
        ),
        (
            lambda i: _str(i.cadre, i.payment_means_code, i.engagement_number, i.contract_number),
            ("A1", "30", "123", "Contract321"),
        ),
        (
            lambda i: _str(i.amount_ht, i.amount_ttc, i.amount_net, i.origin_invoice_id),
            ("1436.50", "1801.78", "801.78", "None"),
        ),
        (
            lambda i: _str(*(f"{v.rate}/{v.base_ht}/{v.amount}" for v in i.vat_lines)),
            ("25/1460.50/365.13", "15/1.00/0.15", "0/-25.00/0.00"),
        ),
        (
            lambda i: _str(i.line_total, i.allowance_total, i.charge_total, i.vat_total),
            ("1436.50", "100.00", "100.00", "365.28"),
        ),
        (lambda i: _str(i.prepaid, i.rounding), ("1000.00", "0")),
        (
            lambda i: _str(i.lines[1].product_ref, i.lines[1].unit_price, i.lines[1].quantity),
            ("JB008", "3.96", "-1"),
        ),
        (
            lambda i: _str(i.supplier.identifier, i.supplier.identifier_type, i.supplier.iban),
            ("123456789", "3", "NO9386011117947"),
        ),
        (
            lambda i: _str(i.supplier.bic, i.supplier.payee_name),
            ("DNBANOKK", "Ebeneser Scrooge AS"),
        ),
        (
            lambda i: _str(i.debiteur.siret, i.debiteur.raw_identifier, i.debiteur.raw_scheme),
            ("None", "3456789012098", "0088"),
        ),
        (
            lambda i: _str(*((a.name, a.content) for a in i.attachments)),
            (str(("test.pdf", b"Testing Base64 encoding")),),
        ),
    ],
    "ubl-tc434-example1.xml": [
        (lambda i: _str(i.amount_ht, i.lines[0].amount_ht), ("229.60", "19.90")),
        (
            lambda i: _str(i.supplier.identifier, i.supplier.identifier_type, i.supplier.iban),
            ("NL8200.98.395.B.01", "2", "NL57 RABO 0107307510"),
        ),
    ],
    "ubl-tc434-example3.xml": [(lambda i: _str(i.lines[0].product_ref), ("Paper subscription",))],
    "ubl-tc434-example5.xml": [
        (
            lambda i: _str(i.vat_total, i.origin_invoice_id, i.debiteur.service_code),
            ("675.00", "TOSL109", "qwerty"),
        ),
        (
            lambda i: _str(i.engagement_number, i.payment_means_code, i.amount_net),
            ("PO4711", "49", "2337.50"),
        ),
        (lambda i: _str(*(a.name for a in i.attachments)), ("EHF.pdf",)),
    ],
    "ubl-tc434-example7.xml": [
        (
            lambda i: _str(*(f"{v.rate}/{v.base_ht}/{v.amount}" for v in i.vat_lines)),
            ("0/3200.00/0.00",),
        ),
        (lambda i: _str(i.lines[0].vat_rate), ("None",)),
    ],
    "ubl-tc434-example10.xml": [(lambda i: _str(i.vat_total), ("20.73",))],
    "ubl-tc434-creditnote1.xml": [
        (
            lambda i: _str(i.type_code, i.number, i.issue_date, i.amount_ttc),
            ("381", "018304 / 28865", "2019-09-23", "100.11"),
        ),
        (
            lambda i: _str(i.supplier.identifier, i.debiteur.service_code, i.payment_means_code),
            ("BE0000000196", "018304 / 28865", "30"),
        ),
    ],
    "sample-discount-price.xml": [
        (
            lambda i: _str(i.debiteur.siret, i.debiteur.raw_identifier, i.debiteur.raw_scheme),
            ("None", "12346830600751", "None"),
        ),
    ],
    "FT G2G_TD01 con Allegato, Bonifico e Split Payment.xml": [
        (
            lambda i: _str(*((a.name, len(a.content), a.content[:8]) for a in i.attachments)),
            (str(("mappatura_ubl_sdi.pdf", 2464230, b"%PDF-1.4")),),
        ),
    ],
    "BIS3_Invoice_positive.XML": [(lambda i: _str(i.payment_means_code), ("30",))],
}


@pytest.mark.parametrize("name", CASES)
def test_every_ubl_document_is_read(name: str) -> None:
    invoice = ubl.read_invoice(load(name))

    assert invoice.type_code in {"380", "381"}
    assert invoice.number and len(invoice.number) <= 20
    assert invoice.payment_means_code in {"10", "20", "30", "31", "42", "48", "49", "97"}
    assert [line.number for line in invoice.lines] == list(range(1, len(invoice.lines) + 1))
    for value, expected in CORPUS_VALUES.get(name.rpartition("/")[2], []):
        assert value(invoice) == expected


@pytest.mark.parametrize("name", GENERATED)
def test_generated_document_is_valid_ubl_21(name: str) -> None:
    sample = SAMPLES[name]
    schema = sample.schema

    assert schema.validate(sample.root().getroottree()), schema.error_log


@pytest.mark.parametrize("name", GENERATED)
def test_reader_finds_what_the_supplier_wrote(name: str) -> None:
    """Every value the pivot and the controls use, against the spec it was written from."""
    sample = SAMPLES[name]
    spec = sample.spec
    invoice = ubl.read_invoice(sample.root())

    assert (invoice.number, invoice.issue_date, invoice.currency) == (
        spec.number,
        spec.issue_date,
        spec.currency,
    )
    assert invoice.type_code == spec.type_code
    assert invoice.delivery_date == spec.delivery_date
    assert (invoice.amount_ht, invoice.amount_ttc, invoice.amount_net) == (
        spec.tax_basis,
        spec.grand_total,
        spec.due,
    )
    assert (invoice.line_total, invoice.allowance_total, invoice.charge_total) == (
        spec.line_total,
        spec.allowance_total,
        spec.charge_total,
    )
    assert (invoice.vat_total, invoice.prepaid, invoice.rounding) == (
        spec.vat_total,
        spec.prepaid,
        spec.rounding,
    )
    assert invoice.vat_lines == tuple(
        VatLine(v.rate or Decimal(0), v.base, v.amount) for v in sample.expected_vat
    )
    assert [(x.quantity, x.amount_ht, x.vat_rate, x.product_ref) for x in invoice.lines] == [
        (x.quantity, x.amount, x.rate, x.seller_id or x.name) for x in sample.expected_lines
    ]
    assert [x.unit_price for x in invoice.lines] == [
        x.price / (x.base_quantity or 1) for x in sample.expected_lines
    ]
    assert [(a.name, a.mime_type, a.content) for a in invoice.attachments] == [
        (a.filename, a.mime, a.content) for a in sample.expected_attachments
    ]
    # NomPJOrigine is the file name as given, CategoriePJ the description
    assert [(a.original_name, a.category) for a in invoice.attachments] == [
        (a.filename, a.description) for a in sample.expected_attachments
    ]
    assert invoice.debiteur.service_name == sample.expected_service_name
    assert invoice.payment_means_label == sample.expected_payment_label
    assert invoice.debiteur.siret == sample.buyer_siret
    assert invoice.debiteur.service_code == spec.buyer_reference
    assert (invoice.engagement_number, invoice.contract_number, invoice.origin_invoice_id) == (
        spec.order,
        spec.contract,
        spec.origin,
    )
    account = next((m for m in spec.payment_means if m.iban), None)
    assert invoice.supplier.iban == (account.iban if account else None)
    assert invoice.supplier.payee_name == (spec.payee.name if spec.payee else None)
    assert invoice.supplier.name == spec.seller.name


def test_invoice_with_every_header_field() -> None:
    invoice = ubl.read_invoice(load(FULL))

    assert invoice.number == "FA-2026-00042"
    assert invoice.type_code == "380"
    assert invoice.issue_date == date(2026, 1, 12)
    assert invoice.delivery_date == date(2026, 1, 8)
    assert invoice.currency == "EUR"
    assert invoice.cadre == "A1"
    assert invoice.payment_means_code == "30"
    assert invoice.engagement_number == "EJ-2026-0042"
    assert invoice.contract_number == "MARCHE-2025-17"
    assert invoice.origin_invoice_id is None
    assert (invoice.amount_ht, invoice.amount_ttc, invoice.amount_net) == (
        Decimal("628.00"),
        Decimal("691.26"),
        Decimal("591.27"),
    )
    # one breakdown per rate, the document allowance and charge in the 20 % base
    assert invoice.vat_lines == (
        VatLine(rate=Decimal("20"), base_ht=Decimal("168.00"), amount=Decimal("33.60")),
        VatLine(rate=Decimal("5.5"), base_ht=Decimal("152.50"), amount=Decimal("8.39")),
        VatLine(rate=Decimal("2.1"), base_ht=Decimal("120.00"), amount=Decimal("2.52")),
        VatLine(rate=Decimal("10"), base_ht=Decimal("187.50"), amount=Decimal("18.75")),
    )


def test_amounts_keep_the_scale_written() -> None:
    assert str(ubl.read_invoice(load(MINIMAL)).amount_ht) == "100.00"
    assert str(ubl.read_invoice(load(MINIMAL)).lines[0].amount_ht) == "100.00"
    trimmed = ubl.read_invoice(load(USD))  # a supplier whose software trims zeros
    assert (str(trimmed.vat_total), str(trimmed.vat_lines[0].amount)) == ("39.7", "9.9")


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


def test_document_totals_as_written() -> None:
    invoice = ubl.read_invoice(load(FULL))

    assert [str(total) for total in totals(invoice)] == [
        "623.00",  # BT-106
        "10.00",  # BT-107
        "15.00",  # BT-108
        "63.26",  # BT-110
        "100.00",  # BT-113
        "0.01",  # BT-114
    ]


def test_rounding_amount() -> None:
    root = load(MINIMAL)
    add_total(root, "PayableRoundingAmount", "-0.33")

    assert str(ubl.read_invoice(root).rounding) == "-0.33"


def test_absent_allowances_charges_prepaid_and_rounding_are_zero() -> None:
    invoice = ubl.read_invoice(load(MINIMAL))

    assert totals(invoice) == (Decimal("100.00"), 0, 0, Decimal("20.00"), 0, 0)
    for zero in (invoice.allowance_total, invoice.charge_total, invoice.prepaid, invoice.rounding):
        assert str(zero) == "0"


def test_written_zero_keeps_its_scale() -> None:
    invoice = ubl.read_invoice(load("ubl-negative-quantities.xml"))

    assert (str(invoice.allowance_total), str(invoice.charge_total)) == ("0.00", "0.00")


def test_empty_total_counts_as_absent() -> None:
    root = load(FULL)
    set_text(root, TOTAL + "cbc:AllowanceTotalAmount", " ")

    assert str(ubl.read_invoice(root).allowance_total) == "0"


def test_absent_line_and_vat_totals_are_none() -> None:
    root = load(MINIMAL)
    remove(root, TOTAL + "cbc:LineExtensionAmount")
    remove(root, "cac:TaxTotal")

    invoice = ubl.read_invoice(root)

    assert (invoice.line_total, invoice.vat_total) == (None, None)
    assert invoice.vat_lines == ()


def test_vat_total_is_the_one_in_the_invoice_currency() -> None:
    """A USD invoice gives its VAT in euros too (BT-111): 30.44 EUR is not BT-110."""
    root = load(USD)
    in_tax_currency = first(root, "cac:TaxTotal[2]")
    assert in_tax_currency.findtext("cbc:TaxAmount", namespaces=NS) == "30.44"

    assert str(ubl.read_invoice(root).vat_total) == "39.7"
    first(root, "cac:TaxTotal[1]").addprevious(in_tax_currency)  # BT-111 first
    assert str(ubl.read_invoice(root).vat_total) == "39.7"


def test_vat_total_without_currency_is_the_one_with_the_breakdown() -> None:
    root = load(USD)
    first(root, "cac:TaxTotal[1]").addprevious(first(root, "cac:TaxTotal[2]"))
    for amount in root.xpath("cac:TaxTotal/cbc:TaxAmount", namespaces=NS):
        del amount.attrib["currencyID"]

    assert str(ubl.read_invoice(root).vat_total) == "39.7"


def test_only_vat_total_in_another_currency_is_taken() -> None:
    root = load(MINIMAL)
    set_text(root, "cac:TaxTotal/cbc:TaxAmount", "20.00", currencyID="SEK")

    assert str(ubl.read_invoice(root).vat_total) == "20.00"


@pytest.mark.parametrize(
    ("path", "value", "element"),
    [
        (TOTAL + "cbc:LineExtensionAmount", "623,00", None),
        (TOTAL + "cbc:AllowanceTotalAmount", "NaN", None),
        (TOTAL + "cbc:ChargeTotalAmount", "1e2", None),
        (TOTAL + "cbc:PrepaidAmount", "1 000.00", None),
        ("cac:TaxTotal/cbc:TaxAmount", "63.26 EUR", "cac:TaxTotal[1]/cbc:TaxAmount"),
        (TOTAL + "cbc:PayableRoundingAmount", "0,01", None),
    ],
)
def test_malformed_total(path: str, value: str, element: str | None) -> None:
    root = load(FULL)
    set_text(root, path, value)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", element or path, value)


def test_malformed_vat_total_in_the_tax_currency_is_not_read() -> None:
    root = load(USD)
    set_text(root, "cac:TaxTotal[2]/cbc:TaxAmount", "n/a")

    assert str(ubl.read_invoice(root).vat_total) == "39.7"


def test_lines_in_document_order() -> None:
    lines = ubl.read_invoice(load("ubl-negative-quantities.xml")).lines

    assert len(lines) == 3
    second = lines[1]
    assert (second.number, second.product_ref) == (2, "Chaises reprises (défectueuses)")
    assert (second.unit_price, second.quantity, second.amount_ht) == (
        Decimal("45.00"),
        Decimal("-2"),
        Decimal("-90.00"),
    )
    assert second.vat_rate == Decimal("20")


def test_line_allowances_and_charges_are_in_the_line_amount() -> None:
    """BT-131 is net of line allowances and charges: the reader takes it as written."""
    lines = ubl.read_invoice(load(FULL)).lines

    assert [(str(line.unit_price), str(line.amount_ht)) for line in lines[1:3]] == [
        ("38.00", "109.00"),  # 3 x 38.00 less a 5.00 allowance (gross price 40.00)
        ("15.00", "152.50"),  # 10 x 15.00 plus a 2.50 charge
    ]


def test_product_reference_is_the_seller_id_else_the_item_name() -> None:
    lines = ubl.read_invoice(load(FULL)).lines

    assert [line.product_ref for line in lines[:3]] == ["PAP-A4", "ENC-01", "Livre scolaire"]


def test_supplier_outside_the_eu_keeps_its_legal_id() -> None:
    supplier = ubl.read_invoice(load(OUTSIDE_EU)).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("CHE-123.456.789", "3")
    assert (supplier.name, supplier.country_code) == ("Alpes Fournitures SA", "CH")
    assert (supplier.iban, supplier.bic) == (SWISS_IBAN, None)


def test_payee_and_bank_details_of_the_first_account() -> None:
    supplier = ubl.read_invoice(load(FULL)).supplier

    assert (supplier.iban, supplier.bic) == (SELLER_IBAN, SELLER_BIC)  # first of two means
    assert supplier.payee_name == "Affacturage Rhône SA"


def test_eu_supplier_is_identified_by_its_vat_number() -> None:
    supplier = ubl.read_invoice(load(USD)).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("BE0477472701", "2")


def test_eu_supplier_without_siret_in_another_currency() -> None:
    invoice = ubl.read_invoice(load("ubl-exempt-categories.xml"))

    assert (invoice.supplier.identifier, invoice.supplier.identifier_type) == (
        "DE123456788",
        "2",
    )
    assert invoice.supplier.country_code == "DE"


def test_buyer_without_siret_keeps_what_it_carries() -> None:
    debiteur = ubl.read_invoice(load(NO_BUYER_SIRET)).debiteur

    assert debiteur.siret is None
    assert (debiteur.raw_identifier, debiteur.raw_scheme) == (GLN_BUYER, "0088")
    assert debiteur.name == "Commune de Valbrune"


def test_fourteen_digits_without_scheme_in_party_identification_are_no_siret() -> None:
    root = load(NO_BUYER_SIRET)
    identifier = first(root, CUSTOMER + "cac:PartyIdentification/cbc:ID")
    identifier.text = BUYER_SIRET
    del identifier.attrib["schemeID"]

    debiteur = ubl.read_invoice(root).debiteur

    assert debiteur.siret is None
    assert (debiteur.raw_identifier, debiteur.raw_scheme) == (BUYER_SIRET, None)


def test_embedded_attachments_are_decoded_and_references_by_uri_skipped() -> None:
    attachments = ubl.read_invoice(load(FULL)).attachments

    assert [(a.name, a.mime_type, a.content, a.type_code) for a in attachments] == [
        ("bon-de-livraison.pdf", "application/pdf", PDF, "02"),
        ("detail.csv", "text/csv", CSV, "02"),
    ]


def test_large_embedded_file_is_decoded() -> None:
    (attachment,) = ubl.read_invoice(load("ubl-prepaid-rounding.xml")).attachments

    assert attachment.name == "annexe.zip"
    assert attachment.content == LARGE


def test_attachment_without_file_name_is_named_by_its_reference() -> None:
    root = load(FULL)
    binary = "cac:AdditionalDocumentReference[1]/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
    del first(root, binary).attrib["filename"]

    assert ubl.read_invoice(root).attachments[0].name == "BL-2026-001"


def test_credit_note_document() -> None:
    invoice = ubl.read_invoice(load("ubl-credit-note.xml"))

    assert invoice.type_code == "381"
    assert invoice.number == "AV-2026-0007"
    assert invoice.issue_date == date(2026, 2, 3)
    assert invoice.amount_ttc == Decimal("51.60")
    assert invoice.origin_invoice_id == "FA-2026-00042"
    assert invoice.cadre == "A9"
    assert invoice.vat_lines == (
        VatLine(rate=Decimal("20"), base_ht=Decimal("18.00"), amount=Decimal("3.60")),
        VatLine(rate=Decimal("0"), base_ht=Decimal("30.00"), amount=Decimal("0.00")),
    )
    assert [(line.quantity, line.amount_ht) for line in invoice.lines] == [
        (Decimal("4"), Decimal("18.00")),
        (Decimal("2"), Decimal("30.00")),
    ]
    assert invoice.supplier.identifier == SELLER_SIRET
    assert invoice.debiteur.siret == BUYER_SIRET


def test_credit_note_as_an_invoice_with_negative_quantities() -> None:
    invoice = ubl.read_invoice(load("ubl-credit-note-as-invoice.xml"))

    assert invoice.type_code == "381"
    assert (invoice.amount_ht, invoice.amount_net) == (Decimal("-114.00"), Decimal("-136.80"))
    assert [(line.quantity, line.unit_price) for line in invoice.lines] == [
        (Decimal("-3"), Decimal("38.00"))
    ]


def test_direct_debit_and_service_code() -> None:
    invoice = ubl.read_invoice(load(OUTSIDE_EU))

    assert invoice.payment_means_code == "49"  # 59, SEPA direct debit
    assert invoice.debiteur.service_code == SERVICE_CODE
    assert invoice.currency == "CHF"


def test_sepa_credit_transfer_is_a_credit_transfer() -> None:
    assert ubl.read_invoice(load("ubl-exempt-categories.xml")).payment_means_code == "30"


def test_exempt_categories_each_have_their_breakdown() -> None:
    """E, AE, K, G and Z at 0 % stay apart (one TVA each), in the order written."""
    invoice = ubl.read_invoice(load("ubl-exempt-categories.xml"))

    assert [(str(v.rate), str(v.base_ht), str(v.amount)) for v in invoice.vat_lines] == [
        ("0", "900.00", "0.00"),
        ("0", "1200.00", "0.00"),
        ("0", "400.00", "0.00"),
        ("0", "99.90", "0.00"),
        ("0", "30.00", "0.00"),
        ("20", "100.00", "20.00"),
    ]


def test_tax_category_without_rate_is_zero() -> None:
    invoice = ubl.read_invoice(load("ubl-outside-scope.xml"))

    assert invoice.vat_lines == (
        VatLine(rate=Decimal("0"), base_ht=Decimal("52.32"), amount=Decimal("0.00")),
    )
    assert invoice.lines[0].vat_rate is None


# -- identifiers ------------------------------------------------------------------


def test_buyer_siret_under_scheme_0009() -> None:
    root = load(NO_BUYER_SIRET)
    set_text(root, CUSTOMER + "cac:PartyIdentification/cbc:ID", BUYER_SIRET, schemeID="0009")

    debiteur = ubl.read_invoice(root).debiteur

    assert debiteur.siret == BUYER_SIRET
    assert debiteur.raw_identifier is None


@pytest.mark.parametrize("scheme", ["0002", "1"])
def test_buyer_siret_in_company_id_under_a_siret_scheme(scheme: str) -> None:
    root = load(NO_BUYER_SIRET)
    set_text(root, CUSTOMER + "cac:PartyLegalEntity/cbc:CompanyID", BUYER_SIRET, schemeID=scheme)

    assert ubl.read_invoice(root).debiteur.siret == BUYER_SIRET


def test_buyer_siret_in_company_id_without_scheme() -> None:
    root = load(NO_BUYER_SIRET)
    company = first(root, CUSTOMER + "cac:PartyLegalEntity/cbc:CompanyID")
    company.text = "216 901 231 00011"
    del company.attrib["schemeID"]

    assert ubl.read_invoice(root).debiteur.siret == "21690123100011"


def test_buyer_siret_from_peppol_endpoint() -> None:
    root = load(OUTSIDE_EU)  # the buyer's only identifier is its endpoint
    assert ubl.read_invoice(root).debiteur.siret == BUYER_SIRET

    first(root, CUSTOMER + "cbc:EndpointID").set("schemeID", "0088")
    assert ubl.read_invoice(root).debiteur.siret is None


def test_buyer_fourteen_digits_under_another_scheme_are_no_siret() -> None:
    root = load(NO_BUYER_SIRET)
    set_text(root, CUSTOMER + "cac:PartyIdentification/cbc:ID", BUYER_SIRET, schemeID="0088")

    debiteur = ubl.read_invoice(root).debiteur

    assert debiteur.siret is None
    assert (debiteur.raw_identifier, debiteur.raw_scheme) == (BUYER_SIRET, "0088")


def test_service_code_of_older_flows_is_the_customer_contact_id() -> None:
    root = load(FULL)
    remove(root, "cbc:BuyerReference")
    identifier = etree.Element(f"{{{NS['cbc']}}}ID")
    identifier.text = "SERVICE-42"
    first(root, CUSTOMER + "cac:Contact").insert(0, identifier)

    assert ubl.read_invoice(root).debiteur.service_code == "SERVICE-42"


def test_buyer_reference_comes_before_the_contact_id() -> None:
    root = load(FULL)
    identifier = etree.Element(f"{{{NS['cbc']}}}ID")
    identifier.text = "SERVICE-42"
    first(root, CUSTOMER + "cac:Contact").insert(0, identifier)

    assert ubl.read_invoice(root).debiteur.service_code == SERVICE_CODE


def test_french_supplier_with_a_fourteen_digit_legal_id_is_a_siret() -> None:
    root = load(OUTSIDE_EU)
    set_text(root, SUPPLIER + "cac:PostalAddress/cac:Country/cbc:IdentificationCode", "FR")
    set_text(root, SUPPLIER + "cac:PartyLegalEntity/cbc:CompanyID", SELLER_SIRET)

    supplier = ubl.read_invoice(root).supplier

    assert (supplier.identifier, supplier.identifier_type) == (SELLER_SIRET, "1")


def test_supplier_siret_under_chorus_scheme_1() -> None:
    root = load(OUTSIDE_EU)
    set_text(root, SUPPLIER + "cac:PartyIdentification/cbc:ID", SELLER_SIRET, schemeID="1")

    supplier = ubl.read_invoice(root).supplier

    assert (supplier.identifier, supplier.identifier_type) == (SELLER_SIRET, "1")


def test_supplier_siret_in_party_identification() -> None:
    supplier = ubl.read_invoice(load(MINIMAL)).supplier

    assert (supplier.identifier, supplier.identifier_type) == (SELLER_SIRET, "1")


def test_supplier_duns_is_not_its_identifier() -> None:
    """A DUNS (scheme 0060) in PartyIdentification: the legal id names the supplier."""
    root = load(OUTSIDE_EU)
    assert first(root, SUPPLIER + "cac:PartyIdentification/cbc:ID").get("schemeID") == "0060"

    assert ubl.read_invoice(root).supplier.identifier == "CHE-123.456.789"


def test_french_supplier_without_siret_is_refused() -> None:
    """The pivot names French suppliers by SIRET; a VAT number alone would read as type 3."""
    root = load(OUTSIDE_EU)
    set_text(root, SUPPLIER + "cac:PostalAddress/cac:Country/cbc:IdentificationCode", "FR")

    error = refused(root)

    assert (error.code, error.element) == (
        "MISSING_ELEMENT",
        SUPPLIER + "cac:PartyLegalEntity/cbc:CompanyID",
    )
    assert "SIRET" in error.message


def test_eu_supplier_without_vat_number_is_european_by_its_legal_id() -> None:
    """TypeIdentifiant 2 is "Structure Européenne hors France", 3 "Structure hors UE"."""
    root = load(OUTSIDE_EU)
    set_text(root, SUPPLIER + "cac:PostalAddress/cac:Country/cbc:IdentificationCode", "SE")
    remove(root, SUPPLIER + "cac:PartyTaxScheme")

    supplier = ubl.read_invoice(root).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("CHE-123.456.789", "2")
    assert supplier.country_code == "SE"


def test_party_name_is_kept_even_with_the_record_separator() -> None:
    root = load(FULL)
    set_text(root, SUPPLIER + "cac:PartyLegalEntity/cbc:RegistrationName", "A\ue000B")

    assert ubl.read_invoice(root).supplier.name == "A\ue000B"


def test_trading_name_when_there_is_no_registration_name() -> None:
    root = load(FULL)
    remove(root, SUPPLIER + "cac:PartyLegalEntity/cbc:RegistrationName")

    assert ubl.read_invoice(root).supplier.name == "Papeterie Martin"


# -- pivot vocabulary -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "pivot"),
    [(code, "380") for code in ("380", "384", "386", "326", "393", "82", "875")]
    + [(code, "381") for code in ("381", "81", "83", "396", "262", "532")],
)
def test_type_codes_the_pivot_accepts(code: str, pivot: str) -> None:
    root = load(MINIMAL)
    set_text(root, "cbc:InvoiceTypeCode", code)

    assert ubl.read_invoice(root).type_code == pivot


@pytest.mark.parametrize("code", ["389", "261", "751", "325", "999"])
def test_type_codes_the_pivot_refuses(code: str) -> None:
    root = load(MINIMAL)
    set_text(root, "cbc:InvoiceTypeCode", code)

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "UNSUPPORTED_TYPE",
        "cbc:InvoiceTypeCode",
        code,
    )


def test_credit_note_without_type_code_is_381() -> None:
    root = load("ubl-credit-note.xml")
    remove(root, "cbc:CreditNoteTypeCode")

    assert ubl.read_invoice(root).type_code == "381"


@pytest.mark.parametrize(
    ("code", "pivot"),
    [(code, code) for code in ("10", "20", "30", "31", "42", "48", "49", "97")]
    + [("58", "30"), ("59", "49"), ("54", "48"), ("55", "48"), ("23", "20"), ("92", "20")]
    + [(code, "30") for code in ("1", "57", "68", "70", "ZZZ")],
)
def test_payment_means_codes(code: str, pivot: str) -> None:
    root = load(FULL)
    set_text(root, "cac:PaymentMeans/cbc:PaymentMeansCode", code)

    assert ubl.read_invoice(root).payment_means_code == pivot


def test_no_payment_means_is_a_credit_transfer() -> None:
    root = load(FULL)
    remove(root, "cac:PaymentMeans")

    invoice = ubl.read_invoice(root)

    assert invoice.payment_means_code == "30"
    assert invoice.supplier.iban is None


@pytest.mark.parametrize(("profile", "cadre"), [("A9", "A9"), ("A25", "A25"), ("P1", "A1")])
def test_cadre_from_profile_id(profile: str, cadre: str) -> None:
    root = load(MINIMAL)
    set_text(root, "cbc:ProfileID", profile)

    assert ubl.read_invoice(root).cadre == cadre


# -- refusals ---------------------------------------------------------------------


def test_invoice_number_longer_than_20() -> None:
    root = load(MINIMAL)
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
def test_missing_mandatory_element(path: str) -> None:
    root = load(MINIMAL)
    remove(root, path)

    error = refused(root)

    assert (error.code, error.element) == ("MISSING_ELEMENT", path)


def test_supplier_without_any_identifier() -> None:
    root = load(OUTSIDE_EU)
    remove(root, SUPPLIER + "cac:PartyLegalEntity/cbc:CompanyID")
    remove(root, SUPPLIER + "cac:PartyTaxScheme")
    remove(root, SUPPLIER + "cac:PartyIdentification")

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
def test_unit_price_is_per_one_unit(price: str, base: str, amount: str, unit_price: str) -> None:
    root = load(MINIMAL)
    set_text(root, "cac:InvoiceLine[1]/cbc:InvoicedQuantity", "8")
    set_text(root, "cac:InvoiceLine[1]/cac:Price/cbc:PriceAmount", price)
    set_text(root, "cac:InvoiceLine[1]/cbc:LineExtensionAmount", amount)
    _price_per(root, base)

    line = ubl.read_invoice(root).lines[0]

    assert str(line.unit_price) == unit_price
    assert str(line.amount_ht) == amount


def test_price_base_quantity_of_zero_is_refused() -> None:
    root = load(MINIMAL)
    _price_per(root, "0")

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "INVALID_VALUE",
        "cac:InvoiceLine[1]/cac:Price/cbc:BaseQuantity",
        "0",
    )


def test_line_without_price() -> None:
    root = load(FULL)
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
def test_invalid_value(path: str, value: str) -> None:
    root = load(FULL)
    set_text(root, path, value)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", path, value)


@pytest.mark.parametrize("profile", ["A11", "A26", "A0"])
def test_cadre_the_pivot_does_not_know(profile: str) -> None:
    root = load(MINIMAL)
    set_text(root, "cbc:ProfileID", profile)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", "cbc:ProfileID", profile)


def test_invalid_base64_attachment() -> None:
    root = load(FULL)
    binary = "cac:AdditionalDocumentReference[1]/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
    set_text(root, binary, "not base64!")

    error = refused(root)

    assert (error.code, error.element) == ("INVALID_VALUE", binary)


@pytest.mark.parametrize(
    ("name", "path", "limit"),
    [
        (FULL, "cac:OrderReference/cbc:ID", 50),
        (FULL, "cac:ContractDocumentReference/cbc:ID", 50),
        ("ubl-credit-note.xml", "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", 20),
        (FULL, "cbc:BuyerReference", 100),
    ],
)
def test_reference_longer_than_the_pivot_allows(name: str, path: str, limit: int) -> None:
    root = load(name)
    set_text(root, path, "R" * (limit + 1))

    error = refused(root)

    assert (error.code, error.element, error.value) == ("VALUE_TOO_LONG", path, "R" * (limit + 1))


def test_reference_at_the_pivot_limit_is_kept() -> None:
    root = load(FULL)
    set_text(root, "cac:OrderReference/cbc:ID", "R" * 50)

    assert ubl.read_invoice(root).engagement_number == "R" * 50


def test_not_a_ubl_invoice() -> None:
    error = refused(etree.fromstring(b"<Order xmlns='urn:example'/>"))

    assert error.code == "UNSUPPORTED_DOCUMENT"


def test_eu_supplier_without_vat_number_is_a_european_structure() -> None:
    """The XSD: "2 pour Structure Européenne hors France, 3 pour Structure hors UE"."""
    supplier = ubl.read_invoice(load("ubl-eu-supplier-without-vat.xml")).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("HRB 123456", "2")
    assert supplier.country_code == "DE"


def test_contact_name_is_no_service_name_when_the_contact_is_not_the_service() -> None:
    root = load(FULL)
    set_text(root, CUSTOMER + "cac:Contact/cbc:ID", "MME-DUPONT")

    assert ubl.read_invoice(root).debiteur.service_name is None


def test_payment_means_text_is_the_first_means_one() -> None:
    invoice = ubl.read_invoice(load(FULL))

    assert (invoice.payment_means_code, invoice.payment_means_label) == (
        "30",
        "Virement SEPA à 30 jours",
    )
