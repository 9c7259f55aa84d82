"""Exactly-once delivery on PostgreSQL with workers racing and dying (issue 13, item 1).

Two `run --once` workers at a time share one home and one PostgreSQL ledger while a
drainer process takes every output as soon as it appears; one worker of each round is
killed (SIGKILL) at a moment a seeded generator draws, and its leases expired. Whatever
each one was doing (staging, committing, publishing, finishing a dead one's publication),
every accepted invoice's pivot is received once, never under two flows, and every flow's
CR once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from paused_workers import drainer, received_files

from .conftest import RECIPIENT, REPO, SUPPLIER
from .test_postgresql import _invoice

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

FINAL = {"IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE"}


def _ledger(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return connection.execute(query).fetchall()


def _expire(url: str, pid: int) -> None:
    """The leases of a dead worker (named host:pid:start) expire now, as they would once
    processing.lease_seconds had passed."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute(
            "update flows set lease_expires_at = '2000-01-01T00:00:00Z' "
            "where status = 'IN_EN_COURS_TRAITEMENT' and lease_owner like %s",
            (f"%:{pid}:%",),
        )


def _received(received: Path, partner: str) -> Counter:
    return Counter(name for name, _ in received_files(received, partner))


def test_racing_workers_killed_at_random_deliver_everything_once(
    hub: Callable[..., subprocess.CompletedProcess], pg_url: str
) -> None:
    inbox = hub.home / "inbox" / SUPPLIER
    for n in range(24):
        (inbox / f"f{n:03}.xml").write_bytes(_invoice(f"F-ONCE-{n:03}"))
    # a live worker keeps its leases however slow it is: a lease expires only when the
    # test says its worker died (`_expire`), never by a test's machine being slow
    env = {**hub.env, "EDI_ENGINE_PROCESSING_LEASE_SECONDS": "600"}
    env["EDI_ENGINE_PROCESSING_MAX_ATTEMPTS"] = "50"  # a kill is no reason to give up
    rng = random.Random(29)
    command = [sys.executable, "-m", "cli", "run", "--once"]
    with drainer(hub.home) as received:
        for round_ in range(12):
            workers = [
                subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE)
                for _ in range(2)
            ]
            killed = None
            if round_ < 3:  # one of them dies at a moment drawn
                time.sleep(rng.uniform(0.8, 3.0))
                killed = workers[rng.randrange(2)]
                killed.send_signal(signal.SIGKILL)
            for worker in workers:
                _, err = worker.communicate(timeout=300)
                assert worker.returncode in (0, -signal.SIGKILL), err.decode()
            if killed is not None:  # what it held is the next round's to take
                _expire(pg_url, killed.pid)
            if round_ == 0:  # invoices deposited again, in flows of their own, meanwhile
                for n in range(0, 24, 6):
                    (inbox / f"again{n:03}.xml").write_bytes(_invoice(f"F-ONCE-{n:03}", "again"))
            states = {s for (s,) in _ledger(pg_url, "select status from flows")}
            if round_ >= 3 and states <= FINAL and not any(inbox.iterdir()):
                break

    assert {s for (s,) in _ledger(pg_url, "select status from flows")} <= FINAL
    delivered = _ledger(
        pg_url, "select number, pivot_file from invoices where pivot_file is not null"
    )
    assert sorted(number for number, _ in delivered) == [f"F-ONCE-{n:03}" for n in range(24)]
    assert _received(received, RECIPIENT) == Counter(name for _, name in delivered)
    flows = _ledger(pg_url, "select number from flows")
    assert len(flows) == 24 + 4
    assert _received(received, SUPPLIER) == Counter(f"CR_{SUPPLIER}_{n}.xml" for (n,) in flows)
    assert _ledger(pg_url, "select file_name from outputs where staged is not null") == []
    assert os.listdir(hub.home / "outbox" / RECIPIENT) == []
