"""Recipients acknowledge the pivots they receive (issue 12, point 5): 92 is recorded, 94
and 95 make a delivery incident that an operator sees and ends by delivering the invoice
again, and the supplier's status flows never see the lifecycle go back. Seen from the
recipient (its CR, the pivot delivered again), the operator (the CLI) and the supplier
(its status flows)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from lxml import etree

from pivot_format.model import Envelope, FlowStatus
from pivot_format.statut import write_flow_statuses

from . import test_statuses_in
from .conftest import RECIPIENT, SUPPLIER_1, Home
from .test_statuses_in import (
    NUMBER,
    OTHER_RECIPIENT,
    cr_code,
    cr_lines,
    deposit,
    invoice,
    status,
    statut_flow,
)

delivered = test_statuses_in.delivered  # Valbrune's invoice delivered to DEST01
FLOW = "FL0000000001"  # the flow that brought it: the IdFlx of its pivot's envelope
PIVOT = f"PIVOT_{RECIPIENT}_{FLOW}_1.xml"
AT = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)


def acknowledgement(sender: str, code: str, flow_id: str, comment: str | None = None) -> bytes:
    statuses = [FlowStatus(code, flow_id, AT, comment=comment)]
    return write_flow_statuses(statuses, Envelope("AR0001", date(2026, 11, 21), sender, "EDIHUB"))


def acknowledge(home: Home, code: str, flow_id: str = PIVOT, sender: str = RECIPIENT) -> dict:
    return deposit(home, sender, f"ar-{code}.xml", acknowledgement(sender, code, flow_id, "vu"))


def supplier_codes(home: Home) -> list[str]:
    """The IdStatut of each status of the supplier's next status flow; [] if none is due."""
    emitted = json.loads(home.invoke("statuses", "emit", "--json").stdout)
    if not emitted:
        return []
    root = etree.parse(str(home.path / "outbox" / SUPPLIER_1 / emitted[0]["file_name"]))
    return [
        unit.findtext("DonneesStatut/IdStatut") for unit in root.iter("CPPFactureStatutUnitaire")
    ]


def search(home: Home, *args: str) -> list[dict]:
    return json.loads(home.invoke("invoices", "search", *args, "--json").stdout)


def test_92_is_recorded_and_the_supplier_is_not_told(delivered: Home) -> None:
    flow = acknowledge(delivered, "92")
    assert (flow["status"], cr_code(delivered, flow)) == ("IN_INTEGRE", "90")
    ((nature, code, text),) = cr_lines(delivered, flow)
    assert (nature, code) == ("Information", "STATUS_APPLIED")
    assert text == f"Statut 92 (RECUE_PAR_LE_DESTINATAIRE) appliqué à la facture {NUMBER}."
    shown = invoice(delivered)
    assert (shown["status"], shown["delivery_incident"]) == ("MISE_A_DISPOSITION", None)
    last = shown["history"][-1]
    assert (last["status_code"], last["status"], last["actor"]) == (
        "92", "RECUE_PAR_LE_DESTINATAIRE", "partner:DEST01",
    )  # fmt: skip
    assert last["produced_at"] == AT.isoformat() and last["detail"] == f"pivot {PIVOT}: vu"
    assert supplier_codes(delivered) == ["01", "02", "03"]


