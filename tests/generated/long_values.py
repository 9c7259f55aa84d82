"""Documents whose partner values are longer than the ledger's columns (issue 13, item 6):
each comes with the answer the hub must give, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass

import config

UBL_NAME = "Papeteries Delorme SAS"
UBL_NUMBER = "F01-2026-000101"
UBL_BUYER = "21990101400015"  # Valbrune, as config/demo/ubl-invoice.xml addresses it
LONG_NAME = "Société " + "très " * 80 + "longue"  # 413 characters
LONG_ROOT = "R" * 300
LONG_SUPPLIER_ID = "US" + "7" * 148  # 150 characters, a supplier outside the EU
LONG_BUYER = "2" * 150
LONG_AMOUNT = "1" + "0" * 42 + ".00"  # 46 characters, a plain decimal


@dataclass(frozen=True)
class Hostile:
    name: str  # the file's name in the inbox
    content: bytes
    status: str  # the flow's state once processed
    codes: tuple[str, ...]  # codes its CR carries (in the order of the CR)


def ubl(replace: dict[str, str]) -> bytes:
    text = config.path("demo/ubl-invoice.xml").read_text(encoding="utf-8")
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode("utf-8")


def pivot(replace: dict[str, str]) -> bytes:
    """The first invoice of config/demo/pivot-multi.xml, alone in its pivot."""
    text = config.path("demo/pivot-multi.xml").read_text(encoding="utf-8")
    text = re.sub(
        r'(<CPPFacturePivotUnitaire NumOrdre="1">.*?</CPPFacturePivotUnitaire>).*(</CPPFactures>)',
        r"\1\n  \2",
        text,
        flags=re.S,
    ).replace('Compteur="3"', 'Compteur="1"')
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode("utf-8")


def amounts(value: str) -> dict[str, str]:
    """Every amount of the pivot's first invoice set to `value`, VAT at 0 %."""
    return {
        "<MontantHT>2220.00</MontantHT>": f"<MontantHT>{value}</MontantHT>",
        "<MontantTTC>2664.00</MontantTTC>": f"<MontantTTC>{value}</MontantTTC>",
        "<MontantNetAPayer>2664.00</MontantNetAPayer>": (
            f"<MontantNetAPayer>{value}</MontantNetAPayer>"
        ),
        "<Taux>20</Taux>": "<Taux>0</Taux>",
        "<BaseHt>2220.00</BaseHt>": f"<BaseHt>{value}</BaseHt>",
        "<MontantTVA>444.00</MontantTVA>": "<MontantTVA>0.00</MontantTVA>",
        "<PrixUnitaire>18.50</PrixUnitaire>": f"<PrixUnitaire>{value}</PrixUnitaire>",
        "<Quantite>120</Quantite>": "<Quantite>1</Quantite>",
        "<TauxTVA>20</TauxTVA>": "<TauxTVA>0</TauxTVA>",
    }


def corpus() -> list[Hostile]:
    """What a supplier-side operator partner (depositing for any supplier) deposits."""
    foreign = {
        "<TypeIdentifiant>1</TypeIdentifiant>\n        <Identifiant>82345678500018</Identifiant>": (
            f"<TypeIdentifiant>3</TypeIdentifiant>\n        <Identifiant>{LONG_SUPPLIER_ID}"
            "</Identifiant>"
        ),
        "<CodePays>FR</CodePays>": "<CodePays>US</CodePays>",
    }
    return [
        Hostile("long-name.xml", ubl({UBL_NAME: LONG_NAME}), "IN_INTEGRE", ()),
        Hostile(
            "long-root.xml",
            f'<?xml version="1.0"?><{LONG_ROOT}/>'.encode(),
            "IN_REJETE",
            ("UNKNOWN_SYNTAX",),
        ),
        Hostile(
            "long-buyer.xml",
            ubl({UBL_BUYER: LONG_BUYER, UBL_NUMBER: "F01-2026-000909"}),
            "IN_REJETE",
            ("RECIPIENT_MISSING",),
        ),
        Hostile("long-supplier.xml", pivot(foreign), "IN_REJETE", ("FIELD_TOO_LONG",)),
        Hostile(
            "long-amount.xml",
            pivot(amounts(LONG_AMOUNT)),
            "IN_REJETE",
            ("FIELD_TOO_LONG", "FIELD_TOO_LONG", "FIELD_TOO_LONG"),
        ),
    ]
