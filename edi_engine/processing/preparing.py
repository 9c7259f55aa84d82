"""The pure work of flows, in worker processes: each flow unpacked, parsed, validated and
read from its archived original (flow_parts.parts) away from the writer, the one process
that touches the ledger and the folders.

Workers are started with 'forkserver', never by a plain fork of the writer: the writer
holds SQLite connections (which must not cross a fork), and threads (SFTP, inotify, the
scheduler) whose locks a fork copies held, forever. The fork server is one clean process
that imports the engine once; each worker forks from it in milliseconds, and so does a
replacement for a worker that died, where 'spawn' pays the interpreter and the imports
(about 0.7 s here) every time. The server stays while the writer lives, and leaves with it.

Each worker takes its flows in order on a pipe of its own and writes the ticket of the
flow it prepares in shared memory. A worker that dies is therefore known to have died
on that very flow: the flow is tried again, and given up after `processing.max_attempts`
deaths; the flows queued behind it are sent again unblamed, and the other workers go on
(a concurrent.futures pool breaks every pending future and cannot say which one killed
it).
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, tzinfo
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.orm import configure_mappers

from pivot_format import pivot
from pivot_format.cpp import to_bytes
from pivot_format.errors import ConversionError

from .. import clock
from ..delivery import outputs
from ..errors import EngineError
from ..ledger.models import Flow
from ..problems import FlowRejected, Problem, shown
from ..reception import archive, flow_parts, reading, streaming, validation
from ..reception.identify import PIVOT
from ..settings import Settings

log = logging.getLogger(__name__)

DEPTH = 2  # flows sent ahead to each worker: one it prepares, one waiting for it
CHAIN = 8  # exceptions kept of a failure and its causes
TRACEBACK_CHARS = 20_000
STARTS = 3  # workers in a row that die as they start, before the pool gives up
STOP_SECONDS = 10.0  # an idle worker asked to stop is killed if still there after this


class PreparationFailed(EngineError):
    """A flow's preparation failed in a worker process."""


class WorkersFailed(EngineError):
    """The worker processes could not be started or kept running."""


class Job(NamedTuple):
    """A leased flow's archived original: all a worker needs to prepare it; with its number
    and the day it was deposited, the pivots of its invoices are written ahead too."""

    flow_id: int
    archive_path: str
    file_name: str
    size: int
    number: str = ""
    deposit_date: date | None = None
    rules: tuple[str, ...] | None = None  # its partner's own rule sets; None: the hub's

    @classmethod
    def of(cls, flow: Flow, zone: tzinfo, rules: tuple[str, ...] | None = None) -> Job:
        day = clock.local_date(flow.received_at, zone)
        return cls(flow.id, flow.archive_path, flow.file_name, flow.size, flow.number, day, rules)


@dataclass(frozen=True)
class Raised:
    """One exception of a failure and its causes, as plain values."""

    kind: str  # the class's name
    module: str
    message: str
    errno: int | None = None  # an OSError's: ENOSPC or EIO make a failure transient
    strerror: str | None = None
    filename: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> Raised:
        kind, module = type(exc).__name__, type(exc).__module__
        if isinstance(exc, OSError) and exc.errno is not None:
            name = None if exc.filename is None else os.fsdecode(exc.filename)
            return cls(kind, module, str(exc), exc.errno, exc.strerror, name)
        return cls(kind, module, str(exc))

    def rebuilt(self) -> BaseException:
        """The same class when it is built in or one of ours, else PreparationFailed
        naming it; an OSError of the same errno (FileNotFoundError for ENOENT...)."""
        if self.errno is not None:
            if self.filename is None:
                return OSError(self.errno, self.strerror)
            return OSError(self.errno, self.strerror, self.filename)
        found = getattr(sys.modules.get(self.module), self.kind, None)
        ours = isinstance(found, type) and issubclass(found, EngineError)
        built_in = self.module == builtins.__name__ and isinstance(found, type)
        if (ours or built_in) and issubclass(found, Exception):
            try:
                return found(self.message)
            except Exception:  # a class that takes more than a message
                pass
        return PreparationFailed(f"{self.kind}: {self.message}")


