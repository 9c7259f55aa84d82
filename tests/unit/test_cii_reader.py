"""pivot_format.cii.read_invoice on the public EN 16931 CII examples of ../shared/corpus.

Factur-X MINIMUM and BASIC WL documents, and every refusal, are built by editing a
corpus document in memory, so each test shows the one thing that differs.
"""

from __future__ import annotations

import base64
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from pivot_format import cii
from pivot_format.errors import ConversionError
from pivot_format.model import Invoice, VatLine

PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
NS = cii.NS
DOC = "rsm:ExchangedDocument/"
TX = "rsm:SupplyChainTradeTransaction/"
AGR = TX + "ram:ApplicableHeaderTradeAgreement/"
STL = TX + "ram:ApplicableHeaderTradeSettlement/"
SUM = STL + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/"
SELLER = AGR + "ram:SellerTradeParty/"
NET_PRICE = "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/"
CREDITOR = "ram:PayeePartyCreditorFinancialAccount"
BUYER = AGR + "ram:BuyerTradeParty/"
GUIDELINE = "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"

# Parametrizing needs the names at collection time; same lookup as conftest.SHARED.
_SHARED = Path(
    os.environ.get("EDI_SHARED_DIR", Path(__file__).resolve().parents[2].parent / "shared")
)
CII_NAMES = sorted(p.name for p in (_SHARED / "corpus/en16931-cii").glob("*") if p.is_file())


@pytest.fixture
def load(corpus_dir: Path):
    """Parse a CII corpus file; a fresh tree each time, so tests may edit it."""

    def _load(name: str) -> etree._Element:
        return etree.parse(str(corpus_dir / "en16931-cii" / name), PARSER).getroot()

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


def add(parent: etree._Element, tag: str, text: str, index: int = 0, **attrib: str) -> None:
    prefix, local = tag.split(":")
    element = etree.Element(f"{{{NS[prefix]}}}{local}", attrib)
    element.text = text
    parent.insert(index, element)


def refused(root: etree._Element) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        cii.read_invoice(root)
    return caught.value


# -- the corpus as it is ----------------------------------------------------------


@pytest.mark.parametrize("name", CII_NAMES)
def test_every_cii_corpus_file_is_read(load, name: str) -> None:
    invoice = cii.read_invoice(load(name))

    assert invoice.type_code in {"380", "381"}
    assert invoice.number and len(invoice.number) <= 20
    assert invoice.payment_means_code in {"10", "20", "30", "31", "42", "48", "49", "97"}
    assert [line.number for line in invoice.lines] == list(range(1, len(invoice.lines) + 1))


def test_invoice_with_every_header_field(load) -> None:
    invoice = cii.read_invoice(load("CII_example2.xml"))

    assert invoice.number == "TOSL108"
    assert invoice.type_code == "380"
    assert invoice.issue_date == date(2013, 6, 30)
    assert invoice.delivery_date == date(2013, 6, 15)
    assert invoice.currency == "NOK"
    assert invoice.cadre == "A1"
    assert invoice.payment_means_code == "30"
    assert invoice.engagement_number == "123"
    assert invoice.contract_number == "Contract321"
    assert (invoice.amount_ht, invoice.amount_ttc, invoice.amount_net) == (
        Decimal("1436.5"),
        Decimal("1801.78"),
        Decimal("801.78"),
    )
    assert str(invoice.amount_ht) == "1436.5"  # as written, not rescaled
    assert invoice.vat_lines == (
        VatLine(rate=Decimal("25"), base_ht=Decimal("1460.5"), amount=Decimal("365.13")),
        VatLine(rate=Decimal("15"), base_ht=Decimal("1"), amount=Decimal("0.15")),
        VatLine(rate=Decimal("0"), base_ht=Decimal("-25"), amount=Decimal("0")),
    )


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


def test_document_totals_as_written(load) -> None:
    invoice = cii.read_invoice(load("CII_example2.xml"))

    assert [str(total) for total in totals(invoice)] == [
        "1436.5",  # BT-106
        "100",  # BT-107
        "100",  # BT-108
        "365.28",  # BT-110
        "1000",  # BT-113
        "0",  # BT-114: absent
    ]


