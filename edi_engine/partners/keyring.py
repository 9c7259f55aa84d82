"""Partners' certificates in the ledger: registered once per fingerprint, checked,
and turned into authorized_keys lines (docs/architecture.md#business-controls "Connections")."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..errors import UsageError
from ..ledger import fields
from ..ledger.models import Certificate as CertificateRow
from ..problems import shown
from . import certificates
from . import registry as partners
from .certificates import Certificate


class DuplicateCertificate(certificates.CertificateRefused):
    """This certificate already belongs to another partner."""


def _certificate(row: CertificateRow) -> Certificate:
    """The parsed form of a stored certificate (its public text is the source of truth)."""
    (parsed,) = certificates.parse(row.public_text.encode(), f"certificate {row.id}")
    return parsed


def held(session: Session) -> list[tuple[str, Certificate]]:
    rows = session.scalars(select(CertificateRow).order_by(CertificateRow.id))
    return [(row.partner_code, _certificate(row)) for row in rows]


def add(session: Session, code: str, path: Path) -> list[dict[str, Any]]:
    """Register the certificates of a file for a partner; the caller commits.

    Refused (nothing registered) when one of them is held by another partner."""
    partners.get(session, code)
    if not path.is_file():
        raise UsageError(f"{path}: no such file.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise certificates.CertificateRefused(
            f"Cannot read {path}: {exc.strerror or exc}."
        ) from exc
    found = certificates.parse(data, str(path))
    now = clock.now()
    for certificate in found:
        if certificate.not_after is not None and certificate.not_after <= now:
            raise certificates.CertificateRefused(
                f"The certificate {certificate.fingerprint} ({shown(certificate.label)}) of {path} "
                f"expired on {certificate.not_after:%Y-%m-%d}; ask the partner for a valid one."
            )
    existing = held(session)
    added = []
    for certificate in found:
        owners = {
            owner
            for owner, other in existing
            if owner != code and other.identities & certificate.identities
        }
        if owners:
            raise DuplicateCertificate(
                f"The certificate {certificate.fingerprint} of {path} already belongs to partner "
                f"{', '.join(sorted(owners))}: one fingerprint may belong to one partner only."
            )
        if any(
            owner == code and other.fingerprint == certificate.fingerprint
            for owner, other in existing
        ):
            continue  # registered already for this partner: adding it again changes nothing
        session.add(_row(code, certificate))
        existing.append((code, certificate))
        added.append(describe(code, certificate))
    return added


def _row(code: str, certificate: Certificate) -> CertificateRow:
    return CertificateRow(
        partner_code=code,
        kind=certificate.kind,
        algorithm=fields.fit(CertificateRow.algorithm, certificate.algorithm),
        fingerprint=certificate.fingerprint,
        ssh_fingerprint=certificate.ssh_fingerprint,
        # a subject or a comment is the partner's, kept to be shown: cut to fit
        label=fields.fit(CertificateRow.label, certificate.label),
        not_before=certificate.not_before,
        not_after=certificate.not_after,
        public_text=certificate.public_text,
        added_at=clock.now(),
    )


def describe(code: str, certificate: Certificate) -> dict[str, Any]:
    return {
        "partner": code,
        "kind": certificate.kind,
        "algorithm": certificate.algorithm,
        "fingerprint": certificate.fingerprint,
        "ssh_fingerprint": certificate.ssh_fingerprint,
        "label": certificate.label,
        "not_after": certificate.not_after.isoformat() if certificate.not_after else None,
    }


def list_certificates(session: Session, code: str | None = None) -> list[dict[str, Any]]:
    if code is not None:
        partners.get(session, code)
    return [describe(owner, c) for owner, c in held(session) if code in (None, owner)]


def check(session: Session, now: datetime | None = None, within_days: int = 30) -> dict[str, Any]:
    """Fingerprints held by several partners, and certificates expired or expiring soon."""
    pairs = held(session)
    now = now or clock.now()
    owners = {id(c): owner for owner, c in pairs}
    soon = certificates.expiring([c for _, c in pairs], now, within_days)
    return {
        "duplicates": [
            {"fingerprint": fingerprint, "partners": codes}
            for fingerprint, codes in sorted(certificates.duplicates(pairs).items())
        ],
        "expiring": [describe(owners[id(c)], c) for c in soon],
    }


def authorized_keys(session: Session, code: str | None = None, root: str = "/") -> str:
    """One block per partner: each goes in that partner's own account's keys file."""
    if code is not None:
        partners.get(session, code)
    blocks: dict[str, list[str]] = {}
    for owner, certificate in held(session):
        expired = certificate.not_after is not None and certificate.not_after <= clock.now()
        if code in (None, owner) and certificate.ssh_key is not None and not expired:
            line = certificates.authorized_keys_line(certificate, owner, root)
            blocks.setdefault(owner, []).append(line)
    return "".join(
        f"# partner {owner}: the authorized_keys file of its own SFTP account\n"
        + "\n".join(lines)
        + "\n"
        for owner, lines in sorted(blocks.items())
    )
