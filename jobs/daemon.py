"""`edi-engine run --daemon`: flows taken continuously in the main thread (inotify and a
periodic scan, edi_engine.processing.runner), scheduled jobs in the background (jobs.schedule)."""

from __future__ import annotations

from collections.abc import Callable

from edi_engine.processing import runner
from edi_engine.settings import Settings

from . import schedule


def run(
    settings: Settings, on_report: Callable[[runner.RunReport], None], workers: int = 1
) -> None:
    """Until SIGTERM or SIGINT: the current flow finishes, running jobs finish, then stop.
    `workers`: processes that read and validate flows for it (edi_engine/processing/preparing.py)."""
    stop = runner.stop_on_signals()  # before the jobs start: a signal never cuts one short
    scheduler = schedule.start(settings)
    try:
        runner.run_daemon(settings, on_report, workers, stop)
    finally:
        scheduler.shutdown(wait=True)
