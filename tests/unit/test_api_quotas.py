"""An API client's quotas when the ledger fails (edi_engine/api/quotas.py, docs/api.md#quotas):
the calls counted are kept and written, each once, when the ledger answers again; the
writer says a failure once and its end once; a call the ledger cannot reserve is answered
503 and gives back the calls it carried; a refused call is never counted; calls of a
second already past are still written.

Real `Quotas` over a real SQLite ledger, made to fail for real from a connection of its
own, as another process could: `api_usage` renamed away (every write of a count fails:
no such table) and back, or a trigger refusing one client's rows. The module's constants
are set, never its code: for each test INTERVAL an hour, so that the writer thread never
flushes behind a test's back (the tests flush; one runs the writer at its pace), and FRESH
an hour, so that after a client's first call, which reads the ledger, its calls are
counted in memory until the test says otherwise (FRESH 0: every call is reserved in the
ledger); for one test ROWS_A_STATEMENT 2, so that two clients make two statements."""

from __future__ import annotations

import atexit
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import anyio
import httpx
import pytest
from fastapi import FastAPI

from edi_engine import settings
from edi_engine.api import quotas, tokens
from edi_engine.api.access import ApiError, Context
from edi_engine.api.app import create_app
from edi_engine.api.quotas import DAILY, RATE, Quotas
from edi_engine.errors import EngineError
from edi_engine.ledger import db
from edi_engine.partners import api_clients, registry
from edi_engine.settings import Settings

PARTNER = "FOUR01"
CLIENT = api_clients.PREFIX + "0123456789abcdef01234567"  # counted by its id alone
AWAY = "api_usage_away"  # where the counters' table is while the ledger fails
GONE = "no such table: api_usage"
CANNOT = "api quotas: the calls counted cannot be written"
AGAIN = "api quotas: the calls counted are written again"
DEADLINE = 10.0  # seconds a test waits for the writer thread; never a speed


@pytest.fixture(autouse=True)
def tests_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quotas, "INTERVAL", 3600.0)
    monkeypatch.setattr(quotas, "FRESH", 3600.0)


@dataclass
class Hub:
    """A home with its SQLite ledger and one partner, and the counters made on it."""

    settings: Settings
    made: list[Quotas] = field(default_factory=list)

    @property
    def ledger(self) -> Path:
        return self.settings.home / "ledger.db"

    def counters(self, rate: int = 1000, daily: int = 100_000) -> Quotas:
        """A process's counters, the partner's clients allowed `rate` calls a second and
        `daily` a day."""
        with db.session_scope(self.settings.database_url) as session:
            partner = registry.get(session, PARTNER)
            partner.api_rate, partner.api_daily = rate, daily
            session.commit()
        made = Quotas(Context(self.settings))
        self.made.append(made)
        return made

    def _sql(self, statement: str, *parameters: object) -> list[tuple]:
        with closing(sqlite3.connect(self.ledger, isolation_level=None, timeout=30)) as ledger:
            return ledger.execute(statement, parameters).fetchall()

    def fail(self) -> None:
        self._sql(f"ALTER TABLE api_usage RENAME TO {AWAY}")

    def mend(self) -> None:
        self._sql(f"ALTER TABLE {AWAY} RENAME TO api_usage")

    def rows(self, client: str = CLIENT, prefix: str = "s:") -> dict[str, int]:
        """The client's counts in the ledger, by window; read where the table is, so that
        what a failure wrote, if anything, is seen too."""
        (table,) = self._sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
            "api_usage",
            AWAY,
        )[0]
        found = self._sql(
            f"SELECT window, count FROM {table} WHERE client_id = ? AND window LIKE ?",
            client,
            prefix + "%",
        )
        return dict(found)

    def day(self, client: str = CLIENT) -> int:
        """The client's calls of the day in the ledger."""
        return sum(self.rows(client, "d:").values())

    def counted(self, client: str = CLIENT) -> int:
        """The client's calls of the day in the ledger, all this process's: its calls of
        every second add up to the same (a call is written to both windows together)."""
        seconds = self.rows(client, "s:")
        assert sum(seconds.values()) == self.day(client), seconds
        return self.day(client)

    def served_elsewhere(self, calls: int, client: str = CLIENT) -> None:
        """Calls of the client's day another worker served and wrote."""
        self._sql(
            "UPDATE api_usage SET count = count + ? WHERE client_id = ? AND window LIKE 'd:%'",
            calls,
            client,
        )


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.delenv("EDI_ENGINE_DATABASE_URL", raising=False)  # this test's SQLite file
    home = tmp_path / "home"
    home.mkdir()
    loaded = settings.load(home, require_file=False)
    db.migrate(loaded.database_url)
    with db.session_scope(loaded.database_url) as session:
        registry.add(loaded, session, PARTNER, "Fournisseur de test")
        session.commit()
    past_midnight_if_near(loaded)
    made = Hub(loaded)
    yield made
    for counters in made.made:  # the writer thread stopped, what is left written
        counters.close()
        atexit.unregister(counters.close)


