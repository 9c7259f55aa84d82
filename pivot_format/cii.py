"""UN/CEFACT CII D16B, every Factur-X profile -> invoice model (docs/mapping.md, CII column).

MINIMUM and BASIC WL carry no lines, MINIMUM no VAT breakdown either: what is absent
stays empty, and only what the pivot cannot do without is refused. Only where each
business term sits is known here; what it means for the pivot is decided in
``_common``, and how paths are compiled and read fast in ``_paths``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import NamedTuple

from lxml import etree

from . import _common as c
from ._paths import Record, readable, xpath
from .attachments import AttachmentRules
from .errors import ConversionError
from .model import Debiteur, Invoice, Supplier

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
ROOT_TAG = f"{{{NS['rsm']}}}CrossIndustryInvoice"

_DOC = "rsm:ExchangedDocument[1]/"
_TX = "rsm:SupplyChainTradeTransaction[1]/"
_AGR = _TX + "ram:ApplicableHeaderTradeAgreement[1]/"
_DLV = _TX + "ram:ApplicableHeaderTradeDelivery[1]/"
_STL = _TX + "ram:ApplicableHeaderTradeSettlement[1]/"
_SUM = _STL + "ram:SpecifiedTradeSettlementHeaderMonetarySummation[1]/"
_MEANS = _STL + "ram:SpecifiedTradeSettlementPaymentMeans"
# bank details come from the first payment means that has an account (see _common): its
# IBAN, else its proprietary id (BT-84 either way, as UBL's PayeeFinancialAccount/ID)
_CREDITOR = "ram:PayeePartyCreditorFinancialAccount"
_ACCOUNT_MEANS = _MEANS + f"[{_CREDITOR}[ram:IBANID or ram:ProprietaryID]][1]/"
_SELLER = _AGR + "ram:SellerTradeParty[1]/"
_BUYER = _AGR + "ram:BuyerTradeParty[1]/"
_ISSUE = _DOC + "ram:IssueDateTime/udt:DateTimeString"
_DELIVERY = _DLV + "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/udt:DateTimeString"


class _Header(NamedTuple):
    """The document's single values: their paths or, once read, the values."""

    number: str | None
    type_code: str | None
    issue_date: str | None
    issue_date_format: str | None
    delivery_date: str | None
    delivery_date_format: str | None
    business_process: str | None
    currency: str | None
    origin: str | None
    order: str | None
    contract: str | None
    buyer_reference: str | None
    payment_means: str | None
    payment_means_label: str | None
    iban: str | None
    proprietary_account: str | None
    bic: str | None
    payee_name: str | None
    ht: str | None
    ttc: str | None
    net: str | None
    line_total: str | None
    allowance_total: str | None
    charge_total: str | None
    prepaid: str | None
    rounding: str | None
    seller_name: str | None
    seller_country: str | None
    buyer_name: str | None
    buyer_department: str | None


_HEADER = Record(
    _Header(
        number=_DOC + "ram:ID",
        type_code=_DOC + "ram:TypeCode",
        issue_date=_ISSUE,
        issue_date_format=_ISSUE + "/@format",
        delivery_date=_DELIVERY,
        delivery_date_format=_DELIVERY + "/@format",
        business_process="rsm:ExchangedDocumentContext[1]"
        "/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID",
        currency=_STL + "ram:InvoiceCurrencyCode",
        origin=_STL + "ram:InvoiceReferencedDocument/ram:IssuerAssignedID",
        order=_AGR + "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID",
        contract=_AGR + "ram:ContractReferencedDocument/ram:IssuerAssignedID",
        buyer_reference=_AGR + "ram:BuyerReference",
        payment_means=_MEANS + "[1]/ram:TypeCode",
        payment_means_label=_MEANS + "[1]/ram:Information",
        iban=_ACCOUNT_MEANS + _CREDITOR + "/ram:IBANID",
        proprietary_account=_ACCOUNT_MEANS + _CREDITOR + "/ram:ProprietaryID",
        bic=_ACCOUNT_MEANS + "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID",
        payee_name=_STL + "ram:PayeeTradeParty/ram:Name",
        ht=_SUM + "ram:TaxBasisTotalAmount",
        ttc=_SUM + "ram:GrandTotalAmount",
        net=_SUM + "ram:DuePayableAmount",
        line_total=_SUM + "ram:LineTotalAmount",
        allowance_total=_SUM + "ram:AllowanceTotalAmount",
        charge_total=_SUM + "ram:ChargeTotalAmount",
        prepaid=_SUM + "ram:TotalPrepaidAmount",
        rounding=_SUM + "ram:RoundingAmount",
        seller_name=_SELLER + "ram:Name",
        seller_country=_SELLER + "ram:PostalTradeAddress/ram:CountryID",
        buyer_name=_BUYER + "ram:Name",
        buyer_department=_BUYER + "ram:DefinedTradeContact/ram:DepartmentName",
    ),
    NS,
)
_P = _HEADER.paths

