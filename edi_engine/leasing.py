"""The one place that leases flows: work is leased, never locked forever.

A flow leased by a worker that died is taken again once its lease has expired, and
the event says so. On PostgreSQL, ``SKIP LOCKED`` lets several workers lease at once.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from . import clock
from .models import Flow, FlowEvent
from .states import FlowState


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
    for flow in flows:
        detail = (
            f"lease of {flow.lease_owner} expired; taken again"
            if flow.status == FlowState.IN_EN_COURS_TRAITEMENT
            else "leased for processing"
        )
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
