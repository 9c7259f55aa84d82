"""Statuses returned by recipients and their accountant (issue 6, item 2 and 3), deposited
as CPPStatut flows and answered with a CR, end to end through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.statut import write_flow_statuses, write_invoice_statuses

from .conftest import MONTCLAIR, RECIPIENT, SUPPLIER_1, VALBRUNE, Home

ACCOUNTANT = "HELIOS"
OTHER_RECIPIENT = "DEST02"
SUPPLIER_SIRET = "81234567600025"
NUMBER = "F01-2026-000101"  # config/demo/ubl-invoice.xml, to Valbrune


def status(
    code: str,
    number: str = NUMBER,
    supplier: str = SUPPLIER_SIRET,
    supplier_type: str = "1",
    mandate: str | None = None,
    invoice_date: date | None = date(2026, 11, 2),
    comment: str | None = None,
) -> InvoiceStatus:
    return InvoiceStatus(
        code=code,
        supplier=Supplier(supplier, supplier_type, "Papeteries Delorme SAS", "FR"),
        debiteur=Debiteur(VALBRUNE),
        invoice_number=number,
        at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        invoice_date=invoice_date,
        comment=comment,
        mandate=mandate,
    )


EMPTY = "EMPTY-VALUE"  # the writer refuses an empty number: it is emptied afterwards


def statut_flow(sender: str, *statuses: InvoiceStatus) -> bytes:
    envelope = Envelope("ST0001", date(2026, 11, 20), sender, "EDIHUB")
    content = write_invoice_statuses(list(statuses), envelope)
    return content.replace(f">{EMPTY}<".encode(), b"><")


def deposit(home: Home, partner: str, name: str, content: bytes) -> dict:
    home.drop(partner, name, content)
    (flow,) = home.run()
    return flow


def cr_lines(home: Home, flow: dict) -> list[tuple[str, str, str]]:
    """(NatureErreur, CodeErreur, LibelleErreur) of each line of the flow's CR."""
    partner, number = flow["partner"], flow["number"]
    cr = etree.parse(str(home.path / "outbox" / partner / f"CR_{partner}_{number}.xml"))
    return [
        (line.findtext("NatureErreur"), line.findtext("CodeErreur"), line.findtext("LibelleErreur"))
        for line in cr.iter("LigneErreurDetail")
    ]


def cr_code(home: Home, flow: dict) -> str:
    partner, number = flow["partner"], flow["number"]
    cr = etree.parse(str(home.path / "outbox" / partner / f"CR_{partner}_{number}.xml"))
    return cr.findtext(".//IdStatut")


def invoice(home: Home, number: str = NUMBER) -> dict:
    (found,) = json.loads(home.invoke("invoices", "search", "--number", number, "--json").stdout)
    return json.loads(home.invoke("invoices", "show", found["id"], "--json").stdout)


@pytest.fixture
def delivered(home: Home, tmp_path: Path) -> Home:
    """Valbrune's invoice delivered to DEST01; HELIOS is Valbrune's accountant; DEST02
    serves Montclair only."""
    home.invoke("partners", "add", ACCOUNTANT, "--name", "DGFiP Hélios")
    home.invoke("partners", "add", OTHER_RECIPIENT, "--name", "Montclair's platform")
    structures = tmp_path / "structures.csv"
    structures.write_text(
        "siret,designation,active,partner,accountant\n"
        f"{VALBRUNE},Commune de Valbrune,true,{RECIPIENT},{ACCOUNTANT}\n"
        f"{MONTCLAIR},Centre hospitalier de Montclair,true,{OTHER_RECIPIENT},\n"
    )
    home.invoke("structures", "import", structures)
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    assert flow["status"] == "IN_INTEGRE"
    return home


def test_recipient_then_accountant_statuses_follow_the_main_road(delivered: Home) -> None:
    flow = deposit(
        delivered, RECIPIENT, "statuts-1.xml",
        statut_flow(RECIPIENT, status("07", comment="service fait le 19/11"),
                    status("08", mandate="M-2026-0042")),
    )  # fmt: skip
    assert (flow["status"], flow["syntax"]) == ("IN_INTEGRE", "IN_STATUT_CPP")
    assert cr_code(delivered, flow) == "90"
    lines = cr_lines(delivered, flow)
    assert [(nature, code) for nature, code, _ in lines] == [
        ("Information", "STATUS_APPLIED"), ("Information", "STATUS_APPLIED"),
    ]  # fmt: skip
    assert "Statut 07 (SERVICE_FAIT) appliqué à la facture F01-2026-000101" in lines[0][2]

    # Hélios sends 09 at the mandate's reception and 11; 10 is the recipient's
    flow = deposit(
        delivered, ACCOUNTANT, "helios.xml",
        statut_flow(ACCOUNTANT, status("09", mandate="M-2026-0042")),
    )  # fmt: skip
    assert flow["status"] == "IN_INTEGRE"
    deposit(delivered, RECIPIENT, "statuts-2.xml", statut_flow(RECIPIENT, status("10")))
    deposit(delivered, ACCOUNTANT, "helios-2.xml", statut_flow(ACCOUNTANT, status("11")))
    shown = invoice(delivered)
    assert (shown["status"], shown["status_code"], shown["mandate"]) == (
        "MISE_EN_PAIEMENT", "11", "M-2026-0042",
    )  # fmt: skip
    history = shown["history"]
    assert [h["status_code"] for h in history] == ["01", "02", "03", "07", "08", "09", "10", "11"]
    assert history[3]["detail"] == "service fait le 19/11"
    assert history[3]["actor"] == "partner:DEST01" and history[5]["actor"] == "partner:HELIOS"
    assert history[4]["mandate"] == "M-2026-0042"


