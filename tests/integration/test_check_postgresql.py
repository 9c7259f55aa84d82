"""`edi-engine check` on a ledger in PostgreSQL: the same verdict as on SQLite, sound after
a normal run, each fault named; `--repair-outputs` writes a lost staged pivot again. The
engine runs as a process; the checks run in this one (a process each cost seconds)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest
from click.testing import CliRunner

import config
from cli import main

from .conftest import RECIPIENT, SUPPLIER

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")


def _check(hub: Callable[..., subprocess.CompletedProcess], *args: str, code: int = 0) -> dict:
    said = CliRunner(env=hub.env).invoke(main, ["check", "--json", *args])
    assert said.exit_code == code, (said.stdout, said.stderr)
    return json.loads(said.stdout)


def test_sound_then_each_fault_named_and_a_lost_pivot_written_again(
    hub: Callable[..., subprocess.CompletedProcess], pg_url: str
) -> None:
    inbox = hub.home / "inbox" / SUPPLIER
    (inbox / "a-facture.xml").write_bytes(config.path("demo/ubl-invoice.xml").read_bytes())
    (inbox / "b-rejet.xml").write_bytes(config.path("demo/xsd-invalid.xml").read_bytes())
    # its recipient leaves a folder under the name of the invoice's pivot: it stays staged
    (hub.home / "outbox" / RECIPIENT / "PIVOT_DEST01_FL0000000001_1.xml").mkdir(parents=True)
    hub("run", "--once", "--json")

    sound = _check(hub)
    assert sound["sound"] is True and sound["problems"] == []
    assert (sound["checked"]["flows"], sound["checked"]["invoices"]) == (2, 1)

    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as ledger:
        (lost,) = ledger.execute(
            "SELECT archive_path FROM flows WHERE number = 'FL0000000002'"
        ).fetchone()
        (token,) = ledger.execute("SELECT staged FROM outputs WHERE staged IS NOT NULL").fetchone()
        ledger.execute(
            "UPDATE monthly_counters SET inbound_flows = inbound_flows + 1 "
            "WHERE partner_code = %s AND syntax = 'IN_DP_E1_UBL_INVOICE'",
            (SUPPLIER,),
        )
    (hub.home / "archive" / lost).unlink()
    staged = hub.home / "run" / "outgoing" / token
    pivot = staged.read_bytes()
    staged.unlink()

    broken = _check(hub, code=1)
    assert sorted((p["kind"], p["where"]) for p in broken["problems"]) == [
        ("counter_mismatch", broken["problems"][-1]["where"]),
        ("original_missing", "FL0000000002"),
        ("output_missing", f"run/outgoing/{token}"),
    ]
    assert broken["problems"][-1]["where"].endswith(f" {SUPPLIER} IN_DP_E1_UBL_INVOICE")

    repaired = _check(hub, "--repair-outputs", code=1)
    assert [r["rewritten"] for r in repaired["repaired"]] == [True]
    assert staged.read_bytes() == pivot
    assert sorted(p["kind"] for p in repaired["problems"]) == [
        "counter_mismatch",
        "original_missing",
    ]
