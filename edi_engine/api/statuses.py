"""Statuses over the API: a recipient or its accountant sets a status of an invoice (POST
/v1/invoices/{id}/statuses) under exactly the rules of a status flow's line (lifecycle's
statuses_in.set_status: the same refusals, the same history), and a supplier reads the
changes of the invoices it deposited that its status flows tell it (GET /v1/statuses),
in order, with a cursor that never skips nor repeats one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .. import clock
from ..delivery import outputs, statuses_out
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.models import InvoiceEvent, Partner
from ..lifecycle import statuses_in
from ..processing import redelivery
from .access import NOT_FOUND, ApiError, Authenticated, Context, context_of

BODY_BYTES = 64 * 1024  # a status and its reason; never read whole past this
LARGEST_ID = 2**31 - 1  # the ledger's ids are 32-bit integers
PAGE, LARGEST_PAGE = 100, 1000
SETTLE_SECONDS = 10  # PostgreSQL: how long a read waits for the writers it must see
UNKNOWN = "STATUS_INVOICE_UNKNOWN"
BAD_CODE = "STATUS_CODE_UNKNOWN"
router = APIRouter(tags=["statuses"])


class StatusAsked(BaseModel):
    """A status as a status flow gives it (CPPFactureStatutUnitaire)."""

    model_config = {"extra": "forbid"}

    status: str = Field(
        pattern=r"^[0-9]{2}$", description="IdStatut, two digits: 04 to 11 (12: the supplier's)"
    )
    comment: str | None = Field(
        None, description="Commentaire: the reason, required with 04, 05 and 06"
    )
    mandate: str | None = Field(None, description="IdMandatDP: the mandate number, with 08 or 09")


def _not_found() -> ApiError:
    return ApiError(404, NOT_FOUND, "No invoice of yours has this id.")


@router.post(
    "/v1/invoices/{invoice_id}/statuses",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": StatusAsked.model_json_schema()}},
        }
    },
)
async def set_status(request: Request, invoice_id: str, who: Authenticated) -> dict[str, Any]:
    """Set a status of an invoice you receive (or keep the accounts of): JSON `status`
    (04 to 11, as a status flow gives it), `comment` (the reason of 04, 05, 06) and
    `mandate` (08, 09). Applied, or refused (409) with the code a status flow's CR gives."""
    asked = _asked(await _body(request))
    number = int(invoice_id) if invoice_id.isdigit() and len(invoice_id) <= 10 else 0
    if not 1 <= number <= LARGEST_ID:
        raise _not_found()
    return await run_in_threadpool(_set, context_of(request), who.partner, number, asked)


async def _body(request: Request) -> bytes:
    """The JSON body, read as it arrives and refused past BODY_BYTES."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(422, "invalid_request", "content-type: a status is sent as application/json")
    too_large = ApiError(413, "body_too_large", f"A status's body is {BODY_BYTES} bytes at most.")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_BYTES:
            raise too_large
    return bytes(body)


def _asked(body: bytes) -> StatusAsked:
    try:
        return StatusAsked.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "body"
        message = first.get("msg", "invalid")
        if first.get("type") == "extra_forbidden":
            message = "unknown field: a status gives status, comment and mandate only"
        raise ApiError(422, "invalid_request", f"{field}: {message}") from None


def _set(context: Context, partner: str, invoice_id: int, asked: StatusAsked) -> dict[str, Any]:
    settings = context.settings
    with context.ledger(write=True) as session:
        if not session.scalar(select(Partner.active).where(Partner.code == partner)):
            session.rollback()
            raise ApiError(
                409,
                "partner_inactive",
                "Your partner account is inactive: the hub takes no status from it.",
            )

        def completed(invoice: InvoiceRow, actor: str) -> None:  # its recipient gets it again
            redelivery.complete(settings, session, invoice, actor)

        with outputs.committed(session):
            outcome = statuses_in.set_status(
                session,
                partner,
                invoice_id,
                asked.status,
                asked.comment,
                asked.mandate or None,
                completed,
            )
        refused = next((p for p in outcome.problems if p.rejects), None)
        if refused is not None:
            raise _refusal(refused.code, refused.message)
        at = session.scalar(
            select(InvoiceEvent.at)
            .where(InvoiceEvent.invoice_id == outcome.invoice_id)
            .where(InvoiceEvent.status == outcome.state)
            .order_by(InvoiceEvent.id.desc())
            .limit(1)
        )
    warnings = [
        {"code": p.code.lower(), "message": p.message}
        for p in outcome.problems
        if not p.rejects and p.code != statuses_in.APPLIED
    ]
    return {
        "outcome": "applied",
        "invoice": outcome.invoice_id,
        "status": outcome.state.value,
        "status_code": outcome.state.code,
        "at": _iso(at),
        "warnings": warnings,
    }


def _refusal(code: str, message: str) -> ApiError:
    """A status flow's refusal as the API answers it: an invoice the partner may not know
    of is not found, as one that does not exist; a code outside the lifecycle is a bad
    value; the lifecycle's refusals are conflicts, with the code a CR gives."""
    if code == UNKNOWN:
        return _not_found()
    if code == BAD_CODE:
        return ApiError(422, "invalid_request", f"status: {message}")
    return ApiError(409, code.lower(), message)


