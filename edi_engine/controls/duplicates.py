"""An invoice is unique by supplier identifier, number and year of issue
(docs/architecture.md#business-controls); the number is compared by its key
(`numbers.key`), so that a number that only looks different is the same number."""

from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pivot_format.model import Invoice

from ..models import Flow
from ..models import Invoice as InvoiceRow
from ..problems import Problem
from ..states import InvoiceState
from . import numbers
from .catalogue import CATALOGUE

NUMBER_LENGTH = 40  # invoices.number
NOT_COUNTED = (InvoiceState.REJETEE, InvoiceState.REFUSEE_RECEPTION)


class Duplicates:
    """Invoices already accepted: in the ledger, and earlier in the flow being processed
    (whose rows are not inserted yet). An invoice rejected, at reception or later by its
    recipient, does not count: the supplier may deposit a corrected one."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._seen: dict[tuple[str, str, int], str] = {}

    @staticmethod
    def _key(invoice: Invoice) -> tuple[str, str, int]:
        number = numbers.key(invoice.number[:NUMBER_LENGTH])  # as recording stores it
        return invoice.supplier.identifier, number, invoice.year

    def check(
        self, invoice: Invoice, ignore: int | None = None, depositor: str | None = None
    ) -> list[Problem]:
        """`ignore`: the ledger id of the invoice itself, when it is controlled again. The
        earlier flow is named only to the partner who deposited it (`depositor`): another
        partner's flow is never revealed."""
        key = self._key(invoice)
        self._serialise(key)
        # earlier in this very flow, or in the ledger: (its flow, that flow's partner)
        earlier = (self._seen[key], depositor) if key in self._seen else None
        earlier = earlier or self._in_ledger(*key, ignore)
        if earlier is None:
            return []
        supplier, _, year = key
        flow, by = earlier
        named = flow if by == depositor else None
        return [
            CATALOGUE["INVOICE_DUPLICATE"].fails(
                numbers.shown(invoice.number),
                supplier=supplier,
                year=year,
                flow_fr=f" (flux {named})" if named else "",
                flow_en=f" (flow {named})" if named else "",
            )
        ]

    def _serialise(self, key: tuple[str, str, int]) -> None:
        """Two workers on PostgreSQL take the same invoice one after the other: the lock is
        held until this flow's transaction ends, when its invoices are in the ledger.
        (SQLite runs one writer at a time already.)"""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        lock_id = int.from_bytes(digest, "big", signed=True)
        self.session.execute(select(func.pg_advisory_xact_lock(lock_id)))

    def accepted(self, invoice: Invoice, flow_number: str) -> None:
        self._seen[self._key(invoice)] = flow_number

    def withdrawn(self, invoice: Invoice) -> None:
        """Accepted by the controls, then refused all the same (its pivot could not be
        written): it no longer counts."""
        self._seen.pop(self._key(invoice), None)

    def _in_ledger(
        self, supplier: str, number_key: str, year: int, ignore: int | None
    ) -> tuple[str, str] | None:
        """The number and partner of a flow that brought an invoice of this supplier, year
        and number key and had it accepted."""
        query = (
            select(Flow.id)
            .join(InvoiceRow, InvoiceRow.flow_id == Flow.id)
            .where(
                InvoiceRow.supplier_id == supplier,
                InvoiceRow.number_key == number_key,
                InvoiceRow.issue_date.between(date(year, 1, 1), date(year, 12, 31)),
                InvoiceRow.status.not_in(NOT_COUNTED),
            )
            .limit(1)
        )
        if ignore is not None:
            query = query.where(InvoiceRow.id != ignore)
        flow_id = self.session.scalar(query)
        if flow_id is None:
            return None
        flow = self.session.get(Flow, flow_id)
        return flow.number, flow.partner_code
