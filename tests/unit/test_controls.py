"""The business-control catalogue and its checks, without a home (issue 5).

Every entry is a public contract (code, severity, element, French and English messages
that name the value found); the checks are called directly on model invoices, so that
each template is formatted with the very facts its check passes.
"""

from __future__ import annotations

import re
import string
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree

import config
from edi_engine import controls
from edi_engine.controls import CATALOGUE, Duplicates, Reception, Recipient, Referential
from edi_engine.controls.catalogue import in_french
from edi_engine.controls.identifiers import currencies, iban_is_valid
from edi_engine.problems import REJECT, WARNING, Problem
from pivot_format._common import pivot_type_code
from pivot_format.errors import ConversionError
from pivot_format.model import Debiteur, Invoice, Line, Supplier, VatLine

REPO = Path(__file__).resolve().parents[2]
ERRORS_DOC = REPO / "docs" / "errors.md"

D = Decimal
VALBRUNE = "21990101400015"
SUPPLIER = "81234567600025"
IBAN = "FR7630099001230001234567827"

# -- the catalogue itself -------------------------------------------------------------


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# controls that fire because something is absent: they have no value to name, and name
# the structure (or what the buyer carried instead) instead
WITHOUT_VALUE = {
    "RECIPIENT_MISSING",
    "SERVICE_CODE_REQUIRED",
    "ENGAGEMENT_REQUIRED",
    "ENGAGEMENT_OR_SERVICE_CODE_REQUIRED",
}


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_entry_is_a_complete_contract(code: str) -> None:
    control = CATALOGUE[code]
    assert control.code == code
    assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", code)
    assert control.severity in {REJECT, WARNING}
    assert control.element.strip() and " " not in control.element
    assert control.fr.strip() and control.en.strip()
    assert control.fr != control.en
    french, english = _fields(control.fr), _fields(control.en)
    # the same facts in both languages (RECIPIENT_MISSING words what it found per language)
    assert {name.removesuffix("_fr") for name in french} == {
        name.removesuffix("_en") for name in english
    }
    if code in WITHOUT_VALUE:
        assert "value" not in french
        assert french & {"siret", "found_fr"}, "names the structure or what was found"
    else:
        assert "value" in french and "value" in english


def test_codes_are_unique_and_by_default_only_a_commitment_mismatch_and_an_iban_warn() -> None:
    assert len({control.code for control in controls.catalogue.CONTROLS}) == len(CATALOGUE)
    assert [c.code for c in CATALOGUE.values() if c.severity == WARNING] == [
        "ENGAGEMENT_SERVICE_MISMATCH",
        "IBAN_INVALID",
    ]


def test_every_code_is_explained_in_the_errors_doc() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", ERRORS_DOC.read_text()))
    assert sorted(set(CATALOGUE) - documented) == []


def _a_pivot_invoice() -> etree._Element:
    root = etree.parse(str(config.path("demo/pivot-multi.xml"))).getroot()
    return root.find("CPPFactures/CPPFacturePivotUnitaire")


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_element_is_one_of_the_pivot(code: str) -> None:
    """The CR names the element in the pivot's vocabulary: it must be found in a pivot."""
    assert _a_pivot_invoice().find(CATALOGUE[code].element) is not None


def test_fails_gives_a_problem_of_the_controls_severity_in_both_languages() -> None:
    problem = CATALOGUE["CURRENCY_UNKNOWN"].fails("ABC")
    assert (problem.code, problem.severity, problem.value) == ("CURRENCY_UNKNOWN", REJECT, "ABC")
    assert problem.element == "DonneesFacture/Devise"
    assert "ABC" in problem.message and "ABC" in problem.message_fr
    warning = CATALOGUE["ENGAGEMENT_SERVICE_MISMATCH"].fails(
        "EJ-1", engagement_service="A", service="B"
    )
    assert (warning.severity, warning.rejects) == (WARNING, False)
    required = CATALOGUE["SERVICE_CODE_REQUIRED"].fails(siret=VALBRUNE, name="Valbrune")
    assert required.value is None


