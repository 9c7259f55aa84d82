"""A ``Spec`` as a CII D16B CrossIndustryInvoice in one of the five Factur-X profiles.

Each profile writes what its own Factur-X schema allows and no more: MINIMUM keeps the
header and its totals, BASIC WL adds the VAT breakdown, allowances, payment and
references but no lines, BASIC adds the lines, EN 16931 attachments, rounding, item ids
and contacts, EXTENDED is EN 16931 under its own guideline. The totals are the same in
every profile (they come from the whole spec), so one spec read in five profiles must
give five equal headers.
"""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal

from lxml import etree

from .spec import (
    BASIC,
    BASIC_WL,
    EN16931,
    EXTENDED,
    MINIMUM,
    NO_LINES,
    AllowanceCharge,
    Line,
    Party,
    PaymentMeans,
    Spec,
)

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
GUIDELINES = {
    MINIMUM: "urn:factur-x.eu:1p0:minimum",
    BASIC_WL: "urn:factur-x.eu:1p0:basicwl",
    BASIC: "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    EN16931: "urn:cen.eu:en16931:2017",
    EXTENDED: "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
}
SUPPORTING_DOCUMENT = "916"  # UNCL 1001: additional supporting document (BG-24)


def _ram(parent: etree._Element, tag: str, text: str | None = None, **attrib: str):
    element = etree.SubElement(parent, f"{{{RAM}}}{tag}", attrib)
    if text is not None:
        element.text = text
    return element


def _date(parent: etree._Element, tag: str, value: date) -> None:
    when = _ram(parent, tag)
    string = etree.SubElement(when, f"{{{UDT}}}DateTimeString", format="102")
    string.text = value.strftime("%Y%m%d")


def _period(settlement: etree._Element, period: tuple[date, date]) -> None:
    """BillingSpecifiedPeriod, of a line or of the whole invoice."""
    element = _ram(settlement, "BillingSpecifiedPeriod")
    _date(element, "StartDateTime", period[0])
    _date(element, "EndDateTime", period[1])


def _indicator(parent: etree._Element, charge: bool) -> None:
    holder = _ram(parent, "ChargeIndicator")
    etree.SubElement(holder, f"{{{UDT}}}Indicator").text = "true" if charge else "false"


