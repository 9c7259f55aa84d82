"""Outputs reach partners only after the commit that records them, exactly once
(docs/architecture.md#staging-and-publication).

`outputs.deliver` stages a file in run/outgoing/ and records it with `outputs.staged` set;
once the transaction commits, `publish` renames it into outbox/<PARTNER>/ and marks it
published. A crash between the two leaves a committed output staged: `finish` (once at the
start of every run) publishes it from what the ledger says, and never twice: a staged file
that is gone was renamed already. An invoice is made available (03) when its pivot is
published into a local partner's folder, an SFTP partner's once uploaded: never before.

Whatever a partner leaves in its own folder under an output's name (a folder, a link, a
pipe) holds back that output only: it stays staged, its row says why
(`delivery_error`), an invoice whose pivot it is is marked `NP` (not published) until it
is, and it is tried again later, less and less often (at most hourly): a partner that
plants thousands of names costs the engine a bounded amount of work per run, and the log a
line per partner. Nothing there is read or followed, and no other partner's flow is
affected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from connectors import local, outgoing

from .. import clock, display, failpoints
from ..ledger import home
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.models import InvoiceEvent, Output, Partner
from ..ledger.states import InvoiceState
from ..lifecycle.transitions import DELIVERED_AT, MAIN_ROAD
from ..settings import Settings, env_name

log = logging.getLogger(__name__)
PIVOT = "PIVOT"
# `invoices.delivery_incident` of an invoice whose pivot the engine could not publish yet
# (what its recipient left under the pivot's name): the engine's own marker, never a code
# a recipient sends; cleared once the pivot is published
NOT_PUBLISHED = "NP"
ENGINE = "engine"  # the actor of the 03 recorded at publication
CHUNK = 500  # staged names per statement: SQLite bounds the parameters of one
PER_FINISH = 5000  # committed outputs one `finish` looks at; the rest wait for the next
FIRST_RETRY = timedelta(minutes=1)  # a held-back output is tried again after this,
LAST_RETRY = timedelta(hours=1)  # then twice as long each time, up to this
WARNED = 20  # outputs held back for the first time, logged one by one per partner and call
TIDY_EVERY = 0.5  # of a lease: how often one process looks for leftovers in one folder
STAGER = "edi_engine.stager"  # Session.info key: this process's staging folder
# statuses after which its supplier is not told 03 again (a pivot delivered again)
TOLD_ALREADY = tuple(state.value for state in MAIN_ROAD[DELIVERED_AT:])
_publishing = threading.Lock()  # the daemon's jobs publish from threads of their own
_tidied: dict[Path, float] = {}  # folder -> when this process last looked for leftovers
T = TypeVar("T")


@dataclass(frozen=True)
class Pending:
    """A committed output waiting to be published."""

    staged: str  # its file, relative to run/outgoing/
    partner: str
    name: str
    kind: str
    flow_id: int | None
    keep_as: str | None = None  # the earlier output under `name` is renamed so first
    attempts: int = 0  # refused so far
    id: int | None = None  # its row, once read back from the ledger


def root(settings: Settings) -> Path:
    return home.outgoing_dir(settings)


def stager(settings: Settings, session: Session) -> outgoing.Stager:
    """This process's staging folder; run/ checked against the outbox once per session."""
    if STAGER not in session.info:
        home.ensure_run(settings)
        session.info[STAGER] = outgoing.Stager.of(root(settings))
    return session.info[STAGER]


def settled(session: Session, staged: Iterable[str]) -> None:
    """The transaction that staged these ended: what no committed output refers to among
    them may be tidied away."""
    mine = session.info.get(STAGER)
    if mine is not None:
        mine.settle(list(staged))


def referenced(session: Session, staged: list[str]) -> set[str]:
    """Which of these staged files a committed output refers to."""
    found: set[str] = set()
    for chunk in _chunks(staged):
        found.update(session.scalars(select(Output.staged).where(Output.staged.in_(chunk))))
    return found


def retry_in(attempts: int) -> timedelta:
    """How long an output held back `attempts` times waits before it is tried again: a
    minute, then twice as long each time, up to an hour."""
    return min(FIRST_RETRY * 2 ** min(attempts - 1, 12), LAST_RETRY)


