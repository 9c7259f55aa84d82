"""Each API client's quotas, calls a second and a day (docs/api.md#quotas): past either,
429 with Retry-After. Counted across workers and hosts in the ledger's `api_usage` table,
one row per client and window (`s:` and the Unix second, `d:` and the hub's date).

A ledger write per call would cost more than the call, so each process counts in memory
and adds its calls to the ledger every INTERVAL, all clients in one statement, learning
the totals; a call is refused when the ledger's total as last learnt plus the calls not
yet added reach the limit. Near the end of a client's day (less than one second's rate
left), and when what the process knows of the client is older than FRESH, the call is
instead reserved in the ledger before it is served, atomically: the daily quota stays
exact across processes. The per-second rate may be passed across processes only by calls
the others served in the last FRESH + INTERVAL and had not yet written (docs/api.md)."""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .. import clock
from ..errors import EngineError
from ..ledger.models import ApiUsage
from ..partners import registry
from .access import ApiError, Context

log = logging.getLogger(__name__)

INTERVAL = 0.1  # seconds between a process's writes of the calls it counted
FRESH = 0.2  # past this age, what a process knows of a client is read again, by the call
LIMITS_SECONDS = 1.0  # a partner's quotas are read again past this age (`partners update`)
SWEEP_SECONDS = 10.0  # how often a process deletes past windows
SECONDS_KEPT = 10  # second windows older than this are deleted
ROWS_A_STATEMENT = 500  # well under SQLite's bound on a statement's parameters
RATE, DAILY = "rate_limited", "daily_quota_exceeded"


@dataclass
class Window:
    """A client's calls in one window, as this process knows them."""

    key: str = ""
    known: int = 0  # the ledger's total when last learnt (every process's calls)
    pending: int = 0  # this process's calls not yet added to the ledger

    def at(self, key: str) -> tuple[str, int]:
        """Move to the window `key`: the past one's key and calls not yet written, if any,
        which no longer matter here and are still to be written."""
        past = self.key, self.pending
        if key != self.key:
            self.key, self.known, self.pending = key, 0, 0
            return past
        return "", 0

    def used(self) -> int:
        return self.known + self.pending

    def learnt(self, key: str, total: int) -> None:
        if key == self.key:  # totals only grow: a later answer may come first
            self.known = max(self.known, total)


@dataclass
class Usage:
    second: Window = field(default_factory=Window)
    day: Window = field(default_factory=Window)
    synced: float = -math.inf  # time.monotonic() when the totals were last learnt
    reading: bool = False  # a call is reading them again: the others need not

    def windows(self) -> tuple[Window, Window]:
        return self.second, self.day


def second_key(now: float) -> str:
    return f"s:{int(now):010d}"


def day_key(day: date) -> str:
    return f"d:{day.isoformat()}"


