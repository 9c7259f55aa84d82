"""What a partner writes is shown as written, never read as terminal markup.

A warning now lets an invoice through with its bad IBAN, so the value lands in the
run's table: `[/bold]` in it once made `run --once` and `flows show` fail (exit 3) and
a daemon stop for every partner.
"""

from __future__ import annotations

import json

from .conftest import SUPPLIER_1, Home
from .test_acknowledgements import acknowledge
from .test_controls import ubl

MARKUP_IBAN = "FR00[/bold]12"
MARKUP_FILE = "[red]x.xml"


def test_markup_in_an_iban_and_a_file_name_is_shown_literally(home: Home) -> None:
    home.drop(SUPPLIER_1, MARKUP_FILE, ubl(iban=MARKUP_IBAN))

    table = home.invoke("run", "--once").stdout  # exits 0
    assert MARKUP_FILE in table and MARKUP_IBAN in table

    (flow,) = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert flow["status"] == "IN_INTEGRE"
    shown = home.invoke("flows", "show", flow["number"]).stdout  # exits 0
    assert f"file {MARKUP_FILE}" in shown
    assert MARKUP_IBAN in shown
    listed = home.invoke("flows", "list").stdout
    assert MARKUP_FILE in listed


def test_an_invoice_delivered_again_is_named_as_tables_show_it(home: Home) -> None:
    """`invoices redeliver` says the invoice's number as a table shows it: as written,
    never read as markup (a number with a carriage return is refused at reception now,
    INVOICE_NUMBER_INVISIBLE_CHARACTERS; any other value is shown escaped)."""
    home.drop(SUPPLIER_1, "f.xml", ubl("F01[/bold]X"))
    (flow,) = home.run()
    (invoice,) = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert invoice["number"] == "F01[/bold]X"
    acknowledge(home, "94", flow["number"])  # the recipient could not take its pivot
    table = home.invoke("invoices", "search", "--delivery-incident").stdout
    assert "delivery_incident" in table and " 94 " in table

    said = home.invoke("invoices", "redeliver", invoice["id"]).stderr

    assert f"Invoice {invoice['id']} (F01[/bold]X) delivered again" in said
