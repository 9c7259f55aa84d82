"""What the two Chorus Pro documents share: the Enveloppe, the parties, value formats.

``CPPFacturePivot`` (invoices) and ``CPPStatut`` (statuses) carry the same envelope
and the same ``Debiteur`` and start ``Fournisseur`` the same way; they also write and
read dates, decimals and timestamps identically. Keeping that here means a fix to one
format cannot silently miss the other.

Writers refuse, with a ``ConversionError``, every value the official XSDs would
refuse: the engine must always emit valid files and cannot afford schema validation
per invoice. They write each value in one canonical form.

Readers accept every lexical form the official XSDs accept for a value — integers
written ``01`` or ``+1``, dates with a time zone, decimals written ``+12.0`` or ``12.``,
timestamps with or without an offset — and bring it back to the model's one value, so
that read → write gives the canonical form. They refuse values the model cannot hold,
naming the element path.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import TypeVar

from lxml import etree

from pivot_format.errors import ConversionError
from pivot_format.model import Debiteur, Envelope, Supplier

_Element = etree._Element
T = TypeVar("T")

DATE_OF_PRODUCTION = "DtPrd"
FLOW_ID = "IdFlx"
SUPPLIER_ID_TYPES = frozenset("1234567")
SIRET_ID_TYPE = "1"  # Debiteur/TypeIdentifiant: the only value both formats allow

# XSD 1.0 lexical spaces (Part 2, §3.2), once white space is collapsed
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NON_NEGATIVE = re.compile(r"\+?[0-9]+|-0+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_ZONE = r"(Z|[+-][0-9]{2}:[0-9]{2})?"
_DATE = re.compile(r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})" + _ZONE)
_DATETIME = re.compile(
    r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?" + _ZONE
)


# --------------------------------------------------------------------------- writing


def sub(parent: _Element, tag: str, text: str | None = None, **attrib: str) -> _Element:
    """Append ``<tag>text</tag>``; a character XML cannot carry becomes a ConversionError."""
    try:
        element = etree.SubElement(parent, tag, attrib) if attrib else etree.SubElement(parent, tag)
        if text is not None:
            element.text = text
    except ValueError as exc:  # lxml: "All strings must be XML compatible"
        raise ConversionError(
            "INVALID_CHARACTER",
            "the value contains a character that XML cannot carry",
            f"{parent.tag}/{tag}",
            (text if text is not None else " ".join(attrib.values()))[:80],
        ) from exc
    return element


def sub_opt(parent: _Element, tag: str, text: str | None) -> None:
    """Append an optional element only when there is something to say."""
    if text:
        sub(parent, tag, text)


def decimal_text(value: Decimal, where: str) -> str:
    """Plain notation with the source's scale (``12.50`` stays ``12.50``), never NaN; zero
    without sign (``-0.00`` is ``0.00``, as ``parse_decimal`` reads it back)."""
    text = format(value.copy_abs() if value.is_zero() else value, "f")
    if not text[-1].isdigit():  # NaN, Infinity: xs:decimal has no such values
        raise ConversionError("INVALID_DECIMAL", "the amount is not a finite number", where, text)
    return text


def date_text(value: date) -> str:
    """``YYYY-MM-DD`` even when handed a datetime (which is a date subclass)."""
    return date.isoformat(value)


def datetime_text(value: datetime, where: str) -> str:
    """xs:dateTime with an explicit offset, as the status formats require."""
    offset = value.utcoffset()
    if offset is None:
        raise ConversionError(
            "MISSING_TIMEZONE", "the timestamp has no time zone", where, value.isoformat()
        )
    if offset % timedelta(minutes=1):  # historic zones: xs:dateTime offsets are whole minutes
        value = value.astimezone(UTC)
    return value.isoformat()


def check_one_of(value: str | None, allowed: frozenset[str], where: str) -> None:
    """A value from one of the formats' closed lists."""
    check_present(value, where)
    if value not in allowed:
        raise ConversionError(
            "VALUE_NOT_ALLOWED", f"expected one of {', '.join(sorted(allowed))}", where, value
        )


def check_present(value: str | None, where: str) -> None:
    """A mandatory value: absent and empty are the same to the recipient."""
    if not value:
        raise ConversionError("MISSING_VALUE", "a value is required", where)


