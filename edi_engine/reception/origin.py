"""What a CR reads back from a flow's archived original, in bounded memory: the
depositor's own id of the flow (the IdFlx of a pivot's or status file's envelope) and
where each invoice sits in it (its line and path), which the pipeline does not keep; and
what names the one invoice of a UBL or CII document refused as a whole, read from its
tree while it is parsed."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from pivot_format import cii, ubl

from ..problems import Problem
from . import identify, xmlsafe
from .identify import Container

HEAD_BYTES = 64 * 1024  # an envelope further in than this is not looked for
MAX_PRODUCER_ID = 100  # flows.producer_flow_id
FLOW_ID = "IdFlx"
# the elements of a CPP document that are one invoice (or one status) each, under its root
UNITS = {
    identify.PIVOT: ("CPPFactures", "CPPFacturePivotUnitaire"),
    identify.STATUT: ("CPPFactureStatuts", "CPPFactureStatutUnitaire"),
}
MAX_NAMED = 100  # characters of a number or identifier read from a document refused whole


@dataclass(frozen=True)
class Place:
    """Where an invoice sits in its document: the line its element starts on, its path."""

    line: int | None
    path: str


@dataclass(frozen=True)
class Identity:
    """The invoice an error line is about: its number, its supplier's and its recipient's
    identifiers (as the ledger recorded them, or as a document refused whole carries them)."""

    number: str | None = None
    supplier: str | None = None
    recipient: str | None = None


NOBODY = Identity()


@dataclass(frozen=True)
class Named(Problem):
    """A problem of a one-invoice document refused as a whole, naming that invoice for the
    CR. No invoice row holds it (nothing was read): it is not a column of flow_errors."""

    invoice: Identity = NOBODY

    def as_dict(self) -> dict[str, object]:
        found = super().as_dict()
        del found["invoice"]
        return found


def _where(namespaces: dict[str, str], *groups: list[str]) -> list[list[etree.XPath]]:
    """Each group's paths, compiled to give their first element only."""
    return [[etree.XPath(f"({path})[1]", namespaces=namespaces) for path in g] for g in groups]


_SUPPLIER = "cac:AccountingSupplierParty[1]/cac:Party[1]/"
_CUSTOMER = "cac:AccountingCustomerParty[1]/cac:Party[1]/"
_UBL_IDS = ("cac:PartyIdentification/cbc:ID", "cac:PartyLegalEntity/cbc:CompanyID")
_AGREEMENT = "rsm:SupplyChainTradeTransaction[1]/ram:ApplicableHeaderTradeAgreement[1]/"
_SELLER, _BUYER = _AGREEMENT + "ram:SellerTradeParty[1]/", _AGREEMENT + "ram:BuyerTradeParty[1]/"
_CII_IDS = ("ram:ID", "ram:GlobalID", "ram:SpecifiedLegalOrganization/ram:ID")
# where a document of one invoice carries its number, supplier and recipient, in the order
# the readers look (pivot_format.ubl, pivot_format.cii)
_UBL = _where(
    ubl.NS,
    ["cbc:ID"],
    [_SUPPLIER + path for path in (*_UBL_IDS, "cac:PartyTaxScheme/cbc:CompanyID")],
    [_CUSTOMER + path for path in (*_UBL_IDS, "cbc:EndpointID")],
)
_CII = _where(
    cii.NS,
    ["rsm:ExchangedDocument[1]/ram:ID"],
    [_SELLER + path for path in (*_CII_IDS, "ram:SpecifiedTaxRegistration/ram:ID")],
    [_BUYER + path for path in (*_CII_IDS, "ram:URIUniversalCommunication/ram:URIID")],
)
NAMED = {identify.UBL_INVOICE: _UBL, identify.UBL_CREDIT_NOTE: _UBL, identify.CII: _CII}


def naming(problems: Sequence[Problem], root: etree._Element) -> list[Problem]:
    """The problems of a document refused as a whole, each naming its invoice when the
    document is one UBL or CII invoice: the number, supplier and recipient it carries, read
    best effort from the tree already parsed, each at most MAX_NAMED characters. A pivot
    (or status file) refused whole holds many: nothing is named one by one."""
    paths = NAMED.get(root.tag)
    if not problems or paths is None:
        return list(problems)
    found = [[_text(node) for path in group for node in path(root)] for group in paths]
    number, suppliers, recipients = ([value for value in each if value] for each in found)
    invoice = Identity(next(iter(number), None), _identifier(suppliers), _identifier(recipients))
    if invoice == NOBODY:
        return list(problems)
    return [Named(**problem.as_dict(), invoice=invoice) for problem in problems]


