"""Bearer tokens of the API: what `POST /oauth/token` hands a client, and every other call
checks. A token is the client's id, its secret's generation and an expiry, signed with
HMAC-SHA256 by a key the ledger keeps (every API worker and every host sharing the ledger
checks the same). Nothing of a token is stored: it is refused once expired, once its
client is revoked, or once the client's secret is rotated (a new generation)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..ledger.models import ApiSigningKey

TYPE = "Bearer"
MAX_LENGTH = 512  # a token is about 130 characters: anything longer is not one of ours


@dataclass(frozen=True)
class Claims:
    client_id: str
    generation: int
    expires: int  # seconds since the epoch


def signing_key(session: Session) -> bytes:
    """The ledger's signing key, made on first use. Two workers starting together may both
    make one: every worker signs and checks with the oldest, so they agree."""
    key = session.scalar(select(ApiSigningKey.secret).order_by(ApiSigningKey.id).limit(1))
    if key is None:
        session.add(ApiSigningKey(secret=secrets.token_hex(32), created_at=clock.now()))
        session.commit()
        key = session.scalar(select(ApiSigningKey.secret).order_by(ApiSigningKey.id).limit(1))
    return bytes.fromhex(key)


def issue(key: bytes, client_id: str, generation: int, seconds: int, now: float) -> str:
    claims = {"c": client_id, "g": generation, "e": int(now) + seconds}
    body = _encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_signature(key, body)}"


def read(key: bytes, token: str, now: float) -> Claims | None:
    """The token's claims if it is ours, whole and not expired; None otherwise (why is not
    told: a caller learns nothing by trying)."""
    if len(token) > MAX_LENGTH or token.count(".") != 1:
        return None
    body, signature = token.split(".")
    if not hmac.compare_digest(signature.encode(), _signature(key, body).encode()):
        return None
    try:
        claims = json.loads(_decode(body))
        found = Claims(str(claims["c"]), int(claims["g"]), int(claims["e"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return found if found.expires > now else None


def _signature(key: bytes, body: str) -> str:
    return _encode(hmac.new(key, body.encode(), hashlib.sha256).digest())


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