def test_rounding_amount(load) -> None:
    root = load("CII_example1.xml")
    add_total(root, "RoundingAmount", "0.02")

    assert str(cii.read_invoice(root).rounding) == "0.02"


def test_absent_allowances_charges_prepaid_and_rounding_are_zero(load) -> None:
    invoice = cii.read_invoice(load("CII_example1.xml"))

    assert totals(invoice) == (Decimal("229.6"), 0, 0, Decimal("20.73"), 0, 0)
    for zero in (invoice.allowance_total, invoice.charge_total, invoice.prepaid, invoice.rounding):
        assert str(zero) == "0"


def test_written_zero_keeps_its_scale(load) -> None:
    invoice = cii.read_invoice(load("CII_business_example_02.xml"))

    assert (str(invoice.allowance_total), str(invoice.charge_total)) == ("0.00", "0.00")


def test_empty_total_counts_as_absent(load) -> None:
    root = load("CII_example2.xml")
    set_text(root, SUM + "ram:TotalPrepaidAmount", "")

    assert str(cii.read_invoice(root).prepaid) == "0"


def test_absent_vat_total_is_none(load) -> None:
    invoice = cii.read_invoice(load("CII_example7.xml"))  # no TaxTotalAmount at all

    assert invoice.vat_total is None
    assert invoice.line_total == Decimal("3200")


def test_vat_total_is_the_one_in_the_invoice_currency(load) -> None:
    root = load("CII_example5.xml")  # DKK invoice, VAT also given in EUR

    assert str(cii.read_invoice(root).vat_total) == "675.00"
    in_tax_currency = first(root, SUM + "ram:TaxTotalAmount[2]")
    first(root, SUM + "ram:TaxTotalAmount[1]").addprevious(in_tax_currency)
    assert str(cii.read_invoice(root).vat_total) == "675.00"


def test_vat_total_without_currency(load) -> None:
    root = load("CII_example5.xml")
    first(root, SUM + "ram:TaxTotalAmount[1]").addprevious(
        first(root, SUM + "ram:TaxTotalAmount[2]")
    )
    del first(root, SUM + "ram:TaxTotalAmount[2]").attrib["currencyID"]  # the DKK one

    assert str(cii.read_invoice(root).vat_total) == "675.00"


def test_only_vat_total_in_another_currency_is_taken(load) -> None:
    root = load("CII_example1.xml")
    set_text(root, SUM + "ram:TaxTotalAmount", "20.73", currencyID="USD")

    assert str(cii.read_invoice(root).vat_total) == "20.73"


def test_no_vat_total_in_the_invoice_currency_among_several(load) -> None:
    root = load("CII_example5.xml")
    set_text(root, SUM + "ram:TaxTotalAmount[1]", "675.00", currencyID="SEK")

    assert cii.read_invoice(root).vat_total is None


@pytest.mark.parametrize(
    ("path", "value", "element"),
    [
        (SUM + "ram:LineTotalAmount", "1.436,5", None),
        (SUM + "ram:ChargeTotalAmount", "1E2", None),
        (SUM + "ram:AllowanceTotalAmount", "-", None),
        (SUM + "ram:TotalPrepaidAmount", "1000 NOK", None),
        (SUM + "ram:TaxTotalAmount", "Infinity", SUM + "ram:TaxTotalAmount[1]"),
    ],
)
def test_malformed_total(load, path: str, value: str, element: str | None) -> None:
    root = load("CII_example2.xml")
    set_text(root, path, value)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", element or path, value)


def test_malformed_rounding_amount(load) -> None:
    root = load("CII_example2.xml")
    add_total(root, "RoundingAmount", ".")

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "INVALID_VALUE",
        SUM + "ram:RoundingAmount",
        ".",
    )


def test_malformed_vat_total_in_the_tax_currency_is_not_read(load) -> None:
    root = load("CII_example5.xml")
    set_text(root, SUM + "ram:TaxTotalAmount[2]", "n/a")

    assert str(cii.read_invoice(root).vat_total) == "675.00"


def test_lines_in_document_order(load) -> None:
    lines = cii.read_invoice(load("CII_example2.xml")).lines

    assert len(lines) == 5
    last = lines[4]
    assert (last.number, last.product_ref, last.vat_rate) == (5, "JB011", Decimal("25"))
    assert (last.unit_price, last.quantity, last.amount_ht) == (
        Decimal("0.75"),
        Decimal("250"),
        Decimal("187.5"),
    )


