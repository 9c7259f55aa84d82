"""The daemon outlives a failing run and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from edi_engine.ledger.db import LedgerError
from edi_engine.processing import runner
from edi_engine.settings import ProcessingSettings, Settings


def test_daemon_retries_after_an_engine_error_and_stops_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path, processing=ProcessingSettings(daemon_poll_seconds=0.01))
    (tmp_path / "inbox").mkdir()
    calls: list[int] = []
    reports: list[runner.RunReport] = []

    def run_once(_settings, should_stop, ready=(), pool=None):
        calls.append(1)
        if len(calls) == 1:
            raise LedgerError("The ledger failed: the ledger is busy")
        os.kill(os.getpid(), signal.SIGTERM)  # the operator stops the daemon
        return runner.RunReport(received=1, processed=["FL0000000001"])

    monkeypatch.setattr(runner, "run_once", run_once)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        runner.run_daemon(settings, reports.append)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert len(calls) == 2
    assert [r.processed for r in reports] == [["FL0000000001"]]
