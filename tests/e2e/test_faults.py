"""Faults of the hub's own machine while it works: its disk full while it writes outputs,
an inbox file it may not read, an archived original altered on disk. Each fault costs the
flow it touches, named with a clear reason, never the others; nothing is lost, nothing is
done twice, and once the fault is mended the flow is finished."""

from __future__ import annotations

import builtins
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from connectors import outgoing

from .conftest import RECIPIENT, SUPPLIER_1, Home, sample

REPO = Path(__file__).resolve().parents[2]
ENGINE_FAILED = 3  # run --once's exit when a flow was left IN_INCIDENTE
REFUSED = 1  # flows rerun's exit when a flow was refused


def ubl(number: str, padding: int = 0) -> bytes:
    """The demo's UBL invoice under another number; `padding` bytes of comment make it
    (and its pivot, which carries it as its PJ) that much larger."""
    content = sample("ubl-invoice.xml").replace(b"F01-2026-000101", number.encode())
    return content + b"<!--" + b"x" * padding + b"-->\n" if padding else content


def _flows(result_stdout: str) -> dict[str, dict]:
    return {flow["file_name"]: flow for flow in json.loads(result_stdout)}


# -- the disk full while outputs are written ---------------------------------------------

ROOM = 256 * 1024  # what the small disk holds: four small flows' outputs, not a big pivot
BIG = 300 * 1024  # the big invoice's comment: its pivot (base64 of it) does not fit


@dataclass
class SmallDisk:
    """Where outputs are staged and published (`run/` and `outbox/`), on a disk that holds
    ROOM bytes; `free()` makes room."""

    outbox: Path
    run: Path
    free: object  # () -> None

    def files(self, partner: str) -> list[str]:
        folder = self.outbox / partner
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def staged(self) -> list[Path]:
        return [p for p in (self.run / "outgoing").glob("*/*")]


def _tmpfs(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallDisk]:
    """A real file system of ROOM bytes (tmpfs) for `outbox/` and `run/`: needs the right
    to mount, which a container may not give."""
    disk = home.path.parent / "small-disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={ROOM}", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"no tmpfs can be mounted here ({mounted.stderr.strip() or 'not root'}): the "
            "variant with ENOSPC injected at the engine's write covers the engine's side"
        )
    try:
        monkeypatch.setenv("EDI_ENGINE_PATHS_OUTBOX", str(disk / "outbox"))
        monkeypatch.setenv("EDI_ENGINE_PATHS_RUN", str(disk / "run"))

        def free() -> None:
            remount = ["mount", "-o", "remount,size=16m", str(disk)]
            subprocess.run(remount, check=True, capture_output=True)

        yield SmallDisk(disk / "outbox", disk / "run", free)
    finally:  # lazily: this process keeps its staging folder's lock file open there
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


