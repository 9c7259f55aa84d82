"""How a partner's value is shown to an operator: on a terminal, in cron mail, in a log.

A partner chooses its file names, zip members, folder names, certificate subjects and
invoice fields; shown raw, a newline in one forges a line of the report ("processed; all
good"), an escape sequence rewrites the screen and a bidi override reverses what follows.
Every character a terminal, a mail reader or a log shipper would act on or hide is shown
as a visible escape instead (`\\n`, `\\x1b`, `\\u202e`), as Python writes it; everything
else is shown as written. Rich markup is no concern here: tables take `rich.text.Text`,
never markup (cli.render). `--json` keeps every value exact: `json_safe` only writes those
same characters as JSON escapes, which decode to the very value.
"""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls and DEL (Cc), format characters: bidi overrides and isolates,
# zero-width characters, soft hyphen (Cf), line and paragraph separators (Zl, Zp), lone
# surrogates (Cs), private-use (Co) and unassigned (Cn) code points. Spaces (Zs) stay.
HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CANDIDATE = re.compile(r"[^\x20-\x7e]")  # only these can be hidden: a quick first sieve


def hidden(char: str) -> bool:
    """Would a terminal or a reader act on this character, or not show it?"""
    return unicodedata.category(char) in HIDDEN


def escaped(value: object) -> str:
    """`value` as text on one line, every hidden character written as a visible escape."""
    return _CANDIDATE.sub(_escape, str(value))


def escaped_lines(text: str) -> str:
    """A text of several lines, each escaped: a traceback, whose lines are Python's own
    (a value its messages quote can still break one)."""
    return "\n".join(escaped(line) for line in text.split("\n"))


def json_safe(text: str) -> str:
    """A JSON document (`json.dumps(..., ensure_ascii=False)`) with its hidden characters
    written as `\\uXXXX`: the same values once decoded, safe to print or to mail. JSON
    writes the C0 controls itself; the others can only stand inside its strings."""
    return _CANDIDATE.sub(_json_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in NAMED:
        return NAMED[char]
    if not hidden(char):
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n" or not hidden(char):  # the document's own line breaks (indent=2)
        return char
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes an astral character as its UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
