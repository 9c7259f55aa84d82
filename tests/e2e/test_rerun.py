"""Operators re-run flows from their archived original (issue 7, item 1), through the CLI:
refused when done unless forced, nothing duplicated, every re-run in the history, and
transient failures retried on their own while bad input is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from edi_engine.processing import pipeline

from .conftest import HAUT_VERNAY, RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home


def _rerun(home: Home, *args: str, code: int = 0) -> list[dict]:
    return json.loads(home.invoke("flows", "rerun", *args, "--json", code=code).stdout)


def _invoices(home: Home) -> list[dict]:
    return json.loads(home.invoke("invoices", "search", "--json").stdout)


def test_a_flow_that_ended_in_integre_is_refused_unless_forced(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "marie.dupont")
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    number = flow["number"]
    (invoice,) = _invoices(home)
    home.invoke("invoices", "set-status", invoice["id"], "SERVICE_FAIT")
    home.invoke("statuses", "emit")
    outboxes = (home.outbox(SUPPLIER_1), home.outbox(RECIPIENT))

    (refused,) = _rerun(home, number, code=1)
    assert refused["after"] is None and "--force" in refused["why"]

    (forced,) = _rerun(home, number, "--force", "--reason", "pivots lost by DEST01")
    assert (forced["before"], forced["after"]) == ("IN_INTEGRE", "IN_INTEGRE")
    # the same names, and the first attempt's CR kept beside the new one
    assert home.outbox(SUPPLIER_1) == sorted([*outboxes[0], f"CR_FOUR01_{number}_1.xml"])
    assert home.outbox(RECIPIENT) == outboxes[1]
    (again,) = _invoices(home)
    assert (again["id"], again["status"]) == (invoice["id"], "SERVICE_FAIT")  # not duplicated
    assert json.loads(home.invoke("statuses", "emit", "--json").stdout) == []  # nothing resent
    event = home.show(number)["events"][-2]
    assert event["actor"] == "operator:marie.dupont"
    assert event["detail"] == "re-run (forced): pivots lost by DEST01"


def test_a_rejected_flow_rerun_after_the_referential_is_fixed(home: Home, tmp_path: Path) -> None:
    home.drop(SUPPLIER_1, "inactive.xml", sample="ubl-inactive.xml")
    (flow,) = home.run()
    assert flow["status"] == "IN_REJETE"
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(f"siret,designation,active,partner\n{HAUT_VERNAY},Syndicat,true,{RECIPIENT}\n")
    home.invoke("structures", "import", fixed)

    (done,) = _rerun(home, flow["number"], "--reason", "structure activated")
    assert done["after"] == "IN_INTEGRE"
    (invoice,) = _invoices(home)
    assert invoice["status"] == "MISE_A_DISPOSITION" and invoice["errors"] == []
    assert home.outbox(RECIPIENT) == [f"PIVOT_DEST01_{flow['number']}_1.xml"]


def test_a_partial_flow_rerun_keeps_its_delivered_invoices(home: Home) -> None:
    home.drop(SUPPLIER_2, "pivot.xml", sample="pivot-multi.xml")
    (flow,) = home.run()
    before = {i["number"]: i["id"] for i in _invoices(home)}
    (done,) = _rerun(home, flow["number"])
    assert done["after"] == "IN_INTEGRE_PARTIEL"
    # the one refused again is the same invoice at the same place: it keeps its id too
    assert {i["number"]: i["id"] for i in _invoices(home)} == before


def test_a_failed_flow_is_rerun_after_the_failure_is_fixed(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in this version")

    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    with monkeypatch.context() as patched:
        patched.setattr(pipeline, "_take_flow", broken)
        result = home.invoke("run", "--once", "--json", code=3)
    (flow,) = json.loads(result.stdout)
    assert flow["status"] == "IN_INCIDENTE"  # a bug is not retried by itself

    (planned,) = _rerun(home, "--status", "IN_INCIDENTE", "--dry-run")
    assert planned["why"] == "would be re-run (dry run)"
    assert home.show(flow["number"])["status"] == "IN_INCIDENTE"
    (done,) = _rerun(home, "--status", "IN_INCIDENTE", "--partner", SUPPLIER_1,
                     "--since", "2000-01-01", "--reason", "fixed in 1.1")  # fmt: skip
    assert done["after"] == "IN_INTEGRE"
    assert _rerun(home, "--status", "IN_INCIDENTE") == []


def test_a_transient_failure_is_retried_until_the_limit(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_RETRY_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_RETRY_ATTEMPTS", "3")
    failures = []
    real = pipeline._take_flow

    def busy(run: pipeline.FlowRun, *args: object) -> None:
        if len(failures) < 1:
            failures.append(1)
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real(run, *args)

    monkeypatch.setattr(pipeline, "_take_flow", busy)
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    result = home.invoke("run", "--once", "--json", code=None)
    # retried within the same run once the (zero) wait has passed
    assert result.exit_code == 0, result.stderr
    (flow,) = json.loads(result.stdout)
    assert flow["status"] == "IN_INTEGRE"
    details = [e["detail"] for e in home.show(flow["number"])["events"]]
    assert any(d.startswith("transient failure 1") for d in details)

    def always_busy(*_args: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(pipeline, "_take_flow", always_busy)
    home.drop(SUPPLIER_1, "other.xml", sample="ubl-creditnote.xml")
    result = home.invoke("run", "--once", "--json", code=3)
    (flow,) = json.loads(result.stdout)
    assert flow["status"] == "IN_INCIDENTE"
    details = [e["detail"] for e in home.show(flow["number"])["events"]]
    assert sum(d.startswith("transient failure") for d in details) == 2  # then the third
    assert details[-1].startswith("technical failure")


def test_usage_errors(home: Home) -> None:
    assert "NUMBERs, or --status" in home.invoke("flows", "rerun", code=2).stderr
    both = home.invoke("flows", "rerun", "FL1", "--status", "IN_REJETE", code=2)
    assert "NUMBERs, or --status" in both.stderr
    unknown = home.invoke("flows", "rerun", "FL9999999999", code=1)
    assert "No flow has the number FL9999999999" in unknown.stderr


def test_a_forced_rerun_writes_a_lost_pivot_again_under_its_name(home: Home) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    pivot = home.path / "outbox" / RECIPIENT / f"PIVOT_DEST01_{flow['number']}_1.xml"
    first = pivot.read_bytes()
    pivot.unlink()  # lost downstream
    (done,) = _rerun(home, flow["number"], "--force", "--reason", "pivots lost by DEST01")
    assert done["after"] == "IN_INTEGRE"
    assert pivot.read_bytes() == first  # the same pivot (same day, same envelope)
    (invoice,) = _invoices(home)
    shown = json.loads(home.invoke("invoices", "show", invoice["id"], "--json").stdout)
    assert [h["status_code"] for h in shown["history"]] == ["01", "02", "03"]  # no new event


def test_a_failed_rerun_leaves_the_cr_already_delivered_in_place(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    cr = home.path / "outbox" / SUPPLIER_1 / f"CR_FOUR01_{flow['number']}.xml"
    delivered = cr.read_bytes()
    real = pipeline._finish

    def fails_after_writing(run: pipeline.FlowRun) -> None:
        real(run)  # the CR is written again...
        raise RuntimeError("...and the commit never happens")

    monkeypatch.setattr(pipeline, "_finish", fails_after_writing)
    (done,) = _rerun(home, flow["number"], "--force", code=3)
    assert done["after"] == "IN_INCIDENTE"
    # what the failed attempt wrote is withdrawn; the incident is answered as attempt 2,
    # the CR delivered before kept as attempt 1's, as it was
    kept = cr.with_name(f"CR_FOUR01_{flow['number']}_1.xml")
    assert kept.read_bytes() == delivered
    assert b"<ComplementStatut>IN_INCIDENTE</ComplementStatut>" in cr.read_bytes()
    assert home.outbox(SUPPLIER_1) == sorted([kept.name, cr.name])


def test_a_flow_whose_original_is_missing_is_not_rerun(home: Home) -> None:
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    for original in (home.path / "archive").rglob("*"):
        if original.is_file():
            original.unlink()
    (refused,) = _rerun(home, flow["number"], "--force", code=1)
    assert "archived original" in refused["why"] and refused["after"] is None
    assert home.show(flow["number"])["status"] == "IN_INTEGRE"


def test_since_is_the_hubs_date(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    monkeypatch.setattr("edi_engine.clock.now", lambda: datetime(2026, 11, 14, 23, 30, tzinfo=UTC))
    home.drop(SUPPLIER_1, "inactive.xml", sample="ubl-inactive.xml")
    home.run()  # received at 00:30 on 15 November in Paris
    (found,) = _rerun(home, "--status", "IN_REJETE", "--since", "2026-11-15", "--dry-run")
    assert found["why"] == "would be re-run (dry run)"
