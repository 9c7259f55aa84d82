"""Nothing is lost: an input leaves its inbox only once archived and recorded."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from edi_engine import archive

from .conftest import SUPPLIER_1, Home


def test_failed_commit_leaves_the_file_in_its_inbox(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")

    def database_gone(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Session, "commit", database_gone)
    result = home.invoke("run", "--once", code=3)
    monkeypatch.undo()

    assert "disk I/O error" in result.stderr or result.exception is not None
    assert dropped.exists()
    assert json.loads(home.invoke("flows", "list", "--json").stdout) == []

    # taken again next time, once and only once
    home.invoke("run", "--once")
    assert not dropped.exists()
    assert len(json.loads(home.invoke("flows", "list", "--json").stdout)) == 1


def test_failed_archive_leaves_the_file_in_its_inbox(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    monkeypatch.setattr(
        archive.os,
        "fsync",
        lambda _fd: (_ for _ in ()).throw(OSError(28, "No space left on device")),
    )
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "true")
    result = home.invoke("run", "--once", code=3)
    assert "Cannot archive" in result.stderr and "No space left" in result.stderr
    assert dropped.exists()


def test_technical_failure_marks_the_flow_and_the_run_goes_on(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "b.xml", sample="ubl-creditnote.xml")
    from edi_engine import routing

    real = routing.route
    calls = []

    def route_once_broken(invoice, structures):
        calls.append(invoice.number)
        if len(calls) == 1:
            raise RuntimeError("bug in routing")
        return real(invoice, structures)

    monkeypatch.setattr("edi_engine.pipeline.route", route_once_broken)
    result = home.invoke("run", "--once", "--json")

    flows = {f["file_name"]: f for f in json.loads(result.stdout)}
    assert flows["a.xml"]["status"] == "IN_INCIDENTE"
    assert flows["b.xml"]["status"] == "IN_INTEGRE"
    events = home.show(flows["a.xml"]["number"])["events"]
    assert events[-1]["status"] == "IN_INCIDENTE"
    assert "bug in routing" in events[-1]["detail"]


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
