"""Invoices over the API: the caller's invoices found and paged (the keys of `invoices search
--json`), one with its history (the keys of `invoices show --json`), and its pivot for the
partner it was delivered to. A partner knows only what controls.visibility lets it know
(the invoices it deposited, those of the structures it serves): anything else is not
found, exactly as an id that does not exist."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..controls.visibility import visible
from ..delivery.publication import PIVOT
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.models import Output
from ..ledger.states import InvoiceState
from ..operations import invoices
from . import outbox
from .access import NOT_FOUND, ApiError, Authenticated, Caller, context_of

MAX_LIMIT = 500
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
ID = re.compile(r"[0-9]{1,18}")  # an invoice id, within the ledger's 64-bit integers
STATUSES = tuple(state.value for state in InvoiceState)
router = APIRouter(tags=["invoices"])


def known_parameters(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing a query parameter the route does not take, or one given twice:
    a misspelt filter would otherwise be ignored and answer every invoice. Asynchronous,
    so that it runs on the event loop, not handed to a thread."""

    async def check(request: Request) -> None:
        seen: set[str] = set()
        for name, _ in request.query_params.multi_items():
            if name not in names:
                raise ApiError(
                    422,
                    "invalid_request",
                    f"{name[:40]}: not a parameter of this call; it takes "
                    f"{', '.join(names) or 'none'}.",
                )
            if name in seen:
                raise ApiError(422, "invalid_request", f"{name}: given twice; give it once.")
            seen.add(name)

    return check


# each checked after the token (a dependency taken after `who`): a caller without one
# learns nothing of what a call takes
Searched = Annotated[
    None, Depends(known_parameters("number", "status", "siret", "since", "limit", "offset"))
]
NoParameters = Annotated[None, Depends(known_parameters())]


@router.get("/v1/invoices")
def listed(
    request: Request,
    who: Authenticated,
    _known: Searched,
    number: Annotated[str | None, Query(description="Invoice number, exactly.")] = None,
    status: Annotated[
        str | None, Query(description=f"Current status, one of {', '.join(STATUSES)}.")
    ] = None,
    siret: Annotated[str | None, Query(description="Recipient SIRET, exactly.")] = None,
    since: Annotated[
        str | None,
        Query(description="YYYY-MM-DD: current status set that day or later (hub's time)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = invoices.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Your invoices (deposited by you, or addressed to a structure you serve) matching
    every filter given, oldest first, a page at a time: `next_offset` is the next page's
    `offset`, null on the last."""
    for name, value in (("number", number), ("siret", siret)):
        if value is not None and not value.strip():
            raise ApiError(422, "invalid_request", f"{name}: empty; give a value or leave it out.")
    context = context_of(request)
    start = _day(since, context.settings.zone) if since is not None else None
    with context.ledger() as session:
        rows = invoices.search(
            session,
            sirets=[siret] if siret else (),
            number=number,
            status=_status(status) if status is not None else None,
            limit=limit + 1,  # one more: whether a next page exists
            offset=offset,
            since=start,
            visible_to=who.partner,
        )
    more = len(rows) > limit
    return {
        "invoices": rows[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


@router.get("/v1/invoices/{invoice_id}")
def invoice(
    request: Request, invoice_id: str, who: Authenticated, _known: NoParameters
) -> dict[str, Any]:
    """One of your invoices with the keys of `invoices show --json`: its current status and
    its date, its findings, and its history (every status it had). `pivot_file` is given to
    the partner it was delivered to only."""
    if not ID.fullmatch(invoice_id):
        raise _not_found()
    with context_of(request).ledger() as session:
        try:
            detail = invoices.show(session, int(invoice_id), visible_to=who.partner)
        except invoices.InvoiceNotFound:
            raise _not_found() from None
    if detail["recipient_partner"] != who.partner:
        detail["pivot_file"] = None
    return detail


@router.get(
    "/v1/invoices/{invoice_id}/pivot",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
)
def pivot(request: Request, invoice_id: str, who: Authenticated, _known: NoParameters) -> Response:
    """The invoice's pivot (CPPFacturePivot XML), byte for byte as the engine wrote it into
    your outbox: for the partner it was delivered to only."""
    context = context_of(request)
    with context.ledger() as session:
        row = _visible(session, invoice_id, who)
        if row.recipient_partner != who.partner:
            raise ApiError(
                404,
                NOT_FOUND,
                "The invoice's pivot is its recipient's: it was not delivered to you.",
            )
        found = None
        if row.pivot_file is not None:
            found = session.execute(
                select(Output.staged, Output.size, Output.sha256).where(
                    Output.partner_code == who.partner,
                    Output.file_name == row.pivot_file,
                    Output.kind == PIVOT,
                )
            ).first()
    if row.pivot_file is None or (found is not None and found.staged is not None):
        raise ApiError(404, "pivot_not_ready", "The invoice's pivot is not published yet.")
    gone = ApiError(410, "pivot_gone", "The invoice's pivot is no longer kept in your outbox.")
    if found is None or "/" in row.pivot_file:
        raise gone
    content = outbox.recorded(
        context.settings.outbox / who.partner / row.pivot_file, found.size, found.sha256
    )
    if content is None:
        raise gone  # taken, or something else left under its name: never served as the pivot
    return Response(
        content,
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{row.pivot_file}"'},
    )


def _visible(session: Session, invoice_id: str, who: Caller) -> Any:
    """The invoice's id, recipient partner and pivot file if the caller may know of it;
    not found otherwise, whatever the reason."""
    if not ID.fullmatch(invoice_id):
        raise _not_found()
    row = session.execute(
        select(InvoiceRow.id, InvoiceRow.recipient_partner, InvoiceRow.pivot_file).where(
            InvoiceRow.id == int(invoice_id), visible(who.partner)
        )
    ).first()
    if row is None:
        raise _not_found()
    return row


def _not_found() -> ApiError:
    return ApiError(404, NOT_FOUND, "No invoice of yours has this id.")


def _day(text: str, zone: Any) -> datetime:
    """The start of a day at the hub, from YYYY-MM-DD only."""
    try:
        if not DAY.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise ApiError(
            422, "invalid_request", f"since: {text[:40]!r} is not a date as YYYY-MM-DD."
        ) from None
    return datetime.combine(day, time.min, tzinfo=zone)


def _status(text: str) -> str:
    if text not in STATUSES:
        raise ApiError(
            422,
            "invalid_request",
            f"status: {text[:40]!r} is not an invoice status; one of {', '.join(STATUSES)}.",
        )
    return text
