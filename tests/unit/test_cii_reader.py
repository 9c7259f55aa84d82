"""pivot_format.cii.read_invoice on CII documents the suite writes (tests/generated).

The generated set has one invoice in each of the five Factur-X profiles (MINIMUM and
BASIC WL without lines, MINIMUM without VAT breakdown) and covers what the public EN
16931 corpus covers; the corpus files of ../shared are read too when they are beside the
clone, as further cases of the same tests. Refusals are tested on generated documents
edited in memory, so each test shows the one thing that differs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from generated import PROFILES, SAMPLES, case_root, corpus_cases, samples_where
from generated.catalogue import (
    BUYER_SIRET,
    CSV,
    GLN_BUYER,
    LARGE,
    PDF,
    SELLER_SIRET,
    SERVICE_CODE,
    SWISS_IBAN,
)
from lxml import etree

from pivot_format import cii
from pivot_format.errors import ConversionError
from pivot_format.model import Invoice, VatLine

NS = cii.NS
DOC = "rsm:ExchangedDocument/"
TX = "rsm:SupplyChainTradeTransaction/"
AGR = TX + "ram:ApplicableHeaderTradeAgreement/"
STL = TX + "ram:ApplicableHeaderTradeSettlement/"
SUM = STL + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/"
SELLER = AGR + "ram:SellerTradeParty/"
NET_PRICE = "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/"
BUYER = AGR + "ram:BuyerTradeParty/"
LINE = TX + "ram:IncludedSupplyChainTradeLineItem"
FULL = "cii-invoice-full.xml"  # EXTENDED
MINIMAL = "cii-minimal.xml"  # BASIC
NO_BUYER_SIRET = "cii-buyer-without-siret.xml"
OUTSIDE_EU = "cii-supplier-outside-eu.xml"
USD = "cii-eu-supplier-usd.xml"
GENERATED = samples_where(lambda s: s.syntax == "cii")
CASES = GENERATED + corpus_cases("en16931-cii")


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


def add(parent: etree._Element, tag: str, text: str, index: int = 0, **attrib: str) -> None:
    prefix, local = tag.split(":")
    element = etree.Element(f"{{{NS[prefix]}}}{local}", attrib)
    element.text = text
    parent.insert(index, element)


def refused(root: etree._Element) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        cii.read_invoice(root)
    return caught.value


# -- every document as it is --------------------------------------------------------


def _str(*values: object) -> tuple[str, ...]:
    return tuple(str(value) for value in values)


def _vat(invoice: Invoice) -> tuple[str, ...]:
    return tuple(f"{v.rate}/{v.base_ht}/{v.amount}" for v in invoice.vat_lines)


# What the corpus files of ../shared say, checked when they are there: (value read, as str)
CORPUS_VALUES: dict[str, list[tuple[Callable[[Invoice], tuple], tuple]]] = {
    "CII_example2.xml": [
        (
            lambda i: _str(i.number, i.type_code, i.issue_date, i.delivery_date, i.currency),
            ("TOSL108", "380", "2013-06-30", "2013-06-15", "NOK"),
        ),
        (
            lambda i: _str(i.cadre, i.payment_means_code, i.engagement_number, i.contract_number),
            ("A1", "30", "123", "Contract321"),
        ),
        (lambda i: _str(i.amount_ht, i.amount_ttc, i.amount_net), ("1436.5", "1801.78", "801.78")),
        (_vat, ("25/1460.5/365.13", "15/1/0.15", "0/-25/0")),
        (
            lambda i: _str(i.line_total, i.allowance_total, i.charge_total, i.vat_total),
            ("1436.5", "100", "100", "365.28"),
        ),
        (lambda i: _str(i.prepaid, i.rounding), ("1000", "0")),
        (
            lambda i: _str(i.lines[4].product_ref, i.lines[4].unit_price, i.lines[4].quantity),
            ("JB011", "0.75", "250"),
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
            lambda i: _str(*((a.name, len(a.content)) for a in i.attachments)),
            (str(("EHF.pdf", 77)),),
        ),
    ],
    "CII_example1.xml": [(lambda i: _str(i.line_total, i.vat_total), ("229.6", "20.73"))],
    "CII_business_example_02.xml": [
        (lambda i: _str(i.allowance_total, i.charge_total), ("0.00", "0.00")),
    ],
    "CII_example5.xml": [
        (
            lambda i: _str(i.vat_total, i.origin_invoice_id, i.debiteur.service_code),
            ("675.00", "TOSL109", "qwerty"),
        ),
        (
            lambda i: _str(i.engagement_number, i.contract_number, i.payment_means_code),
            ("PO4711", "2013-05", "30"),
        ),
        (
            lambda i: _str(i.amount_net, i.supplier.identifier, i.supplier.identifier_type),
            ("2337.5", "NL16356706", "2"),
        ),
        (lambda i: _str(i.supplier.iban), ("DK1212341234123412",)),
    ],
    "CII_example7.xml": [(lambda i: _str(i.vat_total, i.line_total), ("None", "3200"))],
    "CII_example9.xml": [
        (
            lambda i: _str(i.debiteur.siret, i.debiteur.raw_identifier, i.debiteur.name),
            ("None", "None", "Provide Verzekeringen"),
        ),
    ],
    "huf_example_cii.xml": [
        (
            lambda i: _str(i.number, i.currency, i.payment_means_code, i.debiteur.service_code),
            ("21/001003559/996", "HUF", "30", "992-80013-14"),
        ),
        (
            lambda i: _str(*((a.name, len(a.content), a.content[:8]) for a in i.attachments)),
            (str(("843312_2021-09-30_HU_E-INVOICE_21-620198615-006.pdf", 72637, b"%PDF-1.7")),),
        ),
        (
            lambda i: _str(i.lines[0].unit_price, i.lines[0].quantity, i.lines[0].amount_ht),
            ("361.09", "64", "23440.00"),
        ),
    ],
    "CII-BR-CO-10-RoundingIssue.xml": [
        (
            lambda i: _str(i.engagement_number, i.debiteur.service_code, len(i.lines)),
            ("None", "XXX-XXXXX-XX", "4"),
        ),
    ],
    "XRechnung-O.xml": [(lambda i: _str(i.cadre), ("A1",))],
}


@pytest.mark.parametrize("name", CASES)
def test_every_cii_document_is_read(name: str) -> None:
    invoice = cii.read_invoice(load(name))

    assert invoice.type_code in {"380", "381"}
    assert invoice.number and len(invoice.number) <= 20
    assert invoice.payment_means_code in {"10", "20", "30", "31", "42", "48", "49", "97"}
    assert [line.number for line in invoice.lines] == list(range(1, len(invoice.lines) + 1))
    for value, expected in CORPUS_VALUES.get(name.rpartition("/")[2], []):
        assert value(invoice) == expected


@pytest.mark.parametrize("name", GENERATED)
def test_generated_document_is_valid_in_its_factur_x_profile(name: str) -> None:
    sample = SAMPLES[name]
    schema = sample.schema

    assert schema.validate(sample.root().getroottree()), schema.error_log


@pytest.mark.parametrize("name", GENERATED)
def test_reader_finds_what_the_supplier_wrote(name: str) -> None:
    """Every value the pivot and the controls use, against the spec it was written from."""
    sample = SAMPLES[name]
    spec = sample.spec
    invoice = cii.read_invoice(sample.root())
    full = sample.profile not in ("minimum", "basicwl", "basic")

    assert (invoice.number, invoice.issue_date, invoice.currency) == (
        spec.number,
        spec.issue_date,
        spec.currency,
    )
    assert invoice.type_code == spec.type_code
    assert invoice.delivery_date == (spec.delivery_date if sample.profile != "minimum" else None)
    assert (invoice.amount_ht, invoice.amount_ttc, invoice.amount_net) == (
        spec.tax_basis,
        spec.grand_total,
        spec.due,
    )
    minimum = sample.profile == "minimum"  # no allowance nor charge total in MINIMUM
    assert (invoice.allowance_total, invoice.charge_total, invoice.vat_total) == (
        0 if minimum else spec.allowance_total,
        0 if minimum else spec.charge_total,
        spec.vat_total,
    )
    assert invoice.line_total == (None if sample.profile == "minimum" else spec.line_total)
    assert (invoice.prepaid, invoice.rounding) == (spec.prepaid, spec.rounding if full else 0)
    assert invoice.vat_lines == tuple(
        VatLine(v.rate or Decimal(0), v.base, v.amount) for v in sample.expected_vat
    )
    assert [(x.quantity, x.amount_ht, x.vat_rate) for x in invoice.lines] == [
        (x.quantity, x.amount, x.rate) for x in sample.expected_lines
    ]
    assert [x.product_ref for x in invoice.lines] == [
        (x.seller_id if full else None) or x.name for x in sample.expected_lines
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
    assert invoice.engagement_number == spec.order
    if sample.profile != "minimum":
        assert (invoice.contract_number, invoice.origin_invoice_id) == (spec.contract, spec.origin)
        account = next((m for m in spec.payment_means if m.iban), None)
        assert invoice.supplier.iban == (account.iban if account else None)
        assert invoice.supplier.payee_name == (spec.payee.name if spec.payee else None)
    assert invoice.supplier.name == spec.seller.name


def test_invoice_with_every_header_field() -> None:
    invoice = cii.read_invoice(load(FULL))

    assert invoice.number == "FA-2026-00042"
    assert invoice.type_code == "380"
    assert invoice.issue_date == date(2026, 1, 12)
    assert invoice.delivery_date == date(2026, 1, 8)
    assert invoice.currency == "EUR"
    assert invoice.cadre == "A1"
    assert invoice.payment_means_code == "30"
    assert invoice.engagement_number == "EJ-2026-0042"
    assert invoice.contract_number == "MARCHE-2025-17"
    assert (invoice.amount_ht, invoice.amount_ttc, invoice.amount_net) == (
        Decimal("628.00"),
        Decimal("691.26"),
        Decimal("591.27"),
    )
    assert invoice.vat_lines == (
        VatLine(rate=Decimal("20"), base_ht=Decimal("168.00"), amount=Decimal("33.60")),
        VatLine(rate=Decimal("5.5"), base_ht=Decimal("152.50"), amount=Decimal("8.39")),
        VatLine(rate=Decimal("2.1"), base_ht=Decimal("120.00"), amount=Decimal("2.52")),
        VatLine(rate=Decimal("10"), base_ht=Decimal("187.50"), amount=Decimal("18.75")),
    )


def test_amounts_keep_the_scale_written() -> None:
    invoice = cii.read_invoice(load(USD))  # a supplier whose software trims zeros

    assert (str(invoice.amount_ht), str(invoice.vat_total)) == ("328.97", "39.7")
    assert str(invoice.vat_lines[0].amount) == "9.9"
    assert str(cii.read_invoice(load(FULL)).amount_ht) == "628.00"


# -- document totals for the controls (BT-106 to BT-114) ----------------------------


def add_total(root: etree._Element, tag: str, text: str, **attrib: str) -> None:
    """A summation amount, before GrandTotalAmount as the schema orders RoundingAmount."""
    element = etree.Element(f"{{{NS['ram']}}}{tag}", attrib)
    element.text = text
    first(root, SUM + "ram:GrandTotalAmount").addprevious(element)


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
    invoice = cii.read_invoice(load(FULL))

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
    add_total(root, "RoundingAmount", "0.02")

    assert str(cii.read_invoice(root).rounding) == "0.02"


def test_absent_allowances_charges_prepaid_and_rounding_are_zero() -> None:
    invoice = cii.read_invoice(load(MINIMAL))

    assert totals(invoice) == (Decimal("100.00"), 0, 0, Decimal("20.00"), 0, 0)
    for zero in (invoice.allowance_total, invoice.charge_total, invoice.prepaid, invoice.rounding):
        assert str(zero) == "0"


def test_written_zero_keeps_its_scale() -> None:
    invoice = cii.read_invoice(load("cii-negative-quantities.xml"))

    assert (str(invoice.allowance_total), str(invoice.charge_total)) == ("0.00", "0.00")


def test_empty_total_counts_as_absent() -> None:
    root = load(FULL)
    set_text(root, SUM + "ram:TotalPrepaidAmount", "")

    assert str(cii.read_invoice(root).prepaid) == "0"


def test_absent_vat_total_is_none() -> None:
    root = load("cii-outside-scope.xml")
    remove(root, SUM + "ram:TaxTotalAmount")

    invoice = cii.read_invoice(root)

    assert invoice.vat_total is None
    assert invoice.line_total == Decimal("52.32")


def test_vat_total_is_the_one_in_the_invoice_currency() -> None:
    """A USD invoice gives its VAT in euros too (BT-111): 30.44 EUR is not BT-110."""
    root = load(USD)
    assert first(root, SUM + "ram:TaxTotalAmount[2]").text == "30.44"

    assert str(cii.read_invoice(root).vat_total) == "39.7"
    in_tax_currency = first(root, SUM + "ram:TaxTotalAmount[2]")
    first(root, SUM + "ram:TaxTotalAmount[1]").addprevious(in_tax_currency)
    assert str(cii.read_invoice(root).vat_total) == "39.7"


def test_vat_total_without_currency() -> None:
    root = load(USD)
    first(root, SUM + "ram:TaxTotalAmount[1]").addprevious(
        first(root, SUM + "ram:TaxTotalAmount[2]")
    )
    del first(root, SUM + "ram:TaxTotalAmount[2]").attrib["currencyID"]  # the USD one

    assert str(cii.read_invoice(root).vat_total) == "39.7"


def test_only_vat_total_in_another_currency_is_taken() -> None:
    root = load(MINIMAL)
    set_text(root, SUM + "ram:TaxTotalAmount", "20.00", currencyID="USD")

    assert str(cii.read_invoice(root).vat_total) == "20.00"


def test_no_vat_total_in_the_invoice_currency_among_several() -> None:
    root = load(USD)
    set_text(root, SUM + "ram:TaxTotalAmount[1]", "39.7", currencyID="SEK")

    assert cii.read_invoice(root).vat_total is None


@pytest.mark.parametrize(
    ("path", "value", "element"),
    [
        (SUM + "ram:LineTotalAmount", "1.436,5", None),
        (SUM + "ram:ChargeTotalAmount", "1E2", None),
        (SUM + "ram:AllowanceTotalAmount", "-", None),
        (SUM + "ram:TotalPrepaidAmount", "1000 EUR", None),
        (SUM + "ram:TaxTotalAmount", "Infinity", SUM + "ram:TaxTotalAmount[1]"),
        (SUM + "ram:RoundingAmount", ".", None),
    ],
)
def test_malformed_total(path: str, value: str, element: str | None) -> None:
    root = load(FULL)
    set_text(root, path, value)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", element or path, value)


def test_malformed_vat_total_in_the_tax_currency_is_not_read() -> None:
    root = load(USD)
    set_text(root, SUM + "ram:TaxTotalAmount[2]", "n/a")

    assert str(cii.read_invoice(root).vat_total) == "39.7"


def test_lines_in_document_order() -> None:
    lines = cii.read_invoice(load(FULL)).lines

    assert len(lines) == 5
    last = lines[4]
    assert (last.number, last.product_ref, last.vat_rate) == (5, "Papier au mètre", Decimal("10"))
    assert (last.unit_price, last.quantity, last.amount_ht) == (
        Decimal("0.75"),  # 75.00 per 100 metres
        Decimal("250"),
        Decimal("187.50"),
    )


def test_line_allowances_and_charges_are_in_the_line_amount() -> None:
    lines = cii.read_invoice(load(FULL)).lines

    assert [(str(line.unit_price), str(line.amount_ht)) for line in lines[1:3]] == [
        ("38.00", "109.00"),  # net price 38.00 (gross 40.00), less a 5.00 allowance
        ("15.00", "152.50"),  # plus a 2.50 charge
    ]
    assert [line.product_ref for line in lines[:3]] == ["PAP-A4", "ENC-01", "Livre scolaire"]


def test_negative_quantities() -> None:
    invoice = cii.read_invoice(load("cii-negative-quantities.xml"))

    assert [(str(line.quantity), str(line.amount_ht)) for line in invoice.lines] == [
        ("20", "900.00"),
        ("-2", "-90.00"),
        ("-1", "-12.00"),
    ]
    assert invoice.amount_ttc == Decimal("960.00")


def test_credit_note_with_negative_amounts() -> None:
    invoice = cii.read_invoice(load("cii-credit-note-negative.xml"))

    assert (invoice.type_code, invoice.origin_invoice_id) == ("381", "FA-2026-00042")
    assert (invoice.amount_ht, invoice.amount_net) == (Decimal("-114.00"), Decimal("-136.80"))


def test_parties() -> None:
    supplier = cii.read_invoice(load(OUTSIDE_EU)).supplier
    assert (supplier.identifier, supplier.identifier_type) == ("CHE-123.456.789", "3")
    assert (supplier.name, supplier.country_code) == ("Alpes Fournitures SA", "CH")
    assert (supplier.iban, supplier.bic) == (SWISS_IBAN, None)

    full = cii.read_invoice(load(FULL)).supplier
    assert (full.identifier, full.identifier_type) == (SELLER_SIRET, "1")
    assert full.bic == "AGRIFRPPXXX"
    assert full.payee_name == "Affacturage Rhône SA"

    debiteur = cii.read_invoice(load(NO_BUYER_SIRET)).debiteur
    assert debiteur.siret is None
    assert (debiteur.raw_identifier, debiteur.raw_scheme) == (GLN_BUYER, "0088")
    assert debiteur.name == "Commune de Valbrune"


def test_embedded_attachments_are_decoded_and_references_by_uri_skipped() -> None:
    attachments = cii.read_invoice(load(FULL)).attachments

    assert [(a.name, a.mime_type, a.content, a.type_code) for a in attachments] == [
        ("bon-de-livraison.pdf", "application/pdf", PDF, "02"),
        ("detail.csv", "text/csv", CSV, "02"),
    ]


def test_large_embedded_file() -> None:
    (attachment,) = cii.read_invoice(load("cii-prepaid-rounding.xml")).attachments

    assert (attachment.name, attachment.mime_type) == ("annexe.zip", "application/zip")
    assert attachment.content == LARGE


def test_references_and_vat_number() -> None:
    invoice = cii.read_invoice(load(USD))

    assert invoice.debiteur.service_code == SERVICE_CODE
    assert invoice.payment_means_code == "31"
    # the VAT number (schemeID VA), not the fiscal number (FC)
    assert (invoice.supplier.identifier, invoice.supplier.identifier_type) == (
        "BE0477472701",
        "2",
    )
    credit_note = cii.read_invoice(load("cii-credit-note.xml"))
    assert (credit_note.type_code, credit_note.origin_invoice_id) == ("381", "FA-2026-00042")
    assert credit_note.cadre == "A9"


def test_sepa_transfer_and_direct_debit() -> None:
    assert cii.read_invoice(load("cii-exempt-categories.xml")).payment_means_code == "30"  # 58
    assert cii.read_invoice(load(OUTSIDE_EU)).payment_means_code == "49"  # 59


def test_exempt_categories_each_have_their_breakdown() -> None:
    invoice = cii.read_invoice(load("cii-exempt-categories.xml"))

    assert [(str(v.rate), str(v.base_ht), str(v.amount)) for v in invoice.vat_lines] == [
        ("0", "900.00", "0.00"),
        ("0", "1200.00", "0.00"),
        ("0", "400.00", "0.00"),
        ("0", "99.90", "0.00"),
        ("0", "30.00", "0.00"),
        ("20", "100.00", "20.00"),
    ]


def test_tax_category_without_rate_is_zero() -> None:
    invoice = cii.read_invoice(load("cii-outside-scope.xml"))

    assert invoice.vat_lines == (
        VatLine(rate=Decimal("0"), base_ht=Decimal("52.32"), amount=Decimal("0.00")),
    )
    assert invoice.lines[0].vat_rate is None


def test_empty_elements_count_as_absent() -> None:
    root = load(FULL)
    set_text(root, AGR + "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID", "")

    assert cii.read_invoice(root).engagement_number is None


def test_empty_business_process_means_a1() -> None:
    root = load("cii-credit-note.xml")
    path = "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter"
    set_text(root, path + "/ram:ID", "")

    assert cii.read_invoice(root).cadre == "A1"


# -- Factur-X profiles ------------------------------------------------------------


def test_minimum_profile() -> None:
    invoice = cii.read_invoice(load("cii-profile-minimum.xml"))

    assert (invoice.lines, invoice.vat_lines, invoice.attachments) == ((), (), ())
    assert invoice.delivery_date is None
    assert invoice.payment_means_code == "30"
    assert (invoice.amount_ht, invoice.amount_ttc) == (Decimal("321.40"), Decimal("362.13"))
    assert (invoice.line_total, invoice.vat_total) == (None, Decimal("40.73"))
    assert invoice.supplier.identifier == SELLER_SIRET
    assert invoice.debiteur.siret == BUYER_SIRET


def test_basic_wl_profile() -> None:
    invoice = cii.read_invoice(load("cii-profile-basicwl.xml"))

    assert invoice.lines == ()
    assert [(str(v.rate), str(v.base_ht)) for v in invoice.vat_lines] == [
        ("20", "159.00"),
        ("5.5", "162.40"),
    ]
    assert invoice.attachments == ()


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_gives_the_same_header(profile: str) -> None:
    """One invoice in five profiles: what a profile carries is read the same in each."""
    invoice = cii.read_invoice(load(f"cii-profile-{profile}.xml"))
    extended = cii.read_invoice(load("cii-profile-extended.xml"))

    def header(found: Invoice) -> tuple:
        return (
            found.number,
            found.issue_date,
            found.type_code,
            found.currency,
            found.amount_ht,
            found.amount_ttc,
            found.amount_net,
            found.vat_total,
            found.supplier.identifier,
            found.debiteur.siret,
            found.debiteur.service_code,
            found.engagement_number,
        )

    assert header(invoice) == header(extended)
    assert len(invoice.lines) == (0 if profile in ("minimum", "basicwl") else 3)


# -- identifiers ------------------------------------------------------------------


def test_buyer_siret_under_scheme_0009() -> None:
    root = load(NO_BUYER_SIRET)
    set_text(root, BUYER + "ram:GlobalID", BUYER_SIRET, schemeID="0009")

    debiteur = cii.read_invoice(root).debiteur

    assert debiteur.siret == BUYER_SIRET
    assert debiteur.raw_identifier is None


def test_buyer_siren_under_scheme_0002_is_no_siret() -> None:
    root = load(NO_BUYER_SIRET)
    legal = first(root, BUYER + "ram:SpecifiedLegalOrganization/ram:ID")
    assert (legal.text, legal.get("schemeID")) == (BUYER_SIRET[:9], "0002")

    assert cii.read_invoice(root).debiteur.siret is None


def test_buyer_siret_as_legal_organization_under_scheme_0002() -> None:
    root = load(NO_BUYER_SIRET)
    set_text(root, BUYER + "ram:SpecifiedLegalOrganization/ram:ID", BUYER_SIRET, schemeID="0002")

    assert cii.read_invoice(root).debiteur.siret == BUYER_SIRET


def test_buyer_siret_as_legal_organization_without_scheme() -> None:
    root = load(NO_BUYER_SIRET)
    legal = first(root, BUYER + "ram:SpecifiedLegalOrganization/ram:ID")
    legal.text = BUYER_SIRET
    del legal.attrib["schemeID"]

    assert cii.read_invoice(root).debiteur.siret == BUYER_SIRET


def test_buyer_siret_from_peppol_endpoint() -> None:
    root = load(OUTSIDE_EU)  # the buyer's only identifier is its endpoint
    assert cii.read_invoice(root).debiteur.siret == BUYER_SIRET

    first(root, BUYER + "ram:URIUniversalCommunication/ram:URIID").set("schemeID", "EM")
    assert cii.read_invoice(root).debiteur.siret is None


def test_buyer_without_any_identifier() -> None:
    root = load(NO_BUYER_SIRET)
    remove(root, BUYER + "ram:GlobalID")
    remove(root, BUYER + "ram:SpecifiedLegalOrganization")

    debiteur = cii.read_invoice(root).debiteur

    assert (debiteur.siret, debiteur.raw_identifier, debiteur.raw_scheme) == (None, None, None)
    assert debiteur.name == "Commune de Valbrune"


def test_french_supplier_with_a_fourteen_digit_legal_id_is_a_siret() -> None:
    root = load(OUTSIDE_EU)
    set_text(root, SELLER + "ram:PostalTradeAddress/ram:CountryID", "FR")
    set_text(root, SELLER + "ram:SpecifiedLegalOrganization/ram:ID", SELLER_SIRET)

    supplier = cii.read_invoice(root).supplier

    assert (supplier.identifier, supplier.identifier_type) == (SELLER_SIRET, "1")


def test_supplier_siret_as_global_id() -> None:
    root = load(OUTSIDE_EU)
    assert first(root, SELLER + "ram:GlobalID").get("schemeID") == "0060"  # a DUNS
    set_text(root, SELLER + "ram:GlobalID", SELLER_SIRET, schemeID="0009")

    assert cii.read_invoice(root).supplier.identifier_type == "1"


def test_supplier_siret_as_party_id_under_scheme_1() -> None:
    root = load("cii-proprietary-account.xml")
    set_text(root, SELLER + "ram:ID", SELLER_SIRET, schemeID="1")

    assert cii.read_invoice(root).supplier.identifier == SELLER_SIRET


def test_account_without_iban_is_its_proprietary_id() -> None:
    """BT-84 is an IBAN or, for other accounts, a proprietary id: both are the Compte."""
    supplier = cii.read_invoice(load("cii-proprietary-account.xml")).supplier

    assert (supplier.iban, supplier.bank_reference_type) == ("0012345678", "RIB")


def test_french_supplier_without_siret_is_refused() -> None:
    root = load(OUTSIDE_EU)
    set_text(root, SELLER + "ram:PostalTradeAddress/ram:CountryID", "FR")

    error = refused(root)

    assert (error.code, error.element) == (
        "MISSING_ELEMENT",
        SELLER + "ram:SpecifiedLegalOrganization/ram:ID",
    )


def test_unit_price_per_base_quantity() -> None:
    """Fuel priced per 100 litres: PrixUnitaire is per litre."""
    line = cii.read_invoice(load("cii-prepaid-rounding.xml")).lines[1]

    assert (str(line.unit_price), str(line.quantity), str(line.amount_ht)) == (
        "1.6109",
        "640",
        "1030.98",
    )


def test_base_quantity_that_copies_the_price_is_ignored() -> None:
    """0.75 per 0.75 m, 250 m, 187.50: the line says 0.75 per metre."""
    root = load(MINIMAL)
    set_text(root, f"{LINE}[1]/{NET_PRICE}ram:ChargeAmount", "0.75")
    add(first(root, f"{LINE}[1]/{NET_PRICE}"[:-1]), "ram:BasisQuantity", "0.75", 1)
    set_text(root, f"{LINE}[1]/ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", "250")
    summation = "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation"
    set_text(root, f"{LINE}[1]/{summation}/ram:LineTotalAmount", "187.50")

    assert str(cii.read_invoice(root).lines[0].unit_price) == "0.75"


def test_price_base_quantity_of_zero_is_refused() -> None:
    root = load("cii-prepaid-rounding.xml")
    base = f"{LINE}[2]/{NET_PRICE}ram:BasisQuantity"
    set_text(root, base, "0.00")

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", base, "0.00")


# -- pivot vocabulary -------------------------------------------------------------


@pytest.mark.parametrize(("code", "pivot"), [("381", "381"), ("384", "380"), ("386", "380")])
def test_type_codes_the_pivot_accepts(code: str, pivot: str) -> None:
    root = load(MINIMAL)
    set_text(root, DOC + "ram:TypeCode", code)

    assert cii.read_invoice(root).type_code == pivot


@pytest.mark.parametrize("code", ["389", "751"])
def test_type_codes_the_pivot_refuses(code: str) -> None:
    root = load(MINIMAL)
    set_text(root, DOC + "ram:TypeCode", code)

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "UNSUPPORTED_TYPE",
        DOC + "ram:TypeCode",
        code,
    )


def test_cadre_from_business_process() -> None:
    root = load(MINIMAL)
    context = first(root, "rsm:ExchangedDocumentContext")
    process = etree.Element(f"{{{NS['ram']}}}BusinessProcessSpecifiedDocumentContextParameter")
    add(process, "ram:ID", "A12")
    context.insert(0, process)

    assert cii.read_invoice(root).cadre == "A12"


@pytest.mark.parametrize(("code", "pivot"), [("59", "49"), ("48", "48"), ("10", "10")])
def test_payment_means_of_the_first_means(code: str, pivot: str) -> None:
    root = load(FULL)
    set_text(root, STL + "ram:SpecifiedTradeSettlementPaymentMeans[1]/ram:TypeCode", code)

    assert cii.read_invoice(root).payment_means_code == pivot


# -- refusals ---------------------------------------------------------------------


def test_invoice_number_longer_than_20() -> None:
    root = load(MINIMAL)
    set_text(root, DOC + "ram:ID", "2021/INV/000000000001")

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "INVOICE_NUMBER_TOO_LONG",
        DOC + "ram:ID",
        "2021/INV/000000000001",
    )


@pytest.mark.parametrize(
    "path",
    [
        DOC + "ram:ID",
        DOC + "ram:TypeCode",
        DOC + "ram:IssueDateTime/udt:DateTimeString",
        STL + "ram:InvoiceCurrencyCode",
        SUM + "ram:TaxBasisTotalAmount",
        SUM + "ram:GrandTotalAmount",
        SUM + "ram:DuePayableAmount",
        SELLER + "ram:PostalTradeAddress/ram:CountryID",
        SELLER + "ram:Name",
    ],
)
def test_missing_mandatory_element(path: str) -> None:
    root = load(MINIMAL)
    remove(root, path)

    error = refused(root)

    assert (error.code, error.element) == ("MISSING_ELEMENT", path)


def test_line_without_quantity() -> None:
    root = load(FULL)
    quantity = "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity"
    remove(root, f"{TX}ram:IncludedSupplyChainTradeLineItem[3]/{quantity}")

    error = refused(root)

    assert (error.code, error.element) == (
        "MISSING_ELEMENT",
        f"{TX}ram:IncludedSupplyChainTradeLineItem[3]/{quantity}",
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (SUM + "ram:GrandTotalAmount", "250.33 EUR"),
        (STL + "ram:ApplicableTradeTax[2]/ram:BasisAmount", "-"),
        (DOC + "ram:IssueDateTime/udt:DateTimeString", "2015-01-09"),
        (DOC + "ram:IssueDateTime/udt:DateTimeString", "20150230"),
        (STL + "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode", "999"),
    ],
)
def test_invalid_value(path: str, value: str) -> None:
    root = load(FULL)
    set_text(root, path, value)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", path, value)


def test_date_in_another_format_than_102() -> None:
    root = load(MINIMAL)
    set_text(root, DOC + "ram:IssueDateTime/udt:DateTimeString", "201501", format="610")

    error = refused(root)

    assert (error.code, error.value) == ("INVALID_VALUE", "610")
    assert error.element == DOC + "ram:IssueDateTime/udt:DateTimeString/@format"


@pytest.mark.parametrize(
    ("name", "path", "limit"),
    [
        (FULL, AGR + "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID", 50),
        (FULL, AGR + "ram:ContractReferencedDocument/ram:IssuerAssignedID", 50),
        ("cii-credit-note.xml", STL + "ram:InvoiceReferencedDocument/ram:IssuerAssignedID", 20),
    ],
)
def test_reference_longer_than_the_pivot_allows(name: str, path: str, limit: int) -> None:
    root = load(name)
    set_text(root, path, "R" * (limit + 1))

    error = refused(root)

    assert (error.code, error.element, error.value) == ("VALUE_TOO_LONG", path, "R" * (limit + 1))


def test_not_a_cross_industry_invoice() -> None:
    error = refused(etree.fromstring(b"<Invoice xmlns='urn:example'/>"))

    assert error.code == "UNSUPPORTED_DOCUMENT"


def test_eu_supplier_without_vat_number_is_a_european_structure() -> None:
    """The XSD: "2 pour Structure Européenne hors France, 3 pour Structure hors UE"."""
    supplier = cii.read_invoice(load("cii-eu-supplier-without-vat.xml")).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("HRB 123456", "2")
    assert supplier.country_code == "DE"


def test_service_name_is_the_buyer_contact_department() -> None:
    debiteur = cii.read_invoice(load(FULL)).debiteur

    assert (debiteur.service_code, debiteur.service_name) == (SERVICE_CODE, "Service des achats")
