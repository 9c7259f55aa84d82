"""`edi-engine flows`: list flows, show one's timeline, process flows again (rerun)."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.text import Text

from .. import settings
from ..ledger import db
from ..ledger.states import FlowState
from ..operations import flows, invoices
from ..processing import rerun
from .shared import (
    DAY,
    FLOW_NUMBER,
    EngineGroup,
    cell,
    content,
    echo_json,
    json_option,
    page_options,
    pass_settings,
    progress,
    render,
    rich_console,
    say,
)


@click.group("flows", cls=EngineGroup)
def group() -> None:
    """Follow flows: list them, show one's timeline."""


@group.command("list")
@click.option(
    "--status", type=click.Choice([s.value for s in FlowState]), help="Only flows in this state."
)
@click.option("--partner", help="Only flows deposited by this partner.")
@click.option("--since", type=DAY, help="Received on or after this day at the hub, YYYY-MM-DD.")
@click.option("--until", type=DAY, help="Received on or before this day at the hub, YYYY-MM-DD.")
@click.option("--newest-first", is_flag=True, help="The latest flows first.")
@page_options("flows")
@json_option
@pass_settings
def flows_list(
    loaded: settings.Settings,
    status: str | None,
    partner: str | None,
    since: Any,
    until: Any,
    newest_first: bool,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List flows, oldest first (or --newest-first), 50 at a time; --since and --until
    bound the day each was received in the hub's time zone, both days included."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = flows.list_flows(
            session,
            status=status,
            partner=partner,
            limit=limit,
            offset=offset,
            since=since and since.date(),
            until=until and until.date(),
            zone=loaded.zone,
            newest_first=newest_first,
        )
    if not as_json:
        for row in rows:
            row["content"] = content(row)
    columns = ["number", "partner", "file_name", "syntax", "status", "received_at", "content"]
    render(rows, columns, as_json)


@group.command("rerun")
@click.argument("numbers", nargs=-1, type=FLOW_NUMBER)
@click.option(
    "--status",
    type=click.Choice([s.value for s in FlowState]),
    help="Every flow in this state (e.g. IN_INCIDENTE), instead of NUMBERs.",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="With --status: received since.")
@click.option("--partner", help="With --status: deposited by this partner.")
@click.option("--force", is_flag=True, help="Re-run flows that ended IN_INTEGRE as well.")
@click.option("--reason", help="Why, as the flow's history will say it.")
@click.option("--dry-run", is_flag=True, help="Say which flows would be re-run; change nothing.")
@json_option
@pass_settings
def flows_rerun(
    loaded: settings.Settings,
    numbers: tuple[str, ...],
    status: str | None,
    since: Any,
    partner: str | None,
    force: bool,
    reason: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Process flows again from their archived original (never from the inbox).

    Delivered invoices and applied statuses are kept, the CR is written again under its
    name. Exit 1 if a flow was refused (e.g. IN_INTEGRE without --force, or taken by another
    process meanwhile), 3 if one failed."""
    if bool(numbers) == bool(status):
        raise click.UsageError("Give flow NUMBERs, or --status (with --since/--partner).")
    if numbers and (since or partner):
        raise click.UsageError("--since and --partner go with --status, not with NUMBERs.")
    with db.session_scope(loaded.database_url) as session:
        chosen = rerun.select_flows(
            session, numbers, status, since.date() if since else None, partner, loaded.zone
        )
        with progress(len(chosen), "re-running") as advance:
            done = rerun.rerun(
                loaded, session, chosen, invoices.operator(), reason, force, dry_run, advance
            )
    render([d.as_dict() for d in done], ["number", "before", "after", "why"], as_json)
    if not done:
        say("No flow matches.")
    retrying = [d.number for d in done if d.after == FlowState.IN_EN_COURS_TRAITEMENT]
    for number in retrying:
        say(f"Flow {number} failed for a transient reason; the engine will take it again.")
    for number in [d.number for d in done if d.why == rerun.TAKEN_MEANWHILE]:
        say(f"Flow {number} was not re-run: {rerun.TAKEN_MEANWHILE}.")
    for refused in [d for d in done if d.why and d.why.startswith(rerun.ORIGINAL)]:
        say(f"Flow {refused.number} was not re-run: {refused.why}.")  # a hash, whole
    if retrying or any(d.after == FlowState.IN_INCIDENTE for d in done):
        sys.exit(3)
    if not dry_run and any(d.after is None for d in done):
        sys.exit(1)


@group.command("show")
@click.argument("number", type=FLOW_NUMBER)
@json_option
@pass_settings
def flows_show(loaded: settings.Settings, number: str, as_json: bool) -> None:
    """Show a flow (FL0000000042, or 42): its state, timeline, findings (each rejected,
    warning or info), invoices and outputs."""
    with db.session_scope(loaded.database_url, write=False) as session:
        detail = flows.show_flow(session, number)
    if as_json:
        echo_json(detail)
        return
    _print_flow(detail)


def _print_flow(detail: dict[str, Any]) -> None:
    console = rich_console()
    console.print(
        Text(detail["number"], style="bold"),
        cell(
            f" {detail['status']}  partner {detail['partner']}  file {detail['file_name']}  "
            f"syntax {detail['syntax'] or '-'}  {content(detail)}"
        ),
    )
    if detail["duplicate_of"]:
        console.print(cell(f"duplicate of flow {detail['duplicate_of']}"))
    if detail.get("producer_flow_id"):  # the depositor's value: text, never markup
        console.print(cell(f"depositor's flow id (IdFlx) {detail['producer_flow_id']}"))
    render(detail["events"], ["at", "status", "actor", "detail"], False, title="Timeline")
    if detail["errors"]:
        found = [
            {**e, "outcome": flows.SEVERITY_WORDS.get(e["severity"])} for e in detail["errors"]
        ]
        columns = ["outcome", "code", "invoice", "document", "line", "element", "value", "message"]
        render(found, columns, False, title="Errors and warnings")
    if len(detail["attempts"]) > 1:  # processed again: what each earlier attempt found
        rows = [{**a, "findings": len(a["errors"])} for a in detail["attempts"]]
        render(rows, ["attempt", "cr", "written_at", "findings"], False, title="Attempts")
        columns = ["outcome", "code", "invoice", "document", "element", "value", "message"]
        for attempt in detail["attempts"][:-1]:
            found = [{**e, "outcome": flows.SEVERITY_WORDS.get(e["severity"])}
                     for e in attempt["errors"]]  # fmt: skip
            if found:
                title = f"Attempt {attempt['attempt']}: errors and warnings"
                render(found, columns, False, title=title)
    if detail["invoice_list"]:
        columns = ["number", "supplier", "recipient", "status", "pivot_file"]
        render(detail["invoice_list"], columns, False, title="Invoices")
    columns = ["kind", "partner", "file_name", "written_at", "delivered_at", "delivery_error"]
    render(detail["outputs"], columns, False, title="Outputs")