def add(session: Session, counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Add calls to the ledger's counters, one upsert a statement for many (client, window)
    (in one order, so that two processes never wait for each other's rows crosswise);
    the totals after. The caller commits."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    totals: dict[tuple[str, str], int] = {}
    rows = [{"client_id": c, "window": w, "count": n} for (c, w), n in sorted(counts.items())]
    for start in range(0, len(rows), ROWS_A_STATEMENT):
        insert = dialect.insert(ApiUsage).values(rows[start : start + ROWS_A_STATEMENT])
        upsert = insert.on_conflict_do_update(
            index_elements=[ApiUsage.client_id, ApiUsage.window],
            set_={"count": ApiUsage.count + insert.excluded.count},
        ).returning(ApiUsage.client_id, ApiUsage.window, ApiUsage.count)
        totals.update({(c, w): n for c, w, n in session.execute(upsert)})
    return totals


def sweep(session: Session, now: float, today: date) -> None:
    """Delete the windows past: seconds older than SECONDS_KEPT, days before yesterday
    (a host whose clock is a little behind may still count yesterday's)."""
    yesterday = today - timedelta(days=1)
    for prefix, oldest in (("s:", second_key(now - SECONDS_KEPT)), ("d:", day_key(yesterday))):
        window = ApiUsage.window
        session.execute(delete(ApiUsage).where(window.startswith(prefix), window < oldest))


class Quotas:
    """One process's counters of every client's calls, written to the ledger every
    INTERVAL by a thread of its own (started with the first call, stopped by `close`)."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.zone = context.settings.zone
        self._lock = threading.Lock()
        self._usage: dict[str, Usage] = {}
        self._past: dict[tuple[str, str], int] = {}  # calls of windows past, to be written
        self._limits: dict[str, tuple[float, tuple[int, int]]] = {}
        self._stopped = threading.Event()
        self._writer: threading.Thread | None = None
        self._swept = time.monotonic()
        self._failing = False

    def take(self, client_id: str, partner: str) -> None:
        """Count one call of the client, or refuse it (429 with Retry-After) when it has
        made its calls of this second or of this day."""
        rate, daily = self._limits_of(partner)
        with self._lock:  # the time read under the lock: windows only move forward
            now = time.time()
            self._start()
            usage = self._usage.setdefault(client_id, Usage())
            for window, key in (
                (usage.second, second_key(now)),
                (usage.day, day_key(self._day(now))),
            ):
                self._later(client_id, *window.at(key))
            self._refuse_past(usage, rate, daily, now)
            near = daily - usage.day.used() <= rate
            stale = time.monotonic() - usage.synced >= FRESH and not usage.reading
            if not (near or stale):
                usage.second.pending += 1
                usage.day.pending += 1
                return
            usage.reading = True
            keys = usage.second.key, usage.day.key
            counts = self._taken(client_id, usage)
        try:
            self._reserve(client_id, keys, counts, (rate, daily), now)
        finally:
            with self._lock:
                usage.reading = False

    def _day(self, now: float) -> date:
        return clock.local_date(datetime.fromtimestamp(now, UTC), self.zone)

    def _refuse_past(self, usage: Usage, rate: int, daily: int, now: float) -> None:
        """Refuse, by what is known, a call past a quota (totals only grow in a window)."""
        if usage.day.used() >= daily:
            raise self._refusal(DAILY, daily, now)
        if usage.second.used() >= rate:
            raise self._refusal(RATE, rate, now)

    def _refusal(self, code: str, limit: int, now: float) -> ApiError:
        if code == RATE:
            wait = 1  # the next second starts in less than one
            said = f"This client may make {limit} calls a second: try again in {wait} s."
        else:
            today = self._day(now)
            midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), self.zone)
            wait = max(1, math.ceil(midnight.timestamp() - now))
            said = (
                f"This client may make {limit} calls a day, all made today: try again "
                f"at midnight ({self.zone.key}), in {wait} s."
            )
        return ApiError(429, code, said, {"Retry-After": str(wait)})

    def _taken(self, client_id: str, usage: Usage) -> dict[tuple[str, str], int]:
        """The client's calls not yet written, handed over to be written (under the lock)."""
        counts = {(client_id, w.key): w.pending for w in usage.windows()}
        usage.second.pending = usage.day.pending = 0
        return counts

    def _give_back(self, counts: dict[tuple[str, str], int]) -> None:
        """Calls that could not be written, to be written with the next ones (under the lock)."""
        for (client_id, key), count in counts.items():
            now = [w for w in self._usage[client_id].windows() if w.key == key]
            if now:
                now[0].pending += count
            else:
                self._later(client_id, key, count)

    def _later(self, client_id: str, key: str, count: int) -> None:
        """Calls of a window past, written with the next flush (under the lock)."""
        if count:
            self._past[(client_id, key)] = self._past.get((client_id, key), 0) + count

    def _reserve(
        self,
        client_id: str,
        keys: tuple[str, str],
        counts: dict[tuple[str, str], int],
        limits: tuple[int, int],
        now: float,
    ) -> None:
        """Write the client's calls and this one at once, then serve it if neither total
        passes its limit, else take it back and refuse it: atomic, since the rows stay
        locked (PostgreSQL) or the ledger (SQLite) until the commit."""
        (second, day), (rate, daily) = keys, limits
        started = time.monotonic()
        refused = None
        try:
            with self.context.ledger(write=True) as session:
                totals = add(session, {key: count + 1 for key, count in counts.items()})
                if totals[(client_id, day)] > daily:
                    refused = self._refusal(DAILY, daily, now)
                elif totals[(client_id, second)] > rate:
                    refused = self._refusal(RATE, rate, now)
                if refused is not None:
                    session.execute(
                        update(ApiUsage)
                        .where(ApiUsage.client_id == client_id, ApiUsage.window.in_([second, day]))
                        .values(count=ApiUsage.count - 1)
                    )
                    totals = {key: total - 1 for key, total in totals.items()}
                session.commit()
        except BaseException:
            with self._lock:
                self._give_back(counts)
            raise
        with self._lock:
            usage = self._usage[client_id]
            for window in usage.windows():
                window.learnt(window.key, totals.get((client_id, window.key), 0))
            usage.synced = max(usage.synced, started)
        if refused is not None:
            raise refused

    def flush(self, sweeping: bool = True) -> None:
        """Write every client's calls not yet written, in one transaction, and learn their
        totals; now and then delete the windows past."""
        started = time.monotonic()
        with self._lock:
            counts, self._past = self._past, {}
            for client_id, usage in self._usage.items():
                if usage.second.pending or usage.day.pending:
                    # added, not replaced: a clock stepped back may make a window past the
                    # current one again, its calls in both
                    for key, count in self._taken(client_id, usage).items():
                        counts[key] = counts.get(key, 0) + count
        swept = sweeping and started - self._swept >= SWEEP_SECONDS
        if not counts and not swept:
            return
        try:
            with self.context.ledger(write=True) as session:
                totals = add(session, counts) if counts else {}
                if swept:
                    now = time.time()
                    today = self._day(now)
                    sweep(session, now, today)
                session.commit()
        except BaseException:
            with self._lock:
                self._give_back(counts)
            raise
        if swept:
            self._swept = started
        with self._lock:
            for (client_id, key), total in totals.items():
                usage = self._usage[client_id]
                for window in usage.windows():
                    window.learnt(key, total)
                if all((client_id, w.key) in totals for w in usage.windows()):
                    usage.synced = max(usage.synced, started)

    def _start(self) -> None:
        """The writer thread, with the first call (under the lock); what is left is written
        when the process ends (a worker too: uvicorn's end with sys.exit)."""
        if self._writer is None and not self._stopped.is_set():
            self._writer = threading.Thread(target=self._write, name="api-quotas", daemon=True)
            self._writer.start()
            atexit.register(self.close)

    def _write(self) -> None:
        while not self._stopped.wait(INTERVAL):
            self._flush_logged()

    def _flush_logged(self, sweeping: bool = True) -> None:
        """Flush; a ledger that fails is said once, and again once it answers (the writer
        thread goes on: the calls stay counted, to be written)."""
        try:
            self.flush(sweeping)
        except Exception as exc:
            if not self._failing:
                said = exc.headline if isinstance(exc, EngineError) else repr(exc)
                log.warning("api quotas: the calls counted cannot be written: %s", said)
            self._failing = True
        else:
            if self._failing:
                log.warning("api quotas: the calls counted are written again")
            self._failing = False

    def close(self) -> None:
        """Stop the writer and write what is left (a process that stops)."""
        self._stopped.set()
        if self._writer is not None:
            self._writer.join()
        self._flush_logged(sweeping=False)

    def _limits_of(self, partner: str) -> tuple[int, int]:
        """The partner's (per second, per day), read again past LIMITS_SECONDS."""
        now = time.monotonic()
        cached = self._limits.get(partner)
        if cached is not None and now - cached[0] < LIMITS_SECONDS:
            return cached[1]
        with self.context.ledger() as session:
            limits = registry.quotas(self.context.settings, registry.get(session, partner))
        self._limits[partner] = (now, limits)
        return limits
