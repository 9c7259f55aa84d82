"""`edi-engine stats monthly` (issue 7, item 2): per-month counters of inbound flows,
outbound files and invoices, by partner and by syntax, that count a flow processed again
once and survive the retention purge, end to end through the CLI with the clock set."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from edi_engine import clock, settings
from edi_engine.ledger import counters, db
from edi_engine.operations import monthly as monthly_report
from edi_engine.operations import retention

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home

NOVEMBER = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
# 00:30 on 1 December in Paris, still November in UTC: the hub's month is December
FIRST_OF_DECEMBER = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
ZERO = dict.fromkeys(counters.COLUMNS, 0)


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr("edi_engine.clock.now", lambda: moment)


def monthly(home: Home, *args: str) -> list[dict]:
    return json.loads(home.invoke("stats", "monthly", *args, "--json").stdout)


def counts(inbound=0, outbound=0, received=0, accepted=0, rejected=0) -> dict[str, int]:
    return {
        "inbound_flows": inbound,
        "outbound_flows": outbound,
        "invoices_received": received,
        "invoices_accepted": accepted,
        "invoices_rejected": rejected,
    }


def two_months(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    """November: a UBL invoice (FOUR01) and a pivot of three invoices, one rejected
    (FOUR02); December at the hub: a UBL credit note (FOUR01)."""
    at(monkeypatch, NOVEMBER)
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_2, "b.xml", sample="pivot-multi.xml")
    home.run()
    at(monkeypatch, FIRST_OF_DECEMBER)
    home.drop(SUPPLIER_1, "c.xml", sample="ubl-creditnote.xml")
    home.run()


def test_counts_across_two_months_with_the_empty_months_around_them(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_months(home, monkeypatch)
    rows = monthly(home, "--from", "2026-10", "--to", "2027-01")
    assert rows == [
        {"month": "2026-10", **ZERO},
        # two CRs and three pivots; three invoices accepted, one rejected
        {"month": "2026-11", **counts(2, 5, 4, 3, 1)},
        {"month": "2026-12", **counts(1, 2, 1, 1, 0)},  # its CR and its pivot
        {"month": "2027-01", **ZERO},
    ]
    assert list(rows[0]) == ["month", *counters.COLUMNS]  # exactly these keys, in order


def test_the_default_range_is_the_last_twelve_months(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_months(home, monkeypatch)
    at(monkeypatch, datetime(2027, 10, 15, 12, 0, tzinfo=UTC))
    rows = monthly(home)
    assert [r["month"] for r in rows] == [f"2026-{m:02d}" for m in range(11, 13)] + [
        f"2027-{m:02d}" for m in range(1, 11)
    ]
    assert rows[0]["inbound_flows"] == 2 and sum(r["inbound_flows"] for r in rows) == 3
    only_from = monthly(home, "--from", "2027-09")  # up to the current month
    assert [r["month"] for r in only_from] == ["2027-09", "2027-10"]
    only_to = monthly(home, "--to", "2026-12")  # the twelve months up to it
    assert only_to[0]["month"] == "2026-01" and len(only_to) == 12


def test_by_partner_and_by_syntax(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    two_months(home, monkeypatch)
    home.invoke("statuses", "emit")  # STATUT_FOUR01_1 and STATUT_FOUR02_1, in December

    by_partner = monthly(home, "--from", "2026-11", "--to", "2026-12", "--by", "partner")
    assert by_partner == [
        {"month": "2026-11", "partner": RECIPIENT, **counts(outbound=3)},
        {"month": "2026-11", "partner": SUPPLIER_1, **counts(1, 1, 1, 1, 0)},
        {"month": "2026-11", "partner": SUPPLIER_2, **counts(1, 1, 3, 2, 1)},
        {"month": "2026-12", "partner": RECIPIENT, **counts(outbound=1)},
        {"month": "2026-12", "partner": SUPPLIER_1, **counts(1, 2, 1, 1, 0)},  # CR, STATUT
        {"month": "2026-12", "partner": SUPPLIER_2, **counts(outbound=1)},  # STATUT
    ]
    assert list(by_partner[0]) == ["month", "partner", *counters.COLUMNS]

    by_syntax = monthly(home, "--from", "2026-11", "--to", "2026-12", "--by", "syntax")
    flows = {
        (r["month"], r["syntax"]): r["inbound_flows"] or r["outbound_flows"] for r in by_syntax
    }
    assert flows == {
        ("2026-11", "CR"): 2,
        ("2026-11", "IN_DP_E1_UBL_INVOICE"): 1,
        ("2026-11", "IN_DP_E2_CPP_FACTURE"): 1,
        ("2026-11", "PIVOT"): 3,
        ("2026-11", "STATUT"): 0,
        ("2026-12", "CR"): 1,
        ("2026-12", "IN_DP_E1_UBL_INVOICE"): 1,
        ("2026-12", "IN_DP_E2_CPP_FACTURE"): 0,
        ("2026-12", "PIVOT"): 1,
        ("2026-12", "STATUT"): 2,
    }
    pivots = [r for r in by_syntax if r["syntax"] == "IN_DP_E2_CPP_FACTURE"]
    assert pivots[0] == {
        "month": "2026-11",
        "syntax": "IN_DP_E2_CPP_FACTURE",
        **counts(1, 0, 3, 2, 1),
    }


def test_csv_has_the_json_columns(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    two_months(home, monkeypatch)
    out = home.invoke("stats", "monthly", "--from", "2026-11", "--to", "2026-12", "--csv").stdout
    assert out.splitlines()[0] == (
        "month,inbound_flows,outbound_flows,invoices_received,invoices_accepted,invoices_rejected"
    )
    assert list(csv.DictReader(io.StringIO(out))) == [
        {"month": "2026-11", **{k: str(v) for k, v in counts(2, 5, 4, 3, 1).items()}},
        {"month": "2026-12", **{k: str(v) for k, v in counts(1, 2, 1, 1, 0).items()}},
    ]
    grouped = home.invoke(
        "stats", "monthly", "--from", "2026-12", "--to", "2026-12", "--by", "partner", "--csv"
    ).stdout.splitlines()
    assert grouped[0].startswith("month,partner,inbound_flows,")
    assert grouped[1:] == ["2026-12,DEST01,0,1,0,0,0", "2026-12,FOUR01,1,1,1,1,0"]


def test_the_terminal_view_is_a_table_and_a_bar_chart_per_month(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_months(home, monkeypatch)
    out = home.invoke("stats", "monthly", "--from", "2026-10", "--to", "2026-12").stdout
    assert "flows in" in out and "flows out" in out and "rejected" in out
    lines = out.splitlines()
    november_in = next(line for line in lines if line.startswith("2026-11 in"))
    november_out = lines[lines.index(november_in) + 1]
    # five outbound files fill the width (80 columns in a pipe), two inbound flows 2/5 of it
    assert november_out.count("▒") == 80 - len("YYYY-MM out  ") - 1 - 1
    assert november_in.count("█") == round(november_out.count("▒") * 2 / 5)
    assert november_in.endswith(" 2") and november_out.endswith(" 5")
    october_in = next(line for line in lines if line.startswith("2026-10 in"))
    assert "█" not in october_in and october_in.endswith(" 0")
    assert max(len(line) for line in lines if line[:4] in ("2026", "    ")) <= 80


def test_processing_a_flow_again_counts_it_once(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, NOVEMBER)
    home.drop(SUPPLIER_2, "b.xml", sample="pivot-multi.xml")
    (flow,) = home.run()
    before = monthly(home, "--from", "2026-11", "--to", "2026-12", "--by", "syntax")
    assert home.outbox(RECIPIENT) == [f"PIVOT_DEST01_{flow['number']}_{n}.xml" for n in (1, 2)]

    for _ in range(2):  # its lease expired, or an operator put it back: taken again
        _waiting_again(home, flow["number"])
        assert [f["number"] for f in home.run()] == [flow["number"]]
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        query = "select attempts from flows where number = ?"
        assert ledger.execute(query, (flow["number"],)).fetchone() == (3,)
    # the flow and its pivots once; each attempt's CR is a file of its own, kept
    after = monthly(home, "--from", "2026-11", "--to", "2026-12", "--by", "syntax")
    assert [r for r in after if r["syntax"] != "CR"] == [r for r in before if r["syntax"] != "CR"]
    crs = [r["outbound_flows"] for r in before if r["syntax"] == "CR"]
    assert [r["outbound_flows"] for r in after if r["syntax"] == "CR"] == [crs[0] + 2, *crs[1:]]

    # taken again in December: the flow stays November's, its CR written again is December's
    at(monkeypatch, datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    _waiting_again(home, flow["number"])
    home.run()
    november, december = monthly(home, "--from", "2026-11", "--to", "2026-12")
    assert november == {"month": "2026-11", **counts(1, 5, 3, 2, 1)}  # two pivots, three CRs
    assert december == {"month": "2026-12", **counts(outbound=1)}  # the CR


def test_a_flow_whose_first_attempt_failed_counts_once(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, NOVEMBER)
    home.drop(SUPPLIER_1, "a.xml", sample="ubl-invoice.xml")
    with monkeypatch.context() as broken:
        broken.setattr("edi_engine.processing.report.integration_report", _fail)
        (failed,) = json.loads(home.invoke("run", "--once", "--json", code=3).stdout)
    assert monthly(home, "--from", "2026-11", "--to", "2026-11") == [
        {"month": "2026-11", **counts(1, 1)}  # rolled back; answered by its incident's CR
    ]
    _waiting_again(home, failed["number"])
    home.run()
    assert monthly(home, "--from", "2026-11", "--to", "2026-11") == [
        {"month": "2026-11", **counts(1, 3, 1, 1, 0)}  # the pivot, both attempts' CRs
    ]


def _fail(*_args: object) -> None:
    raise RuntimeError("injected failure")


def _waiting_again(home: Home, number: str) -> None:
    """Back to IN_RECU with its attempts kept, as a re-run or an expired lease leaves it."""
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        ledger.execute("update flows set status = 'IN_RECU' where number = ?", (number,))


def test_the_counts_survive_the_retention_purge(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_months(home, monkeypatch)
    home.invoke("statuses", "emit")
    kept = monthly(home, "--from", "2026-11", "--to", "2026-12", "--by", "partner")

    at(monkeypatch, datetime(2027, 3, 5, 9, 0, tzinfo=UTC))
    monkeypatch.setenv("EDI_ENGINE_RETENTION_MONTHS", "1")
    loaded = settings.load(home.path)
    with db.session_scope(loaded.database_url) as session:  # as the nightly job does
        purged = retention.purge(loaded, session, clock.now())
    assert purged.flows == 3

    assert json.loads(home.invoke("flows", "list", "--json").stdout) == []
    assert home.outbox(RECIPIENT) == []  # their pivots went with them
    assert monthly(home, "--from", "2026-11", "--to", "2026-12", "--by", "partner") == kept
    with db.session_scope(loaded.database_url) as session:  # the monthly report's job
        monthly_report.write_report(loaded, session, date(2026, 11, 1))
    report = json.loads((home.path / "reports" / "monthly-2026-11.json").read_text())
    assert report == {"month": "2026-11", **counts(2, 5, 4, 3, 1)}
    with sqlite3.connect(home.path / "ledger.db") as ledger:
        (november,) = ledger.execute(
            "select sum(inbound_flows) from monthly_counters where month = '2026-11'"
        ).fetchone()
    assert november == 2


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib (the `chart` extra) is not installed: --chart is not tested",
)
def test_the_chart_is_drawn_to_a_png(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    two_months(home, monkeypatch)
    target = tmp_path / "monthly.png"
    # in a process of its own: under pytest, tests/packaging hides the `packaging`
    # distribution that matplotlib imports
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    args = ["--from", "2026-10", "--to", "2027-01", "--by", "partner", "--chart", target]
    result = subprocess.run(
        [sys.executable, "-m", "cli", "--home", home.path, "stats", "monthly", *args, "--json"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Chart written to {target}." in result.stderr
    assert len(json.loads(result.stdout)) == 4 * 3  # the data is printed all the same


def test_without_matplotlib_the_chart_asks_for_it(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for module in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    target = tmp_path / "monthly.png"
    result = home.invoke("stats", "monthly", "--chart", target, code=2)
    assert "pip install 'edi-engine[chart]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--from", "2026-13"], "--from '2026-13' is not a month"),
        (["--to", "11/2026"], "--to '11/2026' is not a month"),
        (["--from", "2026-1"], "--from '2026-1' is not a month"),
        (["--from", "2026-12", "--to", "2026-11"], "--from 2026-12 is after --to 2026-11"),
        (["--json", "--csv"], "--json and --csv"),
        (["--by", "structure"], "--by"),
    ],
)
def test_usage_errors_name_the_option(home: Home, args: list[str], names: str) -> None:
    result = home.invoke("stats", "monthly", *args, code=2)
    assert names in result.stderr
    if "--json" in args:  # a script asking for JSON is told why in JSON too
        assert json.loads(result.stdout)["error"] == "usage_error"
        assert names in json.loads(result.stdout)["message"]
    else:
        assert result.stdout == ""
