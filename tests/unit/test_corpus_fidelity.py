"""Real-world fidelity (issue 3, item 6): every generated document (tests/generated) and,
when ../shared is beside the clone, every EN 16931 example of its public corpus.

Given a French public buyer (a fixture edits the parsed tree in memory where the buyer
has none: a SIRET under the schemes French buyers use, and a service code where there is
none), each file must become a pivot that our schemas/CPPFacturePivot.xsd accepts (and
the official CPPFacturePivot_V2_02.xsd, when present) and that says what the source
says: number, issue date, currency, totals, VAT breakdown, line count, and every
attachment byte for byte. The expected values are read from the source tree with this
file's own XPaths, never through the readers under test.

The document totals the business controls use and the pivot does not carry (BT-106 to
BT-114) must be read as written, and add up in every file: lines = BT-106 (where there
are lines; Factur-X MINIMUM has no BT-106, BASIC WL no lines),
BT-106 - BT-107 + BT-108 = BT-109, breakdown = BT-110, BT-109 + BT-110 = BT-112,
BT-112 - BT-113 + BT-114 = BT-115.

As it is, no corpus buyer has a SIRET, nor have some generated ones: `edi-engine
convert` must refuse each of those files and say so.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result
from generated import (
    PROFILES,
    SAMPLES,
    case_content,
    corpus_cases,
    corpus_path,
    is_corpus,
    samples_where,
)
from generated.corpus import CORPUS
from lxml import etree

from cli import main
from edi_engine import controls, siret
from edi_engine.controls import Duplicates, Reception, Recipient, Referential
from pivot_format import cii, pivot, ubl
from pivot_format.model import Attachment, Envelope, Invoice

PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
BUYER_SIRET = "12345678200010"
SERVICE_CODE = "SERVICE-ACHATS"
ENVELOPE = Envelope(
    flow_id="CORPUS", produced_at=date(2026, 1, 15), sender_id="HUB001", receiver_id="DEST01"
)

UBL_NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
CII_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}

# every generated document, then every corpus file when ../shared is there
CASES = samples_where() + corpus_cases()
WITHOUT_BUYER_SIRET = samples_where(lambda s: s.buyer_siret is None) + corpus_cases()


# -- what the source says, read independently ---------------------------------------


@dataclass(frozen=True)
class Facts:
    """The values a recipient must find unchanged in the pivot."""

    number: str
    issue_date: date
    currency: str
    totals: tuple  # HT, TTC, net to pay: as written, or their exact() values
    vat: list[tuple]  # rate (none: 0), base, amount: as written, or their exact() values
    lines: int
    attachments: list[bytes]  # embedded files, decoded


def _texts(root: etree._Element, path: str, ns: dict[str, str]) -> list[str]:
    return [(e.text or "").strip() for e in root.xpath(path, namespaces=ns)]


def _text(root: etree._Element, path: str, ns: dict[str, str]) -> str:
    (value,) = _texts(root, path, ns)
    return value


def _decoded(root: etree._Element, path: str, ns: dict[str, str]) -> list[bytes]:
    return [base64.b64decode("".join(t.split())) for t in _texts(root, path, ns)]


def ubl_facts(root: etree._Element) -> Facts:
    ns = UBL_NS
    total = "cac:LegalMonetaryTotal/cbc:"
    vat = [
        (
            (s.findtext("cac:TaxCategory/cbc:Percent", None, ns) or "0").strip(),
            s.findtext("cbc:TaxableAmount", None, ns).strip(),
            s.findtext("cbc:TaxAmount", None, ns).strip(),
        )
        for s in root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=ns)
    ]
    return Facts(
        number=_text(root, "cbc:ID", ns),
        issue_date=date.fromisoformat(_text(root, "cbc:IssueDate", ns)[:10]),
        currency=_text(root, "cbc:DocumentCurrencyCode", ns),
        totals=(
            _text(root, total + "TaxExclusiveAmount", ns),
            _text(root, total + "TaxInclusiveAmount", ns),
            _text(root, total + "PayableAmount", ns),
        ),
        vat=vat,
        lines=len(root.xpath("cac:InvoiceLine | cac:CreditNoteLine", namespaces=ns)),
        attachments=_decoded(
            root,
            "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject",
            ns,
        ),
    )


def cii_facts(root: etree._Element) -> Facts:
    ns = CII_NS
    deal = "rsm:SupplyChainTradeTransaction/"
    settlement = deal + "ram:ApplicableHeaderTradeSettlement/"
    total = settlement + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    vat = [
        (
            (t.findtext("ram:RateApplicablePercent", None, ns) or "0").strip(),
            t.findtext("ram:BasisAmount", None, ns).strip(),
            t.findtext("ram:CalculatedAmount", None, ns).strip(),
        )
        for t in root.xpath(settlement + "ram:ApplicableTradeTax", namespaces=ns)
    ]
    issued = _text(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString", ns)
    return Facts(
        number=_text(root, "rsm:ExchangedDocument/ram:ID", ns),
        issue_date=datetime.strptime(issued, "%Y%m%d").date(),
        currency=_text(root, settlement + "ram:InvoiceCurrencyCode", ns),
        totals=(
            _text(root, total + "TaxBasisTotalAmount", ns),
            _text(root, total + "GrandTotalAmount", ns),
            _text(root, total + "DuePayableAmount", ns),
        ),
        vat=vat,
        lines=len(root.xpath(deal + "ram:IncludedSupplyChainTradeLineItem", namespaces=ns)),
        attachments=_decoded(
            root,
            deal + "ram:ApplicableHeaderTradeAgreement/ram:AdditionalReferencedDocument"
            "/ram:AttachmentBinaryObject",
            ns,
        ),
    )


# BT-106, 107, 108, 110, 113, 114: the model's names for them, in that order
DOCUMENT_TOTALS = (
    "line_total",
    "allowance_total",
    "charge_total",
    "vat_total",
    "prepaid",
    "rounding",
)
ZERO_IF_ABSENT = frozenset({"allowance_total", "charge_total", "prepaid", "rounding"})


def _first(root: etree._Element, path: str, ns: dict[str, str], **variables: str) -> str | None:
    found = [(e.text or "").strip() for e in root.xpath(path, namespaces=ns, **variables)]
    return next((text for text in found if text), None)


def ubl_document_totals(root: etree._Element) -> dict[str, str | None]:
    """The six totals as written (None when absent); BT-110 in the document currency."""
    ns, total = UBL_NS, "cac:LegalMonetaryTotal/cbc:"
    currency = _text(root, "cbc:DocumentCurrencyCode", ns)
    return {
        "line_total": _first(root, total + "LineExtensionAmount", ns),
        "allowance_total": _first(root, total + "AllowanceTotalAmount", ns),
        "charge_total": _first(root, total + "ChargeTotalAmount", ns),
        "vat_total": _first(root, "cac:TaxTotal/cbc:TaxAmount[@currencyID=$c]", ns, c=currency),
        "prepaid": _first(root, total + "PrepaidAmount", ns),
        "rounding": _first(root, total + "PayableRoundingAmount", ns),
    }


def cii_document_totals(root: etree._Element) -> dict[str, str | None]:
    """The six totals as written (None when absent); BT-110 in the invoice currency."""
    ns = CII_NS
    settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
    total = settlement + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    currency = _text(root, settlement + "ram:InvoiceCurrencyCode", ns)
    return {
        "line_total": _first(root, total + "LineTotalAmount", ns),
        "allowance_total": _first(root, total + "AllowanceTotalAmount", ns),
        "charge_total": _first(root, total + "ChargeTotalAmount", ns),
        "vat_total": _first(root, total + "TaxTotalAmount[@currencyID=$c]", ns, c=currency),
        "prepaid": _first(root, total + "TotalPrepaidAmount", ns),
        "rounding": _first(root, total + "RoundingAmount", ns),
    }


def document_totals(root: etree._Element) -> dict[str, str | None]:
    return (cii_document_totals if root.tag == cii.ROOT_TAG else ubl_document_totals)(root)


# -- giving the buyer a SIRET and a service code ------------------------------------


def _child(
    parent: etree._Element, tag: str, ns: dict[str, str], before: tuple[str, ...]
) -> etree._Element:
    """``parent``'s first ``tag`` child, created in schema order when absent."""
    prefix, local = tag.split(":")
    found = parent.find(tag, ns)
    if found is not None:
        return found
    element = etree.Element(f"{{{ns[prefix]}}}{local}")
    successors = {f"{{{ns[t.split(':')[0]]}}}{t.split(':')[1]}" for t in before}
    for child in parent:
        if child.tag in successors:
            child.addprevious(element)
            return element
    parent.append(element)
    return element


