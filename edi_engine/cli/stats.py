"""`edi-engine stats`: figures over a period, the accounting statuses of delivered invoices
and the monthly counters (table, JSON, CSV, bars, a PNG chart)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .. import settings
from ..ledger import counters, db
from ..lifecycle import accounting
from .shared import (
    DAY,
    EngineGroup,
    echo_json,
    json_option,
    pass_settings,
    render,
    rich_console,
    say,
)


@click.group("stats", cls=EngineGroup)
def group() -> None:
    """Figures on the invoices the hub delivered over a period."""


@group.command("accounting")
@click.option("--from", "start", type=DAY, help="First day of the period, YYYY-MM-DD (all before).")
@click.option("--to", "end", type=DAY, help="Last day of the period, included (all after).")
@json_option
@pass_settings
def stats_accounting(loaded: settings.Settings, start: Any, end: Any, as_json: bool) -> None:
    """Of the invoices first delivered (03) in the period, in the hub's time zone: the share
    with an accounting status (09 or 11), and why each other one has none."""
    with db.session_scope(loaded.database_url, write=False) as session:
        found = accounting.report(
            session, loaded.zone, start and start.date(), end and end.date()
        ).as_dict()
    if as_json:
        echo_json(found)
        return
    rows = [
        {"invoices": "delivered", "count": found["delivered"]},
        {"invoices": "with an accounting status", "count": found["with_accounting_status"]},
    ]
    rows += [{"invoices": f"without: {why.replace('_', ' ')}", "count": count}
             for why, count in found["without"].items()]  # fmt: skip
    period = "".join(f" {word} {found[word]}" for word in ("from", "to") if found[word])
    render(rows, ["invoices", "count"], False, title=f"Invoices delivered{period or ', all time'}")
    grouped = [{"mandate": g["mandate"], "invoices": ", ".join(g["invoices"])}
               for g in found["grouped_mandates"]]  # fmt: skip
    if grouped:
        render(grouped, ["mandate", "invoices"], False, title="Mandates of several invoices")
    click.echo(f"{found['share']:.2%} of them have an accounting status (09 or 11).")


@group.command("monthly")
@click.option("--from", "start", metavar="YYYY-MM", help="First month (default: 11 before --to).")
@click.option("--to", "end", metavar="YYYY-MM", help="Last month, included (default: this one).")
@click.option(
    "--by",
    type=click.Choice(list(counters.GROUPS)),
    multiple=True,
    help="One row per month and partner, or per month and syntax (a file's kind when sent).",
)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV on stdout, the JSON's columns.")
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw the bar chart to this PNG file (needs pip install 'edi-engine[chart]').",
)
@pass_settings
def stats_monthly(
    loaded: settings.Settings,
    start: str | None,
    end: str | None,
    by: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
    chart: Path | None,
) -> None:
    """Per month at the hub: inbound flows, outbound files (CR, pivot, status flows) and
    invoices received, accepted and rejected, with a bar chart per month (inbound vs
    outbound). The counters outlive the flows: the retention purge leaves them whole."""
    if as_json and as_csv:
        raise click.UsageError("--json and --csv cannot be used together.")
    if len(by) > 1:
        raise click.UsageError("Give --by once: partner or syntax.")
    by = by[0] if by else None
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = counters.report(session, loaded.zone, start, end, by)
    if not rows:  # grouped, and nothing counted in the period
        say("Nothing was counted in these months.")
    title = f"Flows per month, {rows[0]['month']} to {rows[-1]['month']}" if rows else "Flows"
    if chart is not None:
        say(f"Chart written to {counters.draw_chart(rows, chart, title)}.")
    if as_json:
        echo_json(rows)
    elif as_csv:
        click.echo(counters.to_csv(rows, by), nl=False)
    else:
        headers = dict(zip(counters.COLUMNS, MONTHLY_HEADERS, strict=True))
        shown = [{headers.get(k, k): v for k, v in row.items()} for row in rows]
        render(shown, ["month", *([by] if by else []), *MONTHLY_HEADERS], False, title=title)
        _print_bars(rows)


# the terminal table's headers for counters.COLUMNS, short enough for 80 columns
MONTHLY_HEADERS = ("flows in", "flows out", "invoices", "accepted", "rejected")


def _print_bars(rows: Sequence[dict[str, Any]]) -> None:
    """Inbound (█) and outbound (▒) flows of each month, scaled to the terminal's width."""
    console = rich_console()
    flows = [m[c] for m in counters.totals(rows) for c in ("inbound_flows", "outbound_flows")]
    columns = console.width if console.is_terminal else 80  # a pipe: a plain 80 columns
    width = max(1, columns - len("YYYY-MM out  ") - len(str(max([0, *flows]))) - 1)
    if rows:
        console.print("[cyan]█[/] inbound flows   [magenta]▒[/] outbound files, each month")
    for month, inbound, outbound, in_bar, out_bar in counters.bar_lengths(rows, width):
        console.print(f"{month} in   [cyan]{'█' * in_bar}[/] {inbound}")
        console.print(f"{' ' * len(month)} out  [magenta]{'▒' * out_bar}[/] {outbound}")
