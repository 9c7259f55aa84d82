"""`edi-engine invoices`: find invoices, export them, show one, change its status, deliver
it again, recycle it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import settings
from ..delivery import outputs
from ..errors import UsageError
from ..ledger import db
from ..ledger.states import InvoiceState
from ..operations import exports, invoices
from .shared import (
    FLOW_NUMBER,
    EngineGroup,
    InvoiceStatus,
    echo_json,
    json_option,
    page_options,
    pass_settings,
    render,
    say,
)


@click.group("invoices", cls=EngineGroup)
def group() -> None:
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


@group.command("search")
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


@group.command("export")
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


@group.command("show")
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


@group.command("set-status")
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


@group.command("redeliver")
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


@group.command("recycle")
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
