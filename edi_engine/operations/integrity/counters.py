"""The monthly counters equal a recount of what the retention kept.

The counters are kept in the transaction of what they count and never purged
(edi_engine/ledger/counters.py): a flow counts once answered, in the month it was received at
the hub, under its partner and syntax; an output in the month it was written, under its
partner and kind. The recount reads the same from the ledger (the flows and outputs
passes hand each row to `Recount`, which keeps one sum per month, partner and syntax:
bounded by the calendar and the partners, not by the flows).

Only the months the retention cannot have touched are compared:
- inbound figures, the months whose flows are all still there: flow numbers are given in
  order and never twice, so a number missing between two flows is a flow deleted (only
  the retention deletes one) received between them, and their months are left out;
- outbound figures, every month when no purge ever removed anything (`purges`), else
  only the months after the last purge run: a purged flow's outputs may have been
  written in any month before it.
A file written again under its name (a forced re-run) stays counted in the month it was
first written while the ledger keeps the later date, so outbound figures are compared as
running totals per partner and kind: the counters may be ahead of the recount in a month,
never behind, and their totals must agree.

A difference is read again in one transaction (the counters with what they count), so
that a flow a live engine finished between two pages is not taken for one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from ... import clock
from ...ledger import counters as kept
from ...ledger.models import Flow, FlowNumber, MonthlyCounter, Output
from ...ledger.states import Syntax
from . import findings as kinds
from .findings import Findings, Problem
from .purges import Purges

INBOUND = ("inbound_flows", "invoices_received", "invoices_accepted", "invoices_rejected")
OUTBOUND = "outbound_flows"
KINDS = ("CR", "PIVOT", "STATUT")  # an outbound row's `syntax`
PAGE = 1000
SHOWN = 6  # months named in one problem's mend
Key = tuple[str, str, str]  # month, partner, syntax (an output's kind for outbound rows)


@dataclass
class Recount:
    """The figures the ledger holds now, summed as the passes go."""

    zone: tzinfo
    inbound: dict[Key, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 4))
    outbound: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    _span: tuple[datetime, datetime, str] | None = None  # the last month met, as UTC moments

    def month(self, moment: datetime) -> str:
        """`counters.month_of`, from the bounds of the last month met when it falls in it
        (rows come in order of time, mostly): a time zone conversion per row was a tenth
        of the check."""
        moment = clock.aware(moment)
        span = self._span
        if span is not None and span[0] <= moment < span[1]:
            return span[2]
        month = kept.month_of(moment, self.zone)
        self._span = (*_bounds(month, self.zone), month)
        return month

    def flow(self, flow: Row[Any]) -> None:
        """An answered flow: its received_at, partner_code, syntax and counts."""
        month = self.month(flow.received_at)
        counted = self.inbound[(month, flow.partner_code, flow.syntax or kept.UNKNOWN)]
        counted[0] += 1
        if flow.syntax != Syntax.STATUT:  # a status flow's lines are statuses, not invoices
            received, rejected = flow.invoice_count or 0, flow.rejected_count or 0
            counted[1] += received
            counted[2] += received - rejected
            counted[3] += rejected

    def output(self, kind: str, partner: str, written_at: datetime) -> None:
        self.outbound[(self.month(written_at), partner, kind)] += 1


@dataclass
class Months:
    """Months left out of the comparison: those up to `upto`, from `since`, and `some`."""

    upto: str | None = None
    since: str | None = None
    some: set[str] = field(default_factory=set)
    every: bool = False

    def excludes(self, month: str) -> bool:
        return (
            self.every
            or month in self.some
            or (self.upto is not None and month <= self.upto)
            or (self.since is not None and month >= self.since)
        )


def purged_inbound(session: Session, zone: tzinfo) -> Months:
    """The months of the flows the retention deleted, found around each number missing:
    one pass over the flows in number order, two columns a row."""
    months = Months()
    previous: tuple[int, str] | None = None
    last = None
    while True:
        query = select(Flow.number, Flow.received_at).where(Flow.number.is_not(None))
        if last is not None:
            query = query.where(Flow.number > last)
        rows = session.execute(query.order_by(Flow.number).limit(PAGE)).all()
        session.rollback()
        if not rows:
            break
        for number, received_at in rows:
            n = _number(number)
            if n is None:  # not a number the engine gives: nothing to tell from it
                continue
            month = kept.month_of(received_at, zone)
            if previous is None and n > 1:  # the first ones went
                months.upto = month
            elif previous is not None and n > previous[0] + 1:
                months.some.update(_between(previous[1], month))
            previous = (n, month)
        last = rows[-1].number
    given = session.scalar(select(FlowNumber.last_number).where(FlowNumber.id == 1)) or 0
    session.rollback()
    if previous is None:
        months.every = given > 0  # every flow went
    elif given > previous[0]:
        months.since = previous[1]  # the last ones went
    return months


def purged_outbound(purges: Purges, zone: tzinfo) -> Months:
    if not purges.removed or purges.last_run is None:
        return Months()
    return Months(upto=kept.month_of(purges.last_run, zone))


def _number(number: str) -> int | None:
    digits = number[2:] if number.startswith("FL") else number
    return int(digits) if digits.isdigit() else None


def _between(first: str, last: str) -> Iterator[str]:
    """Every month from `first` to `last`, both included."""
    year, month = int(first[:4]), int(first[5:])
    while f"{year:04d}-{month:02d}" <= last:
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


# -- comparing ---------------------------------------------------------------------------


def check(
    session: Session,
    found: Findings,
    recount: Recount,
    inbound_out: Months,
    outbound_out: Months,
) -> None:
    stored = _stored(session)
    months: set[str] = set()
    differing: set[str] = set()
    for key in set(recount.inbound) | {k for k, v in stored.items() if any(v[:4])}:
        if inbound_out.excludes(key[0]):
            continue
        months.add(key[0])
        if list(stored.get(key, (0,) * 5)[:4]) != recount.inbound.get(key, [0] * 4):
            differing.add(key[0])
    for month in sorted(differing):  # read again, with what they count, in one snapshot
        _inbound_month(session, found, recount.zone, month)
    series = _outbound_series(stored, recount.outbound, outbound_out)
    months.update(m for values in series.values() for m in values)
    if any(_behind(values) for values in series.values()):
        _outbound_again(session, found, recount.zone, outbound_out)
    found.count("counter_months", len(months))


def _stored(session: Session, end: bool = True) -> dict[Key, tuple[int, ...]]:
    """Every counter row: one per month, partner and syntax (bounded by the calendar).
    `end`: end the read transaction (else the caller reads more in the same snapshot)."""
    columns = [getattr(MonthlyCounter, c) for c in (*INBOUND, OUTBOUND)]
    rows = session.execute(
        select(MonthlyCounter.month, MonthlyCounter.partner_code, MonthlyCounter.syntax, *columns)
    ).all()
    if end:
        session.rollback()
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}


def _inbound_month(session: Session, found: Findings, zone: tzinfo, month: str) -> None:
    start, end = _bounds(month, zone)
    answered = select(Output.id).where(Output.flow_id == Flow.id, Output.kind == "CR").exists()
    flows = (
        select(
            Flow.received_at,
            Flow.partner_code,
            Flow.syntax,
            Flow.invoice_count,
            Flow.rejected_count,
        )
        .where(Flow.received_at >= start, Flow.received_at < end, answered)
        .execution_options(yield_per=PAGE)
    )
    again = Recount(zone)
    columns = [getattr(MonthlyCounter, c) for c in INBOUND]
    stored = {
        (r[0], r[1], r[2]): list(r[3:])
        for r in session.execute(
            select(
                MonthlyCounter.month, MonthlyCounter.partner_code, MonthlyCounter.syntax, *columns
            ).where(MonthlyCounter.month == month)
        )
    }
    for flow in session.execute(flows):
        again.flow(flow)
    session.rollback()
    for key in sorted(set(stored) | set(again.inbound)):
        if key[0] != month or key[2] in KINDS:
            continue
        have, recounted = stored.get(key, [0] * 4), again.inbound.get(key, [0] * 4)
        if have != recounted:
            found.add(_inbound_problem(key, have, recounted, key in stored))


def _bounds(month: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """The month at the hub as UTC moments: its first instant, and the next month's."""
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=zone)
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return start.astimezone(UTC), datetime(year, number, 1, tzinfo=zone).astimezone(UTC)


