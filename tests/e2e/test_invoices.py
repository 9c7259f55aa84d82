"""Operators find invoices, see every decision, send one back and recycle it (issue 5,
items 3 and 4), all through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from .conftest import HAUT_VERNAY, MONTCLAIR, RECIPIENT, SUPPLIER_1, SUPPLIER_2, VALBRUNE, Home

INVOICE_KEYS = {
    "id", "number", "supplier", "recipient", "service_code", "engagement", "status",
    "status_code", "status_date", "flow", "amount_ttc", "currency", "warnings", "errors",
    "in_lifecycle", "delivery_incident",
}  # fmt: skip
OTHER_RECIPIENT = "DEST02"
BELROCHE = "21990505000015"  # active, served by DEST02, manages services
BELROCHE_SERVICES = "siret,code,name,active\n21990505000015,SERV-ACHATS,Achats,true\n21990505000015,SERV-ANCIEN,Ancien service,false\n"


def _search(home: Home, *args: str) -> list[dict]:
    return json.loads(home.invoke("invoices", "search", *args, "--json").stdout)


def _show(home: Home, invoice_id: int) -> dict:
    return json.loads(home.invoke("invoices", "show", invoice_id, "--json").stdout)


@pytest.fixture
def delivered(home: Home, tmp_path: Path) -> Home:
    """The demo's flows processed; a second recipient partner serves a structure with services."""
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "ubl-inactive.xml", sample="ubl-inactive.xml")
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample="pivot-multi.xml")
    home.run()
    home.invoke("partners", "add", OTHER_RECIPIENT, "--name", "Belroche's platform")
    structures = tmp_path / "belroche.csv"
    structures.write_text(
        f"siret,designation,active,partner\n{BELROCHE},Commune de Belroche,true,{OTHER_RECIPIENT}\n"
    )
    home.invoke("structures", "import", structures)
    services = tmp_path / "services.csv"
    services.write_text(BELROCHE_SERVICES)
    home.invoke("structures", "import-services", services)
    return home


def _invoice(home: Home, number: str) -> dict:
    (found,) = _search(home, "--number", number)
    return found


def test_search_filters_and_json_keys(delivered: Home) -> None:
    everything = _search(delivered)
    assert len(everything) == 5 and all(set(row) == INVOICE_KEYS for row in everything)
    assert [r["id"] for r in everything] == sorted(r["id"] for r in everything)

    valbrune = _search(delivered, "--siret", VALBRUNE)
    assert {r["recipient"] for r in valbrune} == {VALBRUNE} and len(valbrune) == 2
    both = _search(delivered, "--siret", VALBRUNE, "--siret", MONTCLAIR)
    assert {r["recipient"] for r in both} == {VALBRUNE, MONTCLAIR} and len(both) == 3
    by_siren = _search(delivered, "--siren", VALBRUNE[:9])
    assert [r["id"] for r in by_siren] == [r["id"] for r in valbrune]

    refused = _search(delivered, "--status", "REFUSEE_RECEPTION")
    assert {r["recipient"] for r in refused} == {HAUT_VERNAY, "21990404200013"}
    assert all(r["status_code"] is None and r["errors"] for r in refused)
    assert all(r["in_lifecycle"] is False for r in refused)
    assert all(r["in_lifecycle"] for r in everything if r not in refused)
    assert _search(delivered, "--status", "REJETEE") == []  # the recipient's rejection only
    assert _search(delivered, "--number", "F01-2026-000101")[0]["amount_ttc"] == "800.11"
    assert _search(delivered, "--number", "NO-SUCH-NUMBER") == []

    page = _search(delivered, "--limit", "2", "--offset", "1")
    assert [r["id"] for r in page] == [r["id"] for r in everything[1:3]]


def test_search_prints_a_table_without_json(delivered: Home) -> None:
    out = delivered.invoke("invoices", "search", "--status", "REFUSEE_RECEPTION").stdout
    assert "F01-2026-000104" in out and "REFUSEE_RECEPTION" in out
    assert "F01-2026-000101" not in out


def test_show_has_reasons_and_history(delivered: Home) -> None:
    rejected = _show(delivered, _invoice(delivered, "F01-2026-000104")["id"])
    assert set(rejected) >= INVOICE_KEYS | {"history"}
    (error,) = rejected["errors"]
    assert error["code"] == "RECIPIENT_INACTIVE" and error["value"] == HAUT_VERNAY
    assert "n'est pas ACTIVE" in error["message_fr"] and "not ACTIVE" in error["message"]
    assert [(h["status"], h["status_code"]) for h in rejected["history"]] == [
        ("REFUSEE_RECEPTION", None)
    ]
    assert rejected["history"][0]["detail"].startswith("refused at reception in flow FL")

    accepted = _show(delivered, _invoice(delivered, "F01-2026-000101")["id"])
    assert accepted["errors"] == [] and accepted["warnings"] == []
    assert [h["status"] for h in accepted["history"]] == [
        "DEPOSEE", "EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION",
    ]  # fmt: skip
    out = delivered.invoke("invoices", "show", accepted["id"]).stdout
    assert "History" in out and "MISE_A_DISPOSITION" in out


