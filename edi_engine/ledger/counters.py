"""Monthly counters (issue 7, item 2): inbound flows, outbound files (CR, pivot, status
flows), invoices received, accepted and rejected, per month at the hub, partner and syntax.

Each count belongs to the transaction of what it counts and is written by an upsert on
the month's row (`monthly_counters`) when that transaction commits; nothing purges them:
retention removes flows, not their figures. A flow is counted when it is processed, in
the month it was received; an outbound file when it is written, in the month of the
write. A flow processed again first takes back what its previous attempt counted
(`Counted`), so that a re-run never counts twice; a file written again under the same
name is one file (outputs.deliver).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .. import clock, csvfile
from ..errors import UsageError
from . import deferred
from .models import Flow, MonthlyCounter, Output
from .states import Syntax

COLUMNS = (
    "inbound_flows",
    "outbound_flows",
    "invoices_received",
    "invoices_accepted",
    "invoices_rejected",
)
GROUPS = {"partner": MonthlyCounter.partner_code, "syntax": MonthlyCounter.syntax}
UNKNOWN = "UNKNOWN"  # the syntax of a flow that could not be identified
DEFAULT_MONTHS = 12  # `stats monthly` without --from: the last 12 months
MONTH = re.compile(r"(\d{4})-(\d{2})")
UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
PENDING = "edi_engine.ledger.counters"  # Session.info key: what the transaction counted so far


class ChartUnavailable(UsageError):
    """--chart needs matplotlib, an optional extra: pip install 'edi-engine[chart]'."""


# -- counting -------------------------------------------------------------------------


def month_of(moment: datetime, zone: tzinfo) -> str:
    """YYYY-MM of the day it was at the hub when `moment` happened."""
    return f"{clock.local_date(moment, zone):%Y-%m}"


def add(session: Session, month: str, partner: str, syntax: str | None, **deltas: int) -> None:
    """Add `deltas` (negative to take back) to the counters of a month, partner and syntax,
    in the session's transaction: kept in the session and written when it commits."""
    unknown = set(deltas) - set(COLUMNS)
    if unknown:
        raise ValueError(f"no such counter: {', '.join(sorted(unknown))}")
    key = (month, partner, syntax or UNKNOWN)
    counted = _pending(session).setdefault(key, dict.fromkeys(COLUMNS, 0))
    for column, delta in deltas.items():
        counted[column] += delta


def _pending(session: Session) -> dict[tuple[str, str, str], dict[str, int]]:
    """The counts of the session's current transaction (a rolled back one's are dropped:
    they belong to a transaction that is no longer current)."""
    transaction = session.get_transaction() or session.begin()
    owner, pending = session.info.get(PENDING, (None, {}))
    if owner is not transaction:
        pending = {}
        session.info[PENDING] = (transaction, pending)
    return pending


def mark(session: Session) -> dict[tuple[str, str, str], dict[str, int]]:
    """Before a savepoint: what the transaction counted so far (a few rows at most)."""
    return {key: dict(values) for key, values in _pending(session).items()}


def back_to(session: Session, marked: dict[tuple[str, str, str], dict[str, int]]) -> None:
    """The savepoint rolled back: what it counted is not counted."""
    pending = _pending(session)
    pending.clear()
    pending.update({key: dict(values) for key, values in marked.items()})


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Upsert what the transaction counted, as its last statements and in one order for
    every writer: a busy row (a recipient's pivots this month) stays locked for an instant,
    not for the whole of a flow, and two writers never wait for each other in a cycle.
    A savepoint's release (SQLAlchemy calls this hook then too) writes nothing: a group
    commit's counts are added up in memory and written once."""
    if session.in_nested_transaction():
        return
    owner, pending = session.info.pop(PENDING, (None, {}))
    if owner is not session.get_transaction():
        return
    for key in sorted(pending):
        values = pending[key]
        if any(values.values()):
            _write(
                session, dict(zip(("month", "partner_code", "syntax"), key, strict=True)), values
            )


def _write(session: Session, key: dict[str, str], values: dict[str, int]) -> None:
    statement = upsert(session.get_bind().dialect.name, key, values)
    if statement is not None:
        session.execute(statement)
        return
    # another database: read and update the row, locked
    row = session.get(MonthlyCounter, tuple(key.values()), with_for_update=True)
    if row is None:
        session.add(MonthlyCounter(**key, **values))
        session.flush()
        return
    for column, delta in values.items():
        setattr(row, column, getattr(row, column) + delta)


def upsert(dialect: str, key: dict[str, str], values: dict[str, int]) -> Insert | None:
    """INSERT … ON CONFLICT (month, partner, syntax) DO UPDATE adding the values, on SQLite
    and PostgreSQL; None on another database."""
    insert = UPSERTS.get(dialect)
    if insert is None:
        return None
    statement = insert(MonthlyCounter).values(**key, **values)
    table = MonthlyCounter.__table__
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={column: table.c[column] + statement.excluded[column] for column in values},
    )


