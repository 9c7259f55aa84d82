"""Structures: the public entities that receive invoices, their services and published
commitments, loaded from CSV files (all or nothing, every bad line named)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import clock, csvfile, siret
from ..errors import RefusedError
from ..ledger.models import Engagement, Partner, Service, Structure

REQUIRED = ("siret", "designation", "active", "partner")
FLAGS = ("engagement_required", "service_code_required", "engagement_or_service_code")
ACCOUNTANT = "accountant"  # optional column: the partner of the structure's public accountant
SERVICE_COLUMNS = ("siret", "code", "name", "active")
ENGAGEMENT_COLUMNS = ("siret", "engagement", "supplier", "service_code")


class UnknownStructure(RefusedError):
    """No structure has this SIRET."""


@dataclass(frozen=True)
class Row:
    line: int
    siret: str
    designation: str
    active: bool
    partner: str
    flags: dict[str, bool | str | None]  # only the optional columns the file has


def _bool(value: str, column: str) -> tuple[bool | None, str | None]:
    parsed = csvfile.parse_bool(value)
    if parsed is None:
        return None, f"{column} must be true/false, 1/0 or oui/non; found {value!r}"
    return parsed, None


def read_csv(path: Path, partners: set[str]) -> list[Row]:
    seen: dict[str, int] = {}

    def row(line: int, value: dict[str, str], header: set[str]) -> tuple[Row | None, str | None]:
        if not siret.is_valid(value["siret"]):
            return None, f"SIRET {value['siret']!r} is not 14 digits with a valid check key"
        if value["siret"] in seen:
            return None, f"SIRET {value['siret']} already appears on line {seen[value['siret']]}"
        if not value["designation"]:
            return None, "the designation is empty"
        if value["partner"] not in partners:
            return (
                None,
                f"partner {value['partner']!r} is not registered (`edi-engine partners add`)",
            )
        flags = {}
        for column in ("active", *(f for f in FLAGS if f in header)):
            flags[column], reason = _bool(value[column], column)
            if reason:
                return None, reason
        if ACCOUNTANT in header:
            accountant = value[ACCOUNTANT] or None
            if accountant is not None and accountant not in partners:
                return None, f"accountant {accountant!r} is not a registered partner"
            flags["accountant_partner"] = accountant
        seen[value["siret"]] = line
        active = flags.pop("active")
        return Row(
            line, value["siret"], value["designation"], active, value["partner"], flags
        ), None

    return csvfile.read(path, REQUIRED, row)


def import_csv(session: Session, path: Path) -> dict[str, int]:
    """Load or update structures; a requirement column absent from the file keeps its value."""
    partners = set(session.scalars(select(Partner.code)))
    rows = read_csv(path, partners)
    existing = {(s.siret,): s for s in session.scalars(select(Structure))}
    rows_values = [
        {
            "siret": row.siret,
            "designation": row.designation,
            "active": row.active,
            "partner_code": row.partner,
            **row.flags,
        }
        for row in rows
    ]
    stamp = {"updated_at": clock.now()}
    return _upsert(
        session, Structure, existing, rows_values, ("siret",), dict.fromkeys(FLAGS, False), stamp
    )


def _known_siret(sirets: set[str], value: str) -> str | None:
    if value not in sirets:
        return f"no structure has the SIRET {value!r} (`edi-engine structures import` first)"
    return None


def import_services(session: Session, path: Path) -> dict[str, int]:
    """Load or update services (siret,code,name,active) of known structures."""
    sirets = set(session.scalars(select(Structure.siret)))
    seen: dict[tuple[str, str], int] = {}

    def row(line: int, value: dict[str, str], _header: set[str]) -> tuple[dict | None, str | None]:
        reason = _known_siret(sirets, value["siret"])
        if reason:
            return None, reason
        if not value["code"] or len(value["code"]) > 100:
            return None, f"the service code must have 1 to 100 characters; found {value['code']!r}"
        key = (value["siret"], value["code"])
        if key in seen:
            return (
                None,
                f"service {value['code']} of {value['siret']} already appears on line {seen[key]}",
            )
        active, reason = _bool(value["active"], "active")
        if reason:
            return None, reason
        seen[key] = line
        return {
            "siret": key[0],
            "code": key[1],
            "name": value["name"] or key[1],
            "active": active,
        }, None

    rows = csvfile.read(path, SERVICE_COLUMNS, row)
    existing = {(s.siret, s.code): s for s in session.scalars(select(Service))}
    return _upsert(session, Service, existing, rows, ("siret", "code"))


def import_engagements(session: Session, path: Path) -> dict[str, int]:
    """Load or update published commitments (siret,engagement,supplier,service_code, and
    an optional active column: a commitment withdrawn stays known, but an invoice citing
    it is refused). A service code must be one of the structure's services: an engagement
    cannot point at a service the invoices citing it could never be addressed to."""
    sirets = set(session.scalars(select(Structure.siret)))
    services: dict[str, set[str]] = {}
    for siret_of, code in session.execute(select(Service.siret, Service.code)):
        services.setdefault(siret_of, set()).add(code)
    seen: dict[tuple[str, str, str | None], int] = {}

    def row(line: int, value: dict[str, str], header: set[str]) -> tuple[dict | None, str | None]:
        reason = _known_siret(sirets, value["siret"])
        if reason:
            return None, reason
        code, known = value["service_code"], services.get(value["siret"], set())
        if code and code not in known:
            return None, (
                f"the service code {code!r} is not a service of the structure "
                f"{value['siret']} (`edi-engine structures import-services` first)"
            )
        active = None
        if "active" in header:
            active, reason = _bool(value["active"], "active")
            if reason:
                return None, reason
        if not value["engagement"] or len(value["engagement"]) > 50:
            return (
                None,
                f"the engagement must have 1 to 50 characters; found {value['engagement']!r}",
            )
        key = (value["siret"], value["engagement"], value["supplier"] or None)
        if key in seen:
            return None, f"engagement {value['engagement']} already appears on line {seen[key]}"
        seen[key] = line
        fields = dict(zip(("siret", "engagement", "supplier"), key, strict=True))
        fields["service_code"] = code or None
        return fields | ({} if active is None else {"active": active}), None

    rows = csvfile.read(path, ENGAGEMENT_COLUMNS, row)
    existing = {(e.siret, e.engagement, e.supplier): e for e in session.scalars(select(Engagement))}
    return _upsert(session, Engagement, existing, rows, ("siret", "engagement", "supplier"))


def _upsert(
    session: Session,
    model: type,
    existing: dict,
    rows: list[dict],
    key: tuple[str, ...],
    defaults: dict | None = None,
    stamp: dict | None = None,
) -> dict[str, int]:
    """Create or update rows by key; ``defaults`` fill new rows only, ``stamp`` marks changes.
    A column the file did not carry is absent from the values, so it keeps its value."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for values in rows:
        found = existing.get(tuple(values[k] for k in key))
        if found is None:
            session.add(model(**(defaults or {}) | values | (stamp or {})))
            counts["created"] += 1
        elif any(getattr(found, k) != v for k, v in values.items()):
            for name, value in (values | (stamp or {})).items():
                setattr(found, name, value)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return counts


def _summary(s: Structure) -> dict[str, Any]:
    return {
        "siret": s.siret,
        "designation": s.designation,
        "active": s.active,
        "partner": s.partner_code,
        "accountant": s.accountant_partner,
        **{flag: getattr(s, flag) for flag in FLAGS},
    }


def list_structures(
    session: Session, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    query = select(Structure).order_by(Structure.designation, Structure.siret)
    return [_summary(s) for s in session.scalars(query.limit(limit).offset(offset))]


def show(session: Session, number: str) -> dict[str, Any]:
    query = (
        select(Structure)
        .where(Structure.siret == number)
        .options(selectinload(Structure.services), selectinload(Structure.engagements))
    )
    found = session.scalars(query).first()
    if found is None:
        raise UnknownStructure(
            f"No structure has the SIRET {number!r}; `edi-engine structures list` shows them."
        )
    return _summary(found) | {
        "services": [{"code": s.code, "name": s.name, "active": s.active} for s in found.services],
        "engagements": [
            {
                "engagement": e.engagement,
                "supplier": e.supplier,
                "service_code": e.service_code,
                "active": e.active,
            }
            for e in found.engagements
        ],
    }
