"""Resends (issue 12, point 4) end to end: the same content from the same partner is a
duplicate flow only while an earlier flow of that partner with it is being processed or
has integrated invoices; after IN_REJETE or IN_INCIDENTE it is processed as a new flow;
another partner's content is never compared with it, and no CR names another partner's
flow, file or invoice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from lxml import etree
from sqlalchemy.orm import Session

from edi_engine import controls, settings
from edi_engine.ledger import db, leasing
from edi_engine.ledger.models import Flow
from edi_engine.processing import runner
from edi_engine.reception import intake

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_1_SIRET, SUPPLIER_2, Home, sample
from .test_controls import UNKNOWN_SIRET, delivered, ubl


def cr_text(home: Home, flow: dict) -> str:
    partner, number = flow["partner"], flow["number"]
    path = home.path / "outbox" / partner / f"CR_{partner}_{number}.xml"
    return path.read_text(encoding="utf-8")


def cr_codes(home: Home, flow: dict) -> list[str]:
    root = etree.fromstring(cr_text(home, flow).encode())
    return [line.findtext("CodeErreur") for line in root.iter("LigneErreurDetail")]


def drop_and_run(home: Home, partner: str, name: str, content: bytes) -> dict:
    home.drop(partner, name, content)
    (flow,) = [f for f in home.run() if f["file_name"] == name]
    return flow


def test_the_same_content_while_its_first_flow_is_integrated_is_a_duplicate(home: Home) -> None:
    first = drop_and_run(home, SUPPLIER_1, "facture-0101.xml", sample("ubl-invoice.xml"))
    assert first["status"] == "IN_INTEGRE"

    again = drop_and_run(home, SUPPLIER_1, "renvoi.xml", sample("ubl-invoice.xml"))

    assert again["status"] == "IN_REJETE"
    assert cr_codes(home, again) == ["DUPLICATE_FLOW"]
    text = cr_text(home, again)  # its own flow: named, with the file it came in
    assert first["number"] in text and "facture-0101.xml" in text
    assert "dont les factures ont été intégrées" in text
    assert home.show(again["number"])["duplicate_of"] == first["number"]
    assert len(delivered(home)) == 1


def test_two_copies_in_one_run_deliver_once(home: Home) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample("ubl-invoice.xml"))
    home.drop(SUPPLIER_1, "b.xml", sample("ubl-invoice.xml"))
    flows = {flow["file_name"]: flow for flow in home.run()}
    assert sorted(f["status"] for f in flows.values()) == ["IN_INTEGRE", "IN_REJETE"]
    assert len(delivered(home)) == 1


def test_the_same_content_after_its_flow_was_rejected_is_processed_again(home: Home) -> None:
    content = ubl(buyer=UNKNOWN_SIRET)
    refused = drop_and_run(home, SUPPLIER_1, "facture.xml", content)
    assert refused["status"] == "IN_REJETE"
    assert cr_codes(home, refused) == ["RECIPIENT_UNKNOWN"]
    # the hub learns of the structure; the supplier sends the very same file again
    structures = home.path / "new-structure.csv"
    structures.write_text(
        f"siret,designation,active,partner\n{UNKNOWN_SIRET},Commune nouvelle,true,{RECIPIENT}\n"
    )
    home.invoke("structures", "import", structures)

    resent = drop_and_run(home, SUPPLIER_1, "facture.xml", content)

    assert resent["number"] != refused["number"]
    assert resent["status"] == "IN_INTEGRE" and cr_codes(home, resent) == []
    assert home.show(resent["number"])["duplicate_of"] is None
    assert len(delivered(home)) == 1
    # and once integrated, a third copy is the duplicate of the second
    third = drop_and_run(home, SUPPLIER_1, "facture-bis.xml", content)
    assert cr_codes(home, third) == ["DUPLICATE_FLOW"]
    assert home.show(third["number"])["duplicate_of"] == resent["number"]


def test_the_same_content_after_an_incident_is_processed_again(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors import outgoing

    real_stage = outgoing.stage

    def pivots_fail(path, *args):  # the engine's own disk refuses the pivot
        if "-PIVOT_" in path.name:
            raise PermissionError(13, "Permission denied", str(path))
        real_stage(path, *args)

    monkeypatch.setattr(outgoing, "stage", pivots_fail)
    home.drop(SUPPLIER_1, "facture.xml", sample("ubl-invoice.xml"))
    (failed,) = json.loads(home.invoke("run", "--once", "--json", code=3).stdout)
    assert failed["status"] == "IN_INCIDENTE"
    monkeypatch.undo()

    resent = drop_and_run(home, SUPPLIER_1, "facture.xml", sample("ubl-invoice.xml"))

    assert resent["status"] == "IN_INTEGRE" and cr_codes(home, resent) == []
    assert len(delivered(home)) == 1


def test_the_same_file_from_another_partner_is_its_own_flow_and_names_nothing_of_the_first(
    home: Home,
) -> None:
    first = drop_and_run(home, SUPPLIER_1, "delorme-0101.xml", sample("ubl-invoice.xml"))
    assert first["status"] == "IN_INTEGRE"
    # FOUR02 deposits the very same file: compared with nothing of FOUR01's, it is refused
    # for its supplier, and its CR names neither FOUR01's flow nor its file
    other = drop_and_run(home, SUPPLIER_2, "envoi.xml", sample("ubl-invoice.xml"))
    assert other["status"] == "IN_REJETE"
    assert cr_codes(home, other) == ["SUPPLIER_NOT_ALLOWED"]
    assert home.show(other["number"])["duplicate_of"] is None

    # tied to the same supplier, FOUR02's copy is refused as the invoice it repeats, and
    # still nothing of FOUR01's flow is named
    home.invoke("partners", "suppliers", "add", SUPPLIER_2, SUPPLIER_1_SIRET)
    again = drop_and_run(home, SUPPLIER_2, "envoi-2.xml", sample("ubl-invoice.xml"))
    assert cr_codes(home, again) == ["INVOICE_DUPLICATE"]
    for flow in (other, again):
        text = cr_text(home, flow)
        for secret in (first["number"], "delorme-0101.xml", SUPPLIER_1):
            assert secret not in text, (secret, text)
        detail = json.dumps(home.show(flow["number"])["errors"])
        assert first["number"] not in detail and "delorme-0101.xml" not in detail
    assert len(delivered(home)) == 1


def test_an_invoice_duplicate_from_the_same_partner_names_its_own_earlier_flow(
    home: Home,
) -> None:
    first = drop_and_run(home, SUPPLIER_1, "a.xml", ubl())
    again = drop_and_run(home, SUPPLIER_1, "b.xml", ubl(engagement=None))  # another content
    assert cr_codes(home, again) == ["INVOICE_DUPLICATE"]
    assert f"(flux {first['number']})" in cr_text(home, again)


@contextmanager
def ledger(home: Home) -> Iterator[tuple[settings.Settings, Session]]:
    """The home's settings and a ledger session, to receive, lease and process flows one
    step at a time, as interleaved workers do."""
    loaded = settings.load(home.path)
    with db.session_scope(loaded.database_url) as session:
        yield loaded, session


def receive(loaded: settings.Settings, session: Session) -> Flow:
    (flow_id,) = intake.receive(loaded, session).flow_ids
    return session.get(Flow, flow_id)


def lease_one(session: Session, worker: str) -> Flow:
    (flow,) = leasing.lease(session, worker, 1, 600)
    return flow


def process(loaded: settings.Settings, session: Session, flow: Flow, worker: str) -> None:
    referential = controls.Referential.load(session)  # each run reads the referential
    runner.process_one(loaded, session, flow, referential, worker, runner.RunReport())


@pytest.mark.parametrize("first", ["B", "C"])
def test_a_copy_received_while_a_resend_is_processed_is_its_duplicate(
    home: Home, first: str
) -> None:
    """A is being processed when its copy B is received (recorded as A's duplicate); A is
    rejected, so B is processed as a new flow; C, the same content again, arrives while B
    is being processed. Whichever of B and C a worker finishes first, one is the new flow
    and the other its DUPLICATE_FLOW: the invoice is not refused as INVOICE_DUPLICATE in a
    second new flow."""
    content = ubl(buyer=UNKNOWN_SIRET)
    structures = home.path / "new-structure.csv"
    structures.write_text(
        f"siret,designation,active,partner\n{UNKNOWN_SIRET},Commune nouvelle,true,{RECIPIENT}\n"
    )
    with ledger(home) as (loaded, session):
        home.drop(SUPPLIER_1, "a.xml", content)
        a = receive(loaded, session)
        assert lease_one(session, "worker-1").id == a.id
        home.drop(SUPPLIER_1, "b.xml", content)
        b = receive(loaded, session)
        assert b.duplicate_of == a.number  # while A is being processed
        process(loaded, session, a, "worker-1")
        assert a.status == "IN_REJETE"
        home.invoke("structures", "import", structures)  # the hub learns of the structure
        assert lease_one(session, "worker-2").id == b.id
        home.drop(SUPPLIER_1, "c.xml", content)
        c = receive(loaded, session)  # while B is being processed
        assert c.duplicate_of == b.number
        if first == "B":
            process(loaded, session, b, "worker-2")
            process(loaded, session, lease_one(session, "worker-3"), "worker-3")
        else:
            process(loaded, session, lease_one(session, "worker-3"), "worker-3")
            process(loaded, session, b, "worker-2")
        numbers = {"A": a.number, "B": b.number, "C": c.number}

    flows = {name: home.show(number) for name, number in numbers.items()}
    assert cr_codes(home, flows["A"]) == ["RECIPIENT_UNKNOWN"]
    # the first resend is the new flow, the second its duplicate, in either order
    assert flows["B"]["status"] == "IN_INTEGRE" and cr_codes(home, flows["B"]) == []
    assert flows["B"]["duplicate_of"] is None
    assert flows["C"]["status"] == "IN_REJETE"
    assert cr_codes(home, flows["C"]) == ["DUPLICATE_FLOW"]
    assert flows["C"]["duplicate_of"] == numbers["B"]
    text = cr_text(home, flows["C"])
    assert f"{numbers['B']} (b.xml)" in text and numbers["A"] not in text
    state = "en cours de traitement" if first == "C" else "dont les factures ont été intégrées"
    assert state in text
    assert len(delivered(home)) == 1
