"""CSV files: referentials read whole, every bad line named, nothing half-imported; and
every CSV the engine writes made safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from .errors import ImportRefused

MAX_REPORTED = 20
TRUE = {"true", "1", "oui", "yes", "o", "y", "vrai"}
FALSE = {"false", "0", "non", "no", "n", "faux"}
T = TypeVar("T")

# what makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): = + - @, a tab
# or a carriage return first; full-width = + - @ too, which some spreadsheets fold to them
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")  # an amount such as -12.50 stays one


def cell(value: object) -> object:
    """A value as a CSV cell no spreadsheet evaluates: a text that would start a formula is
    prefixed with a single quote (OWASP's rule), a plain signed number is left as it is."""
    formula = isinstance(value, str) and value.startswith(FORMULA_STARTS)
    return "'" + value if formula and not _PLAIN_NUMBER.fullmatch(value) else value


def write_rows(out: TextIO, rows: Iterable[Sequence[object]]) -> None:
    """Rows as the engine writes every CSV: `,`, `\\n` line ends, quotes only where a value
    needs them, each cell through `cell` (partners' values are hostile: issue 13)."""
    writer = csv.writer(out, delimiter=",", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows([cell(value) for value in row] for row in rows)


def text(rows: Iterable[Sequence[object]]) -> str:
    """`write_rows` into a string."""
    out = io.StringIO()
    write_rows(out, rows)
    return out.getvalue()


def parse_bool(text: str) -> bool | None:
    value = text.strip().lower()
    return True if value in TRUE else False if value in FALSE else None


def read(
    path: Path,
    required: Sequence[str],
    row: Callable[[int, dict[str, str], set[str]], tuple[T | None, str | None]],
) -> list[T]:
    """Each line through ``row`` (value or reason), or ImportRefused listing every bad line.

    ``row`` gets the line number, the stripped values by lower-case column name and the
    header's columns (so optional columns can be told from empty ones). ',' or ';'."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"Cannot read {path}: {exc}. Nothing was imported.") from exc
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportRefused(
            f"{path}: the header must name the columns {', '.join(required)}; "
            f"missing: {', '.join(missing)}. Nothing was imported."
        )
    reader.fieldnames = header
    values, errors = [], []
    for record in reader:
        line = reader.line_num
        if None in record:
            errors.append(f"line {line}: more fields than the header has columns")
            continue
        cleaned: dict[str, Any] = {k: (v or "").strip() for k, v in record.items()}
        value, reason = row(line, cleaned, set(header))
        if reason:
            errors.append(f"line {line}: {reason}")
        else:
            values.append(value)
    if errors:
        more = [f"… and {len(errors) - MAX_REPORTED} more"] if len(errors) > MAX_REPORTED else []
        raise ImportRefused(
            f"{path}: {len(errors)} bad row(s), nothing was imported:",
            [*errors[:MAX_REPORTED], *more],
        )
    return values
