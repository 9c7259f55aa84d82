"""A flow processed again never rewrites its history (issue 12, point 6): what each
attempt found stays in the ledger, the CR its depositor received stays beside the new one
as CR_<P>_<FLOW>_<N>.xml, `flows show` lists every attempt, and the same invoice at the same
place of the flow keeps its id, which its pivot carries (IdCPRO)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from edi_engine import clock

from .conftest import HAUT_VERNAY, RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home

REPO = Path(__file__).resolve().parents[2]
NUMBER = "F01-2026-000104"  # ubl-inactive.xml, to Haut-Vernay (inactive)


def _rerun(home: Home, *args: str) -> dict:
    (done,) = json.loads(home.invoke("flows", "rerun", *args, "--json").stdout)
    return done


def _search(home: Home, *args: str) -> list[dict]:
    return json.loads(home.invoke("invoices", "search", *args, "--json").stdout)


def _cr(home: Home, name: str) -> etree._ElementTree:
    return etree.parse(str(home.path / "outbox" / SUPPLIER_1 / name))


def _activate_haut_vernay(home: Home, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(f"siret,designation,active,partner\n{HAUT_VERNAY},Syndicat,true,{RECIPIENT}\n")
    home.invoke("structures", "import", fixed)


@pytest.fixture
def refused_once(home: Home) -> tuple[Home, str, bytes, int]:
    """A flow whose only invoice was refused (its structure inactive): the home, the flow's
    number, the CR its supplier received, and the refused invoice's id."""
    home.drop(SUPPLIER_1, "inactive.xml", sample="ubl-inactive.xml")
    (flow,) = home.run()
    assert flow["status"] == "IN_REJETE"
    number = flow["number"]
    (invoice,) = _search(home)
    cr = home.path / "outbox" / SUPPLIER_1 / f"CR_FOUR01_{number}.xml"
    return home, number, cr.read_bytes(), invoice["id"]


def test_a_rerun_keeps_the_first_attempts_cr_findings_and_invoice_id(
    refused_once: tuple[Home, str, bytes, int], tmp_path: Path
) -> None:
    home, number, first_cr, invoice_id = refused_once
    _activate_haut_vernay(home, tmp_path)

    assert _rerun(home, number, "--reason", "structure activated")["after"] == "IN_INTEGRE"

    # the supplier has both CRs: the first one as it received it, and the new one
    first, second = f"CR_FOUR01_{number}_1.xml", f"CR_FOUR01_{number}.xml"
    assert [n for n in home.outbox(SUPPLIER_1) if n.startswith("CR_")] == [second, first]
    assert (home.path / "outbox" / SUPPLIER_1 / first).read_bytes() == first_cr
    assert _cr(home, first).findtext(".//IdStatut") == "93"
    assert _cr(home, second).findtext(".//IdStatut") == "90"

    # the operator sees both attempts and what each found
    detail = home.show(number)
    assert detail["errors"] == []  # the last attempt's
    assert [(a["attempt"], a["cr"]) for a in detail["attempts"]] == [(1, first), (2, second)]
    assert [e["code"] for e in detail["attempts"][0]["errors"]] == ["RECIPIENT_INACTIVE"]
    assert detail["attempts"][1]["errors"] == []
    assert {o["file_name"] for o in detail["outputs"] if o["kind"] == "CR"} == {first, second}
    assert f"the CR of attempt 1 kept as {first}" in detail["events"][-1]["detail"]
    text = home.invoke("flows", "show", number).stdout
    assert "Attempts" in text and "Attempt 1: errors and warnings" in text
    assert "RECIPIENT_INACTIVE" in text

    # the same invoice at the same place keeps its id and its history, and its pivot says so
    (invoice,) = _search(home)
    assert (invoice["id"], invoice["status"], invoice["errors"]) == (
        invoice_id, "MISE_A_DISPOSITION", [],
    )  # fmt: skip
    (listed,) = detail["invoice_list"]
    assert (listed["id"], listed["attempt"]) == (invoice_id, 2)
    shown = json.loads(home.invoke("invoices", "show", invoice_id, "--json").stdout)
    assert [(h["status"], h["status_code"]) for h in shown["history"]] == [
        ("REFUSEE_RECEPTION", None), ("DEPOSEE", "01"), ("EN_COURS_ACHEMINEMENT", "02"),
        ("MISE_A_DISPOSITION", "03"),
    ]  # fmt: skip
    assert shown["history"][1]["detail"] == f"accepted in flow {number} (attempt 2)"
    (pivot,) = home.outbox(RECIPIENT)
    unit = etree.parse(str(home.path / "outbox" / RECIPIENT / pivot))
    assert unit.findtext(".//DonneesFacture/IdCPRO") == str(invoice_id)

    # its supplier's status flow tells 01, 02 and 03: never the refusal
    (emitted,) = json.loads(home.invoke("statuses", "emit", "--json").stdout)
    told = etree.parse(str(home.path / "outbox" / SUPPLIER_1 / emitted["file_name"]))
    units = told.iter("CPPFactureStatutUnitaire")
    assert [u.findtext("DonneesStatut/IdStatut") for u in units] == ["01", "02", "03"]


