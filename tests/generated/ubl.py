"""A ``Spec`` as a UBL 2.1 Invoice or CreditNote (Peppol BIS Billing 3.0 / EN 16931).

Elements are appended in the order the UBL 2.1 schemas want them; the documents are
checked against those schemas by the tests that use them.
"""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal

from lxml import etree

from .spec import AllowanceCharge, Line, Party, PaymentMeans, Spec

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


class _Writer:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    @staticmethod
    def cbc(parent: etree._Element, tag: str, text: str, **attrib: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{CBC}}}{tag}", attrib)
        element.text = text
        return element

    @staticmethod
    def cac(parent: etree._Element, tag: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{CAC}}}{tag}")

    def amount(self, parent: etree._Element, tag: str, value: Decimal) -> None:
        self.cbc(parent, tag, self.spec.amount_text(value), currencyID=self.spec.currency)

    def date(self, parent: etree._Element, tag: str, value: date) -> None:
        self.cbc(parent, tag, value.isoformat())

    def period(self, parent: etree._Element, tag: str, period: tuple[date, date]) -> None:
        element = self.cac(parent, tag)
        self.date(element, "StartDate", period[0])
        self.date(element, "EndDate", period[1])

    def identifier(self, parent: etree._Element, tag: str, value: str, scheme: str | None) -> None:
        self.cbc(parent, tag, value, **({"schemeID": scheme} if scheme else {}))

    def category(
        self, parent: etree._Element, tag: str, code: str, rate: Decimal | None, reason=None
    ) -> None:
        element = self.cac(parent, tag)
        self.cbc(element, "ID", code)
        if rate is not None:
            self.cbc(element, "Percent", format(rate, "f"))
        if reason is not None:
            self.cbc(element, "TaxExemptionReasonCode", reason[1])
            self.cbc(element, "TaxExemptionReason", reason[0])
        self.cbc(self.cac(element, "TaxScheme"), "ID", "VAT")

    # -- parties -----------------------------------------------------------------------

    def party(self, parent: etree._Element, party: Party) -> None:
        element = self.cac(parent, "Party")
        for found in party.ids:
            if found.place == "endpoint":
                self.identifier(element, "EndpointID", found.value, found.scheme)
        for found in party.ids:
            if found.place == "party":
                identification = self.cac(element, "PartyIdentification")
                self.identifier(identification, "ID", found.value, found.scheme)
        if party.trading_name is not None:
            self.cbc(self.cac(element, "PartyName"), "Name", party.trading_name)
        address = self.cac(element, "PostalAddress")
        self.cbc(address, "StreetName", party.street)
        self.cbc(address, "CityName", party.city)
        self.cbc(address, "PostalZone", party.postcode)
        self.cbc(self.cac(address, "Country"), "IdentificationCode", party.country)
        for number, scheme in ((party.vat, "VAT"), (party.tax_number, "TAX")):
            if number is not None:
                tax = self.cac(element, "PartyTaxScheme")
                self.cbc(tax, "CompanyID", number)
                self.cbc(self.cac(tax, "TaxScheme"), "ID", scheme)
        legal = self.cac(element, "PartyLegalEntity")
        self.cbc(legal, "RegistrationName", party.name)
        for found in party.ids:
            if found.place == "legal":
                self.identifier(legal, "CompanyID", found.value, found.scheme)
        if party.contact_id is not None or party.email is not None or party.department:
            contact = self.cac(element, "Contact")
            if party.contact_id is not None:
                self.cbc(contact, "ID", party.contact_id)
            if party.department is not None:
                self.cbc(contact, "Name", party.department)
            if party.email is not None:
                self.cbc(contact, "ElectronicMail", party.email)

    # -- payment -----------------------------------------------------------------------

    def payment_means(self, root: etree._Element, means: PaymentMeans, credit_note: bool) -> None:
        element = self.cac(root, "PaymentMeans")
        text = {"name": means.information} if means.information is not None else {}
        self.cbc(element, "PaymentMeansCode", means.code, **text)
        if credit_note and self.spec.due_date is not None:
            self.date(element, "PaymentDueDate", self.spec.due_date)
        if means.iban is not None:
            account = self.cac(element, "PayeeFinancialAccount")
            self.cbc(account, "ID", means.iban)
            if means.account_name is not None:
                self.cbc(account, "Name", means.account_name)
            if means.bic is not None:
                self.cbc(self.cac(account, "FinancialInstitutionBranch"), "ID", means.bic)
        if means.mandate is not None:
            mandate = self.cac(element, "PaymentMandate")
            self.cbc(mandate, "ID", means.mandate)
            if means.debtor_iban is not None:
                self.cbc(self.cac(mandate, "PayerFinancialAccount"), "ID", means.debtor_iban)

    def allowance(self, parent: etree._Element, adjustment: AllowanceCharge, line: bool) -> None:
        element = self.cac(parent, "AllowanceCharge")
        self.cbc(element, "ChargeIndicator", "true" if adjustment.charge else "false")
        if adjustment.reason_code is not None:
            self.cbc(element, "AllowanceChargeReasonCode", adjustment.reason_code)
        self.cbc(element, "AllowanceChargeReason", adjustment.reason)
        if adjustment.percent is not None:
            self.cbc(element, "MultiplierFactorNumeric", format(adjustment.percent, "f"))
        self.amount(element, "Amount", adjustment.amount)
        if adjustment.base is not None:
            self.amount(element, "BaseAmount", adjustment.base)
        if not line:
            self.category(element, "TaxCategory", adjustment.category, adjustment.rate)

    # -- totals and lines --------------------------------------------------------------

    def tax_totals(self, root: etree._Element) -> None:
        spec = self.spec
        total = self.cac(root, "TaxTotal")
        self.amount(total, "TaxAmount", spec.vat_total)
        for vat in spec.vat:
            subtotal = self.cac(total, "TaxSubtotal")
            self.amount(subtotal, "TaxableAmount", vat.base)
            self.amount(subtotal, "TaxAmount", vat.amount)
            self.category(subtotal, "TaxCategory", vat.category, vat.rate, vat.exemption)
        if spec.tax_currency is not None and spec.tax_currency_vat is not None:
            other = self.cac(root, "TaxTotal")
            amount = spec.amount_text(spec.tax_currency_vat)
            self.cbc(other, "TaxAmount", amount, currencyID=spec.tax_currency)

    def monetary_total(self, root: etree._Element) -> None:
        spec = self.spec
        total = self.cac(root, "LegalMonetaryTotal")
        self.amount(total, "LineExtensionAmount", spec.line_total)
        self.amount(total, "TaxExclusiveAmount", spec.tax_basis)
        self.amount(total, "TaxInclusiveAmount", spec.grand_total)
        for tag, value, charge in (
            ("AllowanceTotalAmount", spec.allowance_total, False),
            ("ChargeTotalAmount", spec.charge_total, True),
        ):
            if spec.zero_totals or any(a.charge == charge for a in spec.allowances):
                self.amount(total, tag, value)
        if spec.prepaid:
            self.amount(total, "PrepaidAmount", spec.prepaid)
        if spec.rounding:
            self.amount(total, "PayableRoundingAmount", spec.rounding)
        self.amount(total, "PayableAmount", spec.due)

    def line(self, root: etree._Element, kind: str, line: Line) -> None:
        element = self.cac(root, f"{kind}Line")
        self.cbc(element, "ID", line.id)
        if line.note is not None:
            self.cbc(element, "Note", line.note)
        quantity = "CreditedQuantity" if kind == "CreditNote" else "InvoicedQuantity"
        self.cbc(element, quantity, format(line.quantity, "f"), unitCode=line.unit)
        self.amount(element, "LineExtensionAmount", line.amount)
        if line.period is not None:
            self.period(element, "InvoicePeriod", line.period)
        for adjustment in line.allowances:  # no line TaxTotal: the same place in both
            self.allowance(element, adjustment, line=True)
        item = self.cac(element, "Item")
        self.cbc(item, "Name", line.name)
        if line.seller_id is not None:
            self.cbc(self.cac(item, "SellersItemIdentification"), "ID", line.seller_id)
        self.category(item, "ClassifiedTaxCategory", line.category, line.rate)
        price = self.cac(element, "Price")
        self.cbc(price, "PriceAmount", format(line.price, "f"), currencyID=self.spec.currency)
        if line.base_quantity is not None:
            self.cbc(price, "BaseQuantity", format(line.base_quantity, "f"), unitCode=line.unit)
        if line.gross_price is not None:
            discount = self.cac(price, "AllowanceCharge")
            self.cbc(discount, "ChargeIndicator", "false")
            self.amount(discount, "Amount", line.gross_price - line.price)
            self.amount(discount, "BaseAmount", line.gross_price)