_UBL_AFTER_BUYER_REFERENCE = (
    "cac:InvoicePeriod",
    "cac:DiscrepancyResponse",
    "cac:OrderReference",
    "cac:BillingReference",
    "cac:DespatchDocumentReference",
    "cac:ReceiptDocumentReference",
    "cac:StatementDocumentReference",
    "cac:OriginatorDocumentReference",
    "cac:ContractDocumentReference",
    "cac:AdditionalDocumentReference",
    "cac:ProjectReference",
    "cac:Signature",
    "cac:AccountingSupplierParty",
)
_UBL_AFTER_LEGAL_ENTITY = (
    "cac:Contact",
    "cac:Person",
    "cac:AgentParty",
    "cac:ServiceProviderParty",
    "cac:PowerOfAttorney",
    "cac:FinancialAccount",
)
_UBL_AFTER_PARTY_IDENTIFICATION = (
    "cac:PartyName",
    "cac:Language",
    "cac:PostalAddress",
    "cac:PhysicalLocation",
    "cac:PartyTaxScheme",
    "cac:PartyLegalEntity",
    *_UBL_AFTER_LEGAL_ENTITY,
)
_UBL_AFTER_COMPANY_ID = (
    "cbc:RegistrationDate",
    "cbc:RegistrationExpirationDate",
    "cbc:CompanyLegalFormCode",
    "cbc:CompanyLegalForm",
    "cbc:SoleProprietorshipIndicator",
    "cbc:CompanyLiquidationStatusCode",
    "cbc:CorporateStockAmount",
    "cbc:FullyPaidSharesIndicator",
    "cac:RegistrationAddress",
    "cac:CorporateRegistrationScheme",
    "cac:HeadOfficeParty",
    "cac:ShareholderParty",
)
_CII_AFTER_LEGAL_ORGANIZATION = (
    "ram:DefinedTradeContact",
    "ram:PostalTradeAddress",
    "ram:URIUniversalCommunication",
    "ram:SpecifiedTaxRegistration",
)


