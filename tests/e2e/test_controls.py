"""The hub's business controls (docs/architecture.md#business-controls, issue 5) end to end
through the CLI.

For every control of the catalogue, an invoice that passes and one that fails, seen as
the depositor sees them (the CR in its outbox) and as an operator does (`flows show
--json`): a failing invoice is REFUSEE_RECEPTION (no lifecycle code), its flow IN_REJETE
when it is alone, and its CR line names the code, the element and the value found, in
French with the English message in the description; a warning lets the invoice through. Each CR
line says whether it rejected or warned (`NatureErreur`, and `severity=` in its
description). These are the default severities; tests/e2e/test_control_severity.py sets
others.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from edi_engine.controls import CATALOGUE
from edi_engine.processing.report import parse

from .conftest import (
    HAUT_VERNAY,
    MONTCLAIR,
    RECIPIENT,
    SUPPLIER_1,
    SUPPLIER_2,
    VALBRUNE,
    Home,
    sample,
)

# the hub's own controls alone: their invoices break EN 16931's totals on purpose
pytestmark = pytest.mark.usefixtures("rules_off")

PARIS = ZoneInfo("Europe/Paris")  # the hub's default time zone

SUPPLIER_SIRET = "81234567600025"  # FOUR01's, the supplier of ubl-invoice.xml
OTHER_SUPPLIER_SIRET = "82345678500018"  # FOUR02's
UNKNOWN_SIRET = "73282932000074"  # well formed, in no referential
LA_POSTE_SIRET = "35600000000001"  # La Poste's SIREN: digits sum to 15, Luhn fails
IBAN = "FR7630099001230001234567827"  # the sample's, valid
BAD_IBAN = "FR7530099001230001234567827"  # same account, wrong check digits

UBL_NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CII_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
CAC = f"{{{UBL_NS['cac']}}}"
CBC = f"{{{UBL_NS['cbc']}}}"
RAM = f"{{{CII_NS['ram']}}}"
MONETARY_TOTALS = (  # cac:LegalMonetaryTotal, in schema order
    "LineExtensionAmount",
    "TaxExclusiveAmount",
    "TaxInclusiveAmount",
    "AllowanceTotalAmount",
    "ChargeTotalAmount",
    "PrepaidAmount",
    "PayableRoundingAmount",
    "PayableAmount",
)
KEEP = object()  # leave the sample's value


def today() -> date:
    """The deposit date the hub will give a flow dropped now: today in Paris."""
    return datetime.now(PARIS).date()


# -- building invoices --------------------------------------------------------------


def _set(root: etree._Element, path: str, value: str, ns: dict[str, str] = UBL_NS) -> None:
    found = root.xpath(path, namespaces=ns)
    assert found, f"nothing at {path}"
    for element in found:
        element.text = value


def _drop_all(root: etree._Element, path: str, ns: dict[str, str] = UBL_NS) -> None:
    for element in root.xpath(path, namespaces=ns):
        element.getparent().remove(element)


def _ubl_tax_category(parent: etree._Element, tag: str, rate: str) -> None:
    category = etree.SubElement(parent, CAC + tag)
    etree.SubElement(category, CBC + "ID").text = "S"
    etree.SubElement(category, CBC + "Percent").text = rate
    scheme = etree.SubElement(category, CAC + "TaxScheme")
    etree.SubElement(scheme, CBC + "ID").text = "VAT"


def ubl(
    number: str = "F01-2026-000101",
    *,
    issue_date: date | str | None = None,
    type_code: str | None = None,
    currency: str | None = None,
    buyer: str = VALBRUNE,
    buyer_scheme: str = "0009",
    service: object = KEEP,  # str, or None for no BuyerReference
    engagement: object = KEEP,  # str, or None for no OrderReference
    supplier: str | None = None,
    iban: object = KEEP,  # str, or None for no bank account
    totals: dict[str, str] | None = None,  # LegalMonetaryTotal/cbc:<name> -> amount
    vat_total: str | None = None,  # TaxTotal/TaxAmount (BT-110)
    vat: Iterable[tuple[str, str, str]] | None = None,  # (rate, base, amount) each
    line_rates: Iterable[str] | None = None,  # the VAT rate of each of the three lines
    document_charges: Iterable[tuple[bool, str, str]] = (),  # (is charge, amount, rate)
) -> bytes:
    """ubl-invoice.xml (FOUR01 to VALBRUNE, service SERV-SCOL, engagement EJ-VAL-2026-0412,
    three lines 170.00 + 188.70 at 20 % and 350.40 at 5.5 %, HT 709.10, VAT 71.74 + 19.27
    = 91.01, TTC and net 800.11) with what a test changes."""
    root = etree.fromstring(sample("ubl-invoice.xml"))
    _set(root, "cbc:ID", number)
    if issue_date is not None:
        _set(root, "cbc:IssueDate", str(issue_date))
        _drop_all(root, "cbc:DueDate")
    if type_code is not None:
        _set(root, "cbc:InvoiceTypeCode", type_code)
    if currency is not None:
        _set(root, "cbc:DocumentCurrencyCode", currency)
        for element in root.xpath("//*[@currencyID]"):
            element.set("currencyID", currency)
    customer = "cac:AccountingCustomerParty/cac:Party/"
    for path in (
        "cbc:EndpointID",
        "cac:PartyIdentification/cbc:ID",
        "cac:PartyLegalEntity/cbc:CompanyID",
    ):
        _set(root, customer + path, buyer)
        root.xpath(customer + path, namespaces=UBL_NS)[0].set("schemeID", buyer_scheme)
    if service is None:
        _drop_all(root, "cbc:BuyerReference")
    elif service is not KEEP:
        _set(root, "cbc:BuyerReference", service)
    if engagement is None:
        _drop_all(root, "cac:OrderReference")
    elif engagement is not KEEP:
        _set(root, "cac:OrderReference/cbc:ID", engagement)
    if supplier is not None:
        seller = "cac:AccountingSupplierParty/cac:Party/"
        for path in ("cbc:EndpointID", "cac:PartyIdentification/cbc:ID"):
            _set(root, seller + path, supplier)
        _set(root, seller + "cac:PartyLegalEntity/cbc:CompanyID", supplier)
    if iban is None:
        _drop_all(root, "cac:PaymentMeans/cac:PayeeFinancialAccount")
    elif iban is not KEEP:
        _set(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", iban)
    if line_rates is not None:
        for line, rate in zip(
            root.xpath("cac:InvoiceLine", namespaces=UBL_NS), line_rates, strict=True
        ):
            _set(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", rate)
    tax_total = root.find(CAC + "TaxTotal")
    if vat is not None:
        _drop_all(tax_total, "cac:TaxSubtotal")
        for rate, base, amount in vat:
            subtotal = etree.SubElement(tax_total, CAC + "TaxSubtotal")
            for tag, value in (("TaxableAmount", base), ("TaxAmount", amount)):
                etree.SubElement(subtotal, CBC + tag, currencyID="EUR").text = value
            _ubl_tax_category(subtotal, "TaxCategory", rate)
    if vat_total is not None:
        _set(tax_total, "cbc:TaxAmount", vat_total)
    for is_charge, amount, rate in document_charges:
        charge = etree.Element(CAC + "AllowanceCharge")
        etree.SubElement(charge, CBC + "ChargeIndicator").text = str(is_charge).lower()
        etree.SubElement(charge, CBC + "AllowanceChargeReason").text = (
            "Frais de livraison" if is_charge else "Remise fidélité"
        )
        etree.SubElement(charge, CBC + "Amount", currencyID="EUR").text = amount
        _ubl_tax_category(charge, "TaxCategory", rate)
        tax_total.addprevious(charge)
    if totals:
        monetary = root.find(CAC + "LegalMonetaryTotal")
        values = {etree.QName(child).localname: child.text for child in monetary}
        values.update(totals)
        for child in list(monetary):
            monetary.remove(child)
        for name in MONETARY_TOTALS:
            if values.get(name) is not None:
                etree.SubElement(monetary, CBC + name, currencyID="EUR").text = values[name]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def cii(
    number: str = "F02-2026-000501",
    changes: dict[str, str] | None = None,
    inserted: dict[str, str] | None = None,
) -> bytes:
    """cii-invoice.xml (FOUR02 to VALBRUNE, HT 1989.40, VAT 397.88, TTC and due 2387.28):
    `changes` sets elements of the monetary summation, `inserted` adds some before
    ram:DuePayableAmount (TotalPrepaidAmount is the one that goes there)."""
    root = etree.fromstring(sample("cii-invoice.xml"))
    _set(root, "rsm:ExchangedDocument/ram:ID", number, CII_NS)
    summation = root.find(".//" + RAM + "SpecifiedTradeSettlementHeaderMonetarySummation")
    for name, value in (changes or {}).items():
        _set(summation, f"ram:{name}", value, CII_NS)
    due = summation.find(RAM + "DuePayableAmount")
    for name, value in (inserted or {}).items():
        element = etree.Element(RAM + name)
        element.text = value
        due.addprevious(element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def pivot(changes: dict[tuple[int, str], str] | None = None) -> bytes:
    """pivot-multi.xml (FOUR02: 1 to MONTCLAIR, 2 to VALBRUNE, 3 to a structure the demo
    does not know) with `changes`: (invoice NumOrdre, path inside it) -> text."""
    root = etree.fromstring(sample("pivot-multi.xml"))
    for (order, path), value in (changes or {}).items():
        _set(root, f"CPPFactures/CPPFacturePivotUnitaire[@NumOrdre='{order}']/{path}", value, {})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def batch(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(f"{name}.xml", content)
    return buffer.getvalue()


# -- the referential ----------------------------------------------------------------

SERVICES = (
    "siret,code,name,active\n"
    f"{VALBRUNE},SERV-SCOL,Écoles,oui\n"
    f"{VALBRUNE},SERV-TECH,Services techniques,oui\n"
    f"{VALBRUNE},SERV-OLD,Ancien service des fêtes,non\n"
)
ENGAGEMENTS = (
    "siret,engagement,supplier,service_code\n"
    f"{VALBRUNE},EJ-VAL-2026-0412,{SUPPLIER_SIRET},SERV-SCOL\n"
    f"{VALBRUNE},EJ-VAL-2026-0500,,\n"  # for any supplier, any service
    f"{VALBRUNE},EJ-VAL-2026-0600,{OTHER_SUPPLIER_SIRET},SERV-SCOL\n"
    f"{VALBRUNE},EJ-VAL-2026-0700,{SUPPLIER_SIRET},SERV-TECH\n"
)


def _import(home: Home, command: str, name: str, text: str) -> None:
    path = home.path / name
    path.write_text(text, encoding="utf-8")
    home.invoke("structures", command, path)


def requires(home: Home, *flags: str, siret: str = VALBRUNE) -> None:
    """Give a structure requirement flags (engagement_required, service_code_required,
    engagement_or_service_code)."""
    columns = ("engagement_required", "service_code_required", "engagement_or_service_code")
    values = ",".join("oui" if column in flags else "non" for column in columns)
    _import(
        home,
        "import",
        "requirements.csv",
        f"siret,designation,active,partner,{','.join(columns)}\n"
        f"{siret},Commune de Valbrune,true,{RECIPIENT},{values}\n",
    )


def with_services(home: Home) -> None:
    _import(home, "import-services", "services.csv", SERVICES)


def with_engagements(home: Home) -> None:
    """The services first: an engagement names one of its structure's services."""
    with_services(home)
    _import(home, "import-engagements", "engagements.csv", ENGAGEMENTS)


