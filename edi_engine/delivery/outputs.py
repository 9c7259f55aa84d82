"""Files the engine writes: named deterministically, checked against our schemas, staged
and recorded in the ledger, published once that is committed (docs/architecture.md#pivot,
docs/architecture.md#staging-and-publication)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Row, event, func, select, update
from sqlalchemy.orm import Session

from connectors import durable, outgoing
from pivot_format.model import Envelope

from .. import clock, failpoints
from ..errors import EngineError, StorageError
from ..ledger import counters, deferred
from ..ledger.models import Output
from ..reception import validation
from ..settings import Settings
from . import publication
from .publication import Pending

CR = "CR"
PIVOT = "PIVOT"


# Session.info keys: what the current transaction staged (published once it commits,
# removed if it rolls back), the staged files of earlier commits it replaces, the names
# an earlier output takes before the next under its name is published, and the settings
STAGED = "edi_engine.staged"
REPLACED = "edi_engine.replaced"
KEEPS = "edi_engine.keeps"
# Session.info key: outputs of transactions committed since, published together (`later`)
BACKLOG = "edi_engine.backlog"
SETTINGS = "edi_engine.settings"
# Session.info key: files staged by the transaction, made durable together before it commits
UNSYNCED = "edi_engine.unsynced"
SYNC_EVERY = 2000  # staged files made durable together at most
OUTPUTS = Output.__table__


def withdraw(session: Session) -> list[Path]:
    """After a rollback: remove what the transaction staged. Nothing was published, so
    nothing a partner may have taken is touched. A file a committed output refers to after
    all (a commit that failed once made) stays, and the next run publishes it."""
    staged = [p.staged for p in session.info.pop(STAGED, [])]
    session.info.pop(REPLACED, None)
    session.info.pop(KEEPS, None)
    session.info.pop(UNSYNCED, None)
    publication.settled(session, staged)  # a file left here is tidied later (finish)
    if not staged:
        return []
    try:
        kept = publication.referenced(session, staged)
    except Exception:  # the ledger is unreachable: the next run tells (publication.finish)
        session.rollback()
        return []
    session.rollback()
    settings = session.info[SETTINGS]
    return list(publication.remove(settings, [s for s in staged if s not in kept]))


@dataclass(frozen=True)
class Mark:
    """What a transaction had staged when a savepoint began (`mark`, `back_to`): files,
    and rows waiting for the commit (edi_engine/ledger/deferred.py)."""

    staged: int
    replaced: int
    unsynced: int
    keeps: dict
    rows: deferred.Mark


def mark(session: Session) -> Mark:
    """Before a savepoint: a group commit processes each flow in one of its own."""
    info = session.info
    return Mark(
        len(info.get(STAGED, [])),
        len(info.get(REPLACED, [])),
        len(info.get(UNSYNCED, [])),
        dict(info.get(KEEPS, {})),
        deferred.mark(session),
    )


def back_to(session: Session, mark: Mark) -> list[Path]:
    """The savepoint rolled back: remove what was staged since `mark` (nothing of it was
    published) and forget it, with the rows it left for the commit; what the transaction
    staged before stays. Returns the files removed."""
    info = session.info
    deferred.back_to(session, mark.rows)
    staged = info.get(STAGED, [])
    dropped = [p.staged for p in staged[mark.staged :]]
    del staged[mark.staged :]
    del info.get(REPLACED, [])[mark.replaced :]
    del info.get(UNSYNCED, [])[mark.unsynced :]
    info[KEEPS] = dict(mark.keeps)
    publication.settled(session, dropped)
    if not dropped:
        return []
    return list(publication.remove(info[SETTINGS], dropped))


def _unsynced(session: Session, settings: Settings, path: Path) -> None:
    """One more file for the commit's barrier. A transaction staging many (a flow of
    100,000 invoices) makes them durable SYNC_EVERY at a time, as it goes, so that their
    names are not all held until the commit (syncing early is never wrong)."""
    unsynced = session.info.setdefault(UNSYNCED, [])
    unsynced.append(str(path))
    if len(unsynced) >= SYNC_EVERY and settings.processing.fsync:
        durable.sync(unsynced)
        unsynced.clear()  # a savepoint's mark past the end then removes nothing more


@event.listens_for(Session, "before_commit")
def _make_durable(session: Session) -> None:
    """What the transaction staged is on disk before the ledger says so: one sync barrier
    per commit (connectors/durable.py), however many files a group commit staged; not at
    a savepoint's release (SQLAlchemy calls this hook then too)."""
    if session.in_nested_transaction():
        return
    files = session.info.pop(UNSYNCED, None)
    if files and session.info[SETTINGS].processing.fsync:
        durable.sync(files)


