"""Invoices that each break exactly one official business rule, and their mended twins.

Every ``Breaker`` starts from a generated invoice that the official rules accept (its
``mended`` twin) and changes one thing so that the only fatal finding of the EN 16931 (or,
for BR-FR, the French "Flux 2") stylesheets is its ``rule``. The change is made in the
``Spec`` when the spec can say it, else in the written XML with lxml. The invoices come
from the e2e homes' supplier (FOUR01's SIRET) to an active demo structure, so that the
hub's own controls accept both: the rule alone refuses the broken one.

Not here: the seller's name and postal address (BR-06, BR-08, BR-09), which the pivot
requires too (the reader refuses their absence as MISSING_ELEMENT beside the rule), and
the totals the hub checks itself (BR-CO-13 to BR-CO-16), which its TOTAL_* controls refuse
as well. The official artefacts name the rules of IGIC and IPSI (categories L and M)
BR-AF-nn and BR-AG-nn (issue 15 calls them BR-IG and BR-IP), those of category K BR-IC-nn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from lxml import etree

from . import cii, ubl
from .spec import (
    EN16931,
    AllowanceCharge,
    Attachment,
    Id,
    Line,
    Party,
    PaymentMeans,
    Spec,
    french_vat,
    iban,
)

D = Decimal
ZERO = D("0")
EN16931_SET, BR_FR_SET = ("en16931",), ("en16931", "br_fr")
SUPPLIER_SIRET = "81234567600025"  # FOUR01's in tests/e2e/conftest.py
SUPPLIER_SIREN = SUPPLIER_SIRET[:9]
VALBRUNE = "21990101400015"  # an active structure of config/demo/structures.csv
BUYER_VAT = french_vat(VALBRUNE[:9])
GERMAN_BUYER_VAT = "DE123456788"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

NS = {
    "cbc": ubl.CBC,
    "cac": ubl.CAC,
    "rsm": cii.RSM,
    "ram": cii.RAM,
    "udt": cii.UDT,
}

# -- the invoices that pass ---------------------------------------------------------------

SELLER = Party(
    "Papeteries Delorme SAS",
    ids=(Id(SUPPLIER_SIRET, "0009", "legal"), Id(SUPPLIER_SIRET, "0009", "endpoint")),
    vat=french_vat(SUPPLIER_SIREN),
    street="14 rue des Tanneurs",
)
BUYER = Party(
    "Commune de Valbrune",
    ids=(Id(VALBRUNE, "0009", "endpoint"), Id(VALBRUNE, "0009", "legal")),
    street="1 place de la Mairie",
    city="Valbrune",
    postcode="49990",
)
BASE = Spec(
    number="TO-BE-NUMBERED",
    issue_date=date(2026, 3, 2),
    seller=SELLER,
    buyer=BUYER,
    lines=(
        Line("1", "Ramette papier A4", D("12"), D("4.50"), seller_id="PAP-A4"),
        Line(
            "2",
            "Cartouche d'encre",
            D("3"),
            D("38.00"),
            allowances=(AllowanceCharge(D("5.00"), "Remise fidélité", reason_code="95"),),
        ),
        Line("3", "Manuel scolaire", D("3"), D("14.60"), rate=D("5.5")),
    ),
    due_date=date(2026, 4, 1),
    buyer_reference="SERV-SCOL",
    order="EJ-2026-0001",
    business_process="A1",
    delivery_date=date(2026, 2, 27),  # CII: an empty ApplicableHeaderTradeDelivery warns
    payment_means=(PaymentMeans("30", iban("FR", "30006000011234567890189"), "BQDEFRPPXXX"),),
    payment_terms="Paiement à 30 jours par virement.",
    allowances=(AllowanceCharge(D("4.00"), "Remise commerciale", reason_code="95"),),
)


def category(code: str, rate: Decimal | None = ZERO, **changes: object) -> Spec:
    """BASE with one more line in VAT category ``code`` (a breakdown of its own)."""
    line = Line("4", f"Article en catégorie {code}", D("2"), D("50.00"), category=code, rate=rate)
    return replace(BASE, lines=(*BASE.lines, line), **changes)


def only(code: str, rate: Decimal | None = ZERO, **changes: object) -> Spec:
    """An invoice whose only line and breakdown are in VAT category ``code``."""
    line = Line(
        "1", f"Prestation en catégorie {code}", D("2"), D("50.00"), category=code, rate=rate
    )
    return replace(BASE, lines=(line,), allowances=(), **changes)


EXEMPT = category("E")
EXEMPT_ONLY = only("E")
STANDARD_ONLY = only("S", D("20"))
REVERSE_CHARGE = only("AE", buyer=replace(BUYER, vat=BUYER_VAT))
# an intra-community supply: both VAT ids, a delivery date (BT-72) and, in the XML, the
# country delivered to (BT-80: ubl_deliver_to, cii_deliver_to)
INTRA_COMMUNITY = only("K", buyer=replace(BUYER, vat=GERMAN_BUYER_VAT))
EXPORT = only("G")
ZERO_RATED = category("Z")
OUTSIDE_SCOPE = only("O", None, seller=replace(SELLER, vat=None))
IGIC = only("L", D("7"))  # Canary Islands' tax
IPSI = only("M", D("4"))  # Ceuta and Melilla's tax
WITH_PERIODS = replace(
    BASE,
    period=(date(2026, 2, 1), date(2026, 2, 28)),
    lines=(
        replace(BASE.lines[0], period=(date(2026, 2, 1), date(2026, 2, 14))),
        *BASE.lines[1:],
    ),
)
FREE_SAMPLE = replace(BASE, lines=(*BASE.lines, Line("4", "Échantillon", D("1"), D("0.00"))))
WITH_ATTACHMENT = replace(
    BASE, attachments=(Attachment("BL-2026-01", "Bon de livraison", PDF, "bl-2026-01.pdf"),)
)
WITH_CHARGE = replace(
    BASE,
    allowances=(
        *BASE.allowances,
        AllowanceCharge(D("9.90"), "Transport", charge=True, reason_code="FC", base=D("99.00")),
    ),
)
# the French reform's mentions: the recovery fee, late penalties and discount notes (BT-22
# with their subject codes), a billing frame of the reform (BT-23) and the seller's SIREN
FRENCH = replace(
    BASE,
    seller=replace(
        SELLER,
        ids=(
            Id(SUPPLIER_SIRET, "0009", "party"),
            Id(SUPPLIER_SIRET, "0009", "endpoint"),
            Id(SUPPLIER_SIREN, "0002", "legal"),
        ),
        email="factures@delorme.example",
    ),
    buyer=replace(BUYER, email="comptabilite@valbrune.example"),
    notes=(
        "#PMT#Indemnité forfaitaire pour frais de recouvrement : 40 euros.",
        "#PMD#Pénalités de retard : trois fois le taux d'intérêt légal.",
        "#AAB#Pas d'escompte pour paiement anticipé.",
    ),
    business_process="S1",
)

# -- editing the written XML ----------------------------------------------------------------

Edit = Callable[[etree._Element], None]


def _one(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NS)
    assert found, f"nothing at {path}"
    return found[0]


def remove(path: str) -> Edit:
    """Remove the first element at ``path``."""

    def edit(root: etree._Element) -> None:
        element = _one(root, path)
        element.getparent().remove(element)

    return edit


def set_text(path: str, text: str) -> Edit:
    def edit(root: etree._Element) -> None:
        _one(root, path).text = text

    return edit


def third_decimal(path: str) -> Edit:
    """The same amount written with three decimals (12.50 -> 12.500)."""

    def edit(root: etree._Element) -> None:
        element = _one(root, path)
        assert "." in element.text, element.text
        element.text += "0"

    return edit


def shifted(path: str, by: str) -> Edit:
    """An amount changed by ``by``, written with the decimals it had."""

    def edit(root: etree._Element) -> None:
        element = _one(root, path)
        element.text = format(D(element.text) + D(by), "f")

    return edit


def add_after(path: str, tag: str, text: str) -> Edit:
    """A new element ``tag`` (prefix:name) with ``text`` right after the one at ``path``."""

    def edit(root: etree._Element) -> None:
        prefix, name = tag.split(":")
        element = etree.Element(f"{{{NS[prefix]}}}{name}")
        element.text = text
        _one(root, path).addnext(element)

    return edit


def add_before(path: str, tag: str, text: str) -> Edit:
    def edit(root: etree._Element) -> None:
        prefix, name = tag.split(":")
        element = etree.Element(f"{{{NS[prefix]}}}{name}")
        element.text = text
        _one(root, path).addprevious(element)

    return edit


def add_to(path: str, tag: str, text: str) -> Edit:
    """A new last child ``tag`` with ``text`` in the element at ``path``."""

    def edit(root: etree._Element) -> None:
        prefix, name = tag.split(":")
        etree.SubElement(_one(root, path), f"{{{NS[prefix]}}}{name}").text = text

    return edit


def edits(*steps: Edit) -> Edit:
    """Several edits, in order."""

    def edit(root: etree._Element) -> None:
        for step in steps:
            step(root)

    return edit


def ubl_deliver_to(root: etree._Element) -> None:
    """A deliver-to address with its country (BT-80) in the UBL Delivery."""
    found = root.xpath("cac:Delivery", namespaces=NS)
    if found:
        delivery = found[0]
    else:  # after the parties, where UBL wants it
        delivery = etree.Element(f"{{{ubl.CAC}}}Delivery")
        _one(root, "cac:AccountingCustomerParty").addnext(delivery)
    location = etree.SubElement(delivery, f"{{{ubl.CAC}}}DeliveryLocation")
    address = etree.SubElement(location, f"{{{ubl.CAC}}}Address")
    country = etree.SubElement(address, f"{{{ubl.CAC}}}Country")
    etree.SubElement(country, f"{{{ubl.CBC}}}IdentificationCode").text = "DE"


def cii_deliver_to(root: etree._Element) -> None:
    """A ship-to party with its country (BT-80) in the CII delivery."""
    delivery = _one(root, "//ram:ApplicableHeaderTradeDelivery")
    party = etree.Element(f"{{{cii.RAM}}}ShipToTradeParty")
    etree.SubElement(party, f"{{{cii.RAM}}}Name").text = "Entrepôt de Francfort"
    address = etree.SubElement(party, f"{{{cii.RAM}}}PostalTradeAddress")
    etree.SubElement(address, f"{{{cii.RAM}}}CountryID").text = "DE"
    delivery.insert(0, party)


def cii_subject_codes(root: etree._Element) -> None:
    """Each note "#PMT#text" as CII writes a note's subject: its code in ram:SubjectCode."""
    for note in root.xpath("//rsm:ExchangedDocument/ram:IncludedNote", namespaces=NS):
        content = _one(note, "ram:Content")
        _, code, text = content.text.split("#", 2)
        content.text = text
        etree.SubElement(note, f"{{{cii.RAM}}}SubjectCode").text = code