def test_unknown_invoice_is_refused(delivered: Home) -> None:
    result = delivered.invoke("invoices", "show", "999", code=1)
    assert "No invoice has the id 999" in result.stderr


def test_set_status_follows_the_lifecycle(delivered: Home) -> None:
    invoice_id = _invoice(delivered, "F01-2026-000101")["id"]
    delivered.invoke("invoices", "set-status", invoice_id, "SERVICE_FAIT", "--comment", "livré")
    shown = _show(delivered, invoice_id)
    assert (shown["status"], shown["status_code"]) == ("SERVICE_FAIT", "07")
    assert shown["history"][-1]["detail"] == "livré"
    assert shown["history"][-1]["actor"].startswith("operator:")

    backwards = delivered.invoke("invoices", "set-status", invoice_id, "MISE_A_DISPOSITION", code=1)
    assert "set by the engine" in backwards.stderr
    recycle_late = delivered.invoke("invoices", "set-status", invoice_id, "A_RECYCLER", code=1)
    assert "A_RECYCLER cannot follow SERVICE_FAIT" in recycle_late.stderr
    rejected_id = _invoice(delivered, "F01-2026-000104")["id"]
    refused = delivered.invoke("invoices", "set-status", rejected_id, "SERVICE_FAIT", code=1)
    assert "refused at reception" in refused.stderr and "never entered the lifecycle" in (
        refused.stderr
    )
    named = delivered.invoke("invoices", "set-status", invoice_id, "REFUSEE_RECEPTION", code=2)
    assert "not a status of the lifecycle" in named.stderr
    assert _show(delivered, invoice_id)["status"] == "SERVICE_FAIT"  # nothing applied


def _sent_back(home: Home, number: str = "F01-2026-000101") -> int:
    invoice_id = _invoice(home, number)["id"]
    home.invoke("invoices", "set-status", invoice_id, "A_RECYCLER", "--comment", "mauvais service")
    return invoice_id


def test_recycling_to_an_active_structure_delivers_a_recycled_pivot_to_its_partner(
    delivered: Home, pivot_schemas: list[tuple[str, etree.XMLSchema]]
) -> None:
    invoice_id = _sent_back(delivered)
    before = delivered.outbox(RECIPIENT)
    result = delivered.invoke(
        "invoices", "recycle", invoice_id, "--siret", BELROCHE, "--service-code", "SERV-ACHATS",
        "--engagement", "EJ-BEL-1",
    )  # fmt: skip
    assert "recycled to 21990505000015" in result.stderr
    assert delivered.outbox(RECIPIENT) == before  # the first pivot stays where it was
    (name,) = delivered.outbox(OTHER_RECIPIENT)
    pivot = etree.parse(delivered.path / "outbox" / OTHER_RECIPIENT / name)
    for schema_name, schema in pivot_schemas:
        assert schema.validate(pivot), (schema_name, schema.error_log)
    unit = pivot.getroot().find("CPPFactures/CPPFacturePivotUnitaire")
    assert unit.findtext("DonneesFacture/Renvoi") == "Recyclée"
    assert unit.findtext("DonneesFacture/Id") == "F01-2026-000101"  # the number stays
    assert unit.findtext("Debiteur/Identifiant") == BELROCHE
    assert unit.findtext("Debiteur/Nom") == "Commune de Belroche"  # not Valbrune's name
    assert unit.findtext("Debiteur/CodeService") == "SERV-ACHATS"
    assert unit.findtext("DonneesFacture/Engagement/NumeroEngagement") == "EJ-BEL-1"
    assert unit.findtext("DonneesFacture/Montants/MontantTTC") == "800.11"

    shown = _show(delivered, invoice_id)
    assert (shown["recipient"], shown["service_code"], shown["engagement"]) == (
        BELROCHE, "SERV-ACHATS", "EJ-BEL-1",
    )  # fmt: skip
    assert (shown["status"], shown["pivot_file"]) == ("MISE_A_DISPOSITION", name)
    history = " ".join(h["detail"] or "" for h in shown["history"])
    assert VALBRUNE in history and BELROCHE in history  # both recipients
    assert [h["status_code"] for h in shown["history"]] == ["01", "02", "03", "04", "02", "03"]


