"""One definition of what a reader cannot see, and one way to show it (connectors.visible):
the operator's screen, the log, the CR and the invoice number's key all use it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from connectors import sftp_wire, visible
from connectors.local import display_name
from edi_engine import display, problems
from edi_engine.controls import numbers


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("a\nb", "a<U+000A>b"),
        ("\r\t\x1b[2K", "<U+000D><U+0009><U+001B>[2K"),
        ("\x85\x7f", "<U+0085><U+007F>"),  # C1 and DEL
        ("\u202eevil\u2066", "<U+202E>evil<U+2066>"),  # bidi override and isolate
        ("\u2028\u2029", "<U+2028><U+2029>"),  # line and paragraph separators
        ("DUP\u200b-1\ufeff", "DUP<U+200B>-1<U+FEFF>"),  # zero-width space, BOM
        ("\u3164\u115f\ufe0f\u034f", "<U+3164><U+115F><U+FE0F><U+034F>"),  # ignorables
        ("\U000e0041", "<U+E0041>"),  # a tag
        ("\udce9", "<U+DCE9>"),  # a file name's byte that is not UTF-8
        ("\ue000\U0010fffd", "<U+E000><U+10FFFD>"),  # private use
        ("caf\u00e9 \u00a0\u3000Ω ＤＵＰ", "caf\u00e9 \u00a0\u3000Ω ＤＵＰ"),  # seen: as written
        ("[/bold] C:\\new\\tab", "[/bold] C:\\new\\tab"),  # a backslash is itself
    ],
)
def test_each_hidden_character_is_shown_as_its_code_point(value: str, shown: str) -> None:
    assert display.escaped(value) == shown


def test_the_sets_nest_and_are_the_same_everywhere() -> None:
    assert numbers.invisible is display.invisible is visible.invisible
    assert display.hidden is visible.hidden
    for point in range(0x110000):
        char = chr(point)
        if visible.control(char):
            assert visible.invisible(char), hex(point)
        if visible.invisible(char):
            assert visible.hidden(char), hex(point)
    assert visible.hidden("\udce9") and not visible.invisible("\udce9")
    assert visible.invisible("\u200b") and not visible.control("\u200b")


@given(st.text())
def test_what_is_shown_holds_nothing_hidden_and_shows_the_same_again(value: str) -> None:
    shown = display.escaped(value)
    assert not any(visible.hidden(char) for char in shown)
    assert len(shown.splitlines()) <= 1
    assert display.escaped(shown) == shown  # a value escaped when stored is shown as stored


@given(st.text(alphabet=st.sampled_from("ab\n\u200b\u0301 é\U000e0041")), st.integers(2, 40))
@example("\n\u0301a", 9)  # an accent after an escape: both dropped, the escape whole
@example("a \u0301", 2)  # an accent on a space: dropped with it
@example("\u0301\u0301a", 2)  # accents with no letter: nothing kept
def test_a_bound_never_cuts_an_escape_nor_an_accent_from_its_letter(value: str, limit: int) -> None:
    shown = visible.escaped(value, limit)
    assert len(shown) <= limit
    whole = display.escaped(value)
    if shown == whole:
        return
    assert shown.endswith(visible.ELLIPSIS)
    kept = shown.removesuffix(visible.ELLIPSIS)
    assert whole.startswith(kept)
    assert kept.count("<U+") == kept.count(">")  # every escape kept whole
    rest = whole[len(kept) :]  # an accent on a space dropped with its space stays on it
    assert not (kept and rest) or not unicodedata.combining(rest[0])  # kept: accents alone


def test_stored_names_refusals_and_messages_use_the_same_escape() -> None:
    raw = "a\nb\u202e\udce9.xml"
    shown = "a<U+000A>b<U+202E><U+DCE9>.xml"
    assert display_name(raw) == shown
    assert sftp_wire.shown(raw.encode("utf-8", "surrogateescape")) == f"'{shown}'"
    assert problems.shown(raw) == shown
    assert sftp_wire.server_text("denied\n\x1b[2K") == "denied<U+000A><U+001B>[2K"
    assert numbers.shown("DUP\u200b-1") == "DUP<U+200B>-1"
    assert display.escaped(display_name(raw)) == shown  # shown as stored


def test_a_stored_name_fits_its_column() -> None:
    name = "\x01" * 200 + ".xml"  # 204 characters, 1,604 once shown
    assert display_name(name) == "<U+0001>" * 31 + visible.ELLIPSIS
    assert len(display_name("é" * 300)) == 255