def test_each_attempt_keeps_its_cr(home: Home) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    number = flow["number"]
    for _ in range(2):
        assert _rerun(home, number, "--force", "--reason", "pivots lost")["after"] == "IN_INTEGRE"

    crs = [n for n in home.outbox(SUPPLIER_1) if n.startswith("CR_")]
    assert crs == [
        f"CR_FOUR01_{number}.xml",
        f"CR_FOUR01_{number}_1.xml",
        f"CR_FOUR01_{number}_2.xml",
    ]
    attempts = home.show(number)["attempts"]
    assert [(a["attempt"], a["cr"]) for a in attempts] == [
        (1, crs[1]), (2, crs[2]), (3, crs[0]),
    ]  # fmt: skip
    assert len(_search(home)) == 1  # delivered once, kept by each attempt


def test_an_invoice_refused_again_keeps_its_id_and_both_refusals(home: Home) -> None:
    home.drop(SUPPLIER_2, "pivot.xml", sample="pivot-multi.xml")
    (flow,) = home.run()
    number = flow["number"]
    before = {i["number"]: i["id"] for i in _search(home)}

    assert _rerun(home, number)["after"] == "IN_INTEGRE_PARTIEL"

    assert {i["number"]: i["id"] for i in _search(home)} == before
    refused = next(i for i in _search(home) if i["status"] == "REFUSEE_RECEPTION")
    assert [e["code"] for e in refused["errors"]] == ["RECIPIENT_UNKNOWN"]  # as it stands now
    shown = json.loads(home.invoke("invoices", "show", refused["id"], "--json").stdout)
    assert [h["detail"] for h in shown["history"]] == [
        f"refused at reception in flow {number}",
        f"refused at reception in flow {number} (attempt 2)",
    ]
    attempts = home.show(number)["attempts"]
    for attempt in attempts:
        assert "RECIPIENT_UNKNOWN" in [e["code"] for e in attempt["errors"]]
    assert home.show(number)["errors"] == attempts[-1]["errors"]


# a rerun killed (SIGKILL) right after it wrote its new CR, before its commit
CRASH_AFTER_THE_NEW_CR = """
import os, signal, sys
from connectors import outgoing
from cli import main

real_stage = outgoing.stage

def stage(path, *args):
    real_stage(path, *args)
    if path.name.endswith("-" + sys.argv[1]):  # staged, not committed
        os.kill(os.getpid(), signal.SIGKILL)

outgoing.stage = stage
main(["--home", sys.argv[2], "flows", "rerun", sys.argv[3], "--reason", "crash"])
"""


