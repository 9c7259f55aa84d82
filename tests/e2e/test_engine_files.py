"""The engine's own files (its intake lock, outputs being written) stay in run/ of the home:
inbox/ and outbox/ are the partners' (an SFTP landing shows them), and hold only what a
partner dropped or the hub answered, after a run, a crash and a re-run alike."""

from __future__ import annotations

import fcntl
import grp
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

import config
from connectors import outgoing as outgoing_files
from edi_engine import clock

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home

REPO = Path(__file__).resolve().parents[2]
PARTNERS_OUTPUT = re.compile(r"(CR|PIVOT|STATUT)_[A-Z0-9-]{3,8}_[A-Z0-9]+(_\d+)?\.xml")
# a worker that dies (SIGKILL) while staging its third pivot, as a crash would
CRASH_ON_THIRD_PIVOT = """
import os, signal, sys
from connectors import outgoing
from cli import main

real_stage, pivots = outgoing.stage, []

def stage(path, *args):
    if "-PIVOT_" in path.name:
        pivots.append(path)
        if len(pivots) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_stage(path, *args)

outgoing.stage = stage
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
    assert list((home.path / "run" / "outgoing").glob("*/*")) == []  # all published


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
    outgoing = home.path / "run" / "outgoing"
    # the first flow's and the pivot flow's first, staged for the group commit of the two
    # that never came
    left = sorted(outgoing.glob("*/*-PIVOT_*"))
    assert [p.name.split("-", 1)[1] for p in left] == [
        "PIVOT_DEST01_FL0000000001_1.xml",
        "PIVOT_DEST01_FL0000000002_1.xml",
    ]
    # nothing reached a partner: nothing was committed
    assert not assert_only_partners_files(home)

    # later, once the dead worker's lease has expired, a run takes the flow again
    later = clock.now() + timedelta(hours=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    staged = [*left[0].parent.iterdir(), left[0].parent]  # the first flow's CR with them
    for path in staged:  # its folder too: a folder just made is never removed
        _age(path, 2 * 600)  # processing.lease_seconds
    alive = outgoing / f"{outgoing_files.host()}.1.a1e0a1e0"  # another worker's, locked
    (alive).mkdir()
    fresh = alive / "00000001-CR_FOUR01_FL0000000009.xml"
    fresh.write_bytes(b"<staged by another worker/>")
    _age(fresh, 2 * 600)
    with open(outgoing / f"{alive.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        home.invoke("run", "--once")

    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert [f["status"] for f in flows] == ["IN_INTEGRE", "IN_INTEGRE_PARTIEL"]
    written = assert_only_partners_files(home)
    assert len([n for n in written if n.startswith("PIVOT_")]) == 1 + 2
    # the dead worker's staged files are removed with its folder; a live one's are not
    assert not left[0].parent.exists()
    assert list(alive.iterdir()) == [fresh]


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


def _second_file_system(near: Path) -> Path:
    """A fresh folder on /dev/shm, when that is another file system than ``near``'s."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(near).st_dev:
        pytest.skip("no second file system (/dev/shm) to put a folder on")
    return shm / f"edi-{uuid.uuid4().hex}"


def test_a_run_folder_on_another_file_system_is_refused_at_start_with_the_fix(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = _second_file_system(home.path)
    monkeypatch.setenv("EDI_ENGINE_PATHS_RUN", str(elsewhere))
    dropped = home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    try:
        result = home.invoke("run", "--once", code=2)  # a configuration error
        assert list((elsewhere / "tmp").iterdir()) == []
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)

    assert "another file system than the outbox" in result.stderr
    assert "[paths] run" in result.stderr and "EDI_ENGINE_PATHS_RUN" in result.stderr
    assert str(elsewhere) in result.stderr and str(home.path / "outbox") in result.stderr
    # refused before anything was taken: the file waits in its inbox, no flow exists
    assert dropped.is_file()
    assert json.loads(home.invoke("flows", "list", "--json").stdout) == []
    assert home.outbox(RECIPIENT) == home.outbox(SUPPLIER_1) == []


