"""One structured log line per event (issue 7, item 6): JSON when stderr is not a
terminal, sentences on one; --verbose and --quiet."""

from __future__ import annotations

import io
import json
import logging

import pytest

from edi_engine import logs
from edi_engine.processing import pipeline

from .conftest import SUPPLIER_1, Home


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_verbose_logs_one_json_line_per_flow(home: Home) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "b.xml", sample="ubl-inactive.xml")
    result = home.invoke("--verbose", "run", "--once", "--json")
    flows = {f["number"]: f["status"] for f in json.loads(result.stdout)}
    events = [e for e in _json_lines(result.stderr) if "flow" in e]
    assert {(e["flow"], e["partner"], e["outcome"]) for e in events} == {
        (number, SUPPLIER_1, status) for number, status in flows.items()
    }
    assert all(e["level"] == "info" and e["at"] and e["message"] for e in events)


def test_by_default_and_quiet_nothing_but_problems(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    assert _json_lines(home.invoke("run", "--once").stderr) == []

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline, "_take_flow", broken)
    home.drop(SUPPLIER_1, "b.xml", sample="ubl-creditnote.xml")
    result = home.invoke("--quiet", "run", "--once", code=3)
    (error,) = _json_lines(result.stderr)
    assert (error["level"], error["outcome"], error["partner"]) == (
        "error",
        "IN_INCIDENTE",
        SUPPLIER_1,
    )
    assert "RuntimeError: a bug" in error["traceback"]


def test_verbose_and_quiet_together_is_a_usage_error(home: Home) -> None:
    result = home.invoke("--verbose", "--quiet", "flows", "list", code=2)
    assert "at most one of --verbose and --quiet" in result.stderr


def test_a_terminal_gets_sentences() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    logs.configure(logging.INFO, stream)
    try:
        logging.getLogger("edi_engine.processing.runner").info(
            "flow %s processed", "FL1", extra={"flow": "FL1", "partner": "P", "outcome": "X"}
        )
    finally:
        logs.configure(logging.WARNING)
    assert stream.getvalue() == "edi-engine: flow FL1 processed\n"
