"""The API channel: partners' software deposits flows and follows them over HTTPS, with an
OAuth2 bearer token, on the road files take (docs/api.md). A deposit is archived and
recorded as an inbox file is, then the engine's runs take it; nothing after intake is
done here. Every object belongs to a partner: another's is not found (404), never
forbidden, so that nothing is learnt by probing. Every call is logged with its client,
route, status and duration; never a secret nor a token."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import EngineError
from ..settings import Settings
from . import deposits, flows, invoices, oauth, quotas, statuses
from .access import NOT_FOUND, ApiError, Context, answer

log = logging.getLogger(__name__)
# Ledger work runs in threads, two a process: one call may wait for the ledger's write lock
# while another is answered. Each thread more costs more in handoffs of Python's lock than
# it gains (lookups a second, one worker: 681, 560 and 500 with 1, 2 and 4 threads); under
# the ledger's pool of 5 connections a process, past which each call would open and close
# a connection of its own.
LEDGER_THREADS = 2


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = LEDGER_THREADS
    yield
    # the calls counted and not yet written, written now: uvicorn ends a worker stopped by
    # SIGTERM with that signal again, so that what atexit would write is never written
    app.state.quotas.close()


class Logged:
    """Logs each call with its client, route pattern, status and duration: a plain ASGI
    middleware (Starlette's `BaseHTTPMiddleware` runs each call as a task of its own with
    streams between them, a sixth of a lookup's time)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            route = scope.get("route")
            log.info(
                "api client=%s %s %s %d %.1f ms",
                scope.get("state", {}).get("client_id", "-"),
                scope["method"],
                getattr(route, "path", "(no route)"),  # the route's pattern, never the raw path
                status,
                (time.perf_counter() - start) * 1000,
                extra={"pid": os.getpid()},  # which worker served it
            )


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="edi-engine API",
        version=__version__,
        description="Deposit flows and follow them, as a partner of the hub.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    context = Context(settings)
    app.state.context = context
    app.state.depositor = deposits.Depositor(context)  # deposits recorded in groups
    app.state.quotas = quotas.Quotas(context)  # every authenticated call counted
    flows.sweep_uploads(settings)
    app.include_router(oauth.router)
    app.include_router(flows.router)
    app.include_router(statuses.router)
    app.include_router(invoices.router)
    app.add_middleware(Logged)

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> JSONResponse:
        return answer(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(
            str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")
        )
        return answer(
            422, "invalid_request", f"{field or 'request'}: {first.get('msg', 'invalid')}"
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = NOT_FOUND if exc.status_code == 404 else "http_error"
        if exc.status_code == 405:
            code = "method_not_allowed"
        return answer(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(EngineError)
    async def engine_failed(request: Request, exc: EngineError) -> JSONResponse:
        log.error("api: %s", exc.headline)
        return answer(503, "engine_unavailable", "The engine could not answer; try again later.")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("api: a call failed unexpectedly", exc_info=exc)  # the traceback, in the log
        return answer(500, "internal_error", "The engine failed on this call; it is logged.")

    @app.get("/v1/health", tags=["service"])
    def health() -> dict[str, str]:
        """The process is up (no authentication)."""
        return {"status": "ok"}

    @app.get("/v1/ready", tags=["service"])
    def ready() -> dict[str, str]:
        """The ledger answers and the home is writable (no authentication)."""
        try:
            with context.ledger() as session:
                session.execute(select(1))
        except EngineError as exc:
            raise ApiError(503, "not_ready", "The ledger does not answer.") from exc
        try:
            folder = flows.uploads_dir(settings)
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".ready-"):
                pass
        except OSError as exc:
            raise ApiError(503, "not_ready", "The home is not writable.") from exc
        return {"status": "ready"}

    return app
