"""`[controls.severity]` read from the home's file and the environment (issue 11, item 2):
every control code with its default, what a hub may change, and what is refused at start,
naming the key and why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import config
from edi_engine import settings
from edi_engine.controls import CATALOGUE
from edi_engine.controls.catalogue import LOCKED, default_severities, graded
from edi_engine.errors import ConfigurationError
from edi_engine.problems import REJECT, WARNING

TUNABLE = sorted(set(CATALOGUE) - set(LOCKED))
ERRORS_DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


@pytest.fixture(autouse=True)
def no_user_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.delenv(name)


def _load(tmp_path: Path, table: str) -> settings.Settings:
    (tmp_path / settings.CONFIG_FILE).write_text(f"[controls.severity]\n{table}\n")
    return settings.load(tmp_path)


def _refusal(tmp_path: Path, table: str) -> str:
    with pytest.raises(ConfigurationError) as refused:
        _load(tmp_path, table)
    return refused.value.message


def test_every_control_has_its_default_and_iban_invalid_now_warns(tmp_path: Path) -> None:
    severity = settings.load(tmp_path, require_file=False).controls.severity
    assert set(severity) == set(CATALOGUE)
    warned = sorted(code for code, level in severity.items() if level == "warn")
    assert warned == ["ENGAGEMENT_SERVICE_MISMATCH", "IBAN_INVALID"]
    assert {severity[code] for code in set(CATALOGUE) - set(warned)} == {"reject"}


def test_a_table_naming_some_codes_keeps_the_others_defaults(tmp_path: Path) -> None:
    severity = _load(
        tmp_path, 'IBAN_INVALID = "reject"\nENGAGEMENT_SERVICE_MISMATCH = "off"\n'
    ).controls.severity
    assert (severity["IBAN_INVALID"], severity["ENGAGEMENT_SERVICE_MISMATCH"]) == ("reject", "off")
    assert (severity["CURRENCY_UNKNOWN"], severity["TOTAL_TTC_MISMATCH"]) == ("reject", "reject")


@pytest.mark.parametrize("code", TUNABLE)
@pytest.mark.parametrize("level", ["reject", "warn", "off"])
def test_every_control_outside_routing_and_integrity_takes_every_severity(
    tmp_path: Path, code: str, level: str
) -> None:
    assert _load(tmp_path, f'{code} = "{level}"').controls.severity[code] == level


def test_the_environment_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_CONTROLS_SEVERITY_IBAN_INVALID", "reject")
    monkeypatch.setenv("EDI_ENGINE_CONTROLS_SEVERITY_SERVICE_CODE_UNKNOWN", " Warn ")
    severity = _load(tmp_path, 'IBAN_INVALID = "off"').controls.severity
    assert (severity["IBAN_INVALID"], severity["SERVICE_CODE_UNKNOWN"]) == ("reject", "warn")


@pytest.mark.parametrize("code", sorted(LOCKED))
@pytest.mark.parametrize("level", ["warn", "off"])
def test_lowering_a_control_of_routing_or_integrity_is_refused_naming_key_and_reason(
    tmp_path: Path, code: str, level: str
) -> None:
    message = _refusal(tmp_path, f'{code} = "{level}"')
    assert message.startswith(f"controls.severity.{code} (")
    assert str(tmp_path / settings.CONFIG_FILE) in message
    assert f"cannot be lowered to '{level}': {LOCKED[code]}." in message


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("RECIPIENT_UNKNOWN", "no one to deliver it to"),
        ("INVOICE_DUPLICATE", "paid, twice"),
        ("DUPLICATE_FLOW", "processed, and its invoices delivered, twice"),
        ("XSD_INVALID", "schema refuses"),
        ("TOTAL_TTC_MISMATCH", "totals that do not add up"),
    ],
)
def test_each_guarded_control_says_what_lowering_it_would_break(code: str, reason: str) -> None:
    assert reason in LOCKED[code]


def test_a_guarded_control_may_be_named_as_reject(tmp_path: Path) -> None:
    loaded = _load(tmp_path, 'TOTAL_TTC_MISMATCH = "reject"\nXSD_INVALID = "reject"')
    assert loaded.controls.severity["TOTAL_TTC_MISMATCH"] == "reject"
    assert "XSD_INVALID" not in loaded.controls.severity  # a flow's check, not an invoice's


def test_a_configuration_naming_the_retired_unsupported_syntax_still_starts(
    tmp_path: Path,
) -> None:
    """No CR carries UNSUPPORTED_SYNTAX any more; a hub that wrote it, as "reject", keeps
    starting."""
    loaded = _load(tmp_path, 'UNSUPPORTED_SYNTAX = "reject"')
    assert "UNSUPPORTED_SYNTAX" not in loaded.controls.severity


def test_lowering_from_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_CONTROLS_SEVERITY_INVOICE_DUPLICATE", "off")
    with pytest.raises(ConfigurationError) as refused:
        settings.load(tmp_path, require_file=False)
    assert refused.value.message.startswith(
        "controls.severity.INVOICE_DUPLICATE (EDI_ENGINE_CONTROLS_SEVERITY_INVOICE_DUPLICATE) "
        "cannot be lowered to 'off'"
    )


@pytest.mark.parametrize(
    ("table", "key", "why"),
    [
        ('IBAN_INVALD = "warn"', "IBAN_INVALD", "did you mean IBAN_INVALID?"),
        ('iban_invalid = "warn"', "iban_invalid", "did you mean IBAN_INVALID?"),
        ('MISSING_ELEMENT = "warn"', "MISSING_ELEMENT", "docs/errors.md"),
    ],
)
def test_a_code_no_control_has_is_refused_naming_the_key(
    tmp_path: Path, table: str, key: str, why: str
) -> None:
    message = _refusal(tmp_path, table)
    assert message.startswith(f"controls.severity.{key} (")
    assert "is not the code of a control whose severity the hub sets" in message
    assert why in message


@pytest.mark.parametrize(
    ("value", "found"), [('"warning"', "'warning'"), ('"error"', "'error'"), ("1", "1")]
)
def test_a_severity_other_than_reject_warn_or_off_is_refused_naming_the_key(
    tmp_path: Path, value: str, found: str
) -> None:
    message = _refusal(tmp_path, f"IBAN_INVALID = {value}")
    assert message.startswith("controls.severity.IBAN_INVALID (")
    assert message.endswith(f'must be "reject", "warn" or "off"; found {found}.')


def test_severity_must_be_a_table(tmp_path: Path) -> None:
    (tmp_path / settings.CONFIG_FILE).write_text('[controls]\nseverity = "warn"\n')
    with pytest.raises(ConfigurationError, match=r"\[controls\.severity\] must be a table"):
        settings.load(tmp_path)


def test_findings_are_graded_as_the_hub_set_their_controls() -> None:
    found = [
        CATALOGUE["IBAN_INVALID"].fails("FR00"),
        CATALOGUE["CURRENCY_UNKNOWN"].fails("ABC"),
        CATALOGUE["ENGAGEMENT_SERVICE_MISMATCH"].fails(
            "EJ-1", engagement_service="S1", service="S2"
        ),
        CATALOGUE["ISSUE_DATE_AFTER_DEPOSIT"].fails("2999-01-01", deposit="2026-01-01"),
    ]
    severity = {
        "IBAN_INVALID": "reject",
        "CURRENCY_UNKNOWN": "warn",
        "ENGAGEMENT_SERVICE_MISMATCH": "off",
    }
    kept = graded(found, severity)
    assert [(p.code, p.severity, p.rejects) for p in kept] == [
        ("IBAN_INVALID", REJECT, True),
        ("CURRENCY_UNKNOWN", WARNING, False),
        ("ISSUE_DATE_AFTER_DEPOSIT", REJECT, True),  # not named: the catalogue's severity
    ]
    assert kept[0].message_fr == found[0].message_fr  # only the severity changes


def test_the_errors_doc_gives_each_controls_default_and_whether_it_may_be_lowered() -> None:
    rows = re.findall(
        r"^\| `([A-Z_]+)` \| (reject|warn) \| (yes|no: [^|]+) \|", ERRORS_DOC.read_text(), re.M
    )
    documented = {code: (default, lowered != "yes") for code, default, lowered in rows}
    defaults = default_severities()
    assert documented == {code: (defaults[code], code in LOCKED) for code in CATALOGUE}


def test_the_shipped_configuration_lists_the_guarded_controls_under_their_comment() -> None:
    """`init` writes this file: a hub reads there which lines it may change."""
    text = config.path(config.DEFAULT_CONFIG).read_text()
    table = text[text.index("[controls.severity]") :].split("\n[", 1)[0]
    free, guarded = table.split("# These protect routing and integrity")
    assert set(re.findall(r"^([A-Z_]+) = ", guarded, re.M)) == set(LOCKED) & set(CATALOGUE)
    assert set(re.findall(r"^([A-Z_]+) = ", free, re.M)) == set(TUNABLE)