def test_a_rerun_killed_before_its_commit_leaves_the_first_cr_as_it_was(
    refused_once: tuple[Home, str, bytes, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, number, first_cr, invoice_id = refused_once
    _activate_haut_vernay(home, tmp_path)
    cr = f"CR_FOUR01_{number}.xml"

    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_THE_NEW_CR, cr, str(home.path), number],
        cwd=REPO, env=dict(os.environ), capture_output=True,
    )  # fmt: skip

    assert crashed.returncode == -9, crashed.stderr
    folder = home.path / "outbox" / SUPPLIER_1
    # nothing of the dead attempt reached the partner: it never committed
    assert (folder / cr).read_bytes() == first_cr
    assert not (folder / f"CR_FOUR01_{number}_1.xml").exists()

    # once the dead worker's lease has expired, a run takes the flow again
    later = clock.now() + timedelta(hours=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    (flow,) = home.run()

    assert flow["status"] == "IN_INTEGRE"
    assert (folder / f"CR_FOUR01_{number}_1.xml").read_bytes() == first_cr
    assert _cr(home, cr).findtext(".//IdStatut") == "90"
    assert [(a["attempt"], a["cr"]) for a in home.show(number)["attempts"]] == [
        (1, f"CR_FOUR01_{number}_1.xml"), (2, cr),
    ]  # fmt: skip
    (invoice,) = _search(home)
    assert (invoice["id"], invoice["status"]) == (invoice_id, "MISE_A_DISPOSITION")


def _read_otherwise(home: Home, invoice_id: int, number: str) -> None:
    """As if the flow had been read otherwise before (a reader fixed since): the ledger
    holds another number at that place."""
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        ledger.execute("update invoices set number = ? where id = ?", (number, invoice_id))


def test_another_invoice_at_the_place_of_a_refused_one_gets_its_own_id(
    refused_once: tuple[Home, str, bytes, int], tmp_path: Path
) -> None:
    """The invoice the new attempt finds at that place is not the one refused there: it has
    an id of its own, and the refused one stays in the ledger as attempt 1 recorded it."""
    home, number, first_cr, invoice_id = refused_once
    _read_otherwise(home, invoice_id, "READ-OTHERWISE")
    _activate_haut_vernay(home, tmp_path)

    assert _rerun(home, number)["after"] == "IN_INTEGRE"

    (invoice,) = _search(home, "--status", "MISE_A_DISPOSITION")
    assert invoice["number"] == NUMBER and invoice["id"] != invoice_id
    shown = json.loads(home.invoke("invoices", "show", invoice["id"], "--json").stdout)
    assert [h["status_code"] for h in shown["history"]] == ["01", "02", "03"]

    # the refused invoice of attempt 1 is still found, with what refused it then
    (refused,) = _search(home, "--status", "REFUSEE_RECEPTION", "--flow", number)
    assert (refused["id"], refused["number"]) == (invoice_id, "READ-OTHERWISE")
    assert [e["code"] for e in refused["errors"]] == ["RECIPIENT_INACTIVE"]
    shown = json.loads(home.invoke("invoices", "show", invoice_id, "--json").stdout)
    assert [h["detail"] for h in shown["history"]] == [f"refused at reception in flow {number}"]
    detail = home.show(number)
    assert sorted((i["number"], i["attempt"]) for i in detail["invoice_list"]) == [
        (NUMBER, 2), ("READ-OTHERWISE", 1),
    ]  # fmt: skip
    first = detail["attempts"][0]
    assert [e["code"] for e in first["errors"]] == ["RECIPIENT_INACTIVE"]
    assert (home.path / "outbox" / SUPPLIER_1 / first["cr"]).read_bytes() == first_cr


def test_each_refused_invoice_stays_however_often_its_place_is_read_otherwise(
    refused_once: tuple[Home, str, bytes, int],
) -> None:
    home, number, _, first_id = refused_once
    _read_otherwise(home, first_id, "READ-FIRST")
    assert _rerun(home, number)["after"] == "IN_REJETE"  # its structure is still inactive
    (second,) = [i for i in _search(home) if i["number"] == NUMBER]
    _read_otherwise(home, second["id"], "READ-SECOND")

    assert _rerun(home, number)["after"] == "IN_REJETE"

    found = _search(home, "--flow", number)
    assert sorted(i["number"] for i in found) == [NUMBER, "READ-FIRST", "READ-SECOND"]
    assert {i["status"] for i in found} == {"REFUSEE_RECEPTION"}
    assert len({i["id"] for i in found}) == 3
    listed = home.show(number)["invoice_list"]
    assert sorted((i["number"], i["attempt"]) for i in listed) == [
        (NUMBER, 3), ("READ-FIRST", 1), ("READ-SECOND", 2),
    ]  # fmt: skip
