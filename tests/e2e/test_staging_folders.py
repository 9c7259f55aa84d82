"""Each process's staging folder in run/outgoing/ (docs/architecture.md#staging-and-publication):
locked before it exists, made again if removed from under its process, gone with a
process that ends normally; a staged file is removed only when the ledger, read with its
folder held, refers to it no more; a held-back output is published under the name the
ledger gives it when it is published, never under an older one."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from lxml import etree

from connectors import outgoing
from edi_engine import settings
from edi_engine.delivery import publication
from edi_engine.ledger import db

from .conftest import HAUT_VERNAY, RECIPIENT, SUPPLIER_1, Home, sample

REPO = Path(__file__).resolve().parents[2]
LEASE = 600  # processing.lease_seconds, the default


def _outgoing(home: Home) -> Path:
    return home.path / "run" / "outgoing"


def _age(path: Path, seconds: float = 2 * LEASE) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def _run_in_a_process(home: Home) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--home", str(home.path), "run", "--once"],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _ledger(home: Home, query: str) -> list[tuple]:
    with closing(sqlite3.connect(home.path / "ledger.db")) as connection, connection:
        return connection.execute(query).fetchall()


def _code(path: Path) -> str | None:
    return etree.parse(str(path)).findtext(".//IdStatut")


def test_a_staging_folder_is_locked_before_it_exists_and_goes_with_its_process(
    home: Home, tmp_path: Path
) -> None:
    root = tmp_path / "outgoing"
    stager = outgoing.Stager(root)
    assert stager.folder.is_dir()
    with outgoing.abandoned(root, stager.name, 0) as taken:  # as another process sees it
        assert not taken
    stager.close()  # what a normal exit does (atexit)
    assert list(root.iterdir()) == []

    # a real run, in a process of its own: nothing of it stays in run/outgoing/
    home.drop(SUPPLIER_1, "facture.xml", sample("ubl-invoice.xml"))
    _run_in_a_process(home)
    assert home.outbox(RECIPIENT) == ["PIVOT_DEST01_FL0000000001_1.xml"]
    assert list(_outgoing(home).iterdir()) == []


def test_a_staging_folder_removed_from_under_its_process_is_made_again(home: Home) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample("ubl-invoice.xml"))
    home.run()  # in this process: its staging folder stays while it lives
    (folder,) = [p for p in _outgoing(home).iterdir() if p.is_dir()]
    shutil.rmtree(_outgoing(home))  # an operator cleaning run/ by hand

    home.drop(SUPPLIER_1, "b.xml", sample("ubl-creditnote.xml"))
    (flow,) = home.run()

    assert flow["status"] == "IN_INTEGRE"
    assert "PIVOT_DEST01_FL0000000002_1.xml" in home.outbox(RECIPIENT)
    assert folder.is_dir()  # made again, and locked again: no one takes it for a dead one's
    with outgoing.abandoned(_outgoing(home), folder.name, 0) as taken:
        assert not taken


def test_a_dead_processs_folder_just_made_is_left_until_it_is_old(home: Home) -> None:
    dead = _outgoing(home) / f"{outgoing.host()}.999999.0badf00d"
    dead.mkdir(parents=True)
    (_outgoing(home) / f"{dead.name}.lock").touch()  # unlocked: its process is gone

    home.run()
    assert dead.is_dir()  # it may be a folder a process is about to lock and fill

    _age(dead)
    home.run()
    assert not dead.exists() and not (_outgoing(home) / f"{dead.name}.lock").exists()


def test_a_held_back_output_in_a_dead_processs_folder_is_kept_until_published(
    home: Home,
) -> None:
    """The process that held a pivot back ended; its staged file, old and not due yet,
    stays: the ledger, read with the folder held, still refers to it. A file there that
    no committed output refers to goes."""
    planted = home.path / "outbox" / RECIPIENT / "PIVOT_DEST01_FL0000000001_1.xml"
    planted.mkdir()
    home.drop(SUPPLIER_1, "facture.xml", sample("ubl-invoice.xml"))
    _run_in_a_process(home)
    ((token,),) = _ledger(home, "select staged from outputs where staged is not null")
    held = _outgoing(home) / token
    stray = held.with_name("00000099-CR_FOUR01_FL0000000042.xml")  # never committed
    stray.write_bytes(b"<staged for a transaction that rolled back/>")
    for path in (held, stray, held.parent):
        _age(path)

    home.run()  # not due yet

    assert held.is_file() and not stray.exists()
    planted.rmdir()
    _ledger(home, "update outputs set next_try_at = '2000-01-01 00:00:00'")
    home.run()
    assert home.outbox(RECIPIENT) == [planted.name] and not held.exists()
    assert _ledger(home, "select count(*) from outputs where staged is not null") == [(0,)]


def test_a_file_of_this_process_no_committed_output_refers_to_is_removed(home: Home) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample("ubl-invoice.xml"))
    home.run()
    mine = outgoing.Stager.mine(_outgoing(home))
    left = mine.folder / "00000042-PIVOT_DEST01_FL0000000042_1.xml"  # a purged output's
    left.write_bytes(b"<staged/>")
    young = mine.folder / "00000043-PIVOT_DEST01_FL0000000043_1.xml"
    young.write_bytes(b"<staged a moment ago/>")
    _age(left)

    home.run()

    assert not left.exists() and young.exists()


def test_a_run_tells_other_hosts_its_process_lives(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample("ubl-invoice.xml"))
    home.run()
    mine = outgoing.Stager.mine(_outgoing(home))
    _age(mine.lock_file)
    monkeypatch.setattr(outgoing, "HEARTBEAT_SECONDS", 0.0)

    home.run()  # nothing staged: only publication.finish runs

    assert time.time() - mine.lock_file.stat().st_mtime < LEASE


def test_a_held_back_cr_is_published_under_the_name_the_ledger_gives_it_now(
    home: Home, tmp_path: Path
) -> None:
    """A process holds a CR back, and its list of what to publish says CR_<P>_<F>.xml. A
    re-run meanwhile keeps that CR as CR_<P>_<F>_1.xml and publishes its own CR under the
    flow's CR name. Published from the stale list, the first CR still goes to _1: each
    name is read again from the ledger just before the rename."""
    cr = home.path / "outbox" / SUPPLIER_1 / "CR_FOUR01_FL0000000001.xml"
    cr.mkdir()  # the supplier holds its CR back
    home.drop(SUPPLIER_1, "inactive.xml", sample("ubl-inactive.xml"))
    (flow,) = home.run()
    assert flow["status"] == "IN_REJETE"
    columns = "staged, partner_code, file_name, kind, flow_id, previous_kept_as"
    (row,) = _ledger(home, f"select {columns} from outputs where staged is not null")
    stale = [publication.Pending(*row)]  # what a daemon would have listed
    assert stale[0].name == cr.name

    cr.rmdir()
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(f"siret,designation,active,partner\n{HAUT_VERNAY},Syndicat,true,{RECIPIENT}\n")
    home.invoke("structures", "import", fixed)
    (done,) = json.loads(home.invoke("flows", "rerun", flow["number"], "--json").stdout)
    assert done["after"] == "IN_INTEGRE" and _code(cr) == "90"
    loaded = settings.load(home.path)
    with db.session_scope(loaded.database_url) as session:
        publication.publish(loaded, session, stale)

    assert _code(cr) == "90"  # the re-run's CR, not replaced
    assert _code(cr.with_name("CR_FOUR01_FL0000000001_1.xml")) == "93"
    assert _ledger(home, "select count(*) from outputs where staged is not null") == [(0,)]


def test_a_lock_file_left_without_its_folder_is_removed_once_old_and_free(home: Home) -> None:
    """A process killed between its lock file and its folder (as it makes its folder, or
    as it or another process removes it) leaves the lock alone: a later run removes it
    once a lease old and held by no one. One just made, or held by a process making its
    folder, stays. Found by the crash harness (tests/crash/): nothing removed such a lock,
    and `edi-engine check` said so at every check after."""
    root = _outgoing(home)
    root.mkdir(parents=True, exist_ok=True)
    dead, young, held = (root / f"{outgoing.host()}.99999{n}.0badf00d.lock" for n in range(3))
    for lock in (dead, young, held):
        lock.touch()
    _age(dead)
    _age(held)
    with open(held) as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # its process lives, about to make its folder
        home.run()
    assert not dead.exists()
    assert young.exists() and held.exists()
