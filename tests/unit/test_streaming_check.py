"""The streamed schema check finds what validating the whole tree finds."""

from __future__ import annotations

from pathlib import Path

import pytest

import config
from edi_engine.reception import streaming, validation, xmlsafe
from edi_engine.settings import LimitSettings

PIVOT = config.path("demo/pivot-multi.xml").read_bytes()


def _nth(content: bytes, old: bytes, new: bytes, n: int) -> bytes:
    start = -1
    for _ in range(n):
        start = content.index(old, start + 1)
    return content[:start] + new + content[start + len(old) :]


MUTATIONS = {
    "valid": PIVOT,
    "bad currency in invoice 3": _nth(PIVOT, b"<Devise>EUR</Devise>", b"<Devise>EURO</Devise>", 3),
    "bad type in invoices 1 and 2": _nth(
        _nth(PIVOT, b"<Type>380</Type>", b"<Type>384</Type>", 1),
        b"<Type>380</Type>",
        b"<Type>999</Type>",
        2,
    ),
    "envelope sender too long": PIVOT.replace(b"<Id>FOUR02</Id>", b"<Id>FOUR02TOOLONG</Id>", 1),
    "unknown element after the invoices": PIVOT.replace(
        b"</CPPFactures>", b"</CPPFactures><Extra/>", 1
    ),
}


@pytest.mark.parametrize("case", MUTATIONS, ids=list(MUTATIONS))
def test_streamed_check_matches_the_whole_tree(case: str, tmp_path: Path) -> None:
    content = MUTATIONS[case]
    path = tmp_path / "flow.xml"
    path.write_bytes(content)

    streamed = streaming.check(path, "flow.xml", LimitSettings())
    whole = validation.problems(xmlsafe.parse(content))

    assert sorted((p.line, p.message) for p in streamed) == sorted(
        (p.line, p.message) for p in whole
    )
    assert (case == "valid") == (not streamed)


def test_truncated_flow_is_not_xml(tmp_path: Path) -> None:
    path = tmp_path / "flow.xml"
    path.write_bytes(PIVOT[:-100])
    (problem,) = streaming.check(path, "flow.xml", LimitSettings())
    assert problem.code == "NOT_XML" and problem.line
