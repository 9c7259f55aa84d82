"""Statuses as the hub has them (issue 12, point 5): a rejection or a suspension gives its
reason, 05 may follow 08 and 09, the recipient may set 09 to 11 itself and Hélios 09 and
11 only, and every code of CPPStatutPivot V1_19 is handled or refused by name. Seen from
the recipient's and the accountant's side (their CR), the supplier's (its status flow) and
the operator's (the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from . import test_statuses_in
from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_1_SIRET, Home
from .test_statuses_in import ACCOUNTANT, cr_code, cr_lines, deposit, invoice, status, statut_flow

delivered = test_statuses_in.delivered  # Valbrune's invoice delivered; HELIOS its accountant


def supplier_statuses(home: Home) -> list[tuple[str, str | None]]:
    """(IdStatut, Commentaire) of every status the supplier's next status flow carries."""
    (emitted,) = json.loads(home.invoke("statuses", "emit", "--json").stdout)
    root = etree.parse(str(home.path / "outbox" / SUPPLIER_1 / emitted["file_name"]))
    return [
        (unit.findtext("DonneesStatut/IdStatut"), unit.findtext("DonneesStatut/Commentaire"))
        for unit in root.iter("CPPFactureStatutUnitaire")
    ]


@pytest.fixture
def without_accountant(home: Home, tmp_path: Path) -> Home:
    """Valbrune has no accountant partner; its invoice is delivered to DEST01."""
    home.invoke("partners", "add", ACCOUNTANT, "--name", "DGFiP Hélios")
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    assert flow["status"] == "IN_INTEGRE"
    return home


@pytest.mark.parametrize("code", ["04", "05", "06"])
def test_a_rejection_or_suspension_without_its_reason_is_refused_naming_the_rule(
    delivered: Home,
    code: str,
) -> None:
    flow = deposit(delivered, RECIPIENT, "r.xml", statut_flow(RECIPIENT, status(code)))
    assert flow["status"] == "IN_REJETE" and cr_code(delivered, flow) == "93"
    ((nature, rule, text),) = cr_lines(delivered, flow)
    assert (nature, rule) == ("Facture", "STATUS_REASON_MISSING")
    assert f"Le statut {code}" in text and "doit donner son motif (Commentaire)" in text
    assert invoice(delivered)["status"] == "MISE_A_DISPOSITION"

    flow = deposit(
        delivered, RECIPIENT, "r2.xml", statut_flow(RECIPIENT, status(code, comment="Motif"))
    )
    assert flow["status"] == "IN_INTEGRE"
    assert invoice(delivered)["history"][-1]["detail"] == "Motif"


def test_an_operator_gives_the_reason_with_comment(delivered: Home) -> None:
    invoice_id = invoice(delivered)["id"]
    refused = delivered.invoke("invoices", "set-status", invoice_id, "A_RECYCLER", code=2)
    assert "STATUS_REASON_MISSING" in refused.stderr and "--comment" in refused.stderr
    assert invoice(delivered)["status"] == "MISE_A_DISPOSITION"
    delivered.invoke(
        "invoices", "set-status", invoice_id, "A_RECYCLER", "--comment", "SIRET erroné"
    )
    assert invoice(delivered)["status"] == "A_RECYCLER"
    assert supplier_statuses(delivered)[-1] == ("04", "SIRET erroné")


def test_the_recipient_rejects_after_the_accountant_refused_the_mandate(
    delivered: Home,
) -> None:
    deposit(delivered, RECIPIENT, "m.xml", statut_flow(RECIPIENT, status("08", mandate="M-1")))
    deposit(delivered, ACCOUNTANT, "h.xml", statut_flow(ACCOUNTANT, status("09", mandate="M-1")))
    flow = deposit(
        delivered, RECIPIENT, "rej.xml",
        statut_flow(RECIPIENT, status("05", comment="Mandat refusé par le comptable")),
    )  # fmt: skip
    assert flow["status"] == "IN_INTEGRE"
    assert invoice(delivered)["status"] == "REJETEE"
    assert supplier_statuses(delivered)[-3:] == [
        ("08", None), ("09", None), ("05", "Mandat refusé par le comptable"),
    ]  # fmt: skip


def test_05_may_follow_08_and_an_operator_records_it(delivered: Home) -> None:
    invoice_id = invoice(delivered)["id"]
    delivered.invoke("invoices", "set-status", invoice_id, "08", "--mandate", "M-2")
    delivered.invoke("invoices", "set-status", invoice_id, "05", "--comment", "Mandat refusé")
    assert invoice(delivered)["status"] == "REJETEE"


