"""A partner deposits invoices only for the suppliers tied to it, unless it is an operator
(docs/errors.md#who-may-deposit-for-whom)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pivot_format.model import Invoice

from ..ledger.models import Flow
from ..problems import Problem
from . import depositors
from .catalogue import CATALOGUE


class Depositor:
    """The partner who deposited the flow being controlled (or recycled): None, the
    partner of the flow numbered `flow_number` in the ledger. Each (partner, supplier) is
    looked up once in `allowed`, which a run shares between its flows like the rest of its
    referential: one-invoice flows must not pay two queries each."""

    def __init__(
        self,
        session: Session,
        flow_number: str,
        partner_code: str | None,
        allowed: dict[tuple[str, str | None], bool],
    ) -> None:
        self.session = session
        self.partner_code = partner_code or session.scalar(
            select(Flow.partner_code).where(Flow.number == flow_number)
        )
        self._allowed = allowed

    def check(self, invoice: Invoice) -> list[Problem]:
        if self.partner_code is None:  # no ledger behind (unit tests of other controls)
            return []
        supplier = invoice.supplier.identifier
        key = (self.partner_code, supplier)
        if key not in self._allowed:
            reason = depositors.refusal(self.session, self.partner_code, supplier)
            self._allowed[key] = reason is None
        if self._allowed[key]:
            return []
        return [
            CATALOGUE["SUPPLIER_NOT_ALLOWED"].fails(
                depositors.shown(supplier), partner=self.partner_code
            )
        ]
