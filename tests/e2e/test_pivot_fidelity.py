"""What the recipient's pivot carries of what the supplier wrote (issue 12, point 7), end
to end through `run --once`: the service's name (`NomService`), the payment means text
(`ModePaiement/Libelle`), each attachment's original name and category (`NomPJOrigine`,
`CategoriePJ`), the hub's own identifier of the invoice (`IdCPRO`), and the supplier's
identifier type as the official XSD defines it (2: a European structure outside France,
3: outside the EU)."""

from __future__ import annotations

import json

import pytest
from lxml import etree

import config

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, VALBRUNE, Home, sample

UBL_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CII_NS = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
}
CAC, CBC = (f"{{{UBL_NS[p]}}}" for p in ("cac", "cbc"))
RAM = f"{{{CII_NS['ram']}}}"
CUSTOMER = "cac:AccountingCustomerParty/cac:Party/"
SELLER = "cac:AccountingSupplierParty/cac:Party/"
CII_BUYER = ".//ram:BuyerTradeParty"
Schemas = list[tuple[str, etree.XMLSchema]]


def _one(root: etree._Element, path: str, ns: dict[str, str]) -> etree._Element:
    (found,) = root.xpath(path, namespaces=ns)
    return found


def _bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def ubl_with_names() -> bytes:
    """ubl-invoice.xml (FOUR01 to Valbrune, service SERV-SCOL) whose buyer contact is the
    service and has its name, whose payment means has its text, and whose embedded PDF is a
    delivery note."""
    root = etree.fromstring(sample("ubl-invoice.xml"))
    contact = etree.Element(CAC + "Contact")
    etree.SubElement(contact, CBC + "ID").text = "SERV-SCOL"
    etree.SubElement(contact, CBC + "Name").text = "Service des écoles & crèches"
    _one(root, CUSTOMER + "cac:PartyLegalEntity", UBL_NS).addnext(contact)
    _one(root, "cac:PaymentMeans/cbc:PaymentMeansCode", UBL_NS).set("name", "Virement SEPA")
    reference = _one(root, "cac:AdditionalDocumentReference", UBL_NS)
    _one(reference, "cbc:DocumentDescription", UBL_NS).text = "Bon de livraison"
    binary = _one(reference, "cac:Attachment/cbc:EmbeddedDocumentBinaryObject", UBL_NS)
    binary.set("filename", "BL 2026-10-28 école.pdf")
    return _bytes(root)


def cii_with_names() -> bytes:
    """cii-invoice.xml (FOUR02 to Valbrune, service SERV-TECH) with the buyer's contact
    department, the payment means text and its embedded PDF as a signed quote."""
    root = etree.fromstring(sample("cii-invoice.xml"))
    buyer = _one(root, CII_BUYER, CII_NS)
    contact = etree.Element(RAM + "DefinedTradeContact")
    etree.SubElement(contact, RAM + "DepartmentName").text = "Services techniques"
    _one(buyer, "ram:SpecifiedLegalOrganization", CII_NS).addnext(contact)
    information = etree.Element(RAM + "Information")
    information.text = "Virement à 30 jours"
    _one(root, ".//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode", CII_NS).addnext(
        information
    )
    reference = _one(root, ".//ram:AdditionalReferencedDocument", CII_NS)
    _one(reference, "ram:Name", CII_NS).text = "Devis"
    _one(reference, "ram:AttachmentBinaryObject", CII_NS).set("filename", "devis-signé.PDF")
    return _bytes(root)


def delivered(home: Home, flow: dict) -> etree._Element:
    """The one pivot the recipient received for the flow, valid against every schema."""
    name = f"PIVOT_{RECIPIENT}_{flow['number']}_1.xml"
    assert home.outbox(RECIPIENT) == [name]
    return etree.parse(str(home.path / "outbox" / RECIPIENT / name)).getroot()


def _valid(document: etree._Element, schemas: Schemas) -> None:
    for label, schema in schemas:
        assert schema.validate(document), (label, schema.error_log)


