"""On PostgreSQL the intake lock is an advisory lock of the ledger, not a file: hosts that
share one home on network storage exclude each other without working file locks. Against
the server on 127.0.0.1:5432 (database `test`, user postgres, trust); skipped, saying why,
without it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import config
from edi_engine import settings
from edi_engine.ledger import db
from edi_engine.reception import intake

from .conftest import PG_ADMIN, REPO, SUPPLIER

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

# another host's intake: holds the lock until its standard input closes or it is killed
HOLDER = """
import sys
from edi_engine.ledger import db
from edi_engine.reception import intake
from edi_engine import settings
loaded = settings.load(settings.resolve_home(None))
with db.session_scope(loaded.database_url) as session:
    with intake.exclusive(loaded, session) as held:
        print("held" if held else "skipped", flush=True)
        sys.stdin.read()
"""


def _holder(hub: Callable[..., subprocess.CompletedProcess]) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        cwd=REPO,
        env=hub.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held", holder.stderr.read()
    return holder


def _lock_holders(url: str) -> int:
    """Sessions of the test's database holding the intake's advisory lock."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        return admin.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = %s "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            (url.rsplit("/", 1)[1], intake.INTAKE_LOCK),
        ).fetchone()[0]


def _lock_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.name.endswith(".lock")]


def test_two_intakes_on_one_postgresql_ledger_exclude_each_other(
    hub: Callable[..., subprocess.CompletedProcess], pg_url: str
) -> None:
    dropped = hub.home / "inbox" / SUPPLIER / "facture.xml"
    dropped.write_bytes(config.path("demo/ubl-invoice.xml").read_bytes())
    holder = _holder(hub)
    try:
        assert _lock_holders(pg_url) == 1
        # a second intake, on this host or another, skips while the first receives
        hub("run", "--once")
        assert dropped.exists()
        assert json.loads(hub("flows", "list", "--json").stdout) == []
        loaded = settings.load(hub.home)
        with db.session_scope(pg_url) as session, intake.exclusive(loaded, session) as held:
            assert held is None
    finally:
        _, errors = holder.communicate(timeout=60)  # its intake ends

    assert holder.returncode == 0, errors
    assert _lock_holders(pg_url) == 0
    (flow,) = json.loads(hub("run", "--once", "--json").stdout)
    assert flow["status"] == "IN_INTEGRE"
    assert not dropped.exists()
    assert _lock_files(hub.home) == []  # no file lock, in the inbox or anywhere


def test_an_intake_that_dies_releases_its_lock(
    hub: Callable[..., subprocess.CompletedProcess], pg_url: str
) -> None:
    holder = _holder(hub)
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=60)
    # the server ends the dead process's session (and its lock) once it sees the socket close
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for _ in range(600):
            if not _lock_holders(pg_url):
                break
            admin.execute("SELECT pg_sleep(0.05)")
    assert _lock_holders(pg_url) == 0

    (hub.home / "inbox" / SUPPLIER / "facture.xml").write_bytes(
        config.path("demo/ubl-invoice.xml").read_bytes()
    )
    (flow,) = json.loads(hub("run", "--once", "--json").stdout)
    assert flow["status"] == "IN_INTEGRE"
    assert _lock_files(hub.home) == []
