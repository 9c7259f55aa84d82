"""The duplicate key of an invoice number: what two numbers must differ in to be two
invoices. Shared by the duplicate control, the statuses that name an invoice, recording,
and the migration that gave existing rows their key (0015): one function, so that a row
keyed then and a number keyed now compare alike.
"""

from __future__ import annotations

import unicodedata

from .display import invisible

KEY_LENGTH = 100  # invoices.number_key; NFKC may lengthen a number (a ligature, ㍱ → hPa)

# dashes beside the dash punctuation category (Pd): minus signs and the hyphen bullet
_MINUS = frozenset("\u02d7\u2043\u2212\u2796")


def _folded(char: str) -> str:
    if char in _MINUS or unicodedata.category(char) == "Pd":
        return "-"
    if char.isspace() or unicodedata.category(char) == "Zs":
        return " "
    return char


def key(number: str) -> str:
    """What two invoice numbers must differ in to be two invoices (bounded to the column)."""
    visible = "".join(char for char in number if not invisible(char))
    # after the removal, so that a base letter and its combining accent compose again
    normal = unicodedata.normalize("NFKC", visible)
    folded = "".join(_folded(char) for char in normal if not invisible(char))
    return " ".join(part for part in folded.split(" ") if part)[:KEY_LENGTH]