def test_each_refused_status_says_why_and_the_others_are_applied(delivered: Home) -> None:
    flow = deposit(
        delivered, RECIPIENT, "statuts.xml",
        statut_flow(
            RECIPIENT,
            status("07"),
            status("07", number="F01-2026-999999"),  # unknown invoice
            status("03"),  # the hub's own status
            status("08", number=EMPTY),  # no invoice number
            status("08", supplier=EMPTY),  # no supplier
            status("12"),  # the supplier's
            status("04", comment="SIRET erroné"),  # A_RECYCLER after SERVICE_FAIT: refused
            status("13"),  # a Chorus Pro code outside the lifecycle of this hub
        ),
    )  # fmt: skip
    assert flow["status"] == "IN_INTEGRE_PARTIEL" and cr_code(delivered, flow) == "96"
    codes = [code for _, code, _ in cr_lines(delivered, flow)]
    assert codes == [
        "STATUS_APPLIED",
        "STATUS_INVOICE_UNKNOWN",
        "STATUS_NOT_YOURS_TO_SET",
        "STATUS_INVOICE_NUMBER_MISSING",
        "STATUS_SUPPLIER_MISSING",
        "STATUS_NOT_YOURS_TO_SET",
        "STATUS_TRANSITION_REFUSED",
        "STATUS_CODE_UNKNOWN",
    ]
    lines = {code: text for _, code, text in cr_lines(delivered, flow)}
    assert "F01-2026-999999" in lines["STATUS_INVOICE_UNKNOWN"]
    assert "SERVICE_FAIT à A_RECYCLER" in lines["STATUS_TRANSITION_REFUSED"]
    assert invoice(delivered)["status"] == "SERVICE_FAIT"  # only the first one applied


def test_a_partner_cannot_change_another_recipients_invoice(delivered: Home) -> None:
    flow = deposit(
        delivered, OTHER_RECIPIENT, "statuts.xml", statut_flow(OTHER_RECIPIENT, status("05"))
    )
    assert flow["status"] == "IN_REJETE" and cr_code(delivered, flow) == "93"
    ((nature, code, text),) = cr_lines(delivered, flow)
    # unknown to it, as an invoice that does not exist (tests/e2e/test_partner_isolation.py)
    assert (nature, code) == ("Facture", "STATUS_INVOICE_UNKNOWN")
    assert "DEST02" in text
    assert invoice(delivered)["status"] == "MISE_A_DISPOSITION"


def test_a_change_backwards_is_refused_never_applied(delivered: Home) -> None:
    deposit(delivered, RECIPIENT, "a.xml", statut_flow(RECIPIENT, status("08", mandate="M-9")))
    flow = deposit(delivered, RECIPIENT, "b.xml", statut_flow(RECIPIENT, status("07")))
    ((_, code, text),) = cr_lines(delivered, flow)
    assert code == "STATUS_TRANSITION_REFUSED" and "MANDATEE" in text
    assert invoice(delivered)["status"] == "MANDATEE"


def test_accounting_statuses_need_the_suppliers_siret(delivered: Home) -> None:
    deposit(delivered, RECIPIENT, "a.xml", statut_flow(RECIPIENT, status("08", mandate="M-7")))
    flow = deposit(
        delivered, ACCOUNTANT, "helios.xml",
        statut_flow(ACCOUNTANT, status("09", supplier_type="2", mandate="M-7")),
    )  # fmt: skip
    ((_, code, _),) = cr_lines(delivered, flow)
    assert code == "STATUS_MANDATE_WITHOUT_SIRET"
    assert invoice(delivered)["status"] == "MANDATEE"


def test_one_mandate_for_several_invoices_is_reported(delivered: Home) -> None:
    delivered.drop(SUPPLIER_1, "batch.xml", sample="batch/ubl-batch-1.xml")
    delivered.run()
    flow = deposit(
        delivered, RECIPIENT, "statuts.xml",
        statut_flow(
            RECIPIENT,
            status("08", mandate="M-GROUPED"),
            status("08", number="F01-2026-000102", mandate="M-GROUPED"),
        ),
    )  # fmt: skip
    assert flow["status"] == "IN_INTEGRE"  # applied, and reported
    lines = cr_lines(delivered, flow)
    assert ("Avertissement", "STATUS_GROUPED_MANDATE") in [(n, c) for n, c, _ in lines]
    grouped = next(text for _, code, text in lines if code == "STATUS_GROUPED_MANDATE")
    assert "M-GROUPED" in grouped and NUMBER in grouped


