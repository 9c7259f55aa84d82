"""Every partner value fits the ledger (issue 13, item 6), checked on what the SQLite ledger
keeps (SQLite stores any length: PostgreSQL's own test shows no flow ends IN_INCIDENTE).
A value that identifies is refused with a code, never cut; one that is only shown is cut
to its column with an ellipsis; the CR answers every flow."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from generated import long_values
from lxml import etree

import config
from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.statut import write_invoice_statuses

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_1_SIRET, VALBRUNE, Home

OPERATOR = "OPER01"
ELLIPSIS = "…"


@pytest.fixture
def operator_home(bare_home: Home) -> Home:
    """A partner that deposits for any supplier, so that only the lengths refuse."""
    bare_home.invoke("partners", "add", OPERATOR, "--name", "Operator", "--operator")
    bare_home.invoke("partners", "add", RECIPIENT, "--name", "Recipient system")
    bare_home.invoke("structures", "import", config.path("demo/structures.csv"))
    return bare_home


def _invoice(home: Home, flow: str) -> dict:
    (found,) = [
        row
        for row in json.loads(home.invoke("invoices", "search", "--json").stdout)
        if row["flow"] == flow
    ]
    return json.loads(home.invoke("invoices", "show", found["id"], "--json").stdout)


def _cut(value: str, limit: int, whole: str) -> bool:
    """`value` is `whole` cut to at most `limit` characters, ending with an ellipsis."""
    kept = value.removesuffix(ELLIPSIS)
    return len(value) <= limit and value.endswith(ELLIPSIS) and whole.startswith(kept)


def _cr_codes(home: Home, partner: str, number: str) -> list[str]:
    cr = etree.parse(str(home.path / "outbox" / partner / f"CR_{partner}_{number}.xml"))
    return [line.findtext("CodeErreur") for line in cr.iter("LigneErreurDetail")]


def test_each_long_value_is_refused_or_cut_and_every_flow_answered(operator_home: Home) -> None:
    home = operator_home
    corpus = long_values.corpus()
    for hostile in corpus:
        home.drop(OPERATOR, hostile.name, hostile.content)
    flows = {flow["file_name"]: flow for flow in home.run()}

    for hostile in corpus:
        flow = flows[hostile.name]
        assert flow["status"] == hostile.status, hostile.name
        assert tuple(_cr_codes(home, OPERATOR, flow["number"])) == hostile.codes, hostile.name

    # shown only: the supplier's name, cut in the ledger, whole in the pivot delivered
    named = _invoice(home, flows["long-name.xml"]["number"])
    assert _cut(named["supplier_name"], 300, long_values.LONG_NAME)
    pivot = (home.path / "outbox" / RECIPIENT / named["pivot_file"]).read_text("utf-8")
    assert f"<RaisonSociale>{long_values.LONG_NAME}</RaisonSociale>" in pivot

    # the element a CR line names
    (root,) = home.show(flows["long-root.xml"]["number"])["errors"]
    assert _cut(root["element"], 255, long_values.LONG_ROOT)

    # a refused invoice's values are kept to be shown, cut
    buyer = _invoice(home, flows["long-buyer.xml"]["number"])
    assert buyer["status"] == "REFUSEE_RECEPTION"
    assert _cut(buyer["recipient"], 100, long_values.LONG_BUYER)

    # identifiers and amounts are refused whole, named with their length
    supplier = _invoice(home, flows["long-supplier.xml"]["number"])
    (refusal,) = supplier["errors"]
    assert (refusal["code"], refusal["element"]) == ("FIELD_TOO_LONG", "Fournisseur/Identifiant")
    assert "has 150 characters; the hub keeps at most 100" in refusal["message"]
    assert _cut(supplier["supplier"], 100, long_values.LONG_SUPPLIER_ID)
    assert supplier["pivot_file"] is None

    amounts = _invoice(home, flows["long-amount.xml"]["number"])
    assert [e["element"] for e in amounts["errors"]] == [
        "Montants/MontantHT",
        "Montants/MontantTTC",
        "Montants/MontantNetAPayer",
    ]
    assert _cut(amounts["amount_ttc"], 40, long_values.LONG_AMOUNT)
    assert home.outbox(RECIPIENT) == [named["pivot_file"]]  # nothing else delivered


def _status(code: str, number: str, mandate: str | None = None) -> InvoiceStatus:
    return InvoiceStatus(
        code=code,
        supplier=Supplier(SUPPLIER_1_SIRET, "1", "Papeteries Delorme SAS", "FR"),
        debiteur=Debiteur(VALBRUNE),
        invoice_number=number,
        at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        invoice_date=date(2026, 11, 2),
        mandate=mandate,
    )


def test_a_status_with_a_long_mandate_or_number_is_refused_and_kept_cut(home: Home) -> None:
    home.drop(SUPPLIER_1, "invoice.xml", sample="ubl-invoice.xml")
    (delivered,) = home.run()
    number = "F01-2026-000101"
    long_number, long_mandate = "N" * 150, "M" * 80
    envelope = Envelope("ST0001", date(2026, 11, 20), RECIPIENT, "EDIHUB")
    content = write_invoice_statuses(
        [_status("08", number, long_mandate), _status("07", long_number)], envelope
    )
    home.drop(RECIPIENT, "statuses.xml", content)

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    assert _cr_codes(home, RECIPIENT, flow["number"]) == [
        "STATUS_MANDATE_TOO_LONG",
        "STATUS_INVOICE_UNKNOWN",
    ]
    mandate_refusal = home.show(flow["number"])["errors"][0]
    assert "is over the 50 characters the hub keeps; it is not cut" in mandate_refusal["message"]
    invoice = _invoice(home, delivered["number"])
    assert (invoice["status"], invoice["mandate"]) == ("MISE_A_DISPOSITION", None)


def test_a_certificate_with_a_long_comment_is_kept_with_its_label_cut_in_the_ledger(
    bare_home: Home, tmp_path: Path
) -> None:
    comment = "partner key " + "x" * 600
    key = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)], check=True
    )
    bare_home.invoke("partners", "add", "ABC001", "--name", "A")
    bare_home.invoke("partners", "cert", "add", "ABC001", f"{key}.pub")

    with sqlite3.connect(bare_home.path / "ledger.db") as ledger:
        (stored,) = ledger.execute("select label from certificates").fetchone()
    assert _cut(stored, 500, comment)  # the row's; the key itself is kept whole
    (listed,) = json.loads(bare_home.invoke("partners", "cert", "list", "--json").stdout)
    assert listed["label"] == comment