def test_parties(load) -> None:
    invoice = cii.read_invoice(load("CII_example2.xml"))

    supplier, debiteur = invoice.supplier, invoice.debiteur
    assert (supplier.identifier, supplier.identifier_type) == ("123456789", "3")
    assert (supplier.name, supplier.country_code) == ("Salescompany ltd.", "NO")
    assert (supplier.iban, supplier.bic) == ("NO9386011117947", "DNBANOKK")
    assert supplier.payee_name == "Ebeneser Scrooge AS"
    assert debiteur.siret is None
    assert (debiteur.raw_identifier, debiteur.raw_scheme) == ("3456789012098", "0088")
    assert debiteur.name == "The Buyercompany"


def test_embedded_attachment_is_decoded(load) -> None:
    root = load("CII_example2.xml")
    encoded = first(root, AGR + "ram:AdditionalReferencedDocument/ram:AttachmentBinaryObject").text

    (attachment,) = cii.read_invoice(root).attachments

    assert (attachment.name, attachment.mime_type) == ("EHF.pdf", "application/pdf")
    assert attachment.content == base64.b64decode(encoded)
    assert len(attachment.content) == 77


def test_large_embedded_pdf_and_bill_of_exchange(load) -> None:
    invoice = cii.read_invoice(load("huf_example_cii.xml"))

    assert invoice.number == "21/001003559/996"
    assert invoice.currency == "HUF"
    assert invoice.payment_means_code == "30"  # 70, bill drawn on the debtor
    assert invoice.debiteur.service_code == "992-80013-14"
    (attachment,) = invoice.attachments
    assert attachment.name == "843312_2021-09-30_HU_E-INVOICE_21-620198615-006.pdf"
    assert attachment.content.startswith(b"%PDF-1.7")
    assert len(attachment.content) == 72637


def test_references_sepa_transfer_and_vat_number(load) -> None:
    invoice = cii.read_invoice(load("CII_example5.xml"))

    assert invoice.origin_invoice_id == "TOSL109"
    assert invoice.debiteur.service_code == "qwerty"
    assert invoice.engagement_number == "PO4711"
    assert invoice.contract_number == "2013-05"
    assert invoice.payment_means_code == "30"  # 58, SEPA credit transfer
    assert invoice.amount_net == Decimal("2337.5")
    # the VAT number (schemeID VA), not the fiscal number (FC)
    assert (invoice.supplier.identifier, invoice.supplier.identifier_type) == ("NL16356706", "2")
    assert invoice.supplier.iban == "DK1212341234123412"


def test_empty_elements_count_as_absent(load) -> None:
    invoice = cii.read_invoice(load("CII-BR-CO-10-RoundingIssue.xml"))

    assert invoice.engagement_number is None  # <ram:IssuerAssignedID/>
    assert invoice.debiteur.service_code == "XXX-XXXXX-XX"
    assert len(invoice.lines) == 4


def test_empty_business_process_means_a1(load) -> None:
    assert cii.read_invoice(load("XRechnung-O.xml")).cadre == "A1"


# -- Factur-X profiles without lines ----------------------------------------------


def test_minimum_profile(load) -> None:
    root = load("CII_example4.xml")
    set_text(root, GUIDELINE, "urn:factur-x.eu:1p0:minimum")
    for path in (
        TX + "ram:IncludedSupplyChainTradeLineItem",
        TX + "ram:ApplicableHeaderTradeDelivery/*",
        STL + "ram:SpecifiedTradeSettlementPaymentMeans",
        STL + "ram:ApplicableTradeTax",
        STL + "ram:SpecifiedTradePaymentTerms",
        SUM + "ram:LineTotalAmount",
        SELLER + "ram:GlobalID",
        BUYER + "ram:GlobalID",
    ):
        remove(root, path)

    invoice = cii.read_invoice(root)

    assert (invoice.lines, invoice.vat_lines, invoice.attachments) == ((), (), ())
    assert invoice.delivery_date is None
    assert invoice.payment_means_code == "30"
    assert (invoice.amount_ht, invoice.amount_ttc) == (Decimal("4000"), Decimal("4675"))
    assert (invoice.line_total, invoice.vat_total) == (None, Decimal("675"))
    assert invoice.supplier.identifier == "DK16356706"


