"""Group commit (issue 14, item 2): the flows of a run are committed together, yet one
flow's technical failure costs only that flow, and a group whose commit fails loses
nothing and delivers nothing twice."""

from __future__ import annotations

import errno
import json
from collections import Counter
from pathlib import Path

import pytest

from connectors import durable
from edi_engine.processing import pipeline

from .conftest import RECIPIENT, SUPPLIER_1, Home, sample

BROKEN = "b-broken.xml"
INCIDENT_EXIT = 3  # run --once's exit when a flow ended IN_INCIDENTE


def ubl(number: str) -> bytes:
    return sample("ubl-invoice.xml").replace(b"F01-2026-000101", number.encode())


def _flows(home: Home) -> dict[str, dict]:
    return {f["file_name"]: f for f in json.loads(home.invoke("flows", "list", "--json").stdout)}


def _monthly(home: Home) -> Counter[str]:
    """The counters of the last twelve months, added up."""
    total: Counter[str] = Counter()
    for month in json.loads(home.invoke("stats", "monthly", "--json").stdout):
        total.update({key: value for key, value in month.items() if isinstance(value, int)})
    return total


def test_a_flow_that_fails_in_its_group_costs_only_itself(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of three flows fails after its pivot was staged: the two others are
    integrated and delivered, the broken one is left IN_INCIDENTE with the CR of its
    incident, its pivot never delivered, and the counters count what happened only."""
    take = pipeline._take_flow

    def breaks_after_staging(run: pipeline.FlowRun, *args: object) -> None:
        take(run, *args)
        if run.flow.file_name == BROKEN:
            raise RuntimeError("a bug after the pivot was staged")

    monkeypatch.setattr(pipeline, "_take_flow", breaks_after_staging)
    home.drop(SUPPLIER_1, "a.xml", ubl("G-1"))
    home.drop(SUPPLIER_1, BROKEN, ubl("G-2"))
    home.drop(SUPPLIER_1, "c.xml", ubl("G-3"))

    home.invoke("run", "--once", code=INCIDENT_EXIT)

    flows = _flows(home)
    assert {name: f["status"] for name, f in flows.items()} == {
        "a.xml": "IN_INTEGRE",
        BROKEN: "IN_INCIDENTE",
        "c.xml": "IN_INTEGRE",
    }
    numbers = {name: f["number"] for name, f in flows.items()}
    assert home.outbox(RECIPIENT) == sorted(
        f"PIVOT_{RECIPIENT}_{numbers[name]}_1.xml" for name in ("a.xml", "c.xml")
    )
    assert home.outbox(SUPPLIER_1) == sorted(f"CR_{SUPPLIER_1}_{n}.xml" for n in numbers.values())
    broken = home.show(numbers[BROKEN])
    assert "a bug after the pivot was staged" in json.dumps(broken["events"])
    invoices = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert sorted(i["number"] for i in invoices) == ["G-1", "G-3"]  # G-2 rolled back
    assert list((home.path / "run" / "outgoing").glob("*/*")) == []  # nothing left staged
    counted = _monthly(home)
    assert (counted["inbound_flows"], counted["invoices_accepted"]) == (3, 2)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_group_whose_commit_fails_is_processed_again_flow_by_flow(
    home: Home, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """The sync barrier before the group's commit fails once (the disk said EIO): nothing
    of the group is committed nor published; each flow is then processed alone (as its
    worker process prepared it, if any), and every invoice is delivered once."""
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "true")
    real_sync, calls = durable.sync, []

    def fails_once(files) -> None:
        files = [Path(path) for path in files]
        if any(home.path / "archive" in path.parents for path in files):
            return real_sync(files)  # the intake's barrier for its archive copies
        calls.append(len(files))
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")
        real_sync(files)

    monkeypatch.setattr(durable, "sync", fails_once)
    for n in range(3):
        home.drop(SUPPLIER_1, f"f{n}.xml", ubl(f"H-{n}"))

    home.invoke("run", "--once", "--workers", workers)

    flows = _flows(home)
    assert {f["status"] for f in flows.values()} == {"IN_INTEGRE"}
    assert calls[0] == 6  # the group's three pivots and three CRs, in one barrier
    assert len(calls) == 1 + 3  # then each flow alone
    numbers = sorted(f["number"] for f in flows.values())
    assert home.outbox(RECIPIENT) == [f"PIVOT_{RECIPIENT}_{n}_1.xml" for n in numbers]
    for number in numbers:
        assert len(home.show(number)["attempts"]) == 1  # answered once
    assert _monthly(home)["invoices_accepted"] == 3