def test_a_daemon_with_its_run_folder_on_another_file_system_stops_at_start(
    home: Home,
) -> None:
    elsewhere = _second_file_system(home.path)
    env = {**os.environ, "EDI_ENGINE_PATHS_RUN": str(elsewhere)}
    daemon = [sys.executable, "-m", "cli", "--home", str(home.path)]
    try:
        done = subprocess.run(
            [*daemon, "run", "--daemon"], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    assert done.returncode == 2, done.stderr
    assert "another file system than the outbox" in done.stderr


def test_init_refuses_a_run_folder_on_another_file_system(
    tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = _second_file_system(tmp_path)
    monkeypatch.setenv("EDI_ENGINE_PATHS_RUN", str(elsewhere))
    try:
        result = run_cli("init", tmp_path / "home", code=2)
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    assert "another file system than the outbox" in result.stderr

    monkeypatch.delenv("EDI_ENGINE_PATHS_RUN")  # fixed: init completes the home
    run_cli("init", tmp_path / "home")
    assert (tmp_path / "home" / "ledger.db").is_file()


def test_a_partners_outbox_folder_on_another_file_system_is_refused_at_start(
    home: Home,
) -> None:
    elsewhere = _second_file_system(home.path)
    elsewhere.mkdir()
    folder = home.path / "outbox" / RECIPIENT
    shutil.rmtree(folder, ignore_errors=True)
    folder.symlink_to(elsewhere)  # as a mount there would be
    dropped = home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    try:
        result = home.invoke("run", "--once", code=2)
        assert list(elsewhere.iterdir()) == []
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)

    assert f"{folder} is on another file system than the outbox" in result.stderr
    assert "keep partners' folders on it" in result.stderr
    assert dropped.is_file()


def test_a_partners_folder_moved_elsewhere_after_the_start_holds_its_outputs_with_the_fix(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check at start cannot see a folder mounted later: publishing into it says why it
    cannot, and the pivot stays staged (its flow is integrated all the same)."""
    from edi_engine.ledger import home as engine_home

    elsewhere = _second_file_system(home.path)
    elsewhere.mkdir()
    folder = home.path / "outbox" / RECIPIENT
    shutil.rmtree(folder)
    folder.symlink_to(elsewhere)  # as a mount there would be, once the check was made
    monkeypatch.setattr(engine_home, "_same_file_system", lambda *_: None)
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    try:
        (flow,) = home.run()
        assert list(elsewhere.iterdir()) == []
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    assert flow["status"] == "IN_INTEGRE"
    (pivot,) = [o for o in home.show(flow["number"])["outputs"] if o["kind"] == "PIVOT"]
    assert pivot["delivered_at"] is None
    assert "another file system" in pivot["delivery_error"]
    assert "[paths] run" in pivot["delivery_error"]
    assert len(list((home.path / "run" / "outgoing").glob("*/*-PIVOT_*"))) == 1


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a folder's group to one we are not in needs root")


def test_outputs_take_the_group_of_a_setgid_partners_folder(home: Home) -> None:
    """An SFTP landing shares a group with the partner's account through `chmod g+s`:
    files renamed in from run/outgoing get that group, as files written there would."""
    _needs_root()
    daemon = grp.getgrnam("daemon").gr_gid
    for partner in (SUPPLIER_1, RECIPIENT):
        folder = home.path / "outbox" / partner
        os.chown(folder, -1, daemon)
        folder.chmod(0o2770)
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    umask = os.umask(0o027)
    try:
        (flow,) = home.run()
    finally:
        os.umask(umask)

    assert flow["status"] == "IN_INTEGRE"
    written = [
        home.path / "outbox" / p / n for p in (SUPPLIER_1, RECIPIENT) for n in home.outbox(p)
    ]
    assert sorted(p.name for p in written) == [
        "CR_FOUR01_FL0000000001.xml", "PIVOT_DEST01_FL0000000001_1.xml"
    ]  # fmt: skip
    assert {p.stat().st_gid for p in written} == {daemon}
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o640}  # the umask's


def test_outputs_keep_the_writers_group_in_a_plain_folder(home: Home) -> None:
    """A setgid run/ must not lend its group: without g+s on the partner's folder, a file
    has the writer's group, as one written in place would."""
    _needs_root()
    run = home.path / "run" / "outgoing"
    os.chown(run, -1, grp.getgrnam("daemon").gr_gid)
    run.chmod(0o2775)
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")

    home.run()

    (cr,) = home.outbox(SUPPLIER_1)
    assert (home.path / "outbox" / SUPPLIER_1 / cr).stat().st_gid == os.getegid()


# an account outside the folder's group writes through run/tmp (a setgid folder gives its
# group to a file created in it, but a chown to a group we are not in is refused)
WRITE_AS_NOBODY = """
import logging, os, sys
from pathlib import Path
from connectors import local
os.setgroups([]); os.setgid(65534); os.setuid(65534)
logging.basicConfig(format="%(levelname)s %(message)s")
root = Path(sys.argv[1])
for name in ("CR_A.xml", "CR_B.xml"):
    local.write_atomic(root / "outbox" / name, b"<CR/>", False, root / "tmp")
print((root / "outbox" / "CR_A.xml").stat().st_gid)
"""


def test_a_group_the_writer_is_not_in_is_warned_once_and_the_file_still_written() -> None:
    _needs_root()
    nobody = 65534
    root = Path(tempfile.mkdtemp(prefix="edi-group-"))
    try:
        root.chmod(0o755)
        os.chown(root, nobody, nobody)
        (root / "tmp").mkdir()
        os.chown(root / "tmp", nobody, nobody)
        (root / "outbox").mkdir(mode=0o2775)
        os.chown(root / "outbox", nobody, grp.getgrnam("daemon").gr_gid)
        (root / "outbox").chmod(0o2775)
        done = subprocess.run(
            [sys.executable, "-c", WRITE_AS_NOBODY, str(root)],
            cwd=REPO, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in (root / "outbox").iterdir()) == ["CR_A.xml", "CR_B.xml"]
    finally:
        shutil.rmtree(root)
    assert done.stdout.strip() == str(nobody)
    assert done.stderr.count("WARNING") == 1, done.stderr
    assert "cannot be given its group" in done.stderr and "outbox" in done.stderr
