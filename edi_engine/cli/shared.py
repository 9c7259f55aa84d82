"""What every command of edi-engine shares, in one place: the group that turns the engine's
refusals into one sentence and an exit status, the common options and parameter types, and
the rendering (tables, JSON, messages on stderr, progress bars)."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from .. import display, settings
from ..errors import EngineError, UsageError, code_of
from ..ledger.states import InvoiceState
from ..operations import flows, invoices

DAY = click.DateTime(formats=["%Y-%m-%d"])
# a file the command reads: a missing one is a usage error (exit 2) naming it
INPUT_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


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


def rich_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # a pipe gets a wide, plain table instead of one wrapped to 80 columns
    return Console(file=stream, width=None if stream.isatty() else 200, highlight=False)


def say(message: str) -> None:
    """A message on stderr, on one line whatever it quotes: a partner's newline or escape
    sequence is shown escaped (display.escaped), never acted on."""
    click.echo(display.escaped(message), err=True)


JSON_ASKED = "json_asked"  # ctx.meta: --json was given, so a refusal is JSON on stdout too
REFUSAL_SAID = "refusal_said"  # ctx.meta: an outer group must not say it again


error_code = code_of  # the short code of a refusal, in JSON answers


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
        table.add_row(*(cell(row.get(c)) for c in columns))
    rich_console().print(table)


def cell(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    return Text("" if value is None else display.escaped(value))


def lines_cell(lines: Sequence[str]) -> Text:
    """A cell of several lines, each escaped: the lines are the engine's, not a partner's."""
    return Text("\n".join(display.escaped(line) for line in lines))


def content(flow: dict[str, Any]) -> str:
    """What a flow carried, in its own words: a status flow's lines are statuses."""
    if flow.get("statuses") is not None:
        return f"{flow['statuses']} status(es), {flow['refused']} refused"
    return f"{flow['invoices']} invoice(s), {flow['rejected']} rejected"


def echo_line(line: str) -> None:
    """A line of data on stdout, on one line whatever it quotes (as say() on stderr)."""
    click.echo(display.escaped(line))


def settings_or_defaults(ctx: click.Context) -> settings.Settings:
    """validate and convert work outside a home, with the default settings."""
    return settings.load(
        settings.resolve_home(ctx.find_root().params.get("home")), require_file=False
    )


@contextmanager
def progress(total: int | None, what: str) -> Iterator[Callable[[str], None] | None]:
    """A progress bar on a terminal for long work (total None: how much is not known
    beforehand); nothing in a pipe or under cron."""
    if (total is not None and total < 2) or not sys.stderr.isatty():
        yield None
        return
    with Progress(console=rich_console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda _number: bar.advance(task)