# paths used more than once
U_TOTAL = "cac:LegalMonetaryTotal/"
U_LINE = "cac:InvoiceLine[1]/"
U_SUBTOTAL = "cac:TaxTotal/cac:TaxSubtotal[cac:TaxCategory/cbc:ID='{}']/"
U_SUBTOTAL_20 = "cac:TaxTotal/cac:TaxSubtotal[cac:TaxCategory/cbc:Percent='20']/"
C_SETTLEMENT = "//ram:ApplicableHeaderTradeSettlement/"
C_TOTAL = C_SETTLEMENT + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/"
C_LINE = "//ram:IncludedSupplyChainTradeLineItem[1]/"
C_TAX = C_SETTLEMENT + "ram:ApplicableTradeTax[ram:CategoryCode='{}']/"
C_TAX_20 = C_SETTLEMENT + "ram:ApplicableTradeTax[ram:RateApplicablePercent='20']/"
C_LINE_TOTAL = (
    "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/"
    "ram:LineTotalAmount"
)


# -- the breakers -----------------------------------------------------------------------------


def _same(spec: Spec) -> Spec:
    return spec


@dataclass(frozen=True)
class Breaker:
    """One rule broken on purpose: ``mended`` passes every rule, ``broken`` fails ``rule``
    alone (the rule's identifier as edi_engine.reception.rules reports it)."""

    rule: str
    breaks: str  # what the broken invoice does wrong, in one line
    syntax: str  # ubl or cii
    spec: Spec = BASE  # the mended twin's
    change: Callable[[Spec], Spec] = _same  # the breach, when the spec can say it
    edit: Edit | None = None  # the breach in the XML, when it cannot
    profile: str = EN16931  # CII only
    sets: tuple[str, ...] = EN16931_SET
    mend: Edit | None = None  # what both twins need beyond their spec (deliver-to country)
    index: int = 0  # numbers the invoices: each breaker's two are its own

    @property
    def name(self) -> str:
        profile = f"-{self.profile}" if self.syntax == "cii" and self.profile != EN16931 else ""
        return f"{self.rule}-{self.syntax}{profile}"

    @property
    def fr(self) -> bool:
        return "br_fr" in self.sets

    def mended(self) -> bytes:
        return self._written(replace(self.spec, number=f"OK-{self.index:03d}"), None)

    def broken(self) -> bytes:
        spec = self.change(replace(self.spec, number=f"KO-{self.index:03d}"))
        return self._written(spec, self.edit)

    def _written(self, spec: Spec, edit: Edit | None) -> bytes:
        content = ubl.write(spec) if self.syntax == "ubl" else cii.write(spec, self.profile)
        if self.mend is None and edit is None:
            return content
        root = etree.fromstring(content)
        for step in (self.mend, edit):
            if step is not None:
                step(root)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def seller(**changes: object) -> Callable[[Spec], Spec]:
    return lambda spec: replace(spec, seller=replace(spec.seller, **changes))