def past_midnight_if_near(loaded: Settings) -> None:
    """The tests count a client's day: none starts in the hub's last seconds of one."""
    now = datetime.now(loaded.zone)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), loaded.zone)
    if (left := (midnight - now).total_seconds()) < 5:
        time.sleep(left + 0.1)


def into_next_second() -> None:
    time.sleep(1.01 - time.time() % 1)


def take(counters: Quotas, times: int, client: str = CLIENT) -> None:
    for _ in range(times):
        counters.take(client, PARTNER)


def wait_for(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < deadline, "the writer thread did not get there in time"
        time.sleep(0.005)


def said(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == quotas.__name__ and message in r.getMessage()]


def test_calls_counted_while_the_ledger_fails_are_written_once_it_answers(hub: Hub) -> None:
    counters = hub.counters()
    take(counters, 5)  # the first read the ledger: it is written; the others counted
    assert hub.counted() == 1
    hub.fail()
    for _ in range(3):
        take(counters, 2)  # calls go on being served, counted in memory
        with pytest.raises(EngineError, match=GONE):
            counters.flush()
    assert hub.counted() == 1  # nothing written, nothing half-written
    hub.mend()
    counters.flush()
    assert hub.counted() == 11  # every call taken, each once
    counters.flush()
    counters.close()
    assert hub.counted() == 11


def test_a_flush_failing_after_its_first_statement_writes_none_of_it_twice(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush writes many clients' rows in several statements, in one transaction: one
    failing statement takes back the others, and all are written again, once."""
    monkeypatch.setattr(quotas, "ROWS_A_STATEMENT", 2)  # a client's two windows a statement
    first, second = CLIENT[:-1] + "a", CLIENT[:-1] + "b"  # in the order they are written
    counters = hub.counters()
    take(counters, 3, first)
    take(counters, 3, second)
    hub._sql(  # a trigger takes no parameter: the id is ours, written in
        f"CREATE TRIGGER refuse BEFORE INSERT ON api_usage WHEN NEW.client_id = '{second}' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    with pytest.raises(EngineError, match="refused by the test"):
        counters.flush()
    assert (hub.counted(first), hub.counted(second)) == (1, 1)  # the first's rows taken back
    hub._sql("DROP TRIGGER refuse")
    counters.flush()
    assert (hub.counted(first), hub.counted(second)) == (3, 3)


def test_the_writer_says_a_failure_once_and_once_that_it_is_over(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=quotas.__name__)
    counters = hub.counters()
    take(counters, 2)
    hub.fail()
    for _ in range(3):
        counters._flush_logged()  # the writer thread's turn: it does not raise, it goes on
    cannot = said(caplog, CANNOT)
    assert len(cannot) == 1, caplog.text
    assert cannot[0].levelno == logging.WARNING
    assert GONE in cannot[0].getMessage()  # the operator is told why
    assert not said(caplog, AGAIN)
    hub.mend()
    counters._flush_logged()
    counters._flush_logged()
    assert len(said(caplog, AGAIN)) == 1, caplog.text
    assert hub.counted() == 2
    hub.fail()  # a failure again later is told again
    take(counters, 1)
    counters._flush_logged()
    hub.mend()
    counters.close()
    assert (len(said(caplog, CANNOT)), len(said(caplog, AGAIN))) == (2, 2), caplog.text
    assert hub.counted() == 3


def test_the_writer_thread_goes_on_through_a_failure_and_writes_the_calls_after(
    hub: Hub, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger=quotas.__name__)
    monkeypatch.setattr(quotas, "INTERVAL", 0.01)  # the writer at its own pace, quicker
    counters = hub.counters()
    take(counters, 1)  # starts the writer
    hub.fail()
    take(counters, 3)
    wait_for(lambda: len(said(caplog, CANNOT)) > 0)
    time.sleep(10 * quotas.INTERVAL)  # about ten more of its writes, failing
    hub.mend()
    wait_for(lambda: len(said(caplog, AGAIN)) > 0)
    assert hub.counted() == 4
    counters.close()
    assert (len(said(caplog, CANNOT)), len(said(caplog, AGAIN))) == (1, 1), caplog.text
    assert hub.counted() == 4


def test_a_reservation_near_the_end_of_the_day_that_fails_gives_back_its_calls(
    hub: Hub,
) -> None:
    """Less than a second's rate left of the day, each call is reserved in the ledger with
    the calls counted before it: a ledger that fails then fails the call (503), and the
    calls it carried are written later, once."""
    counters = hub.counters(rate=10, daily=14)
    take(counters, 4)  # 1 read the ledger, 3 counted: 10 left of the day
    assert hub.counted() == 1
    hub.fail()
    for _ in range(2):
        with pytest.raises(EngineError, match=GONE):
            counters.take(CLIENT, PARTNER)
    assert hub.counted() == 1
    hub.mend()
    take(counters, 1)  # reserved: with it the 3 given back, written at once
    assert hub.counted() == 5  # the calls served; the two that failed were not
    counters.flush()
    assert hub.counted() == 5


def test_a_stale_client_whose_reservation_fails_is_read_again_at_its_next_call(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters = hub.counters()
    take(counters, 3)  # 1 read the ledger, 2 counted
    hub.fail()
    monkeypatch.setattr(quotas, "FRESH", 0.0)  # what is known of the client is stale
    for _ in range(2):  # each call asks the ledger again: none is served on what is stale
        with pytest.raises(EngineError, match=GONE):
            counters.take(CLIENT, PARTNER)
    hub.mend()
    counters.flush()
    assert hub.counted() == 3
    take(counters, 1)
    assert hub.counted() == 4  # reserved, so written at once; the 2 given back not again
    counters.flush()
    assert hub.counted() == 4


def call(app: FastAPI, token: str) -> httpx.Response:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
            return await http.get(
                "/v1/flows/FL0000000001", headers={"Authorization": f"Bearer {token}"}
            )

    return anyio.run(get)


def test_the_api_answers_503_for_a_call_it_cannot_reserve_and_counts_only_those_served(
    hub: Hub,
) -> None:
    with db.session_scope(hub.settings.database_url) as session:
        client, _ = api_clients.add(session, PARTNER)
        session.commit()
    app = create_app(hub.settings)
    hub.made.append(app.state.quotas)
    context: Context = app.state.context
    token = tokens.issue(context.key(), client.client_id, client.generation, 600, time.time())
    hub.fail()  # a client's first call is reserved: the ledger must answer it
    failed = call(app, token)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"] == "engine_unavailable"
    hub.mend()
    served = call(app, token)
    assert served.status_code == 404, served.text  # served: no flow of this number
    app.state.quotas.flush()
    assert hub.counted(client.client_id) == 1


def test_a_call_refused_for_the_rate_is_not_counted(hub: Hub) -> None:
    counters = hub.counters(rate=3)
    served, refused = 0, []
    while not refused and served < 60:  # refused within a second, unless it ends first
        try:
            counters.take(CLIENT, PARTNER)
            served += 1
        except ApiError as exc:
            refused.append(exc)
    assert refused, "no call refused"
    (refusal,) = refused
    assert (refusal.status, refusal.code, refusal.headers) == (429, RATE, {"Retry-After": "1"})
    counters.flush()
    assert hub.counted() == served


def test_a_call_its_reservation_refuses_is_taken_back_and_the_calls_it_carried_are_kept(
    hub: Hub,
) -> None:
    counters = hub.counters(rate=100, daily=105)
    take(counters, 5)  # 1 read the ledger, 4 counted: the day's last 100 calls are near
    assert hub.day() == 1
    hub.served_elsewhere(100)  # by another worker, which this one does not know yet
    with pytest.raises(ApiError) as refused:
        counters.take(CLIENT, PARTNER)  # reserved: 106 calls, one past the day's 105
    assert (refused.value.status, refused.value.code) == (429, DAILY)
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert hub.day() == 105  # the 4 it carried written, itself taken back
    with pytest.raises(ApiError, match="calls a day"):
        counters.take(CLIENT, PARTNER)  # refused by what is now known
    counters.flush()
    assert hub.day() == 105
    assert sum(hub.rows().values()) == 5  # this worker's seconds: the calls it served


def test_two_workers_past_the_rate_together_count_only_the_calls_served(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each call reserved (FRESH 0): a worker that knows 2 of the second's 3 calls is
    refused by its reservation once the other has made the third."""
    monkeypatch.setattr(quotas, "FRESH", 0.0)
    workers = hub.counters(rate=3), hub.counters(rate=3)
    served, refused = 0, []
    while not refused and served < 60:
        try:
            workers[served % 2].take(CLIENT, PARTNER)
            served += 1
        except ApiError as exc:
            refused.append(exc)
    assert [exc.code for exc in refused] == [RATE]
    assert hub.counted() == served
    assert max(hub.rows().values()) == 3  # the refused call's second: 3, not 4


def test_calls_of_a_second_past_are_written_with_the_next_flush_despite_failures(
    hub: Hub,
) -> None:
    counters = hub.counters()
    take(counters, 3)  # 1 read the ledger, 2 counted
    hub.fail()
    with pytest.raises(EngineError, match=GONE):
        counters.flush()
    into_next_second()
    take(counters, 1)  # a window of its own: the 2 left to write are of a second past
    with pytest.raises(EngineError, match=GONE):
        counters.flush()  # still to write, with their own second
    hub.mend()
    counters.flush()
    seconds = hub.rows()
    assert (len(seconds), sum(seconds.values())) == (2, 4), seconds
    assert hub.counted() == 4
    counters.flush()
    assert hub.counted() == 4


def test_calls_of_a_second_the_clock_steps_back_into_are_all_written(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """time.time() may step back (an NTP correction, a virtual machine resumed): a window
    then moves back to a second it left, whose calls are still to write."""
    now = [int(time.time()) + 0.5]
    clock = SimpleNamespace(time=lambda: now[0], monotonic=time.monotonic)
    monkeypatch.setattr(quotas, "time", clock)  # the wall clock, as the module reads it
    counters = hub.counters()
    take(counters, 3)  # second T: 1 read the ledger, 2 counted
    now[0] += 1
    take(counters, 1)  # second T+1: the 2 of T still to write
    now[0] -= 1
    take(counters, 1)  # the clock stepped back into T
    counters.flush()
    assert hub.counted() == 5
    assert sorted(hub.rows().values()) == [1, 4]  # T: 1 + 2 + 1; T+1: 1


def test_the_calls_counted_are_written_when_the_application_stops(hub: Hub) -> None:
    """uvicorn ends a worker stopped by SIGTERM with that signal again: what atexit would
    have written was lost at each stop. The application's end writes it."""
    hub.counters()  # the partner's quotas
    app = create_app(hub.settings)

    async def serve_and_stop() -> None:
        async with app.router.lifespan_context(app):
            take(app.state.quotas, 5)  # the first read the ledger; four counted in memory

    anyio.run(serve_and_stop)
    atexit.unregister(app.state.quotas.close)
    assert hub.counted() == 5
