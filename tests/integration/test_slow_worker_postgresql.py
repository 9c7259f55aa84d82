"""A live worker slower than its lease on PostgreSQL (review H2, M8): two `run --once`
workers on one ledger, one of them slowed by a hook as a real process; every flow is
processed, delivered and answered once, and no live worker is counted dead.

Against the server on 127.0.0.1:5432 (database `test`, user postgres, trust); skipped,
saying why, without it. The waits let a lease expire; none measures a speed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

import paused_workers
import pytest
from paused_workers import DEADLINE, FILES, SLOW, SLOW_WORKER, ended, reached, start

from .conftest import RECIPIENT, REPO, SUPPLIER, read_in_process
from .test_postgresql import _invoice

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

LEASE_SECONDS = 2

Hub = Callable[..., subprocess.CompletedProcess]

started = pytest.fixture(paused_workers.started)


def _slow(hub: Hub, how: str, said: str, started: list[subprocess.Popen]) -> subprocess.Popen:
    """A worker started, once it has reached the point where it waits."""
    env = {**hub.env, "EDI_ENGINE_PROCESSING_LEASE_SECONDS": str(LEASE_SECONDS)}
    child = start(SLOW_WORKER, how, "run", "--once", "--json", env=env, started=started)
    return reached(child, said)


def _released(child: subprocess.Popen) -> tuple[int, str, str]:
    return ended(child, "go\n")


def _other_worker(hub: Hub) -> list[str]:
    """A plain `run --once` with the same lease; the files of the flows it processed."""
    env = {**hub.env, "EDI_ENGINE_PROCESSING_LEASE_SECONDS": str(LEASE_SECONDS)}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "run", "--once", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 0, done.stderr
    return sorted(flow["file_name"] for flow in json.loads(done.stdout))


def _deposit(hub: Hub) -> None:
    for n, name in enumerate(FILES):
        (hub.home / "inbox" / SUPPLIER / name).write_bytes(_invoice(f"F-SLOW-{n}"))


def _each_once(hub: Hub) -> dict[str, list[str]]:
    """Every flow integrated, its pivot and its CR published once; by file, the details of
    the flow's events."""
    flows = json.loads(read_in_process(hub, "flows", "list", "--json"))
    assert sorted(f["file_name"] for f in flows) == sorted(FILES)
    assert {f["status"] for f in flows} == {"IN_INTEGRE"}
    numbers = sorted(f["number"] for f in flows)
    outbox = hub.home / "outbox"
    assert sorted(p.name for p in (outbox / SUPPLIER).iterdir()) == [
        f"CR_{SUPPLIER}_{n}.xml" for n in numbers
    ]
    pivots = sorted(p.name for p in (outbox / RECIPIENT).iterdir())
    assert pivots == [f"PIVOT_{RECIPIENT}_{n}_1.xml" for n in numbers]
    details = {}
    for flow in flows:
        shown = json.loads(read_in_process(hub, "flows", "show", flow["number"], "--json"))
        assert len(shown["attempts"]) == 1  # answered once: one CR, one attempt
        details[flow["file_name"]] = [e["detail"] or "" for e in shown["events"]]
    return details


def test_a_flow_slower_than_its_lease_is_processed_once_by_its_live_worker(
    hub: Hub, started: list[subprocess.Popen]
) -> None:
    """The slow worker's flow and those it leased with it stay its own: another worker
    started long after their leases would have expired takes none of them."""
    _deposit(hub)
    slow = _slow(hub, "slow-flow", "processing", started)
    time.sleep(2 * LEASE_SECONDS)  # every lease it took at first has run out by now

    assert _other_worker(hub) == []  # nothing of the slow worker's was taken

    code, out, err = _released(slow)
    assert code == 0, err
    assert sorted(f["file_name"] for f in json.loads(out)) == sorted(FILES)
    for detail in _each_once(hub).values():
        assert not [d for d in detail if "expired" in d or "worker lost" in d], detail


def test_flows_a_live_worker_held_too_long_are_taken_once_and_it_is_not_counted_dead(
    hub: Hub, started: list[subprocess.Popen]
) -> None:
    """Its leases did expire (it stopped between two flows for longer than a lease): the
    other worker takes the flows it had not started; the slow one, alive, skips them, and
    none of its flows is charged a death."""
    _deposit(hub)
    slow = _slow(hub, "slow-between", "between", started)  # its first flow committed
    time.sleep(LEASE_SECONDS + 0.5)  # what it holds has expired

    assert _other_worker(hub) == ["b.xml", "c.xml"]

    code, out, err = _released(slow)
    assert code == 0, err
    assert [f["file_name"] for f in json.loads(out)] == [SLOW]
    assert err.count("another worker took it once its lease expired") == 2
    details = _each_once(hub)
    assert not [d for ds in details.values() for d in ds if d.startswith("worker lost")]
    for name in ("b.xml", "c.xml"):
        (taken,) = [d for d in details[name] if "expired" in d]
        assert "alive, expired before it processed the flow" in taken
