"""Who may deposit for whom (issue 12, point 3) end to end: a partner deposits invoices and
statuses only for the suppliers tied to it, unless it is an operator; what the depositor
reads in its CR, what the recipient receives, what the operator sees in the CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic import command

from edi_engine.ledger import db

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_1_SIRET, SUPPLIER_2, SUPPLIER_2_SIRET, Home
from .test_controls import (
    MONTCLAIR,
    UNKNOWN_SIRET,
    assert_accepted,
    assert_rejected,
    batch,
    delivered,
    deposit,
    ubl,
    with_engagements,
)
from .test_statuses_in import cr_lines, status, statut_flow
from .test_statuses_in import deposit as deposit_statuses

# who may deposit for whom, on test_controls' invoices (one has no IBAN: BR-61)
pytestmark = pytest.mark.usefixtures("rules_off")

VAT_SUPPLIER = "DE123456789"  # a German supplier without SIRET, by its VAT number
THIRD_SIRET = "44306184100005"  # a supplier no partner of the home deposits for


def suppliers(home: Home, partner: str) -> list[tuple[str, str]]:
    listed = json.loads(home.invoke("partners", "suppliers", "list", partner, "--json").stdout)
    return [(s["identifier"], s["scheme"]) for s in listed]


def shown(home: Home, partner: str) -> dict:
    return json.loads(home.invoke("partners", "show", partner, "--json").stdout)


def test_an_invoice_of_a_supplier_not_tied_to_its_depositor_is_refused_naming_both(
    home: Home,
) -> None:
    # FOUR01 sends an invoice in the name of FOUR02's company
    (outcome,) = deposit(home, ubl("F02-2026-000900", supplier=SUPPLIER_2_SIRET, iban=None))

    line = assert_rejected(outcome, "SUPPLIER_NOT_ALLOWED", SUPPLIER_2_SIRET, names=(SUPPLIER_1,))
    assert "Le partenaire FOUR01 n'est pas habilité" in line.message
    assert outcome.codes() == ["SUPPLIER_NOT_ALLOWED"]
    assert delivered(home) == []

    home.invoke("partners", "suppliers", "add", SUPPLIER_1, SUPPLIER_2_SIRET)
    (again,) = deposit(home, ubl("F02-2026-000900", supplier=SUPPLIER_2_SIRET, iban=None))
    assert_accepted(again)
    (pivot,) = delivered(home)
    assert pivot.findtext("Fournisseur/Identifiant") == SUPPLIER_2_SIRET


def test_a_flow_with_both_delivers_the_invoices_of_its_own_suppliers(home: Home) -> None:
    (outcome,) = deposit(
        home,
        batch(
            mine=ubl("F01-2026-000101"), theirs=ubl("F02-2026-000901", supplier=SUPPLIER_2_SIRET)
        ),
    )
    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE_PARTIEL", "96")
    assert [(line.code, line.invoice) for line in outcome.cr_lines] == [
        ("SUPPLIER_NOT_ALLOWED", "2")
    ]
    assert [p.findtext("DonneesFacture/Id") for p in delivered(home)] == ["F01-2026-000101"]


def test_a_partner_not_tied_to_a_supplier_learns_nothing_of_its_commitments_or_invoices(
    home: Home,
) -> None:
    """Probing with another supplier's invoices tells where they go and that the partner
    may not deposit them, nothing else: not which commitments the structure published for
    that supplier (EJ-VAL-2026-0600 for FOUR02's), nor which invoices it deposited."""
    with_engagements(home)

    def theirs(number: str, **fields: object) -> bytes:
        return ubl(number, supplier=SUPPLIER_2_SIRET, **fields)

    probes = {
        "published": theirs("F02-2026-000910", engagement="EJ-VAL-2026-0600"),
        "another service": theirs(
            "F02-2026-000911", engagement="EJ-VAL-2026-0600", service="SERV-TECH"
        ),
        "unknown": theirs("F02-2026-000912", engagement="EJ-VAL-2026-9999"),
        "no structure": theirs(
            "F02-2026-000913", engagement="EJ-VAL-2026-9999", buyer=UNKNOWN_SIRET
        ),
    }
    contents = list(probes.values())
    # the supplier's own connection deposits them first, and is told of each commitment
    tied = deposit(home, *contents, partner=SUPPLIER_2)
    assert {name: o.codes() for name, o in zip(probes, tied, strict=True)} == {
        "published": [],
        "another service": ["ENGAGEMENT_SERVICE_MISMATCH"],
        "unknown": ["ENGAGEMENT_UNKNOWN"],
        "no structure": ["RECIPIENT_UNKNOWN"],
    }
    assert len(delivered(home)) == 2

    probed = deposit(home, *contents)  # FOUR01 sends the very same invoices

    assert {name: o.codes() for name, o in zip(probes, probed, strict=True)} == {
        "published": ["SUPPLIER_NOT_ALLOWED"],
        "another service": ["SUPPLIER_NOT_ALLOWED"],
        "unknown": ["SUPPLIER_NOT_ALLOWED"],
        "no structure": ["RECIPIENT_UNKNOWN", "SUPPLIER_NOT_ALLOWED"],
    }
    for outcome in probed:
        told = json.dumps([vars(line) for line in outcome.cr_lines] + outcome.errors)
        assert "EJ-VAL" not in told and "INVOICE_DUPLICATE" not in told, told
    assert len(delivered(home)) == 2


def test_an_operator_deposits_for_any_supplier_until_no_operator(home: Home) -> None:
    home.invoke("partners", "update", SUPPLIER_1, "--operator")
    (outcome,) = deposit(home, ubl("F02-2026-000902", supplier=SUPPLIER_2_SIRET, iban=None))
    assert_accepted(outcome)
    assert shown(home, SUPPLIER_1)["operator"] is True
    listed = home.invoke("partners", "list").stdout
    assert "operator" in listed and "any" in listed

    home.invoke("partners", "update", SUPPLIER_1, "--no-operator")
    (outcome,) = deposit(home, ubl("F02-2026-000903", supplier=SUPPLIER_2_SIRET, iban=None))
    assert_rejected(outcome, "SUPPLIER_NOT_ALLOWED", SUPPLIER_2_SIRET, names=(SUPPLIER_1,))
    assert shown(home, SUPPLIER_1)["operator"] is False


def test_a_partner_added_as_an_operator_says_so(home: Home) -> None:
    home.invoke(
        "partners", "add", "OPER01", "--name", "Plateforme de dématérialisation", "--operator"
    )
    assert shown(home, "OPER01")["operator"] is True
    assert "any supplier (operator)" in home.invoke("partners", "show", "OPER01").stdout
    (outcome,) = deposit(home, ubl(), partner="OPER01")
    assert_accepted(outcome)
    # a partner without supplier nor operator deposits for no one, and says so
    home.invoke("partners", "add", "NEW001", "--name", "Nouveau raccordement")
    assert shown(home, "NEW001")["suppliers"] == []
    assert "no supplier" in home.invoke("partners", "show", "NEW001").stdout


def test_partners_show_lists_the_suppliers(home: Home) -> None:
    detail = shown(home, SUPPLIER_1)
    assert [(s["identifier"], s["scheme"]) for s in detail["suppliers"]] == [
        (SUPPLIER_1_SIRET, "siret")
    ]
    text = home.invoke("partners", "show", SUPPLIER_1).stdout
    assert "supplier (siret)" in text and SUPPLIER_1_SIRET in text


def test_suppliers_add_remove_and_bad_identifiers(home: Home) -> None:
    home.invoke(
        "partners", "suppliers", "add", SUPPLIER_1, "de 123 456 789", "X-4471", "--scheme", "other"
    )
    home.invoke("partners", "suppliers", "add", SUPPLIER_1, "de123456789")  # already: a VAT now
    assert suppliers(home, SUPPLIER_1) == [
        (SUPPLIER_1_SIRET, "siret"), ("DE123456789", "vat"), ("X-4471", "other"),
    ]  # fmt: skip

    refused = home.invoke("partners", "suppliers", "add", SUPPLIER_1, "81234567600026", code=2)
    assert "SIRET '81234567600026' is not 14 digits with a valid check key" in refused.stderr
    refused = home.invoke("partners", "suppliers", "add", SUPPLIER_1, "ACME/42", code=2)
    assert "give its scheme as other" in refused.stderr
    refused = home.invoke(
        "partners", "suppliers", "remove", SUPPLIER_1, "X-4471", "99999999999999", code=1
    )
    assert "not tied to 99999999999999; nothing was removed" in refused.stderr
    assert len(suppliers(home, SUPPLIER_1)) == 3
    refused = home.invoke("partners", "suppliers", "add", "NOBODY", SUPPLIER_1_SIRET, code=1)
    assert "No partner is registered with the code 'NOBODY'" in refused.stderr

    home.invoke("partners", "suppliers", "remove", SUPPLIER_1, SUPPLIER_1_SIRET, "x-4471")
    assert suppliers(home, SUPPLIER_1) == [("DE123456789", "vat")]
    (outcome,) = deposit(home, ubl())
    assert_rejected(outcome, "SUPPLIER_NOT_ALLOWED", SUPPLIER_1_SIRET, names=(SUPPLIER_1,))


def test_suppliers_import_takes_a_good_file_and_refuses_a_bad_one_whole(
    home: Home, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        f"identifier;scheme\n{SUPPLIER_2_SIRET};siret\n{VAT_SUPPLIER};\nGB-CH-0412;other\n",
        encoding="utf-8",
    )
    said = home.invoke("partners", "suppliers", "import", SUPPLIER_1, good).stderr
    assert "may deposit for 3 more supplier(s)" in said
    assert suppliers(home, SUPPLIER_1) == [
        (SUPPLIER_1_SIRET, "siret"), (SUPPLIER_2_SIRET, "siret"), (VAT_SUPPLIER, "vat"),
        ("GB-CH-0412", "other"),
    ]  # fmt: skip

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "identifier,scheme\n"
        "21990101400015,siret\n"  # fine, but the file is refused whole
        "81234567600026,siret\n"  # wrong check key
        "FR12345678901,duns\n"  # no such scheme
        "21990101400015,\n"  # twice
        ",siret\n",  # empty
        encoding="utf-8",
    )
    refused = home.invoke("partners", "suppliers", "import", SUPPLIER_2, bad, code=1).stderr
    assert "4 bad row(s), nothing was imported" in refused
    assert "line 3: SIRET '81234567600026' is not 14 digits with a valid check key" in refused
    assert "line 4: Scheme 'duns' is not one of siret, vat, other" in refused
    assert "line 5: 21990101400015 already appears on line 2" in refused
    assert "line 6: A supplier identifier is empty" in refused
    assert suppliers(home, SUPPLIER_2) == [(SUPPLIER_2_SIRET, "siret")]

    no_column = tmp_path / "siret.csv"
    no_column.write_text("siret\n21990101400015\n", encoding="utf-8")
    refused = home.invoke("partners", "suppliers", "import", SUPPLIER_2, no_column, code=1).stderr
    assert "must name the columns identifier" in refused


