"""Races an operator or a partner can start (issue 13, item 7), on the SQLite ledger, with
real processes: two re-runs of one flow, a purge racing a new file with the same bytes,
flow numbers after a purge, and a file uploaded again under the same name and time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from paused_workers import ended, program, reached, release, start, wait_while

from .conftest import SUPPLIER_1, Home, sample

OLD = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)

# "pause-rerun" stops a `flows rerun` once it has chosen its flows, "pause-intake" an
# intake once it has archived its batch (holding the archive's guard); "kill-acknowledging"
# dies (SIGKILL) when the intake removes its first inbox file
CHILD = program(
    """
import os, signal
from connectors import local
from edi_engine.reception import intake
from edi_engine.processing import rerun

if how == "pause-rerun":
    choose = rerun.rerun

    def chosen(*args, **kwargs):
        args[1].commit()  # chosen in a transaction that ends: read, as PostgreSQL does
        pause("chosen")
        return choose(*args, **kwargs)

    rerun.rerun = chosen
elif how == "pause-intake":
    intake._still_archived = after(intake._still_archived, "archived")
elif how == "kill-acknowledging":
    local.acknowledge = lambda path, fsync=True: os.kill(os.getpid(), signal.SIGKILL)
"""
)


def _child(home: Home, moment: datetime, how: str, *args: str) -> subprocess.Popen:
    return start(CHILD, how, "--home", str(home.path), *args, at=moment)


def _run(home: Home, moment: datetime, *args: str) -> tuple[int, str, str]:
    return ended(_child(home, moment, "plain", *args))


def _at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr("edi_engine.clock.now", lambda: moment)


def _flows(home: Home) -> list[dict]:
    return json.loads(home.invoke("flows", "list", "--json").stdout)


# -- two re-runs of one flow -------------------------------------------------------------


def test_two_reruns_of_one_flow_started_together_run_it_once(home: Home) -> None:
    home.drop(SUPPLIER_1, "inactive.xml", sample="ubl-inactive.xml")
    (flow,) = home.run()
    assert flow["status"] == "IN_REJETE"
    number = flow["number"]
    reruns = [
        _child(home, NOW, "pause-rerun", "flows", "rerun", number, "--reason", "race")
        for _ in range(2)
    ]
    for child in reruns:  # both have chosen the flow, IN_REJETE at its first attempt
        reached(child, "chosen")
    for child in reruns:
        release(child)
    results = [ended(child) for child in reruns]

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results  # one re-ran it; the other was refused (exit 1)
    (loser,) = [err for code, _, err in results if code == 1]
    assert f"Flow {number} was not re-run: another process took it meanwhile" in loser
    shown = home.show(number)
    assert shown["status"] == "IN_REJETE"  # never IN_INCIDENTE
    assert [a["attempt"] for a in shown["attempts"]] == [1, 2]
    reruns_asked = [e for e in shown["events"] if "re-run" in (e["detail"] or "")]
    assert len(reruns_asked) == 1


# -- flow numbers ------------------------------------------------------------------------


def test_flow_numbers_are_never_given_again_after_a_purge(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at(monkeypatch, OLD)
    home.drop(SUPPLIER_1, "first.xml", sample="ubl-invoice.xml")
    (first,) = home.run()
    assert first["number"] == "FL0000000001"
    _at(monkeypatch, NOW)
    monkeypatch.setenv("EDI_ENGINE_RETENTION_MONTHS", "1")
    assert json.loads(home.invoke("purge", "--json").stdout)["flows"] == 1
    assert _flows(home) == []

    home.drop(SUPPLIER_1, "second.xml", sample="ubl-invoice.xml")
    (second,) = home.run()

    assert second["number"] == "FL0000000002"
    assert second["status"] == "IN_INTEGRE"
    cr = home.path / "outbox" / SUPPLIER_1 / "CR_FOUR01_FL0000000002.xml"
    assert cr.is_file()


# -- a purge racing a new file with the same bytes ---------------------------------------


@pytest.fixture
def purgeable(home: Home, monkeypatch: pytest.MonkeyPatch) -> tuple[Home, Path]:
    """One old flow, due for purging; its archived original."""
    _at(monkeypatch, OLD)
    home.drop(SUPPLIER_1, "old.xml", sample="ubl-invoice.xml")
    (old,) = home.run()
    assert old["status"] == "IN_INTEGRE"
    monkeypatch.setenv("EDI_ENGINE_RETENTION_MONTHS", "1")
    (original,) = [p for p in (home.path / "archive").rglob("*") if p.is_file()]
    return home, original


def test_a_purge_keeps_the_original_of_a_flow_recorded_after_its_rows_went(
    purgeable: tuple[Home, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newcomer is committed between the purge's deletion and its removal of files."""
    home, original = purgeable
    from edi_engine.reception import originals

    real_guard = originals.guard

    def guard_after_a_deposit(settings, session):  # the purge's only call: before its files
        home.drop(SUPPLIER_1, "new.xml", sample="ubl-invoice.xml")
        done = _run(home, NOW, "run", "--once", "--json")
        assert done[0] == 0, done
        return real_guard(settings, session)

    monkeypatch.setattr(originals, "guard", guard_after_a_deposit)
    _at(monkeypatch, NOW)
    purged = json.loads(home.invoke("purge", "--json").stdout)

    assert purged["flows"] == 1
    assert original.is_file()  # the new flow's original
    (new,) = _flows(home)
    assert (new["file_name"], new["status"]) == ("new.xml", "IN_INTEGRE")
    monkeypatch.setattr(originals, "guard", real_guard)
    (rerun,) = json.loads(home.invoke("flows", "rerun", new["number"], "--force", "--json").stdout)
    assert rerun["after"] == "IN_INTEGRE"  # its original is there to process again