def test_basic_wl_profile(load) -> None:
    root = load("CII_example4.xml")
    set_text(root, GUIDELINE, "urn:factur-x.eu:1p0:basicwl")
    remove(root, TX + "ram:IncludedSupplyChainTradeLineItem")

    invoice = cii.read_invoice(root)

    assert invoice.lines == ()
    assert len(invoice.vat_lines) == 2


# -- identifiers ------------------------------------------------------------------


def test_buyer_siret_under_scheme_0009(load) -> None:
    root = load("CII_example2.xml")
    set_text(root, BUYER + "ram:GlobalID", "21690123100011", schemeID="0009")

    debiteur = cii.read_invoice(root).debiteur

    assert debiteur.siret == "21690123100011"
    assert debiteur.raw_identifier is None


def test_buyer_siret_as_legal_organization_under_scheme_0002(load) -> None:
    root = load("CII_example2.xml")
    set_text(
        root, BUYER + "ram:SpecifiedLegalOrganization/ram:ID", "21690123100011", schemeID="0002"
    )

    assert cii.read_invoice(root).debiteur.siret == "21690123100011"


def test_buyer_siret_as_legal_organization_without_scheme(load) -> None:
    root = load("CII_example2.xml")
    set_text(root, BUYER + "ram:SpecifiedLegalOrganization/ram:ID", "21690123100011")

    assert cii.read_invoice(root).debiteur.siret == "21690123100011"


def test_buyer_siret_from_peppol_endpoint(load) -> None:
    root = load("CII_example7.xml")
    communication = etree.SubElement(
        first(root, BUYER[:-1]), f"{{{NS['ram']}}}URIUniversalCommunication"
    )
    add(communication, "ram:URIID", "21690123100011", schemeID="0009")

    assert cii.read_invoice(root).debiteur.siret == "21690123100011"


def test_buyer_without_any_identifier(load) -> None:
    debiteur = cii.read_invoice(load("CII_example9.xml")).debiteur

    assert (debiteur.siret, debiteur.raw_identifier, debiteur.raw_scheme) == (None, None, None)
    assert debiteur.name == "Provide Verzekeringen"


def test_french_supplier_with_a_fourteen_digit_legal_id_is_a_siret(load) -> None:
    root = load("CII_example2.xml")
    set_text(root, SELLER + "ram:PostalTradeAddress/ram:CountryID", "FR")
    set_text(root, SELLER + "ram:SpecifiedLegalOrganization/ram:ID", "35600000000048")

    supplier = cii.read_invoice(root).supplier

    assert (supplier.identifier, supplier.identifier_type) == ("35600000000048", "1")


def test_supplier_siret_as_global_id(load) -> None:
    root = load("CII_example2.xml")
    set_text(root, SELLER + "ram:GlobalID", "35600000000048", schemeID="0009")

    assert cii.read_invoice(root).supplier.identifier_type == "1"


def test_account_without_iban_is_its_proprietary_id(load) -> None:
    """BT-84 is an IBAN or, for other accounts, a proprietary id: both are the Compte."""
    root = load("CII_example2.xml")
    account = first(root, STL + "ram:SpecifiedTradeSettlementPaymentMeans/" + CREDITOR)
    first(account, "ram:IBANID").tag = f"{{{NS['ram']}}}ProprietaryID"

    assert cii.read_invoice(root).supplier.iban == "NO9386011117947"


def test_french_supplier_without_siret_is_refused(load) -> None:
    root = load("CII_example2.xml")
    set_text(root, SELLER + "ram:PostalTradeAddress/ram:CountryID", "FR")

    error = refused(root)

    assert (error.code, error.element) == (
        "MISSING_ELEMENT",
        SELLER + "ram:SpecifiedLegalOrganization/ram:ID",
    )


def test_unit_price_per_base_quantity(load) -> None:
    """huf_example_cii.xml prices fuel per 100 litres: PrixUnitaire is per litre."""
    line = cii.read_invoice(load("huf_example_cii.xml")).lines[0]

    assert (str(line.unit_price), str(line.quantity), str(line.amount_ht)) == (
        "361.09",
        "64",
        "23440.00",
    )


