"""The intake's group commit (issue 14, item 2): a batch of inbox files is archived under
one sync barrier, numbered and recorded by a few statements, and acknowledged with one
fsync per folder. What a depositor sees does not change: each file is one flow, numbered
in the order of deposit; an intake killed between its copies and their barrier loses
nothing and takes nothing twice; no partial copy is ever the original of a flow. Real
processes killed by SIGKILL, on the SQLite ledger, with fsync on."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

import paused_workers
import pytest
from paused_workers import ended, program, start

from edi_engine.reception import archive

from .conftest import SUPPLIER_1, Home, sample

# "kill-before-barrier" dies (SIGKILL) once a batch's copies are written into archive/tmp,
# before their barrier; "kill-after-placing" once they are durable and in place, before
# the ledger records them
CHILD = program(
    """
import os, signal
from edi_engine.reception import archive

place = archive.Batch.place

def killed_before(self):
    os.kill(os.getpid(), signal.SIGKILL)

def killed_after(self):
    place(self)
    os.kill(os.getpid(), signal.SIGKILL)

if how == "kill-before-barrier":
    archive.Batch.place = killed_before
elif how == "kill-after-placing":
    archive.Batch.place = killed_after
"""
)

started = pytest.fixture(paused_workers.started)


@pytest.fixture(autouse=True)
def durable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The barriers and fsyncs are made, as in production."""
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "true")


def _invoice(number: str) -> bytes:
    return sample("ubl-invoice.xml").replace(b"F01-2026-000101", number.encode())


def _deposit(home: Home, count: int) -> list[Path]:
    """`count` one-invoice files of FOUR01, deposited one second apart, oldest first."""
    dropped = []
    for n in range(count):
        path = home.drop(SUPPLIER_1, f"f{n}.xml", _invoice(f"B-{n:04d}"))
        os.utime(path, ns=(1_790_000_000_000_000_000 + n * 10**9,) * 2)
        dropped.append(path)
    return dropped


def _killed(home: Home, started: list[subprocess.Popen], how: str) -> None:
    child = start(CHILD, how, "--home", str(home.path), "run", "--once", started=started)
    code, _, err = ended(child)
    assert code == -9, err  # killed where the test said, not ended on its own


def _flows(home: Home) -> list[dict]:
    return json.loads(home.invoke("flows", "list", "--json").stdout)


def _originals(home: Home) -> list[Path]:
    return sorted(p for p in (home.path / "archive").rglob("*") if p.is_file())


def _temporaries(home: Home) -> list[Path]:
    folder = home.path / "archive" / "tmp"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _each_whole(originals: list[Path]) -> None:
    """Every original holds the very bytes its name is the SHA-256 of."""
    for path in originals:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name


def test_an_intake_killed_before_its_barrier_leaves_every_file_in_its_inbox(
    home: Home, started: list[subprocess.Popen], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_PICKUP_BATCH_SIZE", "2")
    dropped = _deposit(home, 3)
    _killed(home, started, "kill-before-barrier")

    assert all(path.exists() for path in dropped)
    assert _flows(home) == []
    assert [p.parent.name for p in _originals(home)] == ["tmp", "tmp"]  # copies not placed

    # the next intake sweeps the temporaries once nobody may be writing them
    for temp in _temporaries(home):
        os.utime(temp, (1_000_000_000, 1_000_000_000))
    flows = home.run()
    assert sorted(f["file_name"] for f in flows) == ["f0.xml", "f1.xml", "f2.xml"]
    assert {f["status"] for f in flows} == {"IN_INTEGRE"}
    assert not any(path.exists() for path in dropped)
    assert _temporaries(home) == []
    assert len(_originals(home)) == 3
    _each_whole(_originals(home))


def test_an_intake_killed_after_placing_its_copies_records_each_file_once_later(
    home: Home, started: list[subprocess.Popen]
) -> None:
    dropped = _deposit(home, 3)
    _killed(home, started, "kill-after-placing")

    assert all(path.exists() for path in dropped)
    assert _flows(home) == []  # copies in place, recorded by no flow yet
    assert len(_originals(home)) == 3

    flows = home.run()
    # the killed run gave no number away: its transaction never committed
    assert [(f["number"], f["file_name"]) for f in flows] == [
        ("FL0000000001", "f0.xml"),
        ("FL0000000002", "f1.xml"),
        ("FL0000000003", "f2.xml"),
    ]
    assert not any(path.exists() for path in dropped)
    assert len(_originals(home)) == 3
    _each_whole(_originals(home))


def test_a_partial_copy_a_power_cut_left_in_the_archive_is_written_again_whole(
    home: Home,
) -> None:
    content = _invoice("B-0001")
    digest = hashlib.sha256(content).hexdigest()
    partial = home.path / "archive" / digest[:2] / digest[2:4] / digest
    partial.parent.mkdir(parents=True)
    partial.write_bytes(content[:100])  # named, but its data never reached the disk whole
    home.drop(SUPPLIER_1, "again.xml", content)

    (flow,) = home.run()

    assert (flow["file_name"], flow["status"]) == ("again.xml", "IN_INTEGRE")
    assert partial.read_bytes() == content


def test_files_are_numbered_in_order_of_deposit_across_batches(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_PICKUP_BATCH_SIZE", "2")
    dropped = _deposit(home, 5)
    dropped[3].write_bytes(dropped[2].read_bytes())  # the same bytes twice in one batch
    os.utime(dropped[3], ns=(1_790_000_000_000_000_000 + 3 * 10**9,) * 2)

    flows = {f["file_name"]: f for f in home.run()}

    numbers = [flows[f"f{n}.xml"]["number"] for n in range(5)]
    assert numbers == [f"FL{n:010d}" for n in range(1, 6)]
    assert flows["f3.xml"]["status"] == "IN_REJETE"
    copy = home.show(numbers[3])
    assert copy["duplicate_of"] == numbers[2]
    assert [e["code"] for e in copy["errors"]] == ["DUPLICATE_FLOW"]
    assert {flows[f"f{n}.xml"]["status"] for n in (0, 1, 2, 4)} == {"IN_INTEGRE"}
    assert not any(path.exists() for path in dropped)
    assert len(_originals(home)) == 4  # the same bytes are archived once
    _each_whole(_originals(home))


def test_a_copy_the_disk_refuses_in_a_batch_leaves_every_file_of_it_in_its_inbox(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's copies are made by several threads: one failing fails the batch, and
    the others, done or not, leave nothing behind (a disk full in the middle, say)."""
    dropped = _deposit(home, 6)
    copied = archive._copied

    def disk_full_at_f3(source: Path, *rest: object) -> tuple[str, int]:
        if source.name == "f3.xml":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return copied(source, *rest)

    monkeypatch.setattr(archive, "_copied", disk_full_at_f3)
    refused = home.invoke("run", "--once", code=None)

    assert refused.exit_code != 0, refused.stderr
    assert "Cannot archive" in refused.stderr and "No space left on device" in refused.stderr
    assert all(path.exists() for path in dropped)
    assert _temporaries(home) == []
    assert json.loads(home.invoke("flows", "list", "--json").stdout) == []

    monkeypatch.setattr(archive, "_copied", copied)  # room again: every file, once
    flows = home.run()
    assert sorted(f["file_name"] for f in flows) == [f"f{n}.xml" for n in range(6)]
    assert not any(path.exists() for path in dropped)
    _each_whole(_originals(home))
