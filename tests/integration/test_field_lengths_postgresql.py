"""On PostgreSQL, which refuses a value longer than its column, no partner value puts a
flow IN_INCIDENTE (issue 13, item 6): a 413-character supplier name, a 300-character root
element, a 150-character supplier identifier or buyer, a 46-character amount, a status's
80-character mandate each end IN_INTEGRE or IN_REJETE with a CR, as on SQLite. Against the
server on 127.0.0.1:5432 (database `test`, user postgres, trust); skipped, saying why,
without it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from generated import long_values
from lxml import etree

from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.statut import write_invoice_statuses

from .conftest import RECIPIENT, SUPPLIER, SUPPLIER_SIRET, read_in_process

pytest.importorskip("psycopg", reason="psycopg is not installed")

Hub = Callable[..., subprocess.CompletedProcess]
OPERATOR = "OPER01"
VALBRUNE = "21990101400015"


def _cr_codes(hub: Hub, partner: str, number: str) -> list[str]:
    path = hub.home / "outbox" / partner / f"CR_{partner}_{number}.xml"
    return [
        line.findtext("CodeErreur") for line in etree.parse(str(path)).iter("LigneErreurDetail")
    ]


def _invoice(hub: Hub, flow: str) -> dict:
    (found,) = [
        row
        for row in json.loads(read_in_process(hub, "invoices", "search", "--json"))
        if row["flow"] == flow
    ]
    return json.loads(read_in_process(hub, "invoices", "show", str(found["id"]), "--json"))


def test_long_values_end_integrated_or_rejected_with_a_cr(hub: Hub) -> None:
    hub("partners", "add", OPERATOR, "--name", "Operator", "--operator")
    (hub.home / "inbox" / OPERATOR).mkdir(parents=True, exist_ok=True)
    corpus = long_values.corpus()
    for hostile in corpus:
        (hub.home / "inbox" / OPERATOR / hostile.name).write_bytes(hostile.content)

    done = hub("run", "--once", "--json")

    flows = {flow["file_name"]: flow for flow in json.loads(done.stdout)}
    assert {hostile.name: flows[hostile.name]["status"] for hostile in corpus} == {
        hostile.name: hostile.status for hostile in corpus
    }
    for hostile in corpus:
        assert tuple(_cr_codes(hub, OPERATOR, flows[hostile.name]["number"])) == hostile.codes
    assert "was cut to" not in done.stderr  # every value met an explicit rule, not the net
    named = _invoice(hub, flows["long-name.xml"]["number"])
    assert len(named["supplier_name"]) <= 300 and named["supplier_name"].endswith("…")
    supplier = _invoice(hub, flows["long-supplier.xml"]["number"])
    assert len(supplier["supplier"]) == 100 and supplier["supplier"].endswith("…")


def test_a_status_with_a_long_mandate_is_refused_not_incidented(hub: Hub) -> None:
    (hub.home / "inbox" / SUPPLIER / "invoice.xml").write_bytes(long_values.ubl({}))
    (delivered,) = json.loads(hub("run", "--once", "--json").stdout)
    status = InvoiceStatus(
        code="08",
        supplier=Supplier(SUPPLIER_SIRET, "1", "Papeteries Delorme SAS", "FR"),
        debiteur=Debiteur(VALBRUNE),
        invoice_number=long_values.UBL_NUMBER,
        at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        invoice_date=date(2026, 11, 2),
        mandate="M" * 80,
    )
    envelope = Envelope("ST0001", date(2026, 11, 20), RECIPIENT, "EDIHUB")
    (hub.home / "inbox" / RECIPIENT).mkdir(parents=True, exist_ok=True)
    (hub.home / "inbox" / RECIPIENT / "statuses.xml").write_bytes(
        write_invoice_statuses([status], envelope)
    )

    (flow,) = json.loads(hub("run", "--once", "--json").stdout)

    assert flow["status"] == "IN_REJETE"
    assert _cr_codes(hub, RECIPIENT, flow["number"]) == ["STATUS_MANDATE_TOO_LONG"]
    invoice = _invoice(hub, delivered["number"])
    assert (invoice["status"], invoice["mandate"]) == ("MISE_A_DISPOSITION", None)


def test_the_net_cuts_a_value_no_rule_names_and_stores_a_nul(
    hub: Hub, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A column no explicit rule guards still takes any value: cut, with a warning naming it,
    and a NUL (which PostgreSQL refuses) kept as U+FFFD; a longer value compared with the
    column matches nothing instead of failing."""
    from sqlalchemy import select

    from edi_engine import clock
    from edi_engine.ledger import db
    from edi_engine.ledger.models import JobRun

    owner, now = "o" * 300, clock.now()
    try:
        with db.session_scope(pg_url) as session:
            session.add(
                JobRun(
                    job_id="net", scheduled_for=now, owner=owner, started_at=now, outcome="a\x00b"
                )
            )
            session.commit()
            assert session.scalars(select(JobRun).where(JobRun.owner == owner)).all() == []
        with db.session_scope(pg_url, write=False) as session:
            (run,) = session.scalars(select(JobRun).where(JobRun.job_id == "net"))
    finally:
        db.engine_for(pg_url).dispose()  # its database is dropped after the test
    assert len(run.owner) <= 100 and run.owner.endswith("…")
    assert run.outcome == "a\ufffdb"
    assert "was cut to the 100 of job_runs.owner" in caplog.text
