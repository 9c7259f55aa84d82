"""An invoice the hub refuses at reception never enters the lifecycle (issue 12, point 1):
its supplier learns of it from the flow's CR only, never as a 05 in a status flow; the
operator finds it REFUSEE_RECEPTION, outside the lifecycle, in every view; REJETEE (05)
is the recipient's rejection alone. A ledger of the previous release is migrated."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

from alembic import command
from lxml import etree

from edi_engine.ledger import db

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_1_SIRET, VALBRUNE, Home
from .test_controls import UNKNOWN_SIRET, deposit, ubl

NUMBER = "F01-2026-000101"


def _emit(home: Home) -> list[dict]:
    return json.loads(home.invoke("statuses", "emit", "--json").stdout)


def _told(home: Home, name: str) -> list[tuple[str, str]]:
    """(IdStatut, IdFacture) of each status of one of FOUR01's status flows."""
    root = etree.parse(str(home.path / "outbox" / SUPPLIER_1 / name))
    return [
        (unit.findtext("DonneesStatut/IdStatut"), unit.findtext("DonneesStatut/IdFacture"))
        for unit in root.iter("CPPFactureStatutUnitaire")
    ]


def _search(home: Home, *args: str) -> list[dict]:
    return json.loads(home.invoke("invoices", "search", *args, "--json").stdout)


def _export(home: Home, *args: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(home.invoke("invoices", "export", *args).stdout)))


def test_an_invoice_to_an_unknown_recipient_is_told_by_the_cr_only(home: Home) -> None:
    (refused,) = deposit(home, ubl(NUMBER, buyer=UNKNOWN_SIRET))
    assert (refused.state, refused.cr_status) == ("IN_REJETE", "93")
    line = refused.line("RECIPIENT_UNKNOWN")
    assert line.nature == "Facture" and UNKNOWN_SIRET in line.detail

    assert _emit(home) == []  # nothing to tell: no 05, no status flow at all
    assert not [n for n in home.outbox(SUPPLIER_1) if n.startswith("STATUT_")]

    # the supplier corrects its invoice and deposits it again, under the same number
    (accepted,) = deposit(home, ubl(NUMBER))
    assert (accepted.state, accepted.cr_status) == ("IN_INTEGRE", "90")
    (emitted,) = _emit(home)
    assert emitted["file_name"] == "STATUT_FOUR01_1.xml"
    assert _told(home, "STATUT_FOUR01_1.xml") == [("01", NUMBER), ("02", NUMBER), ("03", NUMBER)]
    assert _emit(home) == []


def test_a_refusal_for_a_known_recipient_is_no_05_either(home: Home) -> None:
    """The recipient is known (its status flows could name it): still nothing is told."""
    (refused,) = deposit(home, ubl(NUMBER, totals={"TaxInclusiveAmount": "900.00"}))
    assert refused.state == "IN_REJETE" and refused.errors
    assert refused.ledger == [(NUMBER, "REFUSEE_RECEPTION", None)]
    assert _emit(home) == []


def test_the_operator_sees_the_refusal_in_every_view(home: Home) -> None:
    (refused,) = deposit(home, ubl(NUMBER, buyer=UNKNOWN_SIRET))
    deposit(home, ubl("F01-2026-000102"))

    (found,) = _search(home, "--status", "REFUSEE_RECEPTION")
    assert (found["number"], found["status"], found["status_code"]) == (
        NUMBER, "REFUSEE_RECEPTION", None,
    )  # fmt: skip
    assert found["in_lifecycle"] is False and found["errors"][0]["code"] == "RECIPIENT_UNKNOWN"
    (other,) = [i for i in _search(home) if i["number"] == "F01-2026-000102"]
    assert other["in_lifecycle"] is True and other["status_code"] == "03"

    shown = json.loads(home.invoke("invoices", "show", found["id"], "--json").stdout)
    assert (shown["status"], shown["in_lifecycle"], shown["pivot_file"]) == (
        "REFUSEE_RECEPTION", False, None,
    )  # fmt: skip
    (event,) = shown["history"]
    assert (event["status"], event["status_code"]) == ("REFUSEE_RECEPTION", None)
    assert event["detail"] == f"refused at reception in flow {refused.flow['number']}"
    assert event["to_supplier"] is False
    text = home.invoke("invoices", "show", found["id"]).stdout
    assert "REFUSEE_RECEPTION" in text and "in_lifecycle" in text

    (row,) = _export(home, "--status", "REFUSEE_RECEPTION")
    assert (row["number"], row["status"], row["status_code"]) == (NUMBER, "REFUSEE_RECEPTION", "")
    table = home.invoke("invoices", "search", "--status", "REFUSEE_RECEPTION").stdout
    assert NUMBER in table and "F01-2026-000102" not in table
    assert "outside (CR only)" in table  # its lifecycle column
    assert " 03 " in home.invoke("invoices", "search", "--number", "F01-2026-000102").stdout

    # counted as rejected, as before
    flow = home.show(refused.flow["number"])
    assert (flow["invoices"], flow["rejected"]) == (1, 1)
    *_, month = json.loads(home.invoke("stats", "monthly", "--json").stdout)
    assert (month["invoices_received"], month["invoices_rejected"]) == (2, 1)


