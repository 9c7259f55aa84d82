"""Files the engine writes: named deterministically, checked against our schemas,
written atomically, recorded in the ledger (docs/architecture.md#pivot,
docs/architecture.md#data-safety)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from connectors import local
from pivot_format.model import Envelope

from . import clock, counters, home, validation
from .errors import EngineError, StorageError
from .models import Output, Partner
from .settings import Settings

CR = "CR"
PIVOT = "PIVOT"


# Session.info key: files written in the current transaction, withdrawn if it rolls back
WRITTEN = "edi_engine.written"
CHANNELS = "edi_engine.channels"  # Session.info key: partner code -> channel
TEMP_DIR = "edi_engine.temp_dir"  # Session.info key: run/tmp, checked once per session


def withdraw(session: Session) -> list[Path]:
    """Undo the files written in a transaction that was rolled back: a new file goes (no
    output may exist that the ledger does not know), a file that replaced an earlier one
    gets its earlier content back (the ledger still knows that one)."""
    written = session.info.pop(WRITTEN, [])
    for path, earlier, temp_dir in reversed(written):
        if earlier is None:
            path.unlink(missing_ok=True)
        else:
            _write(path, earlier, True, temp_dir)
    return [path for path, _, _ in written]


def forget_written(session: Session) -> None:
    """The transaction committed: its files are the ledger's now."""
    session.info.pop(WRITTEN, None)


@contextmanager
def committed(session: Session) -> Iterator[None]:
    """Commit what the block did; if it fails, roll back and withdraw the files it wrote."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        withdraw(session)
        raise
    forget_written(session)


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
    """Write the file and record it. `fresh`: the caller knows no output has this name yet
    (a flow's first attempt), which spares a query per file."""
    target = settings.outbox / partner / name
    earlier = target.read_bytes() if target.is_file() else None  # restored if rolled back
    temp_dir = _temp_dir(settings, session)  # never a temporary in the partner's folder
    _write(target, content, settings.processing.fsync, temp_dir)
    session.info.setdefault(WRITTEN, []).append((target, earlier, temp_dir))
    at = clock.now()
    # an SFTP partner's file is queued until uploaded; a local outbox file is delivered
    queued = _channel(session, partner) == "sftp"
    values = {"kind": kind, "partner_code": partner, "file_name": name, "written_at": at}
    values["delivered_at"] = None if queued else at
    same_name = select(Output.id).where(Output.partner_code == partner, Output.file_name == name)
    replaced = None if fresh else session.scalar(same_name)
    if replaced is None:
        session.execute(insert(Output).values(flow_id=flow_id, **values))
        counters.count_output(session, kind, partner, at, settings.zone)
        return
    # the same file written again (a re-run replacing its outputs): one file, counted once
    values |= {"delivery_attempts": 0, "delivery_error": None}
    session.execute(update(Output).where(Output.id == replaced).values(flow_id=flow_id, **values))


def keep_as(settings: Settings, session: Session, partner: str, name: str, kept: str) -> bool:
    """An earlier output stays beside the one about to take its name: its ledger row is
    renamed `kept` and its file copied there, written (and withdrawn if the transaction
    rolls back) as any output is. A copy already there was made by an attempt that crashed
    before its commit, when the file under `name` may hold that attempt's output: it is
    left as it is. False when no output has that name."""
    same_name = select(Output.id).where(Output.partner_code == partner, Output.file_name == name)
    found = session.scalar(same_name)
    if found is None:
        return False
    session.execute(update(Output).where(Output.id == found).values(file_name=kept))
    source, target = settings.outbox / partner / name, settings.outbox / partner / kept
    if source.is_file() and not target.exists():  # a partner may have taken it already
        temp_dir = _temp_dir(settings, session)
        _write(target, source.read_bytes(), settings.processing.fsync, temp_dir)
        session.info.setdefault(WRITTEN, []).append((target, None, temp_dir))
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


def _temp_dir(settings: Settings, session: Session) -> Path:
    """run/tmp, made and checked against the outbox's file system once per session (a
    flow writes many files; intake checked it already when the run started)."""
    if TEMP_DIR not in session.info:
        session.info[TEMP_DIR] = home.ensure_run(settings)
    return session.info[TEMP_DIR]


def _write(target: Path, content: bytes, fsync: bool, temp_dir: Path) -> None:
    try:
        local.write_atomic(target, content, fsync, temp_dir)
    except local.ElsewhereError as exc:
        raise StorageError(  # a partner's folder mounted elsewhere once the run started
            f"Cannot write {target}: the engine's folder for temporaries {temp_dir} is on "
            f"another file system than the outbox, so a file cannot be renamed into place "
            f"atomically; set [paths] run (or EDI_ENGINE_PATHS_RUN) to a folder on the "
            f"outbox's file system."
        ) from exc


def _channel(session: Session, partner: str) -> str:
    """A partner's channel, read once per session: a flow of many pivots asks each time."""
    known = session.info.setdefault(CHANNELS, {})
    if partner not in known:
        known[partner] = session.scalar(select(Partner.channel).where(Partner.code == partner))
    return known[partner]