def test_a_flow_status_of_the_hub_deposited_by_a_partner_is_refused(delivered: Home) -> None:
    from pivot_format.model import FlowStatus

    content = write_flow_statuses(
        [FlowStatus("90", "FL0000000001", datetime(2026, 11, 20, tzinfo=UTC))],
        Envelope("ST0002", date(2026, 11, 20), RECIPIENT, "EDIHUB"),
    )
    flow = deposit(delivered, RECIPIENT, "cr.xml", content)
    assert flow["status"] == "IN_REJETE"
    ((_, code, text),) = cr_lines(delivered, flow)
    assert code == "STATUS_CODE_UNKNOWN"
    assert "Le statut 90 n'est pas utilisé par la plateforme" in text


def test_an_operator_sets_a_status_with_a_mandate(delivered: Home) -> None:
    invoice_id = invoice(delivered)["id"]
    delivered.invoke("invoices", "set-status", invoice_id, "MANDATEE", "--mandate", "M-OP-1")
    shown = invoice(delivered)
    assert (shown["status"], shown["mandate"]) == ("MANDATEE", "M-OP-1")
    assert shown["history"][-1]["mandate"] == "M-OP-1"
    refused = delivered.invoke("invoices", "set-status", invoice_id, "SERVICE_FAIT", code=1)
    assert "STATUS_TRANSITION_REFUSED" in refused.stderr or "back" in refused.stderr


def test_a_suspended_invoice_completed_by_its_supplier_is_delivered_again(
    delivered: Home,
) -> None:
    deposit(
        delivered, RECIPIENT, "s.xml", statut_flow(RECIPIENT, status("06", comment="PV absent"))
    )
    flow = deposit(delivered, SUPPLIER_1, "c.xml", statut_flow(SUPPLIER_1, status("12")))
    assert flow["status"] == "IN_INTEGRE"
    shown = invoice(delivered)
    assert [h["status_code"] for h in shown["history"]][3:] == ["06", "12", "02", "03"]
    assert shown["pivot_file"] == "PIVOT_DEST01_FL0000000001_2.xml"
    pivot = etree.parse(str(delivered.path / "outbox" / RECIPIENT / shown["pivot_file"]))
    unit = pivot.getroot().find("CPPFactures/CPPFacturePivotUnitaire")
    assert unit.findtext("DonneesFacture/Renvoi") == "Complétée"
    assert unit.findtext("DonneesFacture/Id") == NUMBER
    # then the road goes on
    deposit(delivered, RECIPIENT, "f.xml", statut_flow(RECIPIENT, status("07")))
    assert invoice(delivered)["status"] == "SERVICE_FAIT"


def test_only_the_supplier_completes_and_only_a_suspended_invoice(delivered: Home) -> None:
    flow = deposit(delivered, RECIPIENT, "c.xml", statut_flow(RECIPIENT, status("12")))
    ((_, code, _),) = cr_lines(delivered, flow)
    assert code == "STATUS_NOT_YOURS_TO_SET"
    flow = deposit(delivered, SUPPLIER_1, "c2.xml", statut_flow(SUPPLIER_1, status("12")))
    ((_, code, text),) = cr_lines(delivered, flow)
    assert code == "STATUS_TRANSITION_REFUSED" and "MISE_A_DISPOSITION" in text


def test_an_operator_completes_for_the_supplier(delivered: Home) -> None:
    invoice_id = invoice(delivered)["id"]
    delivered.invoke("invoices", "set-status", invoice_id, "SUSPENDUE", "--comment", "PV absent")
    delivered.invoke("invoices", "set-status", invoice_id, "COMPLETEE", "--comment", "PV reçu")
    shown = invoice(delivered)
    assert (shown["status"], shown["pivot_file"]) == (
        "MISE_A_DISPOSITION", "PIVOT_DEST01_FL0000000001_2.xml",
    )  # fmt: skip


def test_a_batch_of_status_documents_applies_each_status(delivered: Home) -> None:
    import io
    import zipfile

    delivered.drop(SUPPLIER_1, "batch.xml", sample="batch/ubl-batch-1.xml")
    delivered.run()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as batch:
        batch.writestr("a.xml", statut_flow(RECIPIENT, status("07")))
        batch.writestr("b.xml", statut_flow(RECIPIENT, status("07", number="F01-2026-000102")))
    flow = deposit(delivered, RECIPIENT, "statuts.zip", buffer.getvalue())
    assert flow["status"] == "IN_INTEGRE"
    assert invoice(delivered)["status"] == "SERVICE_FAIT"
    assert invoice(delivered, "F01-2026-000102")["status"] == "SERVICE_FAIT"
    (done,) = json.loads(
        delivered.invoke("flows", "rerun", flow["number"], "--force", "--json").stdout
    )
    assert done["after"] == "IN_INTEGRE"  # both kept as applied, neither applied twice
    assert [h["status_code"] for h in invoice(delivered, "F01-2026-000102")["history"]][-1] == "07"
