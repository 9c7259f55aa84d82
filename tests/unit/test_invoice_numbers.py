"""The duplicate key of an invoice number (issue 13, item 5): numbers that look the same to
whoever pays them have the same key; numbers that read differently keep different keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edi_engine import number_key
from edi_engine.controls import numbers

LOOKALIKES = [
    "DUP-1",
    "DUP\u200b-1",  # zero-width space
    "DUP\u2011" + "1",  # non-breaking hyphen
    "\uff24\uff35\uff30-1",  # full-width letters
    "\uff24\uff35\uff30\uff0d\uff11",  # full-width everything
    "DUP\u20131",  # en dash
    "DUP\u22121",  # minus sign
    "DUP\ufe631",  # small hyphen-minus
    "DUP\ufe581",  # small em dash
    "DUP\u00ad-1",  # soft hyphen
    "\ufeffDUP-1",  # byte order mark
    "DUP-\u20601",  # word joiner
    "DUP-1\u200d",  # zero-width joiner
    " DUP-1\u00a0",  # spaces around, one non-breaking
    "D\u200cUP-1",  # zero-width non-joiner
    "DUP-\U0001d7cf",  # mathematical bold digit one
]


@pytest.mark.parametrize("number", LOOKALIKES)
def test_numbers_that_look_the_same_have_one_key(number: str) -> None:
    assert number_key.key(number) == "DUP-1"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("dup-1", "dup-1"),  # case is kept: NFKC keeps it
        ("DUP 1", "DUP 1"),  # a space is not a dash
        ("DUP\u3000\u3000 1", "DUP 1"),  # ideographic spaces: one space
        ("DUP_1", "DUP_1"),
        ("DUP/1", "DUP/1"),
        ("e\u200b\u0301", "\u00e9"),  # the accent composes once the invisible one is gone
        ("\ufb01-7", "fi-7"),  # a ligature is its letters
        ("", ""),
    ],
)
def test_the_key_folds_only_what_looks_alike(number: str, expected: str) -> None:
    assert number_key.key(number) == expected


def test_numbers_that_read_differently_keep_different_keys() -> None:
    keys = {number_key.key(n) for n in ("DUP-1", "DUP-2", "DUP1", "dup-1", "DUP 1", "DUP--1")}
    assert len(keys) == 6


@pytest.mark.parametrize(
    ("number", "chars"),
    [
        ("DUP\u200b-1", ["U+200B"]),
        ("DUP\u00ad-1", ["U+00AD"]),
        ("\ufeffDUP-1", ["U+FEFF"]),
        ("DUP\t-1", ["U+0009"]),
        ("DUP\u2028-1", ["U+2028"]),
        ("DUP-1\ufe0f", ["U+FE0F"]),
        ("\u202eDUP-1\u2066", ["U+202E", "U+2066"]),
    ],
)
def test_a_number_with_an_invisible_character_is_refused_with_its_code_point(
    number: str, chars: list[str]
) -> None:
    from tests.unit.test_controls import _check, _invoice

    (problem,) = _check(_invoice(number=number))
    assert problem.code == "INVOICE_NUMBER_INVISIBLE_CHARACTERS"
    assert problem.value == numbers.shown(number)
    for char in chars:
        assert f"<{char}>" in problem.value
        assert char in problem.message and char in problem.message_fr


@pytest.mark.parametrize("number", ["DUP\u20111", "\uff24\uff35\uff30-1", "DUP 1", "Été-1"])
def test_visible_lookalikes_are_not_refused_for_invisible_characters(number: str) -> None:
    from tests.unit.test_controls import _check, _invoice

    assert _check(_invoice(number=number)) == []


def test_the_key_is_bounded_to_its_column() -> None:
    assert len(number_key.key("\ufdfa" * 20)) == number_key.KEY_LENGTH  # 18 characters each


@given(st.text(max_size=40))
def test_the_key_is_stable_and_carries_nothing_invisible(number: str) -> None:
    found = number_key.key(number)
    assert number_key.key(found) == found
    assert not any(numbers.invisible(char) for char in found)
    assert found == found.strip() and "  " not in found


@given(st.text(max_size=20), st.sampled_from(["\u200b", "\u2060", "\ufeff", "\u00ad"]))
def test_an_invisible_character_anywhere_leaves_the_key_as_it_was(number: str, hidden: str) -> None:
    for place in range(len(number) + 1):
        assert number_key.key(number[:place] + hidden + number[place:]) == number_key.key(number)