class _FillingUp:
    """A file being written on a disk with ROOM bytes left: a larger write puts what fits,
    then fails with ENOSPC, as write(2) does."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def write(self, content: bytes) -> int:
        if len(content) > ROOM:
            self.handle.write(content[:ROOM])
            self.handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.handle.write(content)

    def fileno(self) -> int:
        return self.handle.fileno()

    def __enter__(self) -> _FillingUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def _injected(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallDisk]:
    """ENOSPC at the engine's own write of an output (connectors/outgoing.stage), where a
    tmpfs cannot be mounted: the same failure, half the file written first."""

    def opened(path, mode="r", *args, **kwargs):
        handle = builtins.open(path, mode, *args, **kwargs)  # noqa: SIM115 (returned open)
        return _FillingUp(handle) if "x" in mode else handle

    monkeypatch.setattr(outgoing, "open", opened, raising=False)
    yield SmallDisk(
        home.path / "outbox", home.path / "run", lambda: monkeypatch.delattr(outgoing, "open")
    )


@pytest.fixture(params=["tmpfs", "injected"])
def small_disk(
    request: pytest.FixtureRequest, home: Home, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SmallDisk]:
    made = _tmpfs if request.param == "tmpfs" else _injected
    yield from made(home, monkeypatch)


def test_a_flow_whose_outputs_fill_the_disk_is_an_incident_alone_and_a_rerun_ends_it(
    home: Home, rules_off: None, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_RETRY_ATTEMPTS", "3")  # the default
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_RETRY_BACKOFF_SECONDS", "0")  # at once
    for n in range(4):
        home.drop(SUPPLIER_1, f"s{n}.xml", ubl(f"S-{n}"))
    home.drop(SUPPLIER_1, "big.xml", ubl("BIG-1", padding=BIG))

    result = home.invoke("run", "--once", "--json", code=ENGINE_FAILED)

    flows = _flows(result.stdout)
    assert {name: flow["status"] for name, flow in flows.items()} == {
        **{f"s{n}.xml": "IN_INTEGRE" for n in range(4)},
        "big.xml": "IN_INCIDENTE",
    }
    big = flows["big.xml"]["number"]
    events = [event["detail"] or "" for event in home.show(big)["events"]]
    tried = [d.split(":")[0] for d in events if d.startswith("transient failure")]
    assert tried == ["transient failure 1", "transient failure 2"], events  # then given up
    assert f"Cannot stage PIVOT_{RECIPIENT}_{big}_1.xml" in events[-1], events
    assert "No space left on device" in events[-1] and "No space left" in result.stderr
    assert f"Flow {big} failed technically (IN_INCIDENTE)" in result.stderr
    assert f"Flow {big} failed for a transient reason" not in result.stderr  # not both
    # the others delivered and answered; the big one answered with the CR of its incident
    numbers = sorted(flow["number"] for flow in flows.values())
    small = [number for number in numbers if number != big]
    assert small_disk.files(RECIPIENT) == [f"PIVOT_{RECIPIENT}_{n}_1.xml" for n in small]
    assert small_disk.files(SUPPLIER_1) == [f"CR_{SUPPLIER_1}_{n}.xml" for n in numbers]
    incident = (small_disk.outbox / SUPPLIER_1 / f"CR_{SUPPLIER_1}_{big}.xml").read_bytes()
    assert b"<ComplementStatut>IN_INCIDENTE</ComplementStatut>" in incident
    # no half-written file anywhere: every output whole, nothing left staged
    for partner in (RECIPIENT, SUPPLIER_1):
        for name in small_disk.files(partner):
            etree.parse(str(small_disk.outbox / partner / name))
    assert small_disk.staged() == []

    small_disk.free()
    (rerun,) = json.loads(home.invoke("flows", "rerun", big, "--json").stdout)

    assert rerun["after"] == "IN_INTEGRE"
    assert small_disk.files(RECIPIENT) == [f"PIVOT_{RECIPIENT}_{n}_1.xml" for n in numbers]
    assert small_disk.files(SUPPLIER_1) == sorted(
        [f"CR_{SUPPLIER_1}_{n}.xml" for n in numbers] + [f"CR_{SUPPLIER_1}_{big}_1.xml"]
    )  # the incident's CR kept beside the new one, as a re-run keeps it
    invoices = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert sorted(i["number"] for i in invoices) == ["BIG-1", "S-0", "S-1", "S-2", "S-3"]
    assert small_disk.staged() == []


# -- an inbox file the engine may not read -----------------------------------------------

NO_DAC = ["--bounding-set=-dac_override,-dac_read_search",
          "--inh-caps=-dac_override,-dac_read_search"]  # fmt: skip


def _unprivileged(probe: Path) -> list[str]:
    """How to run the engine so that a file of mode 000 is really unreadable to it: as
    it is when not root; as root, without the capabilities that bypass file permissions
    (setpriv). Skips, saying why, when neither can be had."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): root reads a mode 000 file")
    probe.write_bytes(b"secret")
    probe.chmod(0)
    read = subprocess.run([setpriv, *NO_DAC, "cat", str(probe)], capture_output=True)
    probe.unlink()
    if read.returncode == 0:
        pytest.skip("root keeps CAP_DAC_OVERRIDE here: no file can be made unreadable to it")
    return [setpriv, *NO_DAC]