def test_no_status_can_be_set_on_an_invoice_refused_at_reception(home: Home) -> None:
    deposit(home, ubl(NUMBER, buyer=UNKNOWN_SIRET))
    (found,) = _search(home, "--status", "REFUSEE_RECEPTION")
    refused = home.invoke("invoices", "set-status", found["id"], "SERVICE_FAIT", code=1)
    assert "refused at reception" in refused.stderr and "never entered" in refused.stderr
    by_name = home.invoke("invoices", "set-status", found["id"], "REFUSEE_RECEPTION", code=2)
    assert "not a status of the lifecycle" in by_name.stderr
    by_code = home.invoke("invoices", "set-status", found["id"], "13", code=2)
    assert "is not an invoice status" in by_code.stderr


def test_the_status_filters_help_tells_a_refusal_from_a_rejection(home: Home) -> None:
    for name in ("search", "export"):
        said = " ".join(home.invoke("invoices", name, "--help").stdout.split())
        assert "REJETEE is 05, the recipient's rejection" in said
        assert "REFUSEE_RECEPTION: refused at reception by the hub, outside the lifecycle" in said


def test_rejetee_stays_the_recipients_rejection(home: Home) -> None:
    deposit(home, ubl(NUMBER))
    _emit(home)
    (invoice,) = _search(home)
    home.invoke(
        "invoices", "set-status", invoice["id"], "REJETEE", "--comment", "prestation non conforme"
    )
    (rejected,) = _search(home, "--status", "REJETEE")
    assert (rejected["status_code"], rejected["in_lifecycle"]) == ("05", True)
    (emitted,) = _emit(home)
    assert _told(home, emitted["file_name"]) == [("05", NUMBER)]


# -- a ledger of the previous release (revision 0008) -------------------------------------

AT = "2026-11-20 09:00:00.000000"


def _old_ledger(home: Home) -> str:
    """The home's ledger replaced by one at revision 0008, holding what the previous release
    recorded: flow 1 delivered an invoice and refused one at reception (REJETEE, 05), both
    told in the written status flow 1; flow 2's refusal is in status flow 2, numbered but
    not written yet; flow 3's invoice was rejected by its recipient (05)."""
    path = home.path / "ledger.db"
    path.unlink()
    url = f"sqlite:///{path}"
    db.engine_for(url).dispose()  # no connection of this process keeps the file that went
    command.upgrade(db.alembic_config(url), "0008")
    statements = [
        "insert into partners (code, name, channel, created_at) values "
        f"('{SUPPLIER_1}', 'Supplier', 'local', '{AT}'), ('{RECIPIENT}', 'Recipient', 'local', "
        f"'{AT}')",
        "insert into structures (siret, designation, active, partner_code, updated_at) values "
        f"('{VALBRUNE}', 'Valbrune', 1, '{RECIPIENT}', '{AT}')",
        *(
            "insert into flows (id, number, partner_code, file_name, content_hash, size, "
            "archive_path, syntax, status, received_at, updated_at, invoice_count, "
            f"rejected_count, attempts) values ({n}, 'FL000000000{n}', '{SUPPLIER_1}', "
            f"'f{n}.xml', 'h{n}', 1, 'a{n}', 'IN_DP_E1_UBL_INVOICE', '{status}', '{AT}', "
            f"'{AT}', {count}, {rejected}, 1)"
            for n, status, count, rejected in (
                (1, "IN_INTEGRE_PARTIEL", 2, 1),
                (2, "IN_REJETE", 1, 1),
                (3, "IN_INTEGRE", 1, 0),
            )
        ),
        "insert into status_flows (id, partner_code, sequence, file_name, created_at, "
        f"written_at, changes) values (1, '{SUPPLIER_1}', 1, 'STATUT_FOUR01_1.xml', '{AT}', "
        f"'{AT}', 4), (2, '{SUPPLIER_1}', 2, 'STATUT_FOUR01_2.xml', '{AT}', NULL, 1)",
        *(
            "insert into invoices (id, flow_id, seq, number, supplier_id, recipient_siret, "
            f"status, status_code, status_date, pivot_file, issue_date) values ({i}, {flow}, "
            f"{seq}, '{number}', '{SUPPLIER_1_SIRET}', '{VALBRUNE}', '{status}', '{code}', "
            f"'{AT}', {pivot}, '2026-11-02')"
            for i, flow, seq, number, status, code, pivot in (
                (1, 1, 1, "OLD-1", "MISE_A_DISPOSITION", "03", "'PIVOT_DEST01_FL0000000001_1.xml'"),
                (2, 1, 2, "OLD-2", "REJETEE", "05", "NULL"),
                (3, 2, 1, "OLD-3", "REJETEE", "05", "NULL"),
                (4, 3, 1, "OLD-4", "REJETEE", "05", "'PIVOT_DEST01_FL0000000003_1.xml'"),
            )
        ),
        *(
            "insert into invoice_events (invoice_id, at, status, status_code, actor, detail, "
            f"emitted_in) values ({i}, '{AT}', '{status}', '{code}', '{actor}', '{detail}', "
            f"{emitted})"
            for i, status, code, actor, detail, emitted in (
                (1, "DEPOSEE", "01", "w", "accepted in flow FL0000000001", 1),
                (1, "EN_COURS_ACHEMINEMENT", "02", "w", "pivot written", 1),
                (1, "MISE_A_DISPOSITION", "03", "w", "delivered to partner DEST01", 1),
                (2, "REJETEE", "05", "w", "rejected at reception in flow FL0000000001", 1),
                (3, "REJETEE", "05", "w", "rejected at reception in flow FL0000000002", 2),
                (4, "DEPOSEE", "01", "w", "accepted in flow FL0000000003", "NULL"),
                (4, "EN_COURS_ACHEMINEMENT", "02", "w", "pivot written", "NULL"),
                (4, "MISE_A_DISPOSITION", "03", "w", "delivered to partner DEST01", "NULL"),
                (4, "REJETEE", "05", "partner:DEST01", "prestation non conforme", "NULL"),
            )
        ),
    ]
    with sqlite3.connect(path) as ledger:
        for statement in statements:
            ledger.execute(statement)
    return url