def _set(element: etree._Element, text: str, **attrib: str) -> None:
    element.text = text
    for key, value in attrib.items():
        element.set(key, value)


def give_ubl_buyer_a_siret(root: etree._Element) -> str:
    """SIRET under scheme 0009 as BT-46 and BT-47; the service code (BT-10) kept or set."""
    ns = UBL_NS
    party = root.find("cac:AccountingCustomerParty/cac:Party", ns)
    identification = _child(party, "cac:PartyIdentification", ns, _UBL_AFTER_PARTY_IDENTIFICATION)
    _set(_child(identification, "cbc:ID", ns, ()), BUYER_SIRET, schemeID="0009")
    legal = _child(party, "cac:PartyLegalEntity", ns, _UBL_AFTER_LEGAL_ENTITY)
    _set(_child(legal, "cbc:CompanyID", ns, _UBL_AFTER_COMPANY_ID), BUYER_SIRET, schemeID="0009")
    reference = _child(root, "cbc:BuyerReference", ns, _UBL_AFTER_BUYER_REFERENCE)
    if not (reference.text or "").strip():
        reference.text = SERVICE_CODE
    return reference.text.strip()


def give_cii_buyer_a_siret(root: etree._Element) -> str:
    """SIRET under scheme 0002 as BT-47; the service code (BT-10) kept or set."""
    ns = CII_NS
    agreement = root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement", ns)
    buyer = agreement.find("ram:BuyerTradeParty", ns)
    legal = _child(buyer, "ram:SpecifiedLegalOrganization", ns, _CII_AFTER_LEGAL_ORGANIZATION)
    identifier = legal.find("ram:ID", ns)
    if identifier is None:
        identifier = etree.Element(f"{{{ns['ram']}}}ID")
        legal.insert(0, identifier)
    _set(identifier, BUYER_SIRET, schemeID="0002")
    reference = agreement.find("ram:BuyerReference", ns)
    if reference is None:
        reference = etree.Element(f"{{{ns['ram']}}}BuyerReference")
        agreement.insert(0, reference)  # the first child of the agreement
    if not (reference.text or "").strip():
        reference.text = SERVICE_CODE
    return reference.text.strip()


@dataclass(frozen=True)
class Source:
    """A document, its tree given a French buyer, and what it says."""

    path: Path  # its name (and, for a corpus file, where it is)
    content: bytes  # the file as deposited, unedited
    root: etree._Element  # edited
    read: Callable[[etree._Element], Invoice]
    facts: Facts
    service_code: str | None
    buyer_siret: str = BUYER_SIRET
    generated: bool = False


