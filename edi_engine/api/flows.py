"""Flows over the API: a deposit (the multipart field `file`, read as it arrives, then
recorded as an inbox file is: reception's intake.deposit), one of the caller's flows with
the keys of `flows show --json`, and its CR. Another partner's flow is not found."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import FlowNotFound, UsageError
from ..ledger.models import Output
from ..operations import flows
from ..settings import Settings
from . import bodies, outbox
from .access import NOT_FOUND, ApiError, Authenticated, Caller, context_of

UPLOADS = "api-uploads"  # in run/: each deposit's file, in a folder of its own, until recorded
STALE_UPLOAD_SECONDS = 3600.0
CR = "CR"
router = APIRouter(tags=["flows"])


def uploads_dir(settings: Settings) -> Path:
    return settings.run / UPLOADS


def sweep_uploads(settings: Settings, older_than: float = STALE_UPLOAD_SECONDS) -> None:
    """Remove what a stopped server left of deposits it was receiving: only folders
    untouched for an hour, since another worker's deposit may be arriving in its own."""
    folder = uploads_dir(settings)
    limit = time.time() - older_than
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            touched = [entry.stat().st_mtime, *(f.stat().st_mtime for f in entry.iterdir())]
            if max(touched) < limit:
                shutil.rmtree(entry, ignore_errors=True)


@router.post("/v1/flows", status_code=202)
async def deposit(request: Request, who: Authenticated) -> dict[str, str]:
    """Deposit a flow: the multipart field `file`, its name kept. Archived and recorded
    as a file in the partner's inbox; the engine's next run processes it."""
    settings = context_of(request).settings
    limit = settings.limits.max_file_bytes
    too_large = ApiError(
        413, "file_too_large", f"A flow may hold {limit} bytes at most (limits.max_file_bytes)."
    )
    if bodies.announced_too_large(request.headers.get("content-length"), limit):
        raise too_large
    try:
        boundary = bodies.boundary_of(request.headers.get("content-type", ""))
    except bodies.BodyRefused as exc:
        raise ApiError(422, "invalid_request", f"{exc.field}: {exc.message}") from None
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    own = Path(tempfile.mkdtemp(dir=folder))
    try:
        try:
            path = await bodies.receive_file(request.stream(), boundary, own, limit)
        except bodies.BodyRefused as exc:
            raise ApiError(422, "invalid_request", f"{exc.field}: {exc.message}") from None
        except bodies.BodyTooLarge:
            raise too_large from None
        deposited = await asyncio.wrap_future(request.app.state.depositor.submit(who.partner, path))
    finally:
        shutil.rmtree(own, ignore_errors=True)
    return {"number": deposited.number, "status": "IN_RECU"}


@router.get("/v1/flows/{number}")
def flow(request: Request, number: str, who: Authenticated) -> dict[str, Any]:
    """One of your flows, with the keys of `flows show --json`: its outputs are yours
    only (the CR), and no pivot file name (the recipient's) is given."""
    with context_of(request).ledger() as session:
        detail = _flow_of(session, number, who)
    detail["outputs"] = [o for o in detail["outputs"] if o["partner"] == who.partner]
    for invoice in detail["invoice_list"]:
        invoice["pivot_file"] = None
    return detail


@router.get("/v1/flows/{number}/report", response_class=Response)
def report(request: Request, number: str, who: Authenticated) -> Response:
    """The flow's integration report (CR), as the partner's outbox has it (XML)."""
    context = context_of(request)
    with context.ledger() as session:
        detail = _flow_of(session, number, who)
        found = session.scalar(
            select(Output)
            .where(Output.partner_code == who.partner, Output.kind == CR)
            .where(Output.file_name == _cr_name(detail, who.partner))
        )
    if found is None or found.staged is not None:
        raise ApiError(404, "report_not_ready", "The flow's CR is not written yet.")
    path = context.settings.outbox / who.partner / found.file_name
    content = outbox.recorded(path, found.size, found.sha256)
    if content is None:  # taken, or something else left under its name: never served
        raise ApiError(410, "report_gone", "The flow's CR is no longer kept in your outbox.")
    return Response(content, media_type="application/xml")


def _flow_of(session: Session, number: str, who: Caller) -> dict[str, Any]:
    """The flow if it is the caller's; not found otherwise, whatever the reason."""
    gone = ApiError(404, NOT_FOUND, "No flow of yours has this number.")
    try:
        detail = flows.show_flow(session, flows.parse_number(number[:40]))
    except (FlowNotFound, UsageError):
        raise gone from None
    if detail["partner"] != who.partner:
        raise gone
    return detail


def _cr_name(detail: dict[str, Any], partner: str) -> str:
    attempts = detail.get("attempts") or []
    last = attempts[-1]["cr"] if attempts else None
    return last or f"{CR}_{partner}_{detail['number']}.xml"