def count_flow(session: Session, flow: Flow, zone: tzinfo, sign: int = 1) -> None:
    """A flow processed: one inbound flow for its depositor and syntax, in the month it was
    received, and its invoices (the lines of a status flow are statuses, not invoices)."""
    month = month_of(flow.received_at, zone)
    received, rejected = flow.invoice_count or 0, flow.rejected_count or 0
    _count_inbound(session, month, flow.partner_code, flow.syntax, received, rejected, sign)


def _count_inbound(
    session: Session,
    month: str,
    partner: str,
    syntax: str | None,
    received: int,
    rejected: int,
    sign: int,
) -> None:
    invoices = 0 if syntax == Syntax.STATUT else sign
    add(
        session,
        month,
        partner,
        syntax,
        inbound_flows=sign,
        invoices_received=invoices * received,
        invoices_accepted=invoices * (received - rejected),
        invoices_rejected=invoices * rejected,
    )


def count_output(
    session: Session, kind: str, partner: str, at: datetime, zone: tzinfo, sign: int = 1
) -> None:
    """A file written for a partner (CR, PIVOT, STATUT): one outbound flow that month."""
    add(session, month_of(at, zone), partner, kind, outbound_flows=sign)


@dataclass(frozen=True)
class Counted:
    """What a flow's previous attempt counted, seen before it is forgotten: the flow itself
    if it was answered (`finished`: outputs.answers, a CR each attempt that went to the
    end), and the files written for it."""

    partner: str
    syntax: str | None
    received_at: datetime
    invoices: int
    rejected: int
    finished: bool
    outputs: dict[int, tuple[str, str, datetime]]  # id -> kind, partner, written_at

    @classmethod
    def of(cls, session: Session, flow: Flow, finished: bool) -> Counted:
        deferred.flush(session)  # the outputs the transaction wrote are among them
        rows = session.execute(
            select(Output.id, Output.kind, Output.partner_code, Output.written_at).where(
                Output.flow_id == flow.id
            )
        ).all()
        outputs = {row.id: (row.kind, row.partner_code, row.written_at) for row in rows}
        return cls(
            flow.partner_code,
            flow.syntax,
            flow.received_at,
            flow.invoice_count or 0,
            flow.rejected_count or 0,
            finished,
            outputs,
        )

    def take_back(self, session: Session, zone: tzinfo) -> None:
        """Once the previous attempt is forgotten: its flow's counts, and those of its files
        that are gone (the ones kept stay counted, once)."""
        if self.finished:
            month = month_of(self.received_at, zone)
            _count_inbound(
                session, month, self.partner, self.syntax, self.invoices, self.rejected, -1
            )
        remaining = set(session.scalars(select(Output.id).where(Output.id.in_(list(self.outputs)))))
        for output_id, (kind, partner, at) in self.outputs.items():
            if output_id not in remaining:
                count_output(session, kind, partner, at, zone, sign=-1)


# -- reading --------------------------------------------------------------------------