@router.get("/v1/statuses")
def changes(
    request: Request,
    who: Authenticated,
    since: str | None = Query(None, description="`next` of the previous page; none: the start"),
    limit: int = Query(PAGE, ge=1, le=LARGEST_PAGE),
) -> dict[str, Any]:
    """The status changes of the invoices you deposited, as your status flows tell them,
    oldest first, from `since` on. Call again with `since` = `next` to get what follows:
    no change is skipped nor given twice, even when changes are made between calls."""
    unknown = sorted(set(request.query_params) - {"since", "limit"})
    if unknown:
        raise ApiError(422, "invalid_request", f"{unknown[0]}: unknown parameter")
    for name in ("since", "limit"):
        if len(request.query_params.getlist(name)) > 1:
            raise ApiError(422, "invalid_request", f"{name}: given twice")
    after = _cursor(since)
    with context_of(request).ledger() as session:
        _settle(session)
        columns = (
            InvoiceEvent.id,
            InvoiceEvent.invoice_id,
            InvoiceRow.number,
            InvoiceRow.supplier_id,
            InvoiceEvent.status,
            InvoiceEvent.status_code,
            InvoiceEvent.at,
            InvoiceEvent.produced_at,
            InvoiceEvent.detail,
            InvoiceEvent.mandate,
            InvoiceEvent.recipient_siret,
            InvoiceEvent.service_code,
        )
        query = statuses_out.told(who.partner, *columns).where(InvoiceEvent.id > after)
        rows = session.execute(query.limit(limit + 1)).all()
    page = rows[:limit]
    return {
        "changes": [_change(row) for row in page],
        "next": str(page[-1].id if page else after),
        "more": len(rows) > limit,
    }


def _cursor(since: str | None) -> int:
    if since is None:
        return 0
    if not (since.isdigit() and len(since) <= 10 and int(since) <= LARGEST_ID):
        raise ApiError(
            422, "invalid_request", "since: give the `next` of a previous answer, or nothing"
        )
    return int(since)


def _settle(session: Session) -> None:
    """On PostgreSQL, ids are handed out at insert, not at commit: wait until every writer
    that holds one has committed (a SHARE lock on the changes, never on SQLite, where
    writers take turns), so that no change commits later under an id a page passed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = '{SETTLE_SECONDS}s'"))
        session.execute(text("LOCK TABLE invoice_events IN SHARE MODE"))


def _change(row: Any) -> dict[str, Any]:
    """One change as a status flow describes it; the hub's own steps (01 to 03) keep their
    detail for the operator, as in a status flow."""
    hub_step = row.status_code in statuses_out.HUB_STEPS
    return {
        "invoice": row.invoice_id,
        "number": row.number,
        "supplier": row.supplier_id,
        "status": row.status,
        "status_code": row.status_code,
        "at": _iso(row.at),
        "produced_at": _iso(row.produced_at),
        "comment": None if hub_step else row.detail,
        "mandate": row.mandate,
        "recipient": row.recipient_siret,
        "service_code": row.service_code,
    }


def _iso(moment: datetime | None) -> str | None:
    return clock.aware(moment).isoformat() if moment else None