def test_an_inbox_file_the_engine_may_not_read_stays_and_the_others_are_taken(
    home: Home, rules_off: None, tmp_path: Path
) -> None:
    """A file of mode 000 (a partner's upload through an SFTP landing whose umask is
    wrong, or on purpose) is named in the run's report and left in its inbox; the other
    files are taken: it stopped every partner's intake (`Cannot archive …`, exit 3)."""
    run_as = _unprivileged(tmp_path / "probe")
    home.drop(SUPPLIER_1, "a.xml", ubl("U-1"))
    locked = home.drop(SUPPLIER_1, "b.xml", ubl("U-2"))
    home.drop(SUPPLIER_1, "c.xml", ubl("U-3"))
    locked.chmod(0)

    done = subprocess.run(
        [*run_as, sys.executable, "-m", "cli", "--home", str(home.path), "run", "--once",
         "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    flows = _flows(done.stdout)
    assert {name: flow["status"] for name, flow in flows.items()} == {
        "a.xml": "IN_INTEGRE",
        "c.xml": "IN_INTEGRE",
    }
    assert (
        f"Left in its inbox: {locked} cannot be read (Permission denied). It is taken once "
        "the engine can read it." in done.stderr
    )
    assert [p.name for p in locked.parent.iterdir()] == ["b.xml"]
    assert list((home.path / "archive" / "tmp").iterdir()) == []  # nothing of it copied

    locked.chmod(0o644)  # readable again: taken, once
    (taken,) = home.run()

    assert (taken["file_name"], taken["status"]) == ("b.xml", "IN_INTEGRE")
    listed = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert sorted(flow["file_name"] for flow in listed) == ["a.xml", "b.xml", "c.xml"]
    assert list(locked.parent.iterdir()) == []


# -- an archived original altered on disk ------------------------------------------------


def test_a_rerun_refuses_an_altered_original_naming_both_hashes_and_changes_nothing(
    home: Home, rules_off: None
) -> None:
    """A re-run reads the archive only: from an altered original it would answer, and
    deliver, an invoice its partner never sent. Refused even with --force (exit 1), the
    hash received and the hash found named; the flow, its outputs and the archive stay as
    they were. Once the original is restored, the re-run goes."""
    received = ubl("A-1")
    home.drop(SUPPLIER_1, "facture.xml", received)
    (flow,) = home.run()
    number, expected = flow["number"], hashlib.sha256(received).hexdigest()
    original = home.path / "archive" / expected[:2] / expected[2:4] / expected
    altered = received.replace(b"A-1", b"A-9")  # the amount due, the IBAN: any byte
    original.write_bytes(altered)
    found = hashlib.sha256(altered).hexdigest()
    before = (home.show(number), home.outbox(SUPPLIER_1), home.outbox(RECIPIENT))

    result = home.invoke("flows", "rerun", number, "--force", "--json", code=REFUSED)

    (refused,) = json.loads(result.stdout)
    relative = original.relative_to(home.path / "archive")
    why = (
        f"its archived original {relative} was altered: its SHA-256 is {found}, not "
        f"{expected} as received; restore it from a backup of the archive"
    )
    assert (refused["after"], refused["why"]) == (None, why)
    assert f"Flow {number} was not re-run: {why}." in result.stderr
    assert (home.show(number), home.outbox(SUPPLIER_1), home.outbox(RECIPIENT)) == before
    assert original.read_bytes() == altered  # never "mended" by the engine
    (found_by_check,) = [
        line
        for line in home.invoke("check", code=REFUSED).stdout.splitlines()
        if line.startswith(f"original_altered: {number}:")
    ]
    assert f"SHA-256 {found}" in found_by_check and expected in found_by_check

    original.write_bytes(received)  # restored from a backup
    (rerun,) = json.loads(home.invoke("flows", "rerun", number, "--force", "--json").stdout)
    assert rerun["after"] == "IN_INTEGRE"
