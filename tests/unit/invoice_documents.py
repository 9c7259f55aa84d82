"""Test-only generators: a model ``Invoice`` written as the documents suppliers send.

``ubl_document`` writes a UBL 2.1 Invoice or CreditNote, ``cii_document`` a CII D16B
CrossIndustryInvoice (Factur-X EXTENDED), each value at the place docs/mapping.md
says the reader takes it from, so that reading the document back must give the invoice
again. Where the mapping allows several places for one value (party identification,
legal id or Peppol endpoint; SellersItemIdentification or Name; a CreditNote root or an
Invoice root with type 381; BuyerReference or the older Contact/ID) a ``Layout`` says
which one to use, so that the properties reach each of them.

These are writers of test inputs, not product code: they trust the invoice they are given
(a supplier with identifier type 1 has a SIRET, type 2 an EU VAT number) and write only
what the readers look at, plus what the schemas make mandatory.

Document totals (BT-106 to BT-114) are written as the invoice gives them, and left out
when it leaves them None; only where a schema wants one the invoice does not give is it
computed: UBL's VAT total when there is a VAT breakdown (the breakdown sits inside it),
CII's line total (mandatory in Factur-X EXTENDED).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

from pivot_format.model import CREDIT_NOTE, ID_SIRET, INVOICE, Invoice, Line, Supplier

UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"

PEPPOL_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"  # no A-code: the Cadre is A1
FACTURX_EXTENDED = "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended"
UNIT = "C62"  # UN/ECE rec 20 "one"
ADDITIONAL_DOCUMENT = "916"  # UNCL 1001: reference document (BG-24)
GLN = "3010000000006", "0088"  # a GS1 location number and its ISO 6523 scheme
# UNCL 4461 codes each meaning one of the pivot's: SEPA transfer and debit, debit card, cheque
EN16931_PAYMENT_MEANS = {"30": "58", "49": "59", "48": "54", "20": "23"}
DIRECT_DEBIT = "59"


@dataclass(frozen=True)
class Layout:
    """Where a document puts the values the mapping lets it put in more than one place.

    ``*_place``: ``party`` (PartyIdentification/ID, ram:ID), ``global`` (CII
    ram:GlobalID), ``legal`` (PartyLegalEntity/CompanyID, SpecifiedLegalOrganization/ID)
    or ``endpoint`` (buyer only: cbc:EndpointID, ram:URIUniversalCommunication/ram:URIID).
    ``*_scheme``: the schemeID of that identifier (None writes none).
    """

    supplier_place: str = "legal"
    supplier_scheme: str | None = "0009"
    buyer_place: str = "legal"
    buyer_scheme: str | None = "0009"
    party_names: bool = False  # UBL: cac:PartyName/cbc:Name instead of RegistrationName
    credit_note_root: bool = True  # UBL: a 381 as CreditNote (else Invoice with code 381)
    type_code_written: bool = True  # UBL: InvoiceTypeCode / CreditNoteTypeCode present
    service_in_contact: bool = False  # UBL: the service code of older flows
    a1_profile: str | None = None  # what says Cadre A1: None, "A1" or another profile
    seller_ids: tuple[bool, ...] = ()  # by line: product ref as seller's id, else as name
    spaced_sirets: bool = False  # "123 456 789 00012", as SIRETs are often written
    gln_first: bool = False  # each party's first identifier a GLN (scheme 0088), no SIRET
    en16931_codes: bool = False  # payment means as 58, 59, 54, 23: the pivot's 30, 49, 48, 20
    second_means: bool = False  # a second payment means (direct debit) after the first
    tax_currency_total: bool = False  # a second VAT total, in the tax currency (BT-111)
    tax_currency_first: bool = False  # ... written before the one in the invoice currency


# -- shared -----------------------------------------------------------------------


def amount_text(value: Decimal) -> str:
    """Plain notation with the scale kept, as a supplier's software writes it."""
    return format(value, "f")


def _profile(invoice: Invoice, layout: Layout) -> str | None:
    return layout.a1_profile if invoice.cadre == "A1" else invoice.cadre


def _seller_id(layout: Layout, line: Line) -> bool:
    index = line.number - 1
    return index < len(layout.seller_ids) and layout.seller_ids[index]


def _siret(value: str, layout: Layout) -> str:
    if layout.spaced_sirets:
        return f"{value[:3]} {value[3:6]} {value[6:9]} {value[9:]}"
    return value