# -- what the depositor and the operator see ----------------------------------------


@dataclass
class CrLine:
    code: str
    nature: str
    message: str  # LibelleErreur: French for a business control
    detail: str  # DescriptionErreur: "facture=…; …; en: <English>; severity=…; …"
    invoice: str | None  # IdLigne: the invoice's position in the flow


@dataclass
class Outcome:
    """One flow after `run --once`, as every party can see it."""

    flow: dict
    detail: dict
    cr_status: str  # IdStatut of the CR
    cr_comment: str  # Commentaire of the CR
    cr_lines: list[CrLine]
    ledger: list[tuple[str, str, str]]  # (number, status, status_code) by position
    errors: list[dict] = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.flow["status"]

    def codes(self) -> list[str]:
        return [line.code for line in self.cr_lines]

    def line(self, code: str) -> CrLine:
        (found,) = [line for line in self.cr_lines if line.code == code]
        return found

    def error(self, code: str) -> dict:
        (found,) = [error for error in self.errors if error["code"] == code]
        return found


def _outcome(home: Home, flow: dict) -> Outcome:
    number, partner = flow["number"], flow["partner"]
    cr = etree.parse(str(home.path / "outbox" / partner / f"CR_{partner}_{number}.xml"))
    lines = [
        CrLine(
            line.findtext("CodeErreur"),
            line.findtext("NatureErreur"),
            line.findtext("LibelleErreur"),
            line.findtext("DescriptionErreur") or "",
            line.get("IdLigne"),
        )
        for line in cr.iter("LigneErreurDetail")
    ]
    detail = home.show(number)
    ledger = [(i["number"], i["status"], i["status_code"]) for i in detail["invoice_list"]]
    return Outcome(
        flow,
        detail,
        cr.findtext(".//IdStatut"),
        cr.findtext(".//Commentaire") or "",
        lines,
        ledger,
        errors=detail["errors"],
    )


def deposit(home: Home, *contents: bytes, partner: str = SUPPLIER_1) -> list[Outcome]:
    """Drop each content as its own file, run once, and see each flow in drop order."""
    names = []
    for index, content in enumerate(contents, start=1):
        suffix = ".zip" if content[:2] == b"PK" else ".xml"
        names.append(f"deposit-{index:02d}{suffix}")
        home.drop(partner, names[-1], content)
    by_name = {flow["file_name"]: flow for flow in home.run()}
    return [_outcome(home, by_name[name]) for name in names]


def delivered(home: Home) -> list[etree._Element]:
    """The pivots in DEST01's outbox, one CPPFacturePivotUnitaire each."""
    folder = home.path / "outbox" / RECIPIENT
    return [
        etree.parse(str(path)).find("CPPFactures/CPPFacturePivotUnitaire")
        for path in sorted(folder.glob("PIVOT_*.xml"))
    ]


