"""`edi-engine`: parses, calls one edi_engine function, renders (README.md#commands).

Exit status: 0 done, 1 refused by a rule, 2 usage error, 3 the engine failed.
Data goes to stdout (a table, or JSON with --json); messages go to stderr.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

import jobs.daemon
from edi_engine import display, logs, settings
from edi_engine.controls import depositors, structures
from edi_engine.delivery import outputs, statuses_out
from edi_engine.errors import EngineError, UsageError
from edi_engine.ledger import counters, db, home
from edi_engine.ledger.states import FlowState, InvoiceState
from edi_engine.lifecycle import accounting
from edi_engine.operations import (
    checking,
    conversion,
    demo,
    exports,
    flows,
    integrity,
    invoices,
    retention,
    rules_report,
)
from edi_engine.partners import keyring
from edi_engine.partners import registry as partners
from edi_engine.processing import preparing, rerun, runner
from edi_engine.reception import rules
from jobs import schedule

DAY = click.DateTime(formats=["%Y-%m-%d"])
# a file the command reads: a missing one is a usage error (exit 2) naming it
INPUT_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
HOME_HELP = "The edi-engine home (else $EDI_ENGINE_HOME, else the current directory)."


class FlowNumber(click.ParamType):
    """A flow's number as operators type it: FL0000000042, 42, 0042 or fl42."""

    name = "NUMBER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return flows.parse_number(str(value))
        except UsageError as exc:
            self.fail(exc.message, param, ctx)


FLOW_NUMBER = FlowNumber()


class InvoiceStatus(click.ParamType):
    """An invoice status by its name (SERVICE_FAIT) or its code (07, or 7)."""

    name = "STATUS"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> InvoiceState:
        if isinstance(value, InvoiceState):
            return value
        try:
            return invoices.parse_status(str(value))
        except UsageError as exc:
            self.fail(exc.message, param, ctx)


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # a pipe gets a wide, plain table instead of one wrapped to 80 columns
    return Console(file=stream, width=None if stream.isatty() else 200, highlight=False)


def say(message: str) -> None:
    """A message on stderr, on one line whatever it quotes: a partner's newline or escape
    sequence is shown escaped (display.escaped), never acted on."""
    click.echo(display.escaped(message), err=True)


JSON_ASKED = "json_asked"  # ctx.meta: --json was given, so a refusal is JSON on stdout too
REFUSAL_SAID = "refusal_said"  # ctx.meta: an outer group must not say it again


