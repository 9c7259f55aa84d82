"""What the UBL and CII readers share: value parsing, identifiers, pivot code mappings.

Both syntaxes carry the same EN 16931 business terms in different places; the readers
only know the places, and everything that decides what a value means for the pivot
lives here, once. Decisions the mapping leaves to the readers, one per line, with why:

- Type 380 <- 380, 384 corrected, 386 prepayment, 326 partial, 393 factored, 82 metered
  services, 875/876/877 construction invoices: each is the supplier's own request for
  payment, which is all the pivot's 380 says.
- Type 381 <- 381, 81 and 83 credit notes (goods/services, financial adjustment), 262
  consolidated, 396 factored, 532 forwarder's credit note: each lowers what the buyer owes,
  the pivot's 381.
- Refused (UNSUPPORTED_TYPE): 389 self-billed invoice and 261 self-billed credit note,
  because the buyer issues them and the supplier channel carries only the supplier's own
  documents.
- Refused (UNSUPPORTED_TYPE): 751 invoice information for accounting purposes, because it
  asks for no payment and the pivot has no type for it.
- Refused (UNSUPPORTED_TYPE): every other code, because an unknown document must never
  become a payable invoice by default.
- A UBL document without a type code takes its root's type (Invoice 380, CreditNote 381),
  because UBL 2.1 makes the code optional while the root already says it.
- Payment means 58 SEPA credit transfer -> 30, 59 SEPA direct debit -> 49, 54/55 credit and
  debit cards -> 48, 21-23/25/26/91/92 drafts and cheques -> 20: the pivot keeps one code
  per family.
- Other UNCL 4461 codes (1 not defined, 57 standing agreement, 68 online service, 70-78
  bills, ZZZ...) -> 30, because a public accountant pays by credit transfer whatever was
  offered.
- No payment means -> 30, because ModePaiement is mandatory in the pivot and credit transfer
  is how public bodies pay.
- Several payment means -> the first one's code (EN 16931 CII-SR-467 wants them equal
  anyway), and the bank account of the first means that carries one.
- A payment means code outside UNCL 4461 -> INVALID_VALUE, because it is a broken document,
  not an unusual payment.
- Cadre: an exact A-code of the pivot (A1-A10, A12-A25) in ProfileID/BusinessProcess is
  kept, anything else means A1; A0, A11 and A26+ are refused, because a declared frame the
  pivot does not know cannot be guessed.
- Identifiers lose their spaces before the 14-digit SIRET test, because SIRETs are often
  written "123 456 789 00012".
- Supplier id when neither SIRET nor EU VAT: legal id, else VAT number, else party id,
  because the legal id is the most stable and the supplier id is part of the duplicate key.
- A supplier in France (BT-40 = FR) without SIRET is refused (MISSING_ELEMENT), because the
  pivot identifies French suppliers by SIRET only (TypeIdentifiant 1) and the accountant's
  mandates (Helios statuses 09/11) find invoices by supplier SIRET: a French supplier
  labelled "outside the EU" could never be paid through the hub.
- A supplier in another EU country gets type 2 ("Structure Européenne hors France", as the
  official XSD's annotation says) with its VAT number, else its legal id, else its party
  id: type 2 is where it is, not which identifier it has, and type 3 is "hors UE" only.
- Buyer SIRET is also taken from the Peppol endpoint (cbc:EndpointID / ram:URIID) under a
  SIRET scheme, because French public buyers are addressed that way on Peppol.
- A VAT breakdown without a rate (category O, outside the scope of VAT) has rate 0, because
  the pivot's Taux is mandatory.
- One TVA per VAT breakdown of the source, in its order, even when two share a rate (Z and
  E at 0 %): merging them would hide how the base splits, and the amounts stay exact.
- PrixUnitaire is the net price of ONE unit: BT-146 / BT-149 (price base quantity, 1 when
  absent), exact when the division ends (with at least the price's decimals), else rounded
  half-even to 10 decimals; a base quantity of 0 is refused. One exception: when the
  undivided price times the quantity gives the line amount (BT-131, to its last decimal)
  and the divided one does not, the base quantity contradicts the line and is ignored
  (generators that copy the price into BasisQuantity, as the CEN CII examples do).
- Text limits of the pivot (number 20, origin invoice 20, engagement and contract 50,
  service code 100) are refused, never truncated, because a cut reference points at
  something else.
- Document totals for the controls (BT-106 to BT-114, never written to the pivot): an
  absent allowance, charge, prepaid or rounding total is 0, because the source could have
  given it and did not; an absent line or VAT total stays None, because nothing says what
  it would have been.
- The VAT total (BT-110) is the one in the invoice currency (currencyID = BT-5), because a
  second one may give it in the tax currency (BT-111); without such a currencyID, the first
  one without currencyID (in UBL preferably the one with the VAT breakdown, which BT-111
  never carries), else the only one there is.
- ModePaiement/Libelle is the text (BT-82) of the first payment means, the one whose code
  is taken, as written: the code may become its family's, the text stays the supplier's.
- NomService: the CII buyer contact's department (Factur-X BT-56-0), or in UBL the buyer
  contact's name when that contact is the service (its ID is the service code), because
  any other contact point is a person or an office, not the service.
- An embedded file's NomPJOrigine is its @filename, its CategoriePJ the reference's
  description (BT-123, a label such as "Bon de livraison"; one over 50 characters is left
  out, not cut); with the hub's rules (``attachments``) every file is checked, before any
  is decoded, and refused rather than renamed.
- Empty elements count as absent.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, Inexact, InvalidOperation, localcontext
from typing import NamedTuple

from lxml import etree

from ._paths import Record
from .attachments import NAME_MAX, AttachmentRules, Found, check
from .errors import ConversionError
from .model import (
    CREDIT_NOTE,
    ID_EU_VAT,
    ID_OUTSIDE_EU,
    ID_SIRET,
    INVOICE,
    Attachment,
    Debiteur,
    Line,
    VatLine,
)

# Decimals of a unit price whose division by the base quantity does not end
UNIT_PRICE_PLACES = 10

# Pivot text limits (CPPFacturePivot_V2_02.xsd)
NUMBER_MAX = 20
ORIGIN_MAX = 20
ENGAGEMENT_MAX = 50
SERVICE_CODE_MAX = 100

SIRET_SCHEMES = frozenset({"1", "0009", "0002"})
# fmt: off
EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
# fmt: on
PIVOT_CADRES = frozenset(f"A{n}" for n in range(1, 26) if n != 11)

_TYPE_CODES = {
    **dict.fromkeys(("380", "384", "386", "326", "393", "82", "875", "876", "877"), INVOICE),
    **dict.fromkeys(("381", "81", "83", "262", "396", "532"), CREDIT_NOTE),
}
_TYPE_REFUSALS = {
    "389": "a self-billed invoice is issued by the buyer, not deposited by its supplier",
    "261": "a self-billed credit note is issued by the buyer, not deposited by its supplier",
    "751": "invoice information for accounting purposes asks for no payment",
}

DEFAULT_PAYMENT_MEANS = "30"
_PAYMENT_MEANS = {
    "10": "10",
    **dict.fromkeys(("20", "21", "22", "23", "25", "26", "91", "92"), "20"),
    **dict.fromkeys(("30", "58"), "30"),
    "31": "31",
    "42": "42",
    **dict.fromkeys(("48", "54", "55"), "48"),
    **dict.fromkeys(("49", "59"), "49"),
    "97": "97",
}
# UNCL 4461 as EN 16931 lists it (Factur-X code list 25)
_UNCL4461 = frozenset([str(n) for n in (*range(1, 71), *range(74, 79), *range(91, 99))] + ["ZZZ"])

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?")
_DATE_102 = re.compile(r"(\d{4})(\d{2})(\d{2})")
_A_CODE = re.compile(r"A\d+")


def missing(element: str) -> ConversionError:
    return ConversionError(
        "MISSING_ELEMENT", f"{element} is required by the pivot and is absent", element
    )


def invalid(element: str, value: str, expected: str) -> ConversionError:
    return ConversionError("INVALID_VALUE", f"{element} must be {expected}", element, value)


# -- values -----------------------------------------------------------------------


def to_decimal(value: str, element: str) -> Decimal:
    """An xs:decimal as written (scale kept); Decimal alone would take 'NaN' or '1_0'."""
    if not _DECIMAL.fullmatch(value):
        raise invalid(element, value, "a decimal number")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already vouches
        raise invalid(element, value, "a decimal number") from exc


def required(value: str | None, element: str) -> str:
    if value is None:
        raise missing(element)
    return value


def amount(value: str | None, element: str) -> Decimal:
    """A mandatory amount."""
    return to_decimal(required(value, element), element)


def optional_amount(value: str | None, element: str) -> Decimal | None:
    """An amount the source may leave out: None when absent."""
    return None if value is None else to_decimal(value, element)


def amount_or_zero(value: str | None, element: str) -> Decimal:
    """An amount whose absence means nothing of it (an allowance total, a prepaid amount)."""
    return Decimal(0) if value is None else to_decimal(value, element)


def _make_date(match: re.Match[str] | None, value: str, element: str, expected: str) -> date:
    if match is None:
        raise invalid(element, value, expected)
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise invalid(element, value, "an existing calendar date") from exc


def iso_date(value: str, element: str) -> date:
    """An xs:date (UBL): YYYY-MM-DD with an optional time zone, which the pivot drops."""
    return _make_date(_ISO_DATE.fullmatch(value), value, element, "a date YYYY-MM-DD")


def date_102(value: str, fmt: str | None, element: str) -> date:
    """A CII DateTimeString; only format 102 (YYYYMMDD) names a day, so only it is read."""
    if fmt not in (None, "102"):
        raise invalid(element + "/@format", fmt, "102 (YYYYMMDD)")
    return _make_date(_DATE_102.fullmatch(value), value, element, "a date YYYYMMDD (format 102)")


def bounded(value: str | None, limit: int, element: str) -> str | None:
    """A text the pivot limits; refused, not truncated, when longer."""
    if value is not None and len(value) > limit:
        raise ConversionError(
            "VALUE_TOO_LONG",
            f"{element} has {len(value)} characters, the pivot allows at most {limit}",
            element,
            value,
        )
    return value


def invoice_number(value: str, element: str) -> str:
    if len(value) > NUMBER_MAX:
        raise ConversionError(
            "INVOICE_NUMBER_TOO_LONG",
            f"{element} has {len(value)} characters, the pivot invoice number at most {NUMBER_MAX}",
            element,
            value,
        )
    return value


# -- code mappings ----------------------------------------------------------------


def pivot_type_code(code: str, element: str) -> str:
    """EN 16931 document type (UNCL 1001) to the pivot's 380/381, or refused."""
    mapped = _TYPE_CODES.get(code)
    if mapped is not None:
        return mapped
    reason = _TYPE_REFUSALS.get(code, "the pivot carries only invoices and credit notes")
    raise ConversionError(
        "UNSUPPORTED_TYPE",
        f"{element}: document type {code} is not accepted: {reason}",
        element,
        code,
    )


