"""Lookalike invoice numbers on PostgreSQL (issue 13, item 5): workers taking the
lookalikes of one number at the same time accept one, and migration 0015 keys the numbers
of a ledger on PostgreSQL as it does on SQLite. Skips, saying why, without the server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import text

from edi_engine import number_key
from edi_engine.ledger import db
from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.statut import write_invoice_statuses

from .conftest import RECIPIENT, SUPPLIER, SUPPLIER_SIRET, read_in_process
from .test_postgresql import _invoice, _receive_only, _workers

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

SPELLINGS = {
    "plain": lambda n: f"DUP-{n:03}",
    "non-breaking hyphen": lambda n: f"DUP\u2011{n:03}",
    "full width": lambda n: "".join(chr(ord(c) + 0xFEE0) for c in f"DUP-{n:03}"),
}


def test_workers_accept_one_invoice_of_its_lookalikes(
    hub: Callable[..., subprocess.CompletedProcess],
) -> None:
    inbox = hub.home / "inbox" / SUPPLIER
    for n in range(8):
        for name, spelling in SPELLINGS.items():
            marker = name.replace(" ", "-")
            (inbox / f"{marker}-{n:03}.xml").write_bytes(_invoice(spelling(n), marker))
    _receive_only(hub)

    _workers(hub, 3)

    found = json.loads(read_in_process(hub, "invoices", "search", "--limit", "100", "--json"))
    accepted = [i["number"] for i in found if i["status"] != "REFUSEE_RECEPTION"]
    assert sorted(number_key.key(number) for number in accepted) == [
        f"DUP-{n:03}" for n in range(8)
    ]
    refused = [i for i in found if i["status"] == "REFUSEE_RECEPTION"]
    assert len(refused) == 16
    assert {e["code"] for i in refused for e in i["errors"]} == {"INVOICE_DUPLICATE"}


def test_migration_0015_keys_the_numbers_of_a_postgresql_ledger(
    hub: Callable[..., subprocess.CompletedProcess], pg_url: str
) -> None:
    inbox = hub.home / "inbox" / SUPPLIER
    (inbox / "a.xml").write_bytes(_invoice(SPELLINGS["full width"](1), "a"))
    hub("run", "--once")
    command.downgrade(db.alembic_config(pg_url), "0014")

    db.migrate(pg_url)

    engine = db.engine_for(pg_url)
    with engine.connect() as connection:
        keys = connection.execute(text("select number_key from invoices")).scalars().all()
    engine.dispose()  # the test's database is dropped afterwards
    assert keys == ["DUP-001"]
    (inbox / "b.xml").write_bytes(_invoice("DUP-001", "b"))
    hub("run", "--once")
    found = json.loads(read_in_process(hub, "invoices", "search", "--json"))
    assert sorted(i["status"] for i in found) == ["MISE_A_DISPOSITION", "REFUSEE_RECEPTION"]


def _status(sender: str, number: str) -> bytes:
    status = InvoiceStatus(
        code="07",
        supplier=Supplier(SUPPLIER_SIRET, "1", "Papeteries Delorme SAS", "FR"),
        debiteur=Debiteur("21990101400015"),
        invoice_number=number,
        at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        invoice_date=date(2026, 11, 2),
    )
    return write_invoice_statuses([status], Envelope("ST0001", date(2026, 11, 20), sender, "HUB"))


def test_a_status_finds_only_the_partners_own_invoice_by_its_key(
    hub: Callable[..., subprocess.CompletedProcess],
) -> None:
    """On PostgreSQL too (the invoice locked FOR UPDATE among those the partner may know
    of): another recipient is told the invoice is unknown, its own recipient names it by
    a lookalike and the status applies."""
    hub("partners", "add", "DEST02", "--name", "DEST02")
    (hub.home / "inbox" / SUPPLIER / "a.xml").write_bytes(_invoice("DUP-001", "a"))
    hub("run", "--once")
    (hub.home / "inbox" / "DEST02" / "s.xml").write_bytes(_status("DEST02", "DUP-001"))
    lookalike = SPELLINGS["full width"](1)
    (hub.home / "inbox" / RECIPIENT / "s.xml").write_bytes(_status(RECIPIENT, lookalike))

    flows = json.loads(hub("run", "--once", "--json").stdout)

    by_partner = {flow["partner"]: flow for flow in flows}
    errors = json.loads(
        read_in_process(hub, "flows", "show", by_partner["DEST02"]["number"], "--json")
    )
    assert [e["code"] for e in errors["errors"]] == ["STATUS_INVOICE_UNKNOWN"]
    assert by_partner[RECIPIENT]["status"] == "IN_INTEGRE"
    (found,) = json.loads(read_in_process(hub, "invoices", "search", "--json"))
    assert (found["number"], found["status"]) == ("DUP-001", "SERVICE_FAIT")
