"""Receive: archive each stable inbox file, record it IN_RECU, then acknowledge it.

Nothing leaves an inbox before its archive copy is durable and its ledger row is
committed (docs/architecture.md#data-safety); a crash in between leaves the file where it
was, and the ledger knows it as the source of a flow not yet acknowledged
(`pending_sources`): that very file only is acknowledged when met again. Every other file
that leaves an inbox has a flow and a CR, even one with the name, modification time and
content of a file received before (issue 13, item 7).

A batch of files (`pickup.batch_size`) costs two sync barriers for its archive copies
(archive.Batch), one commit, and one fsync per inbox folder for its acknowledgements; its
flows are numbered and inserted by a few statements each (issue 14, item 2).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, aliased

from connectors import local

from .. import clock, display, failpoints
from ..ledger import exclusion, fields, home
from ..ledger.models import Flow, FlowEvent, FlowNumber, Partner, PendingSource
from ..ledger.states import FlowState
from ..partners.remote import ChannelReport
from ..settings import Settings
from . import archive, originals, pickup

ENGINE_ACTOR = "engine"
LOCK_FILE = "intake.lock"  # in the engine's run/ folder, on SQLite
INTAKE_LOCK = 0x6564692D696E746B  # "edi-intk": PostgreSQL's advisory lock of intake
STRAYS_NAMED = 20  # entries of inboxes that are no plain file named in the log, per run
log = logging.getLogger(__name__)
_strays_said: set[Path] = set()  # those this process logged already
_unreadable_said: set[Path] = set()  # unreadable files this process logged already


@dataclass
class IntakeResult:
    flow_ids: list[int] = field(default_factory=list)
    # inbox entries never taken: folders of no known partner, subfolders and links
    unknown: list[Path] = field(default_factory=list)
    sftp: ChannelReport = field(default_factory=ChannelReport)
    # files the engine may not read (their permissions), left in their inbox: why, by file
    unreadable: dict[Path, str] = field(default_factory=dict)


def flow_number(n: int) -> str:
    """Unique and sortable: the n-th number given, zero-padded."""
    return f"FL{n:010d}"


def next_number(session: Session) -> str:
    """The next flow number, never one given before, whatever was purged since."""
    return next_numbers(session, 1)[0]


def next_numbers(session: Session, count: int) -> list[str]:
    """The next ``count`` flow numbers in order, by one statement: the row of
    `flow_numbers` only grows, and on PostgreSQL stays locked until the caller commits."""
    if count < 1:
        return []
    numbers = FlowNumber.__table__
    statement = (
        update(numbers)
        .where(numbers.c.id == 1)
        .values(last_number=numbers.c.last_number + count)
        .returning(numbers.c.last_number)
    )
    last = session.execute(statement).scalar_one()
    return [flow_number(n) for n in range(last - count + 1, last + 1)]


def receive(settings: Settings, session: Session, ready: Iterable[Path] = ()) -> IntakeResult:
    """Fetch SFTP partners' files, then take every stable file of every partner."""
    # an inactive partner's folder is left untouched and reported, like an unknown one
    partners = {p.code: p for p in session.scalars(select(Partner).where(Partner.active))}
    remote = [p for p in partners.values() if p.channel == "sftp"]
    session.commit()  # hold no ledger lock while waiting for files to settle
    result = IntakeResult(unknown=local.unknown_folders(settings.inbox, partners))
    temp = home.ensure_run(settings)
    with exclusive(settings, session) as own:
        if own is None:  # another process of this home is receiving the same files
            log.info("intake skipped: another process holds the intake lock")
            return result
        copies = settings.archive / archive.TEMP  # only an intake writes there
        for folder in (temp, copies):
            for stale in local.sweep(folder, settings.processing.lease_seconds):
                log.info("removed %s, a temporary file left by a process that stopped", stale)
        inboxes = {code: settings.inbox / code for code in partners}
        strays = local.strays(inboxes)
        _said_once(strays)
        result.unknown += strays
        pickup.fetch(settings, remote, result.sftp)
        landed = [(p.code, pickup.landing(settings, p.code)) for p in remote]
        ready = {*ready, *(f for _, folder in landed for f in _files(folder))}  # complete
        folders = [*inboxes.items(), *landed]
        files = local.stable_files(folders, settings.pickup.stable_seconds, ready)
        _settle_pending(own, files, {code for code, _ in folders})
        size = max(1, settings.pickup.batch_size)
        for start in range(0, len(files), size):
            batch = files[start : start + size]
            result.flow_ids += _receive_batch(settings, own, batch, partners, result)
        _unreadable_once(result.unreadable)
    return result