def _payment_code(invoice: Invoice, layout: Layout) -> str:
    code = invoice.payment_means_code or "30"
    return EN16931_PAYMENT_MEANS.get(code, code) if layout.en16931_codes else code


def _tax_currency(invoice: Invoice) -> str:
    """The currency VAT is accounted in (BT-6) when it is not the invoice's: a French
    supplier's euro, else another one."""
    return "EUR" if invoice.currency != "EUR" else "CHF"


def _tax_currency_amount(invoice: Invoice) -> Decimal:
    """BT-111: never the BT-110 amount, so that a reader taking the wrong total shows."""
    return _vat_total(invoice) + Decimal("1000.00")


def _vat_total(invoice: Invoice) -> Decimal:
    """BT-110 as the invoice gives it, else added up from its VAT breakdown."""
    if invoice.vat_total is not None:
        return invoice.vat_total
    return sum((v.amount for v in invoice.vat_lines), Decimal("0.00"))


def _vat_number(supplier: Supplier) -> str:
    """A French SIRET supplier also shows its VAT number (FR, key, SIREN); an EU one its own."""
    if supplier.identifier_type == ID_SIRET:
        siren = supplier.identifier[:9]
        return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    return supplier.identifier


def _to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -- UBL 2.1 ----------------------------------------------------------------------


class _Ubl:
    """SubElement helpers bound to one document's currency."""

    def __init__(self, currency: str) -> None:
        self.currency = currency

    @staticmethod
    def cbc(parent: etree._Element, tag: str, text: str, **attrib: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{CBC}}}{tag}", attrib)
        element.text = text
        return element

    @staticmethod
    def cac(parent: etree._Element, tag: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{CAC}}}{tag}")

    def amount(self, parent: etree._Element, tag: str, value: Decimal) -> None:
        self.cbc(parent, tag, amount_text(value), currencyID=self.currency)

    def reference(self, parent: etree._Element, tag: str, value: str | None) -> None:
        if value is not None:
            self.cbc(self.cac(parent, tag), "ID", value)

    def scheme(self, parent: etree._Element, tag: str, value: str, scheme: str | None) -> None:
        self.cbc(parent, tag, value, **({"schemeID": scheme} if scheme else {}))

    def tax_category(self, parent: etree._Element, tag: str, rate: Decimal) -> None:
        category = self.cac(parent, tag)
        self.cbc(category, "ID", "S" if rate else "Z")
        self.cbc(category, "Percent", amount_text(rate))
        self.cbc(self.cac(category, "TaxScheme"), "ID", "VAT")


def ubl_document(invoice: Invoice, layout: Layout = Layout()) -> bytes:
    """The invoice as a UBL 2.1 Invoice, or CreditNote when it is one and ``layout`` says so."""
    credit_note = invoice.type_code == CREDIT_NOTE and layout.credit_note_root
    kind, namespace = ("CreditNote", UBL_CREDIT_NOTE) if credit_note else ("Invoice", UBL_INVOICE)
    root = etree.Element(f"{{{namespace}}}{kind}", nsmap={None: namespace, "cac": CAC, "cbc": CBC})
    u = _Ubl(invoice.currency)
    u.cbc(root, "CustomizationID", PEPPOL_CUSTOMIZATION)
    if (profile := _profile(invoice, layout)) is not None:
        u.cbc(root, "ProfileID", profile)
    u.cbc(root, "ID", invoice.number)
    u.cbc(root, "IssueDate", invoice.issue_date.isoformat())
    root_type = CREDIT_NOTE if credit_note else INVOICE
    if layout.type_code_written or invoice.type_code != root_type:  # only the root's own
        u.cbc(root, f"{kind}TypeCode", invoice.type_code)  # type may go unsaid
    u.cbc(root, "DocumentCurrencyCode", invoice.currency)
    if layout.tax_currency_total:
        u.cbc(root, "TaxCurrencyCode", _tax_currency(invoice))
    service = invoice.debiteur.service_code
    if service is not None and not layout.service_in_contact:
        u.cbc(root, "BuyerReference", service)
    u.reference(root, "OrderReference", invoice.engagement_number)
    if invoice.origin_invoice_id is not None:
        billing = u.cac(root, "BillingReference")
        u.reference(billing, "InvoiceDocumentReference", invoice.origin_invoice_id)
    u.reference(root, "ContractDocumentReference", invoice.contract_number)
    for position, attachment in enumerate(invoice.attachments, 1):
        reference = u.cac(root, "AdditionalDocumentReference")
        u.cbc(reference, "ID", f"PJ-{position}")
        if attachment.category is not None:
            u.cbc(reference, "DocumentDescription", attachment.category)
        u.cbc(
            u.cac(reference, "Attachment"),
            "EmbeddedDocumentBinaryObject",
            base64.b64encode(attachment.content).decode("ascii"),
            mimeCode=attachment.mime_type,
            filename=attachment.original_name or attachment.name,
        )
    _ubl_supplier(u, u.cac(u.cac(root, "AccountingSupplierParty"), "Party"), invoice, layout)
    _ubl_customer(u, u.cac(u.cac(root, "AccountingCustomerParty"), "Party"), invoice, layout)
    if invoice.supplier.payee_name is not None:
        payee = u.cac(root, "PayeeParty")
        u.cbc(u.cac(payee, "PartyName"), "Name", invoice.supplier.payee_name)
    if invoice.delivery_date is not None:
        u.cbc(u.cac(root, "Delivery"), "ActualDeliveryDate", invoice.delivery_date.isoformat())
    _ubl_payment_means(u, root, invoice, layout)
    _ubl_totals(u, root, invoice, layout)
    for line in invoice.lines:
        _ubl_line(u, root, kind, line, layout)
    return _to_bytes(root)


