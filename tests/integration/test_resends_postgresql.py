"""Resends on PostgreSQL with several workers (issue 12, point 4): copies of one content
from one partner, recorded together and raced by workers, are integrated once; the copies
are refused as DUPLICATE_FLOW while the first stands. Another partner's copy of the same
content is its own flow, whose CR names nothing of the first partner's."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from .conftest import RECIPIENT, SUPPLIER, SUPPLIER_SIRET
from .test_postgresql import _invoice, _receive_only, _workers

pytest.importorskip("psycopg", reason="psycopg is not installed")

OTHER = "FOUR09"  # another connection of the same supplier


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

    flows = json.loads(hub("flows", "list", "--limit", "100", "--json").stdout)
    mine = [f for f in flows if f["partner"] == SUPPLIER]
    assert sorted(f["status"] for f in mine) == ["IN_INTEGRE"] * 10 + ["IN_REJETE"] * 20
    originals = {f["number"] for f in mine if f["status"] == "IN_INTEGRE"}
    for flow in mine:
        if flow["status"] == "IN_REJETE":
            detail = json.loads(hub("flows", "show", flow["number"], "--json").stdout)
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
