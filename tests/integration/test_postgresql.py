"""The ledger on PostgreSQL with several workers (README, "Several workers on
PostgreSQL"), against the server on 127.0.0.1:5432 (database
`test`, user postgres, trust): each test gets a database of its own, dropped afterwards.
Without that server the tests skip and say why."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

import config

from .conftest import RECIPIENT, REPO, SUPPLIER, read_in_process

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

RECEIVE_ONLY = """
from edi_engine.ledger import db
from edi_engine.reception import intake
from edi_engine import settings
loaded = settings.load(settings.resolve_home(None))
with db.session_scope(loaded.database_url) as session:
    intake.receive(loaded, session, ())
    session.commit()
"""


def _invoice(number: str, marker: str = "") -> bytes:
    """The demo's UBL invoice under another number (and another comment, so that two
    files of the same invoice are two flows, not one content received twice)."""
    sample = config.path("demo/ubl-invoice.xml").read_bytes()
    content = sample.replace(b"F01-2026-000101", number.encode())
    return content + f"<!-- {marker} -->\n".encode()


def _workers(hub: Callable[..., subprocess.CompletedProcess], count: int) -> None:
    command = [sys.executable, "-m", "cli", "run", "--once", "--json"]
    processes = [
        subprocess.Popen(
            command,
            cwd=REPO,
            env=hub.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for process in processes:
        _, errors = process.communicate(timeout=300)
        assert process.returncode == 0, errors


def test_the_whole_road_on_postgresql(hub: Callable[..., subprocess.CompletedProcess]) -> None:
    inbox = hub.home / "inbox" / SUPPLIER
    (inbox / "facture.xml").write_bytes(_invoice("F-PG-1"))
    (flow,) = json.loads(hub("run", "--once", "--json").stdout)
    assert flow["status"] == "IN_INTEGRE"
    (invoice,) = json.loads(read_in_process(hub, "invoices", "search", "--json"))
    hub("invoices", "set-status", str(invoice["id"]), "A_RECYCLER", "--comment", "SIRET")
    hub("invoices", "recycle", str(invoice["id"]), "--siret", "26990202900017")
    (emitted,) = json.loads(hub("statuses", "emit", "--json").stdout)
    assert emitted["changes"] == 6  # 01 02 03, 04, then 02 03 again
    (month,) = json.loads(read_in_process(hub, "stats", "monthly", "--json"))[-1:]
    assert (month["inbound_flows"], month["invoices_accepted"]) == (1, 1)


def test_several_workers_take_each_flow_once(
    hub: Callable[..., subprocess.CompletedProcess], pg_url: str
) -> None:
    inbox = hub.home / "inbox" / SUPPLIER
    for n in range(60):
        (inbox / f"f{n:03}.xml").write_bytes(_invoice(f"F-PG-{n:03}"))
    _receive_only(hub)
    _workers(hub, 4)
    flows = json.loads(read_in_process(hub, "flows", "list", "--limit", "100", "--json"))
    assert len(flows) == 60 and all(f["status"] == "IN_INTEGRE" for f in flows)
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as ledger:
        leases = ledger.execute(
            "select flow_id, count(*) from flow_events where detail = 'leased for processing' "
            "group by flow_id"
        ).fetchall()
        workers = ledger.execute(
            "select count(distinct actor) from flow_events where detail = 'leased for processing'"
        ).fetchone()[0]
    assert len(leases) == 60 and {count for _, count in leases} == {1}  # each taken once
    assert workers > 1  # and the work was shared
    pivots = list((hub.home / "outbox" / RECIPIENT).glob("PIVOT_*.xml"))
    assert len(pivots) == 60


def _receive_only(hub: Callable[..., subprocess.CompletedProcess]) -> None:
    """Record the inbox's files as flows without processing them, so that workers race."""
    receive = subprocess.run(
        [sys.executable, "-c", RECEIVE_ONLY], cwd=REPO, env=hub.env, capture_output=True, text=True
    )
    assert receive.returncode == 0, receive.stderr


def test_two_workers_never_accept_one_invoice_twice(
    hub: Callable[..., subprocess.CompletedProcess],
) -> None:
    """Each invoice comes in two flows; whichever worker takes which, one is accepted."""
    inbox = hub.home / "inbox" / SUPPLIER
    for n in range(20):
        for copy in ("a", "b"):
            (inbox / f"{copy}{n:03}.xml").write_bytes(_invoice(f"F-DUP-{n:03}", copy))
    _receive_only(hub)
    _workers(hub, 4)
    found = json.loads(read_in_process(hub, "invoices", "search", "--limit", "100", "--json"))
    accepted = [i["number"] for i in found if i["status"] != "REFUSEE_RECEPTION"]
    assert sorted(accepted) == [f"F-DUP-{n:03}" for n in range(20)]
    rejected = [i for i in found if i["status"] == "REFUSEE_RECEPTION"]
    assert len(rejected) == 20
    assert all(e["code"] == "INVOICE_DUPLICATE" for i in rejected for e in i["errors"])


def test_two_daemons_on_postgresql_send_each_status_once(
    hub: Callable[..., subprocess.CompletedProcess],
) -> None:
    env = {**hub.env, "EDI_ENGINE_JOBS_STATUSES_CRON": "*/2 * * * * *",
           "EDI_ENGINE_PROCESSING_DAEMON_POLL_SECONDS": "0.5"}  # fmt: skip
    daemons = [
        subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--daemon"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        (hub.home / "inbox" / SUPPLIER / "facture.xml").write_bytes(_invoice("F-PG-D"))
        outbox = hub.home / "outbox" / SUPPLIER
        deadline = time.monotonic() + 60
        while not list(outbox.glob("STATUT_*.xml")) and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(5)  # several fire times with both daemons up
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        errors = [daemon.communicate(timeout=60)[1] for daemon in daemons]
    assert [d.returncode for d in daemons] == [0, 0], errors
    (status_flow,) = outbox.glob("STATUT_*.xml")
    assert status_flow.read_bytes().count(b"<CPPFactureStatutUnitaire") == 3
