"""What a reader cannot see in a partner's value, and how the engine shows it instead.

A partner chooses its file names, folder names, SFTP names, certificate subjects and
invoice fields. Shown raw, a newline forges a line of cron mail ("processed; all good"), an
escape sequence rewrites the screen, a bidi override reverses what follows, and a
zero-width space or a Hangul filler makes one invoice number look like another. Each such
character is written as its code point instead, `<U+000A>`, `<U+001B>`, `<U+202E>`,
`<U+200B>`: the same way on a terminal, in a log, in a CR and in a stored message
(docs/errors.md#how-a-partners-value-is-shown).

The one definition lives here because connectors name files too (a stored file name, an
SFTP refusal) and import nothing of the engine; the engine takes it through
`edi_engine.display`. An escape holds no backslash and no character it escapes, so:
- a backslash in a value is shown as itself and means only itself (`dir\\new.xml`);
- escaping twice changes nothing: a name escaped when it was stored is shown as stored.
The price of the second property is that a value holding the very text `<U+000A>` reads
the same as one holding a newline: no escape can be both unambiguous and safe to apply
twice. `--json` keeps every value exact.
"""

from __future__ import annotations

import re
import unicodedata

# characters that end or rewrite a line: C0 and C1 controls, DEL (Cc), line and paragraph
# separators (Zl, Zp)
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# ... and format characters (Cf): bidi marks, overrides and isolates, zero-width spaces and
# joiners, the soft hyphen, the byte order mark, tags
INVISIBLE_CATEGORIES = CONTROL_CATEGORIES | {"Cf"}
# the other default-ignorable code points (Unicode's DerivedCoreProperties): combining
# grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian variation selectors,
# variation selectors, the half-width Hangul filler, reserved ignorables, tags
IGNORABLE_RANGES = (
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
# what has no glyph of its own either: lone surrogates (a file name's byte that is not
# UTF-8 is one, U+DC80 to U+DCFF), private-use and unassigned code points
UNSHOWABLE_CATEGORIES = frozenset({"Cs", "Co", "Cn"})
ELLIPSIS = "…"
_CANDIDATE = re.compile(r"[^\x20-\x7e]")  # only these can be hidden: a quick first sieve
_ESCAPE_LENGTH = len("<U+10FFFF>")  # the longest escape


def control(char: str) -> bool:
    """Does this character end or rewrite a line?"""
    return unicodedata.category(char) in CONTROL_CATEGORIES


def invisible(char: str) -> bool:
    """Does no reader see this character: a control, format, separator or ignorable one?"""
    if unicodedata.category(char) in INVISIBLE_CATEGORIES:
        return True
    point = ord(char)
    return any(low <= point <= high for low, high in IGNORABLE_RANGES)


def hidden(char: str) -> bool:
    """Is this character shown as its code point: invisible, or with no glyph of its own?"""
    return invisible(char) or unicodedata.category(char) in UNSHOWABLE_CATEGORIES


def escaped(value: object, limit: int | None = None) -> str:
    """`value` as text on one line, each hidden character written `<U+XXXX>`; with a
    `limit`, at most that many characters, cut before a whole character or escape and
    ending with an ellipsis."""
    text = str(value)
    if limit is None:
        return _CANDIDATE.sub(_escape, text)
    shown = _CANDIDATE.sub(_escape, text[: limit + 1])  # each character shows as one or more
    return shown if len(shown) <= limit else _cut(shown, limit - len(ELLIPSIS)) + ELLIPSIS


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return f"<U+{ord(char):04X}>" if hidden(char) else char


def _cut(shown: str, cut: int) -> str:
    while cut > 0 and unicodedata.combining(shown[cut]):
        cut -= 1  # the accent at the cut would lose its letter: drop both
    start = shown.rfind("<U+", max(cut - _ESCAPE_LENGTH + 1, 0), cut + 2)  # starts before
    if start >= 0 and shown.find(">", start) >= cut:
        cut = start  # the escape at the cut would lose its end: drop it whole
    return shown[:cut].rstrip()
