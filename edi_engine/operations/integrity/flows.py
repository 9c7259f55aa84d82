"""Every flow has its original, intact, and is finished or in a live worker's hands.

One pass over the flows, a page at a time: each archived original is hashed again and
compared with the SHA-256 and size recorded when it was received; each flow not in a
final state must hold a lease that has not expired (a flow just received, not yet
leased, is given `processing.lease_seconds` before it counts as forgotten: a running
daemon takes it within seconds). The pass also hands each answered flow to the monthly
recount (`counters.Recount`), so that the flows are read once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from ... import clock
from ...ledger.models import Flow, Output
from ...ledger.states import FlowState
from ...reception import archive
from ...settings import Settings
from . import findings as kinds
from .counters import Recount
from .findings import Findings, Problem
from .reading import Roots, chunks, look, pages

FINAL = frozenset(
    {
        FlowState.IN_INTEGRE,
        FlowState.IN_INTEGRE_PARTIEL,
        FlowState.IN_REJETE,
        FlowState.IN_INCIDENTE,
    }
)
COLUMNS = (
    Flow.id,
    Flow.number,
    Flow.partner_code,
    Flow.file_name,
    Flow.archive_path,
    Flow.content_hash,
    Flow.size,
    Flow.status,
    Flow.lease_owner,
    Flow.lease_expires_at,
    Flow.updated_at,
    Flow.received_at,
    Flow.syntax,
    Flow.invoice_count,
    Flow.rejected_count,
)
RESTORE = (
    "restore {path} from a backup of the archive (an original is named by its SHA-256: "
    "any copy with that hash is the very file); until then `flows rerun` refuses the flow"
)


def check(settings: Settings, session: Session, found: Findings, recount: Recount) -> None:
    now = clock.now()
    quiet = timedelta(seconds=settings.processing.lease_seconds)
    root = Roots.of(settings.archive, settings.outbox, settings.run, settings.home).archive
    for page in pages(session, select(*COLUMNS), Flow.id):
        answered = _answered(session, [flow.id for flow in page])
        for flow in page:
            found.count("flows")
            _original(session, root, flow, found)
            _state(flow, now, quiet, found)
            if flow.id in answered:  # counted once answered (counters.count_flow)
                recount.flow(flow)


def _answered(session: Session, ids: list[int]) -> set[int]:
    """Which of these flows were answered (a CR each attempt): those the counters count."""
    answered: set[int] = set()
    for chunk in chunks(ids):
        query = select(Output.flow_id).where(Output.kind == "CR", Output.flow_id.in_(chunk))
        answered.update(session.scalars(query.distinct()))
    session.rollback()
    return answered


def _original(session: Session, root: tuple[str, str], flow: Row[Any], found: Findings) -> None:
    path, shown = Roots.file(root, flow.archive_path)
    head = archive.is_head(flow.archive_path)  # only its first bytes: its size is checked
    state = look(path, hashed=not head)
    found.count("originals")
    where = {"flow": flow.number, "partner": flow.partner_code, "path": shown}
    of = f"the original of {flow.file_name} from partner {flow.partner_code}, {shown},"
    if not state.exists:
        if not _still_there(session, flow.id):  # purged meanwhile, with its original
            return
        message = f"{of} is missing from the archive."
        found.add(Problem(kinds.ORIGINAL_MISSING, flow.number, message, _restore(shown), **where))
        return
    if not state.regular or state.error:
        what = state.error or "is not a plain file"
        message = f"{of} cannot be read: {what}."
        found.add(Problem(kinds.ORIGINAL_ALTERED, flow.number, message, _restore(shown), **where))
        return
    if head:
        expected = min(flow.size, archive.HEAD_BYTES)
        if state.size != expected:
            message = (
                f"{of} kept as its first {expected} bytes (the file was over the size "
                f"limit), holds {state.size} bytes."
            )
            found.add(
                Problem(kinds.ORIGINAL_ALTERED, flow.number, message, _restore(shown), **where)
            )
        return
    if (state.sha256, state.size) != (flow.content_hash, flow.size):
        message = (
            f"{of} has SHA-256 {state.sha256} ({state.size} bytes), not {flow.content_hash} "
            f"({flow.size} bytes) as recorded when it was received: it was changed after."
        )
        mend = _restore(shown).removesuffix(".") + "; the archive is written once, never modified."
        found.add(Problem(kinds.ORIGINAL_ALTERED, flow.number, message, mend, **where))


def _restore(path: str) -> str:
    return RESTORE.format(path=path) + "."


def _still_there(session: Session, flow_id: int) -> bool:
    there = session.scalar(select(Flow.id).where(Flow.id == flow_id)) is not None
    session.rollback()
    return there


def _state(flow: Row[Any], now: datetime, quiet: timedelta, found: Findings) -> None:
    if flow.status in FINAL:
        return
    expires = clock.aware(flow.lease_expires_at)
    updated = clock.aware(flow.updated_at)
    leased = flow.status == FlowState.IN_EN_COURS_TRAITEMENT
    if leased and expires is not None and expires > now:
        return  # in a worker's hands
    if flow.status == FlowState.IN_RECU and updated > now - quiet:
        return  # just received: a running worker takes it now
    since = f"{flow.status} since {updated:%Y-%m-%d %H:%M:%S} UTC"
    if leased and expires is not None:
        message = (
            f"{since}: the lease of {flow.lease_owner} expired at {expires:%Y-%m-%d %H:%M:%S} "
            "UTC; its worker stopped before finishing it."
        )
        mend = (
            "run `edi-engine run --once` to finish it (a worker takes again a flow whose "
            "lease expired)."
        )
    elif leased:
        message = f"{since} with no lease: no worker holds it, and none will take it."
        mend = (
            f"give it back to the workers (in the ledger: UPDATE flows SET status = 'IN_RECU', "
            f"lease_owner = NULL WHERE number = '{flow.number}'), then run `edi-engine run --once`."
        )
    else:
        message = f"{since}, leased by no worker: nothing is processing it."
        mend = "run `edi-engine run --once` to finish it."
    found.add(
        Problem(
            kinds.FLOW_STUCK,
            flow.number,
            message,
            mend,
            flow=flow.number,
            partner=flow.partner_code,
        )
    )
