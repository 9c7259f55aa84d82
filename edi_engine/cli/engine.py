"""The commands on a home as a whole: create one (init), try one out (demo), check its
integrity (check) and apply the retention policy (purge)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .. import display, settings
from ..errors import EngineError
from ..ledger import db, home
from ..operations import demo, integrity, invoices, retention
from .runs import exit_if_incidents, print_run
from .shared import (
    REFUSAL_SAID,
    echo_json,
    echo_line,
    error_code,
    json_option,
    pass_settings,
    render,
    say,
)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Create a home in DIRECTORY: configuration, ledger, inbox/, outbox/, archive/, run/.

    inbox/ and outbox/ belong to partners; the engine's locks and temporaries live in run/.

    With EDI_ENGINE_DATABASE_URL set, the ledger is that database (its schema created)
    and edi-engine.toml records the URL without its password."""
    loaded, created = home.init(directory)
    verb = "Created" if created else "Home already there; checked"
    ledger = db.shown(loaded.database_url)
    say(f"{verb} {loaded.home} (configuration {settings.CONFIG_FILE}, ledger {ledger} migrated).")
    if home.has_password(os.environ.get(home.URL_VARIABLE, "")):
        say(
            f"The database password is not written in {settings.CONFIG_FILE}: keep it in "
            "EDI_ENGINE_DATABASE_URL or PGPASSWORD, or in a file named by [database] password_file."
        )


@click.command("demo")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="demo-home")
def demo_command(directory: Path) -> None:
    """Build a demonstration home in DIRECTORY (default ./demo-home), run it once, show what happened."""
    say(
        f"Creating demo home {directory.resolve()}: partners FOUR01, FOUR02 (suppliers), DEST01 (recipient);"
    )
    say(
        "3 structures (1 inactive) with services and published commitments; sample flows "
        "dropped in inbox/FOUR01 and inbox/FOUR02; running once…"
    )
    loaded, report = demo.run(directory)
    print_run(loaded, report, as_json=False)
    exit_if_incidents(report)
    say(f"Outputs are in {loaded.outbox}; try `edi-engine --home {loaded.home} flows show NUMBER`.")


@click.command("check")
@click.option(
    "--repair-outputs",
    is_flag=True,
    help="First write again the outputs the ledger needs on disk and misses (staged, or "
    "waiting for an SFTP upload), byte for byte from the ledger and the archive; never over "
    "a file that exists. Then check.",
)
@json_option
@pass_settings
def check_command(loaded: settings.Settings, repair_outputs: bool, as_json: bool) -> None:
    """Check the integrity of the home, read-only: originals, flows, outputs, deliveries,
    status flows, monthly counters and temporaries; exit 1 with one line per problem
    (what, where, how to mend it)."""
    out = _CheckJson() if as_json else None
    sink = out.problem if out else lambda problem: echo_line(problem.line())
    told = None if as_json else lambda done: echo_line(done.line())
    try:
        with db.session_scope(loaded.database_url, write=False) as session:
            outcome = integrity.check(loaded, session, sink, repair_outputs, told)
    except Exception as exc:  # the JSON begun ends whole, saying why (exit 3 follows)
        if out:
            code = error_code(exc) if isinstance(exc, EngineError) else "internal_error"
            out.failed(code, exc.message if isinstance(exc, EngineError) else str(exc))
            click.get_current_context().meta[REFUSAL_SAID] = True
        raise
    checked = dict(outcome.findings.checked)
    if out:
        out.close(outcome.sound, checked, outcome.repaired)
    counted = ", ".join(f"{n} {what}" for what, n in checked.items() if n) or "nothing"
    if outcome.sound:
        say(f"Sound: checked {counted}.")
        return
    problems = sum(outcome.findings.problems.values())
    say(f"{problems} problem(s) found (checked {counted}); each line says how to mend it.")
    sys.exit(1)


class _CheckJson:
    """`check --json`, written as the problems are found: the problems are never all in
    memory, whatever their number."""

    def __init__(self) -> None:
        self._first = True
        click.echo('{\n  "problems": [', nl=False)

    def problem(self, problem: integrity.Problem) -> None:
        text = json.dumps(problem.as_dict(), indent=2, ensure_ascii=False)
        indented = "\n".join(f"    {line}" for line in text.split("\n"))
        click.echo(("\n" if self._first else ",\n") + display.json_safe(indented), nl=False)
        self._first = False

    def failed(self, code: str, message: str) -> None:
        """The check stopped: the problems so far, and why, as every refusal says it."""
        rest = json.dumps({"error": code, "message": message}, indent=2, ensure_ascii=False)
        click.echo(("\n  ]," if not self._first else "],") + display.json_safe(rest[1:]))

    def close(self, sound: bool, checked: dict, repaired: list | None) -> None:
        rest = {"checked": checked, "sound": sound}
        if repaired is not None:
            rest["repaired"] = [done.as_dict() for done in repaired]
        tail = json.dumps(rest, indent=2, ensure_ascii=False, default=str)[1:]  # without "{"
        click.echo(("\n  ]," if not self._first else "],") + display.json_safe(tail))


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be purged; change nothing.")
@json_option
@pass_settings
def purge_command(loaded: settings.Settings, dry_run: bool, as_json: bool) -> None:
    """Apply the retention policy now: flows received more than [retention] months ago go,
    with their invoices, archived originals and outputs. Each purge is recorded in the
    ledger's job_runs (job `purge`, the operator, the outcome)."""
    with db.session_scope(loaded.database_url, write=not dry_run) as session:
        done = retention.by_operator(loaded, session, invoices.operator(), dry_run)
    months = loaded.retention.months
    said = " (dry run: nothing changed)" if dry_run else ""
    say(f"Retention ({months} month(s)): {done}{said}.")
    if as_json:
        echo_json(done.as_dict())
        return
    render([done.as_dict()], ["cutoff", "flows", "invoices", "files"], False)