def later(session: Session) -> None:
    """The transaction committed: what it staged is published with the outputs of the next
    ones, by the next `published` (a run publishes once per lease batch: a commit per
    one-invoice flow doubled its cost). A crash meanwhile leaves them to `finish`."""
    staged, replaced = session.info.setdefault(BACKLOG, ([], []))
    staged.extend(session.info.pop(STAGED, []))
    replaced.extend(session.info.pop(REPLACED, []))
    session.info.pop(KEEPS, None)


def staged(session: Session) -> int:
    """How many outputs the current transaction staged so far."""
    return len(session.info.get(STAGED, []))


def waiting(session: Session) -> int:
    """How many committed outputs wait for the next `published`."""
    return len(session.info.get(BACKLOG, ([], []))[0])


def published(session: Session) -> None:
    """The transaction committed: publish what it staged (and what earlier ones left for
    `later`), and remove the staged files of the outputs it replaced before they were
    published."""
    later(session)
    staged, replaced = session.info.pop(BACKLOG)
    if staged or replaced:
        failpoints.reached("after-commit")
        settings = session.info[SETTINGS]
        list(publication.remove(settings, replaced))
        publication.publish(settings, session, staged)
        publication.settled(session, [p.staged for p in staged])


@contextmanager
def committed(session: Session) -> Iterator[None]:
    """Commit what the block did, then publish the files it staged; if it fails, roll back
    and remove them. What earlier runs left staged is the next run's (`publication.finish`,
    once per run: not after every block, which a status job runs once per supplier)."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        withdraw(session)
        raise
    published(session)


class OutputInvalid(EngineError):
    """A file the engine produced does not validate against its own schema."""


def envelope(settings: Settings, flow_id: str, receiver: str) -> Envelope:
    """Every file the hub writes is signed by the hub and addressed to one partner."""
    return Envelope(
        flow_id=flow_id,
        produced_at=clock.now().date(),
        sender_id=settings.hub.id,
        receiver_id=receiver,
        sender_label=settings.hub.name,
    )


def file_name(kind: str, partner: str, flow_number: str, n: int | None = None) -> str:
    suffix = f"_{n}" if n is not None else ""
    return f"{kind}_{partner}_{flow_number}{suffix}.xml"


def answers(session: Session, flow_id: int) -> int:
    """How many times the flow was answered, a CR each: its attempts so far (the last
    attempt's CR has the flow's CR name, each earlier one's is kept as CR_<P>_<FLOW>_<N>)."""
    deferred.flush(session)
    query = select(func.count()).where(Output.flow_id == flow_id, Output.kind == CR)
    return session.scalar(query)


def checked(root_tag: str, content: bytes, what: str) -> bytes:
    """Refuse to write anything our own XSD would refuse."""
    messages = validation.check_output(root_tag, content)
    if messages:
        raise OutputInvalid(f"{what} does not validate against our schema: {messages[0]}")
    return content


def deliver(
    settings: Settings,
    session: Session,
    flow_id: int | None,
    kind: str,
    partner: str,
    name: str,
    content: bytes,
    fresh: bool = False,
) -> None:
    """Stage the file and record it: it reaches outbox/<partner>/ once the caller's
    transaction commits (`committed`, `published`), never before. `fresh`: the caller knows
    no output has this name yet (a flow's first attempt), which spares a query per file."""
    stager = publication.stager(settings, session)
    token = stager.token(name)
    path, folder = publication.root(settings) / token, settings.outbox / partner
    try:
        try:
            outgoing.stage(path, content, folder)  # made durable at the commit
        except FileNotFoundError:
            if stager.folder.is_dir():
                raise
            stager.make_folder()  # removed from under us (run/ cleaned by hand, say)
            outgoing.stage(path, content, folder)
    except OSError as exc:
        stager.settle([token])
        raise StorageError(f"Cannot stage {name} in {publication.root(settings)}: {exc}") from exc
    session.info[SETTINGS] = settings
    _unsynced(session, settings, path)
    replaced = None if fresh else _same_name(session, partner, name)
    keep_as = session.info.get(KEEPS, {}).pop((partner, name), None)
    if replaced is not None and replaced.staged is not None:  # it had yet to do it
        keep_as = keep_as or replaced.previous_kept_as
    session.info.setdefault(STAGED, []).append(
        Pending(token, partner, name, kind, flow_id, keep_as)
    )
    at = clock.now()
    values = {"kind": kind, "partner_code": partner, "file_name": name, "written_at": at}
    # delivered once published (a local partner), or once uploaded (SFTP)
    values |= {"staged": token, "published_at": None, "delivered_at": None}
    values["previous_kept_as"] = keep_as
    # what the file holds: `edi-engine check` compares the file on disk with it
    values |= {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    if replaced is None:  # its row goes in with the commit (edi_engine/ledger/deferred.py)
        deferred.add(session, OUTPUTS, ({"flow_id": flow_id, **values},))
        counters.count_output(session, kind, partner, at, settings.zone)
        return
    # the same file written again (a re-run replacing its outputs): one file, counted once
    # its new bytes are to upload: an earlier upload's rename is no longer this one's
    values |= {"delivery_attempts": 0, "delivery_error": None, "uploaded_as": None}
    session.execute(
        update(Output).where(Output.id == replaced.id).values(flow_id=flow_id, **values)
    )
    if replaced.staged is not None:  # never published: its staged file goes with the commit
        session.info.setdefault(REPLACED, []).append(replaced.staged)


def _same_name(session: Session, partner: str, name: str) -> Row | None:
    """The output under `name` for `partner`, if any: its id, staged and previous_kept_as
    (the rows waiting for the commit are written first, so that it is found among them)."""
    deferred.flush(session)
    same_name = select(Output.id, Output.staged, Output.previous_kept_as).where(
        Output.partner_code == partner, Output.file_name == name
    )
    return session.execute(same_name).first()


def keep_as(settings: Settings, session: Session, partner: str, name: str, kept: str) -> bool:
    """An earlier output stays beside the one about to take its name: its ledger row is
    renamed `kept`, and its file (unless the partner took it) is renamed `kept` in the
    partner's folder just before the next output under `name` is published there, never
    copied or read. One still staged is published as `kept` itself. False when no output
    has that name."""
    found = _same_name(session, partner, name)
    if found is None:
        return False
    session.execute(
        update(Output).where(Output.id == found.id).values(file_name=kept, previous_kept_as=None)
    )
    # a staged one hands on what it was itself to rename when published under `name`
    passed_on = found.previous_kept_as if found.staged is not None else kept
    session.info.setdefault(KEEPS, {})[(partner, name)] = passed_on
    return True


def keep_previous_cr(
    settings: Settings, session: Session, partner: str, flow_number: str, attempt: int
) -> str | None:
    """Before attempt `attempt` answers a flow (a re-run, or the CR of an incident), the CR
    of the attempt before stays beside it as CR_<P>_<FLOW>_<N>.xml; returns that name."""
    if attempt == 1:
        return None
    name = file_name(CR, partner, flow_number)
    kept = file_name(CR, partner, flow_number, attempt - 1)
    return kept if keep_as(settings, session, partner, name, kept) else None