def assert_accepted(outcome: Outcome) -> None:
    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE", "90"), outcome.cr_lines
    assert outcome.cr_lines == []
    assert [(status, code) for _, status, code in outcome.ledger] == [("MISE_A_DISPOSITION", "03")]
    (invoice,) = outcome.detail["invoice_list"]
    assert invoice["status"] == "MISE_A_DISPOSITION" and invoice["pivot_file"]


def assert_rejected(
    outcome: Outcome,
    code: str,
    value: str | None,
    *,
    names: Iterable[str] = (),
    element: str | None = None,
) -> CrLine:
    """The flow's only invoice is refused for `code` (among others, perhaps): its CR line
    and its `flows show` error name the value found (or, without a value, `names`)."""
    assert (outcome.state, outcome.cr_status) == ("IN_REJETE", "93"), outcome.cr_lines
    assert [(status, status_code) for _, status, status_code in outcome.ledger] == [
        ("REFUSEE_RECEPTION", None)
    ]
    (invoice,) = outcome.detail["invoice_list"]
    assert (invoice["status"], invoice["pivot_file"]) == ("REFUSEE_RECEPTION", None)
    return assert_line(outcome, code, value, names=names, element=element)


def assert_line(
    outcome: Outcome,
    code: str,
    value: str | None,
    *,
    names: Iterable[str] = (),
    element: str | None = None,
    nature: str = "Facture",
    invoice: str = "1",
) -> CrLine:
    control = CATALOGUE[code]
    line = outcome.line(code)
    error = outcome.error(code)
    assert (line.nature, line.invoice) == (nature, invoice)
    assert error["severity"] == control.severity
    items = dict(parse(line.detail))  # French keys, then "en", then English keys
    assert items["severity"] == control.severity
    assert items["gravité"] == {"reject": "rejet", "warning": "avertissement"}[control.severity]
    assert (error["invoice"], error["value"]) == (int(invoice), value)
    element = element or control.element
    assert error["element"] == element
    # French first (LibelleErreur), English after it in the description
    assert line.message == error["message_fr"] and line.message != error["message"]
    assert items["en"] == error["message"].rstrip("."), line.detail
    assert items["élément"] == items["element"] == element
    for name in (value, *names) if value is not None else names:
        assert name in line.message, (name, line.message)
        assert name in error["message"], (name, error["message"])
    if value is not None:
        assert items["valeur"] == items["value"] == value
    return line


def assert_warned(outcome: Outcome, code: str, value: str | None) -> CrLine:
    """The flow's only invoice is delivered all the same, with `code` as a warning."""
    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE", "90"), outcome.cr_lines
    assert [(status, status_code) for _, status, status_code in outcome.ledger] == [
        ("MISE_A_DISPOSITION", "03")
    ]
    (invoice,) = outcome.detail["invoice_list"]
    assert invoice["pivot_file"]
    return assert_line(outcome, code, value, nature="Avertissement")


# -- one passing and one failing invoice for each control ---------------------------


@dataclass(frozen=True)
class Case:
    good: dict
    bad: dict
    value: str | None  # what the failing invoice's CR line must name
    names: tuple[str, ...] = ()  # what else it must name (the structure, the facts)
    setup: tuple[str, ...] = ()  # "services", "engagements", or requirement flags
    element: str | None = None  # when it is not the catalogue's (a reader's path)


CASES: dict[str, Case] = {
    "RECIPIENT_MISSING": Case(
        good={},
        bad={"buyer": "3012345678901", "buyer_scheme": "0088"},  # a GLN
        value="3012345678901",
        names=("0088",),
    ),
    "RECIPIENT_INVALID": Case(good={}, bad={"buyer": "21990101400016"}, value="21990101400016"),
    "RECIPIENT_UNKNOWN": Case(good={}, bad={"buyer": UNKNOWN_SIRET}, value=UNKNOWN_SIRET),
    "RECIPIENT_INACTIVE": Case(
        good={"buyer": MONTCLAIR},
        bad={"buyer": HAUT_VERNAY},
        value=HAUT_VERNAY,
        names=("Haut-Vernay",),
    ),
    "SERVICE_CODE_REQUIRED": Case(
        good={"service": "SERV-SCOL"},
        bad={"service": None},
        value=None,
        names=(VALBRUNE, "Commune de Valbrune"),
        setup=("service_code_required",),
    ),
    "SERVICE_CODE_UNKNOWN": Case(
        good={"service": "SERV-TECH"},
        bad={"service": "SERV-VOIRIE"},
        value="SERV-VOIRIE",
        names=(VALBRUNE,),
        setup=("services",),
    ),
    "SERVICE_CODE_INACTIVE": Case(
        good={"service": "SERV-SCOL"},
        bad={"service": "SERV-OLD"},
        value="SERV-OLD",
        names=(VALBRUNE,),
        setup=("services",),
    ),
    "ENGAGEMENT_REQUIRED": Case(
        good={"engagement": "EJ-VAL-2026-0412", "service": None},
        bad={"engagement": None},
        value=None,
        names=(VALBRUNE, "Commune de Valbrune"),
        setup=("engagement_required",),
    ),
    "ENGAGEMENT_OR_SERVICE_CODE_REQUIRED": Case(
        good={"engagement": None, "service": "SERV-SCOL"},
        bad={"engagement": None, "service": None},
        value=None,
        names=(VALBRUNE,),
        setup=("engagement_or_service_code",),
    ),
    "ENGAGEMENT_UNKNOWN": Case(
        good={"engagement": "EJ-VAL-2026-0412"},
        bad={"engagement": "EJ-VAL-2026-9999"},
        value="EJ-VAL-2026-9999",
        names=(VALBRUNE, SUPPLIER_SIRET),
        setup=("engagements",),
    ),
    "ISSUE_DATE_AFTER_DEPOSIT": Case(
        good={"issue_date": "today"},
        bad={"issue_date": "in two days"},
        value="in two days",
        names=("today",),
    ),
    "UNSUPPORTED_TYPE": Case(
        good={"type_code": "384"},  # a corrected invoice, carried as a 380
        bad={"type_code": "389"},  # self-billed
        value="389",
        element="cbc:InvoiceTypeCode",
    ),
    "CURRENCY_UNKNOWN": Case(good={"currency": "USD"}, bad={"currency": "ABC"}, value="ABC"),
    "TOTAL_LINES_MISMATCH": Case(
        # a charge of 100.00 and an allowance of 9.10 at 20 %: HT 800.00 = 709.10 - 9.10 + 100
        good={
            "document_charges": ((True, "100.00", "20"), (False, "9.10", "20")),
            "totals": {
                "TaxExclusiveAmount": "800.00",
                "AllowanceTotalAmount": "9.10",
                "ChargeTotalAmount": "100.00",
                "TaxInclusiveAmount": "909.19",
                "PayableAmount": "909.19",
            },
            "vat": (("20", "449.60", "89.92"), ("5.5", "350.40", "19.27")),
            "vat_total": "109.19",
        },
        # the charge is declared but left out of HT (and so of the VAT bases)
        bad={
            "document_charges": ((True, "100.00", "20"),),
            "totals": {"ChargeTotalAmount": "100.00"},
        },
        value="709.10",
        names=("809.10", "100.00"),
    ),
    "TOTAL_VAT_BASE_MISMATCH": Case(
        good={},
        # the charge is in HT, but not in the VAT bases
        bad={
            "document_charges": ((True, "100.00", "20"),),
            "totals": {
                "TaxExclusiveAmount": "809.10",
                "ChargeTotalAmount": "100.00",
                "TaxInclusiveAmount": "900.11",
                "PayableAmount": "900.11",
            },
        },
        value="809.10",
        names=("709.10",),
    ),
    "TOTAL_VAT_AMOUNT_MISMATCH": Case(
        good={},
        bad={
            "vat": (("20", "358.70", "72.84"), ("5.5", "350.40", "19.27")),
            "vat_total": "92.11",
            "totals": {"TaxInclusiveAmount": "801.21", "PayableAmount": "801.21"},
        },
        value="72.84",
        names=("71.74", "358.70"),
    ),
    "TOTAL_TTC_MISMATCH": Case(
        good={},
        bad={"totals": {"TaxInclusiveAmount": "800.13", "PayableAmount": "800.13"}},
        value="800.13",
        names=("800.11", "91.01"),
    ),
    "TOTAL_NET_MISMATCH": Case(
        good={"totals": {"PrepaidAmount": "100.00", "PayableAmount": "700.11"}},
        bad={"totals": {"PrepaidAmount": "100.00", "PayableAmount": "800.11"}},
        value="800.11",
        names=("700.11", "100.00"),
    ),
}
# TOTAL_VAT_LINES_MISMATCH (one line per rate), INVOICE_DUPLICATE (two deposits) and the
# warnings ENGAGEMENT_SERVICE_MISMATCH and IBAN_INVALID have tests of their own below;
# ENGAGEMENT_INACTIVE (a commitment withdrawn) is tested in test_operator_papercuts.py.
SEPARATE = {
    "ENGAGEMENT_INACTIVE",
    "TOTAL_VAT_SUM_MISMATCH",
    "TOTAL_VAT_LINES_MISMATCH",
    "INVOICE_DUPLICATE",
    "ENGAGEMENT_SERVICE_MISMATCH",
    "IBAN_INVALID",
    "SUPPLIER_NOT_ALLOWED",  # tests/e2e/test_depositors.py
    "INVOICE_NUMBER_INVISIBLE_CHARACTERS",  # tests/e2e/test_lookalike_duplicates.py
}