_SELLER_IDS = xpath(f"{_SELLER}ram:ID | {_SELLER}ram:GlobalID", NS)
_SELLER_LEGAL_IDS = xpath(_SELLER + "ram:SpecifiedLegalOrganization/ram:ID", NS)
_SELLER_VAT_IDS = xpath(_SELLER + "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']", NS)
_BUYER_IDS = xpath(f"{_BUYER}ram:ID | {_BUYER}ram:GlobalID", NS)
_BUYER_LEGAL_IDS = xpath(_BUYER + "ram:SpecifiedLegalOrganization/ram:ID", NS)
_BUYER_ENDPOINTS = xpath(_BUYER + "ram:URIUniversalCommunication/ram:URIID", NS)

# BT-110 and, in the tax currency, BT-111 (see _common.vat_total)
_TAX_TOTAL_PATH = _SUM + "ram:TaxTotalAmount"
_TAX_TOTALS = xpath(_TAX_TOTAL_PATH, NS)

_VAT_PATH = _STL + "ram:ApplicableTradeTax"
_VAT_BREAKDOWNS = xpath(_VAT_PATH, NS)
_VAT = Record(
    c.VatPaths(
        base="ram:BasisAmount", tax="ram:CalculatedAmount", rate="ram:RateApplicablePercent"
    ),
    NS,
)

_LINE_PATH = _TX + "ram:IncludedSupplyChainTradeLineItem"
_NET_PRICE = "ram:SpecifiedLineTradeAgreement[1]/ram:NetPriceProductTradePrice[1]/"
_LINES = xpath(_LINE_PATH, NS)
_LINE = Record(
    c.LinePaths(
        price=_NET_PRICE + "ram:ChargeAmount",
        base_quantity=_NET_PRICE + "ram:BasisQuantity",
        quantity="ram:SpecifiedLineTradeDelivery[1]/ram:BilledQuantity",
        amount="ram:SpecifiedLineTradeSettlement[1]"
        "/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
        seller_id="ram:SpecifiedTradeProduct[1]/ram:SellerAssignedID",
        name="ram:SpecifiedTradeProduct[1]/ram:Name",
        rate="ram:SpecifiedLineTradeSettlement[1]/ram:ApplicableTradeTax/ram:RateApplicablePercent",
    ),
    NS,
)

_ATTACHMENT_PATH = _AGR + "ram:AdditionalReferencedDocument"
_DOCUMENT_REFERENCES = xpath(_ATTACHMENT_PATH, NS)
_REFERENCE = Record(c.ReferencePaths(id="ram:IssuerAssignedID", description="ram:Name"), NS)
_ATTACHMENT_OBJECT = xpath("ram:AttachmentBinaryObject", NS)


