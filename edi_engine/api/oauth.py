"""`POST /oauth/token`: OAuth2 client credentials (RFC 6749, 4.4). A client proves its
secret (argon2-checked) and, when tied to its partner's certificate, presents it over TLS;
it gets a bearer token (edi_engine/api/tokens.py). Which check failed is not told."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ..partners import api_clients
from . import peers, tokens
from .access import ApiError, Context, context_of

router = APIRouter(tags=["authentication"])


@router.post("/oauth/token")
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
    context = context_of(request)
    client = await run_in_threadpool(_authenticated, context, client_id, secret, presented)
    seconds = context.settings.api.token_seconds
    issued = tokens.issue(context.key(), client.client_id, client.generation, seconds, time.time())
    request.state.client_id = client.client_id
    return JSONResponse(
        {"access_token": issued, "token_type": tokens.TYPE, "expires_in": seconds},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _authenticated(
    context: Context, client_id: str, secret: str, presented: str | None
) -> api_clients.ApiClient:
    with context.ledger() as session:
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