@dataclass(frozen=True)
class Deposited:
    flow_id: int
    number: str


def deposit(
    settings: Settings, session: Session, deposits: Sequence[tuple[str, Path]]
) -> dict[Path, Deposited]:
    """Files partners deposited by another door than their inboxes (the API), each whole
    at its path (a folder of the engine's own, named as the partner named it): archived
    and recorded as inbox files are, by the same steps (the same hash, duplicate-flow rule
    and limits), together: one sync barrier for their copies, one commit. Their flows by
    path, once committed; a file missing from the answer could not be archived. No intake
    lock: that guards inboxes; recording is serialised with every intake's by the
    archive's guard, under which the duplicate-flow rule reads what stands. `session`
    holds no transaction (the archive is written first); the caller removes the files."""
    sources = []
    for partner, path in deposits:
        found = path.lstat()
        sources.append(
            local.InboxFile(
                partner, path, found.st_size, found.st_mtime_ns, found.st_dev, found.st_ino
            )
        )
    files, stored = _archived(settings, sources, {})
    with originals.guard(settings, session):
        files, stored = _still_archived(settings, session, files, stored)
        if not files:
            session.commit()
            return {}
        hashes = {archived.content_hash for archived in stored}
        ids = _recorded(session, list(zip(files, stored, strict=True)), standing(session, hashes))
        # no inbox file to acknowledge: the flows' sources are pending no more at once
        session.execute(delete(PendingSource).where(PendingSource.flow_id.in_(ids)))
        numbers = dict(session.execute(select(Flow.id, Flow.number).where(Flow.id.in_(ids))).all())
        session.commit()
    return {
        source.path: Deposited(flow_id, numbers[flow_id])
        for source, flow_id in zip(files, ids, strict=True)
    }


@contextmanager
def exclusive(settings: Settings, session: Session) -> Iterator[Session | None]:
    """One intake at a time per home, whatever the hosts: yields the session to record in,
    or None at once when another process is receiving (it takes these files: this one
    skips, never waits). On PostgreSQL an advisory lock of the ledger, and the intake
    records through the connection that holds it (exclusion.held: a batch commits only
    while the lock is held), so that hosts sharing a home on network storage need no
    working file locks; on SQLite a file lock in run/."""
    with exclusion.held(settings, session, INTAKE_LOCK, LOCK_FILE) as own:
        yield own


def _said_once(strays: list[Path]) -> None:
    """An entry of a partner's inbox that is no plain file (a link, a folder, a FIFO) is
    never taken and a link never followed: it stays where it is, logged once by a process
    (a daemon meets it at every turn), the first STRAYS_NAMED by name and the rest counted."""
    new = [path for path in strays if path not in _strays_said]
    _strays_said.clear()  # one removed and put back is said again
    _strays_said.update(strays)
    for path in new[:STRAYS_NAMED]:
        log.warning(
            "%s is not a plain file (a link, a folder, a FIFO): never taken nor followed; "
            "left where it is",
            display.escaped(path),
        )
    if len(new) > STRAYS_NAMED:
        log.warning("%d more entries of inboxes are not plain files; left", len(new) - STRAYS_NAMED)


def _unreadable_once(unreadable: dict[Path, str]) -> None:
    """A file the engine may not read stays in its inbox and is taken once it can be: it is
    logged once by a process (a daemon meets it at every turn), the first STRAYS_NAMED by
    name and the rest counted; each run's report names it (`IntakeResult.unreadable`)."""
    new = [path for path in unreadable if path not in _unreadable_said]
    _unreadable_said.intersection_update(unreadable)  # one readable since is said again
    _unreadable_said.update(unreadable)
    for path in new[:STRAYS_NAMED]:
        log.warning("%s Left in its inbox until the engine can read it.", unreadable[path])
    if len(new) > STRAYS_NAMED:
        log.warning("%d more files of inboxes cannot be read; left", len(new) - STRAYS_NAMED)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []


