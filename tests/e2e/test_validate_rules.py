"""`validate --rules` (issue 15, item 3): the XSD's verdict and the official business
rules' apart, the rules run even on a document the XSD refuses, a fatal rule makes the
file invalid (exit 1), and the JSON keys a supplier's script reads."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from generated import SAMPLES, write
from lxml import etree

import config

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
RULE_KEYS = {"id", "flag", "location", "message"}
Run = Callable[..., Result]


def _invoice() -> etree._Element:
    """A generated UBL invoice that every EN 16931 rule accepts: three lines at two VAT
    rates and a document allowance (the Factur-X profiles' spec, written as UBL)."""
    content = write(SAMPLES["cii-profile-en16931.xml"].spec, "ubl")
    return etree.fromstring(content, etree.XMLParser(remove_blank_text=True))


def _written(path: Path, root: etree._Element) -> Path:
    """Pretty-printed, so that each element has a line of its own."""
    path.write_bytes(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
    return path


def _lines_off(root: etree._Element) -> etree._Element:
    """The first line's net amount (BT-131) raised by 10.00: the lines no longer add up to
    the invoice's sum of line net amounts (BT-106), which breaks BR-CO-10."""
    amount = root.find(f"{{{CAC}}}InvoiceLine/{{{CBC}}}LineExtensionAmount")
    amount.text = f"{float(amount.text) + 10:.2f}"
    return root


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A folder without a configuration: the default settings (EN 16931's rules on)."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def _validate(run_cli: Run, home: Path, *args: object, code: int | None = 0) -> Result:
    return run_cli("--home", home, "validate", *args, code=code)


def _results(run_cli: Run, home: Path, *files: Path, code: int = 0) -> list[dict]:
    return json.loads(_validate(run_cli, home, "--rules", "--json", *files, code=code).stdout)


def test_a_valid_invoice_passes_the_xsd_and_the_rules(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    path = _written(tmp_path / "valid.xml", _invoice())
    (result,) = _results(run_cli, home, path)
    assert (result["schema_valid"], result["rules_valid"], result["valid"]) == (True, True, True)
    assert result["rules"] == []
    assert result["rule_sets"] == ["en16931"]
    out = _validate(run_cli, home, "--rules", path).stdout
    assert "schema: valid" in out
    assert "rules (en16931): valid" in out


def test_lines_that_do_not_add_up_break_br_co_10_and_make_the_file_invalid(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    path = _written(tmp_path / "lines-off.xml", _lines_off(_invoice()))
    (result,) = _results(run_cli, home, path, code=1)
    assert result["schema_valid"] is True
    assert result["rules_valid"] is False
    assert result["valid"] is False
    for finding in result["rules"]:
        assert set(finding) >= RULE_KEYS
        assert finding["flag"] in ("fatal", "warning")
    (br_co_10,) = [f for f in result["rules"] if f["id"] == "BR-CO-10"]
    assert br_co_10["flag"] == "fatal"
    assert br_co_10["severity"] == "reject"
    assert "Sum of Invoice line net amount (BT-106)" in br_co_10["message"]
    assert br_co_10["location"] == "/Invoice/cac:LegalMonetaryTotal"
    assert br_co_10["line"] == _line_of(path, "<cac:LegalMonetaryTotal>")
    out = _validate(run_cli, home, "--rules", path, code=1).stdout
    assert "lines-off.xml: IN_DP_E1_UBL_INVOICE: INVALID" in out
    assert "schema: valid" in out
    assert "[BR-CO-10] fatal, line " in out
    assert "path /Invoice/cac:LegalMonetaryTotal: [BR-CO-10]-Sum of Invoice line" in out


def test_without_rules_validate_shows_the_rules_findings_like_every_other_error(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    """Valid against its schema, refused by EN 16931: plain `validate` says so as `run`
    would, the rule among the errors; the verdicts apart are --rules' alone."""
    path = _written(tmp_path / "lines-off.xml", _lines_off(_invoice()))
    (result,) = json.loads(_validate(run_cli, home, "--json", path, code=1).stdout)
    assert result["valid"] is False
    assert "BR-CO-10" in {e["code"] for e in result["errors"]}
    assert "rules" not in result and "schema_valid" not in result
    out = _validate(run_cli, home, path, code=1).stdout
    assert out.startswith(f"{path}: IN_DP_E1_UBL_INVOICE: INVALID\n")
    assert "  [BR-CO-10] " in out


def test_the_rules_run_on_a_document_the_xsd_refuses(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    root = _lines_off(_invoice())
    etree.SubElement(root, f"{{{CBC}}}NotInTheSchema").text = "x"
    path = _written(tmp_path / "xsd-invalid.xml", root)
    (result,) = _results(run_cli, home, path, code=1)
    assert result["schema_valid"] is False
    assert {e["code"] for e in result["errors"]} == {"XSD_INVALID"}
    assert result["rules_valid"] is False
    assert ("BR-CO-10", "fatal") in {(f["id"], f["flag"]) for f in result["rules"]}
    assert any("diagnostic" in note for note in result["rules_notes"])
    out = _validate(run_cli, home, "--rules", path, code=1).stdout
    assert "schema: INVALID" in out
    assert "[XSD_INVALID]" in out
    assert "rules (en16931): INVALID" in out
    assert "[BR-CO-10] fatal" in out


def test_a_document_that_cannot_be_read_just_says_so(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(b"<Invoice><cbc:ID>1</Invoice>")
    (result,) = _results(run_cli, home, path, code=1)
    assert result["schema_valid"] is False
    assert result["rules_valid"] is False
    assert result["rules"] == []
    assert result["rules_notes"] == [
        "The file could not be read as a document: the rules were not run."
    ]


def test_the_rules_do_not_apply_to_a_pivot(home: Path, run_cli: Run) -> None:
    path = config.path("demo/pivot-multi.xml")
    (result,) = _results(run_cli, home, path)
    assert (result["schema_valid"], result["rules_valid"], result["rules"]) == (True, True, [])
    assert "do not apply" in result["rules_notes"][0]


def test_one_invalid_file_among_valid_ones_exits_one(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    valid = _written(tmp_path / "valid.xml", _invoice())
    broken = _written(tmp_path / "lines-off.xml", _lines_off(_invoice()))
    pivot = config.path("demo/pivot-multi.xml")
    results = _results(run_cli, home, valid, broken, pivot, code=1)
    assert [r["valid"] for r in results] == [True, False, True]


def test_a_batch_names_the_member_each_finding_is_about(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as batch:
        batch.writestr("valid.xml", etree.tostring(_invoice()))
        batch.writestr("lines-off.xml", etree.tostring(_lines_off(_invoice())))
    path = tmp_path / "batch.zip"
    path.write_bytes(buffer.getvalue())
    (result,) = _results(run_cli, home, path, code=1)
    assert result["schema_valid"] is True
    assert {f["document"] for f in result["rules"]} == {"lines-off.xml"}
    assert "BR-CO-10" in {f["id"] for f in result["rules"]}


def test_a_warning_alone_leaves_the_file_valid(tmp_path: Path, home: Path, run_cli: Run) -> None:
    """UBL-CR-003 (a UBL invoice should not include the ProfileExecutionID) is a warning."""
    root = _invoice()
    profile = root.find(f"{{{CBC}}}ProfileID")
    profile.addnext(etree.Element(f"{{{CBC}}}ProfileExecutionID"))
    profile.getnext().text = "1"
    path = _written(tmp_path / "warned.xml", root)
    (result,) = _results(run_cli, home, path)
    assert [(f["id"], f["flag"], f["severity"]) for f in result["rules"]] == [
        ("UBL-CR-003", "warning", "warn")
    ]
    assert (result["schema_valid"], result["rules_valid"], result["valid"]) == (True, True, True)


def test_the_hub_s_rule_sets_and_severities_are_used(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    """No set on in [rules]: EN 16931's, said on stderr. A fatal rule the hub lowered to
    a warning still makes the file invalid here (the norm's verdict), shown with the
    hub's severity beside it."""
    (home / "edi-engine.toml").write_text(
        '[rules]\nen16931 = false\n[controls.severity]\n"BR-CO-10" = "warn"\n'
    )
    path = _written(tmp_path / "lines-off.xml", _lines_off(_invoice()))
    result = _validate(run_cli, home, "--rules", "--json", path, code=1)
    assert "No rule set is on in [rules]: the files are checked against en16931." in (result.stderr)
    (found,) = json.loads(result.stdout)
    assert found["rule_sets"] == ["en16931"]
    (br_co_10,) = [f for f in found["rules"] if f["id"] == "BR-CO-10"]
    assert (br_co_10["flag"], br_co_10["severity"]) == ("fatal", "warn")
    out = _validate(run_cli, home, "--rules", path, code=1).stdout
    assert "[BR-CO-10] fatal (this hub: warn), line" in out


def test_rules_that_stop_on_a_value_are_said_not_checked_never_passed(
    tmp_path: Path, home: Path, run_cli: Run
) -> None:
    """A value no rule can compute with (an amount with two decimal points, which the XSD
    refuses too) stops the stylesheet: the invoice is not checked, and says so under
    RULES_NOT_CHECKED, naming the stylesheet; it is never taken as valid."""
    root = _invoice()
    root.find(f"{{{CAC}}}InvoiceLine/{{{CBC}}}LineExtensionAmount").text = "-0.001161.50"
    path = _written(tmp_path / "two-points.xml", root)
    (result,) = _results(run_cli, home, path, code=1)
    assert result["schema_valid"] is False and result["rules_valid"] is False
    stopped = [f for f in result["rules"] if f["id"] == "RULES_NOT_CHECKED"]
    assert stopped and stopped[0]["flag"] == "fatal"
    assert "EN16931-UBL-validation.xslt" in stopped[0]["message"]
    assert "not delivered unchecked" in stopped[0]["message"]
