"""Duplicates that look different (issue 13, item 5), end to end through `run --once`.

`DUP-1`, `DUP-1` with a zero-width space, `DUP‑1` with U+2011 and the full-width
`ＤＵＰ-1` were all accepted with the same amounts: a double payment. Each lookalike is now
refused as INVOICE_DUPLICATE (and one carrying an invisible character as
INVOICE_NUMBER_INVISIBLE_CHARACTERS too), whether it comes in a later flow, in the same
flow or in a streamed pivot; the first invoice's CR and pivot are left as they were, and
the ledger and the CR show each number as the supplier wrote it.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from alembic import command

from edi_engine.controls import numbers
from edi_engine.ledger import db
from edi_engine.processing.report import parse

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, VALBRUNE, Home
from .test_controls import (
    assert_accepted,
    assert_line,
    assert_rejected,
    batch,
    delivered,
    deposit,
    pivot,
    ubl,
)

FIRST = "DUP-1"
# lookalike -> the codes its invoice is refused with
LOOKALIKES = {
    "DUP\u200b-1": ["INVOICE_NUMBER_INVISIBLE_CHARACTERS", "INVOICE_DUPLICATE"],  # ZWSP
    "DUP\u2011" + "1": ["INVOICE_DUPLICATE"],  # non-breaking hyphen
    "\uff24\uff35\uff30-1": ["INVOICE_DUPLICATE"],  # full-width letters
    "\uff24\uff35\uff30\uff0d\uff11": ["INVOICE_DUPLICATE"],  # full-width all through
    "DUP\u22121": ["INVOICE_DUPLICATE"],  # minus sign
    "DUP\u00ad-1": ["INVOICE_NUMBER_INVISIBLE_CHARACTERS", "INVOICE_DUPLICATE"],  # soft hyphen
    "\ufeffDUP-1": ["INVOICE_NUMBER_INVISIBLE_CHARACTERS", "INVOICE_DUPLICATE"],  # BOM
    "DUP-\u20601": ["INVOICE_NUMBER_INVISIBLE_CHARACTERS", "INVOICE_DUPLICATE"],  # WJ
}
IDS = [ascii(number) for number in LOOKALIKES]


def _cr(home: Home, flow: str, partner: str = SUPPLIER_1) -> bytes:
    return (home.path / "outbox" / partner / f"CR_{partner}_{flow}.xml").read_bytes()


def _invoices(home: Home) -> list[tuple[str, str]]:
    found = json.loads(home.invoke("invoices", "search", "--json").stdout)
    return sorted((invoice["number"], invoice["status"]) for invoice in found)


@pytest.mark.parametrize("number", list(LOOKALIKES), ids=IDS)
def test_a_lookalike_in_a_later_flow_is_a_duplicate_and_the_first_stands(
    home: Home, number: str
) -> None:
    (first,) = deposit(home, ubl(FIRST))
    assert_accepted(first)
    first_cr = _cr(home, first.flow["number"])
    pivots = home.outbox(RECIPIENT)

    (again,) = deposit(home, ubl(number))

    assert again.codes() == LOOKALIKES[number]
    # the message quotes it with each invisible character as its code point
    quoted = numbers.shown(number)
    assert (quoted == number) == ("INVOICE_NUMBER_INVISIBLE_CHARACTERS" not in again.codes())
    line = assert_rejected(again, "INVOICE_DUPLICATE", quoted, names=(first.flow["number"], "2026"))
    # the CR names the refused invoice as its supplier wrote it, each invisible character
    # as its code point there too (as in the message, and on every screen)
    assert dict(parse(line.detail))["facture"] == quoted
    # the first invoice, its CR and its pivot are as they were; nothing more delivered
    assert _cr(home, first.flow["number"]) == first_cr
    assert home.outbox(RECIPIENT) == pivots
    assert [unit.findtext("DonneesFacture/Id") for unit in delivered(home)] == [FIRST]
    assert _invoices(home) == sorted([(FIRST, "MISE_A_DISPOSITION"), (number, "REFUSEE_RECEPTION")])
    assert again.detail["invoice_list"][0]["number"] == number


def test_an_invisible_character_is_named_by_its_code_point(home: Home) -> None:
    (outcome,) = deposit(home, ubl("F01-2026-\u200b000101"))

    line = assert_rejected(
        outcome,
        "INVOICE_NUMBER_INVISIBLE_CHARACTERS",
        "F01-2026-<U+200B>000101",
        names=("U+200B zero width space",),
    )
    assert outcome.codes() == ["INVOICE_NUMBER_INVISIBLE_CHARACTERS"]
    assert "caractères invisibles" in line.message
    assert delivered(home) == []


def test_lookalikes_in_one_flow_leave_the_first_delivered(home: Home) -> None:
    (outcome,) = deposit(
        home,
        batch(a=ubl(FIRST), b=ubl("\uff24\uff35\uff30-1"), c=ubl("DUP\u2011" + "1")),
    )

    assert outcome.state == "IN_INTEGRE_PARTIEL" and outcome.cr_status == "96"
    assert [(number, status) for number, status, _ in outcome.ledger] == [
        (FIRST, "MISE_A_DISPOSITION"),
        ("\uff24\uff35\uff30-1", "REFUSEE_RECEPTION"),
        ("DUP\u2011" + "1", "REFUSEE_RECEPTION"),
    ]
    assert outcome.codes() == ["INVOICE_DUPLICATE", "INVOICE_DUPLICATE"]
    assert [(line.invoice, dict(parse(line.detail))["valeur"]) for line in outcome.cr_lines] == [
        ("2", "\uff24\uff35\uff30-1"),
        ("3", "DUP\u2011" + "1"),
    ]
    assert [unit.findtext("DonneesFacture/Id") for unit in delivered(home)] == [FIRST]


@pytest.mark.parametrize("streamed", [False, True], ids=["read whole", "streamed"])
def test_lookalikes_in_one_pivot_are_caught_whether_or_not_it_is_streamed(
    home: Home, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    if streamed:
        monkeypatch.setenv("EDI_ENGINE_LIMITS_STREAM_BYTES", "1")
    lookalike = "\uff26\uff10\uff12-2026-000502"  # F02-2026-000502, full-width
    (outcome,) = deposit(
        home,
        pivot({(3, "DonneesFacture/Id"): lookalike, (3, "Debiteur/Identifiant"): VALBRUNE}),
        partner=SUPPLIER_2,
    )

    assert outcome.state == "IN_INTEGRE_PARTIEL"
    assert outcome.codes() == ["INVOICE_DUPLICATE"]
    assert_line(outcome, "INVOICE_DUPLICATE", lookalike, invoice="3")
    assert outcome.ledger[2] == (lookalike, "REFUSEE_RECEPTION", None)


def test_a_ledger_migrated_from_the_previous_release_keys_its_numbers(home: Home) -> None:
    """Migration 0015 gives the invoices already in the ledger their key: a lookalike of
    an invoice accepted before the upgrade is a duplicate."""
    (first,) = deposit(home, ubl("\uff24\uff35\uff30-1"))
    assert_accepted(first)
    url = f"sqlite:///{home.path / 'ledger.db'}"
    command.downgrade(db.alembic_config(url), "0014")
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        columns = [row[1] for row in ledger.execute("pragma table_info(invoices)")]
    assert "number_key" not in columns  # the previous release's ledger

    db.migrate(url)

    with sqlite3.connect(home.path / "ledger.db") as ledger:
        keys = ledger.execute("select number, number_key from invoices").fetchall()
    assert keys == [("\uff24\uff35\uff30-1", FIRST)]
    (again,) = deposit(home, ubl(FIRST))
    assert_rejected(again, "INVOICE_DUPLICATE", FIRST, names=(first.flow["number"],))
    assert len(delivered(home)) == 1
