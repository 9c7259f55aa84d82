"""`edi-engine rules`: the official business rules in force, and how this hub grades them."""

from __future__ import annotations

import click

from ..operations import rules_report
from ..reception import rules
from .shared import EngineGroup, json_option, render, say, settings_or_defaults


@click.group("rules", cls=EngineGroup)
def group() -> None:
    """The official business rules (EN 16931, the French reform's): which are in force."""


@group.command("list")
@click.option(
    "--set",
    "rule_sets",
    multiple=True,
    type=click.Choice(rules.SETS),
    help="List this rule set (repeatable); default: the sets on in [rules].",
)
@json_option
@click.pass_context
def rules_list(ctx: click.Context, rule_sets: tuple[str, ...], as_json: bool) -> None:
    """Each rule of the sets in force: its identifier, the norm's flag (fatal or warning),
    this hub's severity ([controls.severity], else reject for fatal and warn for warning),
    its set, the syntaxes it is checked in (UBL, CII) and its official message."""
    loaded = settings_or_defaults(ctx)
    sets = tuple(dict.fromkeys(rule_sets)) or loaded.rules.sets
    if not sets:
        say("No rule set is on in [rules]: no business rule is in force (--set lists one).")
    rows = rules_report.rules_in_force(sets, loaded)
    if as_json:
        render(rows, (), as_json=True)
        return
    shown = [{**row, "syntaxes": ", ".join(row["syntaxes"])} for row in rows]
    columns = ["id", "flag", "severity", "set", "syntaxes", "message"]
    render(shown, columns, as_json=False, title=f"Business rules: {', '.join(sets) or 'none'}")