def read_invoice(root: etree._Element, *, rules: AttachmentRules | None = None) -> Invoice:
    """Read one CrossIndustryInvoice; ConversionError when the pivot cannot be filled (or,
    with ``rules``, when an attachment breaks one)."""
    if root.tag != ROOT_TAG:
        raise ConversionError(
            "UNSUPPORTED_DOCUMENT",
            "the root element is not a UN/CEFACT rsm:CrossIndustryInvoice",
            "/*",
            str(root.tag),
        )
    h = _HEADER(root)
    return Invoice(
        number=c.invoice_number(c.required(h.number, _P.number), _P.number),
        type_code=c.pivot_type_code(c.required(h.type_code, _P.type_code), _P.type_code),
        issue_date=c.date_102(
            c.required(h.issue_date, _P.issue_date), h.issue_date_format, _P.issue_date
        ),
        delivery_date=_delivery_date(h),
        currency=c.required(h.currency, _P.currency),
        supplier=_supplier(root, h),
        debiteur=_debiteur(root, h),
        amount_ht=c.amount(h.ht, _P.ht),
        amount_ttc=c.amount(h.ttc, _P.ttc),
        amount_net=c.amount(h.net, _P.net),
        line_total=c.optional_amount(h.line_total, _P.line_total),
        allowance_total=c.amount_or_zero(h.allowance_total, _P.allowance_total),
        charge_total=c.amount_or_zero(h.charge_total, _P.charge_total),
        vat_total=_vat_total(root, h),
        prepaid=c.amount_or_zero(h.prepaid, _P.prepaid),
        rounding=c.amount_or_zero(h.rounding, _P.rounding),
        payment_means_code=c.pivot_payment_means(h.payment_means, _P.payment_means),
        payment_means_label=h.payment_means_label,
        cadre=c.pivot_cadre(h.business_process, _P.business_process),
        origin_invoice_id=c.bounded(h.origin, c.ORIGIN_MAX, _P.origin),
        engagement_number=c.bounded(h.order, c.ENGAGEMENT_MAX, _P.order),
        contract_number=c.bounded(h.contract, c.ENGAGEMENT_MAX, _P.contract),
        vat_lines=c.vat_lines(_VAT_BREAKDOWNS(root), _VAT, readable(_VAT_PATH)),
        lines=c.lines(_LINES(root), _LINE, readable(_LINE_PATH)),
        attachments=c.attachments(
            _DOCUMENT_REFERENCES(root),
            _REFERENCE,
            _ATTACHMENT_OBJECT,
            readable(_ATTACHMENT_PATH),
            rules,
        ),
    )


def _delivery_date(h: _Header) -> date | None:
    if h.delivery_date is None:
        return None
    return c.date_102(h.delivery_date, h.delivery_date_format, _P.delivery_date)


def _vat_total(root: etree._Element, h: _Header) -> Decimal | None:
    path = readable(_TAX_TOTAL_PATH)
    totals = [
        c.tax_total(amount, True, f"{path}[{index}]")
        for index, amount in enumerate(_TAX_TOTALS(root), start=1)
    ]
    return c.vat_total(totals, c.required(h.currency, _P.currency))


def _supplier(root: etree._Element, h: _Header) -> Supplier:
    country = c.required(h.seller_country, _P.seller_country)
    identifier, identifier_type = c.supplier_identity(
        country,
        c.identifiers(_SELLER_IDS(root)),
        c.identifiers(_SELLER_LEGAL_IDS(root)),
        c.identifiers(_SELLER_VAT_IDS(root)),
        readable(_SELLER) + "ram:SpecifiedLegalOrganization/ram:ID",
    )
    return Supplier(
        identifier=identifier,
        identifier_type=identifier_type,
        name=c.required(h.seller_name, _P.seller_name),
        country_code=country,
        iban=h.iban or h.proprietary_account,
        # an account the supplier marks as not an IBAN is not checked as one
        bank_reference_type="IBAN" if h.iban or not h.proprietary_account else "RIB",
        bic=h.bic,
        payee_name=h.payee_name,
    )


def _debiteur(root: etree._Element, h: _Header) -> Debiteur:
    return c.debiteur(
        c.identifiers(_BUYER_IDS(root)),
        c.identifiers(_BUYER_LEGAL_IDS(root)),
        c.identifiers(_BUYER_ENDPOINTS(root)),
        name=h.buyer_name,
        service_code=h.buyer_reference,
        service_element=_P.buyer_reference,
        service_name=h.buyer_department,  # Factur-X BT-56-0, the buyer's contact department
    )
