"""Configurable attachment limits and the strict CII D16B schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SUPPLIER_1, SUPPLIER_2, Home, sample


def test_attachment_over_the_limit_rejects_its_invoice_only(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the UBL sample embeds a PDF of 882 bytes; the deposited document itself (PJ 01), though
    # bigger, counts in the invoice's total only
    monkeypatch.setenv("EDI_ENGINE_LIMITS_MAX_ATTACHMENT_BYTES", "800")
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    detail = home.show(flow["number"])
    (error,) = detail["errors"]
    assert error["code"] == "ATTACHMENT_TOO_LARGE"
    assert error["value"] == "F01-2026-000101.pdf"
    assert "882" in error["message"] and "800" in error["message"]
    (invoice,) = detail["invoice_list"]
    assert (invoice["number"], invoice["status"]) == ("F01-2026-000101", "REFUSEE_RECEPTION")


def test_attachments_of_one_invoice_are_bounded_together(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_LIMITS_MAX_INVOICE_ATTACHMENTS_BYTES", "3000")
    home.drop(SUPPLIER_2, "cii-invoice.xml", sample="cii-invoice.xml")

    (flow,) = home.run()

    assert [e["code"] for e in home.show(flow["number"])["errors"]] == [
        "INVOICE_ATTACHMENTS_TOO_LARGE"
    ]


def _d16b_only(content: bytes) -> bytes:
    """A CII invoice with ram:VersionID: valid UN/CEFACT D16B, unknown to Factur-X EXTENDED."""
    closing = b"</ram:IssueDateTime>\n  </rsm:ExchangedDocument>"
    assert closing in content
    return content.replace(
        closing, closing.replace(b"\n", b"\n    <ram:VersionID>2</ram:VersionID>\n", 1), 1
    )


def test_strict_d16b_schema_is_used_when_configured(
    home: Home, monkeypatch: pytest.MonkeyPatch, cii_d16b_dir: Path
) -> None:
    home.drop(SUPPLIER_2, "d16b.xml", _d16b_only(sample("cii-invoice.xml")))
    (default,) = home.run()
    assert default["status"] == "IN_REJETE"
    assert "VersionID" in home.show(default["number"])["errors"][0]["message"]

    monkeypatch.setenv("EDI_ENGINE_SCHEMAS_CII_DIR", str(cii_d16b_dir))
    home.drop(
        SUPPLIER_2,
        "d16b-again.xml",
        _d16b_only(sample("cii-invoice.xml")).replace(b"F02-2026-000501", b"F02-2026-000599"),
    )
    (strict,) = home.run()
    assert (strict["syntax"], strict["status"]) == ("IN_DP_E1_CII_16B", "IN_INTEGRE")


def test_a_strict_schema_folder_without_the_schema_is_a_configuration_error(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "no-schema"
    empty.mkdir()
    monkeypatch.setenv("EDI_ENGINE_SCHEMAS_CII_DIR", str(empty))
    result = home.invoke("flows", "list", code=2)
    assert "CrossIndustryInvoice_100pD16B.xsd" in result.stderr and str(empty) in result.stderr