def pivot_payment_means(code: str | None, element: str) -> str:
    """UNCL 4461 payment means to the pivot's eight codes (see the module docstring)."""
    if code is None:
        return DEFAULT_PAYMENT_MEANS
    if code not in _UNCL4461:
        raise invalid(element, code, "a UNCL 4461 payment means code")
    return _PAYMENT_MEANS.get(code, DEFAULT_PAYMENT_MEANS)


def pivot_cadre(value: str | None, element: str) -> str:
    """The billing frame (Cadre) when BT-23 holds an A-code, else A1."""
    if value is None or not _A_CODE.fullmatch(value):
        return "A1"
    if value not in PIVOT_CADRES:
        raise invalid(element, value, "a billing frame of the pivot (A1-A10, A12-A25)")
    return value


# -- parties ----------------------------------------------------------------------

Identifier = tuple[str, str | None]  # (value, schemeID)


def identifiers(elements: Iterable[etree._Element]) -> list[Identifier]:
    """The non-empty identifiers of the elements, with their schemeID."""
    found = []
    for element in elements:
        value = (element.text or "").strip()
        if value:
            found.append((value, element.get("schemeID")))
    return found


def _fourteen_digits(value: str) -> str | None:
    compact = value.replace(" ", "")
    return compact if len(compact) == 14 and compact.isdigit() else None