def _ubl_supplier(u: _Ubl, party: etree._Element, invoice: Invoice, layout: Layout) -> None:
    supplier = invoice.supplier
    siret = supplier.identifier_type == ID_SIRET
    if layout.gln_first:
        u.scheme(u.cac(party, "PartyIdentification"), "ID", *GLN)
    identifier = _siret(supplier.identifier, layout) if siret else supplier.identifier
    if siret and layout.supplier_place == "party":
        u.scheme(u.cac(party, "PartyIdentification"), "ID", identifier, layout.supplier_scheme)
    if layout.party_names:
        u.cbc(u.cac(party, "PartyName"), "Name", supplier.name)
    address = u.cac(party, "PostalAddress")
    u.cbc(u.cac(address, "Country"), "IdentificationCode", supplier.country_code)
    tax_scheme = u.cac(party, "PartyTaxScheme")
    u.cbc(tax_scheme, "CompanyID", _vat_number(supplier))
    u.cbc(u.cac(tax_scheme, "TaxScheme"), "ID", "VAT")
    legal = u.cac(party, "PartyLegalEntity")
    if not layout.party_names:
        u.cbc(legal, "RegistrationName", supplier.name)
    if siret and layout.supplier_place == "legal":
        u.scheme(legal, "CompanyID", identifier, layout.supplier_scheme)


def _ubl_customer(u: _Ubl, party: etree._Element, invoice: Invoice, layout: Layout) -> None:
    debiteur = invoice.debiteur
    siret, scheme, place = (
        _siret(debiteur.siret or "", layout),
        layout.buyer_scheme,
        layout.buyer_place,
    )
    if place == "endpoint":
        u.scheme(party, "EndpointID", siret, scheme)
    if layout.gln_first:
        u.scheme(u.cac(party, "PartyIdentification"), "ID", *GLN)
    if place == "party":
        u.scheme(u.cac(party, "PartyIdentification"), "ID", siret, scheme)
    if debiteur.name is not None and layout.party_names:
        u.cbc(u.cac(party, "PartyName"), "Name", debiteur.name)
    u.cbc(u.cac(u.cac(party, "PostalAddress"), "Country"), "IdentificationCode", "FR")
    legal = u.cac(party, "PartyLegalEntity")
    if debiteur.name is not None and not layout.party_names:
        u.cbc(legal, "RegistrationName", debiteur.name)
    if place == "legal":
        u.scheme(legal, "CompanyID", siret, scheme)
    if debiteur.service_code is not None and (layout.service_in_contact or debiteur.service_name):
        contact = u.cac(party, "Contact")  # the service itself: its code, then its name
        u.cbc(contact, "ID", debiteur.service_code)
        if debiteur.service_name is not None:
            u.cbc(contact, "Name", debiteur.service_name)


def _ubl_payment_means(u: _Ubl, root: etree._Element, invoice: Invoice, layout: Layout) -> None:
    supplier = invoice.supplier
    means = u.cac(root, "PaymentMeans")
    label = {"name": invoice.payment_means_label} if invoice.payment_means_label else {}
    u.cbc(means, "PaymentMeansCode", _payment_code(invoice, layout), **label)
    if supplier.iban is not None:
        account = u.cac(means, "PayeeFinancialAccount")
        u.cbc(account, "ID", supplier.iban)
        if supplier.bic is not None:
            u.cbc(u.cac(account, "FinancialInstitutionBranch"), "ID", supplier.bic)
    if layout.second_means:
        u.cbc(u.cac(root, "PaymentMeans"), "PaymentMeansCode", DIRECT_DEBIT)


