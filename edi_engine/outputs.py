"""Files the engine writes: named deterministically, checked against our schemas,
written atomically, recorded in the ledger (ARCHITECTURE §8, §9)."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from connectors import local

from . import clock, validation
from .errors import EngineError
from .models import Output
from .settings import Settings

CR = "CR"
PIVOT = "PIVOT"
STATUT = "STATUT"


class OutputInvalid(EngineError):
    """A file the engine produced does not validate against its own schema."""


def file_name(kind: str, partner: str, flow_number: str, n: int | None = None) -> str:
    suffix = f"_{n}" if n is not None else ""
    return f"{kind}_{partner}_{flow_number}{suffix}.xml"


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
) -> None:
    local.write_atomic(settings.outbox / partner / name, content, settings.processing.fsync)
    values = {"kind": kind, "partner_code": partner, "file_name": name, "written_at": clock.now()}
    session.execute(insert(Output).values(flow_id=flow_id, **values))
