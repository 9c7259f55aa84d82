"""How a partner's value is shown to an operator: on a terminal, in cron mail, in a log.

A partner chooses its file names, zip members, folder names, certificate subjects and
invoice fields; shown raw, a newline in one forges a line of the report ("processed; all
good"), an escape sequence rewrites the screen and a bidi override reverses what follows.
Every character a reader would not see, or a terminal, a mail reader or a log shipper
would act on, is shown as its code point (`<U+000A>`, `<U+001B>`, `<U+202E>`): the one
definition and notation of `connectors.visible`, which the CR, stored messages and stored
file names use too. Escaping is idempotent, so a value escaped when it was stored is shown
as stored, never escaped twice. Rich markup is no concern here: tables take
`rich.text.Text`, never markup (edi_engine/cli/shared.py, render). `--json` keeps every value exact: `json_safe`
only writes those same characters as JSON escapes, which decode to the very value.
"""

from __future__ import annotations

import re

from connectors.visible import control, escaped, hidden, invisible

__all__ = ["control", "escaped", "escaped_lines", "hidden", "invisible", "json_safe"]

_CANDIDATE = re.compile(r"[^\x20-\x7e]")  # only these can be hidden: a quick first sieve


def escaped_lines(text: str) -> str:
    """A text of several lines, each escaped: a traceback, whose lines are Python's own
    (a value its messages quote can still break one)."""
    return "\n".join(escaped(line) for line in text.split("\n"))


def json_safe(text: str) -> str:
    """A JSON document (`json.dumps(..., ensure_ascii=False)`) with its hidden characters
    written as `\\uXXXX`: the same values once decoded, safe to print or to mail. JSON
    writes the C0 controls itself; the others can only stand inside its strings."""
    return _CANDIDATE.sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n" or not hidden(char):  # the document's own line breaks (indent=2)
        return char
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes an astral character as its UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
