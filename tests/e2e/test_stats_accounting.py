"""`edi-engine stats accounting` (issue 6, item 3): of the invoices delivered in a period,
the share with an accounting status (09 or 11) and why the others have none, end to end
through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from edi_engine import clock
from pivot_format.model import InvoiceStatus

from .conftest import MONTCLAIR, RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home
from .test_statuses_in import ACCOUNTANT, EMPTY, deposit, invoice, status, statut_flow
from .test_statuses_out import accountant_home  # noqa: F401  (a fixture)

SUPPLIER_2_SIRET = "82345678500018"
# the demo's delivered invoices: to Valbrune (accountant HELIOS) and to Montclair (no
# accountant: its recipient's system, DEST01, relays the accounting statuses)
VALBRUNE_1, VALBRUNE_2 = "F01-2026-000101", "F01-2026-000102"  # ubl-invoice, ubl-batch-1
MONTCLAIR_1 = "F01-2026-000103"  # ubl-batch-2
VALBRUNE_3 = "F02-2026-000501"  # cii-invoice
MONTCLAIR_2, VALBRUNE_4 = "F02-2026-000502", "F02-2026-000503"  # pivot-multi (+1 rejected)
SAMPLES = {
    "ubl-invoice.xml": SUPPLIER_1,
    "batch/ubl-batch-1.xml": SUPPLIER_1,
    "batch/ubl-batch-2.xml": SUPPLIER_1,
    "cii-invoice.xml": SUPPLIER_2,
    "pivot-multi.xml": SUPPLIER_2,
}
NO_REASON = {
    "grouped_mandate": 0,
    "mandate_without_invoice_number": 0,
    "mandate_without_siret": 0,
    "no_mandate_received": 0,
}


def stats(home: Home, *args: str) -> dict:
    return json.loads(home.invoke("stats", "accounting", *args, "--json").stdout)


def deliver(home: Home, *samples: str) -> None:
    for sample in samples:
        home.drop(SAMPLES[sample], sample.replace("/", "-"), sample=sample)
    home.run()


def of_supplier_2(code: str, number: str, **facts: str) -> InvoiceStatus:
    return status(code, number=number, supplier=SUPPLIER_2_SIRET, **facts)


def at(monkeypatch: pytest.MonkeyPatch, *moment: int) -> None:
    monkeypatch.setattr(clock, "now", lambda: datetime(*moment, tzinfo=UTC))


def test_the_share_and_why_the_others_have_no_accounting_status(
    accountant_home: Home,  # noqa: F811
) -> None:
    home = accountant_home
    deliver(home, *SAMPLES)
    deposit(
        home, RECIPIENT, "mandates.xml",
        statut_flow(
            RECIPIENT,
            status("08", number=VALBRUNE_1, mandate="M-1"),
            status("08", number=VALBRUNE_2, mandate="M-2"),
            status("08", number=MONTCLAIR_1, mandate="M-3"),
            of_supplier_2("08", VALBRUNE_3, mandate="M-GROUPED"),
            of_supplier_2("08", VALBRUNE_4, mandate="M-GROUPED"),  # applied, with a warning
        ),
    )  # fmt: skip
    deposit(
        home, ACCOUNTANT, "helios.xml",
        statut_flow(
            ACCOUNTANT,
            status("09", number=VALBRUNE_1, mandate="M-1"),
            status("11", number=VALBRUNE_1),
            status("09", number=EMPTY, mandate="M-2"),  # STATUS_INVOICE_NUMBER_MISSING
            # STATUS_MANDATE_WITHOUT_SIRET, but its mandate is grouped: that reason comes first
            of_supplier_2("09", VALBRUNE_3, supplier_type="2", mandate="M-GROUPED"),
        ),
    )  # fmt: skip
    deposit(  # Montclair has no accountant: DEST01 relays, naming the supplier wrongly
        home, RECIPIENT, "relayed.xml",
        statut_flow(RECIPIENT, status("09", number=MONTCLAIR_1, supplier_type="2", mandate="M-3")),
    )  # fmt: skip

    assert stats(home) == {
        "from": None,
        "to": None,
        "delivered": 6,  # the pivot's invoice to an unknown structure was never delivered
        "with_accounting_status": 1,
        "share": 0.1667,
        "without": {
            "grouped_mandate": 2,
            "mandate_without_invoice_number": 1,
            "mandate_without_siret": 1,
            "no_mandate_received": 1,  # MONTCLAIR_2
        },
        "grouped_mandates": [{"mandate": "M-GROUPED", "invoices": [VALBRUNE_3, VALBRUNE_4]}],
    }

    shown = home.invoke("stats", "accounting").stdout
    assert "Invoices delivered, all time" in shown
    assert "without: mandate without invoice number │ 1" in shown
    assert "M-GROUPED" in shown and f"{VALBRUNE_3}, {VALBRUNE_4}" in shown
    assert "16.67% of them have an accounting status (09 or 11)." in shown


def test_the_period_is_the_hubs_date_of_the_first_delivery(
    accountant_home: Home,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = accountant_home
    at(monkeypatch, 2026, 12, 15, 10, 0)
    deliver(home, "ubl-invoice.xml", "batch/ubl-batch-1.xml")
    at(monkeypatch, 2026, 12, 31, 23, 30)  # 1 January, 00:30 in Paris
    deliver(home, "cii-invoice.xml")
    at(monkeypatch, 2027, 1, 10, 9, 0)
    deliver(home, "batch/ubl-batch-2.xml")
    at(monkeypatch, 2027, 1, 20, 9, 0)
    deposit(
        home, RECIPIENT, "mandates.xml",
        statut_flow(
            RECIPIENT,
            status("08", number=VALBRUNE_1, mandate="M-1"),
            status("08", number=VALBRUNE_2, mandate="M-SHARED"),
            status("08", number=MONTCLAIR_1, mandate="M-SHARED"),
            of_supplier_2("08", VALBRUNE_3, mandate="M-5"),
        ),
    )  # fmt: skip
    deposit(
        home, ACCOUNTANT, "helios.xml",
        statut_flow(
            ACCOUNTANT,
            status("09", number=VALBRUNE_1, mandate="M-1"),
            status("09", number=VALBRUNE_3, supplier=EMPTY, mandate="M-5"),  # no SIRET at all
        ),
    )  # fmt: skip

    december = {
        "from": "2026-12-01",
        "to": "2026-12-31",
        "delivered": 2,
        "with_accounting_status": 1,
        "share": 0.5,
        # the mandate is shared with an invoice delivered in January: the rule is broken,
        # but no mandate carries two invoices of December
        "without": {**NO_REASON, "grouped_mandate": 1},
        "grouped_mandates": [],
    }
    assert stats(home, "--from", "2026-12-01", "--to", "2026-12-31") == december
    assert stats(home, "--to", "2026-12-31") == {**december, "from": None}
    january = {
        "from": "2027-01-01",
        "to": "2027-01-31",
        "delivered": 2,
        "with_accounting_status": 0,
        "share": 0.0,
        "without": {**NO_REASON, "grouped_mandate": 1, "mandate_without_siret": 1},
        "grouped_mandates": [],
    }
    assert stats(home, "--from", "2027-01-01", "--to", "2027-01-31") == january
    assert stats(home, "--from", "2027-01-01") == {**january, "to": None}
    everything = stats(home)
    assert (everything["delivered"], everything["with_accounting_status"]) == (4, 1)
    assert everything["grouped_mandates"] == [
        {"mandate": "M-SHARED", "invoices": [VALBRUNE_2, MONTCLAIR_1]}
    ]

    nothing = stats(home, "--from", "2026-12-31", "--to", "2026-12-31")
    assert (nothing["delivered"], nothing["share"], nothing["without"]) == (0, 0, NO_REASON)
    assert "0.00% of them" in home.invoke("stats", "accounting", "--to", "2026-11-30").stdout

    monkeypatch.setenv("EDI_ENGINE_HUB_TIMEZONE", "UTC")  # then it was still 31 December
    assert stats(home, "--from", "2026-12-31", "--to", "2026-12-31")["delivered"] == 1


def test_a_recycled_invoice_counts_in_the_period_it_was_first_delivered(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, 2026, 12, 15, 10, 0)
    deliver(home, "ubl-invoice.xml")
    at(monkeypatch, 2027, 1, 5, 10, 0)
    invoice_id = invoice(home, VALBRUNE_1)["id"]
    home.invoke("invoices", "set-status", invoice_id, "A_RECYCLER", "--comment", "SIRET")
    home.invoke("invoices", "recycle", invoice_id, "--siret", MONTCLAIR, "--service-code", "")
    codes = [h["status_code"] for h in invoice(home, VALBRUNE_1)["history"]]
    assert codes == ["01", "02", "03", "04", "02", "03"]  # delivered again in January
    assert stats(home, "--from", "2026-12-01", "--to", "2026-12-31")["delivered"] == 1
    assert stats(home, "--from", "2027-01-01", "--to", "2027-01-31")["delivered"] == 0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--from", "2026-02-30"], "Invalid value for '--from'"),
        (["--to", "31/12/2026"], "Invalid value for '--to'"),
        (["--from", "2027-01-01", "--to", "2026-12-31"], "--from 2027-01-01 is after --to"),
    ],
)
def test_a_bad_period_is_a_usage_error(home: Home, args: list[str], said: str) -> None:
    result = home.invoke("stats", "accounting", *args, code=2)
    assert said in result.stderr
    assert result.stdout == ""