def error_code(exc: BaseException) -> str:
    """The short code of a refusal: its exception's name in snake case (FlowNotFound:
    flow_not_found, click's UsageError: usage_error)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def refuse_in_json(ctx: click.Context, code: str, message: str) -> None:
    """With --json, a refusal is also {"error", "message"} on stdout, once; the sentence
    still goes to stderr and the exit status stays what it is."""
    if ctx.meta.get(JSON_ASKED) and not ctx.meta.get(REFUSAL_SAID):
        ctx.meta[REFUSAL_SAID] = True
        echo_json({"error": code, "message": message})


class EngineGroup(click.Group):
    """Translates the engine's exceptions into one sentence and an exit status: the one
    place where refusals become exit codes (and JSON error objects under --json)."""

    def invoke(self, ctx: click.Context) -> Any:
        # the words left for the subcommand; read before parsing, so that an option it
        # refuses is answered in JSON too
        if "--json" in [*getattr(ctx, "_protected_args", ()), *ctx.args]:
            ctx.meta[JSON_ASKED] = True
        try:
            return super().invoke(ctx)
        except EngineError as exc:
            refuse_in_json(ctx, error_code(exc), exc.message)
            say(f"edi-engine: {exc.headline}")
            for line in exc.lines:  # a refused CSV's bad rows, one a line
                say(f"  {line}")
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            refuse_in_json(ctx, error_code(exc), exc.format_message())
            raise
        except (click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt, SystemExit):
            raise
        except BrokenPipeError:  # `edi-engine invoices export | head`: the reader had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception:  # a bug: say so, keep the traceback for the report, exit 3
            refuse_in_json(ctx, "internal_error", "edi-engine failed unexpectedly.")
            logging.getLogger("edi_engine").exception("edi-engine failed unexpectedly")
            sys.exit(3)


def pass_settings(command: Callable) -> Callable:
    """Inject the settings of the home, loaded once."""

    @click.pass_context
    @functools.wraps(command)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        root = ctx.find_root()
        if "settings" not in root.meta:
            root.meta["settings"] = settings.load(settings.resolve_home(root.params.get("home")))
        return command(root.meta["settings"], *args, **kwargs)

    return wrapper


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(command)


def page_options(what: str) -> Callable[[Callable], Callable]:
    """--limit (50) and --offset: lists come a page at a time."""

    def decorate(command: Callable) -> Callable:
        command = click.option(
            "--offset", type=click.IntRange(min=0), default=0, help="Skip this many first."
        )(command)
        return click.option(
            "--limit",
            type=click.IntRange(min=1),
            default=50,
            show_default=True,
            help=f"At most this many {what}.",
        )(command)

    return decorate


def echo_json(data: Any) -> None:
    """The one JSON form of every `--json`: indented, accents as written, dates as text,
    every value exact (a control or bidi character in a JSON escape: display.json_safe)."""
    click.echo(display.json_safe(json.dumps(data, indent=2, ensure_ascii=False, default=str)))


def render(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool, title: str = ""
) -> None:
    """The one renderer: JSON on request, else a table. A cell is Text, never markup, and
    its hidden characters are escaped (`[/bold]` and `a\nb` are shown as written); a cell
    the caller made a Text of already (lines of its own) is shown as it is."""
    if as_json:
        echo_json(list(rows))
        return
    table = Table(title=Text(title) if title else None, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    _console().print(table)


def _cell(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    return Text("" if value is None else display.escaped(value))


def _lines(lines: Sequence[str]) -> Text:
    """A cell of several lines, each escaped: the lines are the engine's, not a partner's."""
    return Text("\n".join(display.escaped(line) for line in lines))


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


@main.command()
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


@main.command("demo")
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
    _print_run(loaded, report, as_json=False)
    _exit_if_incidents(report)
    say(f"Outputs are in {loaded.outbox}; try `edi-engine --home {loaded.home} flows show NUMBER`.")


@main.command()
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
            _progress(None, "processing flows") as advance,
        ):
            report = runner.run_once(loaded, progress=advance, pool=pool)
        _print_run(loaded, report, as_json)
        _exit_if_incidents(report)
        return
    if logging.getLogger().level == logging.WARNING:  # neither --quiet nor --verbose
        logs.configure(logging.INFO)  # a daemon's log is the record of what it did
    say(
        f"Watching {loaded.inbox} (full scan every {loaded.processing.daemon_poll_seconds}s) "
        "and running the scheduled jobs (`edi-engine jobs list`); SIGTERM stops."
    )
    jobs.daemon.run(loaded, lambda report: _print_run(loaded, report, as_json), count)


def _exit_if_incidents(report: runner.RunReport) -> None:
    """A flow left IN_INCIDENTE, or an SFTP channel that failed, is the engine failing
    (exit 3), so cron and scripts see it; what was done is reported all the same."""
    if report.incidents or report.retrying or report.sftp.problems:
        sys.exit(3)


def _print_run(loaded: settings.Settings, report: runner.RunReport, as_json: bool) -> None:
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
        row["outputs"] = _lines(row["outputs"])
        row["content"] = _content(row)
        lines = (row["why"] or "").split("\n")  # one per severity (flows.outcomes)
        row["why"] = _lines([line if len(line) <= 90 else line[:89] + "…" for line in lines])
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


def _content(flow: dict[str, Any]) -> str:
    """What a flow carried, in its own words: a status flow's lines are statuses."""
    if flow.get("statuses") is not None:
        return f"{flow['statuses']} status(es), {flow['refused']} refused"
    return f"{flow['invoices']} invoice(s), {flow['rejected']} rejected"


@main.command()
@click.argument("files", nargs=-1, required=True, type=INPUT_FILE)
@click.option("--explain", is_flag=True, help="Add the reason xmlschema gives: what was expected.")
@click.option(
    "--rules",
    "with_rules",
    is_flag=True,
    help="Also run the official business rules ([rules]), even on a document the XSD refuses.",
)
@json_option
@click.pass_context
def validate(
    ctx: click.Context, files: tuple[Path, ...], explain: bool, with_rules: bool, as_json: bool
) -> None:
    """Say for each FILE its syntax, whether it is valid, and each error (exit 1 if any is invalid).

    The official business rules' findings are errors like the others (on a document the
    XSD accepts). With --rules, the XSD's verdict and the rules' are given apart, the rules
    run even on a document the XSD refuses; a rule the hub rejects on makes the file
    invalid (docs/errors.md#business-rules)."""
    loaded = _settings_or_defaults(ctx)
    if with_rules:
        results = _validated_with_rules(loaded, files, explain, as_json)
    else:
        results = [checking.validate_file(path, loaded, explain) for path in files]
        if as_json:
            echo_json(results)
        else:
            for result in results:
                _print_validation(result)
    if not all(r["valid"] for r in results):
        sys.exit(1)


def _validated_with_rules(
    loaded: settings.Settings, files: tuple[Path, ...], explain: bool, as_json: bool
) -> list[dict[str, Any]]:
    sets, defaulted = rules_report.sets_in_force(loaded)
    if defaulted:
        say("No rule set is on in [rules]: the files are checked against en16931.")
    results = [rules_report.validate_file(path, loaded, sets, explain) for path in files]
    if as_json:
        echo_json(results)
    else:
        for result in results:
            _print_validation_with_rules(result)
    return results


def _print_validation(result: dict[str, Any]) -> None:
    verdict = "valid" if result["valid"] else "INVALID"
    _echo(f"{result['file']}: {result['syntax'] or 'unknown syntax'}: {verdict}")
    _print_errors(result)