def parse_month(text: str, option: str) -> date:
    """YYYY-MM, or a usage error naming the option."""
    found = MONTH.fullmatch(text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise UsageError(f"{option} {text!r} is not a month: write it YYYY-MM, e.g. 2026-11.")
    return date(int(found.group(1)), int(found.group(2)), 1)


def shifted(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_range(start: str | None, end: str | None, today: date) -> list[str]:
    """Every month from --from to --to, both included. Without --to: up to the current
    month; without --from: the 12 months up to --to."""
    last = parse_month(end, "--to") if end else date(today.year, today.month, 1)
    first = parse_month(start, "--from") if start else shifted(last, 1 - DEFAULT_MONTHS)
    if first > last:
        raise UsageError(f"--from {first:%Y-%m} is after --to {last:%Y-%m}.")
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [f"{shifted(first, n):%Y-%m}" for n in range(count)]


def monthly(session: Session, months: Sequence[str], by: str | None = None) -> list[dict[str, Any]]:
    """One row per month (zeros included), or per month and partner or syntax (every one
    counted in the range, zeros included): month, [partner|syntax], then COLUMNS."""
    if by is not None and by not in GROUPS:
        raise UsageError(f"--by {by!r}: choose one of {', '.join(GROUPS)}.")
    group = [GROUPS[by]] if by else []
    sums = [func.coalesce(func.sum(getattr(MonthlyCounter, c)), 0) for c in COLUMNS]
    query = (
        select(MonthlyCounter.month, *group, *sums)
        .where(MonthlyCounter.month.in_(list(months)))
        .group_by(MonthlyCounter.month, *group)
    )
    found = {tuple(row[: 1 + len(group)]): row[1 + len(group) :] for row in session.execute(query)}
    if by is None:
        keys = [(month,) for month in months]
    else:
        names = sorted({key[1] for key, counts in found.items() if any(counts)})
        keys = [(month, name) for month in months for name in names]
    rows = []
    for key in keys:
        row = {"month": key[0]} | ({by: key[1]} if by else {})
        counts = found.get(key, (0,) * len(COLUMNS))
        rows.append(row | {c: int(v) for c, v in zip(COLUMNS, counts, strict=True)})
    return rows


def report(
    session: Session,
    zone: tzinfo,
    start: str | None = None,
    end: str | None = None,
    by: str | None = None,
) -> list[dict[str, Any]]:
    """`stats monthly`: the rows of the months asked (default: the last 12 at the hub)."""
    today = clock.local_date(clock.now(), zone)
    return monthly(session, month_range(start, end, today), by)


def totals(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Grouped rows added up per month, in order (what the charts draw)."""
    by_month: dict[str, dict[str, Any]] = {}
    for row in rows:
        month = by_month.setdefault(
            row["month"], {"month": row["month"]} | dict.fromkeys(COLUMNS, 0)
        )
        for column in COLUMNS:
            month[column] += row[column]
    return list(by_month.values())


def to_csv(rows: Sequence[dict[str, Any]], by: str | None = None) -> str:
    columns = ["month", *([by] if by else []), *COLUMNS]
    return csvfile.text([columns, *([row.get(c) for c in columns] for row in rows)])


# -- charts ---------------------------------------------------------------------------


def bar_lengths(rows: Sequence[dict[str, Any]], width: int) -> list[tuple[str, int, int, int, int]]:
    """Per month: inbound, outbound and their bar lengths, the largest value `width` long
    (a count above zero always shows at least one block)."""
    months = totals(rows)
    peak = max([1, *(m[c] for m in months for c in ("inbound_flows", "outbound_flows"))])

    def length(value: int) -> int:
        return 0 if value <= 0 else max(1, round(value * width / peak))

    return [
        (
            m["month"],
            m["inbound_flows"],
            m["outbound_flows"],
            length(m["inbound_flows"]),
            length(m["outbound_flows"]),
        )
        for m in months
    ]


def draw_chart(rows: Sequence[dict[str, Any]], target: Path, title: str) -> Path:
    """The terminal's chart as a PNG image: inbound and outbound flows side by side per
    month. matplotlib is an optional extra, imported only here."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ChartUnavailable(
            "--chart needs matplotlib, which is not installed: "
            "pip install 'edi-engine[chart]' (or pip install 'matplotlib>=3.7')."
        ) from exc
    months = totals(rows)
    labels = [m["month"] for m in months]
    positions = range(len(months))
    figure = Figure(figsize=(max(6.0, 0.6 * len(months) + 2), 4.0), layout="constrained")
    axes = figure.add_subplot()
    bar = 0.4
    for offset, column, label, color in (
        (-bar / 2, "inbound_flows", "inbound flows", "#1f77b4"),
        (bar / 2, "outbound_flows", "outbound flows", "#ff7f0e"),
    ):
        heights = [m[column] for m in months]
        axes.bar([p + offset for p in positions], heights, bar, label=label, color=color)
    axes.set_xticks(list(positions), labels, rotation=45, ha="right")
    axes.set_ylabel("flows")
    axes.set_title(title)
    axes.legend()
    axes.yaxis.get_major_locator().set_params(integer=True)
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    try:
        target.write_bytes(image.getvalue())
    except OSError as exc:
        raise UsageError(f"Cannot write the chart to {target}: {exc.strerror or exc}.") from exc
    return target
