"""The scheduler while the ledger cannot be reached (its PostgreSQL server stopped or
restarting, the network cut): an operator's log says so once, in one line, and once when
it is back; the daemon goes on and tries again every poll. Left to APScheduler, each
poll of an outage logged a traceback (the sync job) and a warning (its job store)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from edi_engine.ledger import db

log = logging.getLogger("edi_engine.jobs")

STORE_FAILED = "Error getting due jobs from job store"  # APScheduler 3's warning, each poll


def unreachable(exc: BaseException | None) -> DBAPIError | None:
    """The database error under `exc` that says the ledger is gone or busy, if any."""
    while exc is not None:
        if isinstance(exc, OperationalError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        ):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


class Outage:
    """Whether the ledger was lost at the last try; each change told once."""

    def __init__(self, poll: float) -> None:
        self.poll = poll
        self.down = False
        self._lock = threading.Lock()  # the sync job, the jobs and the scheduler's thread

    def lost(self, exc: DBAPIError) -> None:
        with self._lock:
            told, self.down = self.down, True
        if not told:  # the driver's message on one line: a host and a port, no password
            log.error(
                "the ledger cannot be reached (%s): the scheduled jobs wait; the daemon "
                "tries again every %gs",
                db.describe(exc),
                self.poll,
            )

    def back(self) -> None:
        with self._lock:
            told, self.down = self.down, False
        if told:
            log.info("the ledger can be reached again: the scheduled jobs go on")


class SchedulerLog(logging.LoggerAdapter):
    """APScheduler's own logger, but its job store's failure at each poll while the
    ledger cannot be reached goes to the outage, said once."""

    def __init__(self, outage: Outage) -> None:
        super().__init__(logging.getLogger("apscheduler.scheduler"))
        self.outage = outage

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(msg, str) and msg.startswith(STORE_FAILED) and args:
            found = unreachable(args[-1])
            if found is not None:
                self.outage.lost(found)
                return
        super().log(level, msg, *args, **kwargs)
