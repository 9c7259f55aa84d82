"""A supplier's values open safely in a spreadsheet (issue 13, item 6): `invoices export`
and `stats monthly --csv` write a value that would start a formula with a single quote
before it (OWASP's rule for CSV injection), and leave plain numbers as they are."""

from __future__ import annotations

import csv
import io
import json

import pytest

from edi_engine import csvfile

from .conftest import SUPPLIER_1, Home, sample

NUMBER = "F01-2026-000101"  # config/demo/ubl-invoice.xml's, in five places
NAME = "Papeteries Delorme SAS"
# (invoice number, supplier name as deposited, as the export must write it)
HOSTILE = [
    ("CSV-1", "=2+5+cmd|' /C calc'!A0", "'=2+5+cmd|' /C calc'!A0"),
    ("CSV-2", "@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("CSV-3", "+1+1", "'+1+1"),
    ("CSV-4", "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("CSV-5", '\uff1dHYPERLINK("http://x")', '\'\uff1dHYPERLINK("http://x")'),
    ("CSV-6", "Papeteries =1+1 SAS", "Papeteries =1+1 SAS"),  # not first: no formula
]


def _deposit(home: Home, number: str, name: str) -> None:
    content = sample("ubl-invoice.xml").decode("utf-8")
    content = content.replace(NUMBER, number).replace(NAME, name.replace("&", "&amp;"))
    home.drop(SUPPLIER_1, f"{number}.xml", content.encode("utf-8"))


def _exported(home: Home) -> list[dict[str, str]]:
    raw = home.invoke("invoices", "export", "--csv").stdout_bytes.decode("utf-8")
    return list(csv.DictReader(io.StringIO(raw, newline="")))


def test_formula_starts_are_quoted_and_amounts_are_not(home: Home) -> None:
    for number, name, _ in HOSTILE:
        _deposit(home, number, name)
    _deposit(home, "=1+1", NAME)  # an invoice number is a partner's value too
    flows = home.run()
    assert {flow["status"] for flow in flows} == {"IN_INTEGRE"}

    rows = {row["number"]: row for row in _exported(home)}

    for number, _, written in HOSTILE:
        assert rows[number]["supplier_name"] == written
        assert (rows[number]["amount_ht"], rows[number]["amount_ttc"]) == ("709.10", "800.11")
    assert rows["'=1+1"]["supplier_name"] == NAME
    # what the ledger keeps and shows is the value as deposited
    shown = json.loads(home.invoke("invoices", "show", rows["CSV-3"]["id"], "--json").stdout)
    assert shown["supplier_name"] == "+1+1"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("-12.50", "-12.50"),  # an amount as a supplier writes a credit
        ("+3", "+3"),
        ("-1+1", "'-1+1"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("\uff0b1", "'\uff0b1"),
        ("\uff0d1", "'\uff0d1"),
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),
        ("2026-11-02", "2026-11-02"),
    ],
)
def test_every_formula_start_owasp_names(value: str, written: str) -> None:
    # the one writer of every CSV the engine writes (exports, stats monthly --csv)
    assert csvfile.text([[value]]).rstrip("\n").strip('"') == written


def test_stats_monthly_csv_goes_through_the_same_writer(home: Home) -> None:
    home.drop(SUPPLIER_1, "invoice.xml", sample=("ubl-invoice.xml"))
    home.run()
    text = home.invoke("stats", "monthly", "--csv", "--by", "partner").stdout
    header, *lines = list(csv.reader(io.StringIO(text)))
    assert header[:2] == ["month", "partner"]
    assert any(line[1] == SUPPLIER_1 for line in lines)