@pytest.mark.parametrize(
    ("partner", "document", "service", "label", "original", "category"),
    [
        (
            SUPPLIER_1,
            ubl_with_names,
            "Service des écoles & crèches",
            "Virement SEPA",
            "BL 2026-10-28 école.pdf",
            "Bon de livraison",
        ),
        (
            SUPPLIER_2,
            cii_with_names,
            "Services techniques",
            "Virement à 30 jours",
            "devis-signé.PDF",
            "Devis",
        ),
    ],
    ids=["ubl", "cii"],
)
def test_the_recipient_gets_what_the_supplier_wrote(
    home: Home,
    pivot_schemas: Schemas,
    partner: str,
    document,
    service: str,
    label: str,
    original: str,
    category: str,
) -> None:
    home.drop(partner, "facture.xml", document())

    (flow,) = home.run()

    assert flow["status"] == "IN_INTEGRE"
    pivot = delivered(home, flow)
    _valid(pivot, pivot_schemas)
    assert pivot.findtext(".//Debiteur/NomService") == service
    assert pivot.findtext(".//DonneesFacture/ModePaiement/Libelle") == label
    (own,) = pivot.xpath(".//PJ[TypePJ='01']")
    assert own.findtext("NomPJ") == "facture.xml"
    assert own.find("NomPJOrigine") is None  # "sauf facture originale"
    assert own.find("CategoriePJ") is None
    (attached,) = pivot.xpath(".//PJ[TypePJ='02']")
    assert attached.findtext("NomPJ") == original
    assert attached.findtext("NomPJOrigine") == original
    assert attached.findtext("CategoriePJ") == category


def test_idcpro_is_the_hubs_identifier_of_the_invoice(home: Home, pivot_schemas: Schemas) -> None:
    home.drop(SUPPLIER_1, "facture.xml", ubl_with_names())

    (flow,) = home.run()

    pivot = delivered(home, flow)
    _valid(pivot, pivot_schemas)
    (invoice,) = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert pivot.findtext(".//DonneesFacture/IdCPRO") == str(invoice["id"])
    data = pivot.find(".//DonneesFacture")
    assert [child.tag for child in data][:2] == ["Id", "IdCPRO"]  # the XSD's order


def test_a_deposited_pivot_keeps_its_service_name_and_attachment_names(
    home: Home, pivot_schemas: Schemas
) -> None:
    """pivot-multi.xml's first invoice, to Montclair, with NomService, a payment text and
    a categorised attachment; its own IdCPRO is another system's, replaced by the hub's."""
    root = etree.fromstring(sample("pivot-multi.xml"))
    unit = _one(root, "CPPFactures/CPPFacturePivotUnitaire[@NumOrdre='1']", {})
    for other in root.xpath("CPPFactures/CPPFacturePivotUnitaire[@NumOrdre!='1']"):
        other.getparent().remove(other)
    root.find("CPPFactures").set("Compteur", "1")
    debiteur = unit.find("Debiteur")
    etree.SubElement(debiteur, "NomService").text = "Direction des sports"
    data = unit.find("DonneesFacture")
    id_cpro = etree.Element("IdCPRO")
    id_cpro.text = "987654321"
    data.find("Id").addnext(id_cpro)
    etree.SubElement(data.find("ModePaiement"), "Libelle").text = "Virement"
    pj = unit.find("PJ")
    name_origin = etree.Element("NomPJOrigine")
    name_origin.text = "Facture originale.pdf"
    pj.find("NomPJ").addnext(name_origin)
    home.drop(SUPPLIER_2, "pivot.xml", _bytes(root))

    (flow,) = home.run()

    assert flow["status"] == "IN_INTEGRE", home.show(flow["number"])["errors"]
    pivot = delivered(home, flow)
    _valid(pivot, pivot_schemas)
    assert pivot.findtext(".//Debiteur/NomService") == "Direction des sports"
    assert pivot.findtext(".//ModePaiement/Libelle") == "Virement"
    assert pivot.findtext(".//PJ/NomPJOrigine") == "Facture originale.pdf"
    (invoice,) = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert pivot.findtext(".//IdCPRO") == str(invoice["id"]) != "987654321"


# -- the supplier's identifier type -------------------------------------------------------