def _ubl_totals(u: _Ubl, root: etree._Element, invoice: Invoice, layout: Layout) -> None:
    def tax_currency_total() -> None:
        amount = amount_text(_tax_currency_amount(invoice))
        u.cbc(u.cac(root, "TaxTotal"), "TaxAmount", amount, currencyID=_tax_currency(invoice))

    if layout.tax_currency_total and layout.tax_currency_first:
        tax_currency_total()
    if invoice.vat_total is not None or invoice.vat_lines:
        tax_total = u.cac(root, "TaxTotal")
        u.amount(tax_total, "TaxAmount", _vat_total(invoice))
        for vat in invoice.vat_lines:
            subtotal = u.cac(tax_total, "TaxSubtotal")
            u.amount(subtotal, "TaxableAmount", vat.base_ht)
            u.amount(subtotal, "TaxAmount", vat.amount)
            u.tax_category(subtotal, "TaxCategory", vat.rate)
    if layout.tax_currency_total and not layout.tax_currency_first:
        tax_currency_total()
    total = u.cac(root, "LegalMonetaryTotal")
    for tag, value in (
        ("LineExtensionAmount", invoice.line_total),
        ("TaxExclusiveAmount", invoice.amount_ht),
        ("TaxInclusiveAmount", invoice.amount_ttc),
        ("AllowanceTotalAmount", invoice.allowance_total),
        ("ChargeTotalAmount", invoice.charge_total),
        ("PrepaidAmount", invoice.prepaid),
        ("PayableRoundingAmount", invoice.rounding),
        ("PayableAmount", invoice.amount_net),
    ):
        if value is not None:
            u.amount(total, tag, value)


def _ubl_line(u: _Ubl, root: etree._Element, kind: str, line: Line, layout: Layout) -> None:
    element = u.cac(root, f"{kind}Line")
    u.cbc(element, "ID", str(line.number))
    quantity = "CreditedQuantity" if kind == "CreditNote" else "InvoicedQuantity"
    u.cbc(element, quantity, amount_text(line.quantity), unitCode=UNIT)
    u.amount(element, "LineExtensionAmount", line.amount_ht)
    item = u.cac(element, "Item")
    if line.product_ref is not None:
        if _seller_id(layout, line):
            u.cbc(item, "Name", f"Article {line.number}")
            u.cbc(u.cac(item, "SellersItemIdentification"), "ID", line.product_ref)
        else:
            u.cbc(item, "Name", line.product_ref)
    if line.vat_rate is not None:
        u.tax_category(item, "ClassifiedTaxCategory", line.vat_rate)
    u.amount(u.cac(element, "Price"), "PriceAmount", line.unit_price)


# -- CII D16B (Factur-X EXTENDED) -------------------------------------------------


def _ram(
    parent: etree._Element, tag: str, text: str | None = None, **attrib: str
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{RAM}}}{tag}", attrib)
    if text is not None:
        element.text = text
    return element


def _date_102(parent: etree._Element, tag: str, value: date) -> None:
    """A udt:DateTimeString in format 102 (YYYYMMDD), years below 1000 zero-padded."""
    when = _ram(parent, tag)
    string = etree.SubElement(when, f"{{{UDT}}}DateTimeString", format="102")
    string.text = f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _cii_id(parent: etree._Element, tag: str, value: str, scheme: str | None) -> None:
    _ram(parent, tag, value, **({"schemeID": scheme} if scheme else {}))