def test_a_status_12_for_a_supplier_not_its_own_is_refused(home: Home) -> None:
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    home.run()
    deposit_statuses(home, RECIPIENT, "s.xml", statut_flow(RECIPIENT, status("06", comment="PV")))

    # FOUR02 completes FOUR01's invoice: neither its invoice nor its supplier
    flow = deposit_statuses(home, SUPPLIER_2, "c.xml", statut_flow(SUPPLIER_2, status("12")))
    ((_, code, text),) = cr_lines(home, flow)
    assert code == "STATUS_INVOICE_UNKNOWN" and SUPPLIER_2 in text  # not its invoice
    # FOUR01 deposited it, but no longer deposits for its supplier
    home.invoke("partners", "suppliers", "remove", SUPPLIER_1, SUPPLIER_1_SIRET)
    flow = deposit_statuses(home, SUPPLIER_1, "c.xml", statut_flow(SUPPLIER_1, status("12")))
    ((_, code, text),) = cr_lines(home, flow)
    assert code == "SUPPLIER_NOT_ALLOWED"
    assert SUPPLIER_1 in text and SUPPLIER_1_SIRET in text
    (found,) = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert found["status"] == "SUSPENDUE"
    assert len(delivered(home)) == 1  # not delivered again

    home.invoke("partners", "suppliers", "add", SUPPLIER_1, SUPPLIER_1_SIRET)
    flow = deposit_statuses(home, SUPPLIER_1, "c2.xml", statut_flow(SUPPLIER_1, status("12")))
    ((_, code, _),) = cr_lines(home, flow)
    assert code == "STATUS_APPLIED" and len(delivered(home)) == 2


