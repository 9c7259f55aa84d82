"""The hub's business controls on each invoice received or recycled
(docs/architecture.md#business-controls), and what they compare it with: the referential
of structures, the depositors, and who may see an invoice (visibility). Exposes `check` and
its inputs, the catalogue of codes, structures, depositors, visibility; uses reception's
rules (their codes), partners and the ledger.

`check` runs them all and returns every failure at once, so that a supplier fixes an
invoice in one go; the catalogue says which refuse the invoice and which only warn, unless
the hub's [controls.severity] says otherwise: every caller (a flow, a recycling) gets its
findings graded here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from pivot_format.model import Invoice

from ..problems import Problem
from . import amounts, identifiers, numbers, referential
from .catalogue import CATALOGUE, graded
from .depositor import Depositor
from .duplicates import Duplicates
from .referential import Recipient, Referential

__all__ = [
    "CATALOGUE",
    "Duplicates",
    "Reception",
    "Recipient",
    "Referential",
    "catalogue",
    "check",
    "depositors",
    "structures",
    "visibility",
]


@dataclass
class Reception:
    """What the controls of one flow (or one recycling) compare an invoice with."""

    referential: Referential
    duplicates: Duplicates
    flow_number: str
    deposit_date: date
    tolerance: Decimal
    vat_tolerance: Decimal
    # settings.controls.severity: code -> reject, warn or off; a code left out keeps the
    # catalogue's severity
    severity: Mapping[str, str] = field(default_factory=dict)
    # the partner who deposited the flow; None: the ledger's partner of flow_number
    depositor: str | None = None

    def __post_init__(self) -> None:
        self.depositors = Depositor(
            self.duplicates.session,
            self.flow_number,
            self.depositor,
            self.referential.depositors,
        )


def check(
    invoice: Invoice, reception: Reception, itself: int | None = None
) -> tuple[Recipient | None, list[Problem]]:
    """The recipient (None when routing failed) and every control that failed, with the
    severity the hub gave it (a control set to off is left out).

    `itself`: the invoice's own ledger id when it is controlled again (recycling)."""
    not_allowed = reception.depositors.check(invoice)
    # a partner not tied to the supplier learns nothing of it: where the invoice goes, never
    # which commitments a structure published for that supplier, nor its invoices
    commitments = not not_allowed
    to, problems = referential.addressing(invoice, reception.referential, commitments)
    problems += not_allowed
    if invoice.issue_date > reception.deposit_date:
        problems.append(
            CATALOGUE["ISSUE_DATE_AFTER_DEPOSIT"].fails(
                invoice.issue_date.isoformat(), deposit=reception.deposit_date.isoformat()
            )
        )
    problems += numbers.check(invoice)  # told whoever deposits: it names nobody's invoice
    problems += identifiers.currency(invoice)
    problems += amounts.totals(invoice, reception.tolerance, reception.vat_tolerance)
    problems += identifiers.iban(invoice)
    if commitments:  # never tell a partner what another deposited for a supplier
        depositor = reception.depositors.partner_code
        problems += reception.duplicates.check(invoice, itself, depositor)
    return to, graded(problems, reception.severity)
