"""API clients: the OAuth2 client credentials a partner's software logs in to the API
channel with (`edi-engine partners api-client add CODE`, issue 18).

A secret is shown once, when it is made, and kept only as its argon2id hash: neither the
ledger nor a log ever holds it in clear. Rotating a client gives it a new secret and a new
generation (tokens issued for the earlier one are refused); revoking it stops its secret
and its tokens for good. A client may be tied to a registered certificate of its own
partner, which it must then present over TLS.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from .. import clock
from ..errors import RefusedError
from ..ledger.models import ApiClient as ClientRow
from ..ledger.models import Certificate as CertificateRow
from . import registry as partners
from .certificates import X509, CertificateRefused

PREFIX = "edi_"
HASHER = PasswordHasher()  # argon2id, RFC 9106's second recommended parameters


class UnknownApiClient(RefusedError):
    """No API client has this client_id."""


class ApiClientRevoked(RefusedError):
    """This API client is revoked: add a new one."""


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    partner_code: str
    generation: int
    certificate_fingerprint: str | None  # the tied certificate's fingerprint, if any
    revoked: bool


def _client(row: ClientRow) -> ApiClient:
    return ApiClient(
        client_id=row.client_id,
        partner_code=row.partner_code,
        generation=row.generation,
        certificate_fingerprint=row.certificate.fingerprint if row.certificate else None,
        revoked=row.revoked_at is not None,
    )


def _secret() -> tuple[str, str]:
    """A new secret and its hash: 32 random bytes, URL-safe."""
    secret = secrets.token_urlsafe(32)
    return secret, HASHER.hash(secret)


def add(session: Session, code: str, certificate: str | None = None) -> tuple[ApiClient, str]:
    """A new client of partner CODE and its secret, to be shown once; the caller commits.
    `certificate`: the fingerprint of one of the partner's registered certificates (as
    `partners cert list` shows it), which the client must then present."""
    partners.get(session, code)
    tied = _certificate(session, code, certificate.strip()) if certificate is not None else None
    secret, hashed = _secret()
    row = ClientRow(
        client_id=PREFIX + secrets.token_hex(12),
        partner_code=code,
        secret_hash=hashed,
        generation=1,
        certificate=tied,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return _client(row), secret


def _certificate(session: Session, code: str, fingerprint: str) -> CertificateRow:
    """The partner's registered certificate with this fingerprint; another partner's, an
    unknown one or an expired one is refused."""
    rows = session.scalars(
        select(CertificateRow)
        .where(CertificateRow.fingerprint == fingerprint)
        .order_by(CertificateRow.id)
    ).all()
    own = [row for row in rows if row.partner_code == code]
    if not own:
        others = sorted({row.partner_code for row in rows})
        if others:
            raise CertificateRefused(
                f"The certificate {fingerprint} belongs to partner {', '.join(others)}, not "
                f"{code}: an API client may be tied only to a certificate of its own partner."
            )
        raise CertificateRefused(
            f"No certificate {fingerprint} is registered for partner {code}: register it "
            f"first (`edi-engine partners cert add {code} FILE`; `partners cert list {code}` "
            "shows the fingerprints)."
        )
    row = own[0]
    if row.kind != X509:
        raise CertificateRefused(
            f"The credential {fingerprint} of partner {code} is an SSH key: an API client "
            "presents an X.509 certificate over TLS; tie it to one of those."
        )
    if row.not_after is not None and clock.aware(row.not_after) <= clock.now():
        raise CertificateRefused(
            f"The certificate {fingerprint} of partner {code} expired on "
            f"{clock.aware(row.not_after):%Y-%m-%d}: a client tied to it could never connect."
        )
    return row


def _row(session: Session, client_id: str) -> ClientRow | None:
    return session.scalars(select(ClientRow).where(ClientRow.client_id == client_id)).first()


def _known(session: Session, client_id: str) -> ClientRow:
    row = _row(session, client_id)
    if row is None:
        raise UnknownApiClient(
            f"No API client has the client_id {client_id!r} (`edi-engine partners api-client "
            "list`)."
        )
    return row


def rotate(session: Session, client_id: str) -> tuple[ApiClient, str]:
    """A new secret for the client, to be shown once; the old one and every token issued
    with it stop working. The caller commits."""
    row = _known(session, client_id)
    if row.revoked_at is not None:
        raise ApiClientRevoked(
            f"The API client {client_id} of partner {row.partner_code} is revoked: it cannot "
            f"be rotated; add a new one (`edi-engine partners api-client add {row.partner_code}`)."
        )
    secret, row.secret_hash = _secret()
    row.generation += 1
    row.rotated_at = clock.now()
    session.flush()
    return _client(row), secret


def revoke(session: Session, client_id: str) -> ApiClient:
    """Stop the client for good: its secret and its tokens no longer work (revoking it
    again changes nothing). The caller commits."""
    row = _known(session, client_id)
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()
    return _client(row)


def _when(value: Any) -> str | None:
    return clock.aware(value).isoformat() if value is not None else None


def listed(session: Session, code: str | None = None) -> list[dict[str, Any]]:
    """The clients of every partner, or of partner CODE, as JSON: never a secret or its hash."""
    query = select(ClientRow).order_by(ClientRow.partner_code, ClientRow.id)
    if code is not None:
        partners.get(session, code)
        query = query.where(ClientRow.partner_code == code)
    return [
        {
            "partner": row.partner_code,
            "client_id": row.client_id,
            "generation": row.generation,
            "certificate": row.certificate.fingerprint if row.certificate else None,
            "created_at": _when(row.created_at),
            "rotated_at": _when(row.rotated_at),
            "revoked_at": _when(row.revoked_at),
        }
        for row in session.scalars(query)
    ]


@cache
def _dummy_hash() -> str:
    """A hash no secret matches, verified for an unknown or revoked client so that the
    time taken does not tell whether the client exists."""
    return HASHER.hash(secrets.token_urlsafe(32))


def _verified(hashed: str, secret: str) -> bool:
    try:
        return HASHER.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, client_id: str, secret: str) -> ApiClient | None:
    """The client whose secret this is, None when it is not (unknown, revoked, or a wrong
    secret: the caller cannot tell which, nor by the time taken)."""
    row = _row(session, client_id) if isinstance(client_id, str) else None
    if not isinstance(secret, str):
        secret = ""
    if row is None or row.revoked_at is not None:
        _verified(_dummy_hash(), secret)
        return None
    return _client(row) if _verified(row.secret_hash, secret) else None


# built once, as the check of every API call: a statement used again is not keyed again
_CURRENT = (
    select(
        ClientRow.client_id,
        ClientRow.partner_code,
        ClientRow.generation,
        CertificateRow.fingerprint,
    )
    .outerjoin(CertificateRow, CertificateRow.id == ClientRow.certificate_id)
    .where(ClientRow.client_id == bindparam("client_id"), ClientRow.revoked_at.is_(None))
)


def current(session: Session, client_id: str) -> ApiClient | None:
    """The client as it stands now, for a token's check: None if unknown or revoked."""
    row = session.execute(_CURRENT, {"client_id": client_id}).first()
    if row is None:
        return None
    return ApiClient(row.client_id, row.partner_code, row.generation, row.fingerprint, False)
