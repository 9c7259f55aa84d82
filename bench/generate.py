"""Realistic flows for the benchmark: UBL 2.1, CII (D16B, Factur-X) and pivot files.

Every invoice is a ``Spec`` written by the test suite's own writers (tests/generated), so
its totals add up the way EN 16931 adds them and it is valid against its standard schema.
A pivot flow carries ``pivot_batch`` invoices read back from their UBL by the engine's own
reader and written by its own pivot writer. Sellers carry valid SIRETs, buyers are the
demo's active structures: the home bench/engine.py prepares accepts every invoice.
Deterministic: the same options and seed give the same bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from lxml import etree

from pivot_format import ubl as ubl_reader
from pivot_format.model import Attachment as PivotAttachment
from pivot_format.model import Envelope, Invoice
from pivot_format.pivot import write_pivot
from tests.generated import cii, ubl
from tests.generated.spec import (
    BASIC,
    EN16931,
    EXTENDED,
    Attachment,
    Id,
    Line,
    Party,
    PaymentMeans,
    Spec,
    french_vat,
    iban,
    siret,
)

KINDS = ("ubl", "cii", "pivot")
DEPOSITOR = "FOUR01"  # an operator partner: it deposits for any supplier
HUB = "EDIHUB"
# the demo's active structures (config/demo/structures.csv) and some of their services
BUYERS = (
    ("21990101400015", "Commune de Valbrune", "Valbrune", "49990", ("SERV-SCOL", "SERV-TECH")),
    ("26990202900017", "Centre hospitalier de Montclair", "Montclair", "49991", ("DSN",)),
)
SUPPLIERS = 40  # a hub's traffic comes from many suppliers, most from a few large ones
PRODUCTS = (
    ("Ramette papier A4 80 g", "PAP-A4", "4.25"),
    ("Cartouche de toner noir", "TON-245", "62.90"),
    ("Manuel scolaire", "LIV-CE2", "14.60"),
    ("Licence antivirus 12 mois", "LIC-AV12", "18.50"),
    ("Prestation de maintenance", "MAINT-H", "75.00"),
    ("Repas de restauration collective", "REPAS", "3.85"),
    ("Gants nitrile (boîte de 100)", "GANT-NIT", "7.40"),
    ("Fourniture de bureau diverse", "FOUR-DIV", "1.95"),
)
RATES = (Decimal("20"), Decimal("20"), Decimal("20"), Decimal("10"), Decimal("5.5"))
CII_PROFILES = (EN16931, EN16931, EN16931, BASIC, EXTENDED)  # BASIC has no attachments
ATTACHMENT_KB = (20, 200)  # a scanned delivery note
INVOICE_PDF_KB = (3, 8)  # the invoice itself, in a pivot: a PDF of text


@dataclass(frozen=True)
class Options:
    """What to generate: ``mix`` weighs the kinds by invoices, not by files."""

    invoices: int = 5000
    mix: dict[str, int] = field(default_factory=lambda: {"ubl": 60, "cii": 30, "pivot": 10})
    lines: tuple[int, int] = (1, 200)
    attachments: float = 0.1  # share of invoices carrying one embedded PDF
    pivot_batch: int = 50  # invoices per pivot flow
    seed: int = 1


@dataclass(frozen=True)
class Flow:
    """One generated file, as it is dropped in the inbox."""

    path: Path
    kind: str
    invoices: int
    bytes: int


@dataclass(frozen=True)
class Corpus:
    folder: Path
    flows: tuple[Flow, ...]

    @property
    def invoices(self) -> int:
        return sum(f.invoices for f in self.flows)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.flows)

    def count(self, kind: str) -> tuple[int, int]:
        """Flows and invoices of one kind."""
        found = [f for f in self.flows if f.kind == kind]
        return len(found), sum(f.invoices for f in found)


def split(options: Options) -> dict[str, int]:
    """Invoices per kind, in proportion to the mix, adding up to ``options.invoices``:
    what rounding down leaves goes to the largest remainders."""
    total = sum(options.mix.get(k, 0) for k in KINDS)
    shares = {k: options.invoices * options.mix.get(k, 0) for k in KINDS}
    counts = {k: share // total for k, share in shares.items()}
    left = options.invoices - sum(counts.values())
    for kind in sorted(KINDS, key=lambda k: -(shares[k] % total))[:left]:
        counts[kind] += 1
    return counts


def generate(folder: Path, options: Options) -> Corpus:
    """Write the flows into ``folder`` (created); returns what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    maker = _Maker(options)
    counts = split(options)
    flows: list[Flow] = []
    for kind in ("ubl", "cii"):
        for _ in range(counts[kind]):
            spec = maker.spec()
            if kind == "ubl":
                content = ubl.write(spec)
            else:
                content = cii.write(spec, maker.rng.choice(CII_PROFILES))
            flows.append(_write(folder / f"{kind}-{len(flows) + 1:06d}.xml", kind, 1, content))
    for size in _batches(counts["pivot"], options.pivot_batch):
        invoices = [maker.pivot_invoice() for _ in range(size)]
        name = f"pivot-{len(flows) + 1:06d}"
        envelope = Envelope(name, date.today(), DEPOSITOR, HUB, "Opérateur de dépôt", "Hub")
        flows.append(_write(folder / f"{name}.xml", "pivot", size, write_pivot(invoices, envelope)))
    return Corpus(folder, tuple(flows))


