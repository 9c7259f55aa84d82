"""History is never rewritten (issue 12, points 5 and 6): the supplier's status flow gives
the time each status was produced at its source and the recipient the invoice had when it
happened; the operator sees both times. Existing homes keep their history through the
migration."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic import command
from lxml import etree
from sqlalchemy import text

from edi_engine.ledger import db

from . import test_statuses_in
from .conftest import MONTCLAIR, RECIPIENT, SUPPLIER_1, VALBRUNE, Home
from .test_acknowledgements import FLOW, acknowledge, supplier_codes
from .test_statuses_in import deposit, invoice, status, statut_flow

delivered = test_statuses_in.delivered  # Valbrune's invoice delivered to DEST01
PRODUCED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # the Horodatage of status(...)


def status_flow(home: Home) -> list[dict[str, str | None]]:
    """Each status of the supplier's next status flow: its code, Horodatage and Debiteur."""
    (emitted,) = json.loads(home.invoke("statuses", "emit", "--json").stdout)
    root = etree.parse(str(home.path / "outbox" / SUPPLIER_1 / emitted["file_name"]))
    return [
        {
            "code": unit.findtext("DonneesStatut/IdStatut"),
            "at": unit.findtext("DonneesStatut/Horodatage"),
            "siret": unit.findtext("Debiteur/Identifiant"),
            "name": unit.findtext("Debiteur/Nom"),
            "service": unit.findtext("Debiteur/CodeService"),
            "comment": unit.findtext("DonneesStatut/Commentaire"),
        }
        for unit in root.iter("CPPFactureStatutUnitaire")
    ]


def test_the_supplier_gets_the_time_the_status_was_produced(delivered: Home) -> None:
    deposit(delivered, RECIPIENT, "sf.xml", statut_flow(RECIPIENT, status("07")))
    sent = status_flow(delivered)
    assert [s["code"] for s in sent] == ["01", "02", "03", "07"]
    assert datetime.fromisoformat(sent[-1]["at"]) == PRODUCED
    last = invoice(delivered)["history"][-1]
    assert datetime.fromisoformat(last["produced_at"]) == PRODUCED
    assert datetime.fromisoformat(last["at"]) > PRODUCED  # when the hub received it
    hub_made = invoice(delivered)["history"][0]
    assert hub_made["produced_at"] == hub_made["at"]  # the hub's own status: its own time
    assert datetime.fromisoformat(sent[0]["at"]) == datetime.fromisoformat(hub_made["at"])
    table = delivered.invoke("invoices", "show", invoice(delivered)["id"]).stdout
    assert "produced_at" in table and "2026-11-20T09:00:00+00:00" in table


def test_a_04_on_an_invoice_recycled_since_names_the_structure_that_refused_it(
    delivered: Home,
) -> None:
    assert [s["code"] for s in status_flow(delivered)] == ["01", "02", "03"]
    deposit(
        delivered, RECIPIENT, "r.xml",
        statut_flow(RECIPIENT, status("04", comment="Pas chez nous")),
    )  # fmt: skip
    invoice_id = invoice(delivered)["id"]
    delivered.invoke("invoices", "recycle", invoice_id, "--siret", MONTCLAIR)
    sent = status_flow(delivered)  # written after the recycling
    assert [(s["code"], s["siret"]) for s in sent] == [
        ("04", VALBRUNE), ("02", MONTCLAIR), ("03", MONTCLAIR),
    ]  # fmt: skip
    assert sent[0]["name"] == "Commune de Valbrune" and sent[0]["comment"] == "Pas chez nous"
    assert sent[1]["name"] == "Centre hospitalier de Montclair"
    history = invoice(delivered)["history"]
    assert [h["recipient"] for h in history] == [VALBRUNE] * 4 + [MONTCLAIR] * 2


def test_a_home_migrated_keeps_its_history_with_what_can_be_known(delivered: Home) -> None:
    """Events recorded before the ledger kept these get produced_at = at and the invoice's
    current recipient."""
    url = f"sqlite:///{delivered.path / 'ledger.db'}"
    before = invoice(delivered)["history"]
    command.downgrade(db.alembic_config(url), "0010")
    db.migrate(url)
    after = invoice(delivered)["history"]
    assert [h["at"] for h in after] == [h["at"] for h in before]
    assert all(h["produced_at"] == h["at"] for h in after)
    assert {h["recipient"] for h in after} == {VALBRUNE}
    assert all(h["to_supplier"] for h in after)


def test_acknowledgements_never_reach_the_supplier_through_a_downgrade_and_back(
    delivered: Home,
) -> None:
    """Below 0011 the ledger cannot tell a recipient's acknowledgement, or a re-delivery the
    supplier was not told, from the supplier's news: the downgrade drops them, and neither
    that revision nor this one sends the supplier a 92 (which no CPPFactureStatuts may
    carry) or its invoice's 02 and 03 again."""
    assert supplier_codes(delivered) == ["01", "02", "03"]
    acknowledge(delivered, "92")
    acknowledge(delivered, "94", FLOW)
    delivered.invoke("invoices", "redeliver", invoice(delivered)["id"])  # 02, 03 again
    acknowledge(delivered, "95", f"PIVOT_{RECIPIENT}_{FLOW}_2.xml")  # an incident still open
    url = f"sqlite:///{delivered.path / 'ledger.db'}"

    command.downgrade(db.alembic_config(url), "0010")
    with db.engine_for(url).connect() as connection:  # what that revision would send
        pending = connection.execute(
            text("SELECT status_code FROM invoice_events WHERE emitted_in IS NULL")
        ).all()
    assert pending == []
    db.migrate(url)

    assert supplier_codes(delivered) == []
    shown = invoice(delivered)
    assert (shown["status"], shown["delivery_incident"]) == ("MISE_A_DISPOSITION", None)
    assert [h["status_code"] for h in shown["history"]] == ["01", "02", "03"]
    deposit(delivered, RECIPIENT, "sf.xml", statut_flow(RECIPIENT, status("07")))
    assert supplier_codes(delivered) == ["07"]
