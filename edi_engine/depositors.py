"""Who may deposit for whom: a partner deposits only for the suppliers tied to it, unless
it is registered as an operator (docs/errors.md#supplier_not_allowed)."""

from __future__ import annotations

from sqlalchemy.orm import Session


def refusal(session: Session, partner_code: str, supplier_id: str | None) -> str | None:
    """None when the partner may deposit for this supplier, else why not (English, naming
    the partner and the supplier)."""
    return None
