"""A partner's outbox is its own: what it leaves there under the names of future outputs
holds back its own deliveries only, and is never read, followed or opened (issue 13).

Run as the attack was: the recipient DEST01 plants a folder, a named pipe and a 2 GB
sparse file under the names the next flows' pivots will have (flow numbers are
sequential), a supplier plants a link under its next CR's name; `run --once` runs as a
child process, whose peak memory is its own (tests/child_memory.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import child_memory
import pytest
from lxml import etree

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home, sample

REPO = Path(__file__).resolve().parents[2]
BIG = 2 * 1024**3  # sparse: takes no disk, but read whole it would take 2 GB of memory
MEMORY_LIMIT = 400 * 1024**2  # `run --once` of two small flows stays far below


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    peak_bytes: int


def run_once(home: Home) -> Run:
    """`run --once` as a child process, killed if it hangs (a regression that opens the
    pipe would wait forever); its peak memory its own (tests/child_memory.py)."""
    args = ["--home", home.path, "run", "--once", "--json"]
    out, err = home.path / "run.out", home.path / "run.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        child = child_memory.run_module("cli", args, cwd=REPO, env=dict(os.environ),
                                        stdout=stdout, stderr=stderr, timeout=180)  # fmt: skip
    assert not child.killed, "run --once hung: something in a partner's folder was opened"
    assert child.peak_bytes is not None, err.read_text()
    return Run(child.code, out.read_text(), err.read_text(), child.peak_bytes)


def _held_back(run: Run) -> int:
    """Log lines saying an output is held back (one per output, the first time)."""
    return sum("not published:" in line for line in run.stderr.splitlines())


def _summaries(run: Run) -> list[str]:
    """The one line per partner saying how many of its outputs are still held back."""
    return [line for line in run.stderr.splitlines() if "output(s) held back by" in line]


def _ledger(home: Home, query: str) -> list[tuple]:
    with closing(sqlite3.connect(home.path / "ledger.db")) as connection, connection:
        return connection.execute(query).fetchall()


def _held(home: Home) -> dict[str, tuple[int, datetime]]:
    """Each staged output: how many times it was held back, and when it is tried again."""
    rows = _ledger(
        home,
        "select file_name, delivery_attempts, next_try_at from outputs where staged is not null",
    )
    return {
        name: (tries, datetime.fromisoformat(at).replace(tzinfo=UTC)) for name, tries, at in rows
    }


def _time_passes(home: Home) -> None:
    """The held-back outputs' next try comes, as it would once the backoff has passed (the
    tests do not wait an hour)."""
    _ledger(home, "update outputs set next_try_at = '2000-01-01 00:00:00' where staged is not null")


def _told(home: Home, partner: str, name: str) -> list[str]:
    """The status codes a status flow tells its supplier, sorted."""
    tree = etree.parse(str(home.path / "outbox" / partner / name))
    return sorted(code.text for code in tree.iterfind(".//IdStatut"))


def _drop_in_order(home: Home) -> None:
    """FOUR01's UBL invoice becomes FL0000000001, FOUR02's three-invoice pivot FL0000000002."""
    first = home.drop(SUPPLIER_1, "a.xml", sample("ubl-invoice.xml"))
    second = home.drop(SUPPLIER_2, "pivot-multi.xml", sample("pivot-multi.xml"))
    os.utime(first, (1_700_000_000, 1_700_000_000))
    os.utime(second, (1_700_000_100, 1_700_000_100))


def _search(home: Home, *args: str) -> list[dict]:
    return json.loads(home.invoke("invoices", "search", "--json", *args).stdout)


@pytest.fixture
def planted(home: Home, tmp_path: Path) -> dict[str, Path]:
    """What the partners leave in their own outbox folders before the run."""
    outbox = home.path / "outbox"
    folder = outbox / RECIPIENT / "PIVOT_DEST01_FL0000000001_1.xml"
    folder.mkdir()
    (folder / "inside.txt").write_bytes(b"the recipient's own")
    pipe = outbox / RECIPIENT / "PIVOT_DEST01_FL0000000002_2.xml"
    os.mkfifo(pipe)
    big = outbox / RECIPIENT / "PIVOT_DEST01_FL0000000002_1.xml"
    with open(big, "wb") as handle:
        handle.truncate(BIG)
    elsewhere = tmp_path / "not-the-partners.txt"
    elsewhere.write_bytes(b"written by nobody but its owner")
    link = outbox / SUPPLIER_1 / "CR_FOUR01_FL0000000001.xml"
    link.symlink_to(elsewhere)
    return {"folder": folder, "pipe": pipe, "big": big, "link": link, "elsewhere": elsewhere}


def test_what_a_partner_plants_holds_back_its_own_outputs_only(
    home: Home, planted: dict[str, Path]
) -> None:
    _drop_in_order(home)

    run = run_once(home)

    assert run.code == 0, run.stderr
    flows = {f["number"]: f for f in json.loads(run.stdout)}
    # every flow integrated and answered: nothing a partner planted is an incident
    assert {n: f["status"] for n, f in flows.items()} == {
        "FL0000000001": "IN_INTEGRE",
        "FL0000000002": "IN_INTEGRE_PARTIEL",  # its third invoice's recipient is unknown
    }
    assert "CR_FOUR02_FL0000000002.xml" in home.outbox(SUPPLIER_2)
    # the big file was replaced by its pivot by a rename, never read; the pipe never opened
    assert run.peak_bytes < MEMORY_LIMIT, run.peak_bytes
    big = planted["big"]
    assert big.stat().st_size < 100_000 and b"<CPPFacturePivot" in big.read_bytes()
    # the folder, the pipe and the link are as their partners left them; the link's
    # target outside the partner's folder untouched
    assert (planted["folder"] / "inside.txt").read_bytes() == b"the recipient's own"
    assert planted["pipe"].is_fifo()
    assert planted["link"].is_symlink()
    assert planted["elsewhere"].read_bytes() == b"written by nobody but its owner"
    # each held-back output is reported: in the log, by flows show, and its invoice by
    # invoices search --delivery-incident
    assert _held_back(run) == 3, run.stderr
    held = {
        o["file_name"]: o
        for number in flows
        for o in home.show(number)["outputs"]
        if o["delivered_at"] is None
    }
    assert sorted(held) == [
        "CR_FOUR01_FL0000000001.xml",
        "PIVOT_DEST01_FL0000000001_1.xml",
        "PIVOT_DEST01_FL0000000002_2.xml",
    ]
    assert "taken by a folder" in held["PIVOT_DEST01_FL0000000001_1.xml"]["delivery_error"]
    assert "taken by a named pipe" in held["PIVOT_DEST01_FL0000000002_2.xml"]["delivery_error"]
    assert "taken by a symbolic link" in held["CR_FOUR01_FL0000000001.xml"]["delivery_error"]
    # marked NP (not published), the engine's own marker, never a recipient's 94 or 95
    incidents = _search(home, "--delivery-incident")
    assert sorted((i["number"], i["status"], i["delivery_incident"]) for i in incidents) == [
        ("F01-2026-000101", "EN_COURS_ACHEMINEMENT", "NP"),  # FL0000000001_1's
        ("F02-2026-000503", "EN_COURS_ACHEMINEMENT", "NP"),  # FL0000000002_2's
    ]
    # never made available (03) in its history: it was not
    history = home.invoke("invoices", "show", str(incidents[0]["id"]), "--json").stdout
    assert [e["status_code"] for e in json.loads(history)["history"]] == ["01", "02"]
    # their suppliers are not told 03 before it is true
    home.invoke("statuses", "emit")
    assert _told(home, SUPPLIER_1, "STATUT_FOUR01_1.xml") == ["01", "02"]
    assert _told(home, SUPPLIER_2, "STATUT_FOUR02_1.xml") == ["01", "01", "02", "02", "03"]
    # an operator cannot deliver it a second time while it waits
    refused = home.invoke("invoices", "redeliver", str(incidents[0]["id"]), code=1)
    assert "not published yet" in refused.stderr

    # tried again later, waiting longer each time: a run before then does not look at them
    assert {name: tries for name, (tries, _) in _held(home).items()} == dict.fromkeys(held, 1)
    quiet = run_once(home)
    assert quiet.code == 0 and _held_back(quiet) == 0 and _summaries(quiet) == [], quiet.stderr
    assert {name: tries for name, (tries, _) in _held(home).items()} == dict.fromkeys(held, 1)
    # once due, tried again: no line per output any more, one per partner
    _time_passes(home)
    before = datetime.now(UTC)
    again = run_once(home)
    after = datetime.now(UTC)
    assert again.code == 0 and _held_back(again) == 0, again.stderr
    summaries = _summaries(again)
    assert len(summaries) == 2, again.stderr
    assert [RECIPIENT in line for line in summaries].count(True) == 1
    assert any("2 output(s) held back" in line for line in summaries)
    for tries, next_try in _held(home).values():  # the second wait is twice the first
        assert tries == 2 and before + timedelta(minutes=2) <= next_try
        assert next_try <= after + timedelta(minutes=2, seconds=1)
    planted["pipe"].unlink()
    planted["link"].unlink()
    (planted["folder"] / "inside.txt").unlink()
    planted["folder"].rmdir()

    _time_passes(home)
    freed = run_once(home)

    assert freed.code == 0 and _held_back(freed) == 0, freed.stderr
    assert _search(home, "--delivery-incident") == []
    statuses = {i["number"]: i["status"] for i in _search(home)}
    assert statuses == {
        "F01-2026-000101": "MISE_A_DISPOSITION",
        "F02-2026-000502": "MISE_A_DISPOSITION",
        "F02-2026-000503": "MISE_A_DISPOSITION",
        "F02-2026-000504": "REFUSEE_RECEPTION",
    }
    assert home.outbox(RECIPIENT) == [
        "PIVOT_DEST01_FL0000000001_1.xml",
        "PIVOT_DEST01_FL0000000002_1.xml",
        "PIVOT_DEST01_FL0000000002_2.xml",
    ]
    assert (home.path / "outbox" / SUPPLIER_1 / "CR_FOUR01_FL0000000001.xml").is_file()
    home.invoke("statuses", "emit")  # now it is
    assert _told(home, SUPPLIER_1, "STATUT_FOUR01_2.xml") == ["03"]
    assert _told(home, SUPPLIER_2, "STATUT_FOUR02_2.xml") == ["03"]
    for number in flows:
        outputs = home.show(number)["outputs"]
        assert all(o["delivered_at"] and not o["delivery_error"] for o in outputs), outputs


def _rerun(home: Home) -> None:
    """A forced re-run in a process of its own: what it holds back is then another run's
    to publish."""
    rerun = subprocess.run(
        [sys.executable, "-m", "cli", "--home", str(home.path), "flows", "rerun",
         "FL0000000001", "--force", "--reason", "planted"],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr


def test_a_folder_under_the_kept_cr_name_holds_back_the_new_cr_and_loses_neither(
    home: Home,
) -> None:
    """A re-run keeps the earlier CR as CR_<P>_<FLOW>_1.xml by renaming it when the new CR
    is published: a folder the depositor left under that name holds the new CR back, and
    the first stays where it is, whole, until the name is free. A third attempt meanwhile
    keeps the second's CR, never published, as CR_<P>_<FLOW>_2.xml."""
    home.drop(SUPPLIER_1, "a.xml", sample("ubl-invoice.xml"))
    assert run_once(home).code == 0
    folder = home.path / "outbox" / SUPPLIER_1
    cr, kept = "CR_FOUR01_FL0000000001.xml", "CR_FOUR01_FL0000000001_1.xml"
    first_cr = (folder / cr).read_bytes()
    (folder / kept).mkdir()

    _rerun(home)

    assert (folder / cr).read_bytes() == first_cr  # the partner has not lost it
    outputs = {o["file_name"]: o for o in home.show("FL0000000001")["outputs"]}
    assert (
        "FOUR01/CR_FOUR01_FL0000000001_1.xml is taken by a folder"
        in (outputs[cr]["delivery_error"])
    )
    assert outputs[cr]["delivered_at"] is None

    _rerun(home)  # the second attempt's CR, held back, is kept as the third's is written

    assert (folder / cr).read_bytes() == first_cr
    (folder / kept).rmdir()
    _time_passes(home)
    assert run_once(home).code == 0

    names = [cr, kept, "CR_FOUR01_FL0000000001_2.xml"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    contents = [(folder / name).read_bytes() for name in names]
    assert contents[1] == first_cr and first_cr not in (contents[0], contents[2])
    assert [a["cr"] for a in home.show("FL0000000001")["attempts"]] == [names[1], names[2], cr]
    outputs = home.show("FL0000000001")["outputs"]
    assert all(o["delivered_at"] and not o["delivery_error"] for o in outputs), outputs


def test_a_ledger_holding_an_output_back_is_not_downgraded_until_it_is_published(
    home: Home,
) -> None:
    """Below 0013 nothing would ever publish a staged output: the downgrade refuses while
    one waits, names what to do, and goes through once it is published."""
    from alembic import command

    from edi_engine.ledger import db

    planted = home.path / "outbox" / RECIPIENT / "PIVOT_DEST01_FL0000000001_1.xml"
    planted.mkdir()
    home.drop(SUPPLIER_1, "a.xml", sample("ubl-invoice.xml"))
    assert run_once(home).code == 0
    url = f"sqlite:///{home.path / 'ledger.db'}"

    # to 0013 first: on SQLite a refusal in the middle of a longer downgrade leaves the
    # steps before it done (their DDL is not transactional) while alembic_version is not
    command.downgrade(db.alembic_config(url), "0013")
    with pytest.raises(RuntimeError, match=r"1 output\(s\) are staged .* run --once"):
        command.downgrade(db.alembic_config(url), "0012")
    db.migrate(url)

    planted.rmdir()
    _time_passes(home)
    assert run_once(home).code == 0
    command.downgrade(db.alembic_config(url), "0012")
    db.migrate(url)
    (output,) = [o for o in home.show("FL0000000001")["outputs"] if o["kind"] == "PIVOT"]
    assert output["delivered_at"] and home.outbox(RECIPIENT) == [planted.name]


def test_a_run_logs_and_tries_a_bounded_number_of_held_back_outputs(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many names a recipient plants, a run logs a line per output only for the
    first few it holds back, then one line for its partner, and tries a bounded number
    again (the bounds made small here: 1 and 1)."""
    from edi_engine.delivery import publication

    outbox = home.path / "outbox" / RECIPIENT
    for n in (1, 2):
        (outbox / f"PIVOT_DEST01_FL0000000001_{n}.xml").mkdir()
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample("pivot-multi.xml"))
    monkeypatch.setattr(publication, "WARNED", 1)

    first = home.invoke("run", "--once")

    lines = first.stderr.splitlines()
    assert sum("not published:" in line for line in lines) == 1, first.stderr
    (summary,) = [line for line in lines if "output(s) held back by" in line]
    assert "1 output(s) held back" in summary and "1 for the first time" in summary
    assert sorted(tries for tries, _ in _held(home).values()) == [1, 1]

    _time_passes(home)
    monkeypatch.setattr(publication, "PER_FINISH", 1)
    again = home.invoke("run", "--once")

    assert "not published:" not in again.stderr
    assert sorted(tries for tries, _ in _held(home).values()) == [1, 2]  # one tried, not both
