"""Every output the ledger knows is on disk where it should be, as it was written.

Partners take their files from their outbox, so "on disk" depends on where an output is
on its road (docs/reliability.md):
- staged (committed, not yet published): its file in the engine's staging area
  (`run/outgoing/`), with the size and hash recorded when it was staged;
- published for a partner reached over SFTP and not yet uploaded: its local copy in
  `outbox/<PARTNER>/`, which the upload reads (not one whose upload waits only for its
  rename on the server, `uploaded_as`: judged as delivered);
- delivered (into a local partner's folder, or uploaded): the partner may have taken it,
  so absent is fine; present with other bytes, it was altered after publication.
An output recorded before the ledger kept sizes and hashes (migration 0020) is checked for
its presence only. What looks wrong is read again before it is said: a live engine may
have published or written the output again meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from ...ledger import home
from ...ledger.models import Flow, Output, Partner
from ...settings import Settings
from . import findings as kinds
from .counters import Recount
from .findings import Findings, Problem
from .reading import FileState, Roots, chunks, look, pages

COLUMNS = (
    Output.id,
    Output.flow_id,
    Output.kind,
    Output.partner_code,
    Output.file_name,
    Output.written_at,
    Output.delivered_at,
    Output.uploaded_as,
    Output.staged,
    Output.size,
    Output.sha256,
)
STAGED, QUEUED, DELIVERED = "staged", "queued", "delivered"
REPAIRABLE = frozenset({"PIVOT", "STATUT"})  # a CR carries the moment it was written


@dataclass(frozen=True)
class Place:
    """Where an output's file is (absolute, and as a problem names it), and whether the
    ledger needs it there."""

    path: str
    shown: str
    stage: str  # STAGED, QUEUED or DELIVERED
    needed: bool


def roots(settings: Settings) -> Roots:
    return Roots.of(settings.archive, settings.outbox, home.outgoing_dir(settings), settings.home)


def place(roots: Roots, row: Row[Any], channels: dict[str, str]) -> Place:
    if row.staged is not None:
        return Place(*Roots.file(roots.outgoing, row.staged), STAGED, True)
    local = Roots.file(roots.outbox, row.partner_code, row.file_name)
    # one whose bytes are on the server, to be renamed (uploaded_as), is not read again
    waiting = row.delivered_at is None and row.uploaded_as is None
    if channels.get(row.partner_code) == "sftp" and waiting:
        return Place(*local, QUEUED, True)
    return Place(*local, DELIVERED, False)


def channels_of(session: Session) -> dict[str, str]:
    found = dict(session.execute(select(Partner.code, Partner.channel)).all())
    session.rollback()
    return found


def rows(session: Session) -> Iterator[tuple[Row[Any], dict[int, str]]]:
    """Every output, a page at a time, with the numbers of the page's flows."""
    for page in pages(session, select(*COLUMNS), Output.id):
        ids = list({row.flow_id for row in page if row.flow_id is not None})
        numbers: dict[int, str] = {}
        for chunk in chunks(ids):
            numbers.update(
                session.execute(select(Flow.id, Flow.number).where(Flow.id.in_(chunk))).all()
            )
        session.rollback()
        for row in page:
            yield row, numbers


def check(settings: Settings, session: Session, found: Findings, recount: Recount) -> None:
    channels, folders = channels_of(session), roots(settings)
    for row, numbers in rows(session):
        found.count("outputs")
        recount.output(row.kind, row.partner_code, row.written_at)
        if row.sha256 is None:
            found.count("outputs_without_hash")
        where = place(folders, row, channels)
        state = look(where.path, hashed=row.sha256 is not None)
        problem = judged(session, row, where, state, numbers.get(row.flow_id))
        if problem is not None:
            found.add(problem)