def cii_document(invoice: Invoice, layout: Layout = Layout()) -> bytes:
    """The invoice as a CrossIndustryInvoice that validates against Factur-X EXTENDED."""
    root = etree.Element(
        f"{{{RSM}}}CrossIndustryInvoice", nsmap={"rsm": RSM, "ram": RAM, "udt": UDT}
    )
    context = etree.SubElement(root, f"{{{RSM}}}ExchangedDocumentContext")
    if (profile := _profile(invoice, layout)) is not None:
        _ram(_ram(context, "BusinessProcessSpecifiedDocumentContextParameter"), "ID", profile)
    _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", FACTURX_EXTENDED)
    document = etree.SubElement(root, f"{{{RSM}}}ExchangedDocument")
    _ram(document, "ID", invoice.number)
    _ram(document, "TypeCode", invoice.type_code)
    _date_102(document, "IssueDateTime", invoice.issue_date)
    transaction = etree.SubElement(root, f"{{{RSM}}}SupplyChainTradeTransaction")
    for line in invoice.lines:
        _cii_line(transaction, invoice.currency, line, layout)
    _cii_agreement(_ram(transaction, "ApplicableHeaderTradeAgreement"), invoice, layout)
    delivery = _ram(transaction, "ApplicableHeaderTradeDelivery")
    if invoice.delivery_date is not None:
        event = _ram(delivery, "ActualDeliverySupplyChainEvent")
        _date_102(event, "OccurrenceDateTime", invoice.delivery_date)
    _cii_settlement(_ram(transaction, "ApplicableHeaderTradeSettlement"), invoice, layout)
    return _to_bytes(root)


def _cii_line(transaction: etree._Element, currency: str, line: Line, layout: Layout) -> None:
    item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
    _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", str(line.number))
    product = _ram(item, "SpecifiedTradeProduct")
    if line.product_ref is not None and _seller_id(layout, line):
        _ram(product, "SellerAssignedID", line.product_ref)
        _ram(product, "Name", f"Article {line.number}")
    else:  # the XSD wants a Name: without product ref it is empty, which reads as absent
        _ram(product, "Name", line.product_ref)
    price = _ram(_ram(item, "SpecifiedLineTradeAgreement"), "NetPriceProductTradePrice")
    _ram(price, "ChargeAmount", amount_text(line.unit_price))
    delivery = _ram(item, "SpecifiedLineTradeDelivery")
    _ram(delivery, "BilledQuantity", amount_text(line.quantity), unitCode=UNIT)
    settlement = _ram(item, "SpecifiedLineTradeSettlement")
    tax = _ram(settlement, "ApplicableTradeTax")
    _ram(tax, "TypeCode", "VAT")
    if line.vat_rate is not None:
        _ram(tax, "CategoryCode", "S" if line.vat_rate else "Z")
        _ram(tax, "RateApplicablePercent", amount_text(line.vat_rate))
    summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
    _ram(summation, "LineTotalAmount", amount_text(line.amount_ht), currencyID=currency)


def _cii_amount(
    parent: etree._Element, tag: str, value: Decimal | None, currency: str | None = None
) -> None:
    """An optional amount, written only when given."""
    if value is not None:
        _ram(parent, tag, amount_text(value), **({"currencyID": currency} if currency else {}))


def _cii_party(
    party: etree._Element, layout: Layout, siret: str | None, place: str, scheme: str | None
) -> None:
    """ram:ID, then ram:GlobalID: the SIRET where ``place`` says, a GLN if asked."""
    if siret is not None and place == "party":
        _cii_id(party, "ID", siret, scheme)
    if layout.gln_first:
        _cii_id(party, "GlobalID", *GLN)
    if siret is not None and place == "global":
        _cii_id(party, "GlobalID", siret, scheme)


