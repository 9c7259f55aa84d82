"""Two engine hosts racing over 300 flows on one PostgreSQL ledger and one home, one of
them killed midway (issue 14, item 4): every flow processed exactly once, every pivot and
every CR received once by a drainer taking outputs as soon as they appear.

WORKERS is the worker processes of each host (`run --once --workers N`)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import pytest
from paused_workers import drainer, received_files

from .conftest import RECIPIENT, REPO, SUPPLIER
from .test_postgresql import RECEIVE_ONLY, _invoice
from .test_several_hosts_postgresql import (
    DEADLINE,
    FINAL,
    expire,
    host,
    hosts_env,
    ledger,
    need_hosts,
    settled,
)

FLOWS = 300
WORKERS = 2  # worker processes per host
HOSTS = ("host-a", "host-b")


def _run_once() -> list[str]:
    return ["run", "--once", *(["--workers", str(WORKERS)] if WORKERS != 1 else [])]


def _final(url: str) -> int:
    return ledger(url, "select count(*) from flows where status = any(%s)", sorted(FINAL))[0][0]


def _crash(process: subprocess.Popen) -> None:
    """The host goes down with every process it runs, as a machine does (SIGKILL)."""
    os.killpg(process.pid, signal.SIGKILL)


def _ended(process: subprocess.Popen, crashed: bool = False) -> None:
    _, err = process.communicate(timeout=DEADLINE)
    assert process.returncode in ((0, -signal.SIGKILL) if crashed else (0,)), err


def test_two_hosts_racing_over_300_flows_one_killed_midway_do_each_once(
    hub: Callable[..., subprocess.CompletedProcess], pg_url: str
) -> None:
    need_hosts()
    inbox = hub.home / "inbox" / SUPPLIER  # type: ignore[attr-defined]
    for n in range(FLOWS):
        (inbox / f"f{n:03}.xml").write_bytes(_invoice(f"F-HOSTS-{n:03}", str(n)))
    env = hosts_env(hub)
    # a burst received: both hosts find 300 flows waiting, and race for them
    receive = [sys.executable, "-c", RECEIVE_ONLY]
    subprocess.run(receive, cwd=REPO, env=env, check=True, capture_output=True)
    assert ledger(pg_url, "select count(*) from flows") == [(FLOWS,)]
    rng = random.Random(4)
    midway = rng.randrange(FLOWS // 4, FLOWS // 2)

    with drainer(hub.home) as received:  # type: ignore[attr-defined]
        racing = {name: _started(name, env) for name in HOSTS}
        while _final(pg_url) < midway:
            if all(process.poll() is not None for process in racing.values()):
                for process in racing.values():
                    _ended(process)  # one that failed says why
                pytest.fail(f"both hosts ended before {midway} flows were done")
            time.sleep(0.02)
        alive = [name for name, process in racing.items() if process.poll() is None]
        crashed = racing[rng.choice(alive)]
        _crash(crashed)
        done_at_crash = _final(pg_url)
        for process in racing.values():
            _ended(process, crashed=process is crashed)
        expire(pg_url, crashed.pid)
        for _ in range(5):  # the crashed host comes back; both go on until nothing is left
            for process in [_started(name, env) for name in HOSTS]:
                _ended(process)
            if settled(pg_url):
                break

    assert 0 < done_at_crash < FLOWS  # killed midway indeed
    assert ledger(pg_url, "select distinct status from flows") == [("IN_INTEGRE",)]
    committed = ledger(
        pg_url, "select flow_id, count(*) from flow_events where status = 'IN_INTEGRE' "
        "group by flow_id"
    )  # fmt: skip
    assert len(committed) == FLOWS and {count for _, count in committed} == {1}
    by = {actor.split(":")[0] for (actor,) in ledger(
        pg_url, "select actor from flow_events where status = 'IN_EN_COURS_TRAITEMENT'"
    )}  # fmt: skip
    assert by == set(HOSTS)  # both raced for the flows
    delivered = ledger(pg_url, "select pivot_file from invoices where pivot_file is not null")
    assert len(delivered) == FLOWS
    pivots = Counter(name for name, _ in received_files(received, RECIPIENT))
    assert pivots == Counter(name for (name,) in delivered)  # every pivot received once
    flows = ledger(pg_url, "select number from flows")
    crs = Counter(name for name, _ in received_files(received, SUPPLIER))
    assert crs == Counter(f"CR_{SUPPLIER}_{number}.xml" for (number,) in flows)
    assert ledger(pg_url, "select file_name from outputs where staged is not null") == []


def _started(name: str, env: dict[str, str]) -> subprocess.Popen:
    return host(name, env, *_run_once())
