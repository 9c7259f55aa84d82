"""Status flows to suppliers (issue 6, items 4 and 6): the full round trip through the
CLI, and exactly once even when emission is interrupted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from lxml import etree

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, VALBRUNE, Home
from .test_statuses_in import ACCOUNTANT, deposit, status, statut_flow


def emit(home: Home, *args: str) -> list[dict]:
    return json.loads(home.invoke("statuses", "emit", *args, "--json").stdout)


def statuses_in(home: Home, name: str) -> list[tuple[str, str, str | None]]:
    """(IdStatut, IdFacture, IdMandatDP) of each status of a supplier's status flow."""
    root = etree.parse(str(home.path / "outbox" / SUPPLIER_1 / name))
    return [
        (unit.findtext("DonneesStatut/IdStatut"), unit.findtext("DonneesStatut/IdFacture"),
         unit.findtext("DonneesStatut/IdMandatDP"))
        for unit in root.iter("CPPFactureStatutUnitaire")
    ]  # fmt: skip


@pytest.fixture
def accountant_home(home: Home, tmp_path: Path) -> Home:
    home.invoke("partners", "add", ACCOUNTANT, "--name", "DGFiP Hélios")
    structures = tmp_path / "structures.csv"
    structures.write_text(
        f"siret,designation,active,partner,accountant\n"
        f"{VALBRUNE},Commune de Valbrune,true,{RECIPIENT},{ACCOUNTANT}\n"
    )
    home.invoke("structures", "import", structures)
    return home


def test_round_trip_supplier_recipient_accountant_and_back(
    accountant_home: Home, statut_schemas: list[tuple[str, etree.XMLSchema]]
) -> None:
    home = accountant_home
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    assert flow["status"] == "IN_INTEGRE"
    (first,) = emit(home)
    assert (first["partner"], first["file_name"]) == (SUPPLIER_1, "STATUT_FOUR01_1.xml")
    number = "F01-2026-000101"
    assert statuses_in(home, "STATUT_FOUR01_1.xml") == [
        ("01", number, None), ("02", number, None), ("03", number, None),
    ]  # fmt: skip

    deposit(home, RECIPIENT, "r1.xml", statut_flow(RECIPIENT, status("07")))
    deposit(home, RECIPIENT, "r2.xml", statut_flow(RECIPIENT, status("08", mandate="M-42")))
    deposit(
        home, ACCOUNTANT, "h1.xml",
        statut_flow(ACCOUNTANT, status("09", mandate="M-42"), status("11")),
    )  # fmt: skip
    (second,) = emit(home)
    assert (second["file_name"], second["changes"]) == ("STATUT_FOUR01_2.xml", 4)
    assert statuses_in(home, "STATUT_FOUR01_2.xml") == [
        ("07", number, None), ("08", number, "M-42"), ("09", number, "M-42"), ("11", number, None),
    ]  # fmt: skip
    for name in ("STATUT_FOUR01_1.xml", "STATUT_FOUR01_2.xml"):
        document = etree.parse(str(home.path / "outbox" / SUPPLIER_1 / name))
        for schema_name, schema in statut_schemas:
            assert schema.validate(document), (schema_name, schema.error_log)

    assert emit(home) == []  # nothing changed since: no empty status flow


def test_each_supplier_gets_its_own_invoices_only(home: Home) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_2, "b.xml", sample="cii-invoice.xml")
    home.run()
    assert [e["partner"] for e in emit(home, "--partner", SUPPLIER_2)] == [SUPPLIER_2]
    numbers = {
        unit.findtext("DonneesStatut/IdFacture")
        for unit in etree.parse(
            str(home.path / "outbox" / SUPPLIER_2 / "STATUT_FOUR02_1.xml")
        ).iter("CPPFactureStatutUnitaire")
    }
    assert numbers == {"F02-2026-000501"}
    assert [e["partner"] for e in emit(home)] == [SUPPLIER_1]


def test_an_unknown_partner_is_refused(home: Home) -> None:
    result = home.invoke("statuses", "emit", "--partner", "NOPE", code=1)
    assert "No partner has the code 'NOPE'" in result.stderr


def test_a_crash_before_the_file_is_written_writes_the_same_flow_next_time(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    home.run()
    from edi_engine.delivery import statuses_out

    def crash(*_args: object) -> None:
        raise KeyboardInterrupt  # the process dies between the two steps

    with monkeypatch.context() as patched:
        patched.setattr(statuses_out, "_write", crash)
        assert home.invoke("statuses", "emit", code=None).exit_code != 0
    assert home.outbox(SUPPLIER_1) == ["CR_FOUR01_FL0000000001.xml"]

    # more happens meanwhile: it goes in the next flow, not in the one already numbered
    invoice_id = json.loads(home.invoke("invoices", "search", "--json").stdout)[0]["id"]
    home.invoke("invoices", "set-status", invoice_id, "SERVICE_FAIT")
    emitted = emit(home)
    assert [(e["file_name"], e["changes"]) for e in emitted] == [
        ("STATUT_FOUR01_1.xml", 3), ("STATUT_FOUR01_2.xml", 1),
    ]  # fmt: skip
    assert [s[0] for s in statuses_in(home, "STATUT_FOUR01_1.xml")] == ["01", "02", "03"]
    assert [s[0] for s in statuses_in(home, "STATUT_FOUR01_2.xml")] == ["07"]


def test_a_crash_after_the_file_is_written_rewrites_the_same_bytes(home: Home) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    home.run()
    emit(home)
    path = home.path / "outbox" / SUPPLIER_1 / "STATUT_FOUR01_1.xml"
    written = path.read_bytes()
    # the state a crash leaves after the file was renamed into place, before the commit
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        ledger.execute("update status_flows set written_at = null")
        ledger.execute("delete from outputs where kind = 'STATUT'")
    (again,) = emit(home)
    assert again["file_name"] == "STATUT_FOUR01_1.xml"
    assert path.read_bytes() == written
    assert sorted(p.name for p in path.parent.glob("STATUT_*")) == ["STATUT_FOUR01_1.xml"]


def test_of_two_emitters_one_writes_a_numbered_flow_and_the_other_leaves_it(home: Home) -> None:
    """A numbers the flow; B emits meanwhile (writing it); A's write must not undo B's."""
    from edi_engine.delivery import statuses_out
    from edi_engine.ledger import db
    from edi_engine.settings import load

    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    home.run()
    settings = load(home.path)
    with db.session_scope(settings.database_url) as first:
        numbered = statuses_out._number(first, SUPPLIER_1)
        assert numbered is not None
        with db.session_scope(settings.database_url) as second:
            assert [e.file_name for e in statuses_out.emit(settings, second)] == [
                "STATUT_FOUR01_1.xml"
            ]
        assert statuses_out._write(settings, first, numbered) is None
    assert [p.name for p in (home.path / "outbox" / SUPPLIER_1).glob("STATUT_*")] == [
        "STATUT_FOUR01_1.xml"
    ]
    assert emit(home) == []