def make_source(case: str) -> Source:
    """A generated document whose buyer has a SIRET stays as written; any other gets one."""
    content = case_content(case)
    path = corpus_path(case) if is_corpus(case) else Path(case)
    root = etree.fromstring(content, PARSER)
    syntax = "cii" if root.tag == cii.ROOT_TAG else "ubl"
    assert syntax == "cii" or root.tag in (ubl.INVOICE_TAG, ubl.CREDIT_NOTE_TAG), path
    read = cii.read_invoice if syntax == "cii" else ubl.read_invoice
    facts = cii_facts if syntax == "cii" else ubl_facts
    sample = None if is_corpus(case) else SAMPLES[case]
    if sample is not None and sample.buyer_siret is not None:
        code, buyer = sample.spec.buyer_reference, sample.buyer_siret
        return Source(path, content, root, read, facts(root), code, buyer, generated=True)
    give = give_cii_buyer_a_siret if syntax == "cii" else give_ubl_buyer_a_siret
    service_code = give(root)
    generated = sample is not None
    return Source(path, content, root, read, facts(root), service_code, generated=generated)


@pytest.fixture(params=CASES)
def source(request: pytest.FixtureRequest) -> Source:
    return make_source(request.param)


# -- what the pivot says ------------------------------------------------------------


def pivot_facts(document: etree._Element) -> Facts:
    (unit,) = document.findall("CPPFactures/CPPFacturePivotUnitaire")
    data = unit.find("DonneesFacture")
    return Facts(
        number=data.findtext("Id"),
        issue_date=date.fromisoformat(data.findtext("DateEmissionFacture")),
        currency=data.findtext("Devise"),
        totals=tuple(
            data.findtext(f"Montants/{tag}")
            for tag in ("MontantHT", "MontantTTC", "MontantNetAPayer")
        ),
        vat=[
            (t.findtext("Taux"), t.findtext("BaseHt"), t.findtext("MontantTVA"))
            for t in data.findall("TVAs/TVA")
        ],
        lines=len(data.findall("Lignes/Ligne")),
        attachments=[
            base64.b64decode(pj.findtext("Contenu"))
            for pj in unit.findall("PJ")
            if pj.findtext("TypePJ") == "02"
        ],
    )


def exact(text: str) -> tuple:
    """A decimal's value and scale: ``12.50`` is not ``12.5``; ``100.`` is ``100``."""
    return tuple(Decimal(text).as_tuple())


def exactly(facts: Facts) -> Facts:
    """The facts with every amount as its value and scale, to compare with the pivot."""
    return Facts(
        number=facts.number,
        issue_date=facts.issue_date,
        currency=facts.currency,
        totals=tuple(exact(t) for t in facts.totals),
        vat=[tuple(exact(v) for v in vat) for vat in facts.vat],
        lines=facts.lines,
        attachments=facts.attachments,
    )


def convert(source: Source) -> etree._Element:
    invoice = source.read(source.root)
    original = Attachment(source.path.name, "application/xml", source.content, "01")
    invoice = replace(invoice, attachments=(original, *invoice.attachments))
    written = pivot.write_pivot([invoice], ENVELOPE)
    return etree.fromstring(written)


# -- the tests ----------------------------------------------------------------------


def test_every_document_is_checked() -> None:
    """Each syntax and Factur-X profile is generated; each corpus file, when present."""
    generated = [SAMPLES[name] for name in CASES if not is_corpus(name)]
    assert {s.syntax for s in generated} == {"ubl", "cii"}
    assert {s.profile for s in generated if s.syntax == "cii"} == set(PROFILES)
    on_disk = sorted(p for p in CORPUS.rglob("*") if p.is_file()) if CORPUS.is_dir() else []
    assert [c for c in CASES if is_corpus(c)] == [
        "corpus/" + str(p.relative_to(CORPUS)) for p in on_disk
    ]


def test_buyer_siret_is_a_valid_siret() -> None:
    assert siret.is_valid(BUYER_SIRET)


def test_pivot_validates_against_our_schema_and_the_official_one(
    source: Source, pivot_schemas: list[tuple[str, etree.XMLSchema]]
) -> None:
    document = convert(source)

    for label, schema in pivot_schemas:
        assert schema.validate(document), (label, schema.error_log)