class Held:
    """Outputs held back over one publication or one `finish`, by partner. The first time
    an output is held back it is logged on its own (up to WARNED per partner); when it is
    tried again, or past WARNED, at debug level, and once in one line for its partner."""

    def __init__(self) -> None:
        self._first: dict[str, int] = defaultdict(int)  # logged one by one
        self._rest: dict[str, int] = defaultdict(int)  # in the partner's line
        self._again: dict[str, int] = defaultdict(int)  # of those, tried before
        self._example: dict[str, str] = {}

    def add(self, output: Pending, why: str, wait: timedelta) -> None:
        partner, extra = output.partner, {"partner": output.partner, "outcome": "not published"}
        self._example.setdefault(partner, why)
        if output.attempts == 0 and self._first[partner] < WARNED:
            self._first[partner] += 1
            log.warning(
                "partner %s: %s not published: %s; it is tried again in %s, then less and "
                "less often (at least hourly) until its name is free",
                partner, output.name, why, _minutes(wait), extra=extra,
            )  # fmt: skip
            return
        self._rest[partner] += 1
        self._again[partner] += output.attempts > 0
        log.debug("partner %s: %s still held back: %s", partner, output.name, why, extra=extra)

    def log(self) -> None:
        """One line per partner for what was not logged one by one."""
        for partner, count in sorted(self._rest.items()):
            again = self._again[partner]
            log.warning(
                "partner %s: %d output(s) held back by what the partner left under their "
                "names (%d tried again, %d for the first time), such as: %s; each is tried "
                "again later, at least hourly (`flows show` says why for each)",
                partner, count, again, count - again, self._example[partner],
                extra={"partner": partner, "outcome": "not published"},
            )  # fmt: skip


def _minutes(wait: timedelta) -> str:
    minutes = round(wait.total_seconds() / 60)
    return f"{minutes} minute" + ("s" if minutes > 1 else "")


def publish(
    settings: Settings, session: Session, pending: Sequence[Pending], held: Held | None = None
) -> None:
    """Rename committed outputs into their partners' folders, then mark them published, a
    chunk at a time. Never raises: what is left staged is published by a later `finish`.
    `held`: where refusals are told (by the caller, once); told here when None."""
    if not pending:
        return
    tally = held if held is not None else Held()
    with _publishing:
        mine = outgoing.Stager.mine(root(settings))
        if mine is not None:
            mine.beat()
        for chunk in _chunks(list(pending)):
            try:
                _publish(settings, session, chunk, tally)
            except Exception:
                session.rollback()
                log.exception(
                    "%d committed output(s) could not all be published now; a later run "
                    "publishes them",
                    len(pending),
                )
                break
    if held is None:
        tally.log()


def _publish(settings: Settings, session: Session, chunk: list[Pending], held: Held) -> None:
    current = _current(session, [p.staged for p in chunk])
    done: list[Pending] = []
    refused: list[tuple[Pending, str]] = []
    folders: set[Path] = set()
    for output in (current[p.staged] for p in chunk if p.staged in current):
        target = settings.outbox / output.partner / output.name
        try:
            result = outgoing.publish(root(settings) / output.staged, target, output.keep_as)
        except OSError as exc:  # the partner's folder unusable (mounted elsewhere, …)
            result = outgoing.Result(outgoing.Outcome.BLOCKED, _unusable(settings, output, exc))
        if result.outcome is outgoing.Outcome.BLOCKED:
            refused.append((output, result.why))
            continue
        if result.outcome is outgoing.Outcome.PUBLISHED:
            folders.add(target.parent)
            failpoints.reached("mid-publication")
        elif output.attempts == 0:
            log.info("%s/%s was published already, by a process that stopped before "
                     "recording it", output.partner, output.name)  # fmt: skip
        done.append(output)
    if settings.processing.fsync:  # the renames durable before the ledger says so
        for folder in folders:
            outgoing.sync_folder(folder)
    at = clock.now()
    _published(session, done, at)
    _refused(session, refused, held, at)
    session.commit()


# the columns of a `Pending`, in its order
PENDING = (
    Output.staged,
    Output.partner_code,
    Output.file_name,
    Output.kind,
    Output.flow_id,
    Output.previous_kept_as,
    Output.delivery_attempts,
    Output.id,
)


def _current(session: Session, staged: list[str]) -> dict[str, Pending]:
    """The outputs these files are staged for, as the ledger says now, locked until the
    commit (PostgreSQL; a SQLite writer holds the whole ledger): a re-run that renames an
    output meanwhile (`outputs.keep_as`) waits, and one published or purged since is left
    out."""
    rows = session.execute(
        select(*PENDING).where(Output.staged.in_(staged)).with_for_update()
    ).all()
    return {row.staged: Pending(*row) for row in rows}


