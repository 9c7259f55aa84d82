"""What an operator running a hub by hand trips on (issue 11, item 5), end to end through
the CLI: findings said as what they are, statuses counted as statuses, flow numbers and
status codes as operators type them, filters and columns they need, JSON refusals,
deactivation, and missing files."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import config

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, VALBRUNE, Home
from .test_statuses_in import status, statut_flow

SUPPLIER_1_SIRET = "81234567600025"  # ubl-invoice.xml
SUPPLIER_2_SIRET = "82345678500018"  # cii-invoice.xml


def _json(home: Home, *args: str, code: int = 0) -> object:
    return json.loads(home.invoke(*args, "--json", code=code).stdout)


def _ids(home: Home) -> dict[str, int]:
    return {i["number"]: i["id"] for i in _json(home, "invoices", "search")}


@pytest.fixture
def two_delivered(home: Home) -> Home:
    """F01-2026-000101 (FOUR01) in flow 1, F02-2026-000501 (FOUR02) in flow 2, both to
    Valbrune, delivered to DEST01."""
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    home.run()
    home.drop(SUPPLIER_2, "cii-invoice.xml", sample="cii-invoice.xml")
    home.run()
    return home


# -- 1 and 2: info, warning and rejection said as they are; statuses counted as statuses


def _status_flow_with_info_and_a_warning(home: Home) -> dict:
    """Two statuses applied (info), one of them with a grouped mandate (warning)."""
    ids = _ids(home)
    home.invoke("invoices", "set-status", ids["F02-2026-000501"], "8", "--mandate", "M-1")
    home.drop(
        RECIPIENT,
        "statuts.xml",
        statut_flow(RECIPIENT, status("07"), status("08", mandate="M-1")),
    )
    (flow,) = home.run()
    return flow


def test_run_once_labels_info_and_shows_the_warning_behind_it(two_delivered: Home) -> None:
    flow = _status_flow_with_info_and_a_warning(two_delivered)

    assert flow["why"].splitlines()[0].startswith("warning STATUS_GROUPED_MANDATE: ")
    assert flow["why"].splitlines()[1].startswith("info STATUS_APPLIED (+1 more): ")
    assert (flow["rejections"], flow["warnings"], flow["infos"]) == (0, 1, 2)
    # a status flow's lines are statuses: said so, the old keys kept for scripts
    assert (flow["statuses"], flow["refused"]) == (2, 0)
    assert (flow["invoices"], flow["rejected"]) == (2, 0)


def test_run_once_table_says_rejected_and_counts_invoices(home: Home) -> None:
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample="pivot-multi.xml")
    out = home.invoke("run", "--once").stdout
    assert "rejected RECIPIENT_UNKNOWN" in out
    assert "3 invoice(s), 1 rejected" in out


def test_flows_list_counts_a_status_flows_statuses(two_delivered: Home) -> None:
    _status_flow_with_info_and_a_warning(two_delivered)
    rows = _json(two_delivered, "flows", "list")
    assert [(r["statuses"], r["refused"]) for r in rows] == [(None, None), (None, None), (2, 0)]
    out = two_delivered.invoke("flows", "list").stdout
    assert "2 status(es), 0 refused" in out and "1 invoice(s), 0 rejected" in out


def test_flows_show_says_whether_each_finding_rejected_or_warned(two_delivered: Home) -> None:
    flow = _status_flow_with_info_and_a_warning(two_delivered)
    out = two_delivered.invoke("flows", "show", flow["number"]).stdout
    assert "2 status(es), 0 refused" in out
    rows = [line for line in out.splitlines() if "STATUS_" in line]
    assert any(line.split("│")[1].strip() == "warning" for line in rows), out
    assert any(line.split("│")[1].strip() == "info" for line in rows), out

    two_delivered.drop(SUPPLIER_1, "xsd-invalid.xml", sample="xsd-invalid.xml")
    (rejected,) = two_delivered.run()
    out = two_delivered.invoke("flows", "show", rejected["number"]).stdout
    line = next(line for line in out.splitlines() if "XSD_INVALID" in line)
    assert line.split("│")[1].strip() == "rejected"


# -- 3: statuses by code, and --mandate where the status carries one


def test_set_status_takes_the_code_operators_use(two_delivered: Home) -> None:
    invoice_id = _ids(two_delivered)["F01-2026-000101"]
    two_delivered.invoke("invoices", "set-status", invoice_id, "07")
    shown = _json(two_delivered, "invoices", "show", str(invoice_id))
    assert (shown["status"], shown["status_code"]) == ("SERVICE_FAIT", "07")

    other = _ids(two_delivered)["F02-2026-000501"]
    two_delivered.invoke("invoices", "set-status", other, "7")
    assert _json(two_delivered, "invoices", "show", str(other))["status"] == "SERVICE_FAIT"


def test_set_status_asks_for_the_mandate_of_08(two_delivered: Home) -> None:
    invoice_id = _ids(two_delivered)["F01-2026-000101"]
    for spelled in ("08", "MANDATEE"):
        result = two_delivered.invoke("invoices", "set-status", invoice_id, spelled, code=2)
        assert "--mandate is required for 08 MANDATEE" in result.stderr
    shown = _json(two_delivered, "invoices", "show", str(invoice_id))
    assert shown["status"] == "MISE_A_DISPOSITION"  # nothing recorded

    two_delivered.invoke("invoices", "set-status", invoice_id, "08", "--mandate", "M-7")
    assert _json(two_delivered, "invoices", "show", str(invoice_id))["mandate"] == "M-7"


def test_an_unknown_status_is_a_usage_error_listing_them(two_delivered: Home) -> None:
    invoice_id = _ids(two_delivered)["F01-2026-000101"]
    for bogus in ("13", "FAITE"):
        result = two_delivered.invoke("invoices", "set-status", invoice_id, bogus, code=2)
        assert f"{bogus!r} is not an invoice status" in result.stderr
        assert "07 SERVICE_FAIT" in result.stderr


# -- 4 and 7: invoices by supplier and flow; flow numbers as operators type them


def test_invoices_search_by_supplier_and_by_flow(two_delivered: Home) -> None:
    by_supplier = _json(two_delivered, "invoices", "search", "--supplier", SUPPLIER_2_SIRET)
    assert [i["number"] for i in by_supplier] == ["F02-2026-000501"]
    for spelled in ("FL0000000001", "1", "0001", "fl1"):
        found = _json(two_delivered, "invoices", "search", "--flow", spelled)
        assert [i["number"] for i in found] == ["F01-2026-000101"], spelled
    assert _json(two_delivered, "invoices", "search", "--flow", "2", "--supplier", "X") == []

    result = two_delivered.invoke("invoices", "search", "--flow", "FLX", code=2)
    assert "'FLX' is not a flow number" in result.stderr


def test_flows_show_and_rerun_take_a_number_without_prefix_and_zeros(
    two_delivered: Home,
) -> None:
    for spelled in ("42", "0042", "fl42"):
        result = two_delivered.invoke("flows", "show", spelled, code=1)
        assert "FL0000000042" in result.stderr
    for spelled in ("2", "002", "Fl2", "FL0000000002"):
        assert two_delivered.show(spelled)["file_name"] == "cii-invoice.xml"
    (planned,) = _json(two_delivered, "flows", "rerun", "1", "--force", "--dry-run")
    assert planned["number"] == "FL0000000001"
    assert (
        "is not a flow number"
        in two_delivered.invoke("flows", "show", "12345678901", code=2).stderr
    )


# -- 5: the export has the invoice id


def test_export_ends_with_the_invoice_id(two_delivered: Home) -> None:
    out = two_delivered.invoke("invoices", "export").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.startswith("number,supplier,")  # scripts reading by position keep working
    assert out.splitlines()[0].endswith(",flow,mandate,id")
    assert {r["number"]: int(r["id"]) for r in rows} == _ids(two_delivered)


# -- 6: flows received between two days at the hub, newest first


def test_flows_list_since_until_in_the_hubs_time_zone(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deposit_at(moment: datetime, sample_name: str) -> None:
        monkeypatch.setattr("edi_engine.clock.now", lambda: moment)
        home.drop(SUPPLIER_1, sample_name, sample=sample_name)
        home.run()

    # 23:30 UTC on the 24th is 00:30 on the 25th in Paris
    deposit_at(datetime(2026, 11, 24, 23, 30, tzinfo=UTC), "ubl-invoice.xml")
    deposit_at(datetime(2026, 11, 26, 10, 0, tzinfo=UTC), "ubl-creditnote.xml")
    deposit_at(datetime(2026, 11, 27, 10, 0, tzinfo=UTC), "xsd-invalid.xml")

    def names(*args: str) -> list[str]:
        return [r["file_name"] for r in _json(home, "flows", "list", *args)]

    assert names("--since", "2026-11-25", "--until", "2026-11-25") == ["ubl-invoice.xml"]
    assert names("--since", "2026-11-26") == ["ubl-creditnote.xml", "xsd-invalid.xml"]
    assert names("--until", "2026-11-26") == ["ubl-invoice.xml", "ubl-creditnote.xml"]
    assert names("--newest-first") == ["xsd-invalid.xml", "ubl-creditnote.xml", "ubl-invoice.xml"]
    assert names("--newest-first", "--limit", "1") == ["xsd-invalid.xml"]

    result = home.invoke("flows", "list", "--since", "2026-11-27", "--until", "2026-11-26", code=2)
    assert "--since 2026-11-27 is after --until 2026-11-26" in result.stderr
    assert "2026-13-01" in home.invoke("flows", "list", "--since", "2026-13-01", code=2).stderr


# -- 8: a refusal under --json is a JSON object on stdout too


def test_json_refusals_are_json_objects(home: Home) -> None:
    result = home.invoke("flows", "show", "42", "--json", code=1)
    assert json.loads(result.stdout) == {
        "error": "flow_not_found",
        "message": "No flow has the number 'FL0000000042'; `edi-engine flows list` shows them.",
    }
    assert "FL0000000042" in result.stderr  # the sentence still on stderr

    result = home.invoke("flows", "list", "--json", "--since", "yesterday", code=2)
    refusal = json.loads(result.stdout)
    assert refusal["error"] == "bad_parameter" and "yesterday" in refusal["message"]

    result = home.invoke("invoices", "show", "99", "--json", code=1)
    assert json.loads(result.stdout)["error"] == "invoice_not_found"

    # without --json, stdout stays empty
    assert home.invoke("flows", "show", "42", code=1).stdout == ""


# -- 9 and 10: engagements checked against services, and withdrawn; inactive partners


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_engagement_for_a_service_the_structure_lacks_refuses_the_file(
    home: Home, tmp_path: Path
) -> None:
    home.invoke("structures", "import-services", config.path("demo/services.csv"))
    engagements = _csv(
        tmp_path,
        "engagements.csv",
        "siret,engagement,supplier,service_code\n"
        f"{VALBRUNE},EJ-1,,SERV-SCOL\n"
        f"{VALBRUNE},EJ-2,,SERV-PISCINE\n",
    )
    result = home.invoke("structures", "import-engagements", engagements, code=1)
    assert "line 3" in result.stderr and "'SERV-PISCINE' is not a service" in result.stderr
    assert _json(home, "structures", "show", VALBRUNE)["engagements"] == []


def test_an_engagement_naming_a_service_of_a_structure_without_services_is_refused(
    home: Home, tmp_path: Path
) -> None:
    engagements = _csv(
        tmp_path,
        "engagements.csv",
        f"siret,engagement,supplier,service_code\n{VALBRUNE},EJ-1,,\n{VALBRUNE},EJ-2,,SERV-SCOL\n",
    )
    result = home.invoke("structures", "import-engagements", engagements, code=1)
    assert "line 3" in result.stderr and "'SERV-SCOL' is not a service" in result.stderr
    assert _json(home, "structures", "show", VALBRUNE)["engagements"] == []


def test_a_withdrawn_engagement_refuses_the_invoice_citing_it(home: Home, tmp_path: Path) -> None:
    home.invoke("structures", "import-services", config.path("demo/services.csv"))
    home.invoke("structures", "import-engagements", config.path("demo/engagements.csv"))
    withdrawn = _csv(
        tmp_path,
        "withdrawn.csv",
        "siret,engagement,supplier,service_code,active\n"
        f"{VALBRUNE},EJ-VAL-2026-0412,{SUPPLIER_1_SIRET},SERV-SCOL,non\n",
    )
    assert "1 updated" in home.invoke("structures", "import-engagements", withdrawn).stderr
    shown = _json(home, "structures", "show", VALBRUNE)["engagements"]
    assert [(e["engagement"], e["active"]) for e in shown] == [
        ("EJ-VAL-2026-0412", False),
        ("EJ-VAL-2026-0433", True),
    ]
    # a file without the column leaves it as it is
    home.invoke("structures", "import-engagements", config.path("demo/engagements.csv"))
    assert not _json(home, "structures", "show", VALBRUNE)["engagements"][0]["active"]

    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    assert flow["status"] == "IN_REJETE"
    (error,) = home.show(flow["number"])["errors"]
    assert (error["code"], error["value"]) == ("ENGAGEMENT_INACTIVE", "EJ-VAL-2026-0412")
    assert "no longer active" in error["message"]


def test_an_inactive_partners_deposits_are_left_and_reported(home: Home) -> None:
    home.invoke("partners", "update", SUPPLIER_1, "--inactive")
    assert _json(home, "partners", "show", SUPPLIER_1)["active"] is False
    listed = {p["code"]: p["active"] for p in _json(home, "partners", "list")}
    assert listed == {RECIPIENT: True, SUPPLIER_1: False, SUPPLIER_2: True}

    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    result = home.invoke("run", "--once", "--json")
    assert json.loads(result.stdout) == [] and dropped.exists()
    assert f"partner {SUPPLIER_1} is inactive" in result.stderr
    assert "1 file(s)" in result.stderr

    home.invoke("partners", "update", SUPPLIER_1, "--active")
    (flow,) = home.run()
    assert flow["status"] == "IN_INTEGRE" and not dropped.exists()


# -- 11: a missing input file is a usage error naming it


@pytest.mark.parametrize(
    "command",
    [
        ("structures", "import"),
        ("structures", "import-services"),
        ("structures", "import-engagements"),
        ("validate",),
        ("convert",),
    ],
    ids=lambda c: " ".join(c),
)
def test_a_missing_input_file_is_a_usage_error(
    home: Home, tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "absent.csv"
    result = home.invoke(*command, missing, code=2)
    assert str(missing) in result.stderr and "does not exist" in result.stderr
