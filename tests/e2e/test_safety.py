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