def _unusable(settings: Settings, output: Pending, exc: OSError) -> str:
    where = f"{output.partner}/{output.name} could not be published"
    if isinstance(exc, local.ElsewhereError):  # a partner's folder mounted once started
        return (
            f"{where}: outbox/{output.partner} is on another file system than "
            f"{root(settings)}, so a file cannot be renamed into it; set [paths] run (or "
            f"{env_name('paths', 'run')}) to a folder on the outbox's file system, and keep "
            "partners' folders on it too"
        )
    return f"{where}: {exc.strerror or exc}"


def _published(session: Session, done: list[Pending], at: datetime) -> None:
    if not done:
        return
    remote = set(
        session.scalars(
            select(Partner.code).where(
                Partner.code.in_({o.partner for o in done}), Partner.channel == "sftp"
            )
        )
    )
    # a local partner's file is delivered once in its folder; an SFTP partner's once uploaded
    for queued in (False, True):
        staged = [o.staged for o in done if (o.partner in remote) == queued]
        values = {"staged": None, "published_at": at, "delivery_error": None, "next_try_at": None}
        if not queued:
            values["delivered_at"] = at
        if staged:
            session.execute(update(Output).where(Output.staged.in_(staged)).values(**values))
    pivots: dict[str, list[Pending]] = defaultdict(list)
    for output in done:
        if output.kind == PIVOT:
            pivots[output.partner].append(output)
    for partner, published in pivots.items():
        if partner in remote:  # made available once uploaded (channels.deliver)
            _mark(session, partner, published, held=False)
        else:
            _made_available(session, partner, published, at)