def write(spec: Spec) -> bytes:
    """The spec as UBL: a CreditNote for a 381 when ``credit_note_root``, else an Invoice."""
    credit_note = spec.type_code == "381" and spec.credit_note_root
    kind, namespace = ("CreditNote", CREDIT_NOTE_NS) if credit_note else ("Invoice", INVOICE_NS)
    w = _Writer(spec)
    root = etree.Element(f"{{{namespace}}}{kind}", nsmap={None: namespace, "cac": CAC, "cbc": CBC})
    w.cbc(root, "CustomizationID", CUSTOMIZATION)
    w.cbc(root, "ProfileID", spec.business_process or PEPPOL_PROFILE)
    w.cbc(root, "ID", spec.number)
    w.date(root, "IssueDate", spec.issue_date)
    if spec.due_date is not None and not credit_note:
        w.date(root, "DueDate", spec.due_date)
    w.cbc(root, f"{kind}TypeCode", spec.type_code)
    for note in spec.notes:
        w.cbc(root, "Note", note)
    w.cbc(root, "DocumentCurrencyCode", spec.currency)
    if spec.tax_currency is not None:
        w.cbc(root, "TaxCurrencyCode", spec.tax_currency)
    if spec.buyer_reference is not None:
        w.cbc(root, "BuyerReference", spec.buyer_reference)
    if spec.period is not None:
        w.period(root, "InvoicePeriod", spec.period)
    if spec.order is not None:
        w.cbc(w.cac(root, "OrderReference"), "ID", spec.order)
    if spec.origin is not None:
        reference = w.cac(w.cac(root, "BillingReference"), "InvoiceDocumentReference")
        w.cbc(reference, "ID", spec.origin)
    if spec.contract is not None:
        w.cbc(w.cac(root, "ContractDocumentReference"), "ID", spec.contract)
    for attachment in spec.attachments:
        reference = w.cac(root, "AdditionalDocumentReference")
        w.cbc(reference, "ID", attachment.id)
        if attachment.description is not None:
            w.cbc(reference, "DocumentDescription", attachment.description)
        holder = w.cac(reference, "Attachment")
        if attachment.content is not None:
            attrib = {"mimeCode": attachment.mime}
            if attachment.filename is not None:
                attrib["filename"] = attachment.filename
            encoded = base64.b64encode(attachment.content).decode("ascii")
            w.cbc(holder, "EmbeddedDocumentBinaryObject", encoded, **attrib)
        if attachment.uri is not None:
            w.cbc(w.cac(holder, "ExternalReference"), "URI", attachment.uri)
    if spec.project is not None and not credit_note:
        w.cbc(w.cac(root, "ProjectReference"), "ID", spec.project)
    w.party(w.cac(root, "AccountingSupplierParty"), spec.seller)
    w.party(w.cac(root, "AccountingCustomerParty"), spec.buyer)
    if spec.payee is not None:
        payee = w.cac(root, "PayeeParty")
        w.cbc(w.cac(payee, "PartyName"), "Name", spec.payee.name)
    if spec.delivery_date is not None or spec.delivery_location is not None:
        delivery = w.cac(root, "Delivery")
        if spec.delivery_date is not None:
            w.date(delivery, "ActualDeliveryDate", spec.delivery_date)
        if spec.delivery_location is not None:
            location = w.cac(delivery, "DeliveryLocation")
            w.cbc(location, "ID", spec.delivery_location, schemeID="0088")
    for means in spec.payment_means:
        w.payment_means(root, means, credit_note)
    if spec.payment_terms is not None:
        w.cbc(w.cac(root, "PaymentTerms"), "Note", spec.payment_terms)
    for adjustment in spec.allowances:
        w.allowance(root, adjustment, line=False)
    w.tax_totals(root)
    w.monetary_total(root)
    for line in spec.lines:
        w.line(root, kind, line)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