def _siret_under_scheme(candidates: Iterable[Identifier]) -> str | None:
    for value, scheme in candidates:
        if scheme in SIRET_SCHEMES and (siret := _fourteen_digits(value)):
            return siret
    return None


def _siret_without_scheme(candidates: Iterable[Identifier]) -> str | None:
    for value, scheme in candidates:
        if scheme is None and (siret := _fourteen_digits(value)):
            return siret
    return None


def supplier_identity(
    country: str,
    party_ids: Sequence[Identifier],
    legal_ids: Sequence[Identifier],
    vat_ids: Sequence[Identifier],
    element: str,
) -> tuple[str, str]:
    """(Identifiant, TypeIdentifiant) of the supplier: SIRET, EU VAT number, or other."""
    siret = _siret_under_scheme((*party_ids, *legal_ids))
    if siret is None and country == "FR":
        siret = _siret_without_scheme(legal_ids)
    if siret is not None:
        return siret, ID_SIRET
    if country == "FR":
        raise ConversionError(
            "MISSING_ELEMENT",
            f"{element}: a supplier in France is identified in the pivot by its SIRET "
            "(TypeIdentifiant 1); give it as 14 digits under scheme 0009 (or 0002, 1)",
            element,
        )
    if country in EU_COUNTRIES:
        candidates, identifier_type = (*vat_ids, *legal_ids, *party_ids), ID_EU_VAT
    else:
        candidates, identifier_type = (*legal_ids, *vat_ids, *party_ids), ID_OUTSIDE_EU
    if not candidates:
        raise missing(element)
    return candidates[0][0], identifier_type


