"""Invoices over the API as partners' software follows them: a real `edi-engine api serve`
on 127.0.0.1, called with httpx. A supplier finds and pages the invoices it deposited, with
the keys `invoices search --json` and `invoices show --json` give; the recipient's partner
fetches a pivot exactly as the engine wrote it; another partner learns nothing, not even
that an invoice exists."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta

import httpx
from lxml import etree

from edi_engine.settings import load

from .api_server import UBL, Server, bearer, client_of, deposit, token
from .conftest import (
    HAUT_VERNAY,
    MONTCLAIR,
    RECIPIENT,
    SUPPLIER_1,
    SUPPLIER_2,
    VALBRUNE,
    Home,
    sample,
)

# FOUR01's: four invoices integrated (to Valbrune and Montclair), one refused at reception
DEPOSITS = ("ubl-invoice.xml", "ubl-creditnote.xml", "batch/ubl-batch-1.xml",
            "batch/ubl-batch-2.xml", "ubl-inactive.xml")  # fmt: skip
NOT_FOUND = {"error": "not_found", "message": "No invoice of yours has this id."}


def _cli(home: Home, *args: str) -> list[dict] | dict:
    return json.loads(home.invoke("invoices", *args, "--json").stdout)


def _deposit_all(home: Home, server: Server, value: str) -> list[str]:
    numbers = []
    for name in DEPOSITS:
        answer = deposit(server, value, name.rsplit("/", 1)[-1], sample(name))
        assert answer.status_code == 202, answer.text
        numbers.append(answer.json()["number"])
    return numbers


def _time_passes(home: Home) -> None:
    """A held-back pivot's next try comes (tests/e2e/test_outbox_planted.py)."""
    with closing(sqlite3.connect(home.path / "ledger.db")) as connection, connection:
        connection.execute(
            "update outputs set next_try_at = '2000-01-01 00:00:00' where staged is not null"
        )