def test_in_french_gives_a_readers_problem_the_catalogues_french() -> None:
    with pytest.raises(ConversionError) as raised:
        pivot_type_code("389", "cbc:InvoiceTypeCode")
    exc = raised.value
    problem = Problem(exc.code, exc.message, element=exc.element, value=exc.value)

    french = in_french(problem)

    assert french.code == "UNSUPPORTED_TYPE" and french.value == "389"
    assert french.message == problem.message  # the reader's precise English reason stays
    assert french.message_fr == CATALOGUE["UNSUPPORTED_TYPE"].fails("389").message_fr
    assert "389" in french.message_fr
    # a problem that already speaks French, or is not a control, is left alone
    assert in_french(french.at(message_fr="déjà")).message_fr == "déjà"
    other = Problem("XSD_INVALID", "bad")
    assert in_french(other) is other


def test_in_french_leaves_a_problem_whose_template_needs_more_facts() -> None:
    problem = Problem("RECIPIENT_INACTIVE", "inactive", value=VALBRUNE)  # needs {name}
    assert in_french(problem) is problem


# -- every check, called on model invoices ---------------------------------------------


def _invoice(**changes: Any) -> Invoice:
    """ubl-invoice.xml as the model holds it: FOUR01 to VALBRUNE, consistent totals."""
    invoice = Invoice(
        number="F01-2026-000101",
        type_code="380",
        issue_date=date(2026, 11, 2),
        currency="EUR",
        supplier=Supplier(SUPPLIER, "1", "Papeteries Delorme SAS", "FR", iban=IBAN),
        debiteur=Debiteur(VALBRUNE, "Commune de Valbrune", service_code="SERV-SCOL"),
        amount_ht=D("709.10"),
        amount_ttc=D("800.11"),
        amount_net=D("800.11"),
        engagement_number="EJ-VAL-2026-0412",
        vat_lines=(
            VatLine(D("20"), D("358.70"), D("71.74")),
            VatLine(D("5.5"), D("350.40"), D("19.27")),
        ),
        lines=(
            Line(1, D("4.25"), D("40"), D("170.00"), vat_rate=D("20")),
            Line(2, D("62.90"), D("3"), D("188.70"), vat_rate=D("20")),
            Line(3, D("14.60"), D("24"), D("350.40"), vat_rate=D("5.5")),
        ),
        line_total=D("709.10"),
        allowance_total=D("0"),
        charge_total=D("0"),
        vat_total=D("91.01"),
        prepaid=D("0"),
        rounding=D("0"),
    )
    return replace(invoice, **changes)


class _NoLedger:
    """A session for Duplicates and Referential that knows nothing."""

    def scalar(self, _query: object) -> None:
        return None

    def get_bind(self) -> SimpleNamespace:
        return SimpleNamespace(dialect=SimpleNamespace(name="sqlite"))

    def execute(self, _query: object, _values: object = None) -> _NoRows:
        return _NoRows()


class _NoRows(list):
    def first(self) -> None:
        return None


def _referential(**flags: bool) -> Referential:
    structures = {
        VALBRUNE: Recipient(VALBRUNE, "Commune de Valbrune", True, "DEST01", **flags),
        "25990303700010": Recipient("25990303700010", "Syndicat du Haut-Vernay", False, "DEST01"),
    }
    return Referential(
        _NoLedger(),
        structures,
        {(VALBRUNE, "SERV-SCOL"): True, (VALBRUNE, "SERV-TECH"): True, (VALBRUNE, "OLD"): False},
        {VALBRUNE},
        {VALBRUNE},
        _engagements={
            (VALBRUNE, "EJ-VAL-2026-0412"): [(SUPPLIER, "SERV-SCOL", True)],
            (VALBRUNE, "EJ-VAL-2026-0500"): [(None, None, True)],
            (VALBRUNE, "EJ-VAL-2026-0700"): [(SUPPLIER, "SERV-TECH", True)],
            (VALBRUNE, "EJ-VAL-2025-0099"): [(SUPPLIER, "SERV-SCOL", False)],  # withdrawn
        },
    )