def debiteur(
    party_ids: Sequence[Identifier],
    legal_ids: Sequence[Identifier],
    endpoints: Sequence[Identifier],
    name: str | None,
    service_code: str | None,
    service_element: str,
    service_name: str | None = None,
) -> Debiteur:
    """The recipient; without a SIRET it keeps what was found, for the routing rejection."""
    service_code = bounded(service_code, SERVICE_CODE_MAX, service_element)
    siret = _siret_under_scheme((*party_ids, *legal_ids, *endpoints))
    if siret is None:
        siret = _siret_without_scheme(legal_ids)
    service = {"name": name, "service_code": service_code, "service_name": service_name}
    if siret is not None:
        return Debiteur(siret=siret, **service)
    raw, scheme = next(iter((*party_ids, *legal_ids)), (None, None))
    return Debiteur(siret=None, raw_identifier=raw, raw_scheme=scheme, **service)


# -- repeated groups --------------------------------------------------------------


class VatPaths(NamedTuple):
    """A VAT breakdown's paths (relative to it) or, once read, its values."""

    base: str | None
    tax: str | None
    rate: str | None


class LinePaths(NamedTuple):
    """A line's paths (relative to it) or, once read, its values."""

    price: str | None
    base_quantity: str | None
    quantity: str | None
    amount: str | None
    seller_id: str | None
    name: str | None
    rate: str | None


def vat_lines(
    found: Sequence[etree._Element], record: Record[VatPaths], path: str
) -> tuple[VatLine, ...]:
    """One VatLine per breakdown, in document order."""
    result = []
    for index, node in enumerate(found, start=1):
        prefix = f"{path}[{index}]/"
        values, paths = record(node), record.paths
        rate = values.rate
        result.append(
            VatLine(
                rate=Decimal(0) if rate is None else to_decimal(rate, prefix + paths.rate),
                base_ht=amount(values.base, prefix + paths.base),
                amount=amount(values.tax, prefix + paths.tax),
            )
        )
    return tuple(result)


def lines(
    found: Sequence[etree._Element], record: Record[LinePaths], path: str
) -> tuple[Line, ...]:
    """Lines numbered from 1 in document order (the pivot's NumOrdre)."""
    result = []
    paths = record.paths
    for number, node in enumerate(found, start=1):
        prefix = f"{path}[{number}]/"
        values = record(node)
        rate, base = values.rate, values.base_quantity
        quantity = amount(values.quantity, prefix + paths.quantity)
        line_amount = amount(values.amount, prefix + paths.amount)
        result.append(
            Line(
                number=number,
                unit_price=unit_price(
                    amount(values.price, prefix + paths.price),
                    None if base is None else to_decimal(base, prefix + paths.base_quantity),
                    quantity,
                    line_amount,
                    prefix + paths.base_quantity,
                ),
                quantity=quantity,
                amount_ht=line_amount,
                product_ref=values.seller_id or values.name,
                vat_rate=None if rate is None else to_decimal(rate, prefix + paths.rate),
            )
        )
    return tuple(result)


