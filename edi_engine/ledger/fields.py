"""Every value the ledger keeps fits its column, on SQLite as on PostgreSQL (issue 13,
item 6). PostgreSQL refuses a value longer than its VARCHAR, or a text holding a NUL;
SQLite stores anything. A partner's 400-character supplier name put its flow IN_INCIDENTE
on one and not on the other.

Two rules, applied before the database sees a value (docs/errors.md#field-lengths):
- a value that identifies something (a supplier's identifier, an amount) is never cut:
  the invoice is refused with FIELD_TOO_LONG (`too_long`), and its row keeps the value
  cut for display only, as every refused invoice's values are;
- a value that is only shown (a name, a file or member name, an element, a message) is
  cut to its column with an ellipsis, as the hub quotes every partner value
  (pivot_format.cpp.shorten: `fit`, `fit_row`).

Under both, a net (`guard`): every String and Text column of the ledger takes its values
through `Bounded`, which makes them storable and cuts a forgotten one the same way, with
a warning naming the column, so that no partner value can fail a flow's transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, MetaData, String, Text
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator

from pivot_format.cpp import shorten
from pivot_format.model import Invoice

from ..problems import Problem

log = logging.getLogger(__name__)

# no database stores these: PostgreSQL refuses a NUL in a text, and a lone surrogate (a
# file name's undecodable byte) has no UTF-8 form
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """The text with what no database can store replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text


def length(column: Column[Any] | InstrumentedAttribute[Any]) -> int | None:
    """The number of characters a column holds; None: any."""
    return getattr(column.type, "length", None)


def fit(column: Column[Any] | InstrumentedAttribute[Any], value: str | None) -> str | None:
    """A value that is only shown, as its column keeps it: storable, and cut with an
    ellipsis to the column's length."""
    if value is None:
        return None
    limit = length(column)
    value = storable(value)
    return shorten(value, limit) if limit else value


def fit_row(table: Any, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row for `table` (a model) with every text value `fit` to its column."""
    columns = table.__table__.columns
    return {
        name: fit(columns[name], value) if isinstance(value, str) else value
        for name, value in row.items()
    }


# -- the refusals ------------------------------------------------------------------------


def too_long(invoice: Invoice) -> list[Problem]:
    """What identifies an invoice and does not fit the ledger: its supplier's identifier
    (the duplicate key, who may deposit for whom) and its amounts (kept exactly as written).
    The pivot's own limits (number, engagement, service code) are checked by its writer."""
    from .models import Invoice as InvoiceRow

    values = (
        (InvoiceRow.supplier_id, "Fournisseur/Identifiant", invoice.supplier.identifier),
        (InvoiceRow.amount_ht, "Montants/MontantHT", _amount(invoice.amount_ht)),
        (InvoiceRow.amount_ttc, "Montants/MontantTTC", _amount(invoice.amount_ttc)),
        (InvoiceRow.amount_net, "Montants/MontantNetAPayer", _amount(invoice.amount_net)),
    )
    return [
        _refusal(element, value, length(column) or 0)
        for column, element, value in values
        if value is not None and len(value) > (length(column) or len(value))
    ]


def _amount(value: object) -> str | None:
    return None if value is None else str(value)


def _refusal(element: str, value: str, limit: int) -> Problem:
    shown = shorten(storable(value), 60)
    return Problem(
        "FIELD_TOO_LONG",
        f"{element} has {len(value)} characters; the hub keeps at most {limit} and does not "
        f"cut a value that identifies an invoice: {shown}",
        element=element,
        value=shown,
        message_fr=f"{element} compte {len(value)} caractères ; la plateforme en conserve "
        f"au plus {limit} et ne tronque pas une valeur qui identifie une facture : {shown}",
    )


# -- the net -----------------------------------------------------------------------------


class Bounded(TypeDecorator[str]):
    """A String whose every stored value is storable and fits (cut with an ellipsis, and
    logged: an explicit rule is missing for that column). A value compared with the
    column is left whole: a longer one simply matches nothing."""

    impl = String
    cache_ok = True

    def __init__(self, limit: int | None = None, name: str = "") -> None:
        super().__init__(limit)
        self.limit = limit  # with the name, its cache key
        self.name = name

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if not isinstance(value, str):
            return value
        stored = storable(value)
        limit = self.limit
        if limit and len(stored) > limit:
            log.warning(
                "a value of %d characters was cut to the %d of %s", len(stored), limit, self.name
            )
            stored = shorten(stored, limit)
        return stored

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        return String()


class BoundedText(Bounded):
    """A Text whose every stored value is storable."""

    impl = Text
    cache_ok = True


def guard(metadata: MetaData) -> None:
    """Put the net under every String and Text column of the ledger's tables."""
    for table in metadata.tables.values():
        for column in table.columns:
            kind = type(column.type)
            name = f"{table.name}.{column.name}"
            if kind is String:
                column.type = Bounded(column.type.length, name)
            elif kind is Text:
                column.type = BoundedText(None, name)