def test_every_control_of_the_catalogue_is_tested() -> None:
    assert set(CASES) | SEPARATE == set(CATALOGUE)
    assert not set(CASES) & SEPARATE


def _relative(value: object) -> object:
    """Cases name the dates relative to the deposit: "today", "in two days"."""
    relative = {"today": today(), "in two days": today() + timedelta(days=2)}
    return relative.get(value, value) if isinstance(value, str) else value


def _dates(kwargs: dict) -> dict:
    return {key: _relative(value) for key, value in kwargs.items()}


def _text(value: str) -> str:
    return str(_relative(value))


def _prepare(home: Home, setup: Iterable[str]) -> None:
    flags = [flag for flag in setup if flag not in ("services", "engagements")]
    if flags:
        requires(home, *flags)
    if "services" in setup:
        with_services(home)
    if "engagements" in setup:
        with_engagements(home)


@pytest.mark.parametrize("code", sorted(CASES))
def test_control_passes_a_good_invoice_and_rejects_a_bad_one(home: Home, code: str) -> None:
    case = CASES[code]
    _prepare(home, case.setup)

    good, bad = deposit(
        home,
        ubl("F01-2026-000101", **_dates(case.good)),
        ubl("F01-2026-000102", **_dates(case.bad)),
    )

    assert_accepted(good)
    value = None if case.value is None else _text(case.value)
    names = tuple(_text(name) for name in case.names)
    line = assert_rejected(bad, code, value, names=names, element=case.element)
    assert CATALOGUE[code].severity == "reject"
    assert bad.codes() == [code], "the failing invoice fails this control alone"
    assert line.invoice == "1"
    assert [unit.findtext("DonneesFacture/Id") for unit in delivered(home)] == ["F01-2026-000101"]


def test_unsupported_type_gets_its_french_message_from_the_catalogue(home: Home) -> None:
    (bad,) = deposit(home, ubl(type_code="751"))
    line = assert_rejected(bad, "UNSUPPORTED_TYPE", "751", element="cbc:InvoiceTypeCode")
    assert line.message == CATALOGUE["UNSUPPORTED_TYPE"].fails("751").message_fr
    # the reader's own English reason stays
    assert "accounting" in bad.error("UNSUPPORTED_TYPE")["message"]


# -- referential: the details of each rule -----------------------------------------


def test_a_bad_recipient_is_reported_with_the_invoices_other_failures(home: Home) -> None:
    (bad,) = deposit(home, ubl(buyer=UNKNOWN_SIRET, iban=BAD_IBAN))
    assert_rejected(bad, "RECIPIENT_UNKNOWN", UNKNOWN_SIRET)
    assert bad.codes() == ["RECIPIENT_UNKNOWN", "IBAN_INVALID"]


def test_a_buyer_without_any_identifier_is_reported_as_such(home: Home) -> None:
    content = etree.fromstring(ubl())
    for path in ("cbc:EndpointID", "cac:PartyIdentification", "cac:PartyLegalEntity/cbc:CompanyID"):
        _drop_all(content, "cac:AccountingCustomerParty/cac:Party/" + path)
    (bad,) = deposit(home, etree.tostring(content))
    line = assert_rejected(bad, "RECIPIENT_MISSING", None)
    assert "SIRET" in line.message and "identifié par" not in line.message


def test_la_poste_siret_valid_by_its_own_rule_is_accepted_when_known(home: Home) -> None:
    _import(
        home,
        "import",
        "la-poste.csv",
        f"siret,designation,active,partner\n{LA_POSTE_SIRET},La Poste - Agence de Valbrune,"
        f"oui,{RECIPIENT}\n",
    )
    known, not_la_poste, broken = deposit(
        home,
        ubl("F01-2026-000101", buyer=LA_POSTE_SIRET),
        # digits summing to 10 too, but another SIREN: Luhn alone applies
        ubl("F01-2026-000102", buyer="35600000100005"),
        # La Poste's SIREN, digits summing to 16: neither rule holds
        ubl("F01-2026-000103", buyer="35600000000002"),
    )

    assert_accepted(known)
    assert delivered(home)[0].findtext("Debiteur/Identifiant") == LA_POSTE_SIRET
    assert_rejected(not_la_poste, "RECIPIENT_INVALID", "35600000100005")
    assert_rejected(broken, "RECIPIENT_INVALID", "35600000000002")


def test_service_codes_are_not_checked_for_a_structure_without_services(home: Home) -> None:
    with_services(home)  # VALBRUNE's only
    montclair, valbrune = deposit(
        home,
        ubl("F01-2026-000101", buyer=MONTCLAIR, service="ANYTHING", engagement=None),
        ubl("F01-2026-000102", service="ANYTHING"),
    )
    assert_accepted(montclair)
    assert_rejected(valbrune, "SERVICE_CODE_UNKNOWN", "ANYTHING")


def test_no_service_code_is_fine_unless_the_structure_requires_one(home: Home) -> None:
    with_services(home)
    (without,) = deposit(home, ubl(service=None))
    assert_accepted(without)
    assert delivered(home)[0].findtext("Debiteur/CodeService") is None