def _inbound_problem(key: Key, have: list[int], recounted: list[int], row: bool) -> Problem:
    month, partner, syntax = key
    wrong = [(c, h, r) for c, h, r in zip(INBOUND, have, recounted, strict=True) if h != r]
    said = ", ".join(f"{c} is {h}, the recount {r}" for c, h, r in wrong)
    where = f"monthly_counters {month} {partner} {syntax}"
    message = (
        f"the counters of {month} for partner {partner}, {syntax}, disagree with the flows "
        f"the ledger holds: {said}."
    )
    where_row = f"month = '{month}' AND partner_code = '{partner}' AND syntax = '{syntax}'"
    if row:
        sets = ", ".join(f"{c} = {r}" for c, _, r in wrong)
        fix = f"UPDATE monthly_counters SET {sets} WHERE {where_row}"
    else:
        names = ", ".join(c for c, _, _ in wrong)
        values = ", ".join(str(r) for _, _, r in wrong)
        fix = (
            f"INSERT INTO monthly_counters (month, partner_code, syntax, {names}) VALUES "
            f"('{month}', '{partner}', '{syntax}', {values})"
        )
    mend = (
        "find what changed the ledger outside the engine (the counters change only with what "
        f"they count), then set the row to the recount: {fix}."
    )
    return Problem(kinds.COUNTER_MISMATCH, where, message, mend, partner=partner)


