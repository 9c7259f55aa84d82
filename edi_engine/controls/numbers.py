"""The duplicate key of an invoice number (issue 13, item 5): `DUP-1`, `DUP-1` with a
zero-width space, `DUP‑1` with a non-breaking hyphen and the full-width `ＤＵＰ-1` look
the same to whoever pays them, so they are one number.

The key is the number's Unicode NFKC form (full-width, ligatures and compatibility forms
folded, case kept as NFKC keeps it), invisible and control characters removed, every dash
folded to `-` and every space to ` `, runs of spaces made one and the ends stripped. The
ledger keeps the number as the supplier wrote it, for display, beside its key
(`invoices.number_key`), which the duplicate control and the statuses compare.

A number carrying an invisible or control character is refused with its own code: the
supplier sees why, and no such number is ever delivered.
"""

from __future__ import annotations

import unicodedata

from pivot_format.model import Invoice

from ..problems import Problem
from .catalogue import CATALOGUE

KEY_LENGTH = 100  # invoices.number_key; NFKC may lengthen a number (a ligature, ㍱ → hPa)
INVISIBLE_CODE = "INVOICE_NUMBER_INVISIBLE_CHARACTERS"

# control (Cc), format (Cf: U+200B-U+200F, U+2060, U+FEFF, the soft hyphen, bidi marks…),
# line and paragraph separators
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# the other default-ignorable code points (Unicode's DerivedCoreProperties): combining
# grapheme joiner, Hangul fillers, Khmer inherent vowels, variation selectors, tags
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),
)
# dashes beside the dash punctuation category (Pd): minus signs and the hyphen bullet
_MINUS = frozenset("\u02d7\u2043\u2212\u2796")


def invisible(char: str) -> bool:
    """A character no reader of the number sees: control, format, separator, ignorable."""
    if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
        return True
    point = ord(char)
    return any(low <= point <= high for low, high in _IGNORABLE_RANGES)


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


def shown(number: str) -> str:
    """The number with each invisible character written as its code point (`DUP<U+200B>-1`):
    what a message quotes, so that the reader sees where it is."""
    return "".join(f"<U+{ord(char):04X}>" if invisible(char) else char for char in number)


def check(invoice: Invoice) -> list[Problem]:
    """INVOICE_NUMBER_INVISIBLE_CHARACTERS when the number carries any such character."""
    found = list(dict.fromkeys(char for char in invoice.number if invisible(char)))
    if not found:
        return []
    chars = ", ".join(f"U+{ord(char):04X} {_name(char)}" for char in found[:5])
    return [CATALOGUE[INVISIBLE_CODE].fails(shown(invoice.number), chars=chars)]


def _name(char: str) -> str:
    return unicodedata.name(char, "control character").lower()
