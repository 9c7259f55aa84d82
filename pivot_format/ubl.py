"""UBL 2.1 Invoice or CreditNote -> invoice model (docs/mapping.md, UBL column).

Only where each business term sits is known here; what it means for the pivot is
decided in ``_common``, and how paths are compiled and read fast in ``_paths``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from lxml import etree

from . import _common as c
from ._paths import Record, readable, xpath
from .attachments import AttachmentRules
from .errors import ConversionError
from .model import CREDIT_NOTE, INVOICE, Debiteur, Invoice, Supplier

NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
INVOICE_TAG = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
CREDIT_NOTE_TAG = "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"

_SUPPLIER = "cac:AccountingSupplierParty[1]/cac:Party[1]/"
_CUSTOMER = "cac:AccountingCustomerParty[1]/cac:Party[1]/"
_TOTAL = "cac:LegalMonetaryTotal[1]/"
# bank details come from the first payment means that has an account (see _common)
_ACCOUNT = "cac:PaymentMeans[cac:PayeeFinancialAccount/cbc:ID][1]/cac:PayeeFinancialAccount/"


class _Header(NamedTuple):
    """The document's single values: their paths or, once read, the values."""

    number: str | None
    invoice_type: str | None
    credit_note_type: str | None
    issue_date: str | None
    delivery_date: str | None
    currency: str | None
    profile: str | None
    origin: str | None
    order: str | None
    contract: str | None
    buyer_reference: str | None
    payment_means: str | None
    payment_means_label: str | None
    iban: str | None
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
    supplier_legal_name: str | None
    supplier_name: str | None
    supplier_country: str | None
    customer_legal_name: str | None
    customer_name: str | None
    customer_contact_id: str | None  # the service code of older flows
    customer_contact_name: str | None  # that service's name


_HEADER = Record(
    _Header(
        number="cbc:ID[1]",
        invoice_type="cbc:InvoiceTypeCode[1]",
        credit_note_type="cbc:CreditNoteTypeCode[1]",
        issue_date="cbc:IssueDate[1]",
        delivery_date="cac:Delivery/cbc:ActualDeliveryDate",
        currency="cbc:DocumentCurrencyCode[1]",
        profile="cbc:ProfileID[1]",
        origin="cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID",
        order="cac:OrderReference[1]/cbc:ID",
        contract="cac:ContractDocumentReference/cbc:ID",
        buyer_reference="cbc:BuyerReference[1]",
        payment_means="cac:PaymentMeans[1]/cbc:PaymentMeansCode",
        payment_means_label="cac:PaymentMeans[1]/cbc:PaymentMeansCode/@name",
        iban=_ACCOUNT + "cbc:ID",
        bic=_ACCOUNT + "cac:FinancialInstitutionBranch/cbc:ID",
        payee_name="cac:PayeeParty[1]/cac:PartyName/cbc:Name",
        ht=_TOTAL + "cbc:TaxExclusiveAmount",
        ttc=_TOTAL + "cbc:TaxInclusiveAmount",
        net=_TOTAL + "cbc:PayableAmount",
        line_total=_TOTAL + "cbc:LineExtensionAmount",
        allowance_total=_TOTAL + "cbc:AllowanceTotalAmount",
        charge_total=_TOTAL + "cbc:ChargeTotalAmount",
        prepaid=_TOTAL + "cbc:PrepaidAmount",
        rounding=_TOTAL + "cbc:PayableRoundingAmount",
        supplier_legal_name=_SUPPLIER + "cac:PartyLegalEntity/cbc:RegistrationName",
        supplier_name=_SUPPLIER + "cac:PartyName/cbc:Name",
        supplier_country=_SUPPLIER + "cac:PostalAddress/cac:Country/cbc:IdentificationCode",
        customer_legal_name=_CUSTOMER + "cac:PartyLegalEntity/cbc:RegistrationName",
        customer_name=_CUSTOMER + "cac:PartyName/cbc:Name",
        customer_contact_id=_CUSTOMER + "cac:Contact/cbc:ID",
        customer_contact_name=_CUSTOMER + "cac:Contact/cbc:Name",
    ),
    NS,
)
_P = _HEADER.paths