def _outbound_series(
    stored: dict[Key, tuple[int, ...]], recounted: dict[Key, int], left_out: Months
) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """Per partner and kind, per month compared: (counted, recounted)."""
    series: dict[tuple[str, str], dict[str, tuple[int, int]]] = defaultdict(dict)
    keys = {k for k, v in stored.items() if v[4]} | set(recounted)
    for month, partner, kind in keys:
        if kind not in KINDS or left_out.excludes(month):
            continue
        have = stored.get((month, partner, kind), (0,) * 5)[4]
        series[(partner, kind)][month] = (have, recounted.get((month, partner, kind), 0))
    return series


def _behind(values: dict[str, tuple[int, int]]) -> str | None:
    """The first month by which the counters hold fewer files than the recount, or the
    last month when the totals differ; None when they agree."""
    have = again = 0
    for month in sorted(values):
        have, again = have + values[month][0], again + values[month][1]
        if have < again:
            return month
    return max(values) if have != again else None


def _outbound_again(session: Session, found: Findings, zone: tzinfo, left_out: Months) -> None:
    """The outputs recounted with the counters in one snapshot; each series still wrong."""
    again = Recount(zone)
    outputs = select(Output.kind, Output.partner_code, Output.written_at).execution_options(
        yield_per=PAGE
    )
    stored = _stored(session, end=False)
    for output in session.execute(outputs):
        again.output(output.kind, output.partner_code, output.written_at)
    session.rollback()
    for (partner, kind), values in sorted(
        _outbound_series(stored, again.outbound, left_out).items()
    ):
        month = _behind(values)
        if month is not None:
            found.add(_outbound_problem(partner, kind, values, month))


def _outbound_problem(
    partner: str, kind: str, values: dict[str, tuple[int, int]], month: str
) -> Problem:
    have = sum(v[0] for v in values.values())
    again = sum(v[1] for v in values.values())
    first, last = min(values), max(values)
    message = (
        f"the counters of {kind} files written for partner {partner} hold {have} from {first} "
        f"to {last}, the outputs the ledger holds {again}; they part from {month}."
    )
    shown = [f"{m}: {r}" for m, (h, r) in sorted(values.items()) if h != r][:SHOWN]
    mend = (
        "find what changed the ledger outside the engine (the counters change only with what "
        f"they count), then set outbound_flows of the rows of partner {partner}, syntax "
        f"{kind}, to the recount ({', '.join(shown)})."
    )
    return Problem(
        kinds.COUNTER_MISMATCH, f"monthly_counters {partner} {kind}", message, mend, partner=partner
    )