def test_pivot_says_what_the_source_says(source: Source) -> None:
    found = pivot_facts(convert(source))

    assert exactly(found) == exactly(source.facts)


def _as_read(name: str, text: str | None) -> tuple | None:
    """A written total's value and scale; absent, 0 where absence means none, else None."""
    if text is None:
        return exact("0") if name in ZERO_IF_ABSENT else None
    return exact(text)


def test_document_totals_are_read_as_written(source: Source) -> None:
    """Absent allowances, charges, prepaid and rounding are 0; absent BT-106/110 None."""
    invoice = source.read(source.root)
    written = document_totals(source.root)

    expected = {name: _as_read(name, text) for name, text in written.items()}
    found = {
        name: None if getattr(invoice, name) is None else tuple(getattr(invoice, name).as_tuple())
        for name in DOCUMENT_TOTALS
    }
    assert found == expected


def test_document_totals_add_up(source: Source) -> None:
    """Every corpus file's totals add up exactly as read: none is a case for the controls."""
    invoice = source.read(source.root)
    assert invoice.line_total is not None or source.generated  # Factur-X MINIMUM
    assert invoice.lines or source.generated  # MINIMUM and BASIC WL
    vat = invoice.vat_total if invoice.vat_total is not None else Decimal(0)

    if invoice.lines:
        assert invoice.line_total == sum(line.amount_ht for line in invoice.lines)
    if invoice.line_total is not None:
        assert invoice.amount_ht == (
            invoice.line_total - invoice.allowance_total + invoice.charge_total
        )
    if invoice.vat_lines or not source.generated:  # MINIMUM has no VAT breakdown
        assert vat == sum(v.amount for v in invoice.vat_lines)
    assert invoice.amount_ttc == invoice.amount_ht + vat
    assert invoice.amount_net == invoice.amount_ttc - invoice.prepaid + invoice.rounding


def test_pivot_is_addressed_to_the_buyer_siret_and_service(source: Source) -> None:
    debiteur = convert(source).find("CPPFactures/CPPFacturePivotUnitaire/Debiteur")

    assert debiteur.findtext("TypeIdentifiant") == "1"
    assert debiteur.findtext("Identifiant") == source.buyer_siret
    assert debiteur.findtext("CodeService") == source.service_code


def test_the_deposited_document_travels_first_and_whole(source: Source) -> None:
    first = convert(source).find("CPPFactures/CPPFacturePivotUnitaire/PJ")

    assert first.get("NumOrdre") == "1"
    assert first.findtext("TypePJ") == "01"
    assert base64.b64decode(first.findtext("Contenu")) == source.content
    name = first.findtext("NomPJ")
    assert len(name) <= pivot.NAME_MAX
    assert name.rpartition(".")[2] == source.path.suffix[1:]  # the extension survives


def test_long_attachment_names_are_refused_by_the_hub(
    tmp_path: Path, run_convert: Callable[[Path], Result]
) -> None:
    """An embedded PDF whose name has 54 characters, four more than NomPJ and Chorus Pro
    allow: refused, never cut (the reader alone, without the hub's rules, still reads it)."""
    source = make_source("cii-prepaid-rounding.xml")
    binary = source.root.find(".//{*}AttachmentBinaryObject")
    binary.set("mimeCode", "application/pdf")
    binary.set("filename", "843312_2026-01-31_FR_RELEVE-DE-CONSOMMATION-000001.pdf")
    edited = tmp_path / source.path.name
    edited.write_bytes(etree.tostring(source.root, xml_declaration=True, encoding="UTF-8"))

    result = run_convert(edited)

    assert result.exit_code == 1, result.stdout
    assert "ATTACHMENT_NAME_TOO_LONG" in result.stderr
    assert "843312_2026-01-31_FR_RELEVE-DE-CONSOMMATION-000001.pdf" in result.stderr
    assert "54" in result.stderr


# -- as deposited: the engine refuses, and says why ---------------------------------


# fmt: off
ACCEPTED = {
    "BMP", "BZ2", "CSV", "DOC", "DOCX", "FAX", "GIF", "GZ", "GZIP", "HTM", "HTML", "JPEG",
    "JPG", "ODP", "ODS", "ODT", "P7S", "PDF", "PNG", "PPS", "PPT", "PPTX", "RTF", "SVG",
    "TGZ", "TIF", "TIFF", "TXT", "XHTML", "XLC", "XLM", "XLS", "XLSX", "XML", "ZIP",
}
# fmt: on
BINARY_OBJECTS = (
    "//*[local-name()='EmbeddedDocumentBinaryObject' or local-name()='AttachmentBinaryObject']"
)


