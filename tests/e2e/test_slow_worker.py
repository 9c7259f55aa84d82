"""A live worker slower than its lease, on the SQLite ledger (review H2, M8): two real
`run --once` processes, one of them slowed by a hook; every flow is processed, delivered
and answered once, and no live worker is counted dead (the same on PostgreSQL:
tests/integration/test_slow_worker_postgresql.py). The waits let a lease expire; none
measures a speed."""

from __future__ import annotations

import json
import subprocess
import time

import paused_workers
import pytest
from paused_workers import FILES, SLOW, SLOW_WORKER, ended, reached, start

from .conftest import RECIPIENT, SUPPLIER_1, Home, sample

LEASE_SECONDS = 1

started = pytest.fixture(paused_workers.started)


@pytest.fixture(autouse=True)
def short_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_LEASE_SECONDS", str(LEASE_SECONDS))


def _worker(home: Home, started: list[subprocess.Popen], how: str = "plain") -> subprocess.Popen:
    args = ("--home", str(home.path), "run", "--once", "--json")
    return start(SLOW_WORKER, how, *args, started=started)


def _slow(home: Home, started: list[subprocess.Popen], how: str, said: str) -> subprocess.Popen:
    """A slowed worker, once it has reached the point where it waits."""
    return reached(_worker(home, started, how), said)


def _finished(child: subprocess.Popen, line: str = "") -> tuple[list[str], str]:
    """A worker's flows (by file) and its standard error, once it ended well."""
    code, out, err = ended(child, line)
    assert code == 0, err
    return sorted(flow["file_name"] for flow in json.loads(out)), err


def _deposit(home: Home) -> None:
    for n, name in enumerate(FILES):
        home.drop(
            SUPPLIER_1, name, sample("ubl-invoice.xml").replace(b"F01-2026-000101", b"F-S%d" % n)
        )


def _each_once(home: Home) -> dict[str, list[str]]:
    """Every flow integrated, its pivot and its CR published once, no worker counted dead;
    by file, the details of the flow's events."""
    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert sorted(f["file_name"] for f in flows) == sorted(FILES)
    assert {f["status"] for f in flows} == {"IN_INTEGRE"}
    numbers = sorted(f["number"] for f in flows)
    assert home.outbox(SUPPLIER_1) == [f"CR_{SUPPLIER_1}_{n}.xml" for n in numbers]
    assert home.outbox(RECIPIENT) == [f"PIVOT_{RECIPIENT}_{n}_1.xml" for n in numbers]
    details = {}
    for flow in flows:
        shown = home.show(flow["number"])
        assert len(shown["attempts"]) == 1  # answered once
        details[flow["file_name"]] = [e["detail"] or "" for e in shown["events"]]
        assert not [d for d in details[flow["file_name"]] if d.startswith("worker lost")]
    return details


def test_flows_a_live_worker_held_too_long_are_taken_once_and_it_is_not_counted_dead(
    home: Home, started: list[subprocess.Popen]
) -> None:
    """Its first flow committed, the slow worker stops before the next until what it holds
    has expired: the other worker takes those flows, the slow one skips them."""
    _deposit(home)
    slow = _slow(home, started, "slow-between", "between")
    time.sleep(LEASE_SECONDS + 0.5)  # what it holds has expired

    assert _finished(_worker(home, started))[0] == ["b.xml", "c.xml"]

    taken, err = _finished(slow, "go\n")
    assert taken == [SLOW]
    assert err.count("another worker took it once its lease expired") == 2
    details = _each_once(home)
    for name in ("b.xml", "c.xml"):
        (expired,) = [d for d in details[name] if "expired" in d]
        assert "alive, expired before it processed the flow" in expired


def test_a_flow_slower_than_its_lease_is_processed_once(
    home: Home, started: list[subprocess.Popen]
) -> None:
    """The slow worker holds the ledger while it processes its flow: the other worker waits
    for it, then either takes the flows left (their leases expired) or finds them taken
    again by the slow one; each is processed once either way."""
    _deposit(home)
    slow = _slow(home, started, "slow-flow", "processing")
    other = _worker(home, started)
    time.sleep(2 * LEASE_SECONDS)  # every lease the slow worker took has run out by now

    by_slow, _ = _finished(slow, "go\n")
    by_other, _ = _finished(other)

    assert SLOW in by_slow
    assert sorted(by_slow + by_other) == sorted(FILES)
    _each_once(home)
