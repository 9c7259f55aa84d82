"""The API channel: partners' software deposits flows and follows them over HTTPS, with an
OAuth2 bearer token, on the road files take (docs/api.md). A deposit is archived and
recorded as an inbox file is, then the engine's runs take it; nothing after intake is
done here. Every object belongs to a partner: another's is not found (404), never
forbidden, so that nothing is learnt by probing. Every call is logged with its client,
route, status and duration; never a secret nor a token."""

from __future__ import annotations

import base64
import binascii
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import EngineError, FlowNotFound, UsageError
from ..ledger import db
from ..ledger.models import Output, Partner
from ..operations import flows
from ..partners import api_clients
from ..reception import intake
from ..settings import Settings
from . import bodies, peers, tokens

log = logging.getLogger(__name__)
UPLOADS = "api-uploads"  # in run/: each deposit's file, in a folder of its own, until recorded
CR = "CR"
STALE_UPLOAD_SECONDS = 3600.0
NOT_FOUND = "not_found"


class ApiError(Exception):
    """An answer other than success: its status, code and sentence (`{"error", "message"}`)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


@dataclass(frozen=True)
class Caller:
    client_id: str
    partner: str


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


@dataclass
class Context:
    """What every call of one application shares: the home's settings and the ledger's
    signing key, read once per process."""

    settings: Settings
    signing: bytes | None = None

    @contextmanager
    def ledger(self, write: bool = False) -> Iterator[Session]:
        with db.session_scope(self.settings.database_url, write=write) as session:
            yield session

    def key(self) -> bytes:
        if self.signing is None:
            with self.ledger(write=True) as session:
                self.signing = tokens.signing_key(session)
        return self.signing


def caller(request: Request) -> Caller:
    """The client a call's bearer token names, still allowed: a token expired, forged, or
    of a client revoked or rotated since is refused alike."""
    context: Context = request.app.state.context
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "invalid_token",
            "A bearer token is required: POST /oauth/token gives one.",
            {"WWW-Authenticate": "Bearer"},
        )
    claims = tokens.read(context.key(), token.strip(), time.time())
    client = None
    if claims is not None:
        with context.ledger() as session:
            client = api_clients.current(session, claims.client_id)
    if client is None or claims is None or client.generation != claims.generation:
        raise ApiError(
            401,
            "invalid_token",
            "The token is invalid, expired or revoked: ask for another.",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.state.client_id = client.client_id
    return Caller(client.client_id, client.partner_code)


Authenticated = Annotated[Caller, Depends(caller)]


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="edi-engine API",
        version=__version__,
        description="Deposit flows and follow them, as a partner of the hub.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    context = Context(settings)
    app.state.context = context
    sweep_uploads(settings)
    ledger, key = context.ledger, context.key

    @app.middleware("http")
    async def logged(request: Request, call_next: Any) -> Response:
        start, status = time.perf_counter(), 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            log.info(
                "api client=%s %s %s %d %.1f ms",
                getattr(request.state, "client_id", "-"),
                request.method,
                getattr(route, "path", "(no route)"),  # the route's pattern, never the raw path
                status,
                (time.perf_counter() - start) * 1000,
            )

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> JSONResponse:
        return _answer(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(
            str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")
        )
        return _answer(
            422, "invalid_request", f"{field or 'request'}: {first.get('msg', 'invalid')}"
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = NOT_FOUND if exc.status_code == 404 else "http_error"
        if exc.status_code == 405:
            code = "method_not_allowed"
        return _answer(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(EngineError)
    async def engine_failed(request: Request, exc: EngineError) -> JSONResponse:
        log.error("api: %s", exc.headline)
        return _answer(503, "engine_unavailable", "The engine could not answer; try again later.")

    @app.get("/v1/health", tags=["service"])
    def health() -> dict[str, str]:
        """The process is up (no authentication)."""
        return {"status": "ok"}

    @app.get("/v1/ready", tags=["service"])
    def ready() -> dict[str, str]:
        """The ledger answers and the home is writable (no authentication)."""
        try:
            with ledger() as session:
                session.execute(select(1))
        except EngineError as exc:
            raise ApiError(503, "not_ready", "The ledger does not answer.") from exc
        try:
            folder = uploads_dir(settings)
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".ready-"):
                pass
        except OSError as exc:
            raise ApiError(503, "not_ready", "The home is not writable.") from exc
        return {"status": "ready"}

    @app.post("/oauth/token", tags=["authentication"])
    async def token(request: Request) -> JSONResponse:
        """Client credentials (RFC 6749, 4.4): the client authenticated by HTTP Basic or by
        the form fields client_id and client_secret; a bearer token in return."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise ApiError(
                422,
                "invalid_request",
                "content-type: the token request is application/x-www-form-urlencoded",
            )
        form = await request.form(max_files=0, max_fields=8)
        grant = form.get("grant_type")
        if grant != "client_credentials":
            raise ApiError(
                400, "unsupported_grant_type", "grant_type: only client_credentials is granted"
            )
        client_id, secret = _credentials(request, form)
        presented = peers.fingerprint(request.scope)
        client = await run_in_threadpool(_authenticated, client_id, secret, presented)
        seconds = settings.api.token_seconds
        issued = tokens.issue(key(), client.client_id, client.generation, seconds, time.time())
        request.state.client_id = client.client_id
        return JSONResponse(
            {"access_token": issued, "token_type": tokens.TYPE, "expires_in": seconds},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _authenticated(client_id: str, secret: str, presented: str | None) -> api_clients.ApiClient:
        with ledger() as session:
            client = api_clients.authenticate(session, client_id, secret)
        if client is None:
            raise ApiError(
                401,
                "invalid_client",
                "The client is unknown, revoked, or its secret is wrong.",
                {"WWW-Authenticate": 'Basic realm="edi-engine"'},
            )
        if client.certificate_fingerprint and presented != client.certificate_fingerprint:
            raise ApiError(
                401,
                "invalid_client",
                "This client must present its partner's registered certificate over TLS.",
            )
        return client

    @app.post("/v1/flows", status_code=202, tags=["flows"])
    async def deposit(request: Request, who: Authenticated) -> dict[str, str]:
        """Deposit a flow: the multipart field `file`, its name kept. Archived and recorded
        as a file in the partner's inbox; the engine's next run processes it."""
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
            deposited = await run_in_threadpool(_record, who.partner, path)
        finally:
            shutil.rmtree(own, ignore_errors=True)
        return {"number": deposited.number, "status": "IN_RECU"}

    def _record(partner: str, path: Path) -> intake.Deposited:
        with ledger(write=True) as session:
            active = session.scalar(select(Partner.active).where(Partner.code == partner))
            if not active:
                session.rollback()
                raise ApiError(
                    409,
                    "partner_inactive",
                    "Your partner account is inactive: the hub takes no flow from it.",
                )
            return intake.deposit(settings, session, partner, path)

    @app.get("/v1/flows/{number}", tags=["flows"])
    def flow(number: str, who: Authenticated) -> dict[str, Any]:
        """One of your flows, with the keys of `flows show --json`: its outputs are yours
        only (the CR), and no pivot file name (the recipient's) is given."""
        with ledger() as session:
            detail = _flow_of(session, number, who)
        detail["outputs"] = [o for o in detail["outputs"] if o["partner"] == who.partner]
        for invoice in detail["invoice_list"]:
            invoice["pivot_file"] = None
        return detail

    @app.get("/v1/flows/{number}/report", tags=["flows"], response_class=Response)
    def report(number: str, who: Authenticated) -> Response:
        """The flow's integration report (CR), as the partner's outbox has it (XML)."""
        with ledger() as session:
            detail = _flow_of(session, number, who)
            found = session.scalar(
                select(Output)
                .where(Output.partner_code == who.partner, Output.kind == CR)
                .where(Output.file_name == _cr_name(detail, who.partner))
            )
        if found is None or found.staged is not None:
            raise ApiError(404, "report_not_ready", "The flow's CR is not written yet.")
        path = settings.outbox / who.partner / found.file_name
        try:
            content = path.read_bytes()
        except OSError:
            raise ApiError(410, "report_gone", "The flow's CR is no longer kept.") from None
        return Response(content, media_type="application/xml")

    return app


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


def _credentials(request: Request, form: Any) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id, secret = "", ""
    else:
        client_id, secret = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
    if not client_id or not secret:
        raise ApiError(
            401,
            "invalid_client",
            "The client authenticates by HTTP Basic or client_id and client_secret.",
            {"WWW-Authenticate": 'Basic realm="edi-engine"'},
        )
    return client_id[:100], secret[:200]


def _answer(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)
