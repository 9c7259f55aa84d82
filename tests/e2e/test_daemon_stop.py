"""A daemon told to stop (SIGTERM) as it starts stops cleanly: its scheduler's jobs may
already be running then, and a running job always finishes.

Found by the crash harness (tests/crash/): a daemon sent SIGTERM a moment after its
start died of it (exit -15), its scheduler started and the handler that stops it cleanly
not yet installed."""

from __future__ import annotations

import signal
import subprocess

import paused_workers
import pytest
from paused_workers import ended, program, reached, start

from .conftest import Home

started = pytest.fixture(paused_workers.started)

# `run --daemon` paused once its scheduler has started, before it processes anything
STOPPED_AS_IT_STARTS = program(
    """
from jobs import schedule

schedule.start = after(schedule.start, "scheduler started")
"""
)


def test_a_daemon_stopped_as_its_scheduler_starts_stops_cleanly(
    home: Home, started: list[subprocess.Popen]
) -> None:
    daemon = start(
        STOPPED_AS_IT_STARTS, "", "--home", str(home.path), "run", "--daemon", started=started
    )
    reached(daemon, "scheduler started")
    daemon.send_signal(signal.SIGTERM)  # the operator stops it (systemd, a deployment)
    code, _, err = ended(daemon, "go\n")
    assert code == 0, err  # stopped by its own hand: its jobs finished, nothing cut short
