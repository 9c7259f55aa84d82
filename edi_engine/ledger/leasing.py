"""The one place that leases flows: work is leased, never locked forever.

A flow leased by a worker that died is taken again once its lease has expired, and
the event says so. On PostgreSQL, ``SKIP LOCKED`` lets several workers lease at once.
A live worker never loses a lease, however slow (docs/architecture.md#lease): as each
flow's transaction (or a group commit's) begins it renews what it holds (`renew`,
`renew_all`: a compare-and-set; a flow taken from it is skipped), whose rows stay locked
until that transaction ends.
A flow whose processing kills its worker (out of memory, a crash) would kill every
worker that takes it: the flow a dead worker was processing is told from those it had
leased and not started, and after ``processing.max_attempts`` such deaths it is given up
(`workers_lost`, `given_up`). A worker of this host still alive is never counted dead.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from .. import clock
from ..errors import EngineError
from ..problems import Problem
from .models import Flow, FlowEvent
from .states import FlowState

WORKER_LOST = "worker lost"  # how the event of a flow taken from a dead worker's hands begins
TAKEN_BACK = "taken back: an earlier run of this worker stopped before it processed it"


class LeaseLost(EngineError):
    """The flow was taken by another worker: this one lets it go, with nothing committed."""


def worker_id() -> str:
    """This process, as no other process will ever be named, even one given its pid again
    (a restarted container's process 1): host, pid and the tick the process started at."""
    pid = os.getpid()
    return f"{socket.gethostname()[:64]}:{pid}:{_started(pid) or 0}"


def _started(pid: int) -> int | None:
    """When the process started, in clock ticks since boot; None if it is gone, a zombie,
    or unknown (no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()  # its name may hold anything
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):  # dead, not yet reaped
        return None
    return int(fields[19])


def alive(owner: str) -> bool:
    """Whether the worker that holds a lease is known to be alive: a process of this host
    with its pid and start. One of another host is not known alive: its lease decides."""
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname()[:64] or not pid.isdigit() or not started.isdigit():
        return False
    return int(started) != 0 and _started(int(pid)) == int(started)


def lease(session: Session, worker: str, limit: int, lease_seconds: int) -> list[Flow]:
    """Lease up to ``limit`` flows waiting to be processed, oldest first, and commit. The
    caller processes nothing while it leases: a flow it holds already was left by one of
    its runs that stopped midway (the ledger or the disk failed under a daemon, which
    goes on), and is taken back at once, not once its lease ends."""
    now = clock.now()
    expired = and_(Flow.status == FlowState.IN_EN_COURS_TRAITEMENT, Flow.lease_expires_at < now)
    query = (
        select(Flow)
        .where(or_(Flow.status == FlowState.IN_RECU, expired, _held_by(worker)))
        .order_by(Flow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    flows = list(session.scalars(query))
    processing = _processed_when_lost(session, flows)
    for flow in flows:
        detail = TAKEN_BACK if flow.lease_owner == worker else _taken(flow, processing)
        flow.status = FlowState.IN_EN_COURS_TRAITEMENT
        flow.lease_owner = worker
        flow.lease_expires_at = now + timedelta(seconds=lease_seconds)
        flow.attempts += 1
        flow.updated_at = now
        session.add(
            FlowEvent(
                flow_id=flow.id,
                at=now,
                status=FlowState.IN_EN_COURS_TRAITEMENT,
                actor=worker,
                detail=detail,
            )
        )
    session.commit()
    return flows


def _processed_when_lost(session: Session, flows: list[Flow]) -> set[int]:
    """Of the flows whose lease expired in the hands of its owner (a worker that died; one
    that failed transiently let go of it), the one each owner was processing alone. A
    worker processes the flows it leased for the first time together, in a group commit,
    and those it took again (after a death, say) first, one at a time, in id order,
    letting go of each as it ends: the lowest such id it still holds. A worker that died
    in a group has no one culprit: no flow is blamed, and each is taken again alone. The
    others it had not started: their death is not theirs. An owner still alive (of this
    host) is not dead: none of its flows is blamed."""
    owners = {
        flow.lease_owner
        for flow in flows
        if flow.status == FlowState.IN_EN_COURS_TRAITEMENT
        and flow.lease_owner
        and not alive(flow.lease_owner)
    }
    if not owners:
        return set()
    query = (
        select(func.min(Flow.id))
        .where(
            Flow.lease_owner.in_(owners),
            Flow.status == FlowState.IN_EN_COURS_TRAITEMENT,
            Flow.attempts > 1,  # taken again: processed alone (a group has no one culprit)
        )
        .group_by(Flow.lease_owner)
    )
    return set(session.scalars(query))


def _taken(flow: Flow, processing: set[int]) -> str:
    """What the event of a flow being leased says (`workers_lost` counts WORKER_LOST)."""
    owner = flow.lease_owner
    if flow.status != FlowState.IN_EN_COURS_TRAITEMENT:
        return "leased for processing"
    if owner is None:
        return "taken again after a transient failure"
    if flow.id in processing:
        return f"{WORKER_LOST}: the lease of {owner} expired while it processed it; taken again"
    if flow.attempts == 1 and not alive(owner):  # in a group: no one culprit is known
        return (
            f"lease of {owner} expired before it committed the group it processed this flow "
            "in, or before it reached it; taken again alone"
        )
    if alive(owner):
        return f"lease of {owner}, alive, expired before it processed the flow; taken again"
    return f"lease of {owner} expired before it processed the flow; taken again"


def _held_by(worker: str):
    return and_(Flow.lease_owner == worker, Flow.status == FlowState.IN_EN_COURS_TRAITEMENT)


def renew(session: Session, flow_id: int, worker: str, lease_seconds: int) -> bool:
    """In the caller's transaction: renew the flow's lease if it is still ours (compare and
    set), and the lease of every other flow we hold; False when another worker took it
    meanwhile (our lease had expired): it is theirs. The rows renewed stay locked until
    that transaction ends (PostgreSQL: the UPDATE's row locks, which SKIP LOCKED leasing
    passes over; SQLite: a writer holds the whole ledger): however long the flow takes,
    no other worker can lease them while this one lives, and the renewal committed with
    the flow keeps them ours after it."""
    until = clock.now() + timedelta(seconds=lease_seconds)
    statement = (
        update(Flow)
        .where(Flow.id == flow_id, _held_by(worker))
        .values(lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    ours = session.execute(statement).rowcount == 1
    mine = select(Flow.id).where(_held_by(worker), Flow.id != flow_id)
    session.execute(  # one a lease of another worker is taking right now is passed over
        update(Flow)
        .where(Flow.id.in_(mine.with_for_update(skip_locked=True).scalar_subquery()))
        .values(lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return ours


def renew_all(session: Session, flow_ids: list[int], worker: str, lease_seconds: int) -> set[int]:
    """`renew` for a group commit's flows, in one statement: those still ours, renewed and
    locked until the batch's transaction ends; a flow missing from the answer was taken by
    another worker once its lease expired."""
    if not flow_ids:
        return set()
    until = clock.now() + timedelta(seconds=lease_seconds)
    statement = (
        update(Flow)
        .where(Flow.id.in_(flow_ids), _held_by(worker))
        .values(lease_expires_at=until)
        .returning(Flow.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(statement))


def hold(session: Session, flow_id: int, worker: str, lease_seconds: int) -> None:
    """`renew`, or LeaseLost: as the flow's transaction begins (its row is ours until it
    ends, and what it commits therefore ours)."""
    if not renew(session, flow_id, worker, lease_seconds):
        raise LeaseLost("another worker took it once its lease expired")


def workers_lost(session: Session, flow_id: int, restart: str) -> int:
    """The workers that died processing the flow since it was received, or since its last
    event beginning with ``restart`` (a re-run: an operator asked for it again)."""
    return events_since(session, flow_id, WORKER_LOST, restart)


def events_since(session: Session, flow_id: int, counted: str, restart: str) -> int:
    """The flow's events beginning with ``counted`` since it was received, or since its
    last event beginning with ``restart``: what a retry limit counts."""
    details = session.scalars(
        select(FlowEvent.detail).where(FlowEvent.flow_id == flow_id).order_by(FlowEvent.id)
    )
    count = 0
    for detail in details:
        if (detail or "").startswith(restart):
            count = 0
        elif (detail or "").startswith(counted):
            count += 1
    return count


def given_up(lost: int) -> Problem:
    """What the CR of a flow given up after killing its worker ``lost`` times says."""
    return Problem(
        "FLOW_KILLED_WORKER",
        f"The processing of the flow stopped the hub's worker {lost} times (out of memory, "
        "a crash): it is not taken again. Check the flow (its size, its content) before "
        "sending it again.",
        value=str(lost),
        message_fr=f"Le traitement du flux a interrompu {lost} fois le processus de la "
        "plateforme qui le traitait (mémoire épuisée, arrêt brutal) : il n'est plus repris. "
        "Vérifiez le flux (taille, contenu) avant de le déposer à nouveau.",
    )


def release(session: Session, flow: Flow, worker: str) -> None:
    """Give back a leased flow that will not be processed now (the worker is stopping), if
    it is still ours."""
    now = clock.now()
    given_back = session.execute(
        update(Flow)
        .where(Flow.id == flow.id, _held_by(worker))
        .values(
            status=FlowState.IN_RECU,
            lease_owner=None,
            lease_expires_at=None,
            attempts=Flow.attempts - 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if given_back.rowcount != 1:
        session.commit()
        return
    session.add(
        FlowEvent(
            flow_id=flow.id,
            at=now,
            status=FlowState.IN_RECU,
            actor=worker,
            detail="lease released: worker stopping",
        )
    )
    session.commit()
