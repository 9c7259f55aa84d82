"""A pivot written ahead by a worker process, before its recipient and ledger id are known
(issue 14, item 3), is completed by the writer into exactly the pivot it would have
written itself: byte for byte, whatever the invoice's values say."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from lxml import etree

import config
from edi_engine.reception import validation
from edi_engine.reception.identify import PIVOT
from pivot_format import cii, pivot, ubl
from pivot_format.cpp import to_bytes
from pivot_format.errors import ConversionError
from pivot_format.model import Envelope, Invoice

DEPOSITED = date(2026, 12, 3)
AHEAD_DAY, WRITTEN_DAY = date(2026, 12, 4), date(2026, 12, 5)  # written after midnight


def _envelope(receiver: str, day: date) -> Envelope:
    return Envelope(
        flow_id="FL0000000042",
        produced_at=day,
        sender_id="HUB",
        receiver_id=receiver,
        sender_label="Hub",
    )


def _demo_invoices() -> list[Invoice]:
    def root(name: str) -> etree._Element:
        return etree.fromstring(config.path(f"demo/{name}").read_bytes())

    found = [
        ubl.read_invoice(root("ubl-invoice.xml")),
        ubl.read_invoice(root("ubl-creditnote.xml")),
    ]
    found.append(cii.read_invoice(root("cii-invoice.xml")))
    found += [pivot.read_invoice(e) for e in pivot.invoice_elements(root("pivot-multi.xml"))]
    deposited = found[-1].attachments  # a pivot's; the engine adds the deposited file
    return [
        replace(i, reception_date=DEPOSITED, renvoi="Non", attachments=i.attachments or deposited)
        for i in found
    ]


def _completed(invoice: Invoice, receiver: str, id_cpro: int) -> bytes:
    ahead = to_bytes(pivot.written_ahead(invoice, _envelope("XXX", AHEAD_DAY)))
    return pivot.completed(ahead, receiver, id_cpro, WRITTEN_DAY)


@pytest.mark.parametrize("n", range(len(_demo_invoices())))
@pytest.mark.parametrize(("receiver", "id_cpro"), [("DEST01", 1), ("ABC", 9_876_543_210)])
def test_a_completed_pivot_is_the_pivot_the_writer_writes(n: int, receiver: str, id_cpro: int):
    invoice = _demo_invoices()[n]
    written = pivot.write_pivot(
        [replace(invoice, id_cpro=id_cpro)], _envelope(receiver, WRITTEN_DAY)
    )
    assert _completed(invoice, receiver, id_cpro) == written
    assert validation.check_output(PIVOT, written) == []


STAND_INS = st.sampled_from(
    [
        f"<Recepteur><Id>{pivot.RECEIVER_STANDIN}</Id>",
        f"<IdCPRO>{pivot.ID_STANDIN}</IdCPRO>",
        "<Code>DtPrd</Code><Valeurparametre>",
        pivot.RECEIVER_STANDIN,
        "&<>\"'",
    ]
)


@given(st.lists(STAND_INS | st.text(max_size=5), min_size=1, max_size=4).map("".join))
def test_an_invoice_quoting_the_stand_ins_is_completed_as_written(text: str) -> None:
    """A hostile supplier puts the stand-ins' markup in its invoice's values: they are
    escaped in the pivot, never taken for the stand-ins."""
    invoice = replace(_demo_invoices()[0], number=text[:20] or "X", payment_means_label=text)
    try:
        written = pivot.write_pivot([replace(invoice, id_cpro=7)], _envelope("DEST01", WRITTEN_DAY))
    except (ConversionError, ValueError):
        assume(False)  # a value the pivot refuses is refused ahead as well
    assert _completed(invoice, "DEST01", 7) == written


def test_a_pivot_the_schema_refuses_is_told_without_parsing_it_back() -> None:
    tree = pivot.written_ahead(_demo_invoices()[0], _envelope("XXX", AHEAD_DAY))
    tree.find(".//DonneesFacture/Type").text = "not a type code"
    (message,) = validation.check_tree(PIVOT, tree)[:1]
    assert "Type" in message and message.startswith("at /CPPFacturePivot/")
