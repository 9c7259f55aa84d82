"""What the partners of the crash harness send, and what each file should become.

Suppliers' flows of every kind, drawn from the benchmark's generator (bench/generate.py:
valid UBL 2.1 and CII invoices with realistic lines, multi-invoice pivots) and one seeded
random generator, so that invoice numbers never repeat in a run: single UBL and CII
invoices, pivot flows of several invoices, zip batches of UBL and CII members, an invoice
to an inactive structure (refused at reception), and a file sent again under another
name (a duplicate flow). Recipients answer the pivots they receive with status flows
(07 SERVICE_FAIT), read from the pivots themselves as a recipient's system would.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from lxml import etree

from bench.generate import CII_PROFILES, HUB, Options, _Maker
from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.pivot import write_pivot
from pivot_format.statut import write_invoice_statuses
from tests.generated import cii, ubl
from tests.generated.spec import Id, Party

VALBRUNE, MONTCLAIR = "21990101400015", "26990202900017"  # bench's buyers, active
HAUT_VERNAY = "25990303700010"  # inactive: its invoices are refused at reception
INTEGRATED, REJECTED = "IN_INTEGRE", "IN_REJETE"
# kinds of suppliers' flows and their weights (by files)
MIX = {"ubl": 30, "cii": 25, "pivot": 15, "zip": 12, "refused": 8, "resend": 10}
SERVICE_FAIT = "07"
RESENDABLE = 100  # a partner's latest accepted flows, among which a file is sent again


@dataclass(frozen=True)
class Dropped:
    """One file a partner deposits, and what it must become: one flow, in `outcome`
    (None: any final state, for a status flow whose statuses may meet invoices not yet
    made available), delivering `accepted` (invoice numbers), refusing `refused`."""

    partner: str
    name: str
    kind: str
    content: bytes
    accepted: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    outcome: str | None = INTEGRATED
    statuses: tuple[str, ...] = ()  # a status flow's invoice numbers


@dataclass(frozen=True)
class Received:
    """An invoice as its recipient read it from its pivot."""

    number: str
    supplier: str
    supplier_type: str
    issue_date: date
    debiteur: str


class Suppliers:
    """Suppliers' flows, one after the other, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.maker = _Maker(Options(lines=(1, 6), attachments=0.03, seed=seed))
        self.made = 0
        self.sent: dict[str, list[Dropped]] = {}  # by partner: accepted flows, for resends

    def kind(self) -> str:
        return self.rng.choices(list(MIX), list(MIX.values()))[0]

    def flow(self, partner: str, kind: str, recorded: set[tuple[str, str]]) -> Dropped:
        """The next flow of `kind` from `partner`. A resend repeats one of the partner's
        accepted flows already recorded (`recorded`: (partner, name) of flows in the
        ledger), so that its original is known to be the earlier one."""
        self.made += 1
        stem = f"{kind}-{self.made:06d}"
        if kind == "resend":
            earlier = [d for d in self.sent.get(partner, []) if (partner, d.name) in recorded]
            if earlier:
                original = self.rng.choice(earlier)
                name = f"{stem}{original.name[original.name.rindex('.') :]}"
                return Dropped(partner, name, kind, original.content, outcome=REJECTED)
            kind, stem = "ubl", f"ubl-{self.made:06d}"
        dropped = self._fresh(partner, kind, stem)
        if dropped.outcome == INTEGRATED:
            sent = self.sent.setdefault(partner, [])
            sent.append(dropped)
            del sent[:-RESENDABLE]  # a soak's thousands of flows are not all kept in memory
        return dropped

    def _fresh(self, partner: str, kind: str, stem: str) -> Dropped:
        maker, rng = self.maker, self.rng
        if kind == "pivot":
            invoices = [maker.pivot_invoice() for _ in range(rng.randint(2, 6))]
            envelope = Envelope(stem, date.today(), partner, HUB, "Opérateur de dépôt", "Hub")
            numbers = tuple(invoice.number for invoice in invoices)
            return Dropped(partner, f"{stem}.xml", kind, write_pivot(invoices, envelope), numbers)
        if kind == "zip":
            members = [self._document() for _ in range(rng.randint(2, 4))]
            packed = io.BytesIO()
            with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as batch:
                for n, (_, content) in enumerate(members, 1):
                    batch.writestr(f"{stem}-{n}.xml", content)
            numbers = tuple(number for number, _ in members)
            return Dropped(partner, f"{stem}.zip", kind, packed.getvalue(), numbers)
        if kind == "refused":
            spec = maker.spec()
            ids = (Id(HAUT_VERNAY, "0009", "endpoint"), Id(HAUT_VERNAY, "0009", "legal"))
            spec = replace(spec, buyer=Party("Syndicat des eaux du Haut-Vernay", ids=ids))
            content = ubl.write(spec)
            return Dropped(partner, f"{stem}.xml", kind, content, (), (spec.number,), REJECTED)
        number, content = self._document(kind)
        return Dropped(partner, f"{stem}.xml", kind, content, (number,))

    def _document(self, kind: str | None = None) -> tuple[str, bytes]:
        """One invoice as UBL or CII (drawn when `kind` is None): its number and bytes."""
        spec = self.maker.spec()
        kind = kind or self.rng.choice(("ubl", "cii"))
        if kind == "ubl":
            return spec.number, ubl.write(spec)
        return spec.number, cii.write(spec, self.rng.choice(CII_PROFILES))


def read_pivot(content: bytes) -> list[Received]:
    """The invoices of a pivot file, as its recipient reads them."""
    root = etree.fromstring(content)
    return [
        Received(
            number=unit.findtext("DonneesFacture/Id"),
            supplier=unit.findtext("Fournisseur/Identifiant"),
            supplier_type=unit.findtext("Fournisseur/TypeIdentifiant"),
            issue_date=date.fromisoformat(unit.findtext("DonneesFacture/DateEmissionFacture")),
            debiteur=unit.findtext("Debiteur/Identifiant"),
        )
        for unit in root.iter("CPPFacturePivotUnitaire")
    ]


def read_statuses(content: bytes) -> list[tuple[str, str]]:
    """(invoice number, status code) of each status of a status flow (STATUT_ file)."""
    root = etree.fromstring(content)
    return [
        (unit.findtext("DonneesStatut/IdFacture"), unit.findtext("DonneesStatut/IdStatut"))
        for unit in root.iter("CPPFactureStatutUnitaire")
    ]


def status_flow(partner: str, name: str, invoices: Iterable[Received]) -> Dropped:
    """A recipient's status flow telling SERVICE_FAIT (07) for each of `invoices`."""
    now = datetime.now(UTC)
    statuses = [
        InvoiceStatus(
            SERVICE_FAIT,
            Supplier(invoice.supplier, invoice.supplier_type, "Fournisseur", "FR"),
            Debiteur(invoice.debiteur),
            invoice.number,
            now,
            invoice_date=invoice.issue_date,
        )
        for invoice in invoices
    ]
    stem = name.rsplit(".", 1)[0]
    content = write_invoice_statuses(statuses, Envelope(stem, now.date(), partner, HUB))
    numbers = tuple(status.invoice_number for status in statuses)
    return Dropped(partner, name, "status", content, outcome=None, statuses=numbers)
