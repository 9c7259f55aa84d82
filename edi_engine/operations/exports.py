"""Invoice exports for operators (issue 7, item 3): one CSV line per invoice, streamed.

The ledger is read in batches by invoice id (keyset pagination), and each batch is encoded
and written before the next one is read: a million invoices never sit in memory, on SQLite
as on PostgreSQL. The CSV is what Excel and scripts both read: UTF-8, `,` between fields,
`\\n` at the end of lines, quotes only where a value needs them, a header first. Values are
as the ledger keeps them (amounts as the supplier wrote them, never rounded); an empty
field is a value the invoice does not have. A value that a spreadsheet would take for a
formula (a supplier name `=2+5+cmd|…`) is written with a single quote before it
(csvfile.cell, issue 13): plain numbers such as -12.50 are not.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from connectors.local import TEMP_SUFFIX, fsync_dir

from .. import clock, csvfile
from ..errors import UsageError
from ..ledger.models import Flow, Invoice

BATCH = 1000  # invoices read, encoded and written at a time

# the public columns of `invoices export --csv`, in this order; users' scripts rely on them
COLUMNS = (
    "number",
    "supplier",
    "supplier_name",
    "recipient",
    "service_code",
    "engagement",
    "type_code",
    "issue_date",
    "currency",
    "amount_ht",
    "amount_ttc",
    "amount_net",
    "status",
    "status_code",
    "status_date",
    "flow",
    "mandate",
    # added last so that scripts reading by position keep working
    "id",  # the ledger's id, as `invoices show ID` and `invoices set-status ID` take it
)


@dataclass(frozen=True)
class Filters:
    """Every filter given must match; several structures are alternatives. `start` and
    `end` bound the issue date, both included (an invoice without one is then left out)."""

    structures: Sequence[str] = ()
    status: str | None = None
    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise UsageError(
                f"--from {self.start.isoformat()} is after --to {self.end.isoformat()}."
            )

    def apply(self, query: Select) -> Select:
        if self.structures:
            query = query.where(Invoice.recipient_siret.in_(list(self.structures)))
        if self.status:
            query = query.where(Invoice.status == self.status)
        if self.start is not None:
            query = query.where(Invoice.issue_date >= self.start)
        if self.end is not None:
            query = query.where(Invoice.issue_date <= self.end)
        return query


_SELECTED = (
    Invoice.number,
    Invoice.supplier_id,
    Invoice.supplier_name,
    Invoice.recipient_siret,
    Invoice.service_code,
    Invoice.engagement,
    Invoice.type_code,
    Invoice.issue_date,
    Invoice.currency,
    Invoice.amount_ht,
    Invoice.amount_ttc,
    Invoice.amount_net,
    Invoice.status,
    Invoice.status_code,
    Invoice.status_date,
    Flow.number,
    Invoice.mandate,
    Invoice.id,  # exported last, and the key of the pagination
)
_ISSUE_DATE = COLUMNS.index("issue_date")
_STATUS_DATE = COLUMNS.index("status_date")


def _line(row: Sequence[object]) -> list[object]:
    line = list(row[: len(COLUMNS)])
    issue_date, status_date = line[_ISSUE_DATE], clock.aware(line[_STATUS_DATE])
    line[_ISSUE_DATE] = issue_date.isoformat() if issue_date else None
    line[_STATUS_DATE] = status_date.isoformat() if status_date else None
    return line


def batches(session: Session, filters: Filters) -> Iterator[list[list[object]]]:
    """The matching invoices, oldest first, `BATCH` lines at a time; each batch is a short
    query of its own that starts after the last id of the previous one. Plain columns, no
    ORM objects: nothing stays in the session once a batch is written."""
    query = filters.apply(
        select(*_SELECTED).join(Flow, Flow.id == Invoice.flow_id).order_by(Invoice.id)
    ).limit(BATCH)
    last = 0
    while True:
        rows = session.execute(query.where(Invoice.id > last)).all()
        if not rows:
            return
        last = rows[-1][-1]
        yield [_line(row) for row in rows]
        if len(rows) < BATCH:
            return


def _encoded(lines: Sequence[Sequence[object]]) -> bytes:
    return csvfile.text(lines).encode("utf-8")


def write_csv(session: Session, filters: Filters, out: BinaryIO) -> int:
    """The header, then one line per matching invoice, to `out`; how many invoices."""
    out.write(_encoded([COLUMNS]))
    count = 0
    for lines in batches(session, filters):
        out.write(_encoded(lines))
        count += len(lines)
    return count


def export_csv(
    session: Session, filters: Filters, target: Path | None, out: BinaryIO, fsync: bool = True
) -> int:
    """To `out` (stdout) when `target` is None; else to `target`, atomically: written under
    a temporary name beside it (as connectors.local.write_atomic names it), fsynced, then
    renamed, so that a reader never sees half an export and a failed one leaves nothing.
    (write_atomic itself takes the whole content at once, which an export must not hold.)"""
    if target is None:
        count = write_csv(session, filters, out)
        out.flush()
        return count
    temp = target.with_name(f".{target.name}{TEMP_SUFFIX}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as handle:
            count = write_csv(session, filters, handle)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, target)
        if fsync:
            fsync_dir(target.parent)
    except OSError as exc:
        _discard(temp)
        raise UsageError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    except BaseException:
        _discard(temp)
        raise
    return count


def _discard(temp: Path) -> None:
    with contextlib.suppress(OSError):  # e.g. its folder could not be made either
        temp.unlink(missing_ok=True)