def _receive_batch(
    settings: Settings,
    session: Session,
    files: list[local.InboxFile],
    partners: dict[str, Partner],
    result: IntakeResult,
) -> list[int]:
    # the long part, outside the archive's guard
    files, stored = _archived(settings, files, result.unreadable)
    failpoints.reached("after-archive")
    # from checking the copies to committing: a purge never removes an original this batch
    # refers to, and no purge or other intake waits while a batch is copied and fsynced
    with originals.guard(settings, session):
        files, stored = _still_archived(settings, session, files, stored)
        taken = _record_batch(session, files, stored)
        session.commit()
    failpoints.reached("after-record")
    landed = [f.path for f in files if pickup.is_landed(settings, f.path)]
    pickup.acknowledge(settings, partners, landed, result.sftp)
    landed_set = set(landed)

    def remove(inbox_file: local.InboxFile) -> None:
        if local.unchanged(inbox_file):
            local.acknowledge(inbox_file.path, False)  # made durable below, with the others
        else:  # rewritten since it was archived: keep it, it will be taken as a new flow
            log.warning(
                "%s changed while it was being received; left in the inbox", inbox_file.path
            )

    archive.in_parallel(remove, [f for f in files if f.path not in landed_set])
    if settings.processing.fsync:  # before the flows stop being pending
        local.fsync_dirs(f.path.parent for f in files)  # SFTP landings too
    _acknowledged(session, taken)
    return [flow_id for _, flow_id, new in taken if new]


def _record_batch(
    session: Session, files: list[local.InboxFile], stored: list[archive.Archived]
) -> list[tuple[local.InboxFile, int, bool]]:
    """Each file recorded as a flow whose source is pending, unless it is the very file of
    a flow still pending (recorded by a run that stopped before acknowledging it): by
    file, its flow's id and whether the flow is new."""
    hashes = {s.content_hash for s in stored}
    first = standing(session, hashes)
    pending = _pending_sources(session)
    new: list[tuple[local.InboxFile, archive.Archived]] = []
    taken: list[tuple[local.InboxFile, int | None]] = []  # None: a new flow, of `new`
    for inbox_file, archived in zip(files, stored, strict=True):
        recorded = pending.pop(_source_key(inbox_file, archived.content_hash), None)
        if recorded is None:
            new.append((inbox_file, archived))
            taken.append((inbox_file, None))
            continue
        flow_id, number = recorded
        log.warning(
            "%s was recorded as flow %s by a run that stopped before removing it; removing it now",
            inbox_file.path,
            number,
        )
        taken.append((inbox_file, flow_id))
    ids = iter(_recorded(session, new, first))
    return [
        (inbox_file, next(ids), True) if flow_id is None else (inbox_file, flow_id, False)
        for inbox_file, flow_id in taken
    ]


def _recorded(
    session: Session,
    new: list[tuple[local.InboxFile, archive.Archived]],
    first: dict[tuple[str, str], str],
) -> list[int]:
    """Record each file as a new flow IN_RECU, its source pending, numbered in order and
    marked a duplicate of the first flow of its partner with its content that stands
    (`first`, which it updates); their ids."""
    rows = []
    at = clock.now()
    for (inbox_file, archived), number in zip(new, next_numbers(session, len(new)), strict=True):
        key = (inbox_file.partner, archived.content_hash)
        rows.append(_flow_row(inbox_file, archived, number, first.get(key), at))
        first.setdefault(key, number)
    return _inserted(session, rows)


def _acknowledged(session: Session, taken: list[tuple[local.InboxFile, int, bool]]) -> None:
    """The sources that left their inbox (acknowledged, or rewritten since: no longer the
    file recorded) are pending no more. One left in place (its SFTP server could not be
    reached) stays pending: it is fetched again and recognised."""
    done = [flow_id for inbox_file, flow_id, _ in taken if not local.unchanged(inbox_file)]
    if done:
        session.execute(delete(PendingSource).where(PendingSource.flow_id.in_(done)))
    session.commit()


def _settle_pending(session: Session, files: list[local.InboxFile], partners: set[str]) -> None:
    """A pending source no longer in its inbox left it in a run that stopped before saying
    so: pending no more, so that a later file like it is a new deposit, never taken for it."""
    present = {(f.partner, _name(f), f.mtime_ns) for f in files}
    query = select(PendingSource.flow_id, Flow.partner_code, Flow.file_name, Flow.source_mtime_ns)
    gone = [
        flow_id
        for flow_id, partner, name, mtime in session.execute(
            query.join(Flow, Flow.id == PendingSource.flow_id)
        )
        if partner in partners and (partner, name, mtime) not in present
    ]
    if gone:
        session.execute(delete(PendingSource).where(PendingSource.flow_id.in_(gone)))
    session.commit()


