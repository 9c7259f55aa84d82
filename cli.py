"""`edi-engine`: parses, calls one edi_engine function, renders (README.md#commands).

Exit status: 0 done, 1 refused by a rule, 2 usage error, 3 the engine failed.
Data goes to stdout (a table, or JSON with --json); messages go to stderr.

The groups and commands live in the cli room, edi_engine/cli/, one module each; here are
the `edi-engine` group and the two commands that drive jobs/ (run, jobs list), which no
room of the engine imports.
"""

from __future__ import annotations

import logging

import click

import jobs.daemon
from edi_engine import logs, settings
from edi_engine.cli import (
    api,
    documents,
    engine,
    flows,
    invoices,
    partners,
    rules,
    stats,
    statuses,
    structures,
)
from edi_engine.cli.runs import exit_if_incidents, print_run
from edi_engine.cli.shared import EngineGroup, json_option, pass_settings, progress, render, say
from edi_engine.processing import preparing, runner
from jobs import schedule

HOME_HELP = "The edi-engine home (else $EDI_ENGINE_HOME, else the current directory)."


@click.group(cls=EngineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), help=HOME_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Log every event (one line per flow...).")
@click.option("-q", "--quiet", is_flag=True, help="Log errors only.")
@click.version_option(package_name="edi-engine")
@click.pass_context
def main(ctx: click.Context, home: str | None, verbose: bool, quiet: bool) -> None:
    """Batch engine of the EDI channel of a public-sector e-invoicing hub.

    Suppliers' flows (UBL 2.1, CII/Factur-X, pivot) are picked up from inbox/<PARTNER>/,
    archived, validated, routed to their recipient structure and converted to the
    CPPFacturePivot format; each flow is answered with an integration report (CR).
    """
    if verbose and quiet:
        raise click.UsageError("Choose at most one of --verbose and --quiet.")
    ctx.meta["log_level"] = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    logs.configure(ctx.meta["log_level"])


@click.command()
@click.option("--once", is_flag=True, help="Process every stable inbox file, then stop.")
@click.option(
    "--daemon",
    is_flag=True,
    help="Keep taking flows as they arrive, and run the scheduled jobs, until SIGTERM.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    metavar="N",
    help="Processes that read and validate the flows (0: one per core); this one writes "
    "the ledger and the files. 1 does it all in this process.",
)
@json_option
@pass_settings
def run(loaded: settings.Settings, once: bool, daemon: bool, workers: int, as_json: bool) -> None:
    """Pick up, archive, validate, convert and answer every flow waiting in the inboxes."""
    if once == daemon:
        raise click.UsageError("Choose exactly one of --once or --daemon.")
    count = preparing.resolved(workers)
    if once:
        with (
            preparing.Workers(loaded, count) as pool,
            progress(None, "processing flows") as advance,
        ):
            report = runner.run_once(loaded, progress=advance, pool=pool)
        print_run(loaded, report, as_json)
        exit_if_incidents(report)
        return
    if logging.getLogger().level == logging.WARNING:  # neither --quiet nor --verbose
        logs.configure(logging.INFO)  # a daemon's log is the record of what it did
    say(
        f"Watching {loaded.inbox} (full scan every {loaded.processing.daemon_poll_seconds}s) "
        "and running the scheduled jobs (`edi-engine jobs list`); SIGTERM stops."
    )
    jobs.daemon.run(loaded, lambda report: print_run(loaded, report, as_json), count)


@click.group("jobs", cls=EngineGroup)
def jobs_group() -> None:
    """The daemon's jobs: what runs when, and how it went."""


@jobs_group.command("list")
@json_option
@pass_settings
def jobs_list(loaded: settings.Settings, as_json: bool) -> None:
    """Each job of `run --daemon`: its schedule, last run, next run and last outcome, times
    in the hub's zone. A running daemon applies a changed schedule or a new partner within
    [processing] daemon_poll_seconds; a partner that only receives invoices has no status job."""
    rows = schedule.listing(loaded)
    columns = ["job", "schedule", "last_run", "next_run", "last_outcome"]
    render(rows, columns, as_json)


# `--help` lists them by name, whatever the order they are added in
for command in (
    engine.init,
    engine.demo_command,
    run,
    documents.validate,
    documents.convert,
    flows.group,
    partners.group,
    structures.group,
    invoices.group,
    statuses.group,
    stats.group,
    rules.group,
    jobs_group,
    engine.check_command,
    engine.purge_command,
    api.group,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