def _listed(http: httpx.Client, value: str, **params: object) -> dict:
    answer = http.get("/v1/invoices", headers=bearer(value), params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_supplier_finds_pages_and_reads_its_invoices_the_recipient_gets_the_pivot(
    home: Home, serve: Callable[..., Server], our_pivot_schema: etree.XMLSchema
) -> None:
    server = serve()
    supplier = token(server, client_of(home, SUPPLIER_1))
    recipient = token(server, client_of(home, RECIPIENT))
    other = token(server, client_of(home, SUPPLIER_2))
    _deposit_all(home, server, supplier)
    with server.client() as http:
        assert _listed(http, supplier)["invoices"] == []  # not processed yet
        home.run()
        everything = _listed(http, supplier)
        rows = everything["invoices"]
        assert rows == _cli(home, "search")  # the keys and values of `invoices search --json`
        assert len(rows) == 5 and everything["next_offset"] is None
        assert (everything["limit"], everything["offset"]) == (50, 0)

        # filters
        (refused,) = _listed(http, supplier, status="REFUSEE_RECEPTION")["invoices"]
        assert refused["recipient"] == HAUT_VERNAY and refused["in_lifecycle"] is False
        valbrune = _listed(http, supplier, siret=VALBRUNE)["invoices"]
        assert valbrune == [r for r in rows if r["recipient"] == VALBRUNE]
        assert valbrune and any(r["recipient"] == MONTCLAIR for r in rows)
        (one,) = _listed(http, supplier, number="F01-2026-000101")["invoices"]
        assert one["amount_ttc"] == "800.11"
        assert _listed(http, supplier, number="NO-SUCH")["invoices"] == []
        zone = load(home.path).zone
        days = {datetime.fromisoformat(r["status_date"]).astimezone(zone).date() for r in rows}
        assert _listed(http, supplier, since=min(days).isoformat())["invoices"] == rows
        after = (max(days) + timedelta(days=1)).isoformat()
        assert _listed(http, supplier, since=after)["invoices"] == []
        both = _listed(http, supplier, status="MISE_A_DISPOSITION", siret=VALBRUNE)
        assert both["invoices"] == [r for r in valbrune if r["status"] == "MISE_A_DISPOSITION"]

        # pages
        pages = [_listed(http, supplier, limit=2, offset=offset) for offset in (0, 2, 4)]
        assert [p["next_offset"] for p in pages] == [2, 4, None]
        assert [r for p in pages for r in p["invoices"]] == rows
        assert _listed(http, supplier, offset=5) == {
            "invoices": [], "limit": 50, "offset": 5, "next_offset": None,
        }  # fmt: skip

        # one invoice, with its history and the date of its current status
        shown = _cli(home, "show", str(one["id"]))
        as_supplier = http.get(f"/v1/invoices/{one['id']}", headers=bearer(supplier)).json()
        assert as_supplier == {**shown, "pivot_file": None}  # the pivot is the recipient's
        statuses = [e["status"] for e in as_supplier["history"]]
        assert statuses == ["DEPOSEE", "EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION"]
        assert as_supplier["status_date"] == as_supplier["history"][-1]["at"]
        as_recipient = http.get(f"/v1/invoices/{one['id']}", headers=bearer(recipient)).json()
        assert as_recipient == shown and shown["pivot_file"]

        # the pivot, for the partner it was delivered to
        fetched = http.get(f"/v1/invoices/{one['id']}/pivot", headers=bearer(recipient))
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "application/xml"
        written = home.path / "outbox" / RECIPIENT / shown["pivot_file"]
        assert fetched.content == written.read_bytes()
        our_pivot_schema.assertValid(etree.fromstring(fetched.content))
        assert shown["pivot_file"] in fetched.headers["content-disposition"]
        own = http.get(f"/v1/invoices/{one['id']}/pivot", headers=bearer(supplier))
        assert own.status_code == 404 and own.json()["error"] == "not_found"
        assert "recipient" in own.json()["message"]  # its own invoice: it may be told why

        # another partner: nothing, told exactly as an id that does not exist
        assert _listed(http, other) == {
            "invoices": [], "limit": 50, "offset": 0, "next_offset": None,
        }  # fmt: skip
        for suffix in ("", "/pivot"):
            for invoice_id in (one["id"], refused["id"], 999999, "abc", "1" * 40):
                answer = http.get(f"/v1/invoices/{invoice_id}{suffix}", headers=bearer(other))
                assert answer.status_code == 404, (invoice_id, suffix)
                assert answer.json() == NOT_FOUND, (invoice_id, suffix)
        # unauthenticated: refused before anything else is looked at
        for path in ("/v1/invoices?bogus=1", f"/v1/invoices/{one['id']}/pivot"):
            assert http.get(path).status_code == 401
        assert "/v1/invoices/{invoice_id}/pivot" in http.get("/openapi.json").json()["paths"]


def test_a_pivot_not_published_yet_or_no_longer_kept_is_told_so(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    supplier = token(server, client_of(home, SUPPLIER_1))
    recipient = token(server, client_of(home, RECIPIENT))
    number = deposit(server, supplier, "facture.xml", sample(UBL)).json()["number"]
    name = f"PIVOT_{RECIPIENT}_{number}_1.xml"
    planted = home.path / "outbox" / RECIPIENT / name
    planted.mkdir(parents=True)  # something the partner left under the pivot's name
    home.run()
    with server.client() as http:
        (row,) = _listed(http, supplier)["invoices"]
        path = f"/v1/invoices/{row['id']}/pivot"
        held = http.get(path, headers=bearer(recipient))
        assert held.status_code == 404 and held.json()["error"] == "pivot_not_ready"
        planted.rmdir()
        _time_passes(home)
        home.run()  # published once its name is free
        assert http.get(path, headers=bearer(recipient)).content == planted.read_bytes()
        kept = planted.read_bytes()

        gone = {
            "error": "pivot_gone",
            "message": "The invoice's pivot is no longer kept in your outbox.",
        }
        planted.write_bytes(kept.replace(b"F01-2026-000101", b"F01-2026-999999"))
        assert http.get(path, headers=bearer(recipient)).json() == gone  # never served altered
        secret = home.path / "secret.xml"
        secret.write_bytes(kept)
        planted.unlink()
        planted.symlink_to(secret)  # a link is never followed, even to the same bytes
        answer = http.get(path, headers=bearer(recipient))
        assert answer.status_code == 410 and answer.json() == gone
        planted.unlink()  # the partner took it
        answer = http.get(path, headers=bearer(recipient))
        assert answer.status_code == 410 and answer.json() == gone
        os.mkfifo(planted)  # a pipe is never waited on
        assert http.get(path, headers=bearer(recipient)).status_code == 410


def test_bad_filters_are_refused_naming_the_field(home: Home, serve: Callable[..., Server]) -> None:
    server = serve()
    value = token(server, client_of(home, SUPPLIER_1))
    cases = {
        "since": {"since": "2026-02-30"},
        "since ": {"since": "02/11/2026"},
        "since  ": {"since": "20261102"},
        "limit": {"limit": "0"},
        "limit ": {"limit": "501"},
        "limit  ": {"limit": "ten"},
        "offset": {"offset": "-1"},
        "status": {"status": "PAYEE"},
        "status ": {"status": "mise_a_disposition"},
        "number": {"number": ""},
        "page": {"page": "2"},
    }
    with server.client() as http:
        for field, params in cases.items():
            answer = http.get("/v1/invoices", headers=bearer(value), params=params)
            assert answer.status_code == 422, (params, answer.text)
            assert answer.json()["error"] == "invalid_request"
            assert answer.json()["message"].startswith(f"{field.strip()}: "), answer.json()
        twice = http.get("/v1/invoices?status=DEPOSEE&status=REJETEE", headers=bearer(value))
        assert twice.status_code == 422 and twice.json()["message"].startswith("status: ")
        for path in ("/v1/invoices/1?expand=all", "/v1/invoices/1/pivot?format=pdf"):
            answer = http.get(path, headers=bearer(value))
            assert answer.status_code == 422 and answer.json()["error"] == "invalid_request"
        assert _listed(http, value, limit=500, offset=0)["invoices"] == []  # the bounds hold