def _archived(
    settings: Settings, files: list[local.InboxFile], unreadable: dict[Path, str]
) -> tuple[list[local.InboxFile], list[archive.Archived]]:
    """Archive each file as it was listed, and no more of it; one that vanished, or is no
    longer that plain file (written to, or a link or a FIFO put in its place), is left
    where it is, with nothing of it archived: a later run looks at it afresh; so is one
    the engine may not read, put in `unreadable`. The copies are durable, together, when
    it returns (archive.Batch)."""
    kept, stored = [], []
    with archive.Batch(settings.archive, settings.processing.fsync) as batch:
        copied = archive.in_parallel(
            lambda inbox_file: _stored(settings, inbox_file, batch, unreadable), files
        )
        for inbox_file, archived in zip(files, copied, strict=True):
            if archived is not None:
                kept.append(inbox_file)
                stored.append(archived)
        batch.place()
    return kept, stored


def _stored(
    settings: Settings,
    inbox_file: local.InboxFile,
    into: archive.Batch | None = None,
    unreadable: dict[Path, str] | None = None,
) -> archive.Archived | None:
    """Archived (without ``into``: durable on its own), or None: left for a later run. A
    file the engine may not read is that file's matter, not the batch's: it goes in
    `unreadable`, and the others are taken (a partner's file of mode 000 in its SFTP
    landing must not stop every partner's intake)."""
    # one over max_file_bytes is refused (FILE_TOO_LARGE): its hash, size and head suffice
    too_large = inbox_file.size > settings.limits.max_file_bytes
    store = archive.store_head if too_large else archive.store
    fsync = settings.processing.fsync
    try:
        return store(settings.archive, inbox_file.path, fsync, listed=inbox_file, into=into)
    except (archive.SourceGone, archive.SourceChanged) as moved:
        log.warning("%s Left for a later run.", moved.message)
        return None
    except archive.SourceUnreadable as refused:
        if unreadable is None:
            log.warning("%s Left for a later run.", refused.message)
        else:
            unreadable[inbox_file.path] = refused.message
        return None


def _still_archived(
    settings: Settings,
    session: Session,
    files: list[local.InboxFile],
    stored: list[archive.Archived],
) -> tuple[list[local.InboxFile], list[archive.Archived]]:
    """Under the archive's guard, the files archived before it was taken that can be
    recorded. One written to since (an upload resumed) is left for a later run, and its
    copy removed unless a flow refers to the same bytes: never an original no flow has.
    One whose copy a purge removed meanwhile (the same bytes, their flow purged) is stored
    again from its inbox file, or left if it cannot be: never a flow without its original."""
    kept, still, dropped = [], [], set()
    for inbox_file, archived in zip(files, stored, strict=True):
        if not local.unchanged(inbox_file):
            log.warning(
                "%s changed since it was archived; left for a later run", _shown(inbox_file)
            )
            dropped.add(archived.relative_path)
            continue
        if not (settings.archive / archived.relative_path).is_file():
            log.info("%s: its archived copy was purged meanwhile", _shown(inbox_file))
            archived = _stored(settings, inbox_file)
        if archived is not None:
            kept.append(inbox_file)
            still.append(archived)
    recorded = {archived.relative_path for archived in still}
    for relative in originals.unreferenced(session, dropped - recorded):
        (settings.archive / relative).unlink(missing_ok=True)
    return kept, still


def _shown(inbox_file: local.InboxFile) -> str:
    return display.escaped(inbox_file.path)


def _name(inbox_file: local.InboxFile) -> str:
    """The file's name as its flow keeps it: displayable, and cut to the column's length."""
    return fields.fit(Flow.file_name, local.display_name(inbox_file.path.name)) or ""


def _source_key(inbox_file: local.InboxFile, content_hash: str) -> tuple:
    return (inbox_file.partner, _name(inbox_file), inbox_file.mtime_ns, content_hash)


def _pending_sources(session: Session) -> dict[tuple, tuple[int, str]]:
    """The flows (id, number) whose file was recorded and not yet acknowledged, by partner,
    name, mtime and content: the only files an intake acknowledges without a flow."""
    query = select(
        Flow.partner_code,
        Flow.file_name,
        Flow.source_mtime_ns,
        Flow.content_hash,
        Flow.id,
        Flow.number,
    ).join(PendingSource, PendingSource.flow_id == Flow.id)
    return {(*key,): (flow_id, number) for *key, flow_id, number in session.execute(query)}


# an earlier flow with the same content stands for it while it is being processed or has
# invoices integrated; after IN_REJETE or IN_INCIDENTE its partner sends the content again
STANDING = (
    FlowState.IN_RECU,
    FlowState.IN_EN_COURS_TRAITEMENT,
    FlowState.IN_INTEGRE,
    FlowState.IN_INTEGRE_PARTIEL,
)


