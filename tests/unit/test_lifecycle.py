"""The lifecycle of docs/architecture.md#the-invoice-lifecycle: what may follow what, and who
may set it."""

from __future__ import annotations

import itertools

import pytest

from edi_engine.ledger.states import LIFECYCLE
from edi_engine.ledger.states import InvoiceState as S
from edi_engine.lifecycle.transitions import (
    ACCOUNTANT,
    MAIN_ROAD,
    RECIPIENT,
    SET_BY,
    operator_refusal,
    refusal,
)


def test_every_status_says_who_sets_it() -> None:
    assert set(SET_BY) == set(LIFECYCLE)


def test_helios_sends_09_and_11_and_the_recipient_may_set_them_and_10() -> None:
    assert SET_BY[S.MISE_A_DISPOSITION_COMPTABLE] == {ACCOUNTANT, RECIPIENT}
    assert SET_BY[S.MISE_EN_PAIEMENT] == {ACCOUNTANT, RECIPIENT}
    assert SET_BY[S.COMPTABILISEE] == {RECIPIENT}


def test_the_main_road_goes_forward_skipping_optional_steps() -> None:
    assert refusal(S.DEPOSEE, S.EN_COURS_ACHEMINEMENT) is None
    assert refusal(S.MISE_A_DISPOSITION, S.MANDATEE) is None  # SERVICE_FAIT is optional
    assert refusal(S.MISE_A_DISPOSITION, S.MISE_EN_PAIEMENT) is None
    for earlier, later in itertools.combinations(MAIN_ROAD, 2):
        assert refusal(later, earlier) is not None
        if later is not S.MISE_EN_PAIEMENT:
            assert "back" in refusal(later, earlier)


def test_the_recipient_acts_only_once_it_has_the_invoice() -> None:
    assert "has not received" in refusal(S.EN_COURS_ACHEMINEMENT, S.SERVICE_FAIT)
    assert refusal(S.EN_COURS_ACHEMINEMENT, S.A_RECYCLER) is not None


@pytest.mark.parametrize("end", [S.REJETEE, S.MISE_EN_PAIEMENT])
def test_rejected_and_paid_end_the_road(end: S) -> None:
    assert all("ends the invoice's road" in refusal(end, new) for new in S)


def test_side_roads() -> None:
    assert refusal(S.MISE_A_DISPOSITION, S.A_RECYCLER) is None
    assert refusal(S.A_RECYCLER, S.MISE_A_DISPOSITION) is None  # by recycling
    assert "invoices recycle" in refusal(S.A_RECYCLER, S.SERVICE_FAIT)
    assert refusal(S.MISE_A_DISPOSITION, S.SUSPENDUE) is None
    assert refusal(S.SUSPENDUE, S.COMPLETEE) is None
    assert refusal(S.COMPLETEE, S.MISE_A_DISPOSITION) is None
    assert refusal(S.SUSPENDUE, S.SERVICE_FAIT) is not None
    assert refusal(S.MANDATEE, S.A_RECYCLER) is not None


def test_the_recipient_rejects_after_the_mandate_or_its_refusal() -> None:
    assert refusal(S.MANDATEE, S.REJETEE) is None
    assert refusal(S.MISE_A_DISPOSITION_COMPTABLE, S.REJETEE) is None
    assert refusal(S.COMPTABILISEE, S.REJETEE) is not None


def test_an_operator_never_sets_what_only_delivery_proves() -> None:
    assert "set by the engine" in operator_refusal(S.A_RECYCLER, S.MISE_A_DISPOSITION)
    assert operator_refusal(S.MISE_A_DISPOSITION, S.A_RECYCLER) is None
    assert "already" in operator_refusal(S.SERVICE_FAIT, S.SERVICE_FAIT)