@dataclass(frozen=True)
class Failure:
    """What `prepare` raised, picklable. The writer fails the flow with `exception()` as
    if it had been raised at home: the same class name and message, its causes, an
    OSError's errno (runner._transient retries a full or failing disk)."""

    chain: tuple[Raised, ...]
    traceback: str
    original: BaseException | None = field(default=None, compare=False)  # in-process only

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        chain: list[Raised] = []
        cause: BaseException | None = exc
        while cause is not None and len(chain) < CHAIN:  # as runner._transient walks it
            chain.append(Raised.of(cause))
            cause = cause.__cause__ or cause.__context__
        text = "".join(traceback.format_exception(exc))[-TRACEBACK_CHARS:]
        return cls(tuple(chain), text, exc)

    def exception(self) -> BaseException:
        if self.original is not None:
            return self.original
        rebuilt: BaseException | None = None
        for raised in reversed(self.chain):
            exc = raised.rebuilt()
            exc.__cause__ = rebuilt
            rebuilt = exc
        assert rebuilt is not None
        rebuilt.add_note(f"raised in a worker process:\n{self.traceback}")
        return rebuilt

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "original": None}  # a live exception may not pickle


@dataclass(frozen=True)
class Prepared:
    """A flow prepared: its parts with their invoices read, and how the reading ended."""

    flow_id: int
    parts: tuple[flow_parts.Part, ...] = ()  # reads as lists
    rejected: tuple[Problem, ...] = ()  # FlowRejected, raised after these parts
    failure: Failure | None = None  # prepare raised: a technical failure of the flow
    # not read in the worker: the writer reads it as it always did (flow_parts.parts), a
    # large pivot streamed in bounded memory, or a file it refuses unread (FILE_TOO_LARGE)
    unread: bool = False
    killed_workers: int = 0  # its preparation killed this many workers: given up

    def replay(self, settings: Settings, flow: Flow) -> Iterator[flow_parts.Part]:
        """What flow_parts.parts(settings, flow) gives, raises included, as prepared."""
        if self.killed_workers:
            raise RuntimeError("a flow that killed its workers is answered, not replayed")
        if self.unread:
            yield from flow_parts.parts(settings, flow)
            return
        if self.failure is not None:
            raise self.failure.exception()
        yield from self.parts
        if self.rejected:
            raise FlowRejected(*self.rejected)


def prepare(
    settings: Settings,
    flow_id: int,
    archive_path: str,
    file_name: str,
    size: int,
    number: str = "",
    deposit_date: date | None = None,
    rules: tuple[str, ...] | None = None,
) -> Prepared:
    """The work of one flow that needs no ledger; never raises (a failure is returned).
    Given the flow's number and deposit day, each invoice's pivot is written ahead;
    `rules`: the business rule sets of its partner (None: the hub's)."""
    settings = settings.for_rules(rules)
    flow = Flow(id=flow_id, archive_path=archive_path, file_name=file_name, size=size)
    try:
        if _unread(settings, flow):
            return Prepared(flow_id, unread=True)
        parts: list[flow_parts.Part] = []
        try:
            for part in flow_parts.parts(settings, flow):
                reads = list(part.reads)
                if number and deposit_date is not None:
                    reads = [_ahead(settings, read, number, deposit_date) for read in reads]
                parts.append(replace(part, reads=reads))
        except FlowRejected as rejected:
            return Prepared(flow_id, tuple(parts), tuple(rejected.problems))
        return Prepared(flow_id, tuple(parts))
    except Exception as exc:
        return Prepared(flow_id, failure=Failure.of(exc))


def _ahead(settings: Settings, read: reading.Read, number: str, day: date) -> reading.Read:
    """The read with its invoice's pivot written and checked against our schema, as the
    writer would write it once the controls accept it (pipeline._deliver), but for its
    recipient and ledger id (stand-ins, pivot.completed)."""
    if read.invoice is None:
        return read
    invoice = replace(read.invoice, reception_date=day, renvoi=pivot.RENVOI_FIRST)
    envelope = outputs.envelope(settings, number, pivot.RECEIVER_STANDIN)
    try:
        tree = pivot.written_ahead(invoice, envelope)
    except ConversionError as exc:
        element, value = exc.element or None, exc.value or None
        problem = Problem(exc.code, exc.message, element=element, value=value)
        return replace(read, ahead=reading.Ahead(conversion=problem))
    messages = validation.check_tree(PIVOT, tree)
    if messages:
        return replace(read, ahead=reading.Ahead(invalid=messages[0]))
    return replace(read, ahead=reading.Ahead(content=to_bytes(tree)))