def test_a_reception_error_is_a_delivery_incident_until_the_operator_delivers_again(
    delivered: Home,
) -> None:
    assert supplier_codes(delivered) == ["01", "02", "03"]
    flow = acknowledge(delivered, "94", FLOW)  # named by the IdFlx of the pivot's envelope
    assert flow["status"] == "IN_INTEGRE"
    shown = invoice(delivered)
    assert (shown["status"], shown["delivery_incident"]) == ("EN_COURS_ACHEMINEMENT", "94")
    assert shown["history"][-1]["status"] == "ERREUR_RECEPTION_DESTINATAIRE"
    assert [i["number"] for i in search(delivered, "--delivery-incident")] == [NUMBER]
    table = delivered.invoke("invoices", "show", shown["id"]).stdout
    assert "delivery_incident" in table and "ERREUR_RECEPTION_DESTINATAIRE" in table
    assert supplier_codes(delivered) == []  # the supplier never sees 02 after 03

    done = delivered.invoke("invoices", "redeliver", shown["id"])
    again = f"PIVOT_{RECIPIENT}_{FLOW}_2.xml"
    assert f"delivered again: pivot {again}, MISE_A_DISPOSITION" in done.stderr
    pivot = etree.parse(str(delivered.path / "outbox" / RECIPIENT / again))
    unit = pivot.getroot().find("CPPFactures/CPPFacturePivotUnitaire")
    assert unit.findtext("DonneesFacture/Id") == NUMBER
    assert unit.findtext("DonneesFacture/Renvoi") == "Non"  # as the delivery that failed
    shown = invoice(delivered)
    assert (shown["status"], shown["delivery_incident"]) == ("MISE_A_DISPOSITION", None)
    assert [(h["status_code"], h["to_supplier"]) for h in shown["history"]][-3:] == [
        ("94", False), ("02", False), ("03", False),
    ]  # fmt: skip
    assert search(delivered, "--delivery-incident") == []
    assert supplier_codes(delivered) == []

    refused = delivered.invoke("invoices", "redeliver", shown["id"], code=1)
    assert "has no delivery incident" in refused.stderr
    assert acknowledge(delivered, "92", again)["status"] == "IN_INTEGRE"
    deposit(delivered, RECIPIENT, "sf.xml", statut_flow(RECIPIENT, status("07")))
    assert supplier_codes(delivered) == ["07"]


def test_an_incident_before_any_status_flow_still_shows_one_delivery(delivered: Home) -> None:
    acknowledge(delivered, "95")
    assert invoice(delivered)["delivery_incident"] == "95"
    delivered.invoke("invoices", "redeliver", invoice(delivered)["id"])
    assert supplier_codes(delivered) == ["01", "02", "03"]


def test_only_the_partner_the_pivot_was_delivered_to_acknowledges_it(delivered: Home) -> None:
    delivered.invoke("partners", "add", "DEST03", "--name", "Someone else")
    for sender, flow_id in ((OTHER_RECIPIENT, PIVOT), ("DEST03", FLOW), (RECIPIENT, "X-42")):
        flow = acknowledge(delivered, "94", flow_id, sender)
        assert (flow["status"], cr_code(delivered, flow)) == ("IN_REJETE", "93")
        ((nature, code, text),) = cr_lines(delivered, flow)
        assert (nature, code) == ("Facture", "STATUS_ACK_PIVOT_UNKNOWN")
        assert flow_id in text and sender in text
    assert invoice(delivered)["status"] == "MISE_A_DISPOSITION"


def test_an_error_reported_after_the_recipient_acted_is_refused(delivered: Home) -> None:
    deposit(delivered, RECIPIENT, "sf.xml", statut_flow(RECIPIENT, status("07")))
    flow = acknowledge(delivered, "95")
    ((_, code, text),) = cr_lines(delivered, flow)
    assert code == "STATUS_ACK_REFUSED"
    assert f"facture {NUMBER} (SERVICE_FAIT)" in text and "déjà donné un statut" in text
    assert invoice(delivered)["status"] == "SERVICE_FAIT"


def test_the_hubs_own_flow_codes_are_refused_by_name(delivered: Home) -> None:
    flow = acknowledge(delivered, "93")
    ((_, code, text),) = cr_lines(delivered, flow)
    assert code == "STATUS_CODE_UNKNOWN" and "Le statut 93 n'est pas utilisé" in text


def test_an_acknowledgement_is_applied_once_when_its_flow_is_run_again(delivered: Home) -> None:
    flow = acknowledge(delivered, "94")
    (done,) = json.loads(
        delivered.invoke("flows", "rerun", flow["number"], "--force", "--json").stdout
    )
    assert done["after"] == "IN_INTEGRE"
    history = invoice(delivered)["history"]
    assert [h["status_code"] for h in history].count("94") == 1
