"""Races on one PostgreSQL ledger, with real processes (issue 13, item 7): two re-runs of
one flow started together, a purge racing a new file with the same bytes, and flow
numbers after a purge. Against the server on 127.0.0.1:5432 (database `test`, user
postgres, trust); skipped, saying why, without it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from paused_workers import ended, program, reached, release, start, wait_while

import config
from edi_engine.reception import originals

from .conftest import PG_ADMIN, SUPPLIER, read_in_process

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

OLD = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)

# "pause-rerun" stops a `flows rerun` once it has chosen its flows (its transaction still
# open), "pause-intake" an intake once it has archived its batch (holding the archive's
# guard)
CHILD = program(
    """
from edi_engine.reception import intake
from edi_engine.processing import rerun

if how == "pause-rerun":
    rerun.rerun = before(rerun.rerun, "chosen")
elif how == "pause-intake":
    intake._still_archived = after(intake._still_archived, "archived")
"""
)

Hub = Callable[..., subprocess.CompletedProcess]


def _child(hub: Hub, moment: datetime, how: str, *args: str, **env: str) -> subprocess.Popen:
    return start(CHILD, how, *args, at=moment, env={**hub.env, **env})


def _run(hub: Hub, moment: datetime, *args: str, **env: str) -> tuple[int, str, str]:
    return ended(_child(hub, moment, "plain", *args, **env))


def _drop(hub: Hub, name: str, sample: str) -> Path:
    target = hub.home / "inbox" / SUPPLIER / name
    target.write_bytes(config.path(f"demo/{sample}").read_bytes())
    return target


def _flows(hub: Hub) -> list[dict]:
    return json.loads(read_in_process(hub, "flows", "list", "--json"))


def _waiters(url: str) -> int:
    """Sessions of the test's database waiting for the archive's advisory lock."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        return admin.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = %s "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            (url.rsplit("/", 1)[1], originals.ARCHIVE_LOCK),
        ).fetchone()[0]


def test_two_reruns_of_one_flow_started_together_run_it_once(hub: Hub) -> None:
    _drop(hub, "inactive.xml", "ubl-inactive.xml")
    (flow,) = json.loads(hub("run", "--once", "--json").stdout)
    assert flow["status"] == "IN_REJETE"
    number = flow["number"]
    reruns = [
        _child(hub, NOW, "pause-rerun", "flows", "rerun", number, "--reason", "race")
        for _ in range(2)
    ]
    for child in reruns:  # both read the flow IN_REJETE at its first attempt
        reached(child, "chosen")
    for child in reruns:
        release(child)
    results = [ended(child) for child in reruns]

    assert sorted(code for code, _, _ in results) == [0, 1], results
    (loser,) = [err for code, _, err in results if code == 1]
    assert f"Flow {number} was not re-run: another process took it meanwhile" in loser
    shown = json.loads(read_in_process(hub, "flows", "show", number, "--json"))
    assert shown["status"] == "IN_REJETE"  # never IN_INCIDENTE with a unique violation
    assert [a["attempt"] for a in shown["attempts"]] == [1, 2]


def test_a_purge_waits_for_an_intake_that_archived_the_same_bytes(hub: Hub, pg_url: str) -> None:
    _drop(hub, "old.xml", "ubl-invoice.xml")
    done = _run(hub, OLD, "run", "--once", "--json")
    assert done[0] == 0, done
    (original,) = [p for p in (hub.home / "archive").rglob("*") if p.is_file()]
    _drop(hub, "new.xml", "ubl-invoice.xml")
    intake = _child(hub, NOW, "pause-intake", "run", "--once", "--json")
    reached(intake, "archived")

    purge = _child(hub, NOW, "plain", "purge", "--json", EDI_ENGINE_RETENTION_MONTHS="1")
    wait_while(lambda: not _waiters(pg_url), purge)  # its rows deleted, it waits for the guard
    assert [f["file_name"] for f in _flows(hub)] == []  # old.xml's rows are gone already
    release(intake)
    taken, purged = ended(intake), ended(purge)
    assert taken[0] == 0 and purged[0] == 0, (taken, purged)

    assert original.is_file()
    assert json.loads(purged[1])["flows"] == 1
    (new,) = _flows(hub)
    assert (new["file_name"], new["status"]) == ("new.xml", "IN_INTEGRE")
    (again,) = json.loads(hub("flows", "rerun", new["number"], "--force", "--json").stdout)
    assert again["after"] == "IN_INTEGRE"


def test_flow_numbers_go_on_after_a_purge(hub: Hub) -> None:
    _drop(hub, "first.xml", "ubl-invoice.xml")
    done = _run(hub, OLD, "run", "--once", "--json")
    (first,) = json.loads(done[1])
    purged = _run(hub, NOW, "purge", "--json", EDI_ENGINE_RETENTION_MONTHS="1")
    assert json.loads(purged[1])["flows"] == 1

    _drop(hub, "second.xml", "ubl-invoice.xml")
    (second,) = json.loads(hub("run", "--once", "--json").stdout)

    assert (first["number"], second["number"]) == ("FL0000000001", "FL0000000002")
    assert second["status"] == "IN_INTEGRE"
