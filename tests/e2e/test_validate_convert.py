"""`validate` and `convert`: what a supplier's developer runs on a file before sending it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from generated import SAMPLES, corpus_cases, corpus_path, samples_where
from lxml import etree

import config

INVALID = str(config.path("demo/xsd-invalid.xml"))
GOOD = [
    str(config.path(f"demo/{n}")) for n in ("ubl-invoice.xml", "cii-invoice.xml", "pivot-multi.xml")
]


# Factur-X MINIMUM and BASIC WL carry no lines, which the EXTENDED schema the engine
# checks every CII against does not allow (edi_engine/reception/validation.py should take the
# schema of the profile the guideline names)
WITHOUT_LINES = ["cii-profile-minimum.xml", "cii-profile-basicwl.xml"]


def _written(tmp_path: Path, names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(SAMPLES[name].content)
        paths.append(path)
    return paths


# generated documents that are valid against their schema and that EN 16931's rules
# refuse, as they really break them: what each is written for needs the breach
REFUSED_BY_THE_RULES = {
    # intra-community supply (K) with no buyer VAT number, delivery date nor deliver-to
    # country: the sample is there for the pivot's VAT categories
    "ubl-exempt-categories.xml": {"BR-IC-02", "BR-IC-11", "BR-IC-12"},
    "cii-exempt-categories.xml": {"BR-IC-02", "BR-IC-11", "BR-IC-12"},
    # the buyer's contact has both a person and a department name (EXTENDED), which the
    # reader maps to the pivot's NomService
    "cii-invoice-full.xml": {"CII-SR-466"},
    # an application/zip attachment, which the norm's MIME code list does not have
    "ubl-prepaid-rounding.xml": {"BR-CL-24"},
    "cii-prepaid-rounding.xml": {"FX-SCH-A-000287"},
    # a credit note's type code (381) in a UBL Invoice: the sample's very point
    "ubl-credit-note-as-invoice.xml": {"BR-CL-01"},
}


def test_every_document_is_reported_valid(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    """Every generated document (and each corpus file of ../shared when it is there) is
    valid against its schema; the rules refuse only those that really break them."""
    generated = _written(tmp_path, samples_where())
    files = generated + [corpus_path(case) for case in corpus_cases()]
    results = json.loads(run_cli("validate", "--rules", "--json", *files, code=None).stdout)
    assert len(results) == len(files)
    assert [r["file"] for r in results if not r["schema_valid"]] == []
    refused = {
        Path(r["file"]).name: {f["id"] for f in r["rules"] if f["severity"] == "reject"}
        for r in results
        if not r["rules_valid"] and Path(r["file"]).parent == tmp_path
    }
    assert refused == REFUSED_BY_THE_RULES
    syntaxes = {r["syntax"] for r in results}
    assert syntaxes == {"IN_DP_E1_UBL_INVOICE", "IN_DP_E1_CII_16B"}


def test_factur_x_without_lines_is_reported_valid(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    files = _written(tmp_path, WITHOUT_LINES)
    results = json.loads(run_cli("validate", "--json", *files).stdout)
    assert [r["file"] for r in results if not r["valid"]] == []


def test_a_document_without_lines_that_names_a_profile_with_lines_is_invalid(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    """Only MINIMUM and BASIC WL may omit lines: EN 16931 says it has them."""
    content = SAMPLES["cii-profile-minimum.xml"].content.replace(
        b"urn:factur-x.eu:1p0:minimum", b"urn:cen.eu:en16931:2017"
    )
    path = tmp_path / "en16931-without-lines.xml"
    path.write_bytes(content)
    (result,) = json.loads(run_cli("validate", "--json", path, code=1).stdout)
    assert result["valid"] is False
    assert {e["code"] for e in result["errors"]} == {"XSD_INVALID"}


def test_valid_files_exit_zero_and_name_their_syntax(run_cli: Callable[..., Result]) -> None:
    out = run_cli("validate", *GOOD).stdout
    assert "ubl-invoice.xml: IN_DP_E1_UBL_INVOICE: valid" in out
    assert "cii-invoice.xml: IN_DP_E1_CII_16B: valid" in out
    assert "pivot-multi.xml: IN_DP_E2_CPP_FACTURE: valid" in out


def test_invalid_file_exits_one_with_line_and_path(run_cli: Callable[..., Result]) -> None:
    result = run_cli("validate", GOOD[0], INVALID, code=1)
    assert "xsd-invalid.xml: IN_DP_E1_UBL_INVOICE: INVALID" in result.stdout
    (error,) = [line for line in result.stdout.splitlines() if "[XSD_INVALID]" in line][:1]
    assert "line " in error and "path /" in error and "DocumentCurrencyCode" in error


def test_explain_says_what_was_expected(run_cli: Callable[..., Result]) -> None:
    result = run_cli("validate", "--explain", "--json", INVALID, code=1)
    (report,) = json.loads(result.stdout)
    assert report["explanations"]
    assert any("DocumentCurrencyCode" in reason for reason in report["explanations"])


def test_validate_names_what_is_wrong_with_a_non_invoice(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    text = tmp_path / "notes.xml"
    text.write_text("hello")
    (r1, r2) = json.loads(run_cli("validate", "--json", empty, text, code=1).stdout)
    assert [e["code"] for e in r1["errors"]] == ["EMPTY_FILE"]
    assert [e["code"] for e in r2["errors"]] == ["NOT_XML"]


def test_convert_writes_a_pivot_our_schema_and_the_official_one_accept(
    tmp_path: Path,
    run_cli: Callable[..., Result],
    pivot_schemas: list[tuple[str, etree.XMLSchema]],
) -> None:
    out = tmp_path / "pivot.xml"
    result = run_cli("convert", GOOD[1], "-o", out, "--partner", "DEST01")
    assert "1 invoice" in result.stderr
    pivot = etree.parse(str(out))
    for label, schema in pivot_schemas:
        assert schema.validate(pivot), (label, schema.error_log)
    assert pivot.findtext(".//DonneesFacture/Id") == "F02-2026-000501"
    assert pivot.findtext(".//Recepteur/Id") == "DEST01"


def test_convert_prints_to_stdout_without_output(run_cli: Callable[..., Result]) -> None:
    result = run_cli("convert", GOOD[0])
    assert result.stdout.startswith("<?xml")
    assert "<CPPFacturePivot" in result.stdout


def test_convert_refuses_an_invalid_file_saying_why(run_cli: Callable[..., Result]) -> None:
    result = run_cli("convert", INVALID, code=1)
    assert "xsd-invalid.xml is not valid" in result.stderr
    assert "DocumentCurrencyCode" in result.stderr


@pytest.mark.parametrize("name", ["ubl-buyer-without-siret.xml", "cii-buyer-without-siret.xml"])
def test_convert_refuses_a_buyer_without_siret(
    name: str, tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    """The buyer is named by a GLN and a SIREN: no SIRET to route the invoice by."""
    (path,) = _written(tmp_path, [name])
    result = run_cli("convert", path, code=1)
    assert "no valid SIRET" in result.stderr
