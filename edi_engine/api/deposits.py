"""Deposits recorded in groups: each process hands the files it received to one thread,
which records every deposit waiting at that moment together (one sync barrier for their
archive copies, one commit: reception's intake.deposit), then answers each. A deposit
waits for no other to arrive: a lone one is recorded at once, and under load a group
forms by itself from those that arrived while the previous one was recorded, so that a
commit's fsync is shared instead of paid by each (docs/performance.md#the-api-channel)."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from pathlib import Path

from sqlalchemy import select

from ..ledger.models import Partner
from ..reception import intake
from .access import ApiError, Context

log = logging.getLogger(__name__)
MOST = 100  # deposits recorded together at most


class Depositor:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.waiting: queue.SimpleQueue[tuple[str, Path, Future[intake.Deposited]]] = (
            queue.SimpleQueue()
        )
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, partner: str, path: Path) -> Future[intake.Deposited]:
        """The deposit's flow, once committed; ApiError or EngineError when refused."""
        answer: Future[intake.Deposited] = Future()
        self.waiting.put((partner, path, answer))
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="api-deposits", daemon=True)
                self.thread.start()
        return answer

    def _loop(self) -> None:
        while True:
            group = [self.waiting.get()]
            while len(group) < MOST:
                try:
                    group.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                self._record(group)
            except BaseException as exc:  # each caller is told; the thread goes on
                log.exception("api: %d deposit(s) could not be recorded", len(group))
                for _, _, answer in group:
                    if not answer.done():
                        answer.set_exception(exc)

    def _record(self, group: list[tuple[str, Path, Future[intake.Deposited]]]) -> None:
        context = self.context
        with context.ledger() as session:  # read before the archive is written: no lock held
            codes = {partner for partner, _, _ in group}
            active = set(
                session.scalars(select(Partner.code).where(Partner.code.in_(codes), Partner.active))
            )
        taken = []
        for partner, path, answer in group:
            if partner in active:
                taken.append((partner, path, answer))
            else:
                answer.set_exception(
                    ApiError(
                        409,
                        "partner_inactive",
                        "Your partner account is inactive: the hub takes no flow from it.",
                    )
                )
        if not taken:
            return
        with context.ledger(write=True) as session:
            recorded = intake.deposit(
                context.settings, session, [(partner, path) for partner, path, _ in taken]
            )
        for _, path, answer in taken:
            if path in recorded:
                answer.set_result(recorded[path])
            else:  # the file is the process's own: only a fault of the engine's
                answer.set_exception(
                    ApiError(
                        503,
                        "engine_unavailable",
                        "The deposit could not be archived; send it again.",
                    )
                )