def unit_price(
    price: Decimal, base: Decimal | None, quantity: Decimal, line_amount: Decimal, element: str
) -> Decimal:
    """PrixUnitaire: the net price (BT-146) of ONE unit, where the source gives it for
    ``base`` units (BT-149); see the module docstring for the one exception."""
    if base is None or base == 1:
        return price
    if base == 0:
        raise invalid(element, str(base), "a price base quantity other than zero")
    divided = _divide(price, base)
    if _gives(price, quantity, line_amount) and not _gives(divided, quantity, line_amount):
        return price
    return divided


def _divide(price: Decimal, base: Decimal) -> Decimal:
    """price / base, exact when the division ends, never with fewer decimals than price."""
    scale = -price.as_tuple().exponent
    with localcontext() as context:
        context.prec = 60
        context.clear_flags()
        quotient = price / base
        if context.flags[Inexact]:
            places = max(UNIT_PRICE_PLACES, scale)
            quotient = quotient.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        elif -quotient.as_tuple().exponent < scale:
            quotient = quotient.quantize(Decimal(1).scaleb(-scale))
    return quotient.copy_abs() if quotient.is_zero() else quotient  # no -0 in a price


def _gives(price: Decimal, quantity: Decimal, line_amount: Decimal) -> bool:
    """price x quantity rounds to the line amount at the amount's last decimal."""
    with localcontext() as context:
        context.prec = 60
        half_unit = Decimal(1).scaleb(line_amount.as_tuple().exponent) / 2
        return abs(price * quantity - line_amount) <= half_unit


class TaxTotal(NamedTuple):
    """One VAT total of the document, as written (BT-110, or BT-111 in the tax currency)."""

    value: str | None
    currency: str | None  # its @currencyID
    with_breakdown: bool  # UBL: its cac:TaxTotal has cac:TaxSubtotal; CII: always
    element: str  # the path that names it


def tax_total(amount: etree._Element, with_breakdown: bool, element: str) -> TaxTotal:
    """A VAT total amount element, its text and currencyID stripped, empty as absent."""
    currency = (amount.get("currencyID") or "").strip() or None
    return TaxTotal((amount.text or "").strip() or None, currency, with_breakdown, element)


def vat_total(totals: Sequence[TaxTotal], currency: str) -> Decimal | None:
    """BT-110: the total in the invoice currency (see the module docstring); None when the
    document carries none."""
    given = [total for total in totals if total.value is not None]
    unlabelled = [total for total in given if total.currency is None]
    candidates = (
        [total for total in given if total.currency == currency]
        or [total for total in unlabelled if total.with_breakdown]
        or unlabelled
        or (given if len(given) == 1 else [])
    )
    if not candidates:
        return None
    return amount(candidates[0].value, candidates[0].element)


class ReferencePaths(NamedTuple):
    """A document reference's id (BT-122) and description (BT-123): paths, then values."""

    id: str | None
    description: str | None


def attachments(
    references: Sequence[etree._Element],
    reference: Record[ReferencePaths],
    binary: etree.XPath,
    path: str,
    rules: AttachmentRules | None,
) -> tuple[Attachment, ...]:
    """Files embedded in document references (TypePJ 02), in document order; a reference
    by URI carries no content. With ``rules``, all of them keep the rules before any is
    decoded. NomPJOrigine is the file name as given, CategoriePJ the description, each
    when the pivot can hold it (50 characters)."""
    found: list[tuple[Found, str | None, str | None]] = []
    for index, node in enumerate(references, start=1):
        objects = binary(node)
        if not objects:
            continue
        element = f"{path}[{index}]/{binary.path}"
        values = reference(node)
        filename = (objects[0].get("filename") or "").strip() or None
        name = filename or values.id
        if not name:
            raise missing(element + "/@filename")
        mime = (objects[0].get("mimeCode") or "").strip() or "application/octet-stream"
        found.append(
            (
                Found(name, mime, objects[0].text or "", element),
                filename if filename and len(filename) <= NAME_MAX else None,
                values.description if len(values.description or "") <= NAME_MAX else None,
            )
        )
    pending = [item for item, _, _ in found]
    names = check(pending, rules) if rules else [item.name for item in pending]
    return tuple(
        Attachment(
            name=name,
            mime_type=item.mime_type,
            content=_decoded(item.content, item.element),
            type_code="02",
            original_name=original,
            category=category,
        )
        for name, (item, original, category) in zip(names, found, strict=True)
    )


def _decoded(text: str, element: str) -> bytes:
    encoded = "".join(text.split())
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(element, encoded[:40], "base64-encoded content") from exc
