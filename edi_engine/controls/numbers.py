"""The duplicate key of an invoice number (issue 13, item 5): `DUP-1`, `DUP-1` with a
zero-width space, `DUP‑1` with a non-breaking hyphen and the full-width `ＤＵＰ-1` look
the same to whoever pays them, so they are one number.

The key is the number's Unicode NFKC form (full-width, ligatures and compatibility forms
folded, case kept as NFKC keeps it), invisible and control characters removed (those
`display.invisible` names: control, format, separators, default-ignorables), every dash
folded to `-` and every space to ` `, runs of spaces made one and the ends stripped. The
ledger keeps the number as the supplier wrote it, for display, beside its key
(`invoices.number_key`), which the duplicate control and the statuses compare.

A number carrying an invisible or control character is refused with its own code: the
supplier sees why, and no such number is ever delivered.
"""

from __future__ import annotations

import unicodedata

from pivot_format.model import Invoice

from ..display import escaped, invisible
from ..problems import SHOWN, Problem
from .catalogue import CATALOGUE

INVISIBLE_CODE = "INVOICE_NUMBER_INVISIBLE_CHARACTERS"


def shown(number: str) -> str:
    """The number with each invisible character written as its code point (`DUP<U+200B>-1`),
    bounded: what a message quotes, so that the reader sees where it is."""
    return escaped(number, SHOWN)


def check(invoice: Invoice) -> list[Problem]:
    """INVOICE_NUMBER_INVISIBLE_CHARACTERS when the number carries any such character."""
    found = list(dict.fromkeys(char for char in invoice.number if invisible(char)))
    if not found:
        return []
    chars = ", ".join(f"U+{ord(char):04X} {_name(char)}" for char in found[:5])
    return [CATALOGUE[INVISIBLE_CODE].fails(shown(invoice.number), chars=chars)]


def _name(char: str) -> str:
    return unicodedata.name(char, "control character").lower()
