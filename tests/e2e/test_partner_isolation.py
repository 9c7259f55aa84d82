"""No partner learns anything about another (issue 13, item 4), end to end through
`run --once`.

Each probe a hostile partner ran is run again, and its answer compared byte for byte with
the answer to the same probe about an invoice (a pivot, a flow) that does not exist: the
CRs are the same but for the number probed, the flow that answers and the time. Whatever
the partner asks about another's invoice, it is told what it would be told of nothing.
"""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from lxml import etree

from . import test_statuses_in
from .conftest import (
    MONTCLAIR,
    RECIPIENT,
    SUPPLIER_1,
    SUPPLIER_1_SIRET,
    SUPPLIER_2,
    Home,
    sample,
)
from .test_acknowledgements import FLOW, PIVOT, acknowledgement
from .test_controls import ubl
from .test_statuses_in import (
    ACCOUNTANT,
    NUMBER,
    OTHER_RECIPIENT,
    cr_lines,
    deposit,
    invoice,
    status,
    statut_flow,
)

delivered = test_statuses_in.delivered  # F01-2026-000101 (FOUR01) delivered to DEST01
NOWHERE = "F01-2026-999999"  # the same length as NUMBER: no invoice has it
TIME = re.compile(rb"<Horodatage>[^<]*</Horodatage>|\d{4}-\d{2}-\d{2}")


def cr_bytes(home: Home, flow: dict) -> bytes:
    partner, number = flow["partner"], flow["number"]
    return (home.path / "outbox" / partner / f"CR_{partner}_{number}.xml").read_bytes()


def answer(home: Home, flow: dict, probed: str) -> bytes:
    """The flow's CR with what differs between two probes put aside: the value probed,
    the number of the flow that answers, the time it was written."""
    text = cr_bytes(home, flow).replace(flow["number"].encode(), b"<FLOW>")
    return TIME.sub(b"<TIME>", text.replace(probed.encode(), b"<PROBED>"))


def probe(home: Home, partner: str, content_of: dict[str, bytes]) -> dict[str, bytes]:
    """Each probe deposited under the same file name, answered in its own run."""
    answers = {}
    for probed, content in content_of.items():
        flow = deposit(home, partner, "probe.xml", content)
        answers[probed] = answer(home, flow, probed)
        assert flow["partner"] == partner
    return answers


# -- statuses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partner", "code", "invoice_date"),
    [
        (OTHER_RECIPIENT, "05", date(2026, 11, 2)),  # the recipient of another structure
        (OTHER_RECIPIENT, "07", None),
        (SUPPLIER_2, "12", date(2026, 11, 2)),  # a supplier's connection, not its own
        (ACCOUNTANT, "10", None),  # Valbrune's accountant: it knows the invoice
    ],
    ids=["recipient", "recipient, no date", "supplier", "accountant"],
)
def test_a_status_about_another_partners_invoice_is_answered_as_one_about_nothing(
    delivered: Home, partner: str, code: str, invoice_date: date | None
) -> None:
    def flow(number: str) -> bytes:
        return statut_flow(
            partner, status(code, number, invoice_date=invoice_date, comment="Motif")
        )

    answers = probe(delivered, partner, {NUMBER: flow(NUMBER), NOWHERE: flow(NOWHERE)})

    if partner == ACCOUNTANT:  # it may know of the invoice: told why it may not set 10
        assert answers[NUMBER] != answers[NOWHERE]
        assert b"STATUS_NOT_YOURS_TO_SET" in answers[NUMBER]
        return
    assert answers[NUMBER] == answers[NOWHERE]
    assert b"<CodeErreur>STATUS_INVOICE_UNKNOWN</CodeErreur>" in answers[NUMBER]
    # nothing of the invoice: not its recipient, not the flow that brought it
    for secret in (b"21990101400015", FLOW.encode(), b"Valbrune", RECIPIENT.encode()):
        assert secret not in answers[NUMBER], secret
    assert invoice(delivered)["status"] == "MISE_A_DISPOSITION"


def test_an_ambiguous_number_is_ambiguous_only_among_the_partners_own_invoices(
    delivered: Home,
) -> None:
    """F01-2026-000101 of 2026 went to Valbrune (DEST01), the same number of 2025 to
    Montclair (DEST02): each recipient's status without DateFacture finds its own; only
    FOUR01, which deposited both, is asked for the year."""
    deposit(
        delivered, SUPPLIER_1, "2025.xml", ubl(NUMBER, issue_date="2025-11-02", buyer=MONTCLAIR)
    )

    for partner in (RECIPIENT, OTHER_RECIPIENT):
        flow = deposit(
            delivered, partner, "s.xml", statut_flow(partner, status("07", invoice_date=None))
        )
        assert [code for _, code, _ in cr_lines(delivered, flow)] == ["STATUS_APPLIED"]
    found = json.loads(delivered.invoke("invoices", "search", "--json").stdout)
    assert sorted((i["recipient"], i["status"]) for i in found) == [
        ("21990101400015", "SERVICE_FAIT"),  # Valbrune's, of 2026
        (MONTCLAIR, "SERVICE_FAIT"),  # of 2025
    ]
    flow = deposit(
        delivered, SUPPLIER_1, "c.xml", statut_flow(SUPPLIER_1, status("12", invoice_date=None))
    )
    ((_, code, text),) = cr_lines(delivered, flow)
    assert code == "STATUS_INVOICE_AMBIGUOUS" and "2025, 2026" in text