_SUPPLIER_IDS = xpath(_SUPPLIER + "cac:PartyIdentification/cbc:ID", NS)
_SUPPLIER_LEGAL_IDS = xpath(_SUPPLIER + "cac:PartyLegalEntity/cbc:CompanyID", NS)
_SUPPLIER_VAT_IDS = xpath(
    _SUPPLIER + "cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID", NS
)
_CUSTOMER_IDS = xpath(_CUSTOMER + "cac:PartyIdentification/cbc:ID", NS)
_CUSTOMER_LEGAL_IDS = xpath(_CUSTOMER + "cac:PartyLegalEntity/cbc:CompanyID", NS)
_CUSTOMER_ENDPOINTS = xpath(_CUSTOMER + "cbc:EndpointID", NS)

# BT-110 and, in the tax currency, BT-111: one cac:TaxTotal each (see _common.vat_total)
_TAX_TOTAL_PATH = "cac:TaxTotal"
_TAX_TOTALS = xpath(_TAX_TOTAL_PATH, NS)
_TAX_AMOUNT = xpath("cbc:TaxAmount[1]", NS)
_WITH_BREAKDOWN = xpath("boolean(cac:TaxSubtotal)", NS)

_VAT_PATH = "cac:TaxTotal/cac:TaxSubtotal"
_VAT_BREAKDOWNS = xpath(_VAT_PATH, NS)
_VAT = Record(
    c.VatPaths(base="cbc:TaxableAmount", tax="cbc:TaxAmount", rate="cac:TaxCategory/cbc:Percent"),
    NS,
)

_ATTACHMENT_PATH = "cac:AdditionalDocumentReference"
_DOCUMENT_REFERENCES = xpath(_ATTACHMENT_PATH, NS)
_REFERENCE = Record(c.ReferencePaths(id="cbc:ID", description="cbc:DocumentDescription"), NS)
_ATTACHMENT_OBJECT = xpath("cac:Attachment/cbc:EmbeddedDocumentBinaryObject", NS)


class _Kind(NamedTuple):
    """What differs between an Invoice and a CreditNote document."""

    default_type: str
    type_element: str
    line_path: str
    lines: etree.XPath
    line: Record[c.LinePaths]


def _line_record(quantity: str) -> Record[c.LinePaths]:
    paths = c.LinePaths(
        price="cac:Price[1]/cbc:PriceAmount",
        base_quantity="cac:Price[1]/cbc:BaseQuantity",
        quantity=quantity,
        amount="cbc:LineExtensionAmount[1]",
        seller_id="cac:Item[1]/cac:SellersItemIdentification/cbc:ID",
        name="cac:Item[1]/cbc:Name",
        rate="cac:Item[1]/cac:ClassifiedTaxCategory/cbc:Percent",
    )
    return Record(paths, NS)


_KINDS = {
    INVOICE_TAG: _Kind(
        INVOICE,
        _P.invoice_type,
        "cac:InvoiceLine",
        xpath("cac:InvoiceLine", NS),
        _line_record("cbc:InvoicedQuantity[1]"),
    ),
    CREDIT_NOTE_TAG: _Kind(
        CREDIT_NOTE,
        _P.credit_note_type,
        "cac:CreditNoteLine",
        xpath("cac:CreditNoteLine", NS),
        _line_record("cbc:CreditedQuantity[1]"),
    ),
}