def buyer(**changes: object) -> Callable[[Spec], Spec]:
    return lambda spec: replace(spec, buyer=replace(spec.buyer, **changes))


def spec(**changes: object) -> Callable[[Spec], Spec]:
    return lambda s: replace(s, **changes)


def line(index: int, **changes: object) -> Callable[[Spec], Spec]:
    def change(s: Spec) -> Spec:
        lines = list(s.lines)
        lines[index] = replace(lines[index], **changes)
        return replace(s, lines=tuple(lines))

    return change


_BREAKERS = [
    # -- BR-nn: what an invoice must hold ----------------------------------------------------
    Breaker(
        "BR-01",
        "no specification identifier (CustomizationID)",
        "ubl",
        edit=remove("cbc:CustomizationID"),
    ),
    Breaker("BR-07", "an empty buyer name", "ubl", change=buyer(name="")),
    Breaker(
        "BR-10",
        "no buyer postal address",
        "ubl",
        edit=remove("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress"),
    ),
    Breaker(
        "BR-11",
        "a buyer postal address without its country",
        "ubl",
        edit=remove("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country"),
    ),
    Breaker("BR-21", "a line without its identifier", "ubl", change=line(0, id="")),
    Breaker("BR-25", "a line whose item has no name", "ubl", change=line(0, name="")),
    Breaker(
        "BR-27",
        "a negative net price (and quantity)",
        "ubl",
        change=line(0, quantity=D("-12"), price=D("-4.50")),
    ),
    Breaker(
        "BR-27",
        "a negative net price (and quantity)",
        "cii",
        change=line(0, quantity=D("-12"), price=D("-4.50")),
    ),
    Breaker(
        "BR-29",
        "an invoicing period that ends before it starts",
        "ubl",
        WITH_PERIODS,
        spec(period=(date(2026, 2, 28), date(2026, 2, 1))),
    ),
    Breaker(
        "BR-29",
        "an invoicing period that ends before it starts",
        "cii",
        WITH_PERIODS,
        spec(period=(date(2026, 2, 28), date(2026, 2, 1))),
    ),
    Breaker(
        "BR-30",
        "a line period that ends before it starts",
        "ubl",
        WITH_PERIODS,
        line(0, period=(date(2026, 2, 14), date(2026, 2, 1))),
    ),
    Breaker(
        "BR-52",
        "a supporting document without its reference",
        "ubl",
        WITH_ATTACHMENT,
        spec(attachments=(replace(WITH_ATTACHMENT.attachments[0], id=""),)),
    ),
    Breaker(
        "BR-61",
        "a credit transfer without the account to pay",
        "ubl",
        change=spec(payment_means=(PaymentMeans("30"),)),
    ),
    Breaker(
        "BR-62",
        "a seller electronic address without its scheme",
        "ubl",
        change=seller(
            ids=(Id(SUPPLIER_SIRET, "0009", "legal"), Id(SUPPLIER_SIRET, None, "endpoint"))
        ),
    ),
    Breaker(
        "BR-63",
        "a buyer electronic address without its scheme",
        "ubl",
        change=buyer(ids=(Id(VALBRUNE, None, "endpoint"), Id(VALBRUNE, "0009", "legal"))),
    ),
    # -- BR-CO-nn: what must agree -----------------------------------------------------------
    Breaker(
        "BR-CO-03",
        "both a VAT point date and a VAT point date code",
        "ubl",
        WITH_PERIODS,
        edit=edits(
            add_after("cac:InvoicePeriod/cbc:EndDate", "cbc:DescriptionCode", "35"),
            add_before("cbc:DocumentCurrencyCode", "cbc:TaxPointDate", "2026-02-28"),
        ),
    ),
    Breaker(
        "BR-CO-09",
        "a seller VAT identifier without its country prefix",
        "ubl",
        change=seller(vat=SUPPLIER_SIREN),
    ),
    Breaker(
        "BR-CO-09",
        "a seller VAT identifier without its country prefix",
        "cii",
        change=seller(vat=SUPPLIER_SIREN),
    ),
    # a cent more on a line and its rate's base: within the hub's tolerance, not the rule's
    Breaker(
        "BR-CO-10",
        "lines adding up to a cent more than their sum (BT-106)",
        "ubl",
        edit=edits(
            shifted(U_LINE + "cbc:LineExtensionAmount", "0.01"),
            shifted(U_SUBTOTAL_20 + "cbc:TaxableAmount", "0.01"),
        ),
    ),
    Breaker(
        "BR-CO-10",
        "lines adding up to a cent more than their sum (BT-106)",
        "cii",
        edit=edits(
            shifted(C_LINE + C_LINE_TOTAL, "0.01"), shifted(C_TAX_20 + "ram:BasisAmount", "0.01")
        ),
    ),
    # -- BR-DEC-nn: two decimals at most (CII: UBL's own UBL-DT-01 says it too) ----------------
    Breaker(
        "BR-DEC-01",
        "a document allowance amount with three decimals",
        "cii",
        edit=third_decimal(C_SETTLEMENT + "ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount"),
    ),
    Breaker(
        "BR-DEC-06",
        "a document charge base amount with three decimals",
        "cii",
        WITH_CHARGE,
        edit=third_decimal(C_SETTLEMENT + "ram:SpecifiedTradeAllowanceCharge[2]/ram:BasisAmount"),
    ),
    Breaker(
        "BR-DEC-09",
        "a sum of line net amounts with three decimals",
        "cii",
        edit=third_decimal(C_TOTAL + "ram:LineTotalAmount"),
    ),
    Breaker(
        "BR-DEC-12",
        "a total without VAT with three decimals",
        "cii",
        edit=third_decimal(C_TOTAL + "ram:TaxBasisTotalAmount"),
    ),
    Breaker(
        "BR-DEC-14",
        "a total with VAT with three decimals",
        "cii",
        edit=third_decimal(C_TOTAL + "ram:GrandTotalAmount"),
    ),
    Breaker(
        "BR-DEC-18",
        "an amount due with three decimals",
        "cii",
        edit=third_decimal(C_TOTAL + "ram:DuePayableAmount"),
    ),
    Breaker(
        "BR-DEC-19",
        "a VAT category taxable amount with three decimals",
        "cii",
        edit=third_decimal(C_SETTLEMENT + "ram:ApplicableTradeTax[1]/ram:BasisAmount"),
    ),
    Breaker(
        "BR-DEC-20",
        "a VAT category tax amount with three decimals",
        "cii",
        edit=third_decimal(C_SETTLEMENT + "ram:ApplicableTradeTax[1]/ram:CalculatedAmount"),
    ),
    Breaker(
        "BR-DEC-23",
        "a line net amount with three decimals",
        "cii",
        edit=third_decimal(C_LINE + C_LINE_TOTAL),
    ),
    Breaker(
        "BR-DEC-24",
        "a line allowance amount with three decimals",
        "cii",
        edit=third_decimal(
            "//ram:IncludedSupplyChainTradeLineItem[2]//"
            "ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount"
        ),
    ),
    # -- VAT categories: S, Z, E, AE, K (IC), G, O, L (IGIC: AF), M (IPSI: AG) ---------------
    Breaker(
        "BR-S-02",
        "a standard rated line from a seller without VAT identifier",
        "ubl",
        STANDARD_ONLY,
        seller(vat=None),
    ),
    Breaker(
        "BR-S-02",
        "a standard rated line from a seller without VAT identifier",
        "cii",
        STANDARD_ONLY,
        seller(vat=None),
    ),
    Breaker(
        "BR-S-05",
        "a standard rated line without its VAT rate",
        "ubl",
        FREE_SAMPLE,
        edit=remove("cac:InvoiceLine[4]/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"),
    ),
    Breaker(
        "BR-S-10",
        "a standard rated breakdown with an exemption reason",
        "ubl",
        edit=add_after(
            U_SUBTOTAL_20 + "cac:TaxCategory/cbc:Percent", "cbc:TaxExemptionReason", "Exonération"
        ),
    ),
    Breaker(
        "BR-Z-05",
        "a zero rated line at 5 %",
        "ubl",
        ZERO_RATED,
        edit=set_text("cac:InvoiceLine[4]/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", "5"),
    ),
    Breaker(
        "BR-Z-10",
        "a zero rated breakdown with an exemption reason",
        "cii",
        ZERO_RATED,
        edit=add_before(
            C_TAX.format("Z") + "ram:BasisAmount", "ram:ExemptionReason", "Exonération"
        ),
    ),
    Breaker(
        "BR-E-02",
        "exempt lines from a seller without VAT identifier",
        "ubl",
        EXEMPT_ONLY,
        seller(vat=None),
    ),
    Breaker(
        "BR-E-10",
        "an exempt breakdown without its exemption reason",
        "ubl",
        EXEMPT,
        edit=edits(
            remove(U_SUBTOTAL.format("E") + "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
            remove(U_SUBTOTAL.format("E") + "cac:TaxCategory/cbc:TaxExemptionReason"),
        ),
    ),
    Breaker(
        "BR-E-10",
        "an exempt breakdown without its exemption reason",
        "cii",
        EXEMPT,
        edit=edits(
            remove(C_TAX.format("E") + "ram:ExemptionReason"),
            remove(C_TAX.format("E") + "ram:ExemptionReasonCode"),
        ),
    ),
    Breaker(
        "BR-AE-02",
        "reverse charge from a seller without VAT identifier",
        "ubl",
        REVERSE_CHARGE,
        seller(vat=None),
    ),
    Breaker(
        "BR-AE-02",
        "reverse charge from a seller without VAT identifier",
        "cii",
        REVERSE_CHARGE,
        seller(vat=None),
    ),
    Breaker(
        "BR-AE-10",
        "a reverse charge breakdown without its exemption reason",
        "ubl",
        REVERSE_CHARGE,
        edit=edits(
            remove(U_SUBTOTAL.format("AE") + "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
            remove(U_SUBTOTAL.format("AE") + "cac:TaxCategory/cbc:TaxExemptionReason"),
        ),
    ),
    Breaker(
        "BR-IC-02",
        "an intra-community supply to a buyer without VAT identifier",
        "ubl",
        INTRA_COMMUNITY,
        buyer(vat=None),
        mend=ubl_deliver_to,
    ),
    Breaker(
        "BR-IC-11",
        "an intra-community supply without delivery date",
        "ubl",
        INTRA_COMMUNITY,
        spec(delivery_date=None),
        mend=ubl_deliver_to,
    ),
    Breaker(
        "BR-IC-12",
        "an intra-community supply without deliver-to country",
        "cii",
        INTRA_COMMUNITY,
        edit=remove("//ram:ShipToTradeParty/ram:PostalTradeAddress"),
        mend=cii_deliver_to,
    ),
    Breaker(
        "BR-G-02", "an export from a seller without VAT identifier", "ubl", EXPORT, seller(vat=None)
    ),
    Breaker(
        "BR-G-02", "an export from a seller without VAT identifier", "cii", EXPORT, seller(vat=None)
    ),
    Breaker(
        "BR-O-02",
        "lines outside the scope of VAT from a seller with a VAT identifier",
        "ubl",
        OUTSIDE_SCOPE,
        seller(vat=SELLER.vat),
    ),
    Breaker(
        "BR-O-05",
        "a line outside the scope of VAT with a VAT rate",
        "ubl",
        OUTSIDE_SCOPE,
        edit=add_after(U_LINE + "cac:Item/cac:ClassifiedTaxCategory/cbc:ID", "cbc:Percent", "0"),
    ),
    Breaker(
        "BR-AF-02", "IGIC lines from a seller without VAT identifier", "ubl", IGIC, seller(vat=None)
    ),
    Breaker(
        "BR-AG-02", "IPSI lines from a seller without VAT identifier", "cii", IPSI, seller(vat=None)
    ),
    # -- BR-FR-nn: the French reform's rules (br_fr on) --------------------------------------
    Breaker(
        "BR-FR-05_BT-22-1",
        "no note with the recovery fee (#PMT#)",
        "ubl",
        FRENCH,
        spec(notes=FRENCH.notes[1:]),
        sets=BR_FR_SET,
    ),
    Breaker(
        "BR-FR-08_BT-23",
        "a billing frame (BT-23) that is not the reform's",
        "ubl",
        FRENCH,
        spec(business_process="A1"),
        sets=BR_FR_SET,
    ),
    Breaker(
        "BR-FR-06_BT-21-1",
        "the recovery fee note (#PMT#) twice",
        "ubl",
        FRENCH,
        spec(notes=(*FRENCH.notes, FRENCH.notes[0])),
        sets=BR_FR_SET,
    ),
    Breaker(
        "BR-FR-13_BT-34",
        "a seller without electronic address (BT-34)",
        "ubl",
        FRENCH,
        seller(ids=(FRENCH.seller.ids[0], FRENCH.seller.ids[2])),
        sets=BR_FR_SET,
    ),
    Breaker(
        "BR-FR-05_BT-22_PMD",
        "no note about late payment penalties (PMD)",
        "cii",
        FRENCH,
        spec(notes=(FRENCH.notes[0], FRENCH.notes[2])),
        sets=BR_FR_SET,
        mend=cii_subject_codes,
    ),
    Breaker(
        "BR-FR-08_BT-23",
        "a billing frame (BT-23) that is not the reform's",
        "cii",
        FRENCH,
        spec(business_process="A1"),
        sets=BR_FR_SET,
        mend=cii_subject_codes,
    ),
]

BREAKERS: tuple[Breaker, ...] = tuple(
    replace(breaker, index=index) for index, breaker in enumerate(_BREAKERS, start=1)
)