def test_a_required_service_code_must_also_be_an_active_service(home: Home) -> None:
    requires(home, "service_code_required")
    with_services(home)
    missing, inactive, fine = deposit(
        home,
        ubl("F01-2026-000101", service=None),
        ubl("F01-2026-000102", service="SERV-OLD"),
        ubl("F01-2026-000103", service="SERV-SCOL"),
    )
    assert_rejected(missing, "SERVICE_CODE_REQUIRED", None, names=(VALBRUNE,))
    assert_rejected(inactive, "SERVICE_CODE_INACTIVE", "SERV-OLD")
    assert_accepted(fine)


def test_engagement_or_service_code_accepts_either(home: Home) -> None:
    requires(home, "engagement_or_service_code")
    engagement_only, service_only, both = deposit(
        home,
        ubl("F01-2026-000101", service=None),
        ubl("F01-2026-000102", engagement=None),
        ubl("F01-2026-000103"),
    )
    for outcome in (engagement_only, service_only, both):
        assert_accepted(outcome)


def test_a_required_engagement_must_be_one_the_structure_published(home: Home) -> None:
    requires(home, "engagement_required")
    with_engagements(home)
    missing, unknown, published = deposit(
        home,
        ubl("F01-2026-000101", engagement=None),
        ubl("F01-2026-000102", engagement="EJ-VAL-2026-9999"),
        ubl("F01-2026-000103"),
    )
    assert_rejected(missing, "ENGAGEMENT_REQUIRED", None, names=(VALBRUNE,))
    assert missing.codes() == ["ENGAGEMENT_REQUIRED"]
    assert_rejected(unknown, "ENGAGEMENT_UNKNOWN", "EJ-VAL-2026-9999")
    assert_accepted(published)


def test_engagements_are_known_per_supplier(home: Home) -> None:
    with_engagements(home)
    for_another, for_anyone, anything_at_montclair = deposit(
        home,
        # published for FOUR02's SIRET, deposited by FOUR01
        ubl("F01-2026-000101", engagement="EJ-VAL-2026-0600"),
        # published with an empty supplier: any supplier may use it
        ubl("F01-2026-000102", engagement="EJ-VAL-2026-0500"),
        # a structure that publishes no engagements cannot know any
        ubl("F01-2026-000103", buyer=MONTCLAIR, engagement="EJ-WHATEVER"),
    )
    assert_rejected(for_another, "ENGAGEMENT_UNKNOWN", "EJ-VAL-2026-0600", names=(SUPPLIER_SIRET,))
    assert_accepted(for_anyone)
    assert_accepted(anything_at_montclair)

    # FOUR02 may use the one published for it
    (theirs,) = deposit(
        home,
        ubl("F02-2026-000900", supplier=OTHER_SUPPLIER_SIRET, engagement="EJ-VAL-2026-0600"),
        partner=SUPPLIER_2,
    )
    assert_accepted(theirs)


# -- the warning: accepted, delivered, shown in the CR ------------------------------


def test_engagement_of_another_service_is_a_warning_and_the_invoice_is_delivered(
    home: Home,
    statut_schemas: list[tuple[str, etree.XMLSchema]],
    pivot_schemas: list[tuple[str, etree.XMLSchema]],
) -> None:
    with_services(home)
    with_engagements(home)

    warned, same_service, no_service = deposit(
        home,
        # EJ-VAL-2026-0700 was published for SERV-TECH; the invoice says SERV-SCOL
        ubl("F01-2026-000101", engagement="EJ-VAL-2026-0700", service="SERV-SCOL"),
        ubl("F01-2026-000102", engagement="EJ-VAL-2026-0700", service="SERV-TECH"),
        # an engagement published without a service fits every service
        ubl("F01-2026-000103", engagement="EJ-VAL-2026-0500", service="SERV-SCOL"),
    )

    assert CATALOGUE["ENGAGEMENT_SERVICE_MISMATCH"].severity == "warning"
    assert (warned.state, warned.cr_status) == ("IN_INTEGRE", "90")
    assert [(s, c) for _, s, c in warned.ledger] == [("MISE_A_DISPOSITION", "03")]
    line = assert_line(
        warned,
        "ENGAGEMENT_SERVICE_MISMATCH",
        "EJ-VAL-2026-0700",
        names=("SERV-TECH", "SERV-SCOL"),
        nature="Avertissement",
    )
    assert warned.codes() == ["ENGAGEMENT_SERVICE_MISMATCH"]
    assert "1 invoice(s) integrated, 0 rejected, 1 warning(s)" in warned.cr_comment
    cr = home.path / "outbox" / SUPPLIER_1 / f"CR_{SUPPLIER_1}_{warned.flow['number']}.xml"
    for schema_name, schema in statut_schemas:
        assert schema.validate(etree.parse(str(cr))), (schema_name, schema.error_log)
    pivot_file = home.path / "outbox" / RECIPIENT / warned.detail["invoice_list"][0]["pivot_file"]
    pivot_tree = etree.parse(str(pivot_file))
    for schema_name, schema in pivot_schemas:
        assert schema.validate(pivot_tree), (schema_name, schema.error_log)
    assert "SERV-TECH" in line.message
    assert [unit.findtext("DonneesFacture/Id") for unit in delivered(home)] == [
        "F01-2026-000101",
        "F01-2026-000102",
        "F01-2026-000103",
    ]
    assert_accepted(same_service)
    assert_accepted(no_service)


def test_a_warning_does_not_save_an_invoice_from_a_rejection(home: Home) -> None:
    with_services(home)
    with_engagements(home)
    (both,) = deposit(home, ubl(engagement="EJ-VAL-2026-0700", currency="ABC"))
    assert_rejected(both, "CURRENCY_UNKNOWN", "ABC")
    assert_line(both, "ENGAGEMENT_SERVICE_MISMATCH", "EJ-VAL-2026-0700", nature="Avertissement")
    assert delivered(home) == []


def test_warnings_alone_leave_a_batch_integrated_and_a_rejection_makes_it_partial(
    home: Home,
) -> None:
    with_services(home)
    with_engagements(home)
    warned = ubl("F01-2026-000101", engagement="EJ-VAL-2026-0700")
    clean = ubl("F01-2026-000102")
    refused = ubl("F01-2026-000103", currency="ABC")

    integrated, partial = deposit(
        home, batch(a=warned, b=clean), batch(a=warned.replace(b"000101", b"000104"), c=refused)
    )

    assert (integrated.state, integrated.cr_status) == ("IN_INTEGRE", "90")
    assert [(line.code, line.nature) for line in integrated.cr_lines] == [
        ("ENGAGEMENT_SERVICE_MISMATCH", "Avertissement")
    ]
    assert (partial.state, partial.cr_status) == ("IN_INTEGRE_PARTIEL", "96")
    assert [(line.code, line.nature, line.invoice) for line in partial.cr_lines] == [
        ("ENGAGEMENT_SERVICE_MISMATCH", "Avertissement", "1"),
        ("CURRENCY_UNKNOWN", "Facture", "2"),
    ]
    assert [(status, code) for _, status, code in partial.ledger] == [
        ("MISE_A_DISPOSITION", "03"),
        ("REFUSEE_RECEPTION", None),
    ]