def test_a_purge_waits_for_an_intake_that_archived_the_same_bytes(
    purgeable: tuple[Home, Path],
) -> None:
    """The newcomer is archived (at the original's very path) before the purge looks, and
    committed after: the purge waits for the intake, then sees the new flow."""
    home, original = purgeable
    home.drop(SUPPLIER_1, "new.xml", sample="ubl-invoice.xml")
    intake = _child(home, NOW, "pause-intake", "run", "--once", "--json")
    reached(intake, "archived")
    purge = _child(home, NOW, "plain", "purge", "--json")
    # until its rows are deleted
    wait_while(lambda: any(f["file_name"] == "old.xml" for f in _flows(home)), purge)
    release(intake)
    taken, purged = ended(intake), ended(purge)
    assert taken[0] == 0 and purged[0] == 0, (taken, purged)

    assert original.is_file()
    (new,) = _flows(home)
    assert (new["file_name"], new["status"]) == ("new.xml", "IN_INTEGRE")
    assert json.loads(purged[1])["flows"] == 1


# -- the same name and time again --------------------------------------------------------


def test_a_file_uploaded_again_with_the_same_name_and_time_gets_a_flow_and_a_cr(
    home: Home,
) -> None:
    path = home.drop(SUPPLIER_1, "invoice.xml", sample="ubl-invoice.xml")
    mtime = path.stat().st_mtime_ns
    (first,) = home.run()
    assert first["status"] == "IN_INTEGRE"

    again = home.drop(SUPPLIER_1, "invoice.xml", sample="ubl-invoice.xml")
    os.utime(again, ns=(mtime, mtime))
    (second,) = home.run()

    assert not again.exists()
    assert second["number"] != first["number"]
    assert second["status"] == "IN_REJETE"
    shown = home.show(second["number"])
    assert [e["code"] for e in shown["errors"]] == ["DUPLICATE_FLOW"]
    assert (home.path / "outbox" / SUPPLIER_1 / f"CR_FOUR01_{second['number']}.xml").is_file()


def test_the_file_a_crash_left_after_recording_it_is_only_removed_then_a_new_upload_is_a_flow(
    home: Home,
) -> None:
    path = home.drop(SUPPLIER_1, "invoice.xml", sample="ubl-invoice.xml")
    mtime = path.stat().st_mtime_ns
    crashed = ended(_child(home, NOW, "kill-acknowledging", "run", "--once"))
    assert crashed[0] == -signal.SIGKILL, crashed
    assert path.exists()  # recorded and committed, not yet removed
    (recorded,) = _flows(home)

    flows = home.run()  # takes the flow it recorded, and meets its file again

    assert path.exists() is False
    assert [f["number"] for f in flows] == [recorded["number"]]
    assert [f["number"] for f in _flows(home)] == [recorded["number"]]

    # the same bytes under the same name and time, uploaded again: a deposit of its own
    again = home.drop(SUPPLIER_1, "invoice.xml", sample="ubl-invoice.xml")
    os.utime(again, ns=(mtime, mtime))
    (second,) = home.run()
    assert second["number"] != recorded["number"]
    assert [e["code"] for e in home.show(second["number"])["errors"]] == ["DUPLICATE_FLOW"]


def test_a_partner_rewriting_a_recorded_file_before_its_removal_gets_a_flow_for_it(
    home: Home,
) -> None:
    """A crash left the recorded file; the partner replaced it with other bytes under the
    same name: a new deposit, the recorded flow's source settled."""
    path = home.drop(SUPPLIER_1, "invoice.xml", sample="ubl-invoice.xml")
    crashed = ended(_child(home, NOW, "kill-acknowledging", "run", "--once"))
    assert crashed[0] == -signal.SIGKILL, crashed
    path.write_bytes(sample("ubl-creditnote.xml"))

    flows = home.run()

    assert not path.exists()
    assert sorted(f["file_name"] for f in _flows(home)) == ["invoice.xml", "invoice.xml"]
    assert {f["status"] for f in flows} == {"IN_INTEGRE"}
