"""Large pivot flows are read invoice by invoice, with the same outcome as small ones."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import RECIPIENT, SUPPLIER_2, Home, sample


def _outcome(home: Home) -> tuple[dict, dict, dict[str, bytes]]:
    (flow,) = home.run()
    detail = home.show(flow["number"])
    pivots = {
        name: (home.path / "outbox" / RECIPIENT / name).read_bytes()
        for name in home.outbox(RECIPIENT)
    }
    return flow, detail, pivots


def test_streamed_pivot_flow_ends_like_a_small_one(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample="pivot-multi.xml")
    flow, detail, pivots = _outcome(home)

    monkeypatch.setenv("EDI_ENGINE_LIMITS_STREAM_BYTES", "1")
    for path in (home.path / "outbox").rglob("*.xml"):
        path.unlink()
    # the same content again would be a duplicate flow: re-run this one from its archive instead
    home.drop(
        SUPPLIER_2,
        "pivot-multi-2.xml",
        sample("pivot-multi.xml").replace(b"F02-2026-00050", b"G02-2026-00050"),
    )
    streamed, streamed_detail, streamed_pivots = _outcome(home)

    assert (streamed["syntax"], streamed["status"], streamed["invoices"], streamed["rejected"]) == (
        flow["syntax"],
        flow["status"],
        flow["invoices"],
        flow["rejected"],
    )
    assert [i["status"] for i in streamed_detail["invoice_list"]] == [
        i["status"] for i in detail["invoice_list"]
    ]
    assert [e["code"] for e in streamed_detail["errors"]] == [e["code"] for e in detail["errors"]]
    assert len(streamed_pivots) == len(pivots) == 2
    number, streamed_number = flow["number"], streamed["number"]
    ids = {i["number"]: i["id"] for i in detail["invoice_list"]}
    streamed_ids = {i["number"]: i["id"] for i in streamed_detail["invoice_list"]}
    for name, content in pivots.items():
        twin = streamed_pivots[name.replace(number, streamed_number)]
        (invoice,) = re.findall(rb"<Id>(F02-2026-\d+)</Id>", content)
        same = content.replace(number.encode(), streamed_number.encode()).replace(
            b"F02-2026-00050", b"G02-2026-00050"
        )
        # each invoice carries its own id in the ledger (IdCPRO): the other flow's are new
        invoice_id, twin_id = ids[invoice.decode()], streamed_ids["G" + invoice.decode()[1:]]
        same = same.replace(f"<IdCPRO>{invoice_id}<".encode(), f"<IdCPRO>{twin_id}<".encode())
        assert twin == same


def test_streamed_invalid_pivot_is_refused_before_any_pivot_is_written(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_LIMITS_STREAM_BYTES", "1")
    content = sample("pivot-multi.xml")
    last = content.rindex(b"<Devise>EUR</Devise>")  # the third invoice's currency
    broken = (
        content[:last] + b"<Devise>EURO</Devise>" + content[last + len(b"<Devise>EUR</Devise>") :]
    )
    home.drop(SUPPLIER_2, "pivot-bad.xml", broken)

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    (error,) = home.show(flow["number"])["errors"]
    assert error["code"] == "XSD_INVALID"
    assert "EURO" in error["message"]
    assert error["line"] == broken[:last].count(b"\n") + 1
    assert (
        error["path"]
        == "/CPPFacturePivot/CPPFactures/CPPFacturePivotUnitaire[3]/DonneesFacture/Devise"
    )
    assert home.outbox(RECIPIENT) == []


def test_validate_streams_a_large_pivot(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("EDI_ENGINE_LIMITS_STREAM_BYTES", "1")
    good = tmp_path / "good.xml"
    good.write_bytes(sample("pivot-multi.xml"))
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(sample("pivot-multi.xml")[:-200])

    result = home.invoke("validate", "--json", good, truncated, code=1)

    ok, cut = json.loads(result.stdout)
    assert (ok["syntax"], ok["valid"]) == ("IN_DP_E2_CPP_FACTURE", True)
    assert not cut["valid"]
    assert [e["code"] for e in cut["errors"]] == ["NOT_XML"]
