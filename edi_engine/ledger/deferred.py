"""Rows a transaction appends and nothing reads back before it commits (a flow's outputs,
events and errors, its invoices' history and findings): kept in the session and written
at the commit, one executemany per table, through the connection and statements built
once. Through the ORM session each cost ~0.4 ms of Python, a statement per row kind per
flow: more than the rest of a one-invoice flow's ledger work in a group commit.

Whoever reads these tables within a transaction that may have appended to them calls
`flush` first (outputs.answers, the same-name look-up of outputs.deliver, a flow taken
again). A savepoint rolled back forgets its rows (`mark`, `back_to`), a transaction
rolled back all of them; more than FLUSH_ROWS are written at once (a 100,000-invoice
flow's history is never held whole).

An object whose row a statement of ours updated, not the ORM's unit of work (a flow at
the end of its processing: `behind`), is expired if its savepoint rolls back, as the
ORM expires what it flushed itself: its next read comes from the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Table, event, insert
from sqlalchemy.orm import Session, SessionTransaction

PENDING = "edi_engine.ledger.deferred"  # Session.info key: the current transaction's rows
FLUSH_ROWS = 2000  # rows held at most before they are written
_INSERTS: dict[Table, Insert] = {}


class _Rows:
    """The rows one transaction appended and has not written yet, in order."""

    __slots__ = ("behind", "flushes", "rows", "transaction")

    def __init__(self, transaction: SessionTransaction | None) -> None:
        self.transaction = transaction
        self.rows: list[tuple[Table, dict[str, Any]]] = []
        self.flushes = 0  # how many times rows were written during the transaction
        self.behind: list[object] = []  # objects whose rows we updated (`behind`)


def add(session: Session, table: Table, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows to `table` at the commit (or before a read that must see them)."""
    pending = _pending(session, begin=True)
    pending.rows.extend((table, row) for row in rows)
    if len(pending.rows) >= FLUSH_ROWS:
        flush(session)


def flush(session: Session) -> None:
    """Write the rows now: something is about to read their tables."""
    pending = _pending(session)
    if not pending.rows:
        return
    rows, pending.rows = pending.rows, []
    pending.flushes += 1
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, row in rows:
        by_table.setdefault(table, []).append(row)
    connection = session.connection()
    for table in sorted(by_table, key=lambda t: t.name):  # one order for every writer
        for run in _runs(by_table[table]):
            connection.execute(_insert(table), run)


def behind(session: Session, instance: object) -> None:
    """`instance`'s row is updated by a statement of ours, its attributes set with
    set_committed_value: if the savepoint rolls back, it is expired (`back_to`)."""
    _pending(session, begin=True).behind.append(instance)


@dataclass(frozen=True)
class Mark:
    """The rows a transaction had not written when a savepoint began (`mark`)."""

    transaction: SessionTransaction | None
    rows: tuple[tuple[Table, dict[str, Any]], ...]
    flushes: int
    behind: int


def mark(session: Session) -> Mark:
    """Before a savepoint (a group commit processes each flow in one of its own), which
    begins the transaction if it was not."""
    pending = _pending(session, begin=True)
    return Mark(pending.transaction, tuple(pending.rows), pending.flushes, len(pending.behind))


def back_to(session: Session, marked: Mark) -> None:
    """The savepoint rolled back: its rows are forgotten. Rows of earlier savepoints that
    it wrote (a `flush` within it) were rolled back with it: they are pending again. The
    objects it updated behind the ORM are expired."""
    pending = _pending(session)
    if pending.transaction is not marked.transaction:
        return  # that transaction ended, its rows with it
    for instance in pending.behind[marked.behind :]:
        if instance in session:
            session.expire(instance)
    del pending.behind[marked.behind :]
    if pending.flushes == marked.flushes:
        del pending.rows[len(marked.rows) :]
    else:
        pending.rows = list(marked.rows)
        pending.flushes = marked.flushes


def pending(session: Session) -> int:
    """How many rows wait for the commit."""
    return len(_pending(session).rows)


@event.listens_for(Session, "before_commit")
def _write(session: Session) -> None:
    """The rows go in with the transaction's last statements; a savepoint's release
    (SQLAlchemy calls this hook then too) writes nothing: they wait for the commit."""
    if session.in_nested_transaction():
        return
    flush(session)
    session.info.pop(PENDING, None)


def _pending(session: Session, begin: bool = False) -> _Rows:
    """The current transaction's rows (a rolled back one's are dropped: they belong to a
    transaction that is no longer current). `begin`: rows are added, the transaction they
    go with is begun if it was not."""
    transaction = session.get_transaction()
    if transaction is None and begin:
        transaction = session.begin()
    pending = session.info.get(PENDING)
    if pending is None or pending.transaction is not transaction:
        pending = session.info[PENDING] = _Rows(transaction)
    return pending


def _runs(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Consecutive rows with the same columns: an executemany takes the first row's."""
    start = 0
    for n in range(1, len(rows) + 1):
        if n == len(rows) or rows[n].keys() != rows[start].keys():
            yield rows[start:n]
            start = n


def _insert(table: Table) -> Insert:
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table)
    return statement