def attachment_refusal(content: bytes) -> str | None:
    """The code the hub's default attachment rules refuse a document with, if any: a file
    name over 50 characters, or an extension Chorus Pro does not accept."""
    root = etree.fromstring(content, PARSER)
    for binary in root.xpath(BINARY_OBJECTS):
        name = binary.get("filename") or ""
        if "." in name and name.rpartition(".")[2].upper() not in ACCEPTED:
            return "ATTACHMENT_TYPE_REFUSED"
        if len(name) > 50:
            return "ATTACHMENT_NAME_TOO_LONG"
    return None


@pytest.fixture
def run_convert(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[Path], Result]:
    """`edi-engine convert FILE` outside any home, with no EDI_ENGINE_* setting inherited."""
    for name in list(os.environ):
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(path: Path) -> Result:
        return runner.invoke(main, ["convert", str(path)], catch_exceptions=False)

    return run


@pytest.mark.parametrize("name", WITHOUT_BUYER_SIRET)
def test_file_without_buyer_siret_as_deposited_is_refused_for_its_buyer(
    name: str, tmp_path: Path, run_convert: Callable[[Path], Result]
) -> None:
    deposited = tmp_path / Path(name).name
    deposited.write_bytes(case_content(name))

    result = run_convert(deposited)

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    refusal = attachment_refusal(case_content(name))
    if refusal:  # an attachment refused is read first: the reason is its
        assert refusal in result.stderr
        return
    assert "buyer" in result.stderr
    assert "no valid SIRET" in result.stderr


# MINIMUM and BASIC WL have no lines: the engine checks them against their own profile
@pytest.mark.parametrize("case", CASES)
def test_edited_file_is_delivered_by_the_engine(
    case: str,
    tmp_path: Path,
    run_convert: Callable[[Path], Result],
    pivot_schemas: list[tuple[str, etree.XMLSchema]],
) -> None:
    """The edited source is still a valid document the engine takes end to end."""
    source = make_source(case)
    edited = tmp_path / source.path.name
    edited.write_bytes(etree.tostring(source.root, xml_declaration=True, encoding="UTF-8"))

    result = run_convert(edited)

    refusal = attachment_refusal(source.content)
    if refusal:  # e.g. a corpus file whose attachment name is over 50 characters
        assert result.exit_code == 1, result.stdout
        assert refusal in result.stderr
        return
    assert result.exit_code == 0, result.stderr
    document = etree.fromstring(result.stdout_bytes)
    for label, schema in pivot_schemas:
        assert schema.validate(document), (label, schema.error_log)
    assert exactly(pivot_facts(document)) == exactly(source.facts)


class _EmptyLedger:
    """No invoice was deposited before: the duplicate control finds nothing."""

    def scalar(self, _query: object) -> None:
        return None

    def execute(self, _query: object, _values: object = None) -> SimpleNamespace:
        return SimpleNamespace(first=lambda: None)

    def get_bind(self) -> SimpleNamespace:
        return SimpleNamespace(dialect=SimpleNamespace(name="sqlite"))


def test_edited_file_passes_every_business_control(source: Source) -> None:
    """Official examples are consistent invoices: none of the hub's controls may refuse
    one (EN 16931's own margins included, e.g. VAT amounts within one currency unit)."""
    buyer = Recipient(source.buyer_siret, "Structure publique", True, "DEST01")
    reception = Reception(
        Referential(None, {source.buyer_siret: buyer}, {}, set(), set()),  # type: ignore[arg-type]
        Duplicates(_EmptyLedger()),  # type: ignore[arg-type]
        "FL0000000001",
        deposit_date=date(2100, 1, 1),
        tolerance=Decimal("0.01"),
        vat_tolerance=Decimal("1"),
    )
    invoice = source.read(source.root)
    to, problems = controls.check(invoice, reception)
    assert to == buyer
    # several examples carry placeholder accounts (DK1212341234123412, "IBAN", "XX") whose
    # check digits fail ISO 13616: a hub that pays by transfer is right to refuse them
    placeholders = [p for p in problems if p.code == "IBAN_INVALID"]
    assert all(p.value == invoice.supplier.iban for p in placeholders)
    assert [(p.code, p.message) for p in problems if p not in placeholders] == []
