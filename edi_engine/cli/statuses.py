"""`edi-engine statuses`: write the status flows owed to suppliers and hand them over."""

from __future__ import annotations

import sys

import click

from .. import settings
from ..delivery import statuses_out
from ..ledger import db
from .shared import EngineGroup, json_option, pass_settings, render, say


@click.group("statuses", cls=EngineGroup)
def group() -> None:
    """Status flows to suppliers: every change of their invoices, exactly once."""


@group.command("emit")
@click.option("--partner", help="Only this supplier-side partner.")
@json_option
@pass_settings
def statuses_emit(loaded: settings.Settings, partner: str | None, as_json: bool) -> None:
    """Write STATUT_<partner>_<sequence>.xml for each supplier-side partner with changes
    not yet sent (a status flow written before a crash is written again, the same), and
    hand it to the partner's channel (uploaded at once to a partner reached over SFTP;
    if that fails, exit 3 and it stays queued for the next run)."""
    with db.session_scope(loaded.database_url) as session:
        emitted = statuses_out.emit(loaded, session, partner)
        handed = statuses_out.hand_over(loaded, session, emitted)
    render([e.as_dict() for e in emitted], ["partner", "file_name", "changes"], as_json)
    if not emitted:
        say("No status change to send.")
    for problem in handed.problems:
        say(f"SFTP: {problem} (the status flow stays queued for the next run)")
    if handed.problems:
        sys.exit(3)