def _unread(settings: Settings, flow: Flow) -> bool:
    """A file the writer refuses unread (pipeline._take_flow), or a pivot it streams."""
    limits = settings.limits
    if flow.size > limits.max_file_bytes or archive.is_head(flow.archive_path):
        return True
    return streaming.applies(archive.path(settings.archive, flow.archive_path), flow.size, limits)


def warm(cii_schema: Path | None = None) -> None:
    """What a worker compiles once rather than on its first flows: the schemas, and the
    ledger's mappings (a Flow is built for each flow prepared)."""
    validation.warm(cii_schema)
    configure_mappers()


def resolved(requested: int) -> int:
    """`--workers 0` is one per core this process may run on."""
    if requested < 0:
        raise ValueError(f"a number of workers is 0 or more, not {requested}")
    return requested or len(os.sched_getaffinity(0))


Preparation = Callable[[Settings, int, str, str, int], Prepared]


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    current: Any  # RawValue('q'): the ticket being prepared, 0 between flows
    assigned: deque[int] = field(default_factory=deque)  # tickets sent, not returned
    ready: bool = False


class Workers:
    """Flows prepared by `count` worker processes, or in this process when `count` is 1.

    `prepared(jobs)` gives each job's Prepared in the order of the jobs, as soon as it is
    ready, with at most DEPTH x count flows sent or held at a time. A job whose worker
    died is sent again; each job is given back exactly once. `preparation` is `prepare`
    but for tests (a module-level function: it is pickled by name)."""

    def __init__(self, settings: Settings, count: int, preparation: Preparation = prepare):
        if count < 1:
            raise ValueError(f"a pool has 1 worker or more, not {count}")
        _ = settings.cii_schema  # a configuration error is the caller's, not a worker's
        self.settings, self.count, self._prepare = settings, count, preparation
        self._tickets = itertools.count(1)
        self._jobs: dict[int, Job] = {}  # wanted and not prepared yet
        self._done: dict[int, Prepared] = {}  # prepared, not given back yet
        self._queue: deque[int] = deque()  # to send to a worker
        self._deaths: dict[int, int] = {}
        self._unready = 0  # workers in a row that died as they started
        self._active = self._closed = False
        self._workers: list[_Worker] = []
        self._stop = weakref.finalize(self, _stop, self._workers)
        if count == 1:
            return
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([f"{__package__}.forkserver_preload"])
        self._shipped = copy.copy(settings)
        vars(self._shipped).pop("database_url", None)  # a worker never holds its password

    def _started(self) -> None:
        """The workers, started with the first batch: a run with nothing to do never pays
        for them (the fork server's start, a second or two)."""
        if self._workers or self.count == 1:
            return
        try:
            self._workers.extend(self._start() for _ in range(self.count))
            while not all(worker.ready for worker in self._workers):
                self._wait()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker: an idle one when asked, a busy one killed (what it prepares
        is no longer wanted); none is left running."""
        self._closed = True
        self._stop()

    def pids(self) -> list[int]:
        """The worker processes, started now if they were not yet."""
        self._started()
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def busy(self) -> dict[int, int]:
        """The flow id each worker is preparing, by its pid."""
        found = {}
        for worker in self._workers:
            ticket = worker.current.value
            if ticket in self._jobs and worker.process.pid is not None:
                found[worker.process.pid] = self._jobs[ticket].flow_id
        return found

    def prepared(self, jobs: Iterable[Job]) -> Iterator[Prepared]:
        """One batch at a time; jobs are taken from `jobs` as room is made."""
        if self._closed:
            raise RuntimeError("this pool of workers is closed")
        if self.count == 1:
            return self._in_process(iter(jobs))
        return self._pooled(iter(jobs))

    def _in_process(self, jobs: Iterator[Job]) -> Iterator[Prepared]:
        for job in jobs:
            yield self._prepare(self.settings, *job)

    def _pooled(self, jobs: Iterator[Job]) -> Iterator[Prepared]:
        if self._active:
            raise RuntimeError("a pool of workers prepares one batch at a time")
        self._started()
        self._active = True
        order: deque[int] = deque()  # tickets of this batch not given back yet
        try:
            while True:
                while len(order) < DEPTH * self.count and (job := next(jobs, None)):
                    ticket = next(self._tickets)
                    self._jobs[ticket] = job
                    self._queue.append(ticket)
                    order.append(ticket)
                if not order:
                    return
                if self._closed:
                    raise RuntimeError("this pool of workers was closed during a batch")
                self._send()
                if order[0] in self._done:
                    ticket = order.popleft()
                    self._deaths.pop(ticket, None)
                    yield self._done.pop(ticket)
                    continue
                self._wait()
        finally:  # the rest is no longer wanted: what workers still send is dropped
            for ticket in order:
                self._jobs.pop(ticket, None)
                self._done.pop(ticket, None)
                self._deaths.pop(ticket, None)
            self._queue.clear()
            self._active = False

    def _send(self) -> None:
        while self._queue and self._workers:
            worker = min(self._workers, key=lambda w: len(w.assigned))
            if len(worker.assigned) >= DEPTH:
                return
            ticket = self._queue.popleft()
            worker.assigned.append(ticket)
            # one that died has its end of file read next, and its tickets sent again
            with contextlib.suppress(OSError):
                worker.conn.send((ticket, self._jobs[ticket]))

    def _wait(self) -> None:
        """Until a worker says something; then all that they said, in one wake-up."""
        by_conn = {w.conn: w for w in self._workers}
        for conn in wait(list(by_conn)):
            worker = by_conn[conn]
            while worker in self._workers and not conn.closed and conn.poll():
                self._receive(worker)

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):  # every whole message before it was read already
            self._lost(worker)
            return
        if message[0] == "ready":
            worker.ready, self._unready = True, 0
        elif message[0] == "done":
            _, ticket, prepared = message
            worker.assigned.remove(ticket)
            if self._jobs.pop(ticket, None) is not None:
                self._done[ticket] = prepared
        else:
            failure: Failure = message[1]
            raise WorkersFailed(f"A worker process could not start: {failure.chain[0].message}")

    def _lost(self, worker: _Worker) -> None:
        """A worker died: the flow it was preparing is blamed, tried again, or given up
        after `processing.max_attempts` deaths; the others are sent again; it is replaced."""
        self._workers.remove(worker)
        culprit = worker.current.value
        worker.conn.close()
        worker.process.join()
        code = worker.process.exitcode
        if not worker.ready:  # killed as it started, or cannot start: tried a few times
            self._unready += 1
            if self._unready >= STARTS:
                raise WorkersFailed(
                    f"{STARTS} worker processes in a row stopped as they started (the last "
                    f"with exit code {code})."
                )
        for ticket in reversed(worker.assigned):
            job = self._jobs.get(ticket)
            if job is None:
                continue
            if ticket == culprit:
                deaths = self._deaths[ticket] = self._deaths.get(ticket, 0) + 1
                log.warning(
                    "worker process %s stopped (exit code %s) preparing %s (flow id %s), "
                    "death %d", worker.process.pid, code, shown(job.file_name), job.flow_id, deaths,
                )  # fmt: skip
                if deaths >= self.settings.processing.max_attempts:
                    del self._jobs[ticket]
                    self._done[ticket] = Prepared(job.flow_id, killed_workers=deaths)
                    continue
            self._queue.appendleft(ticket)
        worker.process.close()
        self._workers.append(self._start())

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        current = self._context.RawValue("q", 0)
        process = self._context.Process(
            target=_serve,
            args=(theirs, current, self._shipped, self._prepare),
            name="edi-engine-worker",
            daemon=True,  # killed at exit even if never closed
        )
        try:
            process.start()
        except (OSError, EOFError) as exc:  # the fork server could not be started or reached
            ours.close()
            raise WorkersFailed(f"A worker process could not be started: {exc}.") from exc
        finally:
            theirs.close()
        return _Worker(process, ours, current)


def _serve(conn: Connection, current: Any, settings: Settings, preparation: Preparation) -> None:
    """A worker process: its schemas compiled once, then flows until told to stop or
    until the writer is gone (its pipe's end of file)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the writer stops
    try:
        warm(settings.cii_schema)  # the fork server compiled the others
    except Exception as exc:
        conn.send(("broken", Failure.of(exc)))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        ticket, job = message
        current.value = ticket
        try:
            prepared = preparation(settings, *job)
        except Exception as exc:  # `prepare` returns its failures; a test's may not
            prepared = Prepared(job.flow_id, failure=Failure.of(exc))
        try:
            conn.send(("done", ticket, prepared))
        except OSError:  # the writer is gone
            return
        current.value = 0


def _stop(workers: list[_Worker]) -> None:
    for worker in workers:
        if worker.assigned:
            worker.process.kill()
        else:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
    for worker in workers:
        worker.process.join(STOP_SECONDS)
        if worker.process.exitcode is None:
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
        worker.process.close()
    workers.clear()