def _print_errors(result: dict[str, Any]) -> None:
    for error in result["errors"]:
        where = ", ".join(
            f"{k} {error[k]}" for k in ("document", "line", "path") if error.get(k) is not None
        )
        warning = "warning: " if error.get("severity") == "warning" else ""
        _echo(f"  [{error['code']}] {warning}{where + ': ' if where else ''}{error['message']}")
    for reason in result.get("explanations", []):
        _echo(f"  explain: {reason}")


def _print_validation_with_rules(result: dict[str, Any]) -> None:
    """The file's verdict, then the XSD's with its errors, then the rules' with theirs."""
    verdict = "valid" if result["valid"] else "INVALID"
    _echo(f"{result['file']}: {result['syntax'] or 'unknown syntax'}: {verdict}")
    _echo(f"  schema: {'valid' if result['schema_valid'] else 'INVALID'}")
    _print_errors(result)
    fatal = sum(1 for f in result["rules"] if f["flag"] == "fatal")
    counts = f" ({fatal} fatal, {len(result['rules']) - fatal} warning)" if result["rules"] else ""
    sets = ", ".join(result["rule_sets"])
    _echo(f"  rules ({sets}): {'valid' if result['rules_valid'] else 'INVALID'}{counts}")
    for note in result["rules_notes"]:
        _echo(f"  note: {note}")
    for finding in result["rules"]:
        where = ", ".join(
            f"{label} {value}"
            for label, value in (
                ("document", finding.get("document")),
                ("line", finding["line"]),
                ("path", finding["location"]),
            )
            if value is not None
        )
        usual = "reject" if finding["flag"] == "fatal" else "warn"
        hub = "" if finding["severity"] == usual else f" (this hub: {finding['severity']})"
        head = f"  [{finding['id']}] {finding['flag']}{hub}"
        _echo(
            f"{head}, {where}: {finding['message']}" if where else f"{head}: {finding['message']}"
        )


def _echo(line: str) -> None:
    """A line of data on stdout, on one line whatever it quotes (as say() on stderr)."""
    click.echo(display.escaped(line))


def _settings_or_defaults(ctx: click.Context) -> settings.Settings:
    """validate and convert work outside a home, with the default settings."""
    return settings.load(
        settings.resolve_home(ctx.find_root().params.get("home")), require_file=False
    )


@main.command()
@click.argument("file", type=INPUT_FILE)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout.",
)
@click.option(
    "--partner", default="DEST", show_default=True, help="Recepteur/Id of the pivot envelope."
)
@click.pass_context
def convert(ctx: click.Context, file: Path, output: Path | None, partner: str) -> None:
    """Write the CPPFacturePivot of a UBL, CII, Factur-X or pivot FILE, or say why it cannot be."""
    loaded = _settings_or_defaults(ctx)
    content, count = conversion.convert_file(file, loaded, partners.check_code(partner))
    if output is None:
        sys.stdout.buffer.write(content)
        return
    try:
        output.write_bytes(content)
    except OSError as exc:
        raise UsageError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    say(f"Wrote {output} ({count} invoice(s)).")


@main.group("flows", cls=EngineGroup)
def flows_group() -> None:
    """Follow flows: list them, show one's timeline."""


@flows_group.command("list")
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
            row["content"] = _content(row)
    columns = ["number", "partner", "file_name", "syntax", "status", "received_at", "content"]
    render(rows, columns, as_json)


@flows_group.command("rerun")
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
        with _progress(len(chosen), "re-running") as advance:
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