def test_options_left_out_keep_their_values_and_empty_ones_clear_them(delivered: Home) -> None:
    invoice_id = _sent_back(delivered)
    delivered.invoke("invoices", "recycle", invoice_id, "--siret", MONTCLAIR, "--service-code", "")
    shown = _show(delivered, invoice_id)
    assert (shown["recipient"], shown["service_code"], shown["engagement"]) == (
        MONTCLAIR, None, "EJ-VAL-2026-0412",
    )  # fmt: skip
    # the flow had one invoice: the recycled pivot is its second (docs/architecture.md#pivot names)
    assert shown["pivot_file"] == "PIVOT_DEST01_FL0000000001_2.xml"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--siret", HAUT_VERNAY], "is not ACTIVE"),
        (["--siret", "21990606000013"], "No structure with SIRET 21990606000013"),
        (["--siret", BELROCHE, "--service-code", "SERV-ANCIEN"], "is not active"),
        (["--siret", BELROCHE, "--service-code", "SERV-INCONNU"], "is not a service of"),
    ],
    ids=["inactive-structure", "unknown-structure", "inactive-service", "unknown-service"],
)
def test_recycling_refused_before_anything_is_written(
    delivered: Home, args: list[str], said: str
) -> None:
    invoice_id = _sent_back(delivered)
    outboxes = (delivered.outbox(RECIPIENT), delivered.outbox(OTHER_RECIPIENT))
    result = delivered.invoke("invoices", "recycle", invoice_id, *args, code=1)
    assert said in result.stderr and "stays A_RECYCLER" in result.stderr
    assert args[1] in result.stderr  # names the structure
    assert (delivered.outbox(RECIPIENT), delivered.outbox(OTHER_RECIPIENT)) == outboxes
    shown = _show(delivered, invoice_id)
    assert (shown["status"], shown["recipient"]) == ("A_RECYCLER", VALBRUNE)


def test_only_an_invoice_in_a_recycler_can_be_recycled(delivered: Home) -> None:
    invoice_id = _invoice(delivered, "F01-2026-000101")["id"]
    result = delivered.invoke("invoices", "recycle", invoice_id, "--siret", MONTCLAIR, code=1)
    assert "is MISE_A_DISPOSITION: only an invoice in A_RECYCLER" in result.stderr
    assert _show(delivered, invoice_id)["recipient"] == VALBRUNE


def test_a_recycled_invoice_is_controlled_again(delivered: Home, tmp_path: Path) -> None:
    """The new structure requires a commitment: recycling without one is refused."""
    strict = tmp_path / "strict.csv"
    strict.write_text(
        "siret,designation,active,partner,engagement_required\n"
        f"{BELROCHE},Commune de Belroche,true,{OTHER_RECIPIENT},true\n"
    )
    delivered.invoke("structures", "import", strict)
    invoice_id = _sent_back(delivered)
    result = delivered.invoke(
        "invoices", "recycle", invoice_id, "--siret", BELROCHE, "--engagement", "", code=1
    )
    assert "ENGAGEMENT_REQUIRED" in result.stderr and "stays A_RECYCLER" in result.stderr
    assert delivered.outbox(OTHER_RECIPIENT) == []
    # the service code is kept when left out: SERV-SCOL is not one of Belroche's services
    kept = delivered.invoke("invoices", "recycle", invoice_id, "--siret", BELROCHE, code=1)
    assert "SERVICE_CODE_UNKNOWN" in kept.stderr and "SERV-SCOL" in kept.stderr
    delivered.invoke(
        "invoices", "recycle", invoice_id, "--siret", BELROCHE, "--service-code", "SERV-ACHATS"
    )
    assert _show(delivered, invoice_id)["status"] == "MISE_A_DISPOSITION"


def test_recycled_twice_gets_a_new_pivot_each_time(delivered: Home) -> None:
    invoice_id = _sent_back(delivered)
    delivered.invoke("invoices", "recycle", invoice_id, "--siret", MONTCLAIR)
    delivered.invoke("invoices", "set-status", invoice_id, "A_RECYCLER", "--comment", "SIRET")
    delivered.invoke("invoices", "recycle", invoice_id, "--siret", VALBRUNE)
    names = [n for n in delivered.outbox(RECIPIENT) if n.startswith("PIVOT_DEST01_FL0000000001_")]
    assert names == [
        "PIVOT_DEST01_FL0000000001_1.xml",
        "PIVOT_DEST01_FL0000000001_2.xml",
        "PIVOT_DEST01_FL0000000001_3.xml",
    ]
    assert _show(delivered, invoice_id)["recipient"] == VALBRUNE


def test_a_siren_that_is_not_nine_digits_is_a_usage_error(delivered: Home) -> None:
    result = delivered.invoke("invoices", "search", "--siren", "2", code=2)
    assert "a SIREN is 9 digits" in result.stderr


def test_an_engagement_the_pivot_cannot_carry_is_refused_in_one_sentence(delivered: Home) -> None:
    invoice_id = _sent_back(delivered)
    result = delivered.invoke(
        "invoices", "recycle", invoice_id, "--siret", MONTCLAIR, "--engagement", "E" * 60, code=1
    )
    assert "cannot be recycled" in result.stderr and "stays A_RECYCLER" in result.stderr
    assert "Traceback" not in result.stderr
    assert _show(delivered, invoice_id)["status"] == "A_RECYCLER"