# -- several invoices in one flow ---------------------------------------------------


def test_one_good_and_one_bad_invoice_in_a_batch_make_a_partial_flow(home: Home) -> None:
    (outcome,) = deposit(
        home, batch(a_good=ubl("F01-2026-000101"), b_bad=ubl("F01-2026-000102", currency="ABC"))
    )

    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE_PARTIEL", "96")
    assert outcome.ledger == [
        ("F01-2026-000101", "MISE_A_DISPOSITION", "03"),
        ("F01-2026-000102", "REFUSEE_RECEPTION", None),
    ]
    assert_line(outcome, "CURRENCY_UNKNOWN", "ABC", invoice="2")
    assert outcome.error("CURRENCY_UNKNOWN")["document"] == "b_bad.xml"
    assert [unit.findtext("DonneesFacture/Id") for unit in delivered(home)] == ["F01-2026-000101"]


def test_several_failures_of_one_invoice_are_all_reported_at_once(home: Home) -> None:
    (bad,) = deposit(
        home,
        ubl(
            issue_date=today() + timedelta(days=2),
            currency="EURO",
            iban="FR76 3009 9001",
            totals={"TaxInclusiveAmount": "810.11", "PayableAmount": "810.11"},
        ),
    )
    assert_rejected(bad, "CURRENCY_UNKNOWN", "EURO")
    assert sorted(bad.codes()) == [
        "CURRENCY_UNKNOWN",
        "IBAN_INVALID",
        "ISSUE_DATE_AFTER_DEPOSIT",
        "TOTAL_TTC_MISMATCH",
    ]
    assert {line.invoice for line in bad.cr_lines} == {"1"}
    assert_line(bad, "IBAN_INVALID", "FR76 3009 9001", nature="Avertissement")
    assert_line(bad, "TOTAL_TTC_MISMATCH", "810.11", names=("800.11",))


# -- totals: the VAT breakdown, CII and pivot input, the tolerance ------------------


def test_lines_per_rate_must_add_up_to_the_vat_base_of_that_rate(home: Home) -> None:
    good, bad = deposit(
        home,
        ubl("F01-2026-000101"),
        # the toner (188.70) said to be at 5.5 %: the bases no longer match the lines
        ubl("F01-2026-000102", line_rates=("20", "5.5", "5.5")),
    )
    assert_accepted(good)
    assert (bad.state, bad.cr_status) == ("IN_REJETE", "93")
    assert bad.codes() == ["TOTAL_VAT_LINES_MISMATCH", "TOTAL_VAT_LINES_MISMATCH"]
    by_value = {error["value"]: error for error in bad.errors}
    assert set(by_value) == {"358.70", "350.40"}
    assert "170.00" in by_value["358.70"]["message_fr"] and "20" in by_value["358.70"]["message"]
    assert "539.10" in by_value["350.40"]["message_fr"]
    assert "5.5" in by_value["350.40"]["message"]
    for line in bad.cr_lines:
        items = dict(parse(line.detail))
        assert items["en"].startswith("The lines at ")
        assert items["element"] == CATALOGUE["TOTAL_VAT_LINES_MISMATCH"].element


def test_vat_lines_are_not_compared_when_document_charges_change_the_bases(home: Home) -> None:
    # the charge of 100.00 is at 20 %: the base at 20 % is 458.70 while its lines add up
    # to 358.70, as EN 16931 wants
    (good,) = deposit(
        home,
        ubl(
            document_charges=((True, "100.00", "20"),),
            totals={
                "TaxExclusiveAmount": "809.10",
                "ChargeTotalAmount": "100.00",
                "TaxInclusiveAmount": "920.11",
                "PayableAmount": "920.11",
            },
            vat=(("20", "458.70", "91.74"), ("5.5", "350.40", "19.27")),
            vat_total="111.01",
        ),
    )
    assert_accepted(good)


def test_rounding_of_the_amount_due_is_part_of_the_net(home: Home) -> None:
    good, bad = deposit(
        home,
        ubl(
            "F01-2026-000101", totals={"PayableRoundingAmount": "-0.11", "PayableAmount": "800.00"}
        ),
        ubl("F01-2026-000102", totals={"PayableAmount": "800.00"}),
    )
    assert_accepted(good)
    assert_rejected(bad, "TOTAL_NET_MISMATCH", "800.00", names=("800.11",))


def test_cii_totals_are_controlled(home: Home) -> None:
    good, prepaid, bad_net, bad_ttc = deposit(
        home,
        cii("F02-2026-000501"),
        cii("F02-2026-000502", {"DuePayableAmount": "2000.00"}, {"TotalPrepaidAmount": "387.28"}),
        cii("F02-2026-000503", inserted={"TotalPrepaidAmount": "387.28"}),
        cii("F02-2026-000504", {"GrandTotalAmount": "2397.28", "DuePayableAmount": "2397.28"}),
        partner=SUPPLIER_2,
    )
    for outcome in (good, prepaid):
        assert_accepted(outcome)
    assert_rejected(bad_net, "TOTAL_NET_MISMATCH", "2387.28", names=("2000.00", "387.28"))
    assert bad_net.codes() == ["TOTAL_NET_MISMATCH"]
    assert_rejected(bad_ttc, "TOTAL_TTC_MISMATCH", "2397.28", names=("2387.28", "397.88"))
    assert bad_ttc.codes() == ["TOTAL_TTC_MISMATCH"]


def test_pivot_totals_are_controlled_invoice_by_invoice(home: Home) -> None:
    (outcome,) = deposit(
        home,
        pivot(
            {
                # invoice 2's TTC is 10.00 too much; invoice 3's recipient exists
                (2, "DonneesFacture/Montants/MontantTTC"): "1666.00",
                (2, "DonneesFacture/Montants/MontantNetAPayer"): "1666.00",
                (3, "Debiteur/Identifiant"): VALBRUNE,
                (3, "Debiteur/CodeService"): "SERV-SCOL",
            }
        ),
        partner=SUPPLIER_2,
    )
    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE_PARTIEL", "96")
    assert outcome.ledger == [
        ("F02-2026-000502", "MISE_A_DISPOSITION", "03"),
        ("F02-2026-000503", "REFUSEE_RECEPTION", None),
        ("F02-2026-000504", "MISE_A_DISPOSITION", "03"),
    ]
    assert outcome.codes() == ["TOTAL_TTC_MISMATCH"]
    assert_line(outcome, "TOTAL_TTC_MISMATCH", "1666.00", names=("1656.00",), invoice="2")


def test_a_pivot_net_is_not_compared_with_its_ttc(home: Home) -> None:
    # the pivot cannot say what was prepaid: a net below the TTC is taken as written
    (outcome,) = deposit(
        home,
        pivot(
            {
                (1, "DonneesFacture/Montants/MontantNetAPayer"): "2000.00",
                (3, "Debiteur/Identifiant"): VALBRUNE,
            }
        ),
        partner=SUPPLIER_2,
    )
    assert (outcome.state, outcome.cr_lines) == ("IN_INTEGRE", [])


