"""`edi-engine invoices export --csv` (issue 7, item 3): one CSV line per invoice for
operators, filtered, streamed, to stdout or a file, end to end through the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edi_engine.operations import exports

from .conftest import HAUT_VERNAY, MONTCLAIR, SUPPLIER_1, SUPPLIER_2, VALBRUNE, Home, sample

# the public contract: these columns, in this order
COLUMNS = [
    "number", "supplier", "supplier_name", "recipient", "service_code", "engagement",
    "type_code", "issue_date", "currency", "amount_ht", "amount_ttc", "amount_net", "status",
    "status_code", "status_date", "flow", "mandate", "id",
]  # fmt: skip
DEPOSITED = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CHANGED = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
SALVERT = "21990404200013"  # unknown to the hub: its invoice is rejected at reception
# issue dates: ubl-invoice 11-02, cii-invoice 11-05, pivot-multi 11-09 (three invoices),
# ubl-creditnote 11-16, ubl-inactive 11-18
ALL = [
    "F01-2026-000101",  # ubl-invoice, Valbrune, MISE_A_DISPOSITION then MANDATEE
    "F01-2026-000104",  # ubl-inactive, Haut-Vernay (inactive), REFUSEE_RECEPTION
    "AV01-2026-000007",  # ubl-creditnote, Montclair, MISE_A_DISPOSITION then A_RECYCLER
    "F02-2026-000501",  # cii-invoice, Valbrune
    "F02-2026-000502",  # pivot-multi, Montclair
    "F02-2026-000503",  # pivot-multi, Valbrune
    "F02-2026-000504",  # pivot-multi, unknown structure, REFUSEE_RECEPTION
]


def _at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr("edi_engine.clock.now", lambda: moment)


@pytest.fixture
def exported(home: Home, monkeypatch: pytest.MonkeyPatch) -> Home:
    """Seven invoices of two suppliers, to four structures, in five statuses."""
    _at(monkeypatch, DEPOSITED)
    home.drop(SUPPLIER_1, "1-ubl-invoice.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "2-ubl-inactive.xml", sample="ubl-inactive.xml")
    home.drop(SUPPLIER_1, "3-ubl-creditnote.xml", sample="ubl-creditnote.xml")
    home.run()
    home.drop(SUPPLIER_2, "4-cii-invoice.xml", sample="cii-invoice.xml")
    home.drop(SUPPLIER_2, "5-pivot-multi.xml", sample="pivot-multi.xml")
    home.run()
    _at(monkeypatch, CHANGED)
    ids = {row["number"]: row["id"] for row in _search(home)}
    home.invoke("invoices", "set-status", ids["AV01-2026-000007"], "04", "--comment", "SIRET")
    home.invoke(
        "invoices", "set-status", ids["F01-2026-000101"], "MANDATEE", "--mandate", "MAND-2026-77"
    )
    return home


def _search(home: Home) -> list[dict]:
    return json.loads(home.invoke("invoices", "search", "--json").stdout)


def _export(home: Home, *args: str, code: int = 0) -> list[dict[str, str]]:
    result = home.invoke("invoices", "export", "--csv", *args, code=code)
    reader = csv.DictReader(io.StringIO(result.stdout_bytes.decode("utf-8"), newline=""))
    assert reader.fieldnames == COLUMNS
    return list(reader)


def _numbers(rows: list[dict[str, str]]) -> list[str]:
    return [row["number"] for row in rows]


def test_the_header_then_one_line_per_invoice_oldest_first(exported: Home) -> None:
    result = exported.invoke("invoices", "export", "--csv")
    raw = result.stdout_bytes
    assert raw.startswith(",".join(COLUMNS).encode() + b"\n")
    assert b"\r" not in raw and raw.endswith(b"\n")
    assert "Ateliers Numériques Garnier SARL".encode() in raw  # UTF-8, no BOM
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert result.stderr.strip() == "Exported 7 invoice(s)."

    rows = _export(exported)
    assert _numbers(rows) == ALL
    found = {row["number"]: row for row in _search(exported)}
    flows = {number: row["flow"] for number, row in found.items()}
    by_number = {row["number"]: row for row in rows}
    # the id first: what `invoices show ID` and `invoices set-status ID` take
    assert [row["id"] for row in rows] == [str(found[number]["id"]) for number in ALL]
    assert by_number["F01-2026-000101"] == {
        "id": str(found["F01-2026-000101"]["id"]),
        "number": "F01-2026-000101",
        "supplier": "81234567600025",
        "supplier_name": "Papeteries Delorme SAS",
        "recipient": VALBRUNE,
        "service_code": "SERV-SCOL",
        "engagement": "EJ-VAL-2026-0412",
        "type_code": "380",
        "issue_date": "2026-11-02",
        "currency": "EUR",
        "amount_ht": "709.10",
        "amount_ttc": "800.11",
        "amount_net": "800.11",
        "status": "MANDATEE",
        "status_code": "08",
        "status_date": CHANGED.isoformat(),
        "flow": flows["F01-2026-000101"],
        "mandate": "MAND-2026-77",
    }
    credit_note = by_number["AV01-2026-000007"]
    assert (credit_note["type_code"], credit_note["recipient"]) == ("381", MONTCLAIR)
    assert (credit_note["status"], credit_note["status_code"]) == ("A_RECYCLER", "04")
    assert (credit_note["amount_ht"], credit_note["amount_ttc"]) == ("21.25", "25.50")
    assert credit_note["mandate"] == ""  # a value the invoice does not have: an empty field
    delivered = by_number["F02-2026-000502"]
    assert (delivered["status"], delivered["status_code"]) == ("MISE_A_DISPOSITION", "03")
    assert delivered["status_date"] == DEPOSITED.isoformat()
    assert delivered["amount_ht"] == "2220.00"  # as stored, trailing zeros kept
    # refused at reception: a state of their own, outside the lifecycle, with no status code
    refused = ("F01-2026-000104", "F02-2026-000504")
    assert {by_number[n]["status"] for n in refused} == {"REFUSEE_RECEPTION"}
    assert {by_number[n]["status_code"] for n in refused} == {""}


def test_each_filter_and_several_structures(exported: Home) -> None:
    assert _numbers(_export(exported, "--status", "REFUSEE_RECEPTION")) == [
        "F01-2026-000104",
        "F02-2026-000504",
    ]
    assert _export(exported, "--status", "REJETEE") == []  # the recipient's rejection only
    valbrune = ["F01-2026-000101", "F02-2026-000501", "F02-2026-000503"]
    assert _numbers(_export(exported, "--structure", VALBRUNE)) == valbrune
    either = _export(exported, "--structure", VALBRUNE, "--structure", HAUT_VERNAY)
    assert _numbers(either) == ["F01-2026-000101", "F01-2026-000104", *valbrune[1:]]
    assert {row["recipient"] for row in either} == {VALBRUNE, HAUT_VERNAY}
    # issue dates, both days included
    pivot = ["F02-2026-000502", "F02-2026-000503", "F02-2026-000504"]
    assert _numbers(_export(exported, "--from", "2026-11-09", "--to", "2026-11-09")) == pivot
    assert _numbers(_export(exported, "--from", "2026-11-16")) == [
        "F01-2026-000104",
        "AV01-2026-000007",
    ]
    assert _numbers(_export(exported, "--to", "2026-11-05")) == [
        "F01-2026-000101",
        "F02-2026-000501",
    ]
    # every filter given must match
    combined = _export(
        exported,
        *("--structure", VALBRUNE, "--structure", SALVERT, "--status", "MISE_A_DISPOSITION"),
        *("--from", "2026-11-03", "--to", "2026-11-30"),
    )
    assert _numbers(combined) == ["F02-2026-000501", "F02-2026-000503"]


def test_an_empty_result_is_the_header_alone(exported: Home) -> None:
    result = exported.invoke("invoices", "export", "--structure", "21990505000015")
    assert result.stdout_bytes == (",".join(COLUMNS) + "\n").encode()
    assert result.stderr.strip() == "Exported 0 invoice(s)."
    assert _export(exported, "--status", "REFUSEE_RECEPTION", "--from", "2026-11-19") == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--from", "2026-13-01"), "'--from'"),
        (("--to", "25/11/2026"), "'--to'"),
        (("--from", "2026-11-20", "--to", "2026-11-10"), "--from 2026-11-20 is after --to"),
        (("--status", "PAYEE"), "'--status'"),
    ],
)
def test_a_bad_date_or_period_is_a_usage_error(
    exported: Home, args: tuple[str, ...], said: str
) -> None:
    refused = exported.invoke("invoices", "export", *args, code=2)
    assert said in refused.stderr and refused.stdout == ""


def test_output_file_is_written_atomically_and_stdout_stays_empty(
    exported: Home, tmp_path: Path
) -> None:
    target = tmp_path / "exports" / "invoices.csv"
    result = exported.invoke("invoices", "export", "--output", target)
    assert result.stdout == ""
    assert result.stderr.strip() == f"Exported 7 invoice(s) to {target}."
    assert target.read_bytes() == exported.invoke("invoices", "export").stdout_bytes
    assert sorted(p.name for p in target.parent.iterdir()) == ["invoices.csv"]  # no temp left
    # an export again replaces the file
    exported.invoke("invoices", "export", "--csv", "-o", target, "--status", "REFUSEE_RECEPTION")
    assert len(target.read_text().splitlines()) == 3


def test_a_file_that_cannot_be_written_is_said_in_one_sentence(
    exported: Home, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    refused = exported.invoke("invoices", "export", "-o", blocker / "x.csv", code=2)
    assert refused.stderr.startswith(f"edi-engine: Cannot write {blocker / 'x.csv'}:")


def test_batches_follow_one_another_without_loss_or_repeat(
    exported: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = exported.invoke("invoices", "export").stdout_bytes
    for size in (1, 2, 3, 7):
        monkeypatch.setattr(exports, "BATCH", size)
        assert exported.invoke("invoices", "export").stdout_bytes == whole
    monkeypatch.setattr(exports, "BATCH", 2)
    assert _numbers(_export(exported, "--structure", VALBRUNE)) == [
        "F01-2026-000101",
        "F02-2026-000501",
        "F02-2026-000503",
    ]


def test_commas_quotes_and_line_breaks_are_quoted_for_spreadsheets(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at(monkeypatch, DEPOSITED)
    name = 'Papeteries "Delorme", Fils &amp; Cie'
    content = sample("ubl-invoice.xml").replace(b"Papeteries Delorme SAS", name.encode())
    home.drop(SUPPLIER_1, "quoted.xml", content)
    home.run()
    raw = home.invoke("invoices", "export").stdout_bytes.decode()
    assert '"Papeteries ""Delorme"", Fils & Cie"' in raw
    (row,) = _export(home)
    assert row["supplier_name"] == 'Papeteries "Delorme", Fils & Cie'
    assert row["amount_ttc"] == "800.11"  # not quoted: quoting is minimal
    assert ",800.11," in raw
