"""Totals that must agree, within the configured rounding tolerance
(docs/architecture.md#business-controls).

The rules are EN 16931's (BR-CO-13, -14, -15, -16, -17, BR-S-08); a VAT amount is
compared with its base times its rate, rounded half up at the scale the supplier wrote,
within `vat_amount_tolerance` (1 by default, the margin of EN 16931's own BR-CO-17 check). A pivot cannot carry
document-level allowances, charges nor prepaid amounts: its lines must add up to its
amount without VAT, and its net to pay is not checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, localcontext

from pivot_format.model import Invoice

from ..problems import Problem
from .catalogue import CATALOGUE

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def totals(invoice: Invoice, tolerance: Decimal, vat_tolerance: Decimal) -> list[Problem]:
    def off(expected: Decimal, found: Decimal) -> bool:
        return abs(expected - found) > tolerance

    problems: list[Problem] = []
    ht = invoice.amount_ht
    allowances, charges = invoice.allowance_total or ZERO, invoice.charge_total or ZERO
    lines = sum((line.amount_ht for line in invoice.lines), ZERO)
    if invoice.lines and off(expected := lines - allowances + charges, ht):
        problems.append(
            CATALOGUE["TOTAL_LINES_MISMATCH"].fails(
                ht,
                lines=lines,
                allowances=allowances,
                charges=charges,
                expected=expected,
                tolerance=tolerance,
            )
        )
    problems += _vat_breakdown(invoice, off, tolerance, vat_tolerance)
    # the pivot carries the breakdown, not BT-110: TTC must agree with the breakdown; an
    # invoice without either owes no VAT
    vat = invoice.vat_total if invoice.vat_total is not None else ZERO
    if invoice.vat_lines:
        vat = sum((entry.amount for entry in invoice.vat_lines), ZERO)
        if invoice.vat_total is not None and off(vat, invoice.vat_total):
            problems.append(
                CATALOGUE["TOTAL_VAT_SUM_MISMATCH"].fails(
                    invoice.vat_total, expected=vat, tolerance=tolerance
                )
            )
    if off(expected := ht + vat, invoice.amount_ttc):
        problems.append(
            CATALOGUE["TOTAL_TTC_MISMATCH"].fails(
                invoice.amount_ttc, ht=ht, vat=vat, expected=expected, tolerance=tolerance
            )
        )
    if invoice.prepaid is not None:
        ttc, rounding = invoice.amount_ttc, invoice.rounding or ZERO
        if off(expected := ttc - invoice.prepaid + rounding, invoice.amount_net):
            problems.append(
                CATALOGUE["TOTAL_NET_MISMATCH"].fails(
                    invoice.amount_net,
                    ttc=ttc,
                    prepaid=invoice.prepaid,
                    rounding=rounding,
                    expected=expected,
                    tolerance=tolerance,
                )
            )
    return problems


def _vat_due(base: Decimal, rate: Decimal, stated: Decimal) -> Decimal:
    """base x rate / 100, rounded half up at the scale the supplier wrote (at most 6
    decimals: an amount written with 30 decimals must not overflow the arithmetic)."""
    exponent = max(stated.as_tuple().exponent, -6) if stated.is_finite() else -2
    with localcontext() as context:
        context.prec = 60
        return (base * rate / HUNDRED).quantize(Decimal(1).scaleb(exponent), ROUND_HALF_UP)


def _vat_breakdown(
    invoice: Invoice,
    off: Callable[[Decimal, Decimal], bool],
    tolerance: Decimal,
    vat_tolerance: Decimal,
) -> list[Problem]:
    if not invoice.vat_lines:
        return []
    problems = []
    bases = sum((entry.base_ht for entry in invoice.vat_lines), ZERO)
    if off(bases, invoice.amount_ht):
        problems.append(
            CATALOGUE["TOTAL_VAT_BASE_MISMATCH"].fails(
                invoice.amount_ht, expected=bases, tolerance=tolerance
            )
        )
    for entry in invoice.vat_lines:
        expected = _vat_due(entry.base_ht, entry.rate, entry.amount)
        if abs(expected - entry.amount) > vat_tolerance:
            problems.append(
                CATALOGUE["TOTAL_VAT_AMOUNT_MISMATCH"].fails(
                    entry.amount,
                    rate=entry.rate,
                    base=entry.base_ht,
                    expected=expected,
                    tolerance=vat_tolerance,
                )
            )
    # lines per rate can be compared with the bases only when no document-level allowance
    # or charge (which EN 16931 spreads over the rates) changed them; several categories
    # may share a rate (S, Z and E at 0 %): their bases add up
    rated = invoice.lines and all(line.vat_rate is not None for line in invoice.lines)
    if rated and not invoice.allowance_total and not invoice.charge_total:
        by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
        for line in invoice.lines:
            by_rate[line.vat_rate] += line.amount_ht
        stated: dict[Decimal, Decimal] = defaultdict(Decimal)
        for entry in invoice.vat_lines:
            stated[entry.rate] += entry.base_ht
        for rate in {**stated, **by_rate}:
            expected, found = by_rate.get(rate, ZERO), stated.get(rate, ZERO)
            if off(expected, found):
                problems.append(
                    CATALOGUE["TOTAL_VAT_LINES_MISMATCH"].fails(
                        found, rate=rate, expected=expected, tolerance=tolerance
                    )
                )
    return problems