class _Writer:
    def __init__(self, spec: Spec, profile: str) -> None:
        self.spec = spec
        self.profile = profile
        self.wl = profile != MINIMUM  # BASIC WL and above
        self.full = profile in (EN16931, EXTENDED)

    def amount(self, parent: etree._Element, tag: str, value: Decimal, **attrib: str) -> None:
        _ram(parent, tag, self.spec.amount_text(value), **attrib)

    def party(self, parent: etree._Element, tag: str, party: Party, seller: bool) -> None:
        element = _ram(parent, tag)
        if self.wl:
            for found in party.ids:
                if found.place == "party" and found.scheme is None:
                    _ram(element, "ID", found.value)
            for found in party.ids:
                if found.place == "party" and found.scheme is not None:
                    _ram(element, "GlobalID", found.value, schemeID=found.scheme)
        _ram(element, "Name", party.name)
        legal_ids = [found for found in party.ids if found.place == "legal"]
        if legal_ids or (self.full and party.trading_name):
            legal = _ram(element, "SpecifiedLegalOrganization")
            for found in legal_ids[:1]:
                _ram(
                    legal, "ID", found.value, **({"schemeID": found.scheme} if found.scheme else {})
                )
            if self.full and party.trading_name is not None:
                _ram(legal, "TradingBusinessName", party.trading_name)
        department = party.department if self.profile == EXTENDED else None
        if self.full and (party.email is not None or department is not None):
            contact = _ram(element, "DefinedTradeContact")
            _ram(contact, "PersonName", party.name)
            if department is not None:
                _ram(contact, "DepartmentName", department)
            if party.email is not None:
                _ram(_ram(contact, "EmailURIUniversalCommunication"), "URIID", party.email)
        if seller or self.wl:
            address = _ram(element, "PostalTradeAddress")
            if self.wl:
                _ram(address, "PostcodeCode", party.postcode)
                _ram(address, "LineOne", party.street)
                _ram(address, "CityName", party.city)
            _ram(address, "CountryID", party.country)
        if self.wl:
            for found in party.ids:
                if found.place == "endpoint":
                    uri = _ram(element, "URIUniversalCommunication")
                    _ram(uri, "URIID", found.value, schemeID=found.scheme or "0009")
        for number, scheme in ((party.vat, "VA"), (party.tax_number, "FC")):
            if number is not None and (seller or self.wl):
                _ram(_ram(element, "SpecifiedTaxRegistration"), "ID", number, schemeID=scheme)

    def allowance(
        self, parent: etree._Element, tag: str, adjustment: AllowanceCharge, header: bool
    ) -> None:
        element = _ram(parent, tag)
        _indicator(element, adjustment.charge)
        if adjustment.percent is not None:
            _ram(element, "CalculationPercent", format(adjustment.percent, "f"))
        if adjustment.base is not None:
            self.amount(element, "BasisAmount", adjustment.base)
        self.amount(element, "ActualAmount", adjustment.amount)
        if adjustment.reason_code is not None:
            _ram(element, "ReasonCode", adjustment.reason_code)
        _ram(element, "Reason", adjustment.reason)
        if header:
            tax = _ram(element, "CategoryTradeTax")
            _ram(tax, "TypeCode", "VAT")
            _ram(tax, "CategoryCode", adjustment.category)
            if adjustment.rate is not None:
                _ram(tax, "RateApplicablePercent", format(adjustment.rate, "f"))

    def line(self, transaction: etree._Element, line: Line) -> None:
        item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        document = _ram(item, "AssociatedDocumentLineDocument")
        _ram(document, "LineID", line.id)
        if line.note is not None:
            _ram(_ram(document, "IncludedNote"), "Content", line.note)
        product = _ram(item, "SpecifiedTradeProduct")
        if self.full and line.seller_id is not None:
            _ram(product, "SellerAssignedID", line.seller_id)
        _ram(product, "Name", line.name)
        agreement = _ram(item, "SpecifiedLineTradeAgreement")
        if line.gross_price is not None:
            gross = _ram(agreement, "GrossPriceProductTradePrice")
            _ram(gross, "ChargeAmount", format(line.gross_price, "f"))
            if line.base_quantity is not None:
                _ram(gross, "BasisQuantity", format(line.base_quantity, "f"), unitCode=line.unit)
            discount = _ram(gross, "AppliedTradeAllowanceCharge")
            _indicator(discount, False)
            _ram(discount, "ActualAmount", format(line.gross_price - line.price, "f"))
        net = _ram(agreement, "NetPriceProductTradePrice")
        _ram(net, "ChargeAmount", format(line.price, "f"))
        if line.base_quantity is not None:
            _ram(net, "BasisQuantity", format(line.base_quantity, "f"), unitCode=line.unit)
        delivery = _ram(item, "SpecifiedLineTradeDelivery")
        _ram(delivery, "BilledQuantity", format(line.quantity, "f"), unitCode=line.unit)
        settlement = _ram(item, "SpecifiedLineTradeSettlement")
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "CategoryCode", line.category)
        if line.rate is not None:
            _ram(tax, "RateApplicablePercent", format(line.rate, "f"))
        if line.period is not None:
            _period(settlement, line.period)
        for adjustment in line.allowances:
            self.allowance(settlement, "SpecifiedTradeAllowanceCharge", adjustment, header=False)
        summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
        self.amount(summation, "LineTotalAmount", line.amount)

    def agreement(self, transaction: etree._Element) -> None:
        spec = self.spec
        agreement = _ram(transaction, "ApplicableHeaderTradeAgreement")
        if spec.buyer_reference is not None:
            _ram(agreement, "BuyerReference", spec.buyer_reference)
        self.party(agreement, "SellerTradeParty", spec.seller, seller=True)
        self.party(agreement, "BuyerTradeParty", spec.buyer, seller=False)
        if spec.order is not None:
            _ram(_ram(agreement, "BuyerOrderReferencedDocument"), "IssuerAssignedID", spec.order)
        if spec.contract is not None and self.wl:
            contract = _ram(agreement, "ContractReferencedDocument")
            _ram(contract, "IssuerAssignedID", spec.contract)
        if self.full:
            for attachment in spec.attachments:
                self.attachment(agreement, attachment)
            if spec.project is not None:
                project = _ram(agreement, "SpecifiedProcuringProject")
                _ram(project, "ID", spec.project)
                _ram(project, "Name", spec.project)

    def attachment(self, agreement: etree._Element, attachment) -> None:
        reference = _ram(agreement, "AdditionalReferencedDocument")
        _ram(reference, "IssuerAssignedID", attachment.id)
        if attachment.uri is not None:
            _ram(reference, "URIID", attachment.uri)
        _ram(reference, "TypeCode", SUPPORTING_DOCUMENT)
        if attachment.description is not None:
            _ram(reference, "Name", attachment.description)
        if attachment.content is not None:
            attrib = {"mimeCode": attachment.mime}
            if attachment.filename is not None:
                attrib["filename"] = attachment.filename
            encoded = base64.b64encode(attachment.content).decode("ascii")
            _ram(reference, "AttachmentBinaryObject", encoded, **attrib)

    def delivery(self, transaction: etree._Element) -> None:
        spec = self.spec
        delivery = _ram(transaction, "ApplicableHeaderTradeDelivery")
        if not self.wl:
            return
        if spec.delivery_location is not None:
            ship_to = _ram(delivery, "ShipToTradeParty")
            _ram(ship_to, "GlobalID", spec.delivery_location, schemeID="0088")
        if spec.delivery_date is not None:
            _date(
                _ram(delivery, "ActualDeliverySupplyChainEvent"),
                "OccurrenceDateTime",
                spec.delivery_date,
            )

    def payment_means(self, settlement: etree._Element, means: PaymentMeans) -> None:
        element = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
        _ram(element, "TypeCode", means.code)
        if self.full and means.information is not None:
            _ram(element, "Information", means.information)
        if means.debtor_iban is not None:
            _ram(_ram(element, "PayerPartyDebtorFinancialAccount"), "IBANID", means.debtor_iban)
        if means.iban is not None:
            account = _ram(element, "PayeePartyCreditorFinancialAccount")
            _ram(account, "ProprietaryID" if means.proprietary else "IBANID", means.iban)
            if self.full and means.account_name is not None:
                _ram(account, "AccountName", means.account_name)
        if self.full and means.bic is not None:
            institution = _ram(element, "PayeeSpecifiedCreditorFinancialInstitution")
            _ram(institution, "BICID", means.bic)

    def settlement(self, transaction: etree._Element) -> None:
        spec, wl = self.spec, self.wl
        settlement = _ram(transaction, "ApplicableHeaderTradeSettlement")
        if wl and spec.tax_currency is not None:
            _ram(settlement, "TaxCurrencyCode", spec.tax_currency)
        _ram(settlement, "InvoiceCurrencyCode", spec.currency)
        if wl and spec.payee is not None:
            _ram(_ram(settlement, "PayeeTradeParty"), "Name", spec.payee.name)
        if wl:
            for means in spec.payment_means:
                self.payment_means(settlement, means)
            for vat in spec.vat:
                tax = _ram(settlement, "ApplicableTradeTax")
                self.amount(tax, "CalculatedAmount", vat.amount)
                _ram(tax, "TypeCode", "VAT")
                if vat.exemption is not None:
                    _ram(tax, "ExemptionReason", vat.exemption[0])
                self.amount(tax, "BasisAmount", vat.base)
                _ram(tax, "CategoryCode", vat.category)
                if vat.exemption is not None:
                    _ram(tax, "ExemptionReasonCode", vat.exemption[1])
                if vat.rate is not None:
                    _ram(tax, "RateApplicablePercent", format(vat.rate, "f"))
            if spec.period is not None:
                _period(settlement, spec.period)
            for adjustment in spec.allowances:
                self.allowance(settlement, "SpecifiedTradeAllowanceCharge", adjustment, header=True)
            self.payment_terms(settlement)
        self.summation(settlement)
        if wl and spec.origin is not None:
            _ram(_ram(settlement, "InvoiceReferencedDocument"), "IssuerAssignedID", spec.origin)

    def payment_terms(self, settlement: etree._Element) -> None:
        spec = self.spec
        mandate = next((m.mandate for m in spec.payment_means if m.mandate), None)
        if spec.payment_terms is None and spec.due_date is None and mandate is None:
            return
        terms = _ram(settlement, "SpecifiedTradePaymentTerms")
        if spec.payment_terms is not None:
            _ram(terms, "Description", spec.payment_terms)
        if spec.due_date is not None:
            _date(terms, "DueDateDateTime", spec.due_date)
        if mandate is not None:
            _ram(terms, "DirectDebitMandateID", mandate)

    def summation(self, settlement: etree._Element) -> None:
        spec, wl = self.spec, self.wl
        summation = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
        if wl:
            self.amount(summation, "LineTotalAmount", spec.line_total)
            for tag, value, charge in (
                ("ChargeTotalAmount", spec.charge_total, True),
                ("AllowanceTotalAmount", spec.allowance_total, False),
            ):
                if spec.zero_totals or any(a.charge == charge for a in spec.allowances):
                    self.amount(summation, tag, value)
        self.amount(summation, "TaxBasisTotalAmount", spec.tax_basis)
        self.amount(summation, "TaxTotalAmount", spec.vat_total, currencyID=spec.currency)
        if wl and spec.tax_currency is not None and spec.tax_currency_vat is not None:
            self.amount(
                summation, "TaxTotalAmount", spec.tax_currency_vat, currencyID=spec.tax_currency
            )
        if self.full and spec.rounding:
            self.amount(summation, "RoundingAmount", spec.rounding)
        self.amount(summation, "GrandTotalAmount", spec.grand_total)
        if wl and spec.prepaid:
            self.amount(summation, "TotalPrepaidAmount", spec.prepaid)
        self.amount(summation, "DuePayableAmount", spec.due)


def write(spec: Spec, profile: str = EN16931) -> bytes:
    """The spec as a CrossIndustryInvoice of the Factur-X ``profile``."""
    w = _Writer(spec, profile)
    root = etree.Element(
        f"{{{RSM}}}CrossIndustryInvoice", nsmap={"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}
    )
    context = etree.SubElement(root, f"{{{RSM}}}ExchangedDocumentContext")
    if spec.business_process is not None:
        parameter = _ram(context, "BusinessProcessSpecifiedDocumentContextParameter")
        _ram(parameter, "ID", spec.business_process)
    _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", GUIDELINES[profile])
    document = etree.SubElement(root, f"{{{RSM}}}ExchangedDocument")
    _ram(document, "ID", spec.number)
    _ram(document, "TypeCode", spec.type_code)
    _date(document, "IssueDateTime", spec.issue_date)
    if w.wl:
        for note in spec.notes:
            _ram(_ram(document, "IncludedNote"), "Content", note)
    transaction = etree.SubElement(root, f"{{{RSM}}}SupplyChainTradeTransaction")
    if profile not in NO_LINES:
        for line in spec.lines:
            w.line(transaction, line)
    w.agreement(transaction)
    w.delivery(transaction)
    w.settlement(transaction)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