def test_a_mandate_is_compared_only_with_the_partners_own_invoices(delivered: Home) -> None:
    deposit(delivered, SUPPLIER_1, "m.xml", ubl("F01-2026-000777", buyer=MONTCLAIR))
    other = statut_flow(
        OTHER_RECIPIENT, status("08", "F01-2026-000777", mandate="M-2026-7", invoice_date=None)
    )
    deposit(delivered, OTHER_RECIPIENT, "s.xml", other)

    flow = deposit(
        delivered, RECIPIENT, "s.xml", statut_flow(RECIPIENT, status("08", mandate="M-2026-7"))
    )

    assert cr_lines(delivered, flow) == [
        ("Information", "STATUS_APPLIED", f"Statut 08 (MANDATEE) appliqué à la facture {NUMBER}.")
    ]  # not told that Montclair's invoice carries the same mandate


def test_a_status_names_an_invoice_by_its_number_whatever_its_lookalike(
    delivered: Home,
) -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != "-" else "\u2011" for c in NUMBER)
    flow = deposit(delivered, RECIPIENT, "s.xml", statut_flow(RECIPIENT, status("07", full_width)))
    assert [code for _, code, _ in cr_lines(delivered, flow)] == ["STATUS_APPLIED"]
    assert invoice(delivered)["status"] == "SERVICE_FAIT"


# -- acknowledgements -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("named", "nothing"),
    [(PIVOT, PIVOT.replace("0001", "0999")), (FLOW, FLOW.replace("0001", "0999"))],
    ids=["pivot", "flow"],
)
def test_an_acknowledgement_of_another_partners_pivot_is_one_of_nothing(
    delivered: Home, named: str, nothing: str
) -> None:
    answers = probe(
        delivered,
        OTHER_RECIPIENT,
        {
            named: acknowledgement(OTHER_RECIPIENT, "94", named),
            nothing: acknowledgement(OTHER_RECIPIENT, "94", nothing),
        },
    )

    assert answers[named] == answers[nothing]
    assert b"<CodeErreur>STATUS_ACK_PIVOT_UNKNOWN</CodeErreur>" in answers[named]
    shown = invoice(delivered)
    assert (shown["status"], shown["delivery_incident"]) == ("MISE_A_DISPOSITION", None)


# -- deposits ---------------------------------------------------------------------------


def test_the_same_bytes_from_another_partner_are_answered_as_bytes_never_seen(
    delivered: Home,
) -> None:
    """FOUR02 deposits FOUR01's very file (integrated as FL0000000001): not a duplicate
    flow, not a duplicate invoice, the answer it gets for an invoice no one deposited."""
    theirs = sample("ubl-invoice.xml")
    never = theirs.replace(NUMBER.encode(), NOWHERE.encode())

    answers = probe(delivered, SUPPLIER_2, {NUMBER: theirs, NOWHERE: never})

    assert answers[NUMBER] == answers[NOWHERE]
    assert b"<CodeErreur>SUPPLIER_NOT_ALLOWED</CodeErreur>" in answers[NUMBER]
    for secret in (b"DUPLICATE", FLOW.encode(), b"ubl-invoice.xml"):
        assert secret not in answers[NUMBER], secret
    flows = json.loads(delivered.invoke("flows", "list", "--json").stdout)
    for flow in flows:
        if flow["partner"] == SUPPLIER_2:
            assert delivered.show(flow["number"])["duplicate_of"] is None


def test_the_same_bytes_from_two_partners_in_one_run_are_two_flows(home: Home) -> None:
    home.drop(SUPPLIER_1, "a.xml", sample=("ubl-invoice.xml"))
    home.drop(SUPPLIER_2, "a.xml", sample=("ubl-invoice.xml"))
    by_partner = {flow["partner"]: flow for flow in home.run()}

    assert by_partner[SUPPLIER_1]["status"] == "IN_INTEGRE"
    theirs = by_partner[SUPPLIER_2]
    assert theirs["status"] == "IN_REJETE"
    assert [code for _, code, _ in cr_lines(home, theirs)] == ["SUPPLIER_NOT_ALLOWED"]
    assert home.show(theirs["number"])["duplicate_of"] is None
    assert by_partner[SUPPLIER_1]["number"].encode() not in cr_bytes(home, theirs)


def test_status_flows_carry_only_the_invoices_their_partner_deposited(delivered: Home) -> None:
    """FOUR02, tied to FOUR01's supplier too, deposits one of its invoices: each connection
    is told the statuses of what it deposited, never of the other's."""
    delivered.invoke("partners", "suppliers", "add", SUPPLIER_2, SUPPLIER_1_SIRET)
    deposit(delivered, SUPPLIER_2, "f.xml", ubl("F01-2026-000777"))
    deposit(
        delivered,
        RECIPIENT,
        "s.xml",
        statut_flow(
            RECIPIENT,
            status("07"),
            status("07", "F01-2026-000777", invoice_date=None),
        ),
    )

    emitted = json.loads(delivered.invoke("statuses", "emit", "--json").stdout)

    told = {}
    for flow in emitted:
        path = delivered.path / "outbox" / flow["partner"] / flow["file_name"]
        told[flow["partner"]] = {n.text for n in etree.parse(str(path)).iter("IdFacture")}
        # nor the recipient's connection, nor the pivot it was given (the hub's 02 and 03)
        for secret in (RECIPIENT, "PIVOT_", OTHER_RECIPIENT):
            assert secret not in path.read_text(), secret
    assert told == {SUPPLIER_1: {NUMBER}, SUPPLIER_2: {"F01-2026-000777"}}
