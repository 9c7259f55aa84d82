"""Partners: the EDI connections (fiches de raccordement) and their folders."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock
from .errors import InvalidPartnerCode, PartnerExists
from .models import Partner
from .settings import Settings

# Recepteur/Emetteur Id of the pivot: 3 to 8 characters; no '_' (file names split on it)
CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,7}$")


def check_code(code: str) -> str:
    if not CODE.match(code):
        raise InvalidPartnerCode(
            f"Partner code {code!r} is invalid: use 3 to 8 capital letters, digits or '-' "
            "(it names folders and files, and is the pivot's Recepteur/Emetteur Id)."
        )
    return code


def add(settings: Settings, session: Session, code: str, name: str) -> dict[str, Any]:
    """Register a partner and create its inbox and outbox; the caller commits."""
    check_code(code)
    if session.get(Partner, code) is not None:
        raise PartnerExists(f"Partner {code} is already registered.")
    partner = Partner(code=code, name=name.strip() or code, channel="local", created_at=clock.now())
    session.add(partner)
    for folder in (settings.inbox / code, settings.outbox / code):
        folder.mkdir(parents=True, exist_ok=True)
    return describe(settings, partner)


def describe(settings: Settings, partner: Partner) -> dict[str, Any]:
    return {
        "code": partner.code,
        "name": partner.name,
        "channel": partner.channel,
        "inbox": str(settings.inbox / partner.code),
        "outbox": str(settings.outbox / partner.code),
        "created_at": clock.aware(partner.created_at).isoformat(),
    }


def list_partners(settings: Settings, session: Session) -> list[dict[str, Any]]:
    return [describe(settings, p) for p in session.scalars(select(Partner).order_by(Partner.code))]