def test_base_quantity_that_copies_the_price_is_ignored(load) -> None:
    """CII_example2 line 5: 0.75 per 0.75 m, 250 m, 187.5: the line says 0.75 per metre."""
    root = load("CII_example2.xml")
    price = f"{TX}ram:IncludedSupplyChainTradeLineItem[5]/{NET_PRICE}"
    assert first(root, price + "ram:BasisQuantity").text == "0.75"

    assert str(cii.read_invoice(root).lines[4].unit_price) == "0.75"


def test_price_base_quantity_of_zero_is_refused(load) -> None:
    root = load("huf_example_cii.xml")
    base = f"{TX}ram:IncludedSupplyChainTradeLineItem[2]/{NET_PRICE}ram:BasisQuantity"
    set_text(root, base, "0.00")

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", base, "0.00")


# -- pivot vocabulary -------------------------------------------------------------


@pytest.mark.parametrize(("code", "pivot"), [("381", "381"), ("384", "380"), ("386", "380")])
def test_type_codes_the_pivot_accepts(load, code: str, pivot: str) -> None:
    root = load("CII_example1.xml")
    set_text(root, DOC + "ram:TypeCode", code)

    assert cii.read_invoice(root).type_code == pivot


@pytest.mark.parametrize("code", ["389", "751"])
def test_type_codes_the_pivot_refuses(load, code: str) -> None:
    root = load("CII_example1.xml")
    set_text(root, DOC + "ram:TypeCode", code)

    error = refused(root)

    assert (error.code, error.element, error.value) == (
        "UNSUPPORTED_TYPE",
        DOC + "ram:TypeCode",
        code,
    )


def test_cadre_from_business_process(load) -> None:
    root = load("CII_example1.xml")
    context = first(root, "rsm:ExchangedDocumentContext")
    process = etree.Element(f"{{{NS['ram']}}}BusinessProcessSpecifiedDocumentContextParameter")
    add(process, "ram:ID", "A12")
    context.insert(0, process)

    assert cii.read_invoice(root).cadre == "A12"


@pytest.mark.parametrize(("code", "pivot"), [("59", "49"), ("48", "48"), ("10", "10")])
def test_payment_means_of_the_first_means(load, code: str, pivot: str) -> None:
    root = load("CII_example1.xml")
    set_text(root, STL + "ram:SpecifiedTradeSettlementPaymentMeans[1]/ram:TypeCode", code)

    assert cii.read_invoice(root).payment_means_code == pivot


# -- refusals ---------------------------------------------------------------------


def test_invoice_number_longer_than_20(load) -> None:
    root = load("CII_example1.xml")
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
def test_missing_mandatory_element(load, path: str) -> None:
    root = load("CII_example1.xml")
    remove(root, path)

    error = refused(root)

    assert (error.code, error.element) == ("MISSING_ELEMENT", path)


def test_line_without_quantity(load) -> None:
    root = load("CII_example1.xml")
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
def test_invalid_value(load, path: str, value: str) -> None:
    root = load("CII_example1.xml")
    set_text(root, path, value)

    error = refused(root)

    assert (error.code, error.element, error.value) == ("INVALID_VALUE", path, value)


def test_date_in_another_format_than_102(load) -> None:
    root = load("CII_example1.xml")
    set_text(root, DOC + "ram:IssueDateTime/udt:DateTimeString", "201501", format="610")

    error = refused(root)

    assert (error.code, error.value) == ("INVALID_VALUE", "610")
    assert error.element == DOC + "ram:IssueDateTime/udt:DateTimeString/@format"


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        (AGR + "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID", 50),
        (AGR + "ram:ContractReferencedDocument/ram:IssuerAssignedID", 50),
        (STL + "ram:InvoiceReferencedDocument/ram:IssuerAssignedID", 20),
    ],
)
def test_reference_longer_than_the_pivot_allows(load, path: str, limit: int) -> None:
    root = load("CII_example5.xml")
    set_text(root, path, "R" * (limit + 1))

    error = refused(root)

    assert (error.code, error.element, error.value) == ("VALUE_TOO_LONG", path, "R" * (limit + 1))


def test_not_a_cross_industry_invoice() -> None:
    error = refused(etree.fromstring(b"<Invoice xmlns='urn:example'/>"))

    assert error.code == "UNSUPPORTED_DOCUMENT"