def check_length(value: str | None, maximum: int, where: str, required: bool = True) -> None:
    """Mandatory values are non-empty; bounded ones fit their maximum length."""
    if not value:
        if required:
            check_present(value, where)
        return
    if len(value) > maximum:
        raise ConversionError(
            "VALUE_TOO_LONG", f"at most {maximum} characters are allowed", where, value
        )


def check_siret(siret: str | None, where: str) -> None:
    """Debiteur/Identifiant: the only identifier a recipient structure has is a SIRET."""
    if not siret:
        raise ConversionError("MISSING_VALUE", "the recipient SIRET is required", where)
    if len(siret) != 14 or not (siret.isascii() and siret.isdigit()):
        raise ConversionError("INVALID_FORMAT", "a SIRET is 14 digits", where, siret)


def check_country(code: str, where: str | _Element) -> None:
    """ISO 3166-1 alpha-2, upper case. An element's path is worked out only on failure:
    getpath costs as much as reading the rest of the supplier."""
    if len(code) != 2 or not (code.isascii() and code.isalpha() and code.isupper()):
        path = where if isinstance(where, str) else path_of(where)
        raise ConversionError(
            "INVALID_FORMAT", "a country code is two upper-case letters", path, code
        )


def write_envelope(root: _Element, envelope: Envelope) -> None:
    """Enveloppe/EnveloppeUnitaire: the DtPrd and IdFlx parameters, then the partners."""
    for where, partner_id in (
        ("Recepteur/Id", envelope.receiver_id),
        ("Emetteur/Id", envelope.sender_id),
    ):
        if not 3 <= len(partner_id) <= 8:
            raise ConversionError(
                "INVALID_FORMAT", "a partner id has 3 to 8 characters", where, partner_id
            )
    check_present(envelope.flow_id, f"ParametreIndiv[Code='{FLOW_ID}']")
    unit = sub(sub(root, "Enveloppe"), "EnveloppeUnitaire")
    parameters = sub(unit, "Parametres")
    for code, value in (
        (DATE_OF_PRODUCTION, date_text(envelope.produced_at)),
        (FLOW_ID, envelope.flow_id),
    ):
        parameter = sub(parameters, "ParametreIndiv")
        sub(parameter, "Code", code)
        sub(parameter, "Valeurparametre", value)
    partners = sub(unit, "Partenaires")
    for tag, partner_id, label in (
        ("Recepteur", envelope.receiver_id, envelope.receiver_label),
        ("Emetteur", envelope.sender_id, envelope.sender_label),
    ):
        partner = sub(partners, tag)
        sub(partner, "Id", partner_id)
        sub_opt(partner, "Libelle", label)


def write_units(
    parent: _Element, tag: str, items: Sequence[T], write_one: Callable[[_Element, T], None]
) -> None:
    """One ``<tag NumOrdre="n">`` per item; an error names the unit it arose in."""
    for position, item in enumerate(items, 1):
        unit = sub(parent, tag, NumOrdre=str(position))
        try:
            write_one(unit, item)
        except ConversionError as exc:
            raise ConversionError(
                exc.code, exc.message, f"{tag}[{position}]/{exc.element}", exc.value
            ) from exc


