"""The engine's own files (its intake lock, outputs being written) stay in run/ of the home:
inbox/ and outbox/ are the partners' (an SFTP landing shows them), and hold only what a
partner dropped or the hub answered, after a run, a crash and a re-run alike."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

import config
from edi_engine import clock

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home

REPO = Path(__file__).resolve().parents[2]
PARTNERS_OUTPUT = re.compile(r"(CR|PIVOT|STATUT)_[A-Z0-9-]{3,8}_[A-Z0-9]+(_\d+)?\.xml")
# a worker that dies (SIGKILL) while renaming its third pivot into place, as a crash would
CRASH_ON_THIRD_PIVOT = """
import os, signal, sys
from cli import main

real_replace, pivots = os.replace, []

def replace(source, target):
    if os.path.basename(target).startswith("PIVOT_"):
        pivots.append(target)
        if len(pivots) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(source, target)

os.replace = replace
main(["run", "--once"])
"""


def _batch_zip() -> bytes:
    """The demo's batch of two UBL invoices."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as batch:
        for member in sorted(config.path("demo/batch").iterdir()):
            batch.write(member, member.name)
    return buffer.getvalue()


def _everything(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_only_partners_files(home: Home) -> list[str]:
    """inbox/ holds the partners' folders, empty once taken; outbox/ their folders with CR,
    pivot and status files, and nothing else. Returns the outbox's files."""
    partners = {SUPPLIER_1, SUPPLIER_2, RECIPIENT}
    assert _everything(home.path / "inbox") == sorted(partners)
    outbox = home.path / "outbox"
    folders = {p.name for p in outbox.iterdir()}
    assert folders == partners
    files = [p for p in outbox.rglob("*") if p.is_file()]
    assert all(p.parent.parent == outbox for p in files), files
    strangers = [p.name for p in files if not PARTNERS_OUTPUT.fullmatch(p.name)]
    assert strangers == []
    assert len(_everything(outbox)) == len(files) + len(folders)  # no link, no subfolder
    return sorted(p.name for p in files)


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_after_a_run_partners_folders_hold_only_partners_files(home: Home) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "invalide.xml", sample="xsd-invalid.xml")
    home.drop(SUPPLIER_1, "lot.zip", _batch_zip())
    home.drop(SUPPLIER_2, "pivot.xml", sample="pivot-multi.xml")

    flows = home.run()
    home.invoke("statuses", "emit")

    assert sorted(f["status"] for f in flows) == [
        "IN_INTEGRE", "IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE"
    ]  # fmt: skip
    written = assert_only_partners_files(home)
    assert [n for n in written if n.startswith("CR_")] and [
        n for n in written if n.startswith("STATUT_")
    ]
    pivots = [n for n in written if n.startswith("PIVOT_")]
    assert len(pivots) == 1 + 2 + 2  # the pivot flow has one invoice rejected
    # the engine's own files are in its own folder
    assert (home.path / "run" / "intake.lock").is_file()
    assert list((home.path / "run" / "tmp").iterdir()) == []


def test_a_worker_killed_while_writing_leaves_nothing_in_partners_folders(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_2, "pivot.xml", sample="pivot-multi.xml")
    env = {**os.environ, "EDI_ENGINE_HOME": str(home.path)}

    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_ON_THIRD_PIVOT], cwd=REPO, env=env, capture_output=True
    )

    assert crashed.returncode == -9, crashed.stderr
    (left,) = (home.path / "run" / "tmp").iterdir()  # the pivot it was writing
    assert left.name.startswith("PIVOT_") and left.name.endswith(".tmp")
    # the flow's first pivot was renamed into place before the crash: a whole file, which
    # the re-run writes again under its name
    assert len([n for n in assert_only_partners_files(home) if n.startswith("PIVOT_")]) == 2

    # later, once the dead worker's lease has expired, a run takes the flow again
    later = clock.now() + timedelta(hours=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    fresh = home.path / "run" / "tmp" / "CR_FOUR01_FL0000000009.xml.0123.tmp"
    fresh.write_bytes(b"<being written by another worker/>")
    _age(left, 2 * 600)  # processing.lease_seconds

    home.invoke("run", "--once")

    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert [f["status"] for f in flows] == ["IN_INTEGRE", "IN_INTEGRE_PARTIEL"]
    written = assert_only_partners_files(home)
    assert len([n for n in written if n.startswith("PIVOT_")]) == 1 + 2
    # the crash's temporary is swept; one another worker may still be writing is not
    assert list((home.path / "run" / "tmp").iterdir()) == [fresh]


def test_a_home_made_before_run_existed_loses_the_engines_leftovers(home: Home) -> None:
    shutil.rmtree(home.path / "run")
    old_lock = home.path / "inbox" / ".intake.lock"
    old_temp = home.path / "outbox" / SUPPLIER_1 / ".CR_FOUR01_FL0000000001.xml.tmp"
    old_lock.write_bytes(b"")
    old_temp.write_bytes(b"<half a CR")
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")

    home.run()

    assert not old_lock.exists() and not old_temp.exists()
    assert (home.path / "run" / "intake.lock").is_file()
    assert assert_only_partners_files(home) == [
        "CR_FOUR01_FL0000000001.xml", "PIVOT_DEST01_FL0000000001_1.xml"
    ]  # fmt: skip


def test_init_creates_the_engines_own_folder(bare_home: Home) -> None:
    assert (bare_home.path / "run" / "tmp").is_dir()
    toml = (bare_home.path / "edi-engine.toml").read_text()
    assert 'run = "run"' in toml


def test_a_run_folder_on_another_file_system_is_refused_with_the_fix(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = Path("/dev/shm") / f"edi-run-{uuid.uuid4().hex}"
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(home.path).st_dev:
        pytest.skip("no second file system (/dev/shm) to put run/ on")
    monkeypatch.setenv("EDI_ENGINE_PATHS_RUN", str(elsewhere))
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    try:
        result = home.invoke("run", "--once", code=3)
        assert list((elsewhere / "tmp").iterdir()) == []
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)

    assert "another file system than the outbox" in result.stderr
    assert "[paths] run" in result.stderr
    (flow,) = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert flow["status"] == "IN_INCIDENTE"
    assert_only_partners_files(home)
    assert home.outbox(RECIPIENT) == home.outbox(SUPPLIER_1) == []
