"""Who calls the API and what every call shares: the bearer token checked (`caller`, the
dependency every partner's route takes as `Authenticated`), the home's settings and the
ledger (`Context`, one per application), and a refusal as the API answers it (`ApiError`,
`{"error", "message"}` with its status)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ..ledger import db
from ..partners import api_clients
from ..settings import Settings
from . import tokens

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


def context_of(request: Request) -> Context:
    return request.app.state.context


def caller(request: Request) -> Caller:
    """The client a call's bearer token names, still allowed: a token expired, forged, or
    of a client revoked or rotated since is refused alike."""
    context = context_of(request)
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
    request.app.state.quotas.take(client.client_id, client.partner_code)  # api/quotas.py
    return Caller(client.client_id, client.partner_code)


Authenticated = Annotated[Caller, Depends(caller)]


def answer(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)