def test_a_pivot_whose_lines_do_not_add_up_is_refused(home: Home) -> None:
    (outcome,) = deposit(
        home,
        pivot({(2, "DonneesFacture/Lignes/Ligne[@NumOrdre='2']/MontantHT"): "250.00"}),
        partner=SUPPLIER_2,
    )
    assert outcome.state == "IN_INTEGRE_PARTIEL"
    assert_line(outcome, "TOTAL_LINES_MISMATCH", "1380.00", names=("1390.00",), invoice="2")


@pytest.mark.parametrize(
    ("tolerance", "ttc", "accepted"),
    [
        (None, "800.12", True),  # 0.01 off: the default tolerance
        (None, "800.10", True),
        (None, "800.13", False),  # 0.02 off
        (None, "800.09", False),
        ("0.05", "800.13", True),
        ("0.05", "800.16", True),
        ("0.05", "800.17", False),
    ],
)
def test_totals_may_differ_by_the_configured_tolerance(
    home: Home, monkeypatch: pytest.MonkeyPatch, tolerance: str | None, ttc: str, accepted: bool
) -> None:
    if tolerance is not None:
        monkeypatch.setenv("EDI_ENGINE_CONTROLS_AMOUNT_TOLERANCE", tolerance)
    (outcome,) = deposit(home, ubl(totals={"TaxInclusiveAmount": ttc, "PayableAmount": ttc}))
    if accepted:
        assert_accepted(outcome)
    else:
        line = assert_rejected(outcome, "TOTAL_TTC_MISMATCH", ttc)
        assert outcome.codes() == ["TOTAL_TTC_MISMATCH"]
        assert f"tolerance {tolerance or '0.01'}" in outcome.error("TOTAL_TTC_MISMATCH")["message"]
        assert f"tolérance {tolerance or '0.01'}" in line.message


