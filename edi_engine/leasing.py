"""The one place that leases flows: work is leased, never locked forever.

A flow leased by a worker that died is taken again once its lease has expired, and
the event says so. On PostgreSQL, ``SKIP LOCKED`` lets several workers lease at once.
A flow whose processing kills its worker (out of memory, a crash) would kill every
worker that takes it: the flow a dead worker was processing is told from those it had
leased and not started, and after ``processing.max_attempts`` such deaths it is given up
(`workers_lost`, `given_up`).
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from . import clock
from .models import Flow, FlowEvent
from .problems import Problem
from .states import FlowState

WORKER_LOST = "worker lost"  # how the event of a flow taken from a dead worker's hands begins


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease(session: Session, worker: str, limit: int, lease_seconds: int) -> list[Flow]:
    """Lease up to ``limit`` flows waiting to be processed, oldest first, and commit."""
    now = clock.now()
    expired = and_(Flow.status == FlowState.IN_EN_COURS_TRAITEMENT, Flow.lease_expires_at < now)
    query = (
        select(Flow)
        .where(or_(Flow.status == FlowState.IN_RECU, expired))
        .order_by(Flow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    flows = list(session.scalars(query))
    processing = _processed_when_lost(session, flows)
    for flow in flows:
        detail = _taken(flow, processing)
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
    that failed transiently let go of it), the one each owner was processing. A worker
    processes what it leased one at a time, in id order, letting go of each as it ends:
    the lowest id it still holds. The others it had not started: their death is not
    theirs."""
    owners = {
        flow.lease_owner
        for flow in flows
        if flow.status == FlowState.IN_EN_COURS_TRAITEMENT and flow.lease_owner
    }
    if not owners:
        return set()
    query = (
        select(func.min(Flow.id))
        .where(Flow.lease_owner.in_(owners), Flow.status == FlowState.IN_EN_COURS_TRAITEMENT)
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
    return f"lease of {owner} expired before it processed the flow; taken again"


def workers_lost(session: Session, flow_id: int, restart: str) -> int:
    """The workers that died processing the flow since it was received, or since its last
    event beginning with ``restart`` (a re-run: an operator asked for it again)."""
    details = session.scalars(
        select(FlowEvent.detail).where(FlowEvent.flow_id == flow_id).order_by(FlowEvent.id)
    )
    lost = 0
    for detail in details:
        if (detail or "").startswith(restart):
            lost = 0
        elif (detail or "").startswith(WORKER_LOST):
            lost += 1
    return lost


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
    """Give back a leased flow that will not be processed now (the worker is stopping)."""
    now = clock.now()
    flow.status = FlowState.IN_RECU
    flow.lease_owner = None
    flow.lease_expires_at = None
    flow.attempts -= 1
    flow.updated_at = now
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