def to_bytes(root: _Element) -> bytes:
    """UTF-8 with an XML declaration, no indentation: the files are for machines."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_supplier_identity(parent: _Element, supplier: Supplier, country_required: bool) -> None:
    """The first elements of Fournisseur, identical in both formats (CodePays optional in
    the status format)."""
    check_one_of(supplier.identifier_type, SUPPLIER_ID_TYPES, "Fournisseur/TypeIdentifiant")
    check_present(supplier.identifier, "Fournisseur/Identifiant")
    check_present(supplier.name, "Fournisseur/RaisonSociale")
    sub(parent, "TypeIdentifiant", supplier.identifier_type)
    sub(parent, "Identifiant", supplier.identifier)
    sub(parent, "RaisonSociale", supplier.name)
    if country_required or supplier.country_code:
        check_country(supplier.country_code, "Fournisseur/CodePays")
        sub(parent, "CodePays", supplier.country_code)


def write_debiteur(parent: _Element, debiteur: Debiteur) -> None:
    """Debiteur: the recipient structure by SIRET, and its service when known."""
    check_siret(debiteur.siret, "Debiteur/Identifiant")
    check_length(debiteur.service_code, 100, "Debiteur/CodeService", required=False)
    element = sub(parent, "Debiteur")
    sub(element, "TypeIdentifiant", SIRET_ID_TYPE)
    sub(element, "Identifiant", debiteur.siret)
    sub_opt(element, "Nom", debiteur.name)
    sub_opt(element, "CodeService", debiteur.service_code)
    sub_opt(element, "NomService", debiteur.service_name)


# --------------------------------------------------------------------------- reading


def path_of(element: _Element) -> str:
    """Where an element sits in its document, for error messages (only on failure)."""
    return element.getroottree().getpath(element)


def kids(element: _Element) -> dict[str, _Element]:
    """Children by tag, for the elements whose children are all distinct."""
    return {child.tag: child for child in element}


def missing(parent: _Element, tag: str) -> ConversionError:
    """The error for a mandatory element that is absent or empty."""
    return ConversionError("MISSING_ELEMENT", f"{tag} is required", f"{path_of(parent)}/{tag}")


def required(parent: _Element, children: dict[str, _Element], tag: str) -> _Element:
    """A mandatory child element."""
    element = children.get(tag)
    if element is None:
        raise missing(parent, tag)
    return element


def required_text(parent: _Element, children: dict[str, _Element], tag: str) -> str:
    """The text of a mandatory child; an empty element is as good as absent."""
    element = children.get(tag)
    if element is None or not element.text:
        raise missing(parent, tag)
    return element.text


def optional_text(children: dict[str, _Element], tag: str) -> str | None:
    """The text of an optional child, None when absent or empty."""
    element = children.get(tag)
    return (element.text or None) if element is not None else None


def integer_text(text: str) -> str:
    """An xs:integer in canonical form: ``01``, ``+1`` and `` 1 `` all are ``1``.

    The official XSDs type codes such as TypeIdentifiant and ModePaiement/Code as
    integers, so every such form is the same code. Text that is no integer comes back
    stripped, for the caller's checks to report as found.
    """
    text = text.strip()
    return str(int(text)) if _INTEGER.fullmatch(text) else text


def parse_date(element: _Element) -> date:
    """xs:date: ``YYYY-MM-DD``, possibly with a time zone (``2026-11-02Z``,
    ``2026-11-02+01:00``), which the official XSDs accept.

    An invoice date is a calendar date, not an instant: the date is kept as written and
    the zone dropped. Years outside 1–9999 (valid xs:date) cannot be held and are refused.
    """
    text = (element.text or "").strip()
    match = _DATE.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ConversionError(
            "INVALID_DATE", "expected a date YYYY-MM-DD", path_of(element), text
        ) from None


def parse_decimal(element: _Element) -> Decimal:
    """xs:decimal in any lexical form (``+12.0``, ``12.``, ``.5``, ``012.50``), scale kept
    (``12.50`` keeps two places, ``12.`` has none); negative zero is zero. No exponent,
    NaN or infinity: xs:decimal has none."""
    text = (element.text or "").strip()
    if not _DECIMAL.fullmatch(text):
        raise ConversionError(
            "INVALID_DECIMAL", "expected a decimal number such as 1250.00", path_of(element), text
        )
    value = Decimal(text)
    return value.copy_abs() if value.is_zero() else value


def parse_datetime(element: _Element) -> datetime:
    """xs:dateTime in any lexical form the official XSDs accept, as an aware datetime.

    A timestamp without an offset is read as UTC: the official format does not say
    which zone it would be in, and the hub works in UTC. ``24:00:00`` is midnight at the
    end of the day; fractions of a second beyond microseconds are truncated.
    """
    text = (element.text or "").strip()
    match = _DATETIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
        fraction = match[7] or ""
        microsecond = int(fraction[:6].ljust(6, "0"))
        end_of_day = hour == 24
        if end_of_day and (minute or second or fraction.strip("0")):
            raise ValueError(text)
        value = datetime(
            year,
            month,
            day,
            0 if end_of_day else hour,
            minute,
            second,
            microsecond,
            tzinfo=_zone(match[8]),
        )
        if end_of_day:
            value += timedelta(days=1)
    except (ValueError, OverflowError):
        raise ConversionError(
            "INVALID_DATETIME",
            "expected a timestamp such as 2024-05-02T10:15:00+02:00",
            path_of(element),
            text,
        ) from None
    return value


def _zone(text: str | None) -> tzinfo:
    """The zone of an xs:dateTime: none (read as UTC), ``Z`` or ``±hh:mm``."""
    if text is None or text == "Z":
        return UTC
    offset = timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))
    return timezone(-offset if text[0] == "-" else offset)


def parse_count(text: str | None, where: _Element) -> int:
    """NumOrdre and counters: xs:nonNegativeInteger (``1``, ``01``, ``+1``)."""
    value = (text or "").strip()
    if not _NON_NEGATIVE.fullmatch(value):
        raise ConversionError(
            "INVALID_INTEGER", "expected a non-negative integer", path_of(where), value
        )
    return int(value)


def read_envelope(root: _Element) -> Envelope:
    """The first EnveloppeUnitaire of a pivot or status document."""
    enveloppe = required(root, kids(root), "Enveloppe")
    unit = required(enveloppe, kids(enveloppe), "EnveloppeUnitaire")
    unit_kids = kids(unit)
    parameters = required(unit, unit_kids, "Parametres")
    values: dict[str, _Element] = {}
    for parameter in parameters.iterchildren("ParametreIndiv"):
        found = kids(parameter)
        code, value = found.get("Code"), found.get("Valeurparametre")
        if code is not None and value is not None and code.text:
            values.setdefault(code.text.strip(), value)
    produced = values.get(DATE_OF_PRODUCTION)
    flow_id = values.get(FLOW_ID)
    if produced is None:
        raise missing(parameters, f"ParametreIndiv[Code='{DATE_OF_PRODUCTION}']")
    if flow_id is None or not flow_id.text:
        raise missing(parameters, f"ParametreIndiv[Code='{FLOW_ID}']")
    partners = required(unit, unit_kids, "Partenaires")
    partner_kids = kids(partners)
    receiver = kids(required(partners, partner_kids, "Recepteur"))
    sender = kids(required(partners, partner_kids, "Emetteur"))
    return Envelope(
        flow_id=flow_id.text,
        produced_at=parse_date(produced),
        sender_id=required_text(partner_kids["Emetteur"], sender, "Id"),
        receiver_id=required_text(partner_kids["Recepteur"], receiver, "Id"),
        sender_label=optional_text(sender, "Libelle"),
        receiver_label=optional_text(receiver, "Libelle"),
    )


def read_supplier_identity(element: _Element) -> dict[str, str]:
    """A pivot's Fournisseur, as keyword arguments: TypeIdentifiant is an integer (``01``
    is ``1``), CodePays an ISO code (``fr`` is ``FR``)."""
    children = kids(element)
    return {
        "identifier_type": integer_text(required_text(element, children, "TypeIdentifiant")),
        "identifier": required_text(element, children, "Identifiant"),
        "name": required_text(element, children, "RaisonSociale"),
        "country_code": (optional_text(children, "CodePays") or "").upper(),
    }


def read_debiteur(element: _Element) -> Debiteur:
    """Debiteur; an absent identifier is left for the business controls to report."""
    children = kids(element)
    return Debiteur(
        siret=optional_text(children, "Identifiant"),
        name=optional_text(children, "Nom"),
        service_code=optional_text(children, "CodeService"),
        service_name=optional_text(children, "NomService"),
    )


ELLIPSIS = "…"


def shorten(text: str | None, limit: int) -> str | None:
    """At most ``limit`` characters, cut before a whole character (base and accents),
    ending with an ellipsis so a reader knows the text went on: how a value the hub keeps
    or writes as it is (a column, a field of the pivot) is bounded. A value quoted for a
    reader is bounded the same way once its hidden characters are shown, never cutting
    one's `<U+XXXX>` (connectors.visible.escaped)."""
    if text is None or len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    while cut > 0 and unicodedata.combining(text[cut]):
        cut -= 1  # the accent at the cut would lose its letter: drop both
    return text[:cut].rstrip() + ELLIPSIS
