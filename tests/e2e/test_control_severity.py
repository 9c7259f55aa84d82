"""A hub sets what each control does, `[controls.severity]` (issue 11, item 2), end to end.

The supplier sees it in the CR (`NatureErreur`, `severity=` in `DescriptionErreur`), the
operator in `flows show --json` (`severity`) and `invoices show` (`warnings`), the
recipient by getting the pivot or not. A setting that would lower a control guarding
routing or integrity stops the engine before it takes anything.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import MONTCLAIR, SUPPLIER_1, Home
from .test_controls import (
    BAD_IBAN,
    Outcome,
    delivered,
    deposit,
    ubl,
    with_engagements,
    with_services,
)

# the hub's own controls' severities alone: EN 16931's rules would refuse first
pytestmark = pytest.mark.usefixtures("rules_off")


def set_severity(home: Home, code: str, level: str) -> None:
    """Change one line of the [controls.severity] table `init` wrote."""
    config = home.path / "edi-engine.toml"
    text, count = re.subn(
        rf'^{code} = "[a-z]+"$', f'{code} = "{level}"', config.read_text(), flags=re.M
    )
    assert count == 1, f"{code} is not in the table init wrote"
    config.write_text(text)


def cr_line(outcome: Outcome, code: str) -> tuple[str, str]:
    """(NatureErreur, the severity= its DescriptionErreur states) of the CR line for `code`."""
    (line,) = [line for line in outcome.cr_lines if line.code == code]
    (severity,) = re.findall(r"(?:^|; )severity=(\w+)", line.detail)
    return line.nature, severity


def test_by_default_a_wrong_iban_is_integrated_with_a_warning_in_its_cr(home: Home) -> None:
    (outcome,) = deposit(home, ubl(iban=BAD_IBAN))

    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE", "90")
    assert outcome.ledger == [("F01-2026-000101", "MISE_A_DISPOSITION", "03")]
    assert outcome.codes() == ["IBAN_INVALID"]
    assert cr_line(outcome, "IBAN_INVALID") == ("Avertissement", "warning")
    assert outcome.error("IBAN_INVALID")["severity"] == "warning"
    assert [unit.findtext("DonneesFacture/Id") for unit in delivered(home)] == ["F01-2026-000101"]


@pytest.mark.parametrize("where", ["file", "environment"])
def test_a_hub_that_sets_iban_invalid_to_reject_refuses_the_invoice(
    home: Home, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "file":
        set_severity(home, "IBAN_INVALID", "reject")
    else:  # the environment wins over the file, which says "warn"
        monkeypatch.setenv("EDI_ENGINE_CONTROLS_SEVERITY_IBAN_INVALID", "reject")

    (outcome,) = deposit(home, ubl(iban=BAD_IBAN))

    assert (outcome.state, outcome.cr_status) == ("IN_REJETE", "93")
    assert outcome.ledger == [("F01-2026-000101", "REFUSEE_RECEPTION", None)]
    assert cr_line(outcome, "IBAN_INVALID") == ("Facture", "reject")
    assert outcome.error("IBAN_INVALID")["severity"] == "reject"
    assert delivered(home) == []


def test_a_control_set_off_leaves_no_finding_anywhere(home: Home) -> None:
    set_severity(home, "IBAN_INVALID", "off")

    (outcome,) = deposit(home, ubl(iban=BAD_IBAN))

    assert (outcome.state, outcome.cr_status) == ("IN_INTEGRE", "90")
    assert outcome.cr_lines == [] and outcome.errors == []
    assert "warning" not in outcome.cr_comment
    (invoice,) = outcome.detail["invoice_list"]
    shown = json.loads(home.invoke("invoices", "show", invoice["id"], "--json").stdout)
    assert (shown["status"], shown["warnings"], shown["errors"]) == ("MISE_A_DISPOSITION", [], [])
    assert len(delivered(home)) == 1


def test_a_warning_raised_to_reject_refuses_the_invoice(home: Home) -> None:
    with_services(home)
    with_engagements(home)
    set_severity(home, "ENGAGEMENT_SERVICE_MISMATCH", "reject")

    # EJ-VAL-2026-0700 was published for SERV-TECH; the invoice is addressed to SERV-SCOL
    refused, fine = deposit(
        home,
        ubl("F01-2026-000101", engagement="EJ-VAL-2026-0700", service="SERV-SCOL"),
        ubl("F01-2026-000102", engagement="EJ-VAL-2026-0700", service="SERV-TECH"),
    )

    assert (refused.state, refused.cr_status) == ("IN_REJETE", "93")
    assert refused.codes() == ["ENGAGEMENT_SERVICE_MISMATCH"]
    assert cr_line(refused, "ENGAGEMENT_SERVICE_MISMATCH") == ("Facture", "reject")
    assert (fine.state, fine.cr_lines) == ("IN_INTEGRE", [])
    assert [unit.findtext("DonneesFacture/Id") for unit in delivered(home)] == ["F01-2026-000102"]


def test_a_lowered_warning_and_a_rejection_in_one_flow_are_told_apart(home: Home) -> None:
    """A rejection and a warning side by side: each line says which it is."""
    set_severity(home, "ISSUE_DATE_AFTER_DEPOSIT", "warn")

    (outcome,) = deposit(home, ubl(issue_date="2999-01-01", currency="ABC"))

    assert (outcome.state, outcome.cr_status) == ("IN_REJETE", "93")
    assert cr_line(outcome, "ISSUE_DATE_AFTER_DEPOSIT") == ("Avertissement", "warning")
    assert cr_line(outcome, "CURRENCY_UNKNOWN") == ("Facture", "reject")
    severities = {error["code"]: error["severity"] for error in outcome.errors}
    assert severities == {"ISSUE_DATE_AFTER_DEPOSIT": "warning", "CURRENCY_UNKNOWN": "reject"}


def test_recycling_controls_the_invoice_again_with_the_hubs_severities(home: Home) -> None:
    (outcome,) = deposit(home, ubl(iban=BAD_IBAN))  # delivered with its warning
    (invoice,) = outcome.detail["invoice_list"]
    home.invoke("invoices", "set-status", invoice["id"], "A_RECYCLER", "--comment", "SIRET")
    set_severity(home, "IBAN_INVALID", "reject")

    refused = home.invoke("invoices", "recycle", invoice["id"], "--siret", MONTCLAIR, code=1)
    assert "IBAN_INVALID" in refused.stderr and "stays A_RECYCLER" in refused.stderr

    set_severity(home, "IBAN_INVALID", "off")
    home.invoke("invoices", "recycle", invoice["id"], "--siret", MONTCLAIR)
    shown = json.loads(home.invoke("invoices", "show", invoice["id"], "--json").stdout)
    assert (shown["status"], shown["recipient"], shown["warnings"]) == (
        "MISE_A_DISPOSITION",
        MONTCLAIR,
        [],
    )


def test_a_configuration_lowering_a_totals_control_stops_the_engine_naming_the_key(
    home: Home,
) -> None:
    set_severity(home, "TOTAL_TTC_MISMATCH", "warn")
    dropped = home.drop(SUPPLIER_1, "waiting.xml", ubl())

    # a ConfigurationError is a usage error: exit 2, one sentence on stderr
    result = home.invoke("run", "--once", code=2)

    assert "controls.severity.TOTAL_TTC_MISMATCH" in result.stderr
    assert "cannot be lowered to 'warn'" in result.stderr
    assert "totals that do not add up" in result.stderr
    assert "Traceback" not in result.stderr
    assert dropped.exists(), "nothing was taken"


def test_an_unknown_code_in_the_environment_stops_the_engine_naming_the_variable(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_CONTROLS_SEVERITY_IBAN_INVALDI", "warn")

    result = home.invoke("flows", "list", code=2)

    assert "controls.severity.IBAN_INVALDI" in result.stderr
    assert "EDI_ENGINE_CONTROLS_SEVERITY_IBAN_INVALDI" in result.stderr
    assert "did you mean IBAN_INVALID?" in result.stderr