def read_invoice(root: etree._Element, *, rules: AttachmentRules | None = None) -> Invoice:
    """Read one UBL Invoice or CreditNote; ConversionError when the pivot cannot be filled
    (or, with ``rules``, when an attachment breaks one)."""
    kind = _KINDS.get(root.tag)
    if kind is None:
        raise ConversionError(
            "UNSUPPORTED_DOCUMENT",
            "the root element is neither a UBL 2.1 Invoice nor a CreditNote",
            "/*",
            str(root.tag),
        )
    h = _HEADER(root)
    delivery = h.delivery_date
    return Invoice(
        number=c.invoice_number(c.required(h.number, _P.number), _P.number),
        type_code=_type_code(h, kind),
        issue_date=c.iso_date(c.required(h.issue_date, _P.issue_date), _P.issue_date),
        delivery_date=None if delivery is None else c.iso_date(delivery, _P.delivery_date),
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
        cadre=c.pivot_cadre(h.profile, _P.profile),
        origin_invoice_id=c.bounded(h.origin, c.ORIGIN_MAX, _P.origin),
        engagement_number=c.bounded(h.order, c.ENGAGEMENT_MAX, _P.order),
        contract_number=c.bounded(h.contract, c.ENGAGEMENT_MAX, _P.contract),
        vat_lines=c.vat_lines(_VAT_BREAKDOWNS(root), _VAT, _VAT_PATH),
        lines=c.lines(kind.lines(root), kind.line, kind.line_path),
        attachments=c.attachments(
            _DOCUMENT_REFERENCES(root), _REFERENCE, _ATTACHMENT_OBJECT, _ATTACHMENT_PATH, rules
        ),
    )


def _type_code(h: _Header, kind: _Kind) -> str:
    """UBL 2.1 makes the type code optional: without one, the root says which it is."""
    code = h.invoice_type if kind.default_type == INVOICE else h.credit_note_type
    if code is None:
        return kind.default_type
    return c.pivot_type_code(code, kind.type_element)


def _vat_total(root: etree._Element, h: _Header) -> Decimal | None:
    totals = [
        c.tax_total(amount, _WITH_BREAKDOWN(node), f"{_TAX_TOTAL_PATH}[{index}]/cbc:TaxAmount")
        for index, node in enumerate(_TAX_TOTALS(root), start=1)
        for amount in _TAX_AMOUNT(node)
    ]
    return c.vat_total(totals, c.required(h.currency, _P.currency))


def _supplier(root: etree._Element, h: _Header) -> Supplier:
    country = c.required(h.supplier_country, _P.supplier_country)
    identifier, identifier_type = c.supplier_identity(
        country,
        c.identifiers(_SUPPLIER_IDS(root)),
        c.identifiers(_SUPPLIER_LEGAL_IDS(root)),
        c.identifiers(_SUPPLIER_VAT_IDS(root)),
        readable(_SUPPLIER) + "cac:PartyLegalEntity/cbc:CompanyID",
    )
    return Supplier(
        identifier=identifier,
        identifier_type=identifier_type,
        name=c.required(h.supplier_legal_name or h.supplier_name, _P.supplier_legal_name),
        country_code=country,
        iban=h.iban,
        bic=h.bic,
        payee_name=h.payee_name,
    )


def _debiteur(root: etree._Element, h: _Header) -> Debiteur:
    """The service's name is the buyer contact's (BT-56) only when that contact is the
    service, its ID the service code (older flows write it so); any other contact point
    is a person or an office, not the service."""
    if h.buyer_reference is not None:
        service_code, service_element = h.buyer_reference, _P.buyer_reference
    else:
        service_code, service_element = h.customer_contact_id, _P.customer_contact_id
    contact_is_service = service_code is not None and h.customer_contact_id == service_code
    return c.debiteur(
        c.identifiers(_CUSTOMER_IDS(root)),
        c.identifiers(_CUSTOMER_LEGAL_IDS(root)),
        c.identifiers(_CUSTOMER_ENDPOINTS(root)),
        name=h.customer_legal_name or h.customer_name,
        service_code=service_code,
        service_element=service_element,
        service_name=h.customer_contact_name if contact_is_service else None,
    )