def standing(session: Session, hashes: set[str]) -> dict[tuple[str, str], str]:
    """By (partner, content hash), the number of the first flow of that partner with the
    content that still stands for it: a new flow with it is a duplicate (docs/errors.md,
    DUPLICATE_FLOW). A flow recorded as a copy counts too: its original may have been
    rejected since, and the copy processed as a new flow. Another partner's flows are
    never compared."""
    query = (
        select(Flow.partner_code, Flow.content_hash, Flow.number)
        .where(Flow.content_hash.in_(hashes), Flow.status.in_(STANDING))
        .order_by(Flow.id.desc())
    )
    return {(partner, digest): number for partner, digest, number in session.execute(query)}


def original_of(session: Session, flow: Flow) -> Row[tuple[str, str, str]] | None:
    """When any flow is processed: the earlier flow of its partner with its content that
    still stands for it, if any, whatever the intake recorded. One rejected or incidented
    since the intake no longer does; one recorded as a copy and processed as a new flow
    since (its own original rejected meanwhile) does. Its number, file name and status:
    this query must not load a whole row, and is built once. A flow whose group found
    no earlier flow with its content (`first_of_their_content`) is spared it."""
    if flow.id in session.info.get(FIRST_OF_THEIR_CONTENT, ()):
        return None
    values = {"partner": flow.partner_code, "digest": flow.content_hash, "before": flow.id}
    return session.execute(_ORIGINAL, values).first()


# Session.info key: the flows of the group being processed that no earlier flow of their
# partner shares their content with, whatever its status
FIRST_OF_THEIR_CONTENT = "edi_engine.first_of_their_content"


def first_of_their_content(session: Session, flow_ids: list[int]) -> None:
    """Before a group of flows is processed: one query for the group instead of one per
    flow (`original_of`), as almost every flow's content is new. Asked a second later,
    per flow, it could only have found in addition a flow recorded meanwhile with a lower
    id (another host's intake committing late), a race that asking per flow does not
    close either: the duplicate-invoice control refuses that flow's invoices."""
    earlier = aliased(Flow)
    shared = (
        select(earlier.id)
        .where(
            earlier.content_hash == Flow.content_hash,
            earlier.partner_code == Flow.partner_code,
            earlier.id < Flow.id,
        )
        .exists()
    )
    query = select(Flow.id).where(Flow.id.in_(flow_ids), shared)
    not_first = set(session.connection().execute(query).scalars())
    session.info[FIRST_OF_THEIR_CONTENT] = {i for i in flow_ids if i not in not_first}


_ORIGINAL = (
    select(Flow.number, Flow.file_name, Flow.status)
    .where(
        Flow.partner_code == bindparam("partner"),
        Flow.content_hash == bindparam("digest"),
        Flow.status.in_(STANDING),
        Flow.id < bindparam("before"),
    )
    .order_by(Flow.id)
    .limit(1)
)


def _flow_row(
    inbox_file: local.InboxFile,
    stored: archive.Archived,
    number: str,
    original: str | None,
    at: datetime,
) -> dict[str, object]:
    """A new flow's row, IN_RECU."""
    return {
        "number": number,
        "partner_code": inbox_file.partner,
        "file_name": _name(inbox_file),
        "content_hash": stored.content_hash,
        "size": stored.size,
        "source_mtime_ns": inbox_file.mtime_ns,
        "archive_path": stored.relative_path,
        "status": FlowState.IN_RECU,
        "received_at": at,
        "updated_at": at,
        "invoice_count": 0,
        "rejected_count": 0,
        "attempts": 0,
        "duplicate_of": original,
    }


def _inserted(session: Session, rows: list[dict[str, object]]) -> list[int]:
    """Insert the flows, their first event and their pending source, a statement per
    table (executemany); the flows' ids, in the rows' order. One multi-row INSERT gives
    ids in the order of its rows, so that ids grow with numbers (the earlier flow of a
    content is the one with the lower id: `original_of`)."""
    if not rows:
        return []
    flows = Flow.__table__
    # RETURNING's rows in any order (asking for the rows' order makes SQLite insert one
    # row per statement): told apart by their numbers
    given = dict(session.execute(insert(flows).returning(flows.c.number, flows.c.id), rows).all())
    ids = [given[row["number"]] for row in rows]
    events = [
        {
            "flow_id": flow_id,
            "at": row["received_at"],
            "status": FlowState.IN_RECU,
            "actor": ENGINE_ACTOR,
            "detail": f"received {row['file_name']} ({row['size']} bytes, "
            f"sha256 {row['content_hash']})",
        }
        for flow_id, row in zip(ids, rows, strict=True)
    ]
    session.execute(insert(FlowEvent.__table__), events)
    session.execute(insert(PendingSource.__table__), [{"flow_id": i} for i in ids])
    return ids