def test_without_an_accountant_partner_the_recipient_sets_09_10_and_11(
    without_accountant: Home,
) -> None:
    home = without_accountant
    flow = deposit(
        home, RECIPIENT, "r.xml",
        statut_flow(RECIPIENT, status("08", mandate="M-3"), status("09", mandate="M-3"),
                    status("10"), status("11")),
    )  # fmt: skip
    assert flow["status"] == "IN_INTEGRE"
    assert [h["status_code"] for h in invoice(home)["history"]][-4:] == ["08", "09", "10", "11"]


def test_a_partner_that_is_no_accountant_of_the_structure_sets_no_accounting_status(
    without_accountant: Home,
) -> None:
    home = without_accountant
    flow = deposit(home, ACCOUNTANT, "h.xml", statut_flow(ACCOUNTANT, status("11")))
    ((_, code, text),) = cr_lines(home, flow)
    assert code == "STATUS_INVOICE_UNKNOWN" and ACCOUNTANT in text  # not its invoice


def test_with_an_accountant_partner_the_recipient_still_sets_09_10_and_11(
    delivered: Home,
) -> None:
    flow = deposit(
        delivered, RECIPIENT, "r.xml",
        statut_flow(RECIPIENT, status("09", mandate="M-4"), status("10"), status("11")),
    )  # fmt: skip
    assert flow["status"] == "IN_INTEGRE"
    assert invoice(delivered)["status"] == "MISE_EN_PAIEMENT"


def test_the_accountant_sets_09_and_11_but_not_10(delivered: Home) -> None:
    flow = deposit(
        delivered, ACCOUNTANT, "h.xml",
        statut_flow(ACCOUNTANT, status("09", mandate="M-5"), status("10"), status("11")),
    )  # fmt: skip
    assert flow["status"] == "IN_INTEGRE_PARTIEL"
    lines = cr_lines(delivered, flow)
    assert [code for _, code, _ in lines] == [
        "STATUS_APPLIED", "STATUS_NOT_YOURS_TO_SET", "STATUS_APPLIED",
    ]  # fmt: skip
    assert "seul le destinataire de la facture le donne" in lines[1][2]
    assert [h["status_code"] for h in invoice(delivered)["history"]][-2:] == ["09", "11"]


@pytest.mark.parametrize("code", ["13", "17", "41"])
def test_a_code_the_hub_does_not_use_is_refused_by_name(
    delivered: Home,
    code: str,
) -> None:
    flow = deposit(delivered, RECIPIENT, "r.xml", statut_flow(RECIPIENT, status(code)))
    ((nature, rule, text),) = cr_lines(delivered, flow)
    assert (nature, rule) == ("Facture", "STATUS_CODE_UNKNOWN")
    assert f"Le statut {code} n'est pas utilisé par la plateforme" in text
    assert f"Status {code} is not used by the hub" in _description(delivered, flow)
    assert invoice(delivered)["status"] == "MISE_A_DISPOSITION"


@pytest.mark.parametrize("code", ["01", "02", "03"])
def test_the_hubs_own_statuses_are_refused_from_a_partner(
    delivered: Home,
    code: str,
) -> None:
    flow = deposit(delivered, RECIPIENT, "r.xml", statut_flow(RECIPIENT, status(code)))
    ((_, rule, text),) = cr_lines(delivered, flow)
    assert rule == "STATUS_NOT_YOURS_TO_SET" and "la plateforme le donne" in text


def test_a_supplier_completes_only_for_a_supplier_tied_to_it(delivered: Home) -> None:
    deposit(delivered, RECIPIENT, "s.xml", statut_flow(RECIPIENT, status("06", comment="PV")))
    delivered.invoke("partners", "suppliers", "remove", SUPPLIER_1, SUPPLIER_1_SIRET)
    flow = deposit(delivered, SUPPLIER_1, "c.xml", statut_flow(SUPPLIER_1, status("12")))
    ((_, rule, text),) = cr_lines(delivered, flow)
    assert rule == "SUPPLIER_NOT_ALLOWED" and SUPPLIER_1 in text and SUPPLIER_1_SIRET in text
    assert invoice(delivered)["status"] == "SUSPENDUE"


def _description(home: Home, flow: dict) -> str:
    partner, number = flow["partner"], flow["number"]
    cr = etree.parse(str(home.path / "outbox" / partner / f"CR_{partner}_{number}.xml"))
    return " ".join(cr.xpath("//LigneErreurDetail/DescriptionErreur/text()"))