def _made_available(session: Session, partner: str, pivots: list[Pending], at: datetime) -> None:
    """Their pivots are in the recipient's folder: their invoices are made available (03),
    in two statements, and are no longer marked NOT_PUBLISHED. Its supplier is told, unless
    it was told 03 already (a pivot delivered again after a delivery incident: it never
    sees its invoice go back)."""
    state = InvoiceState.MISE_A_DISPOSITION
    waiting = and_(
        _invoices(partner, pivots), InvoiceRow.status == InvoiceState.EN_COURS_ACHEMINEMENT
    )
    told = (
        select(InvoiceEvent.status)
        .where(InvoiceEvent.invoice_id == InvoiceRow.id, InvoiceEvent.to_supplier.is_(True))
        .order_by(InvoiceEvent.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    when = literal(at, InvoiceEvent.at.type)
    detail = literal("pivot ") + InvoiceRow.pivot_file + literal(f" published to partner {partner}")
    events = select(
        InvoiceRow.id,
        when,
        when,
        literal(state.value),
        literal(state.code),
        literal(ENGINE),
        detail,
        InvoiceRow.recipient_siret,
        InvoiceRow.service_code,
        case((told.in_(TOLD_ALREADY), false()), else_=true()),
    ).where(waiting)
    columns = ["invoice_id", "at", "produced_at", "status", "status_code", "actor", "detail",
               "recipient_siret", "service_code", "to_supplier"]  # fmt: skip
    session.execute(insert(InvoiceEvent).from_select(columns, events))
    incident = InvoiceRow.delivery_incident
    cleared = case((incident == NOT_PUBLISHED, null()), else_=incident)
    session.execute(
        update(InvoiceRow)
        .where(waiting)
        .values(status=state, status_code=state.code, status_date=at, delivery_incident=cleared)
    )


def _invoices(partner: str, pivots: list[Pending]) -> ColumnElement[bool]:
    """The invoices whose current pivot is one of `pivots`, all of `partner`'s."""
    return and_(
        InvoiceRow.flow_id.in_({p.flow_id for p in pivots if p.flow_id is not None}),
        InvoiceRow.recipient_partner == partner,
        InvoiceRow.pivot_file.in_([p.name for p in pivots]),
    )


def _mark(session: Session, partner: str, pivots: list[Pending], held: bool) -> None:
    """An invoice whose pivot is held back is marked NOT_PUBLISHED until it is published
    (`invoices search --delivery-incident` finds it); a recipient's own 94 or 95 stays."""
    which = _invoices(partner, pivots)
    if held:
        marked = update(InvoiceRow).where(which, InvoiceRow.delivery_incident.is_(None))
        session.execute(marked.values(delivery_incident=NOT_PUBLISHED))
    else:
        cleared = update(InvoiceRow).where(which, InvoiceRow.delivery_incident == NOT_PUBLISHED)
        session.execute(cleared.values(delivery_incident=None))


def _refused(
    session: Session, refused: list[tuple[Pending, str]], held: Held, at: datetime
) -> None:
    """Say why on each row (one statement for the chunk), and when it is tried again."""
    if not refused:
        return
    rows = []
    for output, why in refused:
        attempts = output.attempts + 1
        wait = retry_in(attempts)
        rows.append(
            {"id": output.id, "delivery_error": why[:2000], "delivery_attempts": attempts,
             "next_try_at": at + wait}
        )  # fmt: skip
        held.add(output, why, wait)
    session.execute(update(Output), rows)
    first: dict[str, list[Pending]] = defaultdict(list)
    for output, _ in refused:
        if output.kind == PIVOT and output.attempts == 0:
            first[output.partner].append(output)
    for partner, pivots in first.items():
        _mark(session, partner, pivots, held=True)


def finish(settings: Settings, session: Session) -> None:
    """Publish the committed outputs left staged whose time has come: by a process that
    stopped between its commit and its publication, or held back by what a partner left
    under their names. A live process's folder is left to it; a dead one's is taken over.
    Staged files no committed output refers to (a transaction that never committed, an
    output purged before it was published) are removed once older than a lease, and so
    are the lock files of staging folders that are gone (a process killed in between)."""
    top = root(settings)
    top.mkdir(parents=True, exist_ok=True)
    mine = outgoing.Stager.mine(top)
    if mine is not None:
        mine.beat()
    due = _due(session)
    quiet = settings.processing.lease_seconds
    held = Held()
    present = set(outgoing.folders(top))
    for name in sorted(present | set(due)):
        pending = due.get(name, [])
        if name not in present:  # never marked published from here: its files are elsewhere
            _elsewhere(top / name, pending)
            continue
        if mine is not None and name == mine.name:
            publish(settings, session, pending, held)
            _tidy(session, mine.folder, quiet, mine.unsettled())
            continue
        with outgoing.abandoned(top, name, quiet) as taken:
            if not taken:
                continue
            old = outgoing.untouched(top / name, quiet)  # never one just made
            publish(settings, session, pending, held)
            _tidy(session, top / name, quiet)
            if old and outgoing.remove_folder(top, name):
                _tidied.pop(top / name, None)
    for lock in outgoing.orphan_locks(top, quiet):
        log.info("removed %s, the lock of a staging folder that is gone", lock)
    held.log()


def _elsewhere(folder: Path, pending: list[Pending]) -> None:
    """Committed outputs staged in a folder this host does not have: another host's, whose
    run/ is not this one's (a misconfiguration: every host must share the home's run/), or
    run/ emptied by hand. Taken for published, they would never reach their partners: they
    are left as they are, and the operator told, at each run, until the folder is back."""
    log.error(
        "%d committed output(s) (%s, …) are staged in %s, which is not here: if several "
        "hosts share this ledger, they must share the home's run/ folder too; left "
        "unpublished until that folder is back",
        len(pending), display.escaped(f"{pending[0].partner}/{pending[0].name}"), folder,
        extra={"outcome": "not published"},
    )  # fmt: skip


def _due(session: Session) -> dict[str, list[Pending]]:
    """Committed outputs not yet published whose time has come (never tried, or held back
    and waited), by staging folder, oldest first; at most PER_FINISH."""
    rows = session.execute(
        select(*PENDING)
        .where(
            Output.staged.is_not(None),
            or_(Output.next_try_at.is_(None), Output.next_try_at <= clock.now()),
        )
        .order_by(Output.id)
        .limit(PER_FINISH)
    ).all()
    session.commit()  # no ledger lock held while looking at folders
    due: dict[str, list[Pending]] = defaultdict(list)
    for row in rows:
        due[row.staged.split("/", 1)[0]].append(Pending(*row))
    return due


def _tidy(session: Session, folder: Path, quiet: float, keep: set[str] | None = None) -> None:
    """Remove the files of `folder` (held by this process) no committed output refers to,
    untouched for a lease: who refers to them is read now, never from an earlier snapshot.
    `keep`: files staged for a transaction of this process still open. Looked at once in
    a while only: a folder full of held-back outputs is not listed at every run."""
    now = time.monotonic()
    if now - _tidied.get(folder, -quiet) < quiet * TIDY_EVERY:
        return
    _tidied[folder] = now
    found = outgoing.leftovers(folder, keep or set(), quiet)
    if not found:
        return
    tokens = {f"{folder.name}/{path.name}": path for path in found}
    kept = referenced(session, list(tokens))
    session.commit()
    for token, path in tokens.items():
        if token not in kept:
            path.unlink(missing_ok=True)
            log.info("removed %s, staged for a transaction that never committed", path)


def remove(settings: Settings, staged: Iterable[str]) -> Iterator[Path]:
    """Remove staged files (a rolled-back transaction's, or outputs replaced before they were
    published); yields those removed."""
    for token in staged:
        path = root(settings) / token
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        yield path


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