def _cii_agreement(agreement: etree._Element, invoice: Invoice, layout: Layout) -> None:
    supplier, debiteur = invoice.supplier, invoice.debiteur
    if debiteur.service_code is not None:
        _ram(agreement, "BuyerReference", debiteur.service_code)
    seller = _ram(agreement, "SellerTradeParty")
    siret = supplier.identifier_type == ID_SIRET
    identifier = _siret(supplier.identifier, layout) if siret else supplier.identifier
    _cii_party(
        seller, layout, identifier if siret else None, layout.supplier_place, layout.supplier_scheme
    )
    _ram(seller, "Name", supplier.name)
    if siret and layout.supplier_place == "legal":
        legal = _ram(seller, "SpecifiedLegalOrganization")
        _cii_id(legal, "ID", identifier, layout.supplier_scheme)
    _ram(_ram(seller, "PostalTradeAddress"), "CountryID", supplier.country_code)
    _ram(_ram(seller, "SpecifiedTaxRegistration"), "ID", _vat_number(supplier), schemeID="VA")

    buyer = _ram(agreement, "BuyerTradeParty")
    siret_text, place, scheme = (
        _siret(debiteur.siret or "", layout),
        layout.buyer_place,
        layout.buyer_scheme,
    )
    _cii_party(buyer, layout, siret_text, place, scheme)
    if debiteur.name is not None:
        _ram(buyer, "Name", debiteur.name)
    if place == "legal":
        _cii_id(_ram(buyer, "SpecifiedLegalOrganization"), "ID", siret_text, scheme)
    if debiteur.service_name is not None:
        _ram(_ram(buyer, "DefinedTradeContact"), "DepartmentName", debiteur.service_name)
    _ram(_ram(buyer, "PostalTradeAddress"), "CountryID", "FR")
    if place == "endpoint":
        _cii_id(_ram(buyer, "URIUniversalCommunication"), "URIID", siret_text, scheme)

    if invoice.engagement_number is not None:
        order = _ram(agreement, "BuyerOrderReferencedDocument")
        _ram(order, "IssuerAssignedID", invoice.engagement_number)
    if invoice.contract_number is not None:
        contract = _ram(agreement, "ContractReferencedDocument")
        _ram(contract, "IssuerAssignedID", invoice.contract_number)
    for position, attachment in enumerate(invoice.attachments, 1):
        reference = _ram(agreement, "AdditionalReferencedDocument")
        _ram(reference, "IssuerAssignedID", f"PJ-{position}")
        _ram(reference, "TypeCode", ADDITIONAL_DOCUMENT)
        if attachment.category is not None:
            _ram(reference, "Name", attachment.category)
        _ram(
            reference,
            "AttachmentBinaryObject",
            base64.b64encode(attachment.content).decode("ascii"),
            mimeCode=attachment.mime_type,
            filename=attachment.original_name or attachment.name,
        )


def _cii_settlement(settlement: etree._Element, invoice: Invoice, layout: Layout) -> None:
    supplier, currency = invoice.supplier, invoice.currency
    if layout.tax_currency_total:
        _ram(settlement, "TaxCurrencyCode", _tax_currency(invoice))
    _ram(settlement, "InvoiceCurrencyCode", currency)
    if supplier.payee_name is not None:
        _ram(_ram(settlement, "PayeeTradeParty"), "Name", supplier.payee_name)
    means = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
    _ram(means, "TypeCode", _payment_code(invoice, layout))
    if invoice.payment_means_label is not None:
        _ram(means, "Information", invoice.payment_means_label)
    if supplier.iban is not None:
        _ram(_ram(means, "PayeePartyCreditorFinancialAccount"), "IBANID", supplier.iban)
        if supplier.bic is not None:
            _ram(_ram(means, "PayeeSpecifiedCreditorFinancialInstitution"), "BICID", supplier.bic)
    if layout.second_means:
        _ram(_ram(settlement, "SpecifiedTradeSettlementPaymentMeans"), "TypeCode", DIRECT_DEBIT)
    for vat in invoice.vat_lines:
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", amount_text(vat.amount))
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "BasisAmount", amount_text(vat.base_ht))
        _ram(tax, "CategoryCode", "S" if vat.rate else "Z")
        _ram(tax, "RateApplicablePercent", amount_text(vat.rate))
    summation = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    line_total = invoice.line_total
    if line_total is None:
        line_total = sum((line.amount_ht for line in invoice.lines), Decimal("0.00"))
    _ram(summation, "LineTotalAmount", amount_text(line_total))
    _cii_amount(summation, "ChargeTotalAmount", invoice.charge_total)
    _cii_amount(summation, "AllowanceTotalAmount", invoice.allowance_total)
    _ram(summation, "TaxBasisTotalAmount", amount_text(invoice.amount_ht))

    def tax_currency_total() -> None:
        amount, tax_currency = _tax_currency_amount(invoice), _tax_currency(invoice)
        _cii_amount(summation, "TaxTotalAmount", amount, tax_currency)

    if layout.tax_currency_total and layout.tax_currency_first:
        tax_currency_total()
    _cii_amount(summation, "TaxTotalAmount", invoice.vat_total, currency)
    if layout.tax_currency_total and not layout.tax_currency_first:
        tax_currency_total()
    _cii_amount(summation, "RoundingAmount", invoice.rounding)
    _ram(summation, "GrandTotalAmount", amount_text(invoice.amount_ttc))
    _cii_amount(summation, "TotalPrepaidAmount", invoice.prepaid)
    _ram(summation, "DuePayableAmount", amount_text(invoice.amount_net))
    if invoice.origin_invoice_id is not None:
        origin = _ram(settlement, "InvoiceReferencedDocument")
        _ram(origin, "IssuerAssignedID", invoice.origin_invoice_id)