def _text(node: object) -> str:
    text = node.text if isinstance(node, etree._Element) else None
    return (text or "").strip()[:MAX_NAMED]


def _identifier(values: list[str]) -> str | None:
    """A SIRET (14 digits) first, as the readers take it; else the first identifier."""
    sirets = [value for value in values if len(value) == 14 and value.isdigit()]
    return next(iter(sirets or values), None)


def producer_flow_id(path: Path) -> str | None:
    """The IdFlx of the first EnveloppeUnitaire of a CPPFacturePivot or CPPStatut, at most
    MAX_PRODUCER_ID characters; None for any other document, a batch, a PDF, or a head
    that does not say (the flow's own refusal says why)."""
    head = _xml_head(path)
    if head is None:
        return None
    parser = etree.XMLPullParser(events=("start", "end"), **xmlsafe.options(False))
    try:
        parser.feed(head)
        for event, element in parser.read_events():
            if event == "start":
                if element.getparent() is None and element.tag not in UNITS:
                    return None
            elif element.tag == "ParametreIndiv" and _in_envelope(element):
                code, value = element.find("Code"), element.find("Valeurparametre")
                if code is not None and (code.text or "").strip() == FLOW_ID:
                    found = (value.text or "").strip() if value is not None else ""
                    return found[:MAX_PRODUCER_ID] or None
            elif element.tag == "EnveloppeUnitaire":
                return None  # read_envelope reads the first one only
    except etree.XMLSyntaxError:
        return None
    return None


def invoice_places(path: Path, wanted: Collection[int], huge: bool) -> dict[int, Place]:
    """Where the wanted invoices (by position in the flow, from 1) sit in a flow of one XML
    document: a UBL or CII invoice is its root, a pivot's (or status file's) n-th is its
    n-th unit. Nothing for a batch or a PDF: the CR names their documents instead."""
    head = _xml_head(path) if wanted else None
    root = _root(head) if head is not None else None
    if root is None:
        return {}
    if root.tag not in UNITS:
        name = etree.QName(root).localname
        step = f"{root.prefix}:{name}" if root.prefix else name
        return {1: Place(root.sourceline, f"/{step}")} if 1 in wanted else {}
    container, unit = UNITS[root.tag]
    found: dict[int, Place] = {}
    last, count = max(wanted), 0
    try:
        with open(path, "rb") as handle:
            for _, element in etree.iterparse(
                handle, events=("end",), tag=unit, **xmlsafe.options(huge)
            ):
                parent = element.getparent()
                if parent is None or parent.tag != container or parent.getparent() is None:
                    continue
                if parent.getparent().getparent() is not None:
                    continue  # deeper than root/container/unit
                count += 1
                if count in wanted:
                    found[count] = Place(
                        element.sourceline, f"/{root.tag}/{container}/{unit}[{count}]"
                    )
                _forget(element)
                if count >= last:
                    break
    except (OSError, etree.XMLSyntaxError):
        pass  # a place is a help to the reader: the CR goes without it
    return found


def _xml_head(path: Path) -> bytes | None:
    """The first bytes of a single XML document, None for a batch, a PDF or a DOCTYPE."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return None
    if identify.container(head) is not Container.XML or b"<!DOCTYPE" in head:
        return None
    return head


def _root(head: bytes) -> etree._Element | None:
    parser = etree.XMLPullParser(events=("start",), **xmlsafe.options(False))
    try:
        parser.feed(head)
        for _, element in parser.read_events():
            return element
    except etree.XMLSyntaxError:
        return None
    return None


def _in_envelope(element: etree._Element) -> bool:
    """root/Enveloppe/EnveloppeUnitaire/Parametres/ParametreIndiv"""
    chain = [element]
    while (parent := chain[-1].getparent()) is not None:
        chain.append(parent)
    return [e.tag for e in chain[1:4]] == ["Parametres", "EnveloppeUnitaire", "Enveloppe"] and (
        len(chain) == 5
    )


def _forget(element: etree._Element) -> None:
    """Free a unit once counted, and the units before it."""
    element.clear()
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]
