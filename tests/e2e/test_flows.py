"""`flows list` and `flows show`: the JSON keys are contracts users' scripts read."""

from __future__ import annotations

import json

from .conftest import SUPPLIER_1, SUPPLIER_2, Home

FLOW_KEYS = {
    "number",
    "partner",
    "file_name",
    "syntax",
    "status",
    "received_at",
    "invoices",
    "rejected",
}


def _dropped_and_run(home: Home) -> list[dict]:
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "xsd-invalid.xml", sample="xsd-invalid.xml")
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample="pivot-multi.xml")
    return home.run()


def test_flows_list_keys_and_filters(home: Home) -> None:
    _dropped_and_run(home)
    rows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert len(rows) == 3 and all(set(r) >= FLOW_KEYS for r in rows)
    assert [r["number"] for r in rows] == sorted(r["number"] for r in rows)

    rejected = json.loads(home.invoke("flows", "list", "--status", "IN_REJETE", "--json").stdout)
    assert [r["file_name"] for r in rejected] == ["xsd-invalid.xml"]
    by_partner = json.loads(home.invoke("flows", "list", "--partner", SUPPLIER_2, "--json").stdout)
    assert [r["file_name"] for r in by_partner] == ["pivot-multi.xml"]


def test_flows_show_has_events_errors_and_invoices(home: Home) -> None:
    flows = {f["file_name"]: f for f in _dropped_and_run(home)}
    detail = home.show(flows["pivot-multi.xml"]["number"])

    assert set(detail) >= FLOW_KEYS
    assert [e["status"] for e in detail["events"]] == [
        "IN_RECU",
        "IN_EN_COURS_TRAITEMENT",
        "IN_INTEGRE_PARTIEL",
    ]
    assert all({"at", "status", "detail"} <= set(e) for e in detail["events"])
    (error,) = detail["errors"]
    assert {"code", "message", "line", "path"} <= set(error)
    assert error["code"] == "RECIPIENT_UNKNOWN"
    assert len(detail["invoice_list"]) == 3
    assert all(
        {"number", "supplier", "recipient", "status", "pivot_file"} <= set(i)
        for i in detail["invoice_list"]
    )


def test_flows_show_prints_a_readable_timeline(home: Home) -> None:
    flows = {f["file_name"]: f for f in _dropped_and_run(home)}
    out = home.invoke("flows", "show", flows["xsd-invalid.xml"]["number"]).stdout
    assert "IN_REJETE" in out and "Timeline" in out and "XSD_INVALID" in out


def test_unknown_flow_number_is_refused(home: Home) -> None:
    result = home.invoke("flows", "show", "FL9999999999", code=1)
    assert "FL9999999999" in result.stderr


def test_run_table_shows_the_files_produced(home: Home) -> None:
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    out = home.invoke("run", "--once").stdout
    assert "IN_INTEGRE" in out and "PIVOT_DEST01_" in out and "CR_FOUR01_" in out