def ubl_from_abroad(country: str, identifier: str, vat: str | None) -> bytes:
    """ubl-invoice.xml from a supplier of `country` without SIRET, identified by
    `identifier` (its register entry), with or without a VAT number."""
    root = etree.fromstring(sample("ubl-invoice.xml"))
    for path in ("cbc:EndpointID", "cac:PartyIdentification"):  # both carry its SIRET
        found = _one(root, SELLER + path, UBL_NS)
        found.getparent().remove(found)
    country_code = "cac:PostalAddress/cac:Country/cbc:IdentificationCode"
    _one(root, SELLER + country_code, UBL_NS).text = country
    tax = _one(root, SELLER + "cac:PartyTaxScheme", UBL_NS)
    if vat is None:
        tax.getparent().remove(tax)
    else:
        _one(tax, "cbc:CompanyID", UBL_NS).text = vat
    legal = _one(root, SELLER + "cac:PartyLegalEntity/cbc:CompanyID", UBL_NS)
    legal.text = identifier
    del legal.attrib["schemeID"]
    return _bytes(root)


def cii_from_abroad(country: str, identifier: str, vat: str | None) -> bytes:
    """cii-invoice.xml, the same way."""
    root = etree.fromstring(sample("cii-invoice.xml"))
    seller = _one(root, ".//ram:SellerTradeParty", CII_NS)
    seller.remove(_one(seller, "ram:GlobalID", CII_NS))
    legal = _one(seller, "ram:SpecifiedLegalOrganization/ram:ID", CII_NS)
    legal.text = identifier
    del legal.attrib["schemeID"]
    _one(seller, "ram:PostalTradeAddress/ram:CountryID", CII_NS).text = country
    tax = _one(seller, "ram:SpecifiedTaxRegistration", CII_NS)
    if vat is None:
        seller.remove(tax)
    else:
        _one(tax, "ram:ID", CII_NS).text = vat
    return _bytes(root)


# a supplier selling at the standard rate without a VAT number breaks EN 16931 (BR-S-02):
# the pivot's typing of its identifier is what is tested here
@pytest.mark.usefixtures("rules_off")
@pytest.mark.parametrize("syntax", ["ubl", "cii"])
@pytest.mark.parametrize(
    ("country", "vat", "identifier_type", "identifier"),
    [
        ("DE", None, "2", "HRB 123456"),  # European, no VAT number: still European
        ("DE", "DE123456788", "2", "DE123456788"),  # European, by its VAT number
        ("CH", None, "3", "HRB 123456"),  # outside the EU
    ],
    ids=["eu-without-vat", "eu-with-vat", "outside-eu"],
)
def test_a_supplier_without_siret_is_typed_by_where_it_is(
    home: Home,
    pivot_schemas: Schemas,
    syntax: str,
    country: str,
    vat: str | None,
    identifier_type: str,
    identifier: str,
) -> None:
    partner = SUPPLIER_1 if syntax == "ubl" else SUPPLIER_2
    scheme = "vat" if identifier == vat else "other"
    home.invoke("partners", "suppliers", "add", partner, identifier, "--scheme", scheme)
    make = ubl_from_abroad if syntax == "ubl" else cii_from_abroad
    home.drop(partner, "facture.xml", make(country, "HRB 123456", vat))

    (flow,) = home.run()

    assert flow["status"] == "IN_INTEGRE", home.show(flow["number"])["errors"]
    supplier = delivered(home, flow).find(".//Fournisseur")
    assert supplier.findtext("TypeIdentifiant") == identifier_type
    assert supplier.findtext("Identifiant") == identifier
    assert supplier.findtext("CodePays") == country


@pytest.mark.parametrize(
    ("service", "name"),
    [("SERV-SCOL", "Service des écoles & crèches"), ("SERV-TECH", None)],
    ids=["same-service", "other-service"],
)
def test_a_recycled_invoice_names_its_service_only_while_it_goes_to_it(
    home: Home, service: str, name: str | None
) -> None:
    """The name the supplier wrote is its service's: sent to another, the pivot has none."""
    home.invoke("structures", "import-services", config.path("demo/services.csv"))
    home.drop(SUPPLIER_1, "facture.xml", ubl_with_names())
    (flow,) = home.run()
    (invoice,) = json.loads(home.invoke("invoices", "search", "--json").stdout)
    home.invoke("invoices", "set-status", invoice["id"], "A_RECYCLER", "--comment", "service")

    home.invoke(
        "invoices", "recycle", invoice["id"], "--siret", VALBRUNE, "--service-code", service
    )

    recycled = home.path / "outbox" / RECIPIENT / f"PIVOT_{RECIPIENT}_{flow['number']}_2.xml"
    debiteur = etree.parse(str(recycled)).find(".//Debiteur")
    assert debiteur.findtext("CodeService") == service
    assert debiteur.findtext("NomService") == name