@contextmanager
def _progress(total: int | None, what: str) -> Iterator[Callable[[str], None] | None]:
    """A progress bar on a terminal for long work (total None: how much is not known
    beforehand); nothing in a pipe or under cron."""
    if (total is not None and total < 2) or not sys.stderr.isatty():
        yield None
        return
    with Progress(console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda _number: bar.advance(task)


@flows_group.command("show")
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
    console = _console()
    console.print(
        Text(detail["number"], style="bold"),
        _cell(
            f" {detail['status']}  partner {detail['partner']}  file {detail['file_name']}  "
            f"syntax {detail['syntax'] or '-'}  {_content(detail)}"
        ),
    )
    if detail["duplicate_of"]:
        console.print(_cell(f"duplicate of flow {detail['duplicate_of']}"))
    if detail.get("producer_flow_id"):  # the depositor's value: text, never markup
        console.print(_cell(f"depositor's flow id (IdFlx) {detail['producer_flow_id']}"))
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


@main.group("partners", cls=EngineGroup)
def partners_group() -> None:
    """Register partners (EDI connections), their SFTP channel and certificates."""


def sftp_options(command: Callable) -> Callable:
    """The SFTP channel of a partner, shared by `partners add` and `partners update`."""
    options = [
        click.option("--sftp-host", help="SFTP server the partner's flows are fetched from."),
        click.option("--sftp-port", type=click.IntRange(1, 65535), help="Its port (default 22)."),
        click.option("--sftp-user", help="User name on that server."),
        click.option(
            "--sftp-key",
            type=click.Path(dir_okay=False),
            help="Private key file to log in with (its path is kept, never its content).",
        ),
        click.option(
            "--known-hosts",
            type=click.Path(dir_okay=False),
            help="known_hosts file holding the server's host key: no other key is accepted.",
        ),
        click.option("--remote-in", help="Remote folder the partner drops its flows in."),
        click.option("--remote-out", help="Remote folder the hub delivers CRs and pivots to."),
        click.option("--remote-done", help="Move taken files here instead of deleting them."),
        click.option(
            "--markers/--no-markers",
            default=None,
            help="Take a file only once its NAME.done marker exists.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _channel(values: dict[str, Any]) -> partners.SftpChannel:
    return partners.SftpChannel(
        host=values["sftp_host"],
        port=values["sftp_port"],
        user=values["sftp_user"],
        key_file=values["sftp_key"],
        known_hosts=values["known_hosts"],
        remote_in=values["remote_in"],
        remote_out=values["remote_out"],
        remote_done=values["remote_done"],
        markers=values["markers"],
    )


OPERATOR_HELP = "An operator deposits for any supplier, not only those tied to it."


@partners_group.command("add")
@click.argument("code")
@click.option("--name", required=True, help="The partner's name.")
@sftp_options
@click.option(
    "--cert",
    "certs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file of OpenSSH public keys or X.509 certificates (PEM or DER); repeatable.",
)
@click.option("--operator", is_flag=True, help=OPERATOR_HELP)
@pass_settings
def partners_add(
    loaded: settings.Settings,
    code: str,
    name: str,
    certs: tuple[Path, ...],
    operator: bool,
    **sftp: Any,
) -> None:
    """Register partner CODE and create inbox/CODE/ and outbox/CODE/ (SFTP options: its
    channel). It deposits for the suppliers `partners suppliers add` ties to it, unless it
    is an operator."""
    with db.session_scope(loaded.database_url) as session:
        added = partners.add(
            loaded, session, code, name, _channel(sftp), folders=False, operator=operator
        )
        for path in certs:
            keyring.add(session, code, path)
        session.commit()
    partners.make_folders(loaded, code)  # only for a partner that was registered
    if added["channel"] == "sftp":
        say(
            f"Partner {added['code']} registered; its flows are fetched from {added['sftp']['host']}."
        )
    else:
        say(f"Partner {added['code']} registered; it deposits in {added['inbox']}.")


@partners_group.command("update")
@click.argument("code")
@click.option("--name", help="The partner's new name.")
@click.option(
    "--status-cron",
    help="When `run --daemon` sends this partner its status flows (cron, 5 fields, or 6 "
    "with seconds first); '' goes back to [jobs] statuses_cron.",
)
@click.option(
    "--active/--inactive",
    default=None,
    help="Take this partner's deposits again, or leave them in its inbox (reported).",
)
@click.option(
    "--operator/--no-operator",
    default=None,
    help=f"{OPERATOR_HELP} --no-operator: only its own again.",
)
@click.option(
    "--rules",
    metavar="SETS",
    help="The business rule sets its invoices are checked against: en16931, br_fr or both "
    "(comma-separated), none, or default (the hub's [rules]).",
)
@sftp_options
@pass_settings
def partners_update(
    loaded: settings.Settings,
    code: str,
    name: str | None,
    status_cron: str | None,
    active: bool | None,
    operator: bool | None,
    rules: str | None,
    **sftp: Any,
) -> None:
    """Change partner CODE's name, SFTP channel, status schedule, whether it is an operator,
    its business rule sets, or deactivate it (its deposits are then left where they are
    and reported); what is not given stays as it was."""
    with db.session_scope(loaded.database_url) as session:
        updated = partners.update(
            loaded, session, code, name, _channel(sftp), status_cron, active, operator, rules
        )
        session.commit()
    state = "active" if updated["active"] else "inactive: its deposits are not taken"
    deposits = "any supplier" if updated["operator"] else "its own suppliers"
    checked = ", ".join(updated["rules"]) or "none"
    say(
        f"Partner {updated['code']} updated (channel {updated['channel']}, {state}; "
        f"deposits for {deposits}; rules {checked})."
    )


@partners_group.command("show")
@click.argument("code")
@json_option
@pass_settings
def partners_show(loaded: settings.Settings, code: str, as_json: bool) -> None:
    """Show partner CODE: folders, channel and certificates (never a secret)."""
    with db.session_scope(loaded.database_url, write=False) as session:
        shown = partners.show(loaded, session, code)
    if as_json:
        echo_json(shown)
        return
    rows = [{"field": k, "value": v} for k, v in shown.items() if isinstance(v, str | bool)]
    rows += [{"field": f"sftp.{k}", "value": v} for k, v in shown.get("sftp", {}).items()]
    rows += [
        {"field": f"certificate {c['kind']}", "value": f"{c['fingerprint']} {c['label'] or ''}"}
        for c in shown["certificates"]
    ]
    rows += [
        {"field": f"supplier ({s['scheme']})", "value": s["identifier"]} for s in shown["suppliers"]
    ]
    if shown["operator"]:
        rows.append({"field": "deposits for", "value": "any supplier (operator)"})
    elif not shown["suppliers"]:
        rows.append({"field": "deposits for", "value": "no supplier (`partners suppliers add`)"})
    render(rows, ["field", "value"], False, title=f"Partner {code}")


@partners_group.command("list")
@json_option
@pass_settings
def partners_list(loaded: settings.Settings, as_json: bool) -> None:
    """List partners."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = partners.list_partners(loaded, session)
    for row in rows if not as_json else ():
        row["suppliers"] = "any" if row["operator"] else len(row["suppliers"])
    columns = ["code", "name", "channel", "active", "operator", "suppliers", "inbox", "outbox"]
    render(rows, columns, as_json)


@partners_group.group("suppliers", cls=EngineGroup)
def suppliers_group() -> None:
    """The suppliers a partner may deposit invoices and statuses for: by SIRET, or, for a
    supplier without one, its VAT number or another identifier (scheme other)."""


SCHEME_OPTION = click.option(
    "--scheme",
    type=click.Choice(depositors.SCHEMES),
    help="siret, vat or other; by default 14 digits are a SIRET, a country prefix and 2 to "
    "13 letters or digits a VAT number.",
)


@suppliers_group.command("add")
@click.argument("code")
@click.argument("identifiers", nargs=-1, required=True)
@SCHEME_OPTION
@pass_settings
def suppliers_add(
    loaded: settings.Settings, code: str, identifiers: tuple[str, ...], scheme: str | None
) -> None:
    """Let partner CODE deposit for the suppliers IDENTIFIERS (all or none is checked)."""
    checked = [depositors.checked(identifier, scheme) for identifier in identifiers]
    with db.session_scope(loaded.database_url) as session:
        done = depositors.add(session, code, checked)
        session.commit()
    _said_added(code, done)


def _said_added(code: str, done: dict[str, list[str]]) -> None:
    said = f"Partner {code} may deposit for {len(done['added'])} more supplier(s)"
    if done["added"]:
        said += f": {', '.join(done['added'])}"
    if done["already"]:
        said += f"; already tied: {', '.join(done['already'])}"
    say(said + ".")


@suppliers_group.command("import")
@click.argument("code")
@click.argument("file", type=INPUT_FILE)
@pass_settings
def suppliers_import(loaded: settings.Settings, code: str, file: Path) -> None:
    """Let partner CODE deposit for the suppliers of a CSV with columns identifier and,
    optionally, scheme (siret, vat, other; empty: as `suppliers add` tells). A bad line
    refuses the file, naming it; nothing of it is imported."""
    with db.session_scope(loaded.database_url) as session:
        partners.get(session, code)
        done = depositors.add(session, code, depositors.read_csv(file))
        session.commit()
    _said_added(code, done)


@suppliers_group.command("remove")
@click.argument("code")
@click.argument("identifiers", nargs=-1, required=True)
@pass_settings
def suppliers_remove(loaded: settings.Settings, code: str, identifiers: tuple[str, ...]) -> None:
    """Stop partner CODE depositing for the suppliers IDENTIFIERS (one it is not tied to
    refuses the lot; its invoices already deposited stay as they are)."""
    with db.session_scope(loaded.database_url) as session:
        removed = depositors.remove(session, code, list(identifiers))
        session.commit()
    say(f"Partner {code} may no longer deposit for {', '.join(removed)}.")


@suppliers_group.command("list")
@click.argument("code")
@json_option
@pass_settings
def suppliers_list(loaded: settings.Settings, code: str, as_json: bool) -> None:
    """List the suppliers partner CODE may deposit for."""
    with db.session_scope(loaded.database_url, write=False) as session:
        shown = partners.show(loaded, session, code)
    render(shown["suppliers"], ["identifier", "scheme", "added_at"], as_json)
    if shown["operator"] and not as_json:
        say(f"Partner {code} is an operator: it may deposit for any supplier.")


@partners_group.group("cert", cls=EngineGroup)
def cert_group() -> None:
    """A partner's certificates: OpenSSH public keys and X.509 certificates."""


@cert_group.command("add")
@click.argument("code")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_settings
def cert_add(loaded: settings.Settings, code: str, file: Path) -> None:
    """Register the keys or certificates of FILE for partner CODE (refused if another holds one)."""
    with db.session_scope(loaded.database_url) as session:
        added = keyring.add(session, code, file)
        session.commit()
    for row in added:
        say(
            f"Registered {row['kind']} {row['fingerprint']} ({row['label'] or row['algorithm']}) for {code}."
        )
    if not added:
        say(f"Every certificate of {file} was already registered for {code}.")


@cert_group.command("list")
@click.argument("code", required=False)
@json_option
@pass_settings
def cert_list(loaded: settings.Settings, code: str | None, as_json: bool) -> None:
    """List the certificates of every partner, or of partner CODE."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = keyring.list_certificates(session, code)
    render(rows, ["partner", "kind", "algorithm", "fingerprint", "label", "not_after"], as_json)


@partners_group.command("check")
@click.option(
    "--days", type=click.IntRange(min=0), default=30, show_default=True, help="Expiry window."
)
@json_option
@pass_settings
def partners_check(loaded: settings.Settings, days: int, as_json: bool) -> None:
    """Report fingerprints held by several partners and certificates expiring soon (exit 1 if any)."""
    with db.session_scope(loaded.database_url, write=False) as session:
        found = keyring.check(session, within_days=days)
    if as_json:
        echo_json(found)
    else:
        for duplicate in found["duplicates"]:  # one line each: a label cannot forge one
            _echo(
                f"DUPLICATE {duplicate['fingerprint']} held by {', '.join(duplicate['partners'])}"
            )
        for cert in found["expiring"]:
            _echo(
                f"EXPIRING {cert['partner']} {cert['fingerprint']} ({cert['label']}) on {cert['not_after']}"
            )
        if not found["duplicates"] and not found["expiring"]:
            say(f"No duplicate certificate, none expiring within {days} days.")
    if found["duplicates"] or found["expiring"]:
        sys.exit(1)


@partners_group.command("authorized-keys")
@click.argument("code", required=False)
@click.option(
    "--root",
    default="/",
    show_default=True,
    help="The folder holding the partners' folders, as a partner sees it inside its chroot.",
)
@pass_settings
def partners_authorized_keys(loaded: settings.Settings, code: str | None, root: str) -> None:
    """Print restricted authorized_keys lines, one block per partner (docs/sftp-landing.md)."""
    with db.session_scope(loaded.database_url, write=False) as session:
        click.echo(keyring.authorized_keys(session, code, root), nl=False)


@main.group("structures", cls=EngineGroup)
def structures_group() -> None:
    """Load and list the recipient structures."""


@structures_group.command("import")
@click.argument("file", type=INPUT_FILE)
@pass_settings
def structures_import(loaded: settings.Settings, file: Path) -> None:
    """Load or update structures from a CSV with columns siret,designation,active,partner
    (optional: engagement_required, service_code_required, engagement_or_service_code,
    accountant)."""
    _import(loaded, file, structures.import_csv)


@structures_group.command("import-services")
@click.argument("file", type=INPUT_FILE)
@pass_settings
def structures_import_services(loaded: settings.Settings, file: Path) -> None:
    """Load or update structures' services from a CSV with columns siret,code,name,active."""
    _import(loaded, file, structures.import_services)


@structures_group.command("import-engagements")
@click.argument("file", type=INPUT_FILE)
@pass_settings
def structures_import_engagements(loaded: settings.Settings, file: Path) -> None:
    """Load or update published commitments: siret,engagement,supplier,service_code
    (supplier may be empty), optional active (false: withdrawn, invoices citing it are
    refused). A service code the structure does not list among its services refuses the
    file, naming the line."""
    _import(loaded, file, structures.import_engagements)


def _import(
    loaded: settings.Settings, file: Path, load: Callable[[Any, Path], dict[str, int]]
) -> None:
    """All or nothing: the importer refuses a bad file before anything is written."""
    with db.session_scope(loaded.database_url) as session, _progress(None, "importing"):
        counts = load(session, file)
        session.commit()
    say(
        f"Imported {file}: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged."
    )


@structures_group.command("show")
@click.argument("siret")
@json_option
@pass_settings
def structures_show(loaded: settings.Settings, siret: str, as_json: bool) -> None:
    """Show a structure: its requirements, services and published commitments."""
    with db.session_scope(loaded.database_url, write=False) as session:
        shown = structures.show(session, siret)
    if as_json:
        echo_json(shown)
        return
    rows = [{"field": k, "value": v} for k, v in shown.items() if not isinstance(v, list)]
    render(rows, ["field", "value"], False, title=f"Structure {siret}")
    render(shown["services"], ["code", "name", "active"], False, title="Services")
    render(
        shown["engagements"],
        ["engagement", "supplier", "service_code", "active"],
        False,
        title="Engagements",
    )


@structures_group.command("list")
@page_options("structures")
@json_option
@pass_settings
def structures_list(loaded: settings.Settings, limit: int, offset: int, as_json: bool) -> None:
    """List structures by designation, then SIRET, 50 at a time."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = structures.list_structures(session, limit, offset)
    render(rows, ["siret", "designation", "active", "partner"], as_json)


@main.group("invoices", cls=EngineGroup)
def invoices_group() -> None:
    """Find invoices, see every decision about them, change a status, recycle one."""


INVOICE_COLUMNS = [
    "id", "number", "status", "lifecycle", "delivery_incident", "recipient", "service_code",
    "supplier", "amount_ttc", "currency", "status_date", "flow",
]  # fmt: skip
# the text table's `lifecycle` of an invoice the hub refused (its JSON: in_lifecycle false)
OUTSIDE_LIFECYCLE = "outside (CR only)"
STATUS_HELP = (
    "Current status: a lifecycle status (REJETEE is 05, the recipient's rejection), or "
    "REFUSEE_RECEPTION: refused at reception by the hub, outside the lifecycle, told to its "
    "supplier by the flow's CR only."
)


def _lifecycle(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the text table: its status code in the lifecycle, or that it has none."""
    return {**row, "lifecycle": row["status_code"] if row["in_lifecycle"] else OUTSIDE_LIFECYCLE}


def _nine_digits(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not (len(value) == 9 and value.isdigit()):
        raise click.BadParameter(f"a SIREN is 9 digits; found {value!r}")
    return value


@invoices_group.command("search")
@click.option("--siret", "sirets", multiple=True, help="Recipient SIRET (repeat for several).")
@click.option(
    "--siren", callback=_nine_digits, help="All recipient SIRETs of this company (9 digits)."
)
@click.option("--number", help="Invoice number, exactly.")
@click.option("--status", type=click.Choice([s.value for s in InvoiceState]), help=STATUS_HELP)
@click.option("--supplier", help="Supplier identifier (its SIRET most often), exactly.")
@click.option("--flow", type=FLOW_NUMBER, help="Brought by this flow (FL0000000042, or 42).")
@click.option(
    "--delivery-incident",
    is_flag=True,
    help="Only those whose recipient reported their delivery failed (94, 95), or whose "
    "pivot is held back, not yet published (NP).",
)
@page_options("invoices")
@json_option
@pass_settings
def invoices_search(
    loaded: settings.Settings,
    sirets: tuple[str, ...],
    siren: str | None,
    number: str | None,
    status: str | None,
    supplier: str | None,
    flow: str | None,
    delivery_incident: bool,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List invoices matching every filter given, oldest first."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = invoices.search(
            session, sirets, siren, number, status, limit, offset, supplier, flow,
            delivery_incident,
        )  # fmt: skip
    render(rows if as_json else [_lifecycle(row) for row in rows], INVOICE_COLUMNS, as_json)


@invoices_group.command("export")
@click.option(
    "--csv",
    "as_csv",
    is_flag=True,
    default=True,
    help="Write CSV (UTF-8, ',', a header line): the only format for now, so the default.",
)
@click.option(
    "--structure", "structures", multiple=True, help="Recipient SIRET (repeat for several)."
)
@click.option("--status", type=click.Choice([s.value for s in InvoiceState]), help=STATUS_HELP)
@click.option(
    "--from",
    "start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Issued on or after this day, YYYY-MM-DD.",
)
@click.option(
    "--to",
    "end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Issued on or before this day, YYYY-MM-DD.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (atomically) instead of stdout.",
)
@pass_settings
def invoices_export(
    loaded: settings.Settings,
    as_csv: bool,
    structures: tuple[str, ...],
    status: str | None,
    start: Any,
    end: Any,
    output: Path | None,
) -> None:
    """Write one CSV line per invoice matching every filter given, oldest first, streamed:
    id, number, supplier, supplier_name, recipient, service_code, engagement, type_code,
    issue_date, currency, amount_ht, amount_ttc, amount_net, status, status_code,
    status_date, flow, mandate. Not to a terminal: the CSV keeps the suppliers' values
    exactly, and a terminal would act on the control characters a value may hold."""
    if output is None and sys.stdout.isatty():
        raise UsageError(
            "invoices export writes the suppliers' values exactly, control characters "
            "included, which a terminal would act on: give --output FILE, or pipe it "
            "(| less, > FILE)."
        )
    filters = exports.Filters(structures, status, start and start.date(), end and end.date())
    with db.session_scope(loaded.database_url, write=False) as session:
        count = exports.export_csv(
            session, filters, output, sys.stdout.buffer, loaded.processing.fsync
        )
    say(f"Exported {count} invoice(s){f' to {output}' if output else ''}.")


@invoices_group.command("show")
@click.argument("invoice_id", type=int)
@json_option
@pass_settings
def invoices_show(loaded: settings.Settings, invoice_id: int, as_json: bool) -> None:
    """Show an invoice: status, recipient, warnings, rejection reasons and history."""
    with db.session_scope(loaded.database_url, write=False) as session:
        detail = invoices.show(session, invoice_id)
    _print_invoice(detail, as_json)


def _tell(message: str) -> None:
    """say() a line naming an invoice: its number is the supplier's, shown as a table shows
    it (a carriage return or a backspace in it escaped, never writing over the line)."""
    say(message)


def _print_invoice(detail: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(detail)
        return
    fields = [k for k in detail if not isinstance(detail[k], list)]
    render([{"field": k, "value": detail[k]} for k in fields], ["field", "value"], False,
           title=f"Invoice {detail['id']}")  # fmt: skip
    columns = ["code", "element", "value", "message_fr", "message"]
    for title in ("errors", "warnings"):
        if detail[title]:
            render(detail[title], columns, False, title=title.capitalize())
    columns = ["at", "produced_at", "status", "status_code", "actor", "detail"]
    title = "History (at: recorded by the hub; produced_at: at its source)"
    render(detail["history"], columns, False, title=title)


@invoices_group.command("set-status")
@click.argument("invoice_id", type=int)
@click.argument("status", type=InvoiceStatus())
@click.option(
    "--comment",
    help="Why, as the history and the supplier's status flow say it: required with 04, 05 "
    "and 06 (the reason, Commentaire).",
)
@click.option(
    "--mandate", help="The mandate number (IdMandatDP): required with 08 MANDATEE; with 09 too."
)
@json_option
@pass_settings
def invoices_set_status(
    loaded: settings.Settings,
    invoice_id: int,
    status: InvoiceState,
    comment: str | None,
    mandate: str | None,
    as_json: bool,
) -> None:
    """Record STATUS, by name or code (SERVICE_FAIT or 07), for a recipient, an accountant
    or a supplier (e.g. A_RECYCLER).

    The lifecycle's rules apply as to a partner's status flow: a change it does not allow
    is refused (exit 1); 08 MANDATEE needs --mandate and 04, 05 and 06 need --comment (else
    exit 2); 09 and 11 need a supplier known by its SIRET."""
    with db.session_scope(loaded.database_url) as session:
        with outputs.committed(session):
            detail, warnings = invoices.set_status(
                loaded, session, invoice_id, status, comment, invoices.operator(), mandate
            )
        detail = invoices.published(session, invoice_id)  # 03 once its pivot is published
    for warning in warnings:
        say(f"warning: {warning}")
    _tell(f"Invoice {invoice_id} ({detail['number']}) is now {detail['status']}.")
    if as_json:
        _print_invoice(detail, as_json)


@invoices_group.command("redeliver")
@click.argument("invoice_id", type=int)
@json_option
@pass_settings
def invoices_redeliver(loaded: settings.Settings, invoice_id: int, as_json: bool) -> None:
    """Deliver again an invoice whose recipient reported its delivery failed (acknowledgement
    94 or 95): a new pivot with the Renvoi of the one that failed. Its supplier is not told
    (it saw 03 already). Exit 1 if the invoice has no delivery incident."""
    with db.session_scope(loaded.database_url) as session:
        with outputs.committed(session):
            invoices.redeliver(loaded, session, invoice_id, invoices.operator())
        detail = invoices.published(session, invoice_id)  # 03 once its pivot is published
    _tell(
        f"Invoice {invoice_id} ({detail['number']}) delivered again: pivot "
        f"{detail['pivot_file']}, {detail['status']}."
    )
    if as_json:
        _print_invoice(detail, as_json)


@invoices_group.command("recycle")
@click.argument("invoice_id", type=int)
@click.option("--siret", required=True, help="SIRET of the new recipient structure (ACTIVE).")
@click.option("--service-code", help="New service code (an active service of it); '' clears it.")
@click.option("--engagement", help="New commitment number; '' clears it.")
@json_option
@pass_settings
def invoices_recycle(
    loaded: settings.Settings,
    invoice_id: int,
    siret: str,
    service_code: str | None,
    engagement: str | None,
    as_json: bool,
) -> None:
    """Re-address an invoice in A_RECYCLER and deliver it again (Renvoi "Recyclée").

    Options left out keep their value. Nothing is written unless the new structure is
    ACTIVE, the service code one of its active services, and the invoice passes the
    controls again; otherwise the command exits 1 and the invoice stays A_RECYCLER."""
    with db.session_scope(loaded.database_url) as session:
        with outputs.committed(session):
            invoices.recycle(
                loaded, session, invoice_id, siret, service_code, engagement, invoices.operator()
            )
        detail = invoices.published(session, invoice_id)  # 03 once its pivot is published
    _tell(
        f"Invoice {invoice_id} ({detail['number']}) recycled to {detail['recipient']}: "
        f"pivot {detail['pivot_file']}, {detail['status']}."
    )
    if as_json:
        _print_invoice(detail, as_json)


@main.group("statuses", cls=EngineGroup)
def statuses_group() -> None:
    """Status flows to suppliers: every change of their invoices, exactly once."""


@statuses_group.command("emit")
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


@main.group("stats", cls=EngineGroup)
def stats_group() -> None:
    """Figures on the invoices the hub delivered over a period."""


@stats_group.command("accounting")
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


@stats_group.command("monthly")
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
    console = _console()
    flows = [m[c] for m in counters.totals(rows) for c in ("inbound_flows", "outbound_flows")]
    columns = console.width if console.is_terminal else 80  # a pipe: a plain 80 columns
    width = max(1, columns - len("YYYY-MM out  ") - len(str(max([0, *flows]))) - 1)
    if rows:
        console.print("[cyan]█[/] inbound flows   [magenta]▒[/] outbound files, each month")
    for month, inbound, outbound, in_bar, out_bar in counters.bar_lengths(rows, width):
        console.print(f"{month} in   [cyan]{'█' * in_bar}[/] {inbound}")
        console.print(f"{' ' * len(month)} out  [magenta]{'▒' * out_bar}[/] {outbound}")


@main.group("rules", cls=EngineGroup)
def rules_group() -> None:
    """The official business rules (EN 16931, the French reform's): which are in force."""


@rules_group.command("list")
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
    loaded = _settings_or_defaults(ctx)
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


@main.group("jobs", cls=EngineGroup)
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


@main.command("check")
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
    sink = out.problem if out else lambda problem: _echo(problem.line())
    told = None if as_json else lambda done: _echo(done.line())
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


@main.command("purge")
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


if __name__ == "__main__":
    main()
