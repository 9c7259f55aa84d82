"""Resends on PostgreSQL with several workers (issue 12, point 4): copies of one content
from one partner, recorded together and raced by workers, are integrated once; the copies
are refused as DUPLICATE_FLOW while the first stands, even when the first was itself a
copy processed as new; another partner's copy of the same content is its own flow, whose
CR names nothing of the first partner's."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from edi_engine import controls, settings
from edi_engine.ledger import db, leasing
from edi_engine.ledger.models import Flow
from edi_engine.processing import runner
from edi_engine.reception import intake

from .conftest import RECIPIENT, SUPPLIER, SUPPLIER_SIRET, read_in_process
from .test_postgresql import _invoice, _receive_only, _workers

pytest.importorskip("psycopg", reason="psycopg is not installed")

OTHER = "FOUR09"  # another connection of the same supplier
VALBRUNE, UNKNOWN = b"21990101400015", b"73282932000074"  # the sample's buyer; in no referential


def test_copies_raced_by_workers_are_integrated_once(
    hub: Callable[..., subprocess.CompletedProcess],
) -> None:
    hub("partners", "add", OTHER, "--name", OTHER)
    hub("partners", "suppliers", "add", OTHER, SUPPLIER_SIRET)
    contents = [_invoice(f"F-RES-{n:03}") for n in range(10)]
    for n, content in enumerate(contents):
        for copy in ("a", "b", "c"):
            (hub.home / "inbox" / SUPPLIER / f"{copy}{n:03}.xml").write_bytes(content)
    _receive_only(hub)
    _workers(hub, 4)
    for n, content in enumerate(contents):  # then the other connection sends them too
        (hub.home / "inbox" / OTHER / f"o{n:03}.xml").write_bytes(content)
    hub("run", "--once")

    flows = json.loads(read_in_process(hub, "flows", "list", "--limit", "100", "--json"))
    mine = [f for f in flows if f["partner"] == SUPPLIER]
    assert sorted(f["status"] for f in mine) == ["IN_INTEGRE"] * 10 + ["IN_REJETE"] * 20
    originals = {f["number"] for f in mine if f["status"] == "IN_INTEGRE"}
    for flow in mine:
        if flow["status"] == "IN_REJETE":
            detail = json.loads(read_in_process(hub, "flows", "show", flow["number"], "--json"))
            assert [e["code"] for e in detail["errors"]] == ["DUPLICATE_FLOW"]
            assert detail["duplicate_of"] in originals
    # the other connection's copies were compared with nothing of FOUR01's flows: each is
    # processed, and refused invoice by invoice without naming FOUR01's flows
    theirs = [f for f in flows if f["partner"] == OTHER]
    assert [f["status"] for f in theirs] == ["IN_REJETE"] * 10
    for flow in theirs:
        cr = hub.home / "outbox" / OTHER / f"CR_{OTHER}_{flow['number']}.xml"
        text = cr.read_text(encoding="utf-8")
        assert "INVOICE_DUPLICATE" in text and "DUPLICATE_FLOW" not in text
        assert not any(number in text for number in originals)
    assert len(list((hub.home / "outbox" / RECIPIENT).glob("PIVOT_*.xml"))) == 10


def test_a_copy_received_while_a_resend_is_processed_by_another_worker_is_its_duplicate(
    hub: Callable[..., subprocess.CompletedProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A is rejected while its copy B waits (recorded as A's duplicate), so B is processed
    as a new flow; C, the same content again, is received and processed by another worker
    while B's worker is still at it: C is B's DUPLICATE_FLOW, the invoice delivered once."""
    for name, value in hub.env.items():
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.setenv(name, value)
    loaded = settings.load(hub.home)
    inbox = hub.home / "inbox" / SUPPLIER
    content = _invoice("F-RACE-001").replace(VALBRUNE, UNKNOWN)
    structures = hub.home / "new-structure.csv"
    structures.write_text(
        f"siret,designation,active,partner\n{UNKNOWN.decode()},Commune nouvelle,true,{RECIPIENT}\n"
    )

    def process(session, flow: Flow, worker: str) -> None:
        referential = controls.Referential.load(session)
        runner.process_one(loaded, session, flow, referential, worker, runner.RunReport())

    with (
        db.session_scope(loaded.database_url) as first,
        db.session_scope(loaded.database_url) as second,
        db.session_scope(loaded.database_url) as third,
    ):
        (inbox / "a.xml").write_bytes(content)
        intake.receive(loaded, first)
        (a,) = leasing.lease(first, "worker-1", 1, 600)
        (inbox / "b.xml").write_bytes(content)
        intake.receive(loaded, first)
        process(first, a, "worker-1")
        hub("structures", "import", str(structures))
        (b,) = leasing.lease(second, "worker-2", 1, 600)
        (inbox / "c.xml").write_bytes(content)
        intake.receive(loaded, third)
        (c,) = leasing.lease(third, "worker-3", 1, 600)
        process(third, c, "worker-3")  # while worker-2 holds B
        process(second, b, "worker-2")
        numbers = [a.number, b.number, c.number]

    shown = [json.loads(read_in_process(hub, "flows", "show", n, "--json")) for n in numbers]
    assert [f["status"] for f in shown] == ["IN_REJETE", "IN_INTEGRE", "IN_REJETE"]
    assert [e["code"] for e in shown[2]["errors"]] == ["DUPLICATE_FLOW"]
    assert shown[2]["duplicate_of"] == numbers[1] and shown[1]["duplicate_of"] is None
    cr = hub.home / "outbox" / SUPPLIER / f"CR_{SUPPLIER}_{numbers[2]}.xml"
    assert f"{numbers[1]} (b.xml)" in cr.read_text(encoding="utf-8")
    assert len(list((hub.home / "outbox" / RECIPIENT).glob("PIVOT_*.xml"))) == 1
