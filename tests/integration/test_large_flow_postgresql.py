"""A pivot flow of more invoices than PostgreSQL's lock table holds (issue 14, item 5).

The duplicate control used to take an advisory lock per invoice, held until the flow's
commit: past the lock table's size (max_locks_per_transaction x max_connections, and the
slack of its shared memory: 12,850 locks on the default 64 x 100) the flow failed with
`out of shared memory`, three times, then was left IN_INCIDENTE. Here such a flow is
integrated whole in one attempt, while a second worker, given a flow with some of the
same invoices as the first still holds them, waits for it and refuses those as
duplicates. Against the server on 127.0.0.1:5432 (database `test`, user postgres,
trust); skipped, saying why, without it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import paused_workers
import pytest
from paused_workers import ended, program, reached, release, start, wait_while

import config

from .conftest import PG_ADMIN, SUPPLIER, read_in_process

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

UNIT_START, UNIT_END = b"<CPPFacturePivotUnitaire", b"</CPPFacturePivotUnitaire>"
PIVOT_SUPPLIER = "82345678500018"  # the supplier of the demo's pivot invoices
SHARED = 100  # invoices of the large flow the second flow carries again
NEW = 100  # and invoices of its own

# "pause-at-N" stops a worker once the duplicate control has checked (and guarded) its
# N-th invoice, the flow's transaction still open
CHILD = program(
    """
from edi_engine.controls.duplicates import Duplicates

if how.startswith("pause-at-"):
    check, last, checked = Duplicates.check, int(how.rsplit("-", 1)[1]), []

    def paused(self, *args, **kwargs):
        problems = check(self, *args, **kwargs)
        checked.append(1)
        if len(checked) == last:
            pause("checked")
        return problems

    Duplicates.check = paused
"""
)

Hub = Callable[..., subprocess.CompletedProcess]

started = pytest.fixture(paused_workers.started)


def pivot_flow(numbers: list[str]) -> bytes:
    """The demo's first pivot invoice under each of `numbers`, in the demo's envelope."""
    demo = config.path("demo/pivot-multi.xml").read_bytes()
    start, end = demo.index(UNIT_START), demo.index(UNIT_END) + len(UNIT_END)
    head = demo[:start].replace(b'Compteur="3"', f'Compteur="{len(numbers)}"'.encode())
    unit, tail = demo[start:end], demo[demo.rindex(UNIT_END) + len(UNIT_END) :]
    units = (unit.replace(b"F02-2026-000502", number.encode()) for number in numbers)
    return head + b"".join(units) + tail


def _server(query: str, *args: object) -> list[tuple]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        return admin.execute(query, args).fetchall()


def beyond_the_lock_table() -> int:
    """Invoices enough to fill the server's lock table, were each to take a lock: 2.5
    times what it is sized for, which covers the slack of its shared memory."""
    (locks,), (connections,) = _server(
        "SELECT setting::int FROM pg_settings "
        "WHERE name IN ('max_locks_per_transaction', 'max_connections') ORDER BY name DESC"
    )
    return locks * connections * 5 // 2


def _waiting(database: str) -> bool:
    """A session of the test's database waits for another's transaction to end."""
    return bool(
        _server(
            "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND l.locktype = 'transactionid' AND a.datname = %s",
            database,
        )
    )


def _invoices(url: str) -> list[tuple[str, str, str]]:
    """(file, invoice number, status) of every invoice in the ledger."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as ledger:
        return ledger.execute(
            "SELECT f.file_name, i.number, i.status FROM invoices i "
            "JOIN flows f ON f.id = i.flow_id"
        ).fetchall()


def _deposit(hub: Hub, name: str, numbers: list[str]) -> Path:
    target = hub.home / "inbox" / SUPPLIER / name
    target.write_bytes(pivot_flow(numbers))
    return target


def test_a_flow_beyond_the_lock_table_is_integrated_once_and_guards_its_invoices(
    hub: Hub, pg_url: str, pg_database: str, started: list[subprocess.Popen]
) -> None:
    hub("partners", "suppliers", "add", SUPPLIER, PIVOT_SUPPLIER)
    large = [f"P-{n:06d}" for n in range(beyond_the_lock_table())]
    _deposit(hub, "large.xml", large)
    pause = f"pause-at-{len(large)}"
    first = start(CHILD, pause, "run", "--once", "--json", env=hub.env, started=started)
    reached(first, "checked")  # every invoice of the large flow checked, none committed

    again = large[:SHARED] + [f"Q-{n:06d}" for n in range(NEW)]
    _deposit(hub, "again.xml", again)
    second = start(CHILD, "plain", "run", "--once", "--json", env=hub.env, started=started)
    wait_while(lambda: not _waiting(pg_database), second)  # at the first shared invoice
    release(first)
    code, _, err = ended(first)
    assert code == 0, err
    assert "out of shared memory" not in err
    code, _, err = ended(second)
    assert code == 0, err

    flows = {f["file_name"]: f for f in json.loads(read_in_process(hub, "flows", "list", "--json"))}
    assert flows["large.xml"]["status"] == "IN_INTEGRE"
    assert flows["again.xml"]["status"] == "IN_INTEGRE_PARTIEL"
    shown = json.loads(
        read_in_process(hub, "flows", "show", flows["large.xml"]["number"], "--json")
    )
    assert [a["attempt"] for a in shown["attempts"]] == [1]  # never failed, never retried
    invoices = _invoices(pg_url)
    accepted = sorted(n for _, n, status in invoices if status != "REFUSEE_RECEPTION")
    assert accepted == sorted(large + again[SHARED:])  # each invoice once
    refused = sorted(n for f, n, status in invoices if status == "REFUSEE_RECEPTION")
    assert refused == large[:SHARED]
    shown = json.loads(
        read_in_process(hub, "flows", "show", flows["again.xml"]["number"], "--json")
    )
    assert {e["code"] for e in shown["errors"]} == {"INVOICE_DUPLICATE"}