def _check(
    invoice: Invoice,
    referential: Referential | None = None,
    seen: dict | None = None,
    tolerance: str = "0.01",
) -> list[Problem]:
    duplicates = Duplicates(_NoLedger())
    for key, flow_number in (seen or {}).items():
        duplicates.remember(key, flow_number)
    reception = Reception(
        referential or _referential(),
        duplicates,
        "FOUR01-20261127-0001",
        deposit_date=date(2026, 11, 27),
        tolerance=D(tolerance),
        vat_tolerance=D("1"),
    )
    return controls.check(invoice, reception)[1]


def test_a_consistent_invoice_passes_every_check() -> None:
    assert _check(_invoice()) == []
    # allowances and charges, a prepaid amount and a rounding, all consistent
    assert (
        _check(
            _invoice(
                amount_ht=D("800.00"),
                allowance_total=D("9.10"),
                charge_total=D("100.00"),
                vat_lines=(
                    VatLine(D("20"), D("449.60"), D("89.92")),
                    VatLine(D("5.5"), D("350.40"), D("19.27")),
                ),
                vat_total=D("109.19"),
                amount_ttc=D("909.19"),
                prepaid=D("100.00"),
                rounding=D("-0.19"),
                amount_net=D("809.00"),
            )
        )
        == []
    )


KEY = (SUPPLIER, "F01-2026-000101", 2026)
FAILING: dict[str, tuple[dict[str, Any], dict[str, bool], dict | None, str | None]] = {
    # code: (invoice changes, structure flags, already seen, value found)
    "RECIPIENT_MISSING": (
        {"debiteur": Debiteur(None, raw_identifier="3012345678901", raw_scheme="0088")},
        {},
        None,
        "3012345678901",
    ),
    "RECIPIENT_INVALID": ({"debiteur": Debiteur("21990101400016")}, {}, None, "21990101400016"),
    "RECIPIENT_UNKNOWN": ({"debiteur": Debiteur("73282932000074")}, {}, None, "73282932000074"),
    "RECIPIENT_INACTIVE": ({"debiteur": Debiteur("25990303700010")}, {}, None, "25990303700010"),
    "SERVICE_CODE_REQUIRED": (
        {"debiteur": Debiteur(VALBRUNE)},
        {"service_code_required": True},
        None,
        None,
    ),
    "SERVICE_CODE_UNKNOWN": (
        {"debiteur": Debiteur(VALBRUNE, service_code="NOPE"), "engagement_number": None},
        {},
        None,
        "NOPE",
    ),
    "SERVICE_CODE_INACTIVE": (
        {"debiteur": Debiteur(VALBRUNE, service_code="OLD"), "engagement_number": None},
        {},
        None,
        "OLD",
    ),
    "ENGAGEMENT_REQUIRED": ({"engagement_number": None}, {"engagement_required": True}, None, None),
    "ENGAGEMENT_OR_SERVICE_CODE_REQUIRED": (
        {"engagement_number": None, "debiteur": Debiteur(VALBRUNE)},
        {"engagement_or_service_code": True},
        None,
        None,
    ),
    "ENGAGEMENT_UNKNOWN": ({"engagement_number": "EJ-NOPE"}, {}, None, "EJ-NOPE"),
    "ENGAGEMENT_INACTIVE": (
        {"engagement_number": "EJ-VAL-2025-0099"},
        {},
        None,
        "EJ-VAL-2025-0099",
    ),
    "ENGAGEMENT_SERVICE_MISMATCH": (
        {"engagement_number": "EJ-VAL-2026-0700"},
        {},
        None,
        "EJ-VAL-2026-0700",
    ),
    "INVOICE_DUPLICATE": ({}, {}, {KEY: "FOUR01-20261101-0007"}, "F01-2026-000101"),
    "INVOICE_NUMBER_INVISIBLE_CHARACTERS": (
        {"number": "F01-2026-\u200b000109"},
        {},
        None,
        "F01-2026-<U+200B>000109",
    ),
    "ISSUE_DATE_AFTER_DEPOSIT": ({"issue_date": date(2026, 11, 28)}, {}, None, "2026-11-28"),
    "CURRENCY_UNKNOWN": ({"currency": "EURO"}, {}, None, "EURO"),
    "TOTAL_LINES_MISMATCH": (
        {"charge_total": D("100.00")},  # declared, but in neither HT nor the bases
        {},
        None,
        "709.10",
    ),
    "TOTAL_VAT_BASE_MISMATCH": (
        {"charge_total": D("100.00"), "amount_ht": D("809.10"), "amount_ttc": D("900.11")}
        | {"amount_net": D("900.11")},
        {},
        None,
        "809.10",
    ),
    "TOTAL_VAT_AMOUNT_MISMATCH": (
        {
            "vat_lines": (
                VatLine(D("20"), D("358.70"), D("72.84")),
                VatLine(D("5.5"), D("350.40"), D("19.27")),
            ),
            "vat_total": D("92.11"),
            "amount_ttc": D("801.21"),
            "amount_net": D("801.21"),
        },
        {},
        None,
        "72.84",
    ),
    "TOTAL_VAT_LINES_MISMATCH": (
        {
            "lines": (
                Line(1, D("4.25"), D("40"), D("170.00"), vat_rate=D("20")),
                Line(2, D("62.90"), D("3"), D("188.70"), vat_rate=D("20")),
                Line(3, D("14.60"), D("24"), D("350.40"), vat_rate=D("10")),
            )
        },
        {},
        None,
        None,  # one finding per rate: see the test
    ),
    "TOTAL_VAT_SUM_MISMATCH": ({"vat_total": D("91.03")}, {}, None, "91.03"),
    "TOTAL_TTC_MISMATCH": (
        {"amount_ttc": D("800.13"), "amount_net": D("800.13")},
        {},
        None,
        "800.13",
    ),
    "TOTAL_NET_MISMATCH": ({"prepaid": D("100.00")}, {}, None, "800.11"),
    "IBAN_INVALID": (
        {"supplier": Supplier(SUPPLIER, "1", "P", "FR", iban="FR7530099001230001234567827")},
        {},
        None,
        "FR7530099001230001234567827",
    ),
}