def test_recycling_controls_the_supplier_with_the_flows_depositor(home: Home) -> None:
    (outcome,) = deposit(home, ubl())
    assert_accepted(outcome)
    (found,) = json.loads(home.invoke("invoices", "search", "--json").stdout)
    home.invoke("invoices", "set-status", found["id"], "A_RECYCLER", "--comment", "wrong SIRET")
    home.invoke("partners", "suppliers", "remove", SUPPLIER_1, SUPPLIER_1_SIRET)

    refused = home.invoke("invoices", "recycle", found["id"], "--siret", MONTCLAIR, code=1)
    assert "SUPPLIER_NOT_ALLOWED" in refused.stderr and SUPPLIER_1 in refused.stderr
    assert len(delivered(home)) == 1

    home.invoke("partners", "suppliers", "add", SUPPLIER_1, SUPPLIER_1_SIRET)
    home.invoke("invoices", "recycle", found["id"], "--siret", MONTCLAIR)
    assert len(delivered(home)) == 2


def test_a_home_from_before_the_rule_keeps_depositing_for_its_suppliers(home: Home) -> None:
    """Migration 0010: each partner is tied to the suppliers of the invoices the hub
    delivered for it; a supplier whose invoices were all refused is not."""
    home.invoke("partners", "update", SUPPLIER_1, "--operator")  # as anyone could before
    deposit(
        home,
        ubl("F01-2026-000101"),
        ubl("F02-2026-000904", supplier=SUPPLIER_2_SIRET, iban=None),
        ubl("F09-2026-000001", supplier=THIRD_SIRET, buyer=UNKNOWN_SIRET),  # refused
    )
    url = f"sqlite:///{home.path / 'ledger.db'}"
    command.downgrade(db.alembic_config(url), "0009")
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        ((revision,),) = ledger.execute("select version_num from alembic_version")
    assert revision == "0009"

    # a new release's `init` (or any command in its own process) brings the ledger up to date
    home.invoke("init", home.path)
    assert suppliers(home, SUPPLIER_1) == [(SUPPLIER_1_SIRET, "siret"), (SUPPLIER_2_SIRET, "siret")]
    assert suppliers(home, SUPPLIER_2) == []
    assert shown(home, SUPPLIER_1)["operator"] is False
    outcome, refused = deposit(
        home,
        ubl("F02-2026-000905", supplier=SUPPLIER_2_SIRET, iban=None),
        ubl("F09-2026-000002", supplier=THIRD_SIRET),
    )
    assert_accepted(outcome)
    assert_rejected(refused, "SUPPLIER_NOT_ALLOWED", THIRD_SIRET, names=(SUPPLIER_1,))


def test_the_demo_ties_each_supplier_to_its_connection(tmp_path: Path, run_cli) -> None:
    run_cli("demo", tmp_path / "demo")
    for partner, siret in ((SUPPLIER_1, SUPPLIER_1_SIRET), (SUPPLIER_2, SUPPLIER_2_SIRET)):
        listed = run_cli(
            "--home", tmp_path / "demo", "partners", "suppliers", "list", partner, "--json"
        )
        assert [s["identifier"] for s in json.loads(listed.stdout)] == [siret]
