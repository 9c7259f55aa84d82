"""Nothing is lost: an input leaves its inbox only once archived and recorded."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from edi_engine.reception import archive

from .conftest import RECIPIENT, SUPPLIER_1, Home


def test_failed_commit_after_archiving_leaves_the_file_in_its_inbox(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    archive_dir = home.path / "archive"
    real_commit = Session.commit

    def commit_fails_once_archived(self: Session) -> None:
        if any(p.is_file() for p in archive_dir.rglob("*")):
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))
        real_commit(self)

    monkeypatch.setattr(Session, "commit", commit_fails_once_archived)
    result = home.invoke("run", "--once", code=3)
    monkeypatch.undo()

    assert "disk I/O error" in result.stderr
    assert dropped.exists()
    assert any(p.is_file() for p in archive_dir.rglob("*"))  # the copy was made first
    assert json.loads(home.invoke("flows", "list", "--json").stdout) == []

    # taken again next time, once and only once
    home.invoke("run", "--once")
    assert not dropped.exists()
    assert len(json.loads(home.invoke("flows", "list", "--json").stdout)) == 1


def test_failed_archive_leaves_the_file_in_its_inbox(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive.os, "fsync", disk_full)
    monkeypatch.setattr(archive.durable, "sync", disk_full)  # a batch's barrier (syncfs)
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "true")
    result = home.invoke("run", "--once", code=3)
    assert "Cannot archive" in result.stderr and "No space left" in result.stderr
    assert dropped.exists()


def test_technical_failure_withdraws_its_outputs_and_the_run_goes_on(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "b.xml", sample="ubl-creditnote.xml")
    from edi_engine.processing import report

    real = report.integration_report
    calls = []

    def cr_fails_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:  # the pivot of a.xml is written by then
            raise RuntimeError("bug in the CR")
        return real(*args, **kwargs)

    monkeypatch.setattr("edi_engine.processing.pipeline.report.integration_report", cr_fails_once)
    result = home.invoke("run", "--once", "--json", code=3)

    flows = {f["file_name"]: f for f in json.loads(result.stdout)}
    assert flows["a.xml"]["status"] == "IN_INCIDENTE"
    assert flows["b.xml"]["status"] == "IN_INTEGRE"
    detail = home.show(flows["a.xml"]["number"])
    assert detail["events"][-1]["status"] == "IN_INCIDENTE"
    assert "bug in the CR" in detail["events"][-1]["detail"]
    number_a, number_b = flows["a.xml"]["number"], flows["b.xml"]["number"]
    # its pivot withdrawn; only the CR that asks its depositor to send it again
    incident_cr = f"CR_{SUPPLIER_1}_{number_a}.xml"
    assert [o["file_name"] for o in detail["outputs"]] == [incident_cr]
    assert detail["invoice_list"] == []
    # nothing on disk that the ledger does not know: b.xml's pivot and CR, a.xml's CR
    assert not any(number_a in name for name in home.outbox(RECIPIENT))
    assert [name for name in home.outbox(SUPPLIER_1) if number_a in name] == [incident_cr]
    assert home.outbox(RECIPIENT) == [f"PIVOT_{RECIPIENT}_{number_b}_1.xml"]


def test_a_file_recorded_but_not_acknowledged_is_not_taken_twice(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")

    def crash(_path, _fsync=True) -> None:
        raise RuntimeError("power cut between commit and acknowledgement")

    monkeypatch.setattr("connectors.local.acknowledge", crash)
    home.invoke("run", "--once", code=3)
    monkeypatch.undo()
    assert dropped.exists()
    (recorded,) = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert recorded["status"] == "IN_RECU"

    home.invoke("run", "--once")

    assert not dropped.exists()
    (flow,) = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert (flow["file_name"], flow["status"]) == ("ubl-invoice.xml", "IN_INTEGRE")


def test_two_processes_on_one_home_take_each_file_once(home: Home) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from .conftest import sample

    template = sample("ubl-invoice.xml").decode()
    for n in range(30):
        number = f"C-{n:06d}"
        home.drop(SUPPLIER_1, f"{number}.xml", template.replace("F01-2026-000101", number).encode())
    command = [sys.executable, "-m", "cli", "--home", str(home.path), "run", "--once", "--json"]
    repo = Path(__file__).resolve().parents[2]
    workers = [
        subprocess.Popen(
            command, cwd=repo, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]

    processed = [f["number"] for out, _ in outputs for f in json.loads(out)]
    assert len(processed) == 30 == len(set(processed))
    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert len(flows) == 30
    assert {f["status"] for f in flows} == {"IN_INTEGRE"}
    assert len(home.outbox("DEST01")) == 30