def test_a_ledger_of_the_previous_release_is_migrated(home: Home) -> None:
    url = _old_ledger(home)
    db.migrate(url)  # as the first command of the new release does

    refused = _search(home, "--status", "REFUSEE_RECEPTION")
    assert [(i["number"], i["status_code"], i["in_lifecycle"]) for i in refused] == [
        ("OLD-2", None, False), ("OLD-3", None, False),
    ]  # fmt: skip
    (rejected,) = _search(home, "--status", "REJETEE")  # the recipient's rejection stays
    assert (rejected["number"], rejected["status_code"]) == ("OLD-4", "05")
    shown = json.loads(home.invoke("invoices", "show", refused[0]["id"], "--json").stdout)
    assert [(h["status"], h["status_code"]) for h in shown["history"]] == [
        ("REFUSEE_RECEPTION", None)
    ]

    # the written status flow keeps what it told; the unwritten one is written without the
    # refusal; only the recipient's 05 is still to be told
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        emitted_in = dict(ledger.execute("select invoice_id, emitted_in from invoice_events "
                                         "where invoice_id in (2, 3)"))  # fmt: skip
    assert emitted_in == {2: 1, 3: None}
    (emitted,) = _emit(home)
    assert (emitted["file_name"], emitted["changes"]) == ("STATUT_FOUR01_3.xml", 4)
    told = _told(home, "STATUT_FOUR01_3.xml")
    assert told == [("01", "OLD-4"), ("02", "OLD-4"), ("03", "OLD-4"), ("05", "OLD-4")]
    assert "STATUT_FOUR01_2.xml" not in home.outbox(SUPPLIER_1)  # nothing left to tell in it


def test_going_back_to_the_previous_release_never_sends_a_refusal_as_05(home: Home) -> None:
    """A downgrade to 0008 (the previous release) records refusals as it did, REJETEE, but
    leaves no event a status flow never told: its emitter would send each one as a 05."""
    url = _old_ledger(home)
    db.migrate(url)
    (refused,) = deposit(home, ubl(NUMBER, buyer=UNKNOWN_SIRET))  # this release's refusal
    assert refused.state == "IN_REJETE"

    command.downgrade(db.alembic_config(url), "0008")

    with sqlite3.connect(home.path / "ledger.db") as ledger:
        invoices = ledger.execute("select number, status, status_code from invoices").fetchall()
        events = ledger.execute(
            "select i.number, e.status_code, e.emitted_in from invoice_events e "
            "join invoices i on i.id = e.invoice_id where i.status = 'REJETEE'"
        ).fetchall()
    assert {(n, s, c) for n, s, c in invoices if s == "REJETEE"} == {
        ("OLD-2", "REJETEE", "05"), ("OLD-3", "REJETEE", "05"), ("OLD-4", "REJETEE", "05"),
        (NUMBER, "REJETEE", "05"),
    }  # fmt: skip
    # what the previous release's next status flow would carry: OLD-4's own story only
    assert sorted((n, c) for n, c, emitted in events if emitted is None) == [
        ("OLD-4", "01"), ("OLD-4", "02"), ("OLD-4", "03"), ("OLD-4", "05"),
    ]  # fmt: skip
    assert ("OLD-2", "05", 1) in events  # told as 05 by the previous release: history stays
