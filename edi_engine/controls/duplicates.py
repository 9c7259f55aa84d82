"""An invoice is unique by supplier identifier, number and year of issue
(docs/architecture.md#business-controls); the number is compared by its key
(`number_key.key`), so that a number that only looks different is the same number."""

from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import String, bindparam, false, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.orm import Session

from pivot_format.model import Invoice

from ..ledger.models import Flow, InvoiceGuard
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.states import InvoiceState
from ..number_key import key
from ..problems import Problem
from . import numbers
from .catalogue import CATALOGUE

NUMBER_LENGTH = 40  # invoices.number
NOT_COUNTED = (InvoiceState.REJETEE, InvoiceState.REFUSEE_RECEPTION)


def _guard_statement() -> Insert:
    """Lock the guard row of a key, inserting it the first time: a row another transaction
    locked, or inserted and has yet to commit, makes this one wait for its end. `WHERE
    false` locks the row without writing a new version of it."""
    statement = insert(InvoiceGuard).values(key=bindparam("guard"))
    return statement.on_conflict_do_update(
        index_elements=[InvoiceGuard.key], set_={"key": statement.excluded.key}, where=false()
    )


GUARD = _guard_statement()  # built once: it runs for every invoice on PostgreSQL
GUARD_BYTES = 8  # invoice_guards.key, a BIGINT: two keys sharing a row only wait
SEEN_BYTES = 16


def _digest(key: tuple[str, str, int], size: int, signed: bool = False) -> int:
    digest = hashlib.blake2b(repr(key).encode(), digest_size=size).digest()
    return int.from_bytes(digest, "big", signed=signed)


class Duplicates:
    """Invoices already accepted: in the ledger, and earlier in the flow being processed
    (whose rows are not inserted yet). An invoice rejected, at reception or later by its
    recipient, does not count: the supplier may deposit a corrected one."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # this flow's accepted invoices by the digest of their key: 100,000 keys held
        # whole took about 20 MB, their digests take 10 (a false match: one in 10^28)
        self._seen: dict[int, str] = {}
        self._guarded: bool | None = None  # on PostgreSQL; known at the first check

    @staticmethod
    def _key(invoice: Invoice) -> tuple[str, str, int]:
        number = key(invoice.number[:NUMBER_LENGTH])  # as recording stores it
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
        seen = self._seen.get(_digest(key, SEEN_BYTES))
        earlier = (seen, depositor) if seen is not None else None
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
        """Two workers on PostgreSQL take the same invoice one after the other: the key's
        guard row stays locked until this transaction ends, when its invoices are in the
        ledger. A row lock, never an advisory lock: the server keeps those in a table of
        fixed size (max_locks_per_transaction), which a flow of 13,000 invoices filled.
        (SQLite runs one writer at a time already.)"""
        if self._guarded is None:
            self._guarded = self.session.get_bind().dialect.name == "postgresql"
        if self._guarded:
            self.session.execute(GUARD, {"guard": _digest(key, GUARD_BYTES, signed=True)})

    def accepted(self, invoice: Invoice, flow_number: str) -> None:
        self.remember(self._key(invoice), flow_number)

    def remember(self, key: tuple[str, str, int], flow_number: str) -> None:
        """An invoice of this key (supplier, number key, year) accepted in `flow_number`."""
        self._seen[_digest(key, SEEN_BYTES)] = flow_number

    def withdrawn(self, invoice: Invoice) -> None:
        """Accepted by the controls, then refused all the same (its pivot could not be
        written): it no longer counts."""
        self._seen.pop(_digest(self._key(invoice), SEEN_BYTES), None)

    def _in_ledger(
        self, supplier: str, number_key: str, year: int, ignore: int | None
    ) -> tuple[str, str] | None:
        """The number and partner of a flow that brought an invoice of this supplier, year
        and number key and had it accepted. Every invoice pays this query: built once."""
        values = {
            "supplier": supplier,
            "number_key": number_key,
            "first": date(year, 1, 1),
            "last": date(year, 12, 31),
            "ignore": -1 if ignore is None else ignore,  # no row has that id
        }
        found = self.session.execute(EARLIER, values).first()
        return None if found is None else (found.number, found.partner_code)


EARLIER = (
    select(Flow.number, Flow.partner_code)
    .join(InvoiceRow, InvoiceRow.flow_id == Flow.id)
    .where(
        # compared, never stored: a longer value is left whole (fields.Bounded) and matches
        # nothing, and the net says nothing of it
        InvoiceRow.supplier_id == bindparam("supplier", type_=String()),
        InvoiceRow.number_key == bindparam("number_key", type_=String()),
        InvoiceRow.issue_date.between(bindparam("first"), bindparam("last")),
        InvoiceRow.status.not_in(NOT_COUNTED),
        InvoiceRow.id != bindparam("ignore"),
    )
    .limit(1)
)
