"""What a run did, shown (`run` and `demo`): each flow it processed and how it ended, and
the exit status of a run that left incidents."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from .. import settings
from ..ledger import db
from ..ledger.states import FlowState
from ..operations import flows
from ..partners import registry as partners
from ..processing import runner
from .shared import content, lines_cell, render, say


def exit_if_incidents(report: runner.RunReport) -> None:
    """A flow left IN_INCIDENTE, or an SFTP channel that failed, is the engine failing
    (exit 3), so cron and scripts see it; what was done is reported all the same."""
    if report.incidents or report.retrying or report.sftp.problems:
        sys.exit(3)


def print_run(loaded: settings.Settings, report: runner.RunReport, as_json: bool) -> None:
    with db.session_scope(loaded.database_url, write=False) as session:
        for sentence in partners.untouched(loaded, session, report.unknown):
            say(sentence)
    for why in report.unreadable.values():
        say(f"Left in its inbox: {why} It is taken once the engine can read it.")
    for number in report.retrying:
        say(f"Flow {number} failed for a transient reason; it will be taken again shortly.")
    for number in report.incidents:
        say(
            f"Flow {number} failed technically (IN_INCIDENTE); see `edi-engine flows show {number}`."
        )
    for problem in report.sftp.problems:
        say(f"SFTP: {problem}")
    numbers = report.processed + report.incidents
    with db.session_scope(loaded.database_url, write=False) as session:
        every = flows.list_flows(session, numbers=numbers)
        rows = every if as_json else _worth_showing(every)
        found = flows.outcomes(session, [row["number"] for row in rows])
    for row in rows:
        row.update(found.get(row["number"], {}))
    if as_json:
        render(rows, [], True)
        return
    for row in rows:
        row["outputs"] = lines_cell(row["outputs"])
        row["content"] = content(row)
        lines = (row["why"] or "").split("\n")  # one per severity (flows.outcomes)
        row["why"] = lines_cell([line if len(line) <= 90 else line[:89] + "…" for line in lines])
    columns = ["number", "partner", "file_name", "syntax", "status", "content"]
    title = f"{report.received} flow(s) received, {len(every)} processed"
    render(rows, [*columns, "outputs", "why"], False, title=title)
    if len(rows) < len(every):
        shown = {row["number"] for row in rows}
        left = Counter(row["status"] for row in every if row["number"] not in shown)
        say(
            f"{sum(left.values())} more flow(s) not shown ("
            + ", ".join(f"{count} {status}" for status, count in sorted(left.items()))
            + "): `edi-engine flows list --status STATUS` lists them, "
            "`edi-engine run --once --json` shows every flow of a run."
        )


RUN_TABLE_ROWS = 100  # a run's table beyond this is summed up: a burst's table is unread


def _worth_showing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most RUN_TABLE_ROWS of a run's flows, those not IN_INTEGRE first, in their order:
    rendering a table of thousands of rows took longer than processing them."""
    if len(rows) <= RUN_TABLE_ROWS:
        return rows
    first = [row for row in rows if row["status"] != FlowState.IN_INTEGRE][:RUN_TABLE_ROWS]
    rest = [row for row in rows if row["status"] == FlowState.IN_INTEGRE]
    chosen = {row["number"] for row in first + rest[: RUN_TABLE_ROWS - len(first)]}
    return [row for row in rows if row["number"] in chosen]