def test_every_control_but_the_readers_has_a_failing_case() -> None:
    # SUPPLIER_NOT_ALLOWED needs partners in a ledger: tests/e2e/test_depositors.py
    assert set(FAILING) == set(CATALOGUE) - {"UNSUPPORTED_TYPE", "SUPPLIER_NOT_ALLOWED"}


@pytest.mark.parametrize("code", sorted(FAILING))
def test_each_check_fails_alone_with_its_templates_formatted(code: str) -> None:
    changes, flags, seen, value = FAILING[code]

    problems = _check(_invoice(**changes), _referential(**flags), seen)

    assert {problem.code for problem in problems} == {code}
    control = CATALOGUE[code]
    for problem in problems:
        assert (problem.severity, problem.element) == (control.severity, control.element)
        for message in (problem.message, problem.message_fr):
            assert message and not re.search(r"[{}]", message), message
        if value is not None:
            assert problem.value == value
            assert value in problem.message and value in problem.message_fr


def test_vat_lines_mismatch_names_each_rate_that_does_not_add_up() -> None:
    changes, *_ = FAILING["TOTAL_VAT_LINES_MISMATCH"]
    problems = _check(_invoice(**changes))
    by_rate = {problem.value: problem.message for problem in problems}
    # 5.5 %: base 350.40, no line; 10 %: no base (0), a line of 350.40
    assert set(by_rate) == {"350.40", "0"}
    assert "5.5%" in by_rate["350.40"] and "10%" in by_rate["0"]


def test_failures_are_all_reported_and_a_bad_recipient_does_not_hide_the_others() -> None:
    problems = _check(
        _invoice(
            debiteur=Debiteur("73282932000074"),
            currency="ABC",
            issue_date=date(2026, 12, 1),
            amount_ttc=D("801.11"),
            amount_net=D("801.11"),
        ),
        seen={KEY: "FOUR01-20261101-0007"},
    )
    assert [problem.code for problem in problems] == [
        "RECIPIENT_UNKNOWN",
        "ISSUE_DATE_AFTER_DEPOSIT",
        "CURRENCY_UNKNOWN",
        "TOTAL_TTC_MISMATCH",
        "INVOICE_DUPLICATE",
    ]