def _write(path: Path, kind: str, invoices: int, content: bytes) -> Flow:
    path.write_bytes(content)
    return Flow(path, kind, invoices, len(content))


def _batches(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size


class _Maker:
    """Invoices one after the other, numbered in order, drawn from one seeded generator."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.number = 0
        self.sellers = [_seller(n) for n in range(SUPPLIERS)]
        # a few large suppliers send most invoices (Zipf-like weights)
        self.weights = [1 / (n + 1) for n in range(SUPPLIERS)]
        self.today = date.today()

    def line_count(self) -> int:
        """Log-uniform over the range: most invoices are short, some are long."""
        low, high = self.options.lines
        drawn = math.exp(self.rng.uniform(math.log(low), math.log(high + 1)))
        return max(low, min(high, int(drawn)))

    def spec(self) -> Spec:
        rng = self.rng
        self.number += 1
        number = f"BN-{self.number:09d}"
        seller, account = rng.choices(self.sellers, self.weights)[0]
        siret_, name, city, postcode, services = rng.choice(BUYERS)
        buyer = Party(
            name,
            ids=(Id(siret_, "0009", "endpoint"), Id(siret_, "0009", "legal")),
            city=city,
            postcode=postcode,
        )
        issued = self.today - timedelta(days=rng.randint(1, 60))
        lines = tuple(self.line(n + 1) for n in range(self.line_count()))
        attachments = ()
        if rng.random() < self.options.attachments:
            attachments = (self.attachment(number),)
        return Spec(
            number=number,
            issue_date=issued,
            seller=seller,
            buyer=buyer,
            lines=lines,
            due_date=issued + timedelta(days=30),
            buyer_reference=rng.choice(services),
            order=f"EJ-{rng.randint(1, 9999):04d}",
            contract=f"MAR-{rng.randint(1, 99):02d}",
            business_process="A1",
            delivery_date=issued - timedelta(days=rng.randint(0, 10)),
            payment_means=(PaymentMeans("30", iban=account, bic="BQDEFRPPXXX"),),
            payment_terms="Paiement à 30 jours par virement.",
            attachments=attachments,
        )

    def line(self, number: int) -> Line:
        name, reference, price = self.rng.choice(PRODUCTS)
        return Line(
            str(number),
            name,
            Decimal(self.rng.randint(1, 60)),
            Decimal(price),
            rate=self.rng.choice(RATES),
            seller_id=reference,
        )

    def attachment(self, number: str) -> Attachment:
        size = self.rng.randint(*ATTACHMENT_KB) * 1024
        return Attachment(
            f"PJ-{number}",
            "Bon de livraison",
            content=_pdf(number, size, self.rng),
            filename=f"{number}.pdf",
        )

    def pivot_invoice(self) -> Invoice:
        """A UBL invoice read by the engine's own reader, with the invoice's PDF as its
        first attachment (TypePJ 01, which a pivot requires): what a supplier's pivot holds."""
        invoice = ubl_reader.read_invoice(etree.fromstring(ubl.write(self.spec())))
        size = self.rng.randint(*INVOICE_PDF_KB) * 1024
        pdf = _pdf(invoice.number, size, self.rng)
        itself = PivotAttachment(f"{invoice.number}.pdf", "application/pdf", pdf, "01")
        return replace(invoice, attachments=(itself, *invoice.attachments))


def _seller(n: int) -> tuple[Party, str]:
    siren8 = f"{81000000 + 7919 * n:08d}"
    number = siret(siren8, "0012")
    party = Party(
        f"Fournisseur {n + 1:02d} SAS",
        ids=(Id(number, "0009", "legal"), Id(number, "0009", "endpoint")),
        vat=french_vat(number[:9]),
        city="Lyon",
        postcode="69003",
        street=f"{n + 1} rue des Tanneurs",
    )
    return party, iban("FR", f"30006000{n:011d}89")


def _pdf(number: str, size: int, rng: random.Random) -> bytes:
    """A one-page PDF padded to ``size`` with an incompressible stream (a scan, fonts)."""
    text = f"BT /F1 12 Tf 72 770 Td (Bon de livraison {number}) Tj ET".encode()
    head = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    body = (
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"
        b" endobj\n4 0 obj << /Length %d >> stream\n%s\nendstream endobj\n" % (len(text), text)
    )
    tail = b"trailer << /Root 1 0 R >>\n%%EOF\n"
    padding = max(0, size - len(head) - len(body) - len(tail) - 40)
    scan = b"5 0 obj << /Length %d >> stream\n%s\nendstream endobj\n" % (
        padding,
        rng.randbytes(padding),
    )
    return head + body + scan + tail
