"""Which invoices a partner may know of (issue 13, item 4): no partner learns anything
about another's.

A partner knows the invoices addressed to a structure it serves, as its recipient or its
accountant, and those it deposited itself. Every answer given to a partner about an
invoice it names (a status, an acknowledgement, a mandate carried twice) is computed from
these alone: another partner's invoice is to it exactly what an invoice that does not
exist is. An operator acting through the CLI sees every invoice.
"""

from __future__ import annotations

from sqlalchemy import BindParameter, ColumnElement, or_, select

from ..ledger.models import Flow, Structure
from ..ledger.models import Invoice as InvoiceRow


def visible(partner: str | BindParameter[str]) -> ColumnElement[bool]:
    """A condition on `invoices`: the partner may know of the invoice. The partner may be
    a bound parameter, for a statement built once and run for every partner."""
    served = select(Structure.siret).where(
        or_(Structure.partner_code == partner, Structure.accountant_partner == partner)
    )
    # correlated on the invoice only: a query joining flows itself keeps its own
    deposited = (
        select(Flow.id)
        .where(Flow.id == InvoiceRow.flow_id, Flow.partner_code == partner)
        .correlate(InvoiceRow)
        .exists()
    )
    return or_(InvoiceRow.recipient_siret.in_(served), deposited)