def test_a_tolerance_of_zero_still_accepts_vat_rounded_to_the_cent(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_CONTROLS_AMOUNT_TOLERANCE", "0")
    exact, off = deposit(
        home,
        ubl("F01-2026-000101"),
        ubl("F01-2026-000102", totals={"TaxInclusiveAmount": "800.12", "PayableAmount": "800.12"}),
    )
    assert_accepted(exact)
    assert_rejected(off, "TOTAL_TTC_MISMATCH", "800.12")
    assert off.codes() == ["TOTAL_TTC_MISMATCH"]


def test_a_vat_total_that_is_not_the_sum_of_its_breakdown_is_refused(home: Home) -> None:
    (bad,) = deposit(
        home,
        ubl(vat_total="95.00", totals={"TaxInclusiveAmount": "804.10", "PayableAmount": "804.10"}),
    )
    assert (bad.state, bad.ledger[0][1:]) == ("IN_REJETE", ("REFUSEE_RECEPTION", None))
    # and the TTC, which must agree with the breakdown the pivot will carry
    assert bad.codes() == ["TOTAL_VAT_SUM_MISMATCH", "TOTAL_TTC_MISMATCH"]
    assert_line(bad, "TOTAL_VAT_SUM_MISMATCH", "95.00", names=("91.01",))


def test_the_same_totals_deposited_as_a_pivot_are_refused(home: Home) -> None:
    """What the test above expects of UBL, the pivot does: its VAT is its breakdown's sum."""
    (outcome,) = deposit(
        home,
        pivot(
            {
                (1, "DonneesFacture/Montants/MontantTTC"): "2674.00",  # VAT 444.00, not 454.00
                (1, "DonneesFacture/Montants/MontantNetAPayer"): "2674.00",
                (3, "Debiteur/Identifiant"): VALBRUNE,
            }
        ),
        partner=SUPPLIER_2,
    )
    assert outcome.codes() == ["TOTAL_TTC_MISMATCH"]
    assert_line(outcome, "TOTAL_TTC_MISMATCH", "2674.00", names=("2220.00", "444.00", "2664.00"))


# -- identifiers --------------------------------------------------------------------


def test_an_iban_is_checked_whatever_its_spacing_and_case(home: Home) -> None:
    spaced, without, wrong_shape = deposit(
        home,
        ubl("F01-2026-000101", iban="fr76 3009 9001 2300 0123 4567 827"),
        ubl("F01-2026-000102", iban=None),
        ubl("F01-2026-000103", iban="30099001230001234567827"),  # a domestic number
    )
    assert_accepted(spaced)
    assert_accepted(without)
    assert_warned(wrong_shape, "IBAN_INVALID", "30099001230001234567827")


def test_a_wrong_iban_warns_and_the_invoice_is_delivered(home: Home) -> None:
    """The hub does not pay: a supplier's bad bank details are the recipient's concern, so
    IBAN_INVALID warns unless the hub sets it to reject (docs/errors.md)."""
    good, warned = deposit(home, ubl("F01-2026-000101"), ubl("F01-2026-000102", iban=BAD_IBAN))

    assert_accepted(good)
    line = assert_warned(warned, "IBAN_INVALID", BAD_IBAN)
    assert warned.codes() == ["IBAN_INVALID"]
    assert "1 invoice(s) integrated, 0 rejected, 1 warning(s)" in warned.cr_comment
    assert "IBAN" in line.message and BAD_IBAN in line.message
    (pivot_unit,) = delivered(home)[1:]
    assert pivot_unit.findtext("Fournisseur/ReferenceBancaire/Compte") == BAD_IBAN
    (invoice,) = warned.detail["invoice_list"]
    shown = json.loads(home.invoke("invoices", "show", invoice["id"], "--json").stdout)
    assert [w["code"] for w in shown["warnings"]] == ["IBAN_INVALID"]


def test_pivot_bank_details_and_currency_are_checked(home: Home) -> None:
    content = etree.fromstring(
        pivot(
            {
                (1, "Fournisseur/ReferenceBancaire/Compte"): "FR7630099004560008765432149",
                # a RIB (Type="RIB" below) has no IBAN check digits to check
                (2, "Fournisseur/ReferenceBancaire/Compte"): "30099004560008765432148",
                (3, "Debiteur/Identifiant"): VALBRUNE,
                (3, "DonneesFacture/Devise"): "ABC",
            }
        )
    )
    content.find("CPPFactures/CPPFacturePivotUnitaire[2]/Fournisseur/ReferenceBancaire").set(
        "Type", "RIB"
    )
    (outcome,) = deposit(home, etree.tostring(content), partner=SUPPLIER_2)

    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE_PARTIEL", "96")
    assert [(status, code) for _, status, code in outcome.ledger] == [
        ("MISE_A_DISPOSITION", "03"),  # with its warning
        ("MISE_A_DISPOSITION", "03"),
        ("REFUSEE_RECEPTION", None),
    ]
    assert_line(
        outcome, "IBAN_INVALID", "FR7630099004560008765432149", invoice="1", nature="Avertissement"
    )
    assert_line(outcome, "CURRENCY_UNKNOWN", "ABC", invoice="3")
    assert outcome.codes() == ["IBAN_INVALID", "CURRENCY_UNKNOWN"]
    _, rib = delivered(home)
    assert rib.find("Fournisseur/ReferenceBancaire").get("Type") == "RIB"


def test_cii_iban_is_checked(home: Home) -> None:
    content = sample("cii-invoice.xml").replace(
        b"FR7630099004560008765432148", b"FR7630099004560008765432149"
    )
    (bad,) = deposit(home, content, partner=SUPPLIER_2)
    assert_warned(bad, "IBAN_INVALID", "FR7630099004560008765432149")


def test_a_cii_proprietary_account_is_not_checked_as_an_iban(home: Home) -> None:
    content = sample("cii-invoice.xml").replace(
        b"<ram:IBANID>FR7630099004560008765432148</ram:IBANID>",
        b"<ram:ProprietaryID>0123456789</ram:ProprietaryID>",
    )
    (outcome,) = deposit(home, content, partner=SUPPLIER_2)
    assert_accepted(outcome)


# -- duplicates ---------------------------------------------------------------------


def test_the_same_number_twice_in_one_batch_rejects_the_second(home: Home) -> None:
    (outcome,) = deposit(
        home,
        batch(first=ubl("F01-2026-000101"), second=ubl("F01-2026-000101", engagement=None)),
    )
    number = outcome.flow["number"]
    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE_PARTIEL", "96")
    assert outcome.ledger == [
        ("F01-2026-000101", "MISE_A_DISPOSITION", "03"),
        ("F01-2026-000101", "REFUSEE_RECEPTION", None),
    ]
    line = assert_line(
        outcome,
        "INVOICE_DUPLICATE",
        "F01-2026-000101",
        names=(SUPPLIER_SIRET, "2026", number),
        invoice="2",
    )
    assert number in line.message


def test_the_same_number_twice_in_one_pivot_rejects_the_second(home: Home) -> None:
    (outcome,) = deposit(
        home,
        pivot({(3, "DonneesFacture/Id"): "F02-2026-000502", (3, "Debiteur/Identifiant"): VALBRUNE}),
        partner=SUPPLIER_2,
    )
    assert outcome.state == "IN_INTEGRE_PARTIEL"
    assert [(status, code) for _, status, code in outcome.ledger] == [
        ("MISE_A_DISPOSITION", "03"),
        ("MISE_A_DISPOSITION", "03"),
        ("REFUSEE_RECEPTION", None),
    ]
    assert outcome.codes() == ["INVOICE_DUPLICATE"]
    assert_line(outcome, "INVOICE_DUPLICATE", "F02-2026-000502", invoice="3")


def test_an_invoice_deposited_again_in_a_later_flow_is_a_duplicate(home: Home) -> None:
    (first,) = deposit(home, ubl())
    # not the same file (that would be a duplicate flow): the same invoice, re-sent
    (again,) = deposit(home, ubl(engagement=None))

    assert_accepted(first)
    line = assert_rejected(
        again, "INVOICE_DUPLICATE", "F01-2026-000101", names=(first.flow["number"], "2026")
    )
    assert again.codes() == ["INVOICE_DUPLICATE"]
    assert first.flow["number"] in line.detail
    assert len(delivered(home)) == 1


def test_the_same_number_another_year_or_by_another_supplier_is_not_a_duplicate(
    home: Home,
) -> None:
    home.invoke("partners", "suppliers", "add", SUPPLIER_1, OTHER_SUPPLIER_SIRET)
    (first,) = deposit(home, ubl(issue_date="2026-11-02"))
    last_year, other_supplier = deposit(
        home,
        ubl(issue_date="2025-11-02"),
        ubl(supplier=OTHER_SUPPLIER_SIRET, iban=None),
    )
    for outcome in (first, last_year, other_supplier):
        assert_accepted(outcome)


def test_a_number_whose_first_deposit_was_rejected_can_be_deposited_again(home: Home) -> None:
    (refused,) = deposit(home, ubl(currency="ABC"))
    (corrected,) = deposit(home, ubl())
    (again,) = deposit(home, ubl(engagement=None))

    assert_rejected(refused, "CURRENCY_UNKNOWN", "ABC")
    assert_accepted(corrected)
    assert_rejected(
        again, "INVOICE_DUPLICATE", "F01-2026-000101", names=(corrected.flow["number"],)
    )


def test_a_rejected_invoice_does_not_block_its_number_within_the_flow(home: Home) -> None:
    (outcome,) = deposit(
        home,
        batch(first=ubl(currency="ABC"), second=ubl(engagement=None)),
    )
    assert outcome.ledger == [
        ("F01-2026-000101", "REFUSEE_RECEPTION", None),
        ("F01-2026-000101", "MISE_A_DISPOSITION", "03"),
    ]
    assert outcome.codes() == ["CURRENCY_UNKNOWN"]


def test_the_deposit_date_is_the_hubs_local_date(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 23:30 UTC it is already the next day in Paris: an invoice of that day is not
    issued after its deposit; in another time zone the same invoice would be."""
    late_evening = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    monkeypatch.setattr("edi_engine.clock.now", lambda: late_evening)
    (accepted,) = deposit(home, ubl("F01-2026-000101", issue_date=date(2026, 12, 1)))
    assert_accepted(accepted)

    monkeypatch.setenv("EDI_ENGINE_HUB_TIMEZONE", "UTC")
    (refused,) = deposit(home, ubl("F01-2026-000102", issue_date=date(2026, 12, 1)))
    assert_rejected(refused, "ISSUE_DATE_AFTER_DEPOSIT", "2026-12-01")


def test_several_vat_categories_at_one_rate_add_up(home: Home) -> None:
    """Standard 20 %, zero-rated and exempt lines: two breakdowns at 0 %, one per category."""
    (outcome,) = deposit(
        home,
        ubl(
            line_rates=("20", "0", "0"),
            vat=(("20", "170.00", "34.00"), ("0", "188.70", "0.00"), ("0", "350.40", "0.00")),
            vat_total="34.00",
            totals={"TaxInclusiveAmount": "743.10", "PayableAmount": "743.10"},
        ),
    )
    assert_accepted(outcome)


def test_a_vat_amount_written_with_many_decimals_is_compared_not_a_crash(home: Home) -> None:
    precise = "71.740000000000000000000000000000"
    good, bad = deposit(
        home,
        ubl("F01-2026-000101", vat=(("20", "358.70", precise), ("5.5", "350.40", "19.27"))),
        ubl(
            "F01-2026-000102",
            vat=(("20", "358.70", "81.740000000000000000000000000000"), ("5.5", "350.40", "19.27")),
            vat_total="101.01",
            totals={"TaxInclusiveAmount": "810.11", "PayableAmount": "810.11"},
        ),
    )
    assert_accepted(good)
    assert_rejected(bad, "TOTAL_VAT_AMOUNT_MISMATCH", "81.740000000000000000000000000000")


def test_a_pivot_without_vat_breakdown_owes_no_vat(home: Home) -> None:
    """Nothing says VAT is due: its amount with VAT must be its amount without."""
    root = etree.fromstring(pivot())
    unit = root.find("CPPFactures/CPPFacturePivotUnitaire[@NumOrdre='1']")
    tvas = unit.find("DonneesFacture/TVAs")
    tvas.getparent().remove(tvas)
    for line in unit.iterfind("DonneesFacture/Lignes/Ligne/TauxTVA"):
        line.getparent().remove(line)
    (outcome,) = deposit(home, etree.tostring(root), partner=SUPPLIER_2)
    assert outcome.state == "IN_INTEGRE_PARTIEL"  # the third invoice's recipient is unknown
    assert "TOTAL_TTC_MISMATCH" in [
        e["code"] for e in outcome.detail["errors"] if e["invoice"] == 1
    ]
