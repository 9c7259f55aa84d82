"""What a partner puts in place of a file once the intake has judged it stable (review H1):
a link to /dev/zero or to a file that is not its own, a FIFO, or the same file growing
without end. The intake is a real `run --once` process whose
listing is hooked to make the swap right after it; the run ends, nothing unbounded or
unreferenced is archived, the entry is left in the inbox, and every other file, the other
partner's too, is processed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SUPPLIER_1, SUPPLIER_2, Home, sample

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 120  # seconds the run is given to end; a run that hangs fails, none is timed
TARGET = "a-target.xml"  # the file swapped after the listing

# `run --once` whose listing is followed at once by the partner's move on TARGET:
# "link-zero" / "link-elsewhere" rename a link over it (to /dev/zero, to the file named by
# argv[2]), "fifo" renames a FIFO over it, "growing" appends to it without end from a
# thread (a bounded amount, as a test must)
CHILD = """
import os, sys, threading
from connectors import local

how, elsewhere = sys.argv[1], sys.argv[2]
listing = local.stable_files

def grow(path):
    with open(path, "ab") as handle:
        for _ in range(512):  # 32 MiB at most
            handle.write(b"<!-- " + b"x" * 65_000 + b" -->\\n")
            handle.flush()

def swapped(*args, **kwargs):
    files = listing(*args, **kwargs)
    for listed in files:
        if listed.path.name != "a-target.xml":
            continue
        spare = listed.path.with_name(".spare")
        if how == "link-zero":
            os.symlink("/dev/zero", spare)
        elif how == "link-elsewhere":
            os.symlink(elsewhere, spare)
        elif how == "fifo":
            os.mkfifo(spare)
        if how == "growing":
            with open(listed.path, "ab") as handle:
                handle.write(b"<!-- more -->\\n")  # one write at least before it is read
            threading.Thread(target=grow, args=(listed.path,), daemon=True).start()
        else:
            os.replace(spare, listed.path)
    return files

local.stable_files = swapped
from cli import main
main(sys.argv[3:])
"""


def _run_swapping(home: Home, how: str, elsewhere: Path | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [
            sys.executable, "-c", CHILD, how, str(elsewhere or ""),
            "--home", str(home.path), "run", "--once", "--json",
        ],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def _deposit(home: Home) -> Path:
    """The target and, beside it, a file of the same partner and one of another."""
    target = home.drop(SUPPLIER_1, TARGET, sample=("ubl-invoice.xml"))
    home.drop(SUPPLIER_1, "b-kept.xml", sample="ubl-creditnote.xml")
    home.drop(SUPPLIER_2, "c-other.xml", sample="pivot-multi.xml")
    return target


def _archived(home: Home) -> list[Path]:
    """Every file in the archive, its folder of temporaries included."""
    return sorted(p for p in (home.path / "archive").rglob("*") if p.is_file())


def _others_processed(home: Home, out: str) -> None:
    """The run processed every other file, and archived the originals of those only."""
    flows = json.loads(out)
    assert sorted((f["partner"], f["file_name"]) for f in flows) == [
        (SUPPLIER_1, "b-kept.xml"),
        (SUPPLIER_2, "c-other.xml"),
    ]
    assert {f["status"] for f in flows} <= {"IN_INTEGRE", "IN_INTEGRE_PARTIEL"}
    recorded = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert len(_archived(home)) == len(recorded) == 2
    assert not list((home.path / "archive" / "tmp").iterdir())


@pytest.mark.parametrize("how", ["link-zero", "fifo", "link-elsewhere"])
def test_a_link_or_a_fifo_put_in_place_of_a_listed_file_is_never_read(
    home: Home, tmp_path: Path, how: str
) -> None:
    elsewhere = tmp_path / "not-its-own.xml"  # say another partner's, or the engine's
    secret = sample("ubl-invoice.xml").replace(b"F01-2026-000101", b"SECRET-1")
    elsewhere.write_bytes(secret)
    target = _deposit(home)

    code, out, err = _run_swapping(home, how, elsewhere)

    assert code == 0, err
    _others_processed(home, out)
    assert "is no longer a plain file" in err  # said, and left for a later run
    assert target.is_symlink() if how.startswith("link") else target.is_fifo()
    assert elsewhere.read_bytes() == secret  # never taken, never removed

    # the next run leaves it where it is, says so, and never follows it
    again = home.invoke("run", "--once", "--json")
    assert json.loads(again.stdout) == []
    assert "is not a plain file" in again.stderr and TARGET in again.stderr
    assert os.path.lexists(target)
    assert len(_archived(home)) == 2
    invoices = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert not [i for i in invoices if i["number"] == "SECRET-1"]


def test_a_file_growing_while_it_is_archived_is_not_archived_then_taken_once_stable(
    home: Home,
) -> None:
    target = _deposit(home)

    code, out, err = _run_swapping(home, "growing")

    assert code == 0, err
    _others_processed(home, out)  # nothing of it archived, no copy left behind
    assert "changed while it was archived" in err or "replaced or written to" in err
    assert target.stat().st_size > len(sample("ubl-invoice.xml"))  # left in the inbox

    grown = target.stat().st_size
    (flow,) = home.run()  # it no longer grows: taken whole, as the partner left it
    assert (flow["file_name"], flow["status"]) == (TARGET, "IN_INTEGRE")
    assert home.show(flow["number"])["size"] == grown
    assert not target.exists()
    assert len(_archived(home)) == 3


def test_an_oversized_file_growing_while_it_is_hashed_leaves_nothing(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over limits.max_file_bytes only its hash and head are kept: bounded the same way."""
    monkeypatch.setenv("EDI_ENGINE_LIMITS_MAX_FILE_BYTES", "1000")
    target = home.drop(SUPPLIER_1, TARGET, sample="ubl-invoice.xml")

    code, out, err = _run_swapping(home, "growing")

    assert code == 0, err
    assert json.loads(out) == []
    assert _archived(home) == []
    assert target.exists()


def test_a_link_left_in_an_inbox_is_logged_once_by_a_process(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemon meets it at every turn: its log names it once."""
    link = home.path / "inbox" / SUPPLIER_1 / "link.xml"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("/dev/zero")

    with caplog.at_level(logging.WARNING, logger="edi_engine.reception.intake"):
        for _ in range(3):
            assert home.run() == []

    said = [r for r in caplog.records if "is not a plain file" in r.getMessage()]
    assert len(said) == 1 and "link.xml" in said[0].getMessage()
    assert link.is_symlink()