@pytest.mark.parametrize(
    ("changes", "flags"),
    [
        # a structure without services takes any service code
        ({"debiteur": Debiteur("25990303700010", service_code="ANY")}, None),
        # an engagement published with an empty supplier and service fits everyone
        ({"engagement_number": "EJ-VAL-2026-0500"}, {}),
        # no engagement: fine unless required
        ({"engagement_number": None}, {}),
        ({"engagement_number": None}, {"engagement_or_service_code": True}),
        ({"debiteur": Debiteur(VALBRUNE)}, {"engagement_or_service_code": True}),
        # a RIB is not an IBAN; no bank details at all
        (
            {"supplier": Supplier(SUPPLIER, "1", "P", "FR", iban="123", bank_reference_type="RIB")},
            {},
        ),
        ({"supplier": Supplier(SUPPLIER, "1", "P", "FR")}, {}),
        # a pivot (no BT-106 to BT-114): its net is not compared with its TTC
        ({"prepaid": None, "rounding": None, "vat_total": None, "amount_net": D("1.00")}, {}),
        # the issue date may be the deposit date
        ({"issue_date": date(2026, 11, 27)}, {}),
    ],
)
def test_what_passes(changes: dict[str, Any], flags: dict[str, bool] | None) -> None:
    referential = _referential(**(flags or {}))
    if flags is None:  # the inactive structure, made active for the occasion
        referential.structures["25990303700010"] = replace(
            referential.structures["25990303700010"], active=True
        )
    assert _check(_invoice(**changes), referential) == []


@pytest.mark.parametrize(
    ("changes", "duplicate"),
    [
        ({}, True),
        ({"issue_date": date(2026, 1, 1)}, True),  # same year
        ({"issue_date": date(2025, 12, 31)}, False),
        ({"number": "F01-2026-000102"}, False),
        (
            {
                "supplier": Supplier("82345678500018", "1", "Garnier", "FR"),
                "engagement_number": "EJ-VAL-2026-0500",
            },
            False,
        ),
    ],
)
def test_duplicates_are_by_supplier_number_and_year(
    changes: dict[str, Any], duplicate: bool
) -> None:
    problems = _check(_invoice(**changes), seen={KEY: "FOUR01-20261101-0007"})
    assert [p.code for p in problems] == (["INVOICE_DUPLICATE"] if duplicate else [])
    if duplicate:
        assert "FOUR01-20261101-0007" in problems[0].message
        assert "FOUR01-20261101-0007" in problems[0].message_fr


@pytest.mark.parametrize(
    ("tolerance", "ttc", "fails"),
    [("0.01", "800.12", False), ("0.01", "800.13", True), ("0.05", "800.16", False)],
)
def test_tolerance_is_inclusive(tolerance: str, ttc: str, fails: bool) -> None:
    problems = _check(_invoice(amount_ttc=D(ttc), amount_net=D(ttc)), tolerance=tolerance)
    assert [p.code for p in problems] == (["TOTAL_TTC_MISMATCH"] if fails else [])


# -- identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    [
        "FR7630099001230001234567827",
        "FR76 3009 9001 2300 0123 4567 827",
        "fr76 3009 9001 2300 0123 4567 827",
        "FR1420041010050500013M02606",  # letters in the account
        "DE89370400440532013000",
        "DE89 3704 0044 0532 0130 00",
        "de89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "NO9386011117947",  # the shortest: 15 characters
    ],
)
def test_valid_ibans(iban: str) -> None:
    assert iban_is_valid(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "FR7530099001230001234567827",  # wrong check digits
        "DE88370400440532013000",
        "DE89370400440532013001",  # one account digit changed
        "GB82WEST12345698765433",
        "30099001230001234567827",  # no country: a domestic number
        "FRXX30099001230001234567827",  # check digits not digits
        "FR76",  # too short
        "FR76300990",
        "FR76-3009-9001-2300-0123-4567-827",  # other separators
        "FR763009900123000123456782700000000",  # 35 characters, over ISO 13616's 34
        "",
    ],
)
def test_invalid_ibans(iban: str) -> None:
    assert not iban_is_valid(iban)


def test_currencies_are_iso_4217() -> None:
    known = currencies()
    assert {"EUR", "USD", "GBP", "CHF", "JPY", "XPF"} <= known
    assert not {"EURO", "ABC", "eur", "", "EU"} & known
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in known)
