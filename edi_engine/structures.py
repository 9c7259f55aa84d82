"""Structures: the public entities that receive invoices, loaded from CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock, siret
from .errors import ImportRefused
from .models import Partner, Structure

REQUIRED = ("siret", "designation", "active", "partner")
TRUE = {"true", "1", "oui", "yes", "o", "y", "vrai"}
FALSE = {"false", "0", "non", "no", "n", "faux"}
MAX_REPORTED = 20


@dataclass(frozen=True)
class Row:
    line: int
    siret: str
    designation: str
    active: bool
    partner: str


def parse_bool(text: str) -> bool | None:
    value = text.strip().lower()
    return True if value in TRUE else False if value in FALSE else None


def read_csv(path: Path, partners: set[str]) -> list[Row]:
    """Every row, or ImportRefused listing each bad line with its reason."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"Cannot read {path}: {exc}. Nothing was imported.") from exc
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportRefused(
            f"{path}: the header must name the columns {', '.join(REQUIRED)}; "
            f"missing: {', '.join(missing)}. Nothing was imported."
        )
    reader.fieldnames = header
    rows, errors, seen = [], [], {}
    for record in reader:
        line = reader.line_num
        row, reason = _row(line, record, partners, seen)
        if reason:
            errors.append(f"line {line}: {reason}")
        else:
            rows.append(row)
            seen[row.siret] = line
    if errors:
        shown = "\n  ".join(errors[:MAX_REPORTED])
        more = f"\n  … and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
        raise ImportRefused(
            f"{path}: {len(errors)} bad row(s), nothing was imported:\n  {shown}{more}"
        )
    return rows


def _row(
    line: int, record: dict[str, Any], partners: set[str], seen: dict[str, int]
) -> tuple[Row | None, str | None]:
    if None in record:
        return None, "more fields than the header has columns"
    value = {k: (record.get(k) or "").strip() for k in REQUIRED}
    if not siret.is_valid(value["siret"]):
        return None, f"SIRET {value['siret']!r} is not 14 digits with a valid check key"
    if value["siret"] in seen:
        return None, f"SIRET {value['siret']} already appears on line {seen[value['siret']]}"
    if not value["designation"]:
        return None, "the designation is empty"
    active = parse_bool(value["active"])
    if active is None:
        return None, f"active must be true/false, 1/0 or oui/non; found {value['active']!r}"
    if value["partner"] not in partners:
        return None, f"partner {value['partner']!r} is not registered (`edi-engine partners add`)"
    return Row(line, value["siret"], value["designation"], active, value["partner"]), None


def import_csv(session: Session, path: Path) -> dict[str, int]:
    """Load or update structures, all or nothing; the caller commits."""
    partners = set(session.scalars(select(Partner.code)))
    rows = read_csv(path, partners)
    existing = {s.siret: s for s in session.scalars(select(Structure))}
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    now = clock.now()
    for row in rows:
        found = existing.get(row.siret)
        values = {"designation": row.designation, "active": row.active, "partner_code": row.partner}
        if found is None:
            session.add(Structure(siret=row.siret, updated_at=now, **values))
            counts["created"] += 1
        elif any(getattr(found, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(found, key, value)
            found.updated_at = now
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return counts


def list_structures(session: Session) -> list[dict[str, Any]]:
    query = select(Structure).order_by(Structure.designation, Structure.siret)
    return [
        {
            "siret": s.siret,
            "designation": s.designation,
            "active": s.active,
            "partner": s.partner_code,
        }
        for s in session.scalars(query)
    ]
