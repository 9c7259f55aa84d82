"""What a generated invoice says, in EN 16931 terms, and the totals that follow from it.

A ``Spec`` is written by ``ubl.write`` and ``cii.write``; its totals are computed here
the way EN 16931 computes them (BR-CO-10 to BR-CO-16, VAT per category and rate), so
that every generated document adds up and a reader has one right answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MINIMUM, BASIC_WL, BASIC, EN16931, EXTENDED = "minimum", "basicwl", "basic", "en16931", "extended"
PROFILES = (MINIMUM, BASIC_WL, BASIC, EN16931, EXTENDED)
NO_LINES = frozenset({MINIMUM, BASIC_WL})  # Factur-X profiles that carry no lines

# VAT categories (UNCL 5305) that carry no VAT amount, and O that carries no rate either
ZERO_CATEGORIES = frozenset({"Z", "E", "AE", "K", "G", "O"})
# the exemption reason (BT-120) and its VATEX code (BT-121) of each exempt category
EXEMPTIONS = {
    "E": ("Exonération de TVA, article 261 du CGI", "VATEX-EU-132"),
    "AE": ("Autoliquidation", "VATEX-EU-AE"),
    "K": ("Livraison intracommunautaire exonérée", "VATEX-EU-IC"),
    "G": ("Exportation hors de l'Union exonérée", "VATEX-EU-G"),
    "O": ("Hors du champ d'application de la TVA", "VATEX-EU-O"),
}


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Id:
    """One identifier of a party and where the document puts it.

    ``place``: ``party`` (UBL PartyIdentification/ID; CII ram:ID, or ram:GlobalID when it
    has a scheme), ``legal`` (PartyLegalEntity/CompanyID, SpecifiedLegalOrganization/ID)
    or ``endpoint`` (cbc:EndpointID, ram:URIUniversalCommunication/ram:URIID).
    """

    value: str
    scheme: str | None = None
    place: str = "party"


@dataclass(frozen=True)
class Party:
    name: str
    country: str = "FR"
    ids: tuple[Id, ...] = ()
    vat: str | None = None  # VAT number (BT-31, BT-48)
    tax_number: str | None = None  # a fiscal number that is not a VAT number (BT-32)
    trading_name: str | None = None  # UBL PartyName, CII legal TradingBusinessName
    city: str = "Lyon"
    postcode: str = "69003"
    street: str = "1 rue de la République"
    contact_id: str | None = None  # UBL Contact/ID: the service code of older flows
    email: str | None = None
    # the buyer's service name (NomService): CII DefinedTradeContact/DepartmentName (BT-56-0,
    # EXTENDED only), UBL Contact/Name (BT-56), beside contact_id when that is the service
    department: str | None = None


@dataclass(frozen=True)
class AllowanceCharge:
    """A document or line allowance (charge=False) or charge, with its VAT category."""

    amount: Decimal
    reason: str
    charge: bool = False
    reason_code: str | None = None  # UNCL 5189 for allowances, UNCL 7161 for charges
    category: str = "S"
    rate: Decimal | None = Decimal("20")
    base: Decimal | None = None
    percent: Decimal | None = None


@dataclass(frozen=True)
class Line:
    id: str
    name: str
    quantity: Decimal
    price: Decimal  # net price (BT-146) for ``base_quantity`` units
    category: str = "S"
    rate: Decimal | None = Decimal("20")
    seller_id: str | None = None
    base_quantity: Decimal | None = None  # BT-149
    gross_price: Decimal | None = None  # BT-148: the price discount is gross - net
    unit: str = "C62"
    allowances: tuple[AllowanceCharge, ...] = ()  # line allowances and charges
    note: str | None = None
    period: tuple[date, date] | None = None

    @property
    def amount(self) -> Decimal:
        """BT-131: quantity x net price / base quantity, less allowances, plus charges."""
        value = cents(self.quantity * self.price / (self.base_quantity or 1))
        for adjustment in self.allowances:
            value += adjustment.amount if adjustment.charge else -adjustment.amount
        return value


@dataclass(frozen=True)
class Attachment:
    """A supporting document (BG-24): a file embedded, or a reference by URI."""

    id: str
    description: str | None = None
    content: bytes | None = None
    filename: str | None = None
    mime: str = "application/pdf"
    uri: str | None = None


@dataclass(frozen=True)
class PaymentMeans:
    code: str = "30"
    iban: str | None = None
    bic: str | None = None
    account_name: str | None = None
    proprietary: bool = False  # CII: the account as ProprietaryID rather than IBANID
    mandate: str | None = None  # direct debit mandate (BT-89)
    debtor_iban: str | None = None  # the buyer's debited account (BT-91)
    information: str | None = None  # BT-82: UBL PaymentMeansCode/@name, CII Information


@dataclass(frozen=True)
class Vat:
    """One VAT breakdown (BG-23)."""

    category: str
    rate: Decimal | None
    base: Decimal
    amount: Decimal
    exemption: tuple[str, str] | None = None  # (reason, VATEX code)


@dataclass(frozen=True)
class Spec:
    """An invoice as a supplier's software would hold it before writing it."""

    number: str
    issue_date: date
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    type_code: str = "380"
    credit_note_root: bool = True  # UBL: a 381 as CreditNote (else Invoice, code 381)
    currency: str = "EUR"
    due_date: date | None = None
    notes: tuple[str, ...] = ()
    buyer_reference: str | None = None  # BT-10: the Chorus Pro service code
    order: str | None = None  # BT-13: engagement number
    contract: str | None = None  # BT-12
    origin: str | None = None  # BT-25: the invoice a credit note corrects
    project: str | None = None  # BT-11
    business_process: str | None = None  # BT-23: the Chorus Pro Cadre (A1, A9...)
    payee: Party | None = None
    delivery_date: date | None = None
    delivery_location: str | None = None  # a GLN (BT-71)
    period: tuple[date, date] | None = None  # BG-14
    payment_means: tuple[PaymentMeans, ...] = ()
    payment_terms: str | None = None
    allowances: tuple[AllowanceCharge, ...] = ()  # document allowances and charges
    prepaid: Decimal = Decimal("0")
    rounding: Decimal = Decimal("0")
    tax_currency: str | None = None  # BT-6 and, with it, BT-111
    tax_currency_vat: Decimal | None = None
    attachments: tuple[Attachment, ...] = ()
    trim_zeros: bool = False  # amounts as 1436.5, not 1436.50
    zero_totals: bool = False  # write absent allowance and charge totals as 0.00

    # -- totals, as EN 16931 computes them ---------------------------------------------

    @property
    def line_total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))

    def _sum(self, charge: bool) -> Decimal:
        found = [a.amount for a in self.allowances if a.charge == charge]
        return sum(found, Decimal("0.00"))

    @property
    def allowance_total(self) -> Decimal:
        return self._sum(False)

    @property
    def charge_total(self) -> Decimal:
        return self._sum(True)

    @property
    def tax_basis(self) -> Decimal:
        return self.line_total - self.allowance_total + self.charge_total

    @property
    def vat(self) -> tuple[Vat, ...]:
        """One breakdown per (category, rate), in the order they first appear."""
        bases: dict[tuple[str, Decimal | None], Decimal] = {}
        for line in self.lines:
            key = (line.category, line.rate)
            bases[key] = bases.get(key, Decimal("0.00")) + line.amount
        for adjustment in self.allowances:
            key = (adjustment.category, adjustment.rate)
            sign = 1 if adjustment.charge else -1
            bases[key] = bases.get(key, Decimal("0.00")) + sign * adjustment.amount
        return tuple(
            Vat(
                category,
                rate,
                base,
                Decimal("0.00")
                if category in ZERO_CATEGORIES or rate is None
                else cents(base * rate / 100),
                EXEMPTIONS.get(category),
            )
            for (category, rate), base in bases.items()
        )

    @property
    def vat_total(self) -> Decimal:
        return sum((v.amount for v in self.vat), Decimal("0.00"))

    @property
    def grand_total(self) -> Decimal:
        return self.tax_basis + self.vat_total

    @property
    def due(self) -> Decimal:
        return self.grand_total - self.prepaid + self.rounding

    def amount_text(self, value: Decimal) -> str:
        """As the supplier's software writes it: two decimals, or trimmed if it trims."""
        if self.trim_zeros:
            text = format(value.normalize(), "f")
            return text if text != "-0" else "0"
        return format(cents(value), "f")


# -- identifiers that pass their checks ----------------------------------------------


def luhn_key(digits: str) -> str:
    """The digit that makes ``digits`` + it pass the Luhn check (SIREN, SIRET)."""
    for key in "0123456789":
        total = 0
        for index, char in enumerate(reversed(digits + key)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return key
    raise AssertionError("unreachable")  # pragma: no cover


def siret(siren8: str, establishment4: str) -> str:
    """A SIRET whose SIREN and whole number both pass the Luhn check."""
    siren = siren8 + luhn_key(siren8)
    return siren + establishment4 + luhn_key(siren + establishment4)


def iban(country: str, bban: str) -> str:
    """An IBAN with correct ISO 13616 check digits."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def french_vat(siren: str) -> str:
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