def judged(
    session: Session, row: Row[Any], where: Place, state: FileState, flow: str | None
) -> Problem | None:
    """The problem with the output's file, if any, once read again from the ledger."""
    shown = where.shown
    what = f"{row.kind} {row.file_name} for partner {row.partner_code}" + (
        f" (flow {flow})" if flow else ""
    )
    context = {"flow": flow, "partner": row.partner_code, "path": shown}
    if not state.exists:
        if not where.needed or awaiting_rename(session, row) or changed(session, row):
            return None
        return Problem(
            kinds.OUTPUT_MISSING,
            shown,
            _missing(what, where, shown),
            mend_missing(row, flow),
            **context,
        )
    if not state.regular or state.error:
        if where.stage == DELIVERED:  # the partner's own thing under the name: it holds it
            return None
        if changed(session, row):
            return None
        why = state.error or "is not a plain file"
        message = f"{what}: {shown} {why}."
        return Problem(
            kinds.OUTPUT_ALTERED, shown, message, _mend_altered(row, where, shown, flow), **context
        )
    if row.sha256 is None or (state.size, state.sha256) == (row.size, row.sha256):
        return None
    if changed(session, row):
        return None
    message = (
        f"{what}: {shown} holds {state.size} bytes with SHA-256 {state.sha256}, not the "
        f"{row.size} bytes with SHA-256 {row.sha256} recorded when it was written"
        + {
            STAGED: "; it would be published as it is now.",
            QUEUED: "; the upload would send it as it is now.",
            DELIVERED: ": it was altered after its publication.",
        }[where.stage]
    )
    return Problem(
        kinds.OUTPUT_ALTERED, shown, message, _mend_altered(row, where, shown, flow), **context
    )


def _missing(what: str, where: Place, shown: str) -> str:
    if where.stage == STAGED:
        return (
            f"{what} is committed and waits to be published, but its staged file {shown} is "
            "missing: the next run would take it for published, and the partner would never "
            "get it."
        )
    return (
        f"{what} waits to be uploaded to the partner's SFTP server, but its local copy "
        f"{shown}, which the upload reads, is missing."
    )


def mend_missing(row: Row[Any], flow: str | None) -> str:
    """How to mend a missing output, by what can be written again."""
    first = "before the next run, which would take it for published: " if row.staged else ""
    return first + _written_again(row, flow)


def _written_again(row: Row[Any], flow: str | None) -> str:
    if row.sha256 is None:
        why = (
            "it was recorded before the ledger kept outputs' hashes, so a file written again "
            "could not be proved identical"
        )
    elif row.kind not in REPAIRABLE:
        why = (
            "a CR carries the moment it was written, which the ledger does not keep, so it "
            "cannot be written again identically"
        )
    else:
        return (
            "run `edi-engine check --repair-outputs`: it writes the file again, byte for byte, "
            "from the ledger and the archive."
        )
    if flow is None:
        return f"{why}; restore the file from a backup."
    return f"{why}; `edi-engine flows rerun {flow} --force` answers the flow again with new files."


def _mend_altered(row: Row[Any], where: Place, shown: str, flow: str | None) -> str:
    if where.stage == DELIVERED:
        again = (
            f", and `edi-engine flows rerun {flow} --force` if the partner needs it again"
            if flow
            else ""
        )
        return (
            "find who changed it (the engine never writes a published file again in place); "
            f"remove {shown}{again}."
        )
    again = _written_again(row, flow)
    if again.startswith("run "):
        return f"remove {shown}, then {again}"
    return f"remove {shown}: {again}"


def awaiting_rename(session: Session, row: Row[Any]) -> bool:
    """An earlier output renamed in the ledger (a re-run's CR kept as CR_…_N) keeps its file
    under the next output's name until that one is published: no file under its own yet."""
    waiting = select(Output.id).where(
        Output.partner_code == row.partner_code,
        Output.previous_kept_as == row.file_name,
        Output.staged.is_not(None),
    )
    found = session.scalar(waiting.limit(1)) is not None
    session.rollback()
    return found


def changed(session: Session, row: Row[Any]) -> bool:
    """Whether the output moved on since it was read (published, uploaded, written again,
    renamed, purged): what was seen then says nothing now."""
    now = session.execute(
        select(Output.staged, Output.delivered_at, Output.file_name, Output.sha256).where(
            Output.id == row.id
        )
    ).first()
    session.rollback()
    if now is None:
        return True
    return (now.staged, now.file_name, now.sha256) != (row.staged, row.file_name, row.sha256) or (
        now.delivered_at is None
    ) != (row.delivered_at is None)
